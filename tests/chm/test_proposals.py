"""Training with the Potts penalty by graph-cut proposals: the proposals and the segmenter."""
import numpy as np
import pytest
from scipy import ndimage as ndi
from sklearn.base import BaseEstimator

import chm
from chm.datasets import sample_sparse_labels
from chm.mrf import mrf_smooth
from chm.mrf_segmenter import MRFSegmenter
from chm.proposals import ProposalSegmenter, potts_proposals


def _noisy_halves(seed=0, shape=(24, 30)):
    """Two-class map: class 1 on the left half, with speckle of the wrong class."""
    rng = np.random.RandomState(seed)
    truth = np.zeros(shape, dtype=int)
    truth[:, : shape[1] // 2] = 1
    p1 = np.where(truth == 1, 0.8, 0.2) + rng.uniform(-0.35, 0.35, shape)
    p1 = np.clip(p1, 0.01, 0.99)
    return truth, np.stack([1 - p1, p1], axis=-1).astype(np.float32)


def test_proposals_are_the_cut_of_the_clamped_map_away_from_its_boundaries():
    truth, prob = _noisy_halves()
    labels = np.full(truth.shape, -1)
    labels[3, 2], labels[20, 25] = 8, 4          # class values 4 (index 0) and 8 (index 1)
    labels[10, 10] = 4                           # against the map (class 1 side): kept anyway
    classes = np.array([4, 8])
    out, cuts = potts_proposals([prob], [labels], classes, 1.0, 60, 2, np.random.RandomState(0))
    out, cut = out[0], cuts[0]
    # the cut is mrf_smooth of the map with the labeled pixels made certain
    clamped = prob.copy()
    for (r, c), k in (((3, 2), 1), ((20, 25), 0), ((10, 10), 0)):
        clamped[r, c] = np.eye(2)[k]
    np.testing.assert_array_equal(cut, classes[mrf_smooth(clamped, None, 1.0)])
    assert cut[10, 10] == 4                      # the clamp holds against its neighbours
    # the smoothing removed the speckle: the cut is nearer the truth than the argmax
    assert np.mean(cut != classes[truth]) < np.mean(prob.argmax(-1) != truth)
    # true labels kept, input unchanged, 60 new pixels with the cut's labels
    assert out[3, 2] == 8 and out[20, 25] == 4 and out[10, 10] == 4
    assert np.count_nonzero(labels >= 0) == 3
    new = (out >= 0) & (labels < 0)
    assert np.count_nonzero(new) == 60
    np.testing.assert_array_equal(out[new], cut[new])
    # none within 2 px (chessboard) of a boundary of the cut
    boundary = ndi.grey_dilation(cut, size=3) != ndi.grey_erosion(cut, size=3)
    assert boundary.any()
    assert not np.any(new & ndi.binary_dilation(boundary, iterations=1))
    again, _ = potts_proposals([prob], [labels], classes, 1.0, 60, 2, np.random.RandomState(0))
    np.testing.assert_array_equal(out, again[0])


def test_proposals_take_every_candidate_when_too_few_and_band_zero_allows_all():
    truth, prob = _noisy_halves(1, shape=(6, 8))
    labels = np.full(truth.shape, -1)
    labels[0, 0] = 1
    out, cut = potts_proposals([prob], [labels], np.array([0, 1]), 0.0, 1000, 0,
                               np.random.RandomState(0))
    assert np.all(out[0] >= 0)                   # every pixel, none excluded
    expect = prob.argmax(-1)                     # weight 0: the argmax, clamp aside
    expect[0, 0] = 1
    np.testing.assert_array_equal(out[0], expect)
    np.testing.assert_array_equal(cut[0], expect)


def test_proposal_segmenter_chooses_the_weight_and_refits_on_more_labels(data):
    images, masks, _ = data
    labels = sample_sparse_labels(masks, 5, random_state=1)
    base = chm.CHM(n_levels=2, epochs=3, context_cv=2, tv_weight=0, random_state=0)
    model = ProposalSegmenter(base, rounds=2, n_per_image=30, band=1, weights=(0.0, 0.3, 3.0, 1e3),
                              cv=2, random_state=0).fit(images, labels)
    assert model.weight_ in (0.0, 0.3, 3.0)  # 1e3 would flatten every map
    np.testing.assert_array_equal(model.weights_, [0.0, 0.3, 3.0, 1e3])
    assert model.cv_scores_.shape == (4,)
    assert model.n_proposals_ == [30 * len(images)] * 2
    assert model.estimator_ is not base and not hasattr(base, "classes_")
    plain = chm.CHM(n_levels=2, epochs=3, context_cv=2, tv_weight=0, random_state=0)
    plain.fit(images, labels)
    diff = max(np.abs(a - b).max() for a, b in zip(model.predict_proba(images),
                                                   plain.predict_proba(images)))
    assert diff > 1e-3
    np.testing.assert_array_equal(model.classes_, [0, 1])
    probs = model.predict_proba(images)
    for p, lab in zip(probs, model.predict(images)):
        np.testing.assert_array_equal(lab, p.argmax(-1))
    model.set_params(smooth=True)
    for p, lab in zip(probs, model.predict(images)):
        np.testing.assert_array_equal(lab, mrf_smooth(p, None, model.weight_))


@pytest.mark.parametrize("param, value", [("rounds", 0), ("n_per_image", 0), ("band", -1),
                                          ("weights", -1.0), ("cv", 1), ("estimator", object())])
def test_proposal_segmenter_rejects_bad_parameters(data, param, value):
    images, _, labels = data
    model = ProposalSegmenter(**{"estimator": chm.CHM(n_levels=2, epochs=1), param: value})
    with pytest.raises(ValueError, match=param):
        model.fit(images, labels)


class _FixedMaps(BaseEstimator):
    """Predicts each image's own values as the probability of class 1, whatever it was fitted on."""

    def fit(self, images, labels):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, images):
        return [np.stack([1 - im, im], axis=-1).astype(np.float32) for im in images]


def _speckle_and_a_thin_line(seed=0):
    """p(class 1): 0.3 on the background with 20 % wrong speckle at 0.6, a 1 px line of class
    1 at 0.6; 200 background pixels and 12 line pixels labeled."""
    rng = np.random.RandomState(seed)
    image = np.full((40, 40), 0.3)
    image[rng.rand(40, 40) < 0.2] = 0.6
    image[:, 20] = 0.6
    truth = np.zeros((40, 40), dtype=int)
    truth[:, 20] = 1
    labels = np.full((40, 40), -1)
    bg = np.flatnonzero(truth.ravel() == 0)
    labels.ravel()[rng.choice(bg, 200, replace=False)] = 0
    labels[rng.choice(40, 12, replace=False), 20] = 1
    return image.astype(np.float32), labels


def test_balanced_scoring_keeps_a_thin_class_that_plain_accuracy_smooths_away():
    image, labels = _speckle_and_a_thin_line()
    # weight 1 flips every isolated speckle pixel (4 edges) and the line (2 edges per pixel)
    assert not np.any(mrf_smooth(np.stack([1 - image, image], -1), None, 1.0))
    grid = (0.0, 1.0, 1e3)
    plain = MRFSegmenter(_FixedMaps(), weights=grid, cv=2, random_state=0).fit([image], [labels])
    balanced = MRFSegmenter(_FixedMaps(), weights=grid, cv=2, scoring="balanced",
                            random_state=0).fit([image], [labels])
    assert plain.weight_ == 1.0 and balanced.weight_ == 0.0
    # balanced: the mean of the recalls (about 0.8 background, 1 line, against 1 and 0)
    assert balanced.cv_scores_[0] > 0.85 and abs(balanced.cv_scores_[1] - 0.5) < 1e-9
    assert plain.cv_scores_[1] > plain.cv_scores_[0]


def test_proposals_stop_at_weight_zero_and_run_above_it():
    image, labels = _speckle_and_a_thin_line()
    grid = (0.0, 1.0, 1e3)
    kept = ProposalSegmenter(_FixedMaps(), weights=grid, cv=2, random_state=0).fit([image], [labels])
    assert kept.weight_ == 0.0 and kept.n_proposals_ == []
    smoothed = ProposalSegmenter(_FixedMaps(), weights=grid, cv=2, scoring="accuracy",
                                 random_state=0).fit([image], [labels])
    assert smoothed.weight_ == 1.0 and smoothed.n_proposals_ == [100]


def test_a_class_too_rare_to_hold_out_gives_the_plain_fit_with_a_warning():
    image, labels = _speckle_and_a_thin_line()
    labels[labels == 1] = -1
    labels[5, 20] = 1  # one labeled pixel of the line: some fold would train on the background alone
    with pytest.raises(ValueError, match="lacks labels of class 1"):
        MRFSegmenter(_FixedMaps(), weights=(0.0, 1.0), cv=2, random_state=0).fit([image], [labels])
    with pytest.warns(UserWarning, match="too few labeled pixels to choose the Potts weight"):
        model = ProposalSegmenter(_FixedMaps(), weights=(0.0, 1.0), cv=2, random_state=0).fit(
            [image], [labels])
    assert model.weight_ == 0.0 and model.n_proposals_ == [] and model.cv_scores_ is None
    np.testing.assert_array_equal(model.predict([image])[0], (image > 0.5).astype(int))


def test_folds_can_train_agrees_with_the_search_and_keeps_the_stream():
    from chm.mrf_segmenter import folds_can_train

    image, labels = _speckle_and_a_thin_line()
    two = labels.copy()
    two[two == 1] = -1
    two[[3, 30], 20] = 1
    for lab, expected in ((labels, True), (two, True)):
        rng = np.random.RandomState(0)
        assert folds_can_train([lab], 2, rng) is expected
        assert rng.randint(1 << 30) == np.random.RandomState(0).randint(1 << 30)
        MRFSegmenter(_FixedMaps(), weights=(0.0, 1.0), cv=2, random_state=0).fit([image], [lab])
    one = two.copy()
    one[30, 20] = -1
    assert not folds_can_train([one], 2, np.random.RandomState(0))
    assert not folds_can_train([np.where(labels == 0, -1, labels)[:1, :1]], 2, np.random.RandomState(0))
