"""Stage classifiers: numba kernels against numpy, gradients against finite differences."""
import numpy as np
import pytest

from chm.classifiers import LDNNStage, LogisticStage, make_stage, train_stage
from chm.classifiers._kernels import (ldnn_backward_kernel, ldnn_backward_reference,
                                      ldnn_conjunctions_kernel, ldnn_conjunctions_reference,
                                      ldnn_forward, ldnn_forward_reference)
from chm.classifiers.sgd import penalty_map, penalty_map_grad, supervised_loss
from chm.penalties import TotalVariation


@pytest.mark.parametrize("n_groups,n_disc", [(1, 1), (3, 2), (4, 4)])
def test_ldnn_kernels_match_reference(rng, n_groups, n_disc):
    z = (3 * rng.standard_normal((257, n_groups * n_disc))).astype(np.float32)
    delta = rng.standard_normal(257).astype(np.float32)
    np.testing.assert_allclose(ldnn_forward(z, n_groups, n_disc),
                               ldnn_forward_reference(z, n_groups, n_disc), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ldnn_backward_kernel(z, delta, n_groups, n_disc),
                               ldnn_backward_reference(z, delta, n_groups, n_disc), rtol=1e-4, atol=1e-6)


def test_ldnn_forward_kernel_is_finite_where_exp_overflows():
    """exp(-z) overflows float32 for z < -88: the conjunction is then 0, not NaN."""
    z = np.array([[-200.0, -100.0, 5.0, 3.0], [-1e30, 0.0, 1e30, 1e30], [1e30] * 4], np.float32)
    got = ldnn_forward(z, 2, 2)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, ldnn_forward_reference(z, 2, 2), atol=1e-6)
    np.testing.assert_allclose(got, [1 / (1 + np.exp(-5.0)) / (1 + np.exp(-3.0)), 1.0, 1.0], atol=1e-6)


@pytest.mark.parametrize("n_groups,n_disc", [(1, 1), (3, 2), (4, 4)])
def test_ldnn_conjunctions_kernel_matches_reference(rng, n_groups, n_disc):
    e = np.exp(-3 * rng.standard_normal((50, n_groups * n_disc))).astype(np.float32)
    e[0, 0] = np.inf  # an overflowed exp(-z): that group's conjunction is 0
    np.testing.assert_allclose(ldnn_conjunctions_kernel(e, n_groups, n_disc),
                               ldnn_conjunctions_reference(e, n_groups, n_disc), rtol=1e-5, atol=1e-6)


def test_ldnn_output_is_disjunction_of_conjunctions():
    big = 30.0
    # group 0 all on, group 1 all off -> f = 1; all groups off -> f = 0
    z_on = np.array([[big, big, -big, -big]], np.float32)
    z_off = np.array([[-big, big, big, -big]], np.float32)
    assert ldnn_forward(z_on, 2, 2)[0] == pytest.approx(1.0, abs=1e-6)
    assert ldnn_forward(z_off, 2, 2)[0] == pytest.approx(0.0, abs=1e-6)


def test_multiclass_ldnn_is_uniform_where_every_class_output_vanishes():
    """All per-class outputs 0 (every conjunction off): no 0/0, the classes tie."""
    stage = LDNNStage(3, n_groups=2, n_disc=2)
    width = 2 * 2
    stage.params_ = [np.zeros((1, 3 * width), np.float32),
                     np.full(3 * width, -60.0, np.float32)]  # every sigmoid ~ 1e-26
    X = np.zeros((5, 1), np.float32)
    P, _ = stage.forward(X)
    assert np.all(np.isfinite(P))
    np.testing.assert_allclose(P, 1.0 / 3.0, rtol=1e-5)
    # normal outputs are still normalised class outputs
    stage.params_[1][:] = 0.0
    stage.params_[1][:width] = 60.0  # class 0: every sigmoid ~ 1
    P, (_, f) = stage.forward(X)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(P, f / f.sum(axis=1, keepdims=True), atol=1e-6)


def _numeric_grad(fn, params, eps=1e-3):
    out = []
    for p in params:
        g = np.zeros_like(p, dtype=np.float64)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            up = fn()
            p[idx] = old - eps
            down = fn()
            p[idx] = old
            g[idx] = (up - down) / (2 * eps)
        out.append(g)
    return out


def _tv64(fmap):
    """Total variation in float64, straight from the definition (eq. 8)."""
    from scipy.ndimage import correlate
    from chm.penalties import SOBEL_X, SOBEL_Y
    f = fmap if fmap.ndim == 3 else fmap[..., None]
    total = 0.0
    for k in range(f.shape[2]):
        for kern in (SOBEL_X, SOBEL_Y):
            total += np.abs(correlate(f[..., k], kern.astype(np.float64))[1:-1, 1:-1]).sum()
    return total


def _tiny_problem(rng, n_classes, h=6, w=7, d=3):
    X = rng.standard_normal((h * w, d)).astype(np.float32)
    y = rng.integers(0, n_classes, h * w)
    return X, y, (h, w)


@pytest.mark.parametrize("stage_kind", ["logistic", "ldnn"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("loss", ["cross_entropy", "squared"])
def test_loss_gradients_match_finite_differences(rng, stage_kind, n_classes, loss):
    """Gradient of E_S + alpha * TV(map) through the classifier (float64 check)."""
    X, y, shape = _tiny_problem(rng, n_classes)
    clf = make_stage(stage_kind, n_classes, n_groups=2, n_disc=2)
    clf.init_params(X, y, np.random.RandomState(0))
    clf.params_ = [p.astype(np.float64) + 0.1 * rng.standard_normal(p.shape) for p in clf.params_]
    X = X.astype(np.float64)
    labeled = rng.random(len(y)) < 0.4
    tv = TotalVariation()
    alpha = 0.7

    def energy_and_grad():
        P, cache = clf.forward(X)
        es, dP = supervised_loss(P[labeled], y[labeled], loss)
        full = np.zeros_like(P)
        full[labeled] = dP
        fmap = penalty_map(P, shape)
        eu = _tv64(fmap)
        full = full + alpha * penalty_map_grad(tv.gradient(fmap), n_classes)
        return es + alpha * eu, clf.backward(X, cache, full)

    _, analytic = energy_and_grad()
    numeric = _numeric_grad(lambda: energy_and_grad()[0], clf.params_, eps=1e-5)
    for a, n in zip(analytic, numeric):
        # TV is piecewise linear: compare where the map's Sobel signs don't flip (tiny eps)
        np.testing.assert_allclose(a, n, rtol=2e-3, atol=2e-4)
