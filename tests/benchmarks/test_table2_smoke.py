"""Smoke test of the Stanford Background Table 2 benchmark on tiny synthetic data."""
import csv
import json

import pytest

from .helpers import benchmark_module

pytest.importorskip("torch")


TINY_CONVNET = {"width": 4, "hidden": 8, "epochs": 1, "downscale": 1, "batch_images": 4,
                "device": "cpu", "n_jobs": 1}
TINY_CHM = {"epochs": 1, "n_levels": 1, "downscale": 1}


@pytest.fixture(scope="module")
def table2():
    with benchmark_module("table2_stanford") as module:
        yield module


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_quick_synthetic_writes_all_outputs(table2, tmp_path, capsys):
    out = tmp_path / "t2"
    rc = table2.main(["--quick", "--synthetic", "6", "--convnet-params", json.dumps(TINY_CONVNET),
                      "--chm-params", json.dumps(TINY_CHM), "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "method=tv" in printed and "pixel_error=" in printed

    for name in ("table2.md", "runs.csv", "fig3_error_vs_labeled.png", "fig4_samples.png"):
        assert (out / name).stat().st_size > 0, name

    rows = _rows(out / "runs.csv")
    assert {"method", "n_labeled", "fold", "seed", "pixel_error", "fit_seconds",
            "train_images_per_s", "predict_seconds", "mrf_lambda"} <= set(rows[0])
    assert sorted(r["method"] for r in rows) == ["supervised", "tv"]
    for r in rows:
        assert r["status"] == "ok"
        assert (r["n_labeled"], r["fold"], r["seed"]) == ("10", "0", "0")
        assert 0.0 <= float(r["pixel_error"]) <= 1.0
        assert float(r["fit_seconds"]) > 0 and float(r["train_images_per_s"]) > 0
        assert r["device"] == "cpu"

    text = (out / "table2.md").read_text()
    assert "| labeled px / image |" in text and "TV (paper)" in text
    assert "26.19" in text and "22.79" in text and "39.98" in text  # the paper's figures
    assert "Total wall time" in text and "--synthetic 6" in text
    assert "SYNTHETIC" in text


def test_all_methods_share_the_supervised_fit(table2, tmp_path):
    out = tmp_path / "all"
    rc = table2.main(["--quick", "--synthetic", "6", "--methods", *table2.METHODS,
                      "--dense-px", "50", "--convnet-params", json.dumps(TINY_CONVNET),
                      "--chm-params", json.dumps(TINY_CHM), "--mrf-cv-images", "2",
                      "--out", str(out)])
    assert rc == 0
    rows = _rows(out / "runs.csv")
    assert sorted(r["method"] for r in rows) == sorted(table2.METHODS)
    for r in rows:
        assert r["status"] == "ok", r.get("error")
        assert 0.0 <= float(r["pixel_error"]) <= 1.0
    by_method = {r["method"]: r for r in rows}
    assert float(by_method["supervised+mrf"]["mrf_lambda"]) >= 0
    assert by_method["supervised"]["shared_fit"] == "supervised+mrf"
    assert by_method["supervised"]["trial"] == by_method["supervised+mrf"]["trial"]
    assert float(by_method["chm-supervised+mrf"]["mrf_lambda"]) >= 0
    assert by_method["chm-supervised"]["shared_fit"] == "chm-supervised+mrf"
    assert by_method["chm-supervised"]["trial"] == by_method["chm-supervised+mrf"]["trial"]
    assert by_method["dense"]["n_labeled"] == "50"
    text = (out / "table2.md").read_text()
    assert "dense (50 px/img)" in text and "CHM + TV" in text
    assert "CHM supervised + MRF: Potts MRF on the CHM supervised probability maps" in text
    assert "Reported from the CHM supervised + MRF trial" in text
    assert "each fold scored on 2 random training images" in text
    assert "RF (scikit-image features): chm.baselines.ForestSegmenter" in text


@pytest.mark.parametrize("host, guest", [("supervised+mrf", "supervised"),
                                         ("chm-supervised+mrf", "chm-supervised")])
def test_shared_supervised_run_equals_standalone_fit(table2, host, guest):
    config = {"data": {"synthetic": 6}, "convnet_params": TINY_CONVNET, "chm_params": TINY_CHM,
              "threads": 1}
    alone = table2.stanford_trial(guest, 10, 1, 3, config)
    again = table2.stanford_trial(guest, 10, 1, 3, config)
    assert alone[0]["pixel_error"] == again[0]["pixel_error"]
    shared = table2.stanford_trial(host, 10, 1, 3, config, _with_supervised=True)
    assert [r.get("method") for r in shared] == [None, guest]
    assert shared[1]["pixel_error"] == alone[0]["pixel_error"]
    assert shared[0]["mrf_lambda"] >= 0


def test_share_fits_merges_matching_trials(table2):
    import _trials

    trials = [{"method": "m", "n": 10, "seed": 0}, {"method": "m", "n": 20, "seed": 0},
              {"method": "s", "n": 10, "seed": 0, "_panels": [1]},
              {"method": "s", "n": 30, "seed": 0}]
    merged = _trials.share_fits(trials, "m", "s", keys=["n", "seed"])
    assert [(t["method"], t["n"]) for t in merged] == [("m", 10), ("m", 20), ("s", 30)]
    assert merged[0]["_with_supervised"] is True and merged[0]["_panels"] == [1]
    assert "_with_supervised" not in merged[1]
    assert "_with_supervised" not in trials[0]  # the input is left alone
