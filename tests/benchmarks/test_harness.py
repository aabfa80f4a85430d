"""Unit tests of the shared benchmark helpers (benchmarks/_cli.py, _trials.py, _harness.py)."""
import argparse
import importlib
from pathlib import Path

import pytest

from .helpers import benchmark_module


@pytest.fixture(scope="module")
def modules():
    with benchmark_module("_cli") as cli:
        yield {"_cli": cli, "_trials": importlib.import_module("_trials"),
               "_harness": importlib.import_module("_harness")}


@pytest.fixture(scope="module")
def cli(modules):
    return modules["_cli"]


@pytest.fixture(scope="module")
def trials(modules):
    return modules["_trials"]


def test_json_dict_parses_and_drops_keys(cli):
    parser = argparse.ArgumentParser()
    got = cli.json_dict(parser, '{"epochs": 3, "n_jobs": 4, "verbose": 1}', "--p",
                            drop=("n_jobs", "verbose"))
    assert got == {"epochs": 3}


@pytest.mark.parametrize("text, message", [("{bad", "not valid JSON"), ("[1, 2]", "JSON object")])
def test_json_dict_rejects_bad_text(cli, capsys, text, message):
    with pytest.raises(SystemExit):
        cli.json_dict(argparse.ArgumentParser(), text, "--chm-params")
    err = capsys.readouterr().err
    assert "--chm-params" in err and message in err


def test_feature_cache_temporary_folder_is_removed(trials):
    with trials.feature_cache() as folder:
        assert Path(folder).is_dir()
    assert not Path(folder).exists()


def test_feature_cache_given_folder_is_created_and_kept(cli, trials, tmp_path):
    target = tmp_path / "cache" / "features"
    with trials.feature_cache(target) as folder:
        assert folder == str(target) and target.is_dir()
    assert target.is_dir()
    args = argparse.ArgumentParser()
    cli.add_feature_cache_argument(args)
    assert args.parse_args(["--feature-cache", "x"]).feature_cache == "x"
    assert args.parse_args([]).feature_cache is None


def test_harness_re_exports_the_split_modules(modules):
    harness = modules["_harness"]
    assert harness.run_trials is modules["_trials"].run_trials
    assert harness.json_dict is modules["_cli"].json_dict
    for name in ("aggregate", "mean_std_table", "write_csv", "footer_lines", "plot_error_curves",
                 "mrf_trial", "share_fits", "with_fit_time", "ship_by_value", "feature_cache"):
        assert callable(getattr(harness, name)), name


def _square(x):
    return {"y": x * x}


def _fails(x):
    if x == 1:
        raise RuntimeError("no luck")
    return [{"y": x}, {"y": -x, "method": "twin"}]


def test_run_trials_merges_params_and_calls_on_trial(trials):
    seen = []
    runs = trials.run_trials(_square, [{"x": 3}, {"x": 4}], n_jobs=1, progress=False,
                             on_trial=lambda rs: seen.append([r["x"] for r in rs]))
    assert [(r["x"], r["y"], r["trial"], r["status"]) for r in runs] == [(3, 9, 0, "ok"),
                                                                         (4, 16, 1, "ok")]
    assert all(r["trial_seconds"] >= 0 for r in runs)
    assert seen == [[3], [4]]


def test_run_trials_keeps_failures_and_prints_progress(trials, capsys):
    runs = trials.run_trials(_fails, [{"x": 2}, {"x": 1}], n_jobs=1, progress_keys=["x", "y"])
    assert [(r["x"], r.get("y"), r["status"]) for r in runs] == [(2, 2, "ok"), (2, -2, "ok"),
                                                                 (1, None, "error")]
    assert runs[1]["method"] == "twin" and "RuntimeError: no luck" in runs[2]["error"]
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert lines[0].startswith("[1/2 trials, ") and "left] x=2 y=2" in lines[0]
    assert lines[2].startswith("[2/2 trials, ") and "left" not in lines[2]
    assert "status=error" in lines[2] and "RuntimeError" in out.err
