"""Tests of the Potts MRF smoothing (chm.mrf)."""
import itertools
import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression

from chm.mrf import (
    DEFAULT_WEIGHTS,
    MRFSegmenter,
    _alpha_expansion,
    _edge_weights,
    _unary,
    contrast_weights,
    mrf_smooth,
    potts_energy,
)
from chm.mrf_segmenter import _assign_folds


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def random_prob(rng, shape, n_classes, concentration=1.0):
    return rng.dirichlet(np.full(n_classes, concentration), size=shape)


def brute_force_energies(prob, weight, image=None, contrast=False, eps=1e-6):
    """Energies of all labelings, by an implementation independent of chm.mrf."""
    h, w, n_classes = prob.shape
    unary = -np.log(np.clip(prob, eps, 1.0)).reshape(-1, n_classes)
    edges, edge_w = [], []
    if contrast:
        img = image.reshape(h, w, -1).astype(np.float64)
    for y in range(h):
        for x in range(w):
            for dy, dx in ((0, 1), (1, 0)):
                if y + dy < h and x + dx < w:
                    edges.append((y * w + x, (y + dy) * w + x + dx))
                    edge_w.append(np.sum((img[y, x] - img[y + dy, x + dx]) ** 2) if contrast else 1.0)
    edges, edge_w = np.array(edges), np.array(edge_w)
    if contrast:
        beta = edge_w.mean()
        edge_w = np.exp(-edge_w / (2 * beta))
    all_labels = np.array(list(itertools.product(range(n_classes), repeat=h * w)))
    e = unary[np.arange(h * w), all_labels].sum(axis=1)
    e += weight * ((all_labels[:, edges[:, 0]] != all_labels[:, edges[:, 1]]) * edge_w).sum(axis=1)
    return all_labels, e


class PixelLogistic(BaseEstimator):
    """Per-pixel logistic regression on intensity, trained on labeled pixels only."""

    fit_calls = []  # label maps received by every fit, for inspection

    def __init__(self, C=1.0):
        self.C = C

    @staticmethod
    def _features(image):
        image = np.asarray(image, dtype=np.float64)
        if image.ndim == 3:
            image = image.mean(axis=2)
        return image.reshape(-1, 1)

    def fit(self, images, labels):
        PixelLogistic.fit_calls.append([np.array(lab, copy=True) for lab in labels])
        x = np.concatenate([self._features(im)[lab.ravel() >= 0] for im, lab in zip(images, labels)])
        y = np.concatenate([lab.ravel()[lab.ravel() >= 0] for lab in labels])
        self.model_ = LogisticRegression(C=self.C).fit(x, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, images):
        return [
            self.model_.predict_proba(self._features(im)).reshape(im.shape[:2] + (-1,)).astype(np.float32)
            for im in images
        ]


def noisy_squares(rng, n_images=4, size=40, noise=0.9, n_labeled=40, rgb=False):
    """Bright squares on a dark background with strong noise; sparse labels."""
    images, truth, sparse = [], [], []
    for _ in range(n_images):
        gt = np.zeros((size, size), dtype=np.int64)
        side = rng.integers(size // 3, size // 2)
        y, x = rng.integers(2, size - side - 2, size=2)
        gt[y:y + side, x:x + side] = 1
        img = gt + noise * rng.standard_normal(gt.shape)
        if rgb:
            img = np.repeat(img[:, :, None], 3, axis=2) + 0.1 * rng.standard_normal((size, size, 3))
        lab = np.full(gt.shape, -1, dtype=np.int64)
        # a few labeled pixels of each class
        for c in (0, 1):
            idx = rng.choice(np.flatnonzero(gt.ravel() == c), n_labeled // 2, replace=False)
            lab.flat[idx] = c
        images.append(img.astype(np.float32))
        truth.append(gt)
        sparse.append(lab)
    return images, truth, sparse


def dense_accuracy(preds, truth):
    return np.mean(np.concatenate([(p == t).ravel() for p, t in zip(preds, truth)]))


# --------------------------------------------------------------------------
# energy and contrast weights
# --------------------------------------------------------------------------
@pytest.mark.parametrize("contrast", [False, True])
def test_potts_energy_matches_independent_implementation(rng, contrast):
    prob = random_prob(rng, (3, 4), 3)
    image = rng.random((3, 4, 3))
    all_labels, energies = brute_force_energies(prob, 0.7, image, contrast)
    for k in rng.choice(len(all_labels), 20, replace=False):
        e = potts_energy(all_labels[k].reshape(3, 4), prob, 0.7, image, contrast)
        assert e == pytest.approx(energies[k], rel=1e-12)


def test_contrast_weights_gray_rgb_and_scale_invariance(rng):
    gray = rng.random((5, 6))
    r1, d1 = contrast_weights(gray)
    assert r1.shape == (5, 5) and d1.shape == (4, 6)
    assert np.all((r1 > 0) & (r1 <= 1)) and np.all((d1 > 0) & (d1 <= 1))
    r3, d3 = contrast_weights(np.repeat(gray[:, :, None], 3, axis=2))
    np.testing.assert_allclose(r1, r3)
    np.testing.assert_allclose(d1, d3)
    r5, d5 = contrast_weights(5.0 * gray + 2.0)
    np.testing.assert_allclose(r1, r5)
    np.testing.assert_allclose(d1, d5)
    # beta is the mean squared difference over all edges
    diffs = np.r_[(np.diff(gray, axis=1) ** 2).ravel(), (np.diff(gray, axis=0) ** 2).ravel()]
    np.testing.assert_allclose(r1, np.exp(-np.diff(gray, axis=1) ** 2 / (2 * diffs.mean())))
    r0, d0 = contrast_weights(np.full((4, 4), 3.0))
    assert np.all(r0 == 1) and np.all(d0 == 1)


# --------------------------------------------------------------------------
# binary: exact
# --------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(3, 3), (3, 4)])
@pytest.mark.parametrize("contrast", [False, True])
def test_binary_cut_is_exact(rng, shape, contrast):
    for weight in (0.05, 0.3, 1.0, 2.5, 10.0):
        prob = random_prob(rng, shape, 2, concentration=0.7)
        image = rng.random(shape + (3,))
        labels = mrf_smooth(prob, image, weight, contrast)
        assert labels.shape == shape and labels.dtype == np.intp
        _, energies = brute_force_energies(prob, weight, image, contrast)
        assert potts_energy(labels, prob, weight, image, contrast) == pytest.approx(energies.min(), abs=1e-9)


# --------------------------------------------------------------------------
# multi-class: alpha-expansion
# --------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 3), (3, 3)])
@pytest.mark.parametrize("contrast", [False, True])
def test_alpha_expansion_within_factor_two(rng, shape, contrast):
    n_hits = n_trials = 0
    for weight in (0.2, 0.7, 2.0):
        for _ in range(3):
            prob = random_prob(rng, shape, 3, concentration=0.8)
            image = rng.random(shape)
            labels = mrf_smooth(prob, image, weight, contrast)
            assert labels.min() >= 0 and labels.max() < 3
            _, energies = brute_force_energies(prob, weight, image, contrast)
            e = potts_energy(labels, prob, weight, image, contrast)
            assert energies.min() - 1e-9 <= e <= 2 * energies.min() + 1e-9
            n_hits += e <= energies.min() + 1e-9
            n_trials += 1
    # on such tiny grids alpha-expansion almost always reaches the optimum
    assert n_hits >= n_trials - 2


@pytest.mark.parametrize("contrast", [False, True])
def test_alpha_expansion_exact_on_easy_cases(rng, contrast):
    truth = np.array([[0, 0, 1], [0, 2, 1], [2, 2, 1]])
    for _ in range(5):
        prob = np.full((3, 3, 3), 0.15) + rng.random((3, 3, 3)) * 0.1
        prob[np.arange(3)[:, None], np.arange(3), truth] = 0.7
        prob[1, 1] = [0.45, 0.2, 0.35]  # the argmax disagrees with the neighbours here
        prob /= prob.sum(axis=2, keepdims=True)
        image = rng.random((3, 3))
        _, energies = brute_force_energies(prob, 0.5, image, contrast)
        labels = mrf_smooth(prob, image, 0.5, contrast)
        assert potts_energy(labels, prob, 0.5, image, contrast) == pytest.approx(energies.min(), abs=1e-9)


def test_per_edge_expansion_matches_fastmin_on_uniform_weights(rng):
    for _ in range(5):
        prob = random_prob(rng, (12, 15), 4, concentration=0.5)
        unary = _unary(prob, 1e-6)
        right, down = _edge_weights((12, 15), 0.8, None, False)
        mine = _alpha_expansion(unary, right, down)
        ref = mrf_smooth(prob, weight=0.8)
        e_mine = potts_energy(mine, prob, 0.8)
        e_ref = potts_energy(ref, prob, 0.8)
        assert e_mine <= potts_energy(prob.argmax(axis=2), prob, 0.8) + 1e-9
        # both are alpha-expansion local minima of the same energy
        assert e_mine == pytest.approx(e_ref, rel=0.05)


# --------------------------------------------------------------------------
# general properties
# --------------------------------------------------------------------------
@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize("contrast", [False, True])
def test_never_worse_than_argmax(rng, n_classes, contrast):
    for weight in (0.1, 1.0, 4.0):
        prob = random_prob(rng, (17, 23), n_classes, concentration=0.6).astype(np.float32)
        image = rng.random((17, 23, 3)).astype(np.float32)
        labels = mrf_smooth(prob, image, weight, contrast)
        e = potts_energy(labels, prob, weight, image, contrast)
        assert e <= potts_energy(prob.argmax(axis=2), prob, weight, image, contrast) + 1e-9


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("contrast", [False, True])
def test_weight_zero_is_argmax(rng, n_classes, contrast):
    prob = random_prob(rng, (9, 11), n_classes).astype(np.float32)
    prob[0, 0] = 0.0  # all-zero pixel: argmax picks the first class
    prob[0, 1, :2] = 0.5  # a tie
    if n_classes > 2:
        prob[0, 1, 2:] = 0.0
    image = rng.random((9, 11))
    np.testing.assert_array_equal(mrf_smooth(prob, image, 0.0, contrast), prob.argmax(axis=2))


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("contrast", [False, True])
def test_large_weight_gives_best_constant(rng, n_classes, contrast):
    prob = random_prob(rng, (6, 7), n_classes)
    image = rng.random((6, 7, 3))
    labels = mrf_smooth(prob, image, 1e5, contrast)
    assert np.unique(labels).size == 1
    best_constant = np.argmin(-np.log(np.clip(prob, 1e-6, 1)).sum(axis=(0, 1)))
    assert labels[0, 0] == best_constant


def test_degenerate_grids(rng):
    for shape in [(1, 1), (1, 6), (6, 1)]:
        for n_classes in (2, 3):
            prob = random_prob(rng, shape, n_classes)
            image = rng.random(shape)
            for contrast in (False, True):
                labels = mrf_smooth(prob, image, 1.0, contrast)
                assert labels.shape == shape
                if shape == (1, 1):
                    assert labels[0, 0] == prob[0, 0].argmax()


def test_smoothing_removes_noise(rng):
    truth = np.zeros((30, 30), dtype=int)
    truth[8:22, 5:25] = 1
    truth[:, 27:] = 2
    prob = np.full((30, 30, 3), 0.2)
    prob[np.arange(30)[:, None], np.arange(30), truth] = 0.6
    flip = rng.random((30, 30)) < 0.2
    prob[flip] = np.roll(prob[flip], 1, axis=1)  # 20% of pixels voted to a wrong class
    prob /= prob.sum(axis=2, keepdims=True)
    raw = np.mean(prob.argmax(axis=2) == truth)
    for contrast in (False, True):
        smoothed = np.mean(mrf_smooth(prob, truth.astype(float), 1.0, contrast) == truth)
        assert smoothed > raw + 0.1


# --------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------
def test_validation_errors(rng):
    prob = random_prob(rng, (4, 5), 3)
    with pytest.raises(ValueError, match="shape"):
        mrf_smooth(prob[:, :, 0])
    with pytest.raises(ValueError, match="at least 2 classes"):
        mrf_smooth(prob[:, :, :1])
    bad = prob.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        mrf_smooth(bad)
    with pytest.raises(ValueError, match="image"):
        mrf_smooth(prob, rng.random((4, 6)))
    with pytest.raises(ValueError, match="needs an image"):
        mrf_smooth(prob, contrast=True)
    for weight in (-1.0, np.inf, np.nan, "1", None):
        with pytest.raises(ValueError, match="weight"):
            mrf_smooth(prob, weight=weight)
    for eps in (0, 1, -1e-3):
        with pytest.raises(ValueError, match="eps"):
            mrf_smooth(prob, eps=eps)
    with pytest.raises(ValueError, match="labels"):
        potts_energy(np.full((4, 5), 3), prob, 1.0)
    with pytest.raises(ValueError, match="labels"):
        potts_energy(np.zeros((4, 4), dtype=int), prob, 1.0)
    with pytest.raises(ValueError, match="labels"):
        potts_energy(np.zeros((4, 5)), prob, 1.0)


def test_segmenter_validation_errors(rng):
    images, _, sparse = noisy_squares(rng, n_images=2, size=16, n_labeled=10)
    with pytest.raises(ValueError, match="weights"):
        MRFSegmenter(PixelLogistic(), weights=[0.0, -1.0]).fit(images, sparse)
    with pytest.raises(ValueError, match="weights"):
        MRFSegmenter(PixelLogistic(), weights=[]).fit(images, sparse)
    with pytest.raises(ValueError, match="cv"):
        MRFSegmenter(PixelLogistic(), cv=1).fit(images, sparse)
    with pytest.raises(ValueError, match="label maps"):
        MRFSegmenter(PixelLogistic()).fit(images, sparse[:1])
    with pytest.raises(ValueError, match="at least 2 classes"):
        MRFSegmenter(PixelLogistic()).fit(images, [np.where(s == 1, -1, s) for s in sparse])
    with pytest.raises(ValueError, match="integers"):
        MRFSegmenter(PixelLogistic()).fit(images, [s + 0.5 for s in sparse])
    with pytest.raises(ValueError, match="shape"):
        MRFSegmenter(PixelLogistic()).fit(images, [s[:-1] for s in sparse])
    with pytest.raises(ValueError, match="no labeled pixel"):
        MRFSegmenter(PixelLogistic(), weights=1.0).fit(images, sparse).score(
            images, [np.full_like(s, -1) for s in sparse]
        )


# --------------------------------------------------------------------------
# MRFSegmenter
# --------------------------------------------------------------------------
def test_folds_partition_labeled_pixels(rng):
    _, _, sparse = noisy_squares(rng, n_images=3, size=20, n_labeled=14)
    folds = _assign_folds(sparse, 3, np.random.RandomState(0))
    sizes = np.zeros(3, dtype=int)
    for lab, fold in zip(sparse, folds):
        np.testing.assert_array_equal(fold >= 0, lab >= 0)
        for k in range(3):
            assert np.any(fold == k)  # every image contributes to every fold
            sizes[k] += np.count_nonzero(fold == k)
            for c in (0, 1):  # and each class of it, up to one pixel
                counts = [np.count_nonzero((fold == j) & (lab == c)) for j in range(3)]
                assert max(counts) - min(counts) <= 1
    assert sizes.max() - sizes.min() <= 1
    again = _assign_folds(sparse, 3, np.random.RandomState(0))
    for a, b in zip(folds, again):
        np.testing.assert_array_equal(a, b)


def test_segmenter_picks_smoothing_and_beats_argmax():
    rng = np.random.default_rng(3)
    images, truth, sparse = noisy_squares(rng)
    seg = MRFSegmenter(PixelLogistic(), cv=3, random_state=0).fit(images, sparse)
    assert seg.weight_ > 0
    assert seg.cv_scores_.shape == (DEFAULT_WEIGHTS.size,)
    assert seg.cv_fold_scores_.shape == (3, DEFAULT_WEIGHTS.size)
    np.testing.assert_array_equal(seg.weights_, DEFAULT_WEIGHTS)
    assert seg.cv_scores_.max() > seg.cv_scores_[0]  # weight 0 = no smoothing
    np.testing.assert_array_equal(seg.classes_, [0, 1])

    test_images, test_truth, test_sparse = noisy_squares(np.random.default_rng(4))
    probs = seg.predict_proba(test_images)
    assert all(p.shape == (40, 40, 2) and p.dtype == np.float32 for p in probs)
    np.testing.assert_allclose(probs[0].sum(axis=2), 1, rtol=1e-5)
    raw = dense_accuracy([seg.classes_[p.argmax(axis=2)] for p in probs], test_truth)
    smoothed = dense_accuracy(seg.predict(test_images), test_truth)
    assert smoothed > raw + 0.1
    assert seg.score(test_images, test_truth) == pytest.approx(smoothed)
    assert 0 <= seg.score(test_images, test_sparse) <= 1


def test_segmenter_only_uses_sparse_labels():
    rng = np.random.default_rng(5)
    images, truth, sparse = noisy_squares(rng, n_images=3, size=30, n_labeled=30)
    PixelLogistic.fit_calls.clear()
    seg = MRFSegmenter(PixelLogistic(), weights=[0.0, 0.5, 2.0], cv=3, random_state=1).fit(images, sparse)
    assert seg.cv_scores_.shape == (3,)
    # every fit only saw (a subset of) the sparse labels, the fold fits without their held-out pixels
    assert len(PixelLogistic.fit_calls) == 4
    for call in PixelLogistic.fit_calls:
        for lab, ref in zip(call, sparse):
            seen = lab >= 0
            assert np.all(ref[seen] == lab[seen])
    held_out = [sum(np.count_nonzero((ref >= 0) & (lab < 0)) for lab, ref in zip(call, sparse))
                for call in PixelLogistic.fit_calls[:3]]
    assert sum(held_out) == sum(np.count_nonzero(s >= 0) for s in sparse)
    for lab, ref in zip(PixelLogistic.fit_calls[3], sparse):  # final fit: all labels
        np.testing.assert_array_equal(lab, ref)
    # changing the ground truth of unlabeled pixels changes nothing
    other_truth = [np.where(s >= 0, s, 1 - t) for s, t in zip(sparse, truth)]
    other_sparse = [np.where(s >= 0, t, -1) for s, t in zip(sparse, other_truth)]
    seg2 = MRFSegmenter(PixelLogistic(), weights=[0.0, 0.5, 2.0], cv=3, random_state=1).fit(images, other_sparse)
    assert seg2.weight_ == seg.weight_
    np.testing.assert_array_equal(seg2.cv_scores_, seg.cv_scores_)


def test_segmenter_ties_go_to_smallest_weight(rng):
    images, _, sparse = noisy_squares(rng, n_images=2, size=20, noise=0.05, n_labeled=12)
    # noise-free data: every weight in the grid classifies the held-out pixels perfectly
    seg = MRFSegmenter(PixelLogistic(C=100.0), weights=[0.3, 0.0, 0.1], random_state=0).fit(images, sparse)
    np.testing.assert_array_equal(seg.weights_, [0.0, 0.1, 0.3])
    np.testing.assert_array_equal(seg.cv_scores_, [1.0, 1.0, 1.0])
    assert seg.weight_ == 0.0


def test_segmenter_warns_when_the_largest_weight_wins():
    rng = np.random.default_rng(3)
    images, _, sparse = noisy_squares(rng)
    # smoothing helps on these noisy squares (test above), so a grid stopping at a tiny
    # weight is won by its top end
    with pytest.warns(UserWarning, match="largest of the grid"):
        seg = MRFSegmenter(PixelLogistic(), weights=[0.0, 0.05], cv=3, random_state=0).fit(images, sparse)
    assert seg.weight_ == 0.05 and seg.cv_scores_[1] > seg.cv_scores_[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an interior optimum: no warning
        seg = MRFSegmenter(PixelLogistic(), weights=[0.0, seg.weight_ * 10, 1e4], cv=3,
                           random_state=0).fit(images, sparse)
    assert seg.weight_ < 1e4


def test_segmenter_single_weight_and_sklearn_api(rng):
    images, truth, sparse = noisy_squares(rng, n_images=2, size=24, n_labeled=20, rgb=True)
    seg = MRFSegmenter(PixelLogistic(C=0.5), weights=1.5, contrast=True, random_state=0)
    params = seg.get_params()
    assert params["weights"] == 1.5 and params["estimator__C"] == 0.5
    cloned = clone(seg)
    assert cloned is not seg and cloned.get_params()["estimator__C"] == 0.5
    assert not hasattr(cloned, "weight_")
    seg.set_params(estimator__C=2.0)
    assert seg.estimator.C == 2.0
    assert seg.fit(images, sparse) is seg
    assert seg.weight_ == 1.5 and seg.cv_scores_ is None
    preds = seg.predict(images)
    assert [p.shape for p in preds] == [(24, 24)] * 2
    for pred, img, prob in zip(preds, images, seg.predict_proba(images)):
        np.testing.assert_array_equal(pred, mrf_smooth(prob, img, 1.5, True))
    # a grid with a default None is cloneable too
    clone(MRFSegmenter(PixelLogistic(), weights=np.r_[0, 1.0]))


@pytest.mark.filterwarnings("ignore:the chosen smoothing weight")
def test_segmenter_maps_arbitrary_class_labels_and_parallel_jobs():
    rng = np.random.default_rng(7)
    images, truth, sparse = noisy_squares(rng, n_images=3, size=24, n_labeled=20)
    relabel = [np.select([s == 0, s == 1], [3, 7], -1) for s in sparse]
    seg = MRFSegmenter(PixelLogistic(), weights=[0.0, 1.0], random_state=0).fit(images, relabel)
    np.testing.assert_array_equal(seg.classes_, [3, 7])
    assert set(np.unique(np.concatenate([p.ravel() for p in seg.predict(images)]))) <= {3, 7}
    ref = MRFSegmenter(PixelLogistic(), weights=[0.0, 1.0], random_state=0).fit(images, sparse)
    np.testing.assert_array_equal(seg.cv_scores_, ref.cv_scores_)
    par = MRFSegmenter(PixelLogistic(), weights=[0.0, 1.0], random_state=0, n_jobs=2).fit(images, sparse)
    np.testing.assert_array_equal(par.cv_scores_, ref.cv_scores_)


def test_segmenter_cv_images_scores_a_subset():
    rng = np.random.default_rng(11)
    images, _, sparse = noisy_squares(rng, n_images=6, size=20, n_labeled=12)
    scored = []

    class Counting(PixelLogistic):
        def predict_proba(self, images):
            scored.append(len(images))
            return super().predict_proba(images)

    seg = MRFSegmenter(Counting(), weights=[0.0, 1.0], cv=3, cv_images=2, random_state=0).fit(images, sparse)
    assert scored == [2, 2, 2]            # each fold smooths and scores 2 of its 6 images
    assert seg.cv_scores_.shape == (2,)
    again = MRFSegmenter(Counting(), weights=[0.0, 1.0], cv=3, cv_images=2, random_state=0).fit(images, sparse)
    np.testing.assert_array_equal(again.cv_fold_scores_, seg.cv_fold_scores_)
    scored.clear()
    MRFSegmenter(Counting(), weights=[0.0, 1.0], cv=3, cv_images=50, random_state=0).fit(images, sparse)
    assert scored == [6, 6, 6]            # more than there are: all of them
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="cv_images"):
            MRFSegmenter(PixelLogistic(), cv_images=bad).fit(images, sparse)


def test_docstring_examples():
    import doctest

    import chm.mrf

    result = doctest.testmod(chm.mrf, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
