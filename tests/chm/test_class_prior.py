"""Class shares estimated from all pixels, and posteriors moved to them (chm.class_prior)."""
import numpy as np
import pytest

from chm import class_prior
from chm.datasets import sample_sparse_labels
from chm.synthetic import make_shapes
from tests.chm.test_estimator import SHAPE, small


def test_label_prior_counts_labeled_pixels_and_balanced_is_uniform():
    labels = [np.array([[0, 0, -1], [1, -1, 0]]), np.array([[2, -1, 0]])]
    np.testing.assert_allclose(class_prior.label_prior(labels, 4), [4 / 6, 1 / 6, 1 / 6, 0])
    np.testing.assert_allclose(class_prior.label_prior(labels, 4, "balanced"), [1 / 3] * 3 + [0])


def test_adjust_is_bayes_rule_and_the_identity_for_equal_priors():
    rng = np.random.RandomState(0)
    p = rng.dirichlet([1, 1, 1], size=(4, 5)).astype(np.float32)
    src, dst = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.2, 0.6])
    out = class_prior.adjust(p, src, dst)
    ref = p * (dst / src)
    ref /= ref.sum(-1, keepdims=True)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref, rtol=1e-5)
    np.testing.assert_allclose(class_prior.adjust(p, src, src), p, rtol=1e-6)
    # back and forth is the identity
    np.testing.assert_allclose(class_prior.adjust(out, dst, src), p, rtol=1e-4, atol=1e-6)


def test_em_recovers_the_shares_of_a_shifted_population():
    # two 1-D Gaussians; the exact posterior under balanced training shares,
    # applied to a population with 20 % of class 1: EM finds the 20 %
    rng = np.random.RandomState(0)
    n1 = 4000
    x = np.concatenate([rng.normal(-1, 1, 4 * n1), rng.normal(1, 1, n1)])
    like = np.stack([np.exp(-(x + 1) ** 2 / 2), np.exp(-(x - 1) ** 2 / 2)], axis=-1)
    post = like / like.sum(-1, keepdims=True)  # training shares 0.5 / 0.5
    pi = class_prior.estimate_prior([post.reshape(100, 200, 2)], [0.5, 0.5])
    assert pi[1] == pytest.approx(0.2, abs=0.02)
    # and the adjusted posteriors classify better than the balanced ones
    truth = np.r_[np.zeros(4 * n1), np.ones(n1)]
    before = np.mean(post.argmax(-1) != truth)
    after = np.mean(class_prior.adjust(post, [0.5, 0.5], pi).argmax(-1) != truth)
    assert after < before - 0.03
    np.testing.assert_allclose(class_prior.estimate_prior([], [0.3, 0.7]), [0.3, 0.7])


def _stroke_like(masks, per_class=20, seed=0):
    """Equal numbers of labeled pixels per class (the class shares of strokes)."""
    rng = np.random.RandomState(seed)
    out = []
    for m in masks:
        lab = np.full(m.shape, -1)
        for c in (0, 1):
            idx = rng.choice(np.flatnonzero(m.ravel() == c), per_class, replace=False)
            lab.reshape(-1)[idx] = c
        out.append(lab)
    return out


def test_chm_moves_its_predictions_to_the_estimated_shares():
    images, masks = make_shapes(6, SHAPE, noise=0.6, random_state=3)
    labels = _stroke_like(masks)
    est = small(epochs=5).fit(images, labels)
    kept = small(epochs=5, class_prior="labels").fit(images, labels)
    np.testing.assert_allclose(est.label_prior_, [0.5, 0.5])
    np.testing.assert_allclose(kept.class_prior_, kept.label_prior_)
    truth = np.mean(np.concatenate([m.ravel() for m in masks]))
    assert truth < 0.4
    assert abs(est.class_prior_[1] - truth) < abs(0.5 - truth)  # towards the pixels' share
    # the same classifiers; only the output moves, by Bayes' rule
    p_est, p_kept = est.predict_proba(images), kept.predict_proba(images)
    for a, b in zip(p_est, p_kept):
        np.testing.assert_allclose(a, class_prior.adjust(b, kept.label_prior_, est.class_prior_),
                                   rtol=1e-4, atol=1e-6)
    share = lambda preds: np.mean(np.concatenate([p.ravel() for p in preds]))  # noqa: E731
    assert abs(share(est.predict(images)) - truth) < abs(share(kept.predict(images)) - truth)


def test_random_clicks_are_left_nearly_as_they_were():
    images, masks = make_shapes(6, SHAPE, random_state=1)
    labels = sample_sparse_labels(masks, 40, random_state=0)
    model = small().fit(images, labels)
    assert np.abs(model.class_prior_ - model.label_prior_).max() < 0.08
