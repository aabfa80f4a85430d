"""Unit tests of the shared benchmark helpers (benchmarks/_harness.py)."""
import argparse
import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def harness():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("_harness")
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_json_dict_parses_and_drops_keys(harness):
    parser = argparse.ArgumentParser()
    got = harness.json_dict(parser, '{"epochs": 3, "n_jobs": 4, "verbose": 1}', "--p",
                            drop=("n_jobs", "verbose"))
    assert got == {"epochs": 3}


@pytest.mark.parametrize("text, message", [("{bad", "not valid JSON"), ("[1, 2]", "JSON object")])
def test_json_dict_rejects_bad_text(harness, capsys, text, message):
    with pytest.raises(SystemExit):
        harness.json_dict(argparse.ArgumentParser(), text, "--chm-params")
    err = capsys.readouterr().err
    assert "--chm-params" in err and message in err


def test_feature_cache_temporary_folder_is_removed(harness):
    with harness.feature_cache() as folder:
        assert Path(folder).is_dir()
    assert not Path(folder).exists()


def test_feature_cache_given_folder_is_created_and_kept(harness, tmp_path):
    target = tmp_path / "cache" / "features"
    with harness.feature_cache(target) as folder:
        assert folder == str(target) and target.is_dir()
    assert target.is_dir()
    args = argparse.ArgumentParser()
    harness.add_feature_cache_argument(args)
    assert args.parse_args(["--feature-cache", "x"]).feature_cache == "x"
    assert args.parse_args([]).feature_cache is None
