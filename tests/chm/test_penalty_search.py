"""Choosing the penalty and its weight from held-out labeled pixels (chm.penalty_search)."""
import numpy as np
import pytest

import chm
import features
from chm import penalty_search
from chm.penalties import QuadraticVariation, TotalVariation


def small(**kw):
    params = dict(n_levels=2, epochs=3, downscale=1, context_radii=(1, 2), batch_images=2,
                  learning_rate=0.05, random_state=0, context_cv=None,
                  bank=features.FilterBank([features.GaussianFilter(sigmas=(1, 2))]))
    params.update(kw)
    return chm.CHM(**params)


def test_candidates_always_start_with_no_penalty():
    assert penalty_search.candidates("tv", 0.1) == [(None, 0.0), ("tv", 0.1)]
    grid = penalty_search.candidates("auto", "auto")
    assert grid[0] == (None, 0.0)
    assert {p for p, _ in grid[1:]} == set(penalty_search.AUTO_PENALTIES)
    assert len(grid) == 1 + len(penalty_search.AUTO_PENALTIES) * len(penalty_search.AUTO_WEIGHTS)
    assert penalty_search.candidates("quadratic", "auto") == (
        [(None, 0.0)] + [("quadratic", w) for w in penalty_search.AUTO_WEIGHTS])
    assert penalty_search.candidates("auto", 0.0) == [(None, 0.0)]


def test_labeled_pixel_folds_deal_every_labeled_region_once_and_evenly():
    rng = np.random.RandomState(0)
    labels = [np.where(rng.random_sample((9, 11)) < 0.3, rng.randint(0, 2, (9, 11)), -1)
              for _ in range(5)]
    folds = penalty_search.labeled_pixel_folds(labels, 3, np.random.RandomState(1))
    per_fold = np.zeros(3, int)
    for f, lab in zip(folds, labels):
        np.testing.assert_array_equal(f >= 0, lab >= 0)  # labeled pixels only, all of them
        regions = penalty_search.labeled_regions(lab)
        fold_of = [np.unique(f[regions == r]) for r in range(1, regions.max() + 1)]
        assert all(len(u) == 1 for u in fold_of)           # a region stays in one fold
        counts = np.bincount([u[0] for u in fold_of], minlength=3)
        assert counts.max() - counts.min() <= 1            # regions of each image dealt evenly
        per_fold += counts
    assert per_fold.max() - per_fold.min() <= 1


def test_labeled_pixel_folds_of_isolated_pixels_deal_them_one_by_one():
    # the per-pixel dealing: a random order of each image's labeled pixels
    rng = np.random.RandomState(0)
    labels = []
    for _ in range(4):
        lab = np.full((20, 20), -1)
        lab[::3, ::4] = rng.randint(0, 2, lab[::3, ::4].shape)  # no two labeled neighbours
        labels.append(lab)
    folds = penalty_search.labeled_pixel_folds(labels, 3, np.random.RandomState(5))
    ref_rng, offset = np.random.RandomState(5), 0
    for f, lab in zip(folds, labels):
        idx = np.flatnonzero(lab.reshape(-1) >= 0)
        ref = np.full(lab.size, -1)
        ref[ref_rng.permutation(idx)] = (offset + np.arange(len(idx))) % 3
        offset += len(idx)
        np.testing.assert_array_equal(f.reshape(-1), ref)


def test_labeled_pixel_folds_hold_out_a_stroke_whole():
    lab = np.full((12, 30), -1)
    lab[2, 3:20] = 0           # a horizontal stroke of class 0
    lab[3, 19:25] = 0          # joined to it diagonally: the same stroke
    lab[8:10, 5:15] = 1        # a stroke of class 1
    lab[7, 10] = 0             # touches the class-1 stroke, but is of class 0: its own region
    lab[11, 28] = 1            # an isolated click
    regions = penalty_search.labeled_regions(lab)
    assert regions.max() == 4
    assert len(np.unique(regions[2, 3:20])) == 1 and regions[3, 24] == regions[2, 3]
    assert regions[7, 10] != regions[8, 10]
    for seed in range(5):
        (f,) = penalty_search.labeled_pixel_folds([lab], 2, np.random.RandomState(seed))
        np.testing.assert_array_equal(f >= 0, lab >= 0)
        for r in range(1, 5):
            assert len(np.unique(f[regions == r])) == 1  # never split
        assert sorted(np.bincount([f[2, 3], f[8, 5], f[7, 10], f[11, 28]], minlength=2)) == [2, 2]


def test_search_trains_without_the_held_out_labels_and_scores_them():
    rng = np.random.RandomState(0)
    X = [rng.standard_normal((6, 7, 2)).astype(np.float32) for _ in range(3)]
    labels = [np.where(rng.random_sample((6, 7)) < 0.5, rng.randint(0, 2, (6, 7)), -1) for _ in X]
    seen = []

    class Fixed:
        """Predicts class 1 everywhere."""

        def predict_proba(self, rows):
            return np.tile([0.0, 1.0], (len(rows), 1))

    def train(X_, train_labels, penalty, weight, guides, rng_):
        seen.append((penalty, weight, [t.copy() for t in train_labels]))
        return Fixed()

    grid = [(None, 0.0), ("tv", 0.5)]
    trials = penalty_search.search(X, labels, grid, train, lambda pen: [None] * 3, 2,
                                   np.random.RandomState(0))
    assert len(seen) == 4  # 2 candidates x 2 folds
    for penalty, weight, train_labels in seen:
        assert (penalty is None) == (weight == 0)
        n_train = sum(int((t >= 0).sum()) for t in train_labels)
        n_all = sum(int((lab >= 0).sum()) for lab in labels)
        assert 0 < n_train < n_all  # a fold is held out ...
        for t, lab in zip(train_labels, labels):  # ... and what is kept is the truth
            np.testing.assert_array_equal(t[t >= 0], lab[t >= 0])
    truth = np.concatenate([lab[lab >= 0] for lab in labels])
    expected = float(np.mean(truth != 1))  # every labeled pixel is held out once
    assert [t.error for t in trials] == [pytest.approx(expected)] * 2
    assert [(t.penalty, t.tv_weight) for t in trials] == [(None, 0.0), ("tv", 0.5)]
    assert penalty_search.best(trials) == 0  # a tie goes to no penalty


def test_auto_chm_records_the_search_and_uses_its_choice(data):
    images, masks, labels = data
    model = small(penalty="auto", tv_weight="auto").fit(images, labels)
    trials = model.penalty_search_
    assert len(trials) == len(penalty_search.candidates("auto", "auto"))
    assert trials[0].penalty is None and trials[0].tv_weight == 0.0
    chosen = trials[penalty_search.best(trials)]
    assert model.tv_weight_ == chosen.tv_weight
    if chosen.tv_weight == 0:
        assert model.penalty_ is None
    else:
        assert type(model.penalty_) is type(chm.penalties.get_penalty(chosen.penalty))
    assert all(0.0 <= t.error <= 1.0 for t in trials)
    # the fixed choice given by hand gives the same model, guides included
    fixed = small(penalty=chosen.penalty or "tv", tv_weight=chosen.tv_weight).fit(images, labels)
    np.testing.assert_array_equal(model.predict_proba(images)[0], fixed.predict_proba(images)[0])


@pytest.mark.parametrize("choice", [1, 4, 7])  # tv, edge_tv and bilateral at weight 0.1
def test_each_choice_gives_the_model_of_that_fixed_setting(data, monkeypatch, choice):
    """Whatever the search picks, the fit equals the fit given that setting (same guides)."""
    images, _, labels = data
    monkeypatch.setattr(penalty_search, "best", lambda trials: choice)
    model = small(penalty="auto", tv_weight="auto", penalty_cv=2).fit(images, labels)
    name, weight = penalty_search.candidates("auto", "auto")[choice]
    assert model.penalty_search_[choice].penalty == name and model.tv_weight_ == weight
    fixed = small(penalty=name, tv_weight=weight).fit(images, labels)
    assert repr(model.penalty_) == repr(fixed.penalty_)
    np.testing.assert_array_equal(model.predict_proba(images)[2], fixed.predict_proba(images)[2])


def test_auto_weight_with_a_named_penalty(data):
    images, _, labels = data
    model = small(penalty="quadratic", tv_weight="auto", penalty_cv=2).fit(images, labels)
    assert [t.tv_weight for t in model.penalty_search_] == [0.0, *penalty_search.AUTO_WEIGHTS]
    assert model.penalty_ is None or isinstance(model.penalty_, QuadraticVariation)


def test_fixed_penalty_needs_no_search(data):
    images, _, labels = data
    model = small().fit(images, labels)
    assert model.penalty_search_ == [] and model.tv_weight_ == 0.1
    assert isinstance(model.penalty_, TotalVariation)


def test_auto_model_round_trips_through_a_file(data, tmp_path):
    images, _, labels = data
    model = small(penalty="auto", tv_weight="auto", penalty_cv=2).fit(images, labels)
    path = tmp_path / "auto.chm"
    chm.save(model, path)
    loaded = chm.load(path)
    assert loaded.penalty_search_ == model.penalty_search_
    np.testing.assert_array_equal(loaded.predict_proba(images[:1])[0],
                                  model.predict_proba(images[:1])[0])


@pytest.mark.parametrize("bad", [dict(penalty="best"), dict(tv_weight="most"), dict(penalty_cv=1)])
def test_bad_auto_settings_are_named(data, bad):
    images, _, labels = data
    with pytest.raises(ValueError, match=next(iter(bad))):
        small(**bad).fit(images, labels)


def test_choosing_no_penalty_gives_the_unpenalised_model(data, monkeypatch):
    """The search does not consume the fit's random stream: "auto" -> 0 is tv_weight=0."""
    images, _, labels = data
    monkeypatch.setattr(penalty_search, "best", lambda trials: 0)  # force "no penalty"
    auto = small(penalty="auto", tv_weight="auto", penalty_cv=2, context_cv=2).fit(images, labels)
    plain = small(tv_weight=0.0, context_cv=2).fit(images, labels)
    assert auto.tv_weight_ == 0.0 and auto.penalty_ is None
    np.testing.assert_array_equal(auto.predict_proba(images)[1], plain.predict_proba(images)[1])


@pytest.mark.parametrize("name", ["edge_tv", "curvilinear", "bilateral", "quadratic"])
def test_every_named_penalty_trains_the_chm_and_is_saved(data, tmp_path, name):
    images, _, labels = data
    model = small(penalty=name, tv_weight=0.5).fit(images, labels)
    plain = small(tv_weight=0.0).fit(images, labels)
    assert type(model.penalty_) is type(chm.penalties.get_penalty(name))
    proba = model.predict_proba(images[:1])[0]
    assert not np.allclose(proba, plain.predict_proba(images[:1])[0])  # the penalty acted
    chm.save(model, tmp_path / "m.chm")
    loaded = chm.load(tmp_path / "m.chm")
    assert repr(loaded.penalty_) == repr(model.penalty_)
    np.testing.assert_array_equal(loaded.predict_proba(images[:1])[0], proba)


def test_best_keeps_no_penalty_unless_a_candidate_wins_by_more_than_its_standard_error():
    T = penalty_search.PenaltyTrial
    assert penalty_search.best([T(None, 0.0, 0.20), T("tv", 0.1, 0.19, 0.02)]) == 0
    assert penalty_search.best([T(None, 0.0, 0.20), T("tv", 0.1, 0.15, 0.02),
                                T("tv", 0.3, 0.14, 0.08)]) == 1
    assert penalty_search.best([T(None, 0.0, 0.20), T("tv", 0.1, 0.19, 0.006)], n_se=2) == 0


def test_search_reports_the_paired_standard_error():
    rng = np.random.RandomState(0)
    X = [rng.standard_normal((6, 7, 2)).astype(np.float32) for _ in range(3)]
    labels = [rng.randint(0, 2, (6, 7)) for _ in X]  # every pixel labeled

    class Constant:
        def __init__(self, cls):
            self.cls = cls

        def predict_proba(self, rows):
            return np.tile(np.eye(2)[self.cls], (len(rows), 1))

    trials = penalty_search.search(X, labels, [(None, 0.0), ("tv", 1.0)],
                                   lambda X_, lab, pen, w, g, r: Constant(0 if pen is None else 1),
                                   lambda pen: [None] * 3, 2, np.random.RandomState(0))
    truth = np.concatenate([lab.ravel() for lab in labels])
    diff = (truth == 1).astype(float) - (truth == 0)
    assert trials[0].se == 0.0
    assert trials[1].se == pytest.approx(diff.std(ddof=1) / np.sqrt(len(diff)))
    assert trials[1].error == pytest.approx(np.mean(truth != 1))
