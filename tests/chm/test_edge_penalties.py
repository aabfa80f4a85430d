"""Tests of the image-guided total-variation penalties (chm._edge_penalties,
chm._edge_kernels)."""
import doctest

import numpy as np
import pytest
from scipy import ndimage as ndi
from sklearn.metrics import roc_auc_score

import chm._edge_penalties
from chm._edge_kernels import _curvilinear_tv_reference, _edge_tv_reference
from chm._edge_penalties import (
    CurvilinearTV,
    EdgeAwareTV,
    _gaussian,
    curvilinear_guide,
    edge_weights,
)
from chm._tv_reference import SOBEL_X, SOBEL_Y
from chm.penalties import Penalty, tv_subgradient, tv_value
from chm.synthetic import make_thin_structures


def test_doctests():
    result = doctest.testmod(chm._edge_penalties)
    assert result.attempted > 0 and result.failed == 0


# ---------------------------------------------------------------------------
# brute-force references: explicit loops over pixels and the 3x3 stencil
# ---------------------------------------------------------------------------
def _loop_penalty(prob, theta):
    """Value and subgradient of ``sum_k Theta(k, gx, gy)`` with explicit loops.

    ``theta(i, j, gx, gy)`` returns ``(Theta, dTheta/dgx, dTheta/dgy)`` of
    the valid centre (i, j).  float64 throughout.
    """
    f = np.asarray(prob, np.float64)
    planes = f[..., None] if f.ndim == 2 else f
    H, W, C = planes.shape
    grad = np.zeros_like(planes)
    value = 0.0
    for ch in range(C):
        for i in range(1, H - 1):
            for j in range(1, W - 1):
                gx = gy = 0.0
                for a in range(3):
                    for b in range(3):
                        gx += SOBEL_X[a, b] * planes[i - 1 + a, j - 1 + b, ch]
                        gy += SOBEL_Y[a, b] * planes[i - 1 + a, j - 1 + b, ch]
                t, dx, dy = theta(i, j, gx, gy)
                value += t
                for a in range(3):
                    for b in range(3):
                        grad[i - 1 + a, j - 1 + b, ch] += dx * SOBEL_X[a, b] + dy * SOBEL_Y[a, b]
    return value, grad.reshape(f.shape)


def _loop_edge(prob, guide):
    w = np.asarray(guide, np.float64)[..., 0]

    def theta(i, j, gx, gy):
        return (w[i, j] * (abs(gx) + abs(gy)), w[i, j] * np.sign(gx), w[i, j] * np.sign(gy))

    return _loop_penalty(prob, theta)


def _loop_curvilinear(prob, guide):
    g = np.asarray(guide, np.float64)

    def theta(i, j, gx, gy):
        tr, tc, c = g[i, j]
        along = tr * gx + tc * gy
        s = np.sign(along)
        value = c * abs(along) + (1 - c) * (abs(gx) + abs(gy))
        return value, c * s * tr + (1 - c) * np.sign(gx), c * s * tc + (1 - c) * np.sign(gy)

    return _loop_penalty(prob, theta)


def _random_edge_guide(rng, h, w):
    return rng.uniform(0.0, 1.0, (h, w, 1)).astype(np.float32)


def _random_curvilinear_guide(rng, h, w):
    angle = rng.uniform(0, np.pi, (h, w))
    c = rng.uniform(0.0, 1.0, (h, w))
    return np.stack([np.cos(angle), np.sin(angle), c], -1).astype(np.float32)


CASES = [
    (EdgeAwareTV(), _random_edge_guide, _loop_edge),
    (CurvilinearTV(), _random_curvilinear_guide, _loop_curvilinear),
]
IDS = ["edge", "curvilinear"]


def _line_image(shape=(32, 40), rows=slice(15, 17), cols=slice(None), level=0.75, line=0.25,
                blur=0.7):
    image = np.full(shape, level, np.float32)
    image[rows, cols] = line
    return ndi.gaussian_filter(image, blur).astype(np.float32)


# ---------------------------------------------------------------------------
# value and subgradient against the loops
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("penalty, make_guide, loop", CASES, ids=IDS)
@pytest.mark.parametrize("shape", [(5, 6), (7, 5, 2), (3, 3), (4, 9, 3)])
def test_matches_loop_reference(penalty, make_guide, loop, shape):
    rng = np.random.default_rng(sum(shape))
    prob = rng.random(shape, dtype=np.float32)
    guide = make_guide(rng, *shape[:2])
    value, grad = penalty.value_and_gradient(prob, guide)
    ref_value, ref_grad = loop(prob, guide)
    assert value == pytest.approx(ref_value, rel=1e-5)
    assert penalty.value(prob, guide) == pytest.approx(value, rel=1e-12)
    assert grad.dtype == np.float32 and grad.shape == prob.shape
    np.testing.assert_allclose(grad, ref_grad, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(penalty.gradient(prob, guide), grad)


@pytest.mark.parametrize("penalty, make_guide, reference", [
    (EdgeAwareTV(), _random_edge_guide, _edge_tv_reference),
    (CurvilinearTV(), _random_curvilinear_guide, _curvilinear_tv_reference),
], ids=IDS)
@pytest.mark.parametrize("shape", [(3, 3), (64, 64), (37, 52, 3), (5, 70)])
@pytest.mark.parametrize("binary", [False, True])
def test_kernel_matches_numpy_reference(penalty, make_guide, reference, shape, binary):
    """The numba kernels against the plain numpy references; binary maps have
    many Sobel responses exactly 0, where sign(0) = 0 must agree."""
    rng = np.random.default_rng(shape[0])
    prob = rng.random(shape, dtype=np.float32)
    if binary:
        prob = (prob > 0.5).astype(np.float32)
    guide = make_guide(rng, *shape[:2])
    value, grad = penalty.value_and_gradient(prob, guide)
    ref_value, ref_grad = reference(prob, guide)
    assert value == pytest.approx(ref_value, rel=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-6, atol=1e-6)  # float32 sums, other order
    # a cropped (non-contiguous) guide and map give the same as their copies
    big = make_guide(rng, shape[0] + 4, shape[1] + 6)
    window = (slice(2, 2 + shape[0]), slice(3, 3 + shape[1]))
    padded = np.zeros((shape[0] + 4, shape[1] + 6) + shape[2:], np.float32)
    padded[window] = prob
    v1, g1 = penalty.value_and_gradient(padded[window], big[window])
    v2, g2 = penalty.value_and_gradient(prob, np.ascontiguousarray(big[window]))
    assert v1 == v2
    np.testing.assert_array_equal(g1, g2)


@pytest.mark.parametrize("penalty, make_guide, loop", CASES, ids=IDS)
@pytest.mark.parametrize("shape", [(1, 5), (2, 2), (2, 7, 3), (6, 2)])
def test_maps_smaller_than_the_stencil(penalty, make_guide, loop, shape):
    rng = np.random.default_rng(0)
    prob = rng.random(shape, dtype=np.float32)
    value, grad = penalty.value_and_gradient(prob, make_guide(rng, *shape[:2]))
    assert value == 0.0
    assert grad.shape == prob.shape and not grad.any()


@pytest.mark.parametrize("penalty, make_guide, loop", CASES, ids=IDS)
def test_constant_map_has_zero_penalty_and_subgradient(penalty, make_guide, loop):
    guide = make_guide(np.random.default_rng(1), 9, 8)
    value, grad = penalty.value_and_gradient(np.full((9, 8), 0.3, np.float32), guide)
    assert value == 0.0 and not grad.any()


# ---------------------------------------------------------------------------
# finite differences of the value against the subgradient
# ---------------------------------------------------------------------------
def _kink_distance(prob, guide, curvilinear):
    """Per centre, the smallest |argument of an absolute value| in Theta_k."""
    f = np.asarray(prob, np.float64)
    planes = f[..., None] if f.ndim == 2 else f
    gx = ndi.correlate(planes, SOBEL_X[..., None].astype(np.float64))[1:-1, 1:-1]
    gy = ndi.correlate(planes, SOBEL_Y[..., None].astype(np.float64))[1:-1, 1:-1]
    d = np.minimum(np.abs(gx), np.abs(gy))
    if curvilinear:
        g = np.asarray(guide, np.float64)[1:-1, 1:-1]
        d = np.minimum(d, np.abs(g[..., 0:1] * gx + g[..., 1:2] * gy))
    return d


@pytest.mark.parametrize("penalty, make_guide, loop", CASES, ids=IDS)
@pytest.mark.parametrize("shape", [(12, 11), (9, 10, 2)])
def test_gradient_matches_finite_differences(penalty, make_guide, loop, shape):
    """Central differences with step h at every pixel whose stencils stay on one
    linear piece of the penalty: perturbing one pixel by h moves a Sobel
    response by at most 2 h and t . g by at most 2 sqrt(2) h."""
    rng = np.random.default_rng(7)
    prob = rng.uniform(0.1, 0.9, shape).astype(np.float32)
    guide = make_guide(rng, *shape[:2])
    h = np.float32(2e-3)
    kink = _kink_distance(prob, guide, isinstance(penalty, CurvilinearTV))
    # the centres whose stencil holds pixel p are p's 3x3 neighbourhood (in the valid grid)
    near = ndi.minimum_filter(np.pad(kink, ((1, 1), (1, 1), (0, 0)), constant_values=np.inf),
                              size=(3, 3, 1), mode="constant", cval=np.inf)
    safe = (near > 4 * h).reshape(prob.shape)
    assert safe.mean() > 0.7  # the check covers most pixels
    grad = penalty.gradient(prob, guide)
    checked = 0
    for idx in zip(*np.nonzero(safe)):
        up, down = prob.copy(), prob.copy()
        up[idx] += h
        down[idx] -= h
        fd = (penalty.value(up, guide) - penalty.value(down, guide)) / (2 * float(h))
        assert fd == pytest.approx(float(grad[idx]), abs=2e-3), idx
        checked += 1
    assert checked == safe.sum()


# ---------------------------------------------------------------------------
# EdgeAwareTV
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(13, 17), (10, 12, 3)])
def test_edge_aware_with_unit_weights_is_the_total_variation(shape):
    prob = np.random.default_rng(3).random(shape, dtype=np.float32)
    ones = np.ones(shape[:2] + (1,), np.float32)
    value, grad = EdgeAwareTV().value_and_gradient(prob, ones)
    assert value == pytest.approx(tv_value(prob), rel=1e-6)
    np.testing.assert_array_equal(grad, tv_subgradient(prob))


@pytest.mark.parametrize("beta", [None, 0.01])
def test_edge_weights_of_a_constant_image_are_one(beta):
    w = edge_weights(np.full((9, 11), 0.4, np.float32), beta=beta)
    assert w.shape == (9, 11, 1) and w.dtype == np.float32
    np.testing.assert_array_equal(w, 1.0)


def test_edge_weights_follow_the_gaussian_gradient():
    rng = np.random.default_rng(0)
    image = ndi.gaussian_filter(rng.random((20, 24)), 2).astype(np.float32)
    beta, sigma = 0.003, 1.2
    expected = np.exp(-(ndi.gaussian_filter(image.astype(np.float64), sigma, order=(1, 0)) ** 2
                        + ndi.gaussian_filter(image.astype(np.float64), sigma, order=(0, 1)) ** 2)
                      / (2 * beta))
    np.testing.assert_allclose(edge_weights(image, beta, sigma)[..., 0], expected,
                               rtol=1e-5, atol=1e-6)


def test_edge_weights_adaptive_beta_is_the_mean_squared_gradient():
    image = _line_image()
    gr = ndi.gaussian_filter(image.astype(np.float64), 1.0, order=(1, 0))
    gc = ndi.gaussian_filter(image.astype(np.float64), 1.0, order=(0, 1))
    beta = float(np.mean(gr ** 2 + gc ** 2))
    np.testing.assert_allclose(edge_weights(image), edge_weights(image, beta=beta), atol=1e-6)
    # the adaptive weights do not change with the image's contrast, fixed ones do
    np.testing.assert_allclose(edge_weights(0.5 * image), edge_weights(image), atol=1e-5)
    assert not np.allclose(edge_weights(0.5 * image, beta=beta), edge_weights(image, beta=beta),
                           atol=1e-2)


def test_edge_weights_of_rgb_sum_the_channels():
    gray = _line_image()
    one_channel = np.zeros(gray.shape + (3,), np.float32)
    one_channel[..., 1] = gray
    np.testing.assert_allclose(edge_weights(one_channel, beta=0.01), edge_weights(gray, beta=0.01),
                               atol=1e-6)
    three_equal = np.repeat(gray[..., None], 3, axis=2)
    np.testing.assert_allclose(edge_weights(three_equal, beta=0.01),
                               edge_weights(gray, beta=0.01) ** 3, atol=1e-5)


def test_edge_aware_lets_the_map_jump_at_image_edges_only():
    image = np.full((24, 24), 0.2, np.float32)
    image[:, 12:] = 0.8
    image = ndi.gaussian_filter(image, 0.7)
    penalty = EdgeAwareTV()
    guide = penalty.guide(image)
    on_edge = np.zeros((24, 24), np.float32)
    on_edge[:, 12:] = 1
    off_edge = np.zeros((24, 24), np.float32)
    off_edge[:, 6:] = 1
    assert tv_value(on_edge) == pytest.approx(tv_value(off_edge))
    assert penalty.value(on_edge, guide) < 0.05 * tv_value(on_edge)
    assert penalty.value(off_edge, guide) > 0.99 * tv_value(off_edge)
    w = guide[..., 0]
    assert w[:, 11:13].max() < 0.05 and w[:, :8].min() > 0.99


# ---------------------------------------------------------------------------
# CurvilinearTV guide
# ---------------------------------------------------------------------------
def _angle_deg(t_row, t_col, direction):
    cos = np.abs(t_row * direction[0] + t_col * direction[1]) / np.hypot(*direction)
    return np.degrees(np.arccos(np.clip(cos, 0, 1)))


@pytest.mark.parametrize("width", [1, 2, 4])
def test_tangent_of_a_horizontal_dark_line_is_along_it(width):
    rows = slice(16 - width // 2, 16 - width // 2 + width)
    guide = curvilinear_guide(_line_image(rows=rows))
    on_line = guide[rows, 8:-8]
    assert _angle_deg(on_line[..., 0], on_line[..., 1], (0, 1)).max() < 3
    # strongest at the centre rows; a 4 px line is weaker at its edges (0.63)
    centre = slice(16, 17) if width == 1 else slice(15, 17)
    assert guide[centre, 8:-8, 2].min() > 0.95 and on_line[..., 2].min() > 0.6
    # flat background far from the line: no line
    assert guide[:6, 8:-8, 2].max() < 0.05


def test_tangent_of_vertical_and_diagonal_lines():
    vertical = curvilinear_guide(_line_image(shape=(40, 32), rows=slice(None), cols=slice(15, 17)))
    assert _angle_deg(vertical[8:-8, 15:17, 0], vertical[8:-8, 15:17, 1], (1, 0)).max() < 3
    r, c = np.mgrid[0:40, 0:40]
    for sign in (1, -1):  # main diagonal (row = col) and anti-diagonal (row = 39 - col)
        image = np.where(np.abs(r - (c if sign > 0 else 39 - c)) <= 1, 0.25, 0.75)
        guide = curvilinear_guide(ndi.gaussian_filter(image, 0.7).astype(np.float32))
        on = (r == (c if sign > 0 else 39 - c)) & (r > 10) & (r < 30)
        assert _angle_deg(guide[on][:, 0], guide[on][:, 1], (1, sign)).max() < 3
        assert guide[on][:, 2].min() > 0.8


def test_bright_ridges_count_as_lines():
    guide = curvilinear_guide(1 - _line_image())
    assert _angle_deg(guide[15:17, 8:-8, 0], guide[15:17, 8:-8, 1], (0, 1)).max() < 3
    assert guide[15:17, 8:-8, 2].min() > 0.9


@pytest.mark.parametrize("radius", [1.5, 2.5, 3.5])
def test_round_blob_centres_are_not_lines(radius):
    """Both curvatures are large at a blob's centre (c about 0.14 there); its
    rim, curved like a small ring, is partly line-like."""
    r, c = np.mgrid[0:40, 0:40]
    image = np.full((40, 40), 0.75)
    image[np.hypot(r - 20, c - 10) <= radius] = 0.25  # a dark blob
    image[:, 29:31] = 0.25  # a dark vertical line
    guide = curvilinear_guide(ndi.gaussian_filter(image, 0.7).astype(np.float32))
    assert guide[20, 10, 2] < 0.2
    assert guide[10:30, 29:31, 2].min() > 0.95


def test_gaussian_derivatives_match_scipy():
    """Same kernels as scipy's Gaussian derivatives, except that the second
    derivative is corrected to sum to zero (no curvature on a constant)."""
    image = np.random.default_rng(4).random((23, 19))
    for order in [(0, 0), (1, 0), (0, 1), (1, 1)]:
        np.testing.assert_allclose(_gaussian(image, 1.5, order),
                                   ndi.gaussian_filter(image, 1.5, order=order, mode="reflect"),
                                   rtol=0, atol=1e-12)
    np.testing.assert_allclose(_gaussian(image, 1.5, (2, 0)),
                               ndi.gaussian_filter(image, 1.5, order=(2, 0), mode="reflect"),
                               rtol=0, atol=1e-4)
    assert np.abs(_gaussian(np.full((9, 9), 0.7), 1.5, (2, 0))).max() < 1e-15
    ramp = np.add.outer(np.arange(15.0) ** 2 / 2, np.zeros(15))  # I = row^2 / 2
    # the kernel truncated at 4 sigma has a second moment 0.2 % short (scipy's too)
    assert _gaussian(ramp, 1.5, (2, 0))[7, 7] == pytest.approx(1.0, abs=3e-3)


def test_curvilinear_guide_of_rgb_is_the_guide_of_the_channel_mean():
    rng = np.random.default_rng(0)
    rgb = ndi.gaussian_filter(rng.random((20, 22, 3)), (1.5, 1.5, 0)).astype(np.float32)
    np.testing.assert_allclose(curvilinear_guide(rgb), curvilinear_guide(rgb.mean(axis=2)),
                               atol=1e-5)


def test_curvilinear_guide_of_a_constant_image_has_no_line():
    for contrast in (None, 0.05):
        guide = curvilinear_guide(np.full((10, 12), 0.5, np.float32), contrast=contrast)
        assert guide.shape == (10, 12, 3) and guide.dtype == np.float32
        assert guide[..., 2].max() < 1e-12
        np.testing.assert_allclose(np.hypot(guide[..., 0], guide[..., 1]), 1.0, atol=1e-6)


def test_coherence_is_high_on_thin_structures_and_low_in_the_cells():
    """Measured on the thin-structure generator: walls 1-4 px wide, noise 0.08.

    Over these three images the mean line strength is about 0.52 on the
    walls, 0.12 in the cells more than 3 px from any wall, and the ROC AUC of
    wall against cell pixels about 0.85.
    """
    images, masks = make_thin_structures(n_images=3, shape=(96, 96), random_state=0)
    for image, mask in zip(images, masks):
        guide = CurvilinearTV().guide(image)
        c = guide[..., 2]
        assert guide.shape == (96, 96, 3) and guide.dtype == np.float32
        assert c.min() >= 0 and c.max() <= 1
        far = (mask == 0) & (ndi.distance_transform_edt(mask == 0) > 3)
        assert c[mask == 1].mean() > 0.45
        assert c[far].mean() < 0.16
        assert c[mask == 1].mean() > 2.5 * c[mask == 0].mean()
        assert roc_auc_score(mask.ravel(), c.ravel()) > 0.82


# ---------------------------------------------------------------------------
# CurvilinearTV penalty
# ---------------------------------------------------------------------------
def test_change_across_a_line_costs_less_than_along_it():
    image = _line_image(shape=(32, 32))
    penalty = CurvilinearTV()
    guide = penalty.guide(image)
    across = np.zeros((32, 32), np.float32)
    across[16:] = 1  # the map steps across the line (rows), at the line
    along = np.ascontiguousarray(across.T)  # the same step, along the line (columns)
    assert tv_value(across) == pytest.approx(tv_value(along))
    assert penalty.value(across, guide) < 0.35 * penalty.value(along, guide)
    assert penalty.value(along, guide) > 0.99 * tv_value(along)
    # a map that marks the line itself is discounted the most where the line is thin
    mask = np.zeros((32, 32), np.float32)
    mask[15:17] = 1
    assert penalty.value(mask, guide) < 0.5 * tv_value(mask)


def test_curvilinear_with_no_line_is_the_total_variation():
    rng = np.random.default_rng(5)
    prob = rng.random((11, 13, 2), dtype=np.float32)
    guide = _random_curvilinear_guide(rng, 11, 13)
    guide[..., 2] = 0
    value, grad = CurvilinearTV().value_and_gradient(prob, guide)
    assert value == pytest.approx(tv_value(prob), rel=1e-6)
    np.testing.assert_array_equal(grad, tv_subgradient(prob))


def test_curvilinear_ignores_the_sign_of_the_tangent():
    rng = np.random.default_rng(6)
    prob = rng.random((10, 12), dtype=np.float32)
    guide = _random_curvilinear_guide(rng, 10, 12)
    flipped = guide.copy()
    flipped[..., :2] *= -1
    value, grad = CurvilinearTV().value_and_gradient(prob, guide)
    value_f, grad_f = CurvilinearTV().value_and_gradient(prob, flipped)
    assert value_f == pytest.approx(value, rel=1e-6)
    np.testing.assert_allclose(grad_f, grad, atol=1e-6)


# ---------------------------------------------------------------------------
# guides under cropping
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("penalty, sigma", [(EdgeAwareTV(beta=0.005, sigma=1.0), 1.0),
                                            (CurvilinearTV(sigma=1.5, contrast=0.05), 1.5)])
def test_guide_of_a_crop_is_the_crop_of_the_guide(penalty, sigma):
    """Equal at the pixels at least int(4 sigma + 0.5) (the Gaussian filter's
    radius: 4 px for sigma 1, 6 px for sigma 1.5) from the crop border."""
    image = make_thin_structures(n_images=1, shape=(64, 72), random_state=2)[0][0]
    full = penalty.guide(image)
    m = int(4 * sigma + 0.5)
    window = (slice(10, 50), slice(7, 61))
    crop = penalty.guide(image[window])
    np.testing.assert_allclose(crop[m:-m, m:-m], full[window][m:-m, m:-m], rtol=0, atol=1e-6)
    # nearer the crop border the reflected image differs: the guides differ there
    assert not np.allclose(crop[:2], full[window][:2], atol=1e-3)


# ---------------------------------------------------------------------------
# interface and errors
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("penalty, make_guide, loop", CASES, ids=IDS)
def test_missing_guide_is_a_clear_error(penalty, make_guide, loop):
    prob = np.zeros((6, 6), np.float32)
    for call in (penalty.value, penalty.gradient, penalty.value_and_gradient):
        with pytest.raises(ValueError, match=r"needs a guide.*\.guide\(image\)"):
            call(prob)
        with pytest.raises(ValueError, match="needs a guide"):
            call(prob, None)


@pytest.mark.parametrize("penalty, make_guide, loop", CASES, ids=IDS)
def test_guide_shape_errors(penalty, make_guide, loop):
    rng = np.random.default_rng(0)
    prob = rng.random((6, 7), dtype=np.float32)
    good = make_guide(rng, 6, 7)
    with pytest.raises(ValueError, match=r"\(H, W\) = \(6, 7\)"):
        penalty.value(prob, make_guide(rng, 7, 6))
    with pytest.raises(ValueError, match=r"covers \(6, 7\) pixels .* \(H, W\) = \(6, 8\)"):
        penalty.value(rng.random((6, 8, 2)), good)
    with pytest.raises(ValueError, match="must have shape"):
        penalty.value(prob, good[..., 0])
    with pytest.raises(ValueError, match="must have shape"):
        penalty.value(prob, np.concatenate([good, good], axis=2))
    bad = good.copy()
    bad[2, 3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        penalty.gradient(prob, bad)
    with pytest.raises(ValueError, match="numeric"):
        penalty.value(prob, good.astype(str))
    with pytest.raises(ValueError, match="shape"):
        penalty.value(np.zeros((2, 3, 4, 5)), good)


def test_guide_value_range_errors():
    prob = np.zeros((6, 7), np.float32)
    weights = np.ones((6, 7, 1), np.float32)
    weights[3, 3] = -0.5
    with pytest.raises(ValueError, match=">= 0"):
        EdgeAwareTV().value(prob, weights)
    guide = np.zeros((6, 7, 3), np.float32)
    guide[..., 1] = 1
    guide[2, 2, 2] = 1.5
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        CurvilinearTV().value(prob, guide)


@pytest.mark.parametrize("make, kwargs", [
    (EdgeAwareTV, {"beta": 0}), (EdgeAwareTV, {"beta": -1.0}), (EdgeAwareTV, {"sigma": 0}),
    (EdgeAwareTV, {"beta": "auto"}), (EdgeAwareTV, {"sigma": float("nan")}),
    (CurvilinearTV, {"sigma": -1}), (CurvilinearTV, {"anisotropy": 0}),
    (CurvilinearTV, {"contrast": 0.0}), (CurvilinearTV, {"contrast": True}),
])
def test_bad_parameters(make, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        make(**kwargs)


def test_bad_images():
    for penalty in (EdgeAwareTV(), CurvilinearTV()):
        with pytest.raises(ValueError):
            penalty.guide(np.zeros((5, 6, 4)))
        with pytest.raises(ValueError):
            penalty.guide(np.full((5, 6), np.nan))


def test_parameters_are_attributes_and_repr():
    edge = EdgeAwareTV(beta=0.02, sigma=0.8)
    assert (edge.beta, edge.sigma) == (0.02, 0.8)
    assert repr(edge) == "EdgeAwareTV(beta=0.02, sigma=0.8)"
    assert repr(EdgeAwareTV()) == "EdgeAwareTV(beta=None, sigma=1.0)"
    curv = CurvilinearTV(sigma=2, anisotropy=0.4, contrast=0.1)
    assert (curv.sigma, curv.anisotropy, curv.contrast) == (2.0, 0.4, 0.1)
    assert repr(curv) == "CurvilinearTV(sigma=2.0, anisotropy=0.4, contrast=0.1)"
    for p in (edge, curv):
        assert isinstance(p, Penalty) and p.guided
        rebuilt = type(p)(**{k: getattr(p, k) for k in vars(p)})
        assert repr(rebuilt) == repr(p)


@pytest.mark.parametrize("penalty", [EdgeAwareTV(), CurvilinearTV()], ids=IDS)
def test_guides_are_float32_per_pixel(penalty):
    image = make_thin_structures(n_images=1, shape=(30, 34), random_state=0)[0][0]
    guide = penalty.guide(image)
    assert guide.dtype == np.float32 and guide.shape[:2] == (30, 34)
    assert guide.flags.c_contiguous and np.isfinite(guide).all()
    rgb = np.repeat(image[..., None], 3, axis=2)
    assert penalty.guide(rgb).shape == guide.shape
