"""Self-training: pseudo-labels drawn from confident predictions, and the refitted segmenter."""
import numpy as np
import pytest

import chm
from chm.self_training import SelfTrainingSegmenter, pseudo_labels


def _proba(best, confidence):
    """Two-class maps predicting class ``best`` with probability ``confidence`` per pixel."""
    p1 = np.where(best == 1, confidence, 1 - confidence)
    return np.stack([1 - p1, p1], axis=-1).astype(np.float32)


def test_pseudo_labels_keep_the_labels_and_draw_confident_pixels_in_the_predicted_shares():
    best = np.zeros((20, 30), dtype=int)
    best[:, :10] = 1  # a third of the image predicted as class 1
    confidence = np.full(best.shape, 0.95)
    confidence[:, 25:] = 0.6  # not confident
    labels = np.full(best.shape, -1)
    labels[0, 0], labels[10, 20] = 7, 3
    out = pseudo_labels([_proba(best, confidence)], [labels], np.array([3, 7]), 30, 0.9,
                        np.random.RandomState(0))[0]
    assert labels[5, 5] == -1 and (labels >= 0).sum() == 2  # the input is not modified
    assert out[0, 0] == 7 and out[10, 20] == 3  # true labels are kept, even where predicted otherwise
    new = (out >= 0) & (labels < 0)
    assert np.count_nonzero(new & (best == 1)) == 10  # round(30 * 1/3)
    assert np.count_nonzero(new & (best == 0)) == 20
    assert np.all(out[new & (best == 1)] == 7) and np.all(out[new & (best == 0)] == 3)
    assert not np.any(new[:, 25:])  # never below the threshold
    again = pseudo_labels([_proba(best, confidence)], [labels], np.array([3, 7]), 30, 0.9,
                          np.random.RandomState(0))[0]
    np.testing.assert_array_equal(out, again)


def test_pseudo_labels_take_every_candidate_when_there_are_too_few():
    best = np.zeros((10, 10), dtype=int)
    confidence = np.full(best.shape, 0.5)
    confidence[2, 3] = confidence[4, 5] = 0.99
    out = pseudo_labels([_proba(best, confidence)], [np.full(best.shape, -1)], np.array([0, 1]),
                        50, 0.9, np.random.RandomState(0))[0]
    assert sorted(zip(*np.nonzero(out >= 0))) == [(2, 3), (4, 5)]
    assert np.all(out[out >= 0] == 0)


def test_self_training_refits_on_true_and_pseudo_labels(data):
    images, masks, _ = data
    from chm.datasets import sample_sparse_labels

    labels = sample_sparse_labels(masks, 5, random_state=1)
    base = chm.CHM(n_levels=2, epochs=3, context_cv=2, random_state=0)
    model = SelfTrainingSegmenter(base, n_per_image=30, threshold=0.8, max_iter=2,
                                  random_state=0).fit(images, labels)
    assert len(model.n_pseudo_labels_) == 2
    assert all(0 < n <= 30 * len(images) + len(images) for n in model.n_pseudo_labels_)
    # the final model is a clone trained on more labels than the base fit
    assert model.estimator_ is not base and not hasattr(base, "classes_")
    plain = chm.CHM(n_levels=2, epochs=3, context_cv=2, random_state=0).fit(images, labels)
    diff = max(np.abs(a - b).max() for a, b in zip(model.predict_proba(images),
                                                   plain.predict_proba(images)))
    assert diff > 1e-3
    np.testing.assert_array_equal(model.classes_, [0, 1])
    assert all(p.shape == m.shape for p, m in zip(model.predict(images), masks))
    # the final CHM's receptive field and tiled prediction reach through the wrapper
    assert model.receptive_field_ == model.estimator_.receptive_field_
    tiled = model.predict_proba(images[:1], tile_size=16)[0]
    np.testing.assert_allclose(tiled, model.estimator_.predict_proba(images[:1], tile_size=16)[0])


@pytest.mark.parametrize("param, value", [("n_per_image", 0), ("threshold", 1.5),
                                          ("max_iter", 0), ("estimator", object())])
def test_self_training_rejects_bad_parameters(data, param, value):
    images, _, labels = data
    model = SelfTrainingSegmenter(**{"estimator": chm.CHM(n_levels=2, epochs=1), param: value})
    with pytest.raises(ValueError, match=param):
        model.fit(images, labels)
