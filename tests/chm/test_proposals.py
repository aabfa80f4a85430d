"""Training with the Potts penalty by graph-cut proposals: the proposals and the segmenter."""
import numpy as np
import pytest
from scipy import ndimage as ndi

import chm
from chm.datasets import sample_sparse_labels
from chm.mrf import mrf_smooth
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
