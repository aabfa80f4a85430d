"""Smoke test of the Weizmann Horse Table 1 benchmark on tiny synthetic data."""
import csv
import json

import pytest

from .helpers import benchmark_module

TINY = '{"epochs": 2, "n_levels": 2, "downscale": 1}'


@pytest.fixture(scope="module")
def table1():
    with benchmark_module("table1_weizmann") as module:
        yield module


def test_quick_synthetic_writes_all_outputs(table1, tmp_path, capsys):
    out = tmp_path / "t1"
    rc = table1.main(["--quick", "--synthetic", "4", "--chm-params", TINY,
                      "--mrf-cv-images", "1", "--n-jobs", "2", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "method=supervised+mrf" in printed and "pixel_error=" in printed

    for name in ("table1.md", "runs.csv", "fig1_error_vs_labeled.png", "fig2_samples.png"):
        assert (out / name).stat().st_size > 0, name

    with open(out / "runs.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {"method", "n_labeled", "seed", "pixel_error", "fit_seconds", "predict_seconds",
            "mrf_lambda"} <= set(rows[0])
    assert sorted(r["method"] for r in rows) == ["supervised", "supervised+mrf", "tv"]
    for r in rows:
        assert r["status"] == "ok"
        assert (r["n_labeled"], r["seed"]) == ("10", "0")
        assert 0.0 <= float(r["pixel_error"]) <= 1.0
        assert float(r["fit_seconds"]) > 0
    mrf = next(r for r in rows if r["method"] == "supervised+mrf")
    assert float(mrf["mrf_lambda"]) >= 0

    text = (out / "table1.md").read_text()
    assert "| labeled px / image |" in text
    assert "23.81" in text and "11.98" in text and "5.73" in text  # the paper's figures
    assert "Total wall time" in text and "--synthetic 4" in text
    assert "each fold scored on 1 random training images" in text


def test_trial_is_deterministic(table1):
    config = {"data": {"synthetic": 4}, "chm_params": {"epochs": 2, "n_levels": 2, "downscale": 1},
              "l2": 1e-3}
    a = table1.weizmann_trial("supervised+l2", 10, 3, config)
    b = table1.weizmann_trial("supervised+l2", 10, 3, config)
    assert a[0]["pixel_error"] == b[0]["pixel_error"]
    assert a[0]["weight_decay"] == 1e-3
    forest = table1.weizmann_trial("forest", 10, 3, config)
    assert forest[0]["pixel_error"] == table1.weizmann_trial("forest", 10, 3, config)[0]["pixel_error"]
    assert 0.0 <= forest[0]["pixel_error"] < 0.5
    # the supervised run reported by the MRF trial is the same model as a standalone one
    alone = table1.weizmann_trial("supervised", 10, 3, config)
    shared = table1.weizmann_trial("supervised+mrf", 10, 3, config, _with_supervised=True)
    assert shared[1]["method"] == "supervised"
    assert shared[1]["pixel_error"] == alone[0]["pixel_error"]


def test_report_table_and_csv(table1, tmp_path):
    import _report

    runs = [{"method": "a", "n": 10, "seed": s, "err": e, "status": "ok", "_private": [1]}
            for s, e in enumerate([0.1, 0.3])]
    runs.append({"method": "b", "n": 10, "seed": 0, "status": "error", "error": "boom"})
    cells = _report.aggregate(runs, "n", "method", "err")
    assert cells[(10, "a")][0] == pytest.approx(0.2) and cells[(10, "a")][2] == 2
    assert (10, "b") not in cells
    table = _report.mean_std_table(cells, [10], ["a", "b"], row_label="px")
    assert "20.00 ± 14.14" in table and "—" in table
    keys = _report.write_csv(tmp_path / "r.csv", runs, columns=["method"])
    assert keys[0] == "method" and "_private" not in keys and "error" in keys


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _progress_lines(printed):
    return [line for line in printed.splitlines() if line.startswith("[") and " trials, " in line]


def test_resumes_from_the_runs_on_disk(table1, tmp_path, capsys):
    out = tmp_path / "resume"
    argv = ["--synthetic", "4", "--sizes", "10", "--seeds", "0", "1", "--methods", "supervised",
            "tv", "--chm-params", TINY, "--n-jobs", "1", "--out", str(out)]
    assert table1.main(argv) == 0
    printed = capsys.readouterr().out
    assert "0 of 4 trials on disk, 4 to go" in printed
    progress = _progress_lines(printed)
    assert len(progress) == 4 and progress[-1].startswith("[4/4 trials, ")
    assert "left]" in progress[0]
    log = out / "runs.jsonl"
    first = _lines(log)
    assert sorted((r["method"], r["seed"]) for r in first) == [("supervised", 0), ("supervised", 1),
                                                              ("tv", 0), ("tv", 1)]
    table = (out / "table1.md").read_text()

    # again: everything is on disk, nothing runs, the same table comes back
    assert table1.main(argv) == 0
    printed = capsys.readouterr().out
    assert "4 of 4 trials on disk, 0 to go" in printed
    assert _progress_lines(printed) == []
    assert _lines(log) == first
    again = (out / "table1.md").read_text()
    assert again.split("## Time per run")[0] == table.split("## Time per run")[0]
    assert "over 2 sessions" not in again  # the second session stored no run

    # one line deleted: exactly that trial runs, and gives the same result
    gone = next(r for r in first if (r["method"], r["seed"]) == ("tv", 1))
    log.write_text("".join(json.dumps(r) + "\n" for r in first if r is not gone))
    assert table1.main(argv) == 0
    printed = capsys.readouterr().out
    assert "3 of 4 trials on disk, 1 to go" in printed
    progress = _progress_lines(printed)
    assert len(progress) == 1 and "method=tv n_labeled=10 seed=1" in progress[0]
    now = _lines(log)
    assert len(now) == 4 and now[-1]["pixel_error"] == gone["pixel_error"]
    assert now[-1]["session"] != gone["session"]
    text = (out / "table1.md").read_text()
    assert text.split("## Time per run")[0] == table.split("## Time per run")[0]
    assert "over 2 sessions (this one: " in text and "4 runs, n_jobs=1." in text
    assert "summed over the 4 trials' own wall times" in text
    assert len(_rows(out / "runs.csv")) == 4

    # other settings are other runs; --fresh starts over
    assert table1.main(argv[:-4] + ["--chm-params", '{"epochs": 1, "n_levels": 2, "downscale": 1}',
                                    "--methods", "supervised", "--seeds", "0",
                                    "--n-jobs", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert ("0 of 1 trials on disk, 1 to go (4 other runs on disk are not part of this table"
            in printed)
    assert table1.main(argv + ["--fresh", "--methods", "tv", "--seeds", "0"]) == 0
    assert "0 of 1 trials on disk, 1 to go" in capsys.readouterr().out
    assert [(r["method"], r["seed"]) for r in _lines(log)] == [("tv", 0)]


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_shared_fits_are_planned_from_the_missing_runs(table1):
    args = table1.parse_args(["--synthetic", "4", "--sizes", "10", "20", "--seeds", "0",
                              "--methods", "supervised", "supervised+mrf", "tv"])
    config = {"data": {"synthetic": 4}, "chm_params": {}, "l2": 1e-3, "mrf_cv_images": 1}
    plan = table1.make_trials(args, config, panels=[0])
    assert [(t["method"], t["n_labeled"], t.get("_with_supervised", False)) for t in plan] == [
        ("supervised+mrf", 10, True), ("supervised+mrf", 20, True), ("tv", 10, False),
        ("tv", 20, False)]
    assert plan[0]["_panels"] == [0] and "_panels" not in plan[1]
    keys = {k: k for t in plan for k in table1.trial_keys(t)}
    assert len(keys) == 6

    def without(*gone):
        return {k: v for k, v in keys.items() if (k[0], k[1]) not in gone}

    # the MRF run of size 10 is missing: its trial runs alone, the supervised run is on disk
    todo = table1.make_trials(args, config, [0], done=without(("supervised+mrf", 10)))
    assert [(t["method"], t["n_labeled"], t.get("_with_supervised", False)) for t in todo] == [
        ("supervised+mrf", 10, False)]
    # the supervised run of size 20 is missing: it runs alone, without the MRF
    todo = table1.make_trials(args, config, [0], done=without(("supervised", 20)))
    assert [(t["method"], t["n_labeled"]) for t in todo] == [("supervised", 20)]
    # both missing: one shared trial again
    todo = table1.make_trials(args, config, [0],
                              done=without(("supervised", 20), ("supervised+mrf", 20)))
    assert [(t["method"], t["n_labeled"], t.get("_with_supervised")) for t in todo] == [
        ("supervised+mrf", 20, True)]
    # a run depends on the settings its method uses, and only those
    other = {**config, "mrf_cv_images": 5, "l2": 0.5}
    todo = table1.make_trials(args, other, [0], done=keys)
    assert [(t["method"], t["n_labeled"]) for t in todo] == [("supervised+mrf", 10),
                                                             ("supervised+mrf", 20)]
    assert table1.make_trials(args, {**config, "data": {"synthetic": 6}}, [0], done=keys) != []


def test_unknown_method_is_rejected_by_the_trial(table1):
    config = {"data": {"synthetic": 4}, "chm_params": {}, "l2": 1e-3}
    with pytest.raises(ValueError, match="unknown Table 1 method 'crf'; known methods: supervised"):
        table1.weizmann_trial("crf", 10, 0, config)


def test_every_method_has_a_place_in_the_trial_order(table1):
    assert sorted(table1.ORDER) == sorted(table1.METHODS)
