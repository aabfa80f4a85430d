"""Smoke test of the active-learning benchmark on tiny synthetic data."""
import json

import numpy as np
import pytest

from .helpers import benchmark_module

TINY = '{"epochs": 2, "n_levels": 2, "downscale": 1}'


@pytest.fixture(scope="module")
def active():
    with benchmark_module("active") as module:
        yield module


def test_loop_adds_suggested_labels_each_round_and_resumes(active, tmp_path, capsys):
    out = tmp_path / "active"
    argv = ["--strategies", "margin-s2+prior", "random", "--seeds", "0", "--start", "2",
            "--step", "3", "--budget", "8", "--synthetic", "3", "--chm-params", TINY, "--eval-all",
            "--n-jobs", "1", "--out", str(out)]
    active.main(argv)
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert [(r["strategy"], r["px"]) for r in runs] == [
        ("margin-s2+prior", 2), ("margin-s2+prior", 5), ("margin-s2+prior", 8), ("random", 8)]
    assert [r["labeled_px_per_image"] for r in runs] == [2, 5, 8, 8]
    assert all(0 <= r["pixel_error"] <= 1 for r in runs)
    assert [r.get("suggested") for r in runs] == [9, 9, None, None]  # 3 images x 3
    # later rounds keep the class shares the first round estimated from random labels
    assert runs[1]["class_prior"] == pytest.approx(runs[0]["class_prior"])
    assert runs[2]["class_prior"] == pytest.approx(runs[0]["class_prior"])
    assert runs[2]["label_prior"] != pytest.approx(runs[0]["label_prior"])

    from chm.synthetic import make_shapes

    _, masks = make_shapes(6, (32, 40), random_state=0)
    before = active.sample_sparse_labels(masks[:3], 2, random_state=0)
    for px in (5, 8):
        after = active.load_labels(active.labels_path(out, "margin-s2+prior", 0, px))
        for old, new, mask in zip(before, after, masks):
            added = (new >= 0) & (old < 0)
            assert added.sum() == 3  # the suggestions, on pixels unlabeled before
            assert np.all(new[old >= 0] == old[old >= 0])
            assert np.all(new[added] == mask[added])  # answered from the ground truth
        before = after
    table = (out / "active.md").read_text()
    assert "| margin-s2+prior | 8 |" in table and "| random | 8 |" in table
    assert "points below random at 8 px/img" in table

    capsys.readouterr()
    active.main(argv)  # everything on disk: nothing is fitted again
    assert "4 of 4 runs on disk, 0 to go" in capsys.readouterr().out
    assert len((out / "runs.jsonl").read_text().splitlines()) == 4


def test_potts_model_runs_the_loop_with_the_proposal_segmenter(active, tmp_path):
    out = tmp_path / "active"
    active.main(["--model", "potts", "--strategies", "margin", "--seeds", "0", "--start", "4",
                 "--step", "4", "--budget", "8", "--synthetic", "4", "--chm-params", TINY,
                 "--n-jobs", "1", "--out", str(out)])
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert [(r["model"], r["px"]) for r in runs] == [("potts", 4), ("potts", 8)]
    assert all(r["potts_lambda"] >= 0 and len(r["class_prior"]) == 2 for r in runs)
    assert 0 <= runs[-1]["pixel_error"] <= 1 and runs[0]["suggested"] == 16
    # the shares of the labels themselves, not of the labels plus proposals the CHM was refitted on
    first = active.sample_sparse_labels(active.load_weizmann_or_synthetic(4)[1], 4, random_state=0)
    share = np.mean(np.concatenate([lab[lab >= 0] for lab in first]) == 1)
    assert runs[0]["label_prior"] == pytest.approx([1 - share, share])


def test_strategy_names(active):
    assert active.parse_strategy("random") is None
    assert active.parse_strategy("margin") == ("margin", 0.0, set(), 0)
    assert active.parse_strategy("entropy-s2.5") == ("entropy", 2.5, set(), 0)
    assert active.parse_strategy("margin-s4+prior+epochs") == ("margin", 4.0, {"prior", "epochs"},
                                                                0)
    assert active.parse_strategy("margin-p10+prior") == ("margin", 0.0, {"prior"}, 10)
    with pytest.raises(ValueError, match="unknown strategy"):
        active.parse_strategy("margin-x4")


def test_share_keeps_the_first_rounds_label_shares(active, tmp_path):
    """``+share``: later rounds predict for the class shares of the first round's (random)
    labels; ``+prior`` for the shares the first model estimated; the first round keeps
    the defaults."""
    first = {"strategy": "margin+share+epochs", "seed": 0, "px": 2, "epochs": 7,
             "label_prior": [0.75, 0.25], "class_prior": [0.9, 0.1]}
    (tmp_path / "runs.jsonl").write_text(json.dumps(first) + "\n"
                                         + json.dumps({**first, "strategy": "margin+prior"}) + "\n")
    args = active.argparse.Namespace(out=str(tmp_path), start=2)
    assert active.kept_params("margin+share+epochs", 0, 4, args) == {
        "class_prior": [0.75, 0.25], "epochs": 7}
    assert active.kept_params("margin+prior", 0, 4, args) == {"class_prior": [0.9, 0.1]}
    assert active.kept_params("margin+share+epochs", 0, 2, args) == {}
    with pytest.raises(ValueError, match="both set the class shares"):
        active.parse_strategy("margin+prior+share")


def test_min_sq_distance_matches_brute_force(active):
    rng = np.random.RandomState(0)
    A, B = rng.rand(50, 4), rng.rand(7, 4)
    brute = ((A[:, None] - B[None]) ** 2).sum(axis=-1).min(axis=1)
    np.testing.assert_allclose(active._min_sq_distance(A, B, block=8), brute, atol=1e-12)


def test_feature_diversity_picks_from_the_uncertain_pool(active, tmp_path):
    out = tmp_path / "pool"
    active.main(["--strategies", "margin-p3", "--seeds", "0", "--start", "2", "--step", "2",
                 "--budget", "4", "--synthetic", "3", "--chm-params", TINY, "--n-jobs", "1",
                 "--out", str(out)])
    from chm.synthetic import make_shapes

    _, masks = make_shapes(6, (32, 40), random_state=0)
    before = active.sample_sparse_labels(masks[:3], 2, random_state=0)
    after = active.load_labels(active.labels_path(out, "margin-p3", 0, 4))
    for old, new, mask in zip(before, after, masks):
        added = (new >= 0) & (old < 0)
        assert added.sum() == 2 and np.all(new[added] == mask[added])
