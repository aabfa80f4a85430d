"""CHM.fit_heldout and the held-out folds: the maps MRFSegmenter scores its weights on."""
import numpy as np
import pytest

import chm
from chm.datasets import sample_sparse_labels
from chm.heldout import HeldOutFolds
from chm.mrf import MRFSegmenter
from chm.mrf_segmenter import _assign_folds
from chm.synthetic import make_shapes


def small_chm(**kw):
    return chm.CHM(**{"n_levels": 2, "epochs": 3, "context_cv": 2, "learned_filters": 4,
                      "random_state": 0, **kw})


@pytest.fixture(scope="module")
def data():
    images, masks = make_shapes(n_images=6, shape=(36, 44), random_state=3)
    labels = sample_sparse_labels(masks, 15, random_state=0)
    folds = _assign_folds(labels, 3, np.random.RandomState(0))
    return images, labels, folds


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, k, indices, maps):
        self.calls.append((k, indices, maps))


@pytest.mark.parametrize("params", [{}, {"epochs": "auto", "n_stages": 2}])
def test_fit_heldout_gives_the_model_fit_gives(data, params):
    images, labels, folds = data
    plain = small_chm(**params).fit(images, labels)
    rec = Recorder()
    shared = small_chm(**params).fit_heldout(images, labels, folds, rec)
    for a, b in zip(plain.predict_proba(images), shared.predict_proba(images)):
        np.testing.assert_array_equal(a, b)
    assert [c[0] for c in rec.calls] == [0, 1, 2]


def test_heldout_maps_are_probability_maps_of_the_wanted_images(data):
    images, labels, folds = data
    rec = Recorder()
    wanted = [[0, 2], [5], [1, 3, 4]]
    small_chm().fit_heldout(images, labels, folds, rec, wanted)
    assert [list(c[1]) for c in rec.calls] == wanted
    for _, indices, maps in rec.calls:
        assert len(maps) == len(indices)
        for i, m in zip(indices, maps):
            assert m.shape == images[i].shape[:2] + (2,)
            assert m.dtype == np.float32
            np.testing.assert_allclose(m.sum(axis=-1), 1.0, atol=1e-5)


def test_heldout_copies_train_without_their_folds_pixels(data, monkeypatch):
    """Every held-out copy trains on exactly the level-0 labels left by its fold."""
    images, labels, folds = data
    seen = {}
    original = chm.CHM._train

    def spy(self, X, ys, *args, **kwargs):
        name = args[3]
        if "held-out fold" in name:
            seen[int(name.rsplit(" ", 1)[1]) - 1] = [np.array(y) for y in ys]
        return original(self, X, ys, *args, **kwargs)

    monkeypatch.setattr(chm.CHM, "_train", spy)
    model = small_chm(downscale=1.0).fit_heldout(images, labels, folds, Recorder())
    assert sorted(seen) == [0, 1, 2]
    for k, ys in seen.items():
        for lab, fold, y in zip(labels, folds, ys):
            h, w = lab.shape
            expected = np.where((fold == k) | (lab < 0), -1, np.searchsorted(model.classes_, lab))
            np.testing.assert_array_equal(y[:h, :w], expected)
            assert np.all(y[h:] == -1) and np.all(y[:, w:] == -1)


def test_heldout_maps_differ_from_the_fitted_model(data):
    """Out-of-fold maps come from other classifiers than the model's own."""
    images, labels, folds = data
    rec = Recorder()
    model = small_chm().fit_heldout(images, labels, folds, rec)
    own = model.predict_proba(images)
    assert any(not np.allclose(m, own[i]) for _, indices, maps in rec.calls
               for i, m in zip(indices, maps))


def test_fit_time_leaves_out_the_heldout_copies(data):
    images, labels, folds = data
    model = small_chm().fit_heldout(images, labels, folds, Recorder())
    assert 0 < model.fit_time_


@pytest.mark.parametrize("bad, match", [
    (lambda f: f[:-1], "one map per image"),
    (lambda f: [x[:-1] for x in f], "integer map of shape"),
    (lambda f: [x.astype(float) for x in f], "integer map of shape"),
    (lambda f: [np.where(x >= 0, -1, x) for x in f], "every labeled pixel"),
    (lambda f: [np.where(x == 1, 0, x) for x in f], "n_folds >= 2"),
    (lambda f: [np.where(x == 2, 4, x) for x in f], "n_folds - 1"),
    (lambda f: [np.where(x < 0, 0, x) for x in f], "every unlabeled one"),
])
def test_bad_folds_are_refused_before_any_work(data, bad, match):
    images, labels, folds = data
    with pytest.raises(ValueError, match=match):
        HeldOutFolds.from_folds(labels, bad(folds))
    with pytest.raises(ValueError, match=match):
        small_chm().fit_heldout(images, labels, bad(folds), Recorder())


def test_bad_wanted_is_refused(data):
    _, labels, folds = data
    with pytest.raises(ValueError, match="one list of images per fold"):
        HeldOutFolds.from_folds(labels, folds, [[0], [1]])
    with pytest.raises(ValueError, match="indices below 6"):
        HeldOutFolds.from_folds(labels, folds, [[0], [1], [6]])


def test_default_wanted_is_every_image_with_a_pixel_of_the_fold(data):
    _, labels, folds = data
    few = [np.where(f == 2, -1, f) for f in folds]
    few[0] = np.where(folds[0] == 1, 2, few[0])  # fold 2: only image 0
    lab = [np.where((f < 0), -1, lb) for f, lb in zip(few, labels)]
    held = HeldOutFolds.from_folds(lab, few)
    assert held.wanted[2] == (0,)
    assert held.wanted[0] == tuple(range(6))
    for k, fold_labels in enumerate(held.fold_labels):
        for lb, f, y in zip(lab, few, fold_labels):
            np.testing.assert_array_equal(y, np.where(f == k, -1, lb))


class CountingCHM(chm.CHM):
    fits = 0
    heldout_fits = 0

    def fit(self, images, labels):
        type(self).fits += 1
        return super().fit(images, labels)

    def fit_heldout(self, *args, **kwargs):
        type(self).heldout_fits += 1
        return super().fit_heldout(*args, **kwargs)


@pytest.mark.parametrize("cv_fits, fits, heldout_fits", [("auto", 0, 1), ("refit", 4, 0)])
def test_mrf_segmenter_fits_a_chm_once_with_auto(data, cv_fits, fits, heldout_fits):
    images, labels, _ = data
    CountingCHM.fits = CountingCHM.heldout_fits = 0
    params = small_chm().get_params()
    seg = MRFSegmenter(CountingCHM(**params), weights=[0.0, 0.5, 2.0], cv=3, cv_fits=cv_fits,
                       random_state=0).fit(images, labels)
    assert (CountingCHM.fits, CountingCHM.heldout_fits) == (fits, heldout_fits)
    assert seg.cv_fold_scores_.shape == (3, 3)
    assert np.all((seg.cv_fold_scores_ >= 0) & (seg.cv_fold_scores_ <= 1))
    plain = small_chm().fit(images, labels)  # the final fit is the plain model either way
    for a, b in zip(plain.predict_proba(images), seg.predict_proba(images)):
        np.testing.assert_array_equal(a, b)


def test_mrf_segmenter_auto_scores_the_heldout_maps(data):
    """With cv_fits="auto", the fold scores are the held-out accuracies of fit_heldout's maps."""
    from chm.mrf import mrf_smooth

    images, labels, _ = data
    grid = [0.0, 0.5, 2.0]
    seg = MRFSegmenter(small_chm(), weights=grid, cv=3, random_state=0).fit(images, labels)
    folds = _assign_folds(labels, 3, np.random.RandomState(0))
    rec = Recorder()
    small_chm().fit_heldout(images, labels, folds, rec)
    for k, indices, maps in rec.calls:
        held = [folds[i] == k for i in indices]
        correct = [sum(np.count_nonzero(mrf_smooth(m, None, w)[h] == labels[i][h])
                       for m, i, h in zip(maps, indices, held)) for w in grid]
        np.testing.assert_allclose(seg.cv_fold_scores_[k],
                                   np.array(correct) / sum(h.sum() for h in held))


def test_mrf_segmenter_auto_refits_estimators_without_fit_heldout():
    """An estimator without fit_heldout is refitted per fold under "auto" too: same result."""
    from chm.baselines import ForestSegmenter

    images, masks = make_shapes(n_images=4, shape=(24, 28), random_state=1)
    labels = sample_sparse_labels(masks, 12, random_state=0)
    a = MRFSegmenter(ForestSegmenter(n_estimators=5, random_state=0), weights=[0.0, 1.0],
                     random_state=0).fit(images, labels)
    b = MRFSegmenter(ForestSegmenter(n_estimators=5, random_state=0), weights=[0.0, 1.0],
                     cv_fits="refit", random_state=0).fit(images, labels)
    np.testing.assert_array_equal(a.cv_fold_scores_, b.cv_fold_scores_)


def test_cv_fits_is_validated(data):
    images, labels, _ = data
    with pytest.raises(ValueError, match="cv_fits"):
        MRFSegmenter(small_chm(), cv_fits="once").fit(images, labels)


def test_without_context_cv_each_fold_is_a_whole_refit(data):
    """context_cv=None leaves the lower levels' training maps in sample: fit_heldout then
    refits the whole model per fold, and its maps are those models' predictions."""
    images, labels, folds = data
    CountingCHM.fits = CountingCHM.heldout_fits = 0
    rec = Recorder()
    params = {**small_chm().get_params(), "context_cv": None}
    CountingCHM(**params).fit_heldout(images, labels, folds, rec)
    assert CountingCHM.fits == 4  # three folds and the final fit
    k, indices, maps = rec.calls[1]
    ref = chm.CHM(**params).fit(images, [np.where(f == 1, -1, lab) for lab, f in zip(labels, folds)])
    for a, b in zip(ref.predict_proba([images[i] for i in indices]), maps):
        np.testing.assert_array_equal(a, b)


def test_mrf_segmenter_without_context_cv_scores_the_refits(data):
    """The search must not ask the unfitted estimator for its classes: without context_cv,
    fit_heldout scores the folds before it fits itself."""
    images, labels, _ = data
    params = {**small_chm().get_params(), "context_cv": None}
    auto = MRFSegmenter(chm.CHM(**params), weights=[0.0, 0.5, 2.0], cv=3, random_state=0)
    refit = MRFSegmenter(chm.CHM(**params), weights=[0.0, 0.5, 2.0], cv=3, cv_fits="refit",
                         random_state=0)
    np.testing.assert_array_equal(auto.fit(images, labels).cv_fold_scores_,
                                  refit.fit(images, labels).cv_fold_scores_)


def test_with_classes_fills_missing_channels():
    from chm.heldout import with_classes

    p = np.random.RandomState(0).rand(3, 4, 2).astype(np.float32)
    out = with_classes(p, np.array([1, 5]), np.array([1, 2, 5]))
    np.testing.assert_array_equal(out[..., [0, 2]], p)
    assert np.all(out[..., 1] == 0)
    assert with_classes(p, np.array([1, 5]), np.array([1, 5])) is p
