"""Smoke test of the fold-ensemble benchmark on tiny synthetic data."""
import json

from .helpers import benchmark_module

TINY = '{"epochs": 2, "n_levels": 3, "downscale": 1, "context_cv": 2}'


def test_every_variant_on_one_fit_per_seed_and_resume(tmp_path, capsys):
    out = tmp_path / "folds.jsonl"
    argv = ["--px", "8", "--seeds", "0", "--synthetic", "3", "--chm-params", TINY, "--out", str(out)]
    with benchmark_module("fold_ensemble") as module:
        module.main(argv)
        runs = [json.loads(line) for line in out.read_text().splitlines()]
        assert [r["variant"] for r in runs] == list(module.VARIANTS)
        assert len({r["fit_s"] for r in runs}) == 1  # one fitted model per seed
        assert all(0 <= r["error"] <= 100 and r["px"] == 8 and r["seed"] == 0 for r in runs)
        # with 3 levels, True averages levels 0-2, "coarse" level 2 only, False none
        assert len({r["error"] for r in runs}) == 3
        module.main(argv)  # everything done: nothing is added
        assert len(out.read_text().splitlines()) == len(runs)
