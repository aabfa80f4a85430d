"""Smoke test of the Weizmann Horse Table 1 benchmark on tiny synthetic data."""
import csv
import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"

TINY = '{"epochs": 2, "n_levels": 2, "downscale": 1}'


@pytest.fixture(scope="module")
def table1():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("table1_weizmann")
    finally:
        sys.path.remove(str(BENCHMARKS))


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


def test_harness_table_and_csv(table1, tmp_path):
    import _harness

    runs = [{"method": "a", "n": 10, "seed": s, "err": e, "status": "ok", "_private": [1]}
            for s, e in enumerate([0.1, 0.3])]
    runs.append({"method": "b", "n": 10, "seed": 0, "status": "error", "error": "boom"})
    cells = _harness.aggregate(runs, "n", "method", "err")
    assert cells[(10, "a")][0] == pytest.approx(0.2) and cells[(10, "a")][2] == 2
    assert (10, "b") not in cells
    table = _harness.mean_std_table(cells, [10], ["a", "b"], row_label="px")
    assert "20.00 ± 14.14" in table and "—" in table
    keys = _harness.write_csv(tmp_path / "r.csv", runs, columns=["method"])
    assert keys[0] == "method" and "_private" not in keys and "error" in keys
