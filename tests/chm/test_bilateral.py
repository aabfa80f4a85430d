"""Tests of the bilateral grid filter and the dense bilateral (relaxed DenseCRF) penalty."""
import doctest
import itertools
import math

import numpy as np
import pytest
from scipy import ndimage

import chm._bilateral as bilateral_module
import chm._dense_penalty as dense_module
from chm._bilateral import (
    MAX_CELLS,
    bilateral_filter,
    bilateral_filter_reference,
    blur_taps,
    default_spacing,
    gaussian_filter_exact,
    grid_scale,
    grid_spacing,
)
from chm._dense_penalty import DenseBilateral
from chm.penalties import Penalty

SRGB = 15 / 255


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _features(image, sigma_xy, sigma_rgb=SRGB):
    """Pixel features (y, x, intensity...) / bandwidths of an (H, W, G) image, float32."""
    H, W, G = image.shape
    yy, xx = np.mgrid[:H, :W]
    f = np.concatenate([np.stack([yy / sigma_xy, xx / sigma_xy], -1), image / sigma_rgb], -1)
    return f.reshape(H * W, 2 + G).astype(np.float32)


def _image(rng, H, W, G, kind):
    """Uniform noise, or smoothed noise stretched to [0, 1]."""
    img = rng.random((H, W, G))
    if kind == "smooth":
        img = np.stack([ndimage.gaussian_filter(img[..., g], 1.5) for g in range(G)], -1)
        img = (img - img.min()) / np.ptp(img)
    return img.astype(np.float32)


def _explicit_operator(features, spacing=None):
    """``W~ = scale * A^T B A`` as a dense (N, N) matrix, built from its definition.

    ``A`` (cells x N) holds the multilinear weights of every pixel at the
    corners of its cell, ``B`` is the tensor product of one Toeplitz matrix
    of the blur taps per axis (zero boundary).
    """
    f = np.asarray(features, np.float32)
    N, D = f.shape
    lo = f.min(axis=0)
    s = grid_spacing(f.max(axis=0) - lo, spacing)
    shape = [int(n) for n in np.floor((f.max(axis=0) - lo) / np.float32(s)).astype(int) + 2]
    A = np.zeros([N] + shape)
    for i in range(N):
        u = (f[i] - lo) / np.float32(s)
        b = np.minimum(np.floor(u).astype(int), np.array(shape) - 2)
        t = (u - b).astype(np.float64)
        for bits in itertools.product((0, 1), repeat=D):
            w = np.prod([t[d] if bits[d] else 1 - t[d] for d in range(D)])
            A[(i,) + tuple(b + np.array(bits))] += w
    taps = blur_taps(s).astype(np.float64)
    R = len(taps) // 2
    BA = A
    for d, n in enumerate(shape):
        T = np.zeros((n, n))
        for a in range(n):
            for r in range(-R, R + 1):
                if 0 <= a + r < n:
                    T[a, a + r] = taps[r + R]
        BA = np.moveaxis(np.tensordot(T, BA, axes=([1], [d + 1])), 0, d + 1)
    return grid_scale(s, D) * A.reshape(N, -1) @ BA.reshape(N, -1).T


def _exact_operator(features):
    f = np.asarray(features, np.float64)
    return np.exp(-0.5 * ((f[:, None] - f[None]) ** 2).sum(-1))


def _operator_of(features, spacing=None, batch=16):
    """The numba filter applied to the identity, ``batch`` columns at a time: its (N, N) matrix."""
    N = features.shape[0]
    eye = np.eye(N, dtype=np.float32)
    return np.concatenate([bilateral_filter(features, eye[:, a:a + batch], spacing=spacing)
                           for a in range(0, N, batch)], axis=1).astype(np.float64)


def _penalty_from_matrix(prob, Wt, normalize=True):
    """Eq. 1 and eq. 3 from an explicit (N, N) affinity matrix, float64."""
    S = np.asarray(prob, np.float64).reshape(Wt.shape[0], -1)
    value = float(np.sum(S * (Wt @ (1 - S))))
    grad = Wt @ (1 - 2 * S)
    if normalize:
        mass = Wt.sum(axis=1).mean()
        value, grad = value / mass, grad / mass
    return value, grad.reshape(np.shape(prob))


# ---------------------------------------------------------------------------
# grid parameters
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("spacing", [0.4, 0.5, 0.7, 1.0, 1.5])
def test_blur_taps_are_a_normalised_symmetric_kernel_of_the_residual_variance(spacing):
    taps = blur_taps(spacing).astype(np.float64)
    R = len(taps) // 2
    r = np.arange(-R, R + 1)
    assert taps.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_array_equal(taps, taps[::-1])
    # splat + slice contribute s^2 / 3, the blur the rest of the unit variance
    residual = 1 / spacing ** 2 - 1 / 3
    assert (taps * r ** 2).sum() == pytest.approx(residual, rel=0.02)


def test_blur_taps_are_the_identity_beyond_sqrt3():
    np.testing.assert_array_equal(blur_taps(1.8), [1.0])


def test_grid_scale_preserves_mass():
    assert grid_scale(0.5, 3) == pytest.approx((math.sqrt(2 * math.pi) / 0.5) ** 3)


def test_default_spacings():
    assert default_spacing(3) == 0.5
    assert default_spacing(5) == 0.7


def _cells(extent, s):
    return math.prod(int(n) for n in np.floor(np.float32(extent) / np.float32(s)).astype(int) + 2)


def test_grid_spacing_kept_when_the_grid_fits():
    assert grid_spacing([3.0, 4.0, 10.0], 0.5) == pytest.approx(0.5)


def test_grid_spacing_raised_to_fit_the_cell_budget():
    extent = np.array([40.0, 50.0, 17.0, 17.0, 17.0], np.float32)
    assert _cells(extent, 0.7) > MAX_CELLS
    s = grid_spacing(extent, 0.7)
    assert s > 0.7
    assert _cells(extent, s) <= MAX_CELLS
    # the raise is the D-th root of the overflow, then 1 % steps: not much more than needed
    assert _cells(extent, s / 1.05) > MAX_CELLS
    small = grid_spacing(extent, 0.7, max_cells=1000)
    assert _cells(extent, small) <= 1000 < _cells(extent, small / 1.05)


def test_grid_spacing_errors():
    with pytest.raises(ValueError, match="spacing"):
        grid_spacing([1.0, 1.0], 0.0)
    with pytest.raises(ValueError, match="max_cells"):
        grid_spacing([1.0, 1.0, 1.0], 0.5, max_cells=7)


# ---------------------------------------------------------------------------
# the filter: numba kernel, numpy reference, explicit operator, exact Gaussian
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("D, C, spacing", [
    (1, 1, 0.5), (2, 3, 0.7), (3, 1, None), (3, 2, 1.2), (4, 2, None), (5, 2, None), (5, 1, 2.0),
])
def test_numba_kernel_matches_numpy_reference(D, C, spacing):
    rng = np.random.default_rng(D * 10 + C)
    f = (rng.random((500, D)) * rng.uniform(0.5, 6.0, D)).astype(np.float32)
    v = rng.random((500, C)).astype(np.float32)
    out = bilateral_filter(f, v, spacing=spacing)
    ref = bilateral_filter_reference(f, v, spacing=spacing)
    assert out.dtype == np.float32 and out.shape == (500, C)
    np.testing.assert_allclose(out, ref, rtol=2e-5, atol=2e-6 * np.abs(ref).max())


@pytest.mark.parametrize("G, spacing", [(1, None), (1, 1.1), (3, None), (3, 1.4)])
def test_filter_equals_the_explicit_grid_operator(G, spacing):
    rng = np.random.default_rng(G)
    image = 0.3 + 0.15 * rng.random((4, 5, G))  # narrow range: a small grid
    f = _features(image, sigma_xy=2.0)
    Wt = _explicit_operator(f, spacing)
    X = rng.random((f.shape[0], 3)).astype(np.float32)
    expected = Wt @ X
    out = bilateral_filter(f, X, spacing=spacing)
    np.testing.assert_allclose(out, expected, rtol=2e-5, atol=1e-6)
    ref = bilateral_filter_reference(f, X, spacing=spacing)
    np.testing.assert_allclose(ref, expected, rtol=1e-10)


@pytest.mark.parametrize("G", [1, 3])
def test_filter_operator_is_symmetric(G):
    rng = np.random.default_rng(5)
    f = _features(_image(rng, 8, 9, G, "noise"), sigma_xy=3.0)
    M = _operator_of(f)
    np.testing.assert_allclose(M, M.T, rtol=1e-5, atol=1e-6 * np.abs(M).max())


def test_filter_is_invariant_to_a_shift_of_the_features():
    rng = np.random.default_rng(6)
    f = _features(_image(rng, 10, 10, 3, "smooth"), sigma_xy=4.0)
    v = rng.random((f.shape[0], 2)).astype(np.float32)
    shift = np.array([3.0, -2.0, 8.0, 1.0, -4.0], np.float32)  # multiples of a float32-exact step
    np.testing.assert_allclose(bilateral_filter(f + shift, v), bilateral_filter(f, v),
                               rtol=1e-4, atol=1e-5)


def test_filter_preserves_mass_of_dense_features():
    # a fine 1-D lattice: away from its ends W 1 = sqrt(2 pi) / step
    f = (np.arange(0, 30, 0.05, dtype=np.float32))[:, None]
    ones = np.ones((f.shape[0], 1), np.float32)
    for spacing in (0.5, 0.8, 1.2):
        interior = slice(120, -120)
        approx = bilateral_filter(f, ones, spacing=spacing)[interior]
        ratio = approx / gaussian_filter_exact(f, ones)[interior]
        np.testing.assert_allclose(ratio, 1.0, atol=0.01)


def test_gaussian_filter_exact_is_the_brute_force_sum():
    rng = np.random.default_rng(7)
    f = rng.random((50, 3)) * 3
    v = rng.random((50, 2))
    expected = _exact_operator(f) @ v
    np.testing.assert_allclose(gaussian_filter_exact(f, v, chunk=7), expected, rtol=1e-12)


# Worst errors measured over six 16x16 gray / 14x14 RGB maps (noise, smoothed noise and a
# natural crop; sigma_xy 3 and 50 px) at the default spacings: gray |W~ - W|_F / |W|_F 0.034,
# W~ x 0.025; RGB 0.093 and 0.085 (see chm._bilateral).  The bounds leave a small margin.
@pytest.mark.parametrize("G, fro_tol, x_tol", [(1, 0.04, 0.03), (3, 0.10, 0.095)])
@pytest.mark.parametrize("kind, sigma_xy",
                         [("noise", 3.0), ("smooth", 3.0), ("noise", 50.0), ("smooth", 50.0)])
def test_filter_approximates_the_exact_gaussian(G, fro_tol, x_tol, kind, sigma_xy):
    rng = np.random.default_rng(11)
    H = 16 if G == 1 else 14
    f = _features(_image(rng, H, H, G, kind), sigma_xy)
    We = _exact_operator(f)
    Wt = _operator_of(f)
    x = rng.random(f.shape[0])
    assert np.linalg.norm(Wt - We) / np.linalg.norm(We) < fro_tol
    assert np.linalg.norm(Wt @ x - We @ x) / np.linalg.norm(We @ x) < x_tol


def test_filter_error_grows_with_the_spacing():
    rng = np.random.default_rng(12)
    f = _features(_image(rng, 16, 16, 1, "smooth"), 3.0)
    We = _exact_operator(f)
    errors = [np.linalg.norm(_operator_of(f, s) - We) / np.linalg.norm(We) for s in (0.4, 0.7, 1.0)]
    assert errors[0] < errors[1] < errors[2]
    assert errors[0] < 0.03


def test_filter_with_a_small_cell_budget_coarsens_the_grid():
    rng = np.random.default_rng(13)
    f = _features(_image(rng, 12, 12, 1, "noise"), 2.0)
    v = rng.random((f.shape[0], 1)).astype(np.float32)
    extent = f.max(0) - f.min(0)
    coarse = grid_spacing(extent, None, max_cells=200)
    assert coarse > default_spacing(3)
    out = bilateral_filter(f, v, max_cells=200)
    np.testing.assert_allclose(out, bilateral_filter(f, v, spacing=coarse), rtol=1e-6)
    np.testing.assert_allclose(out, bilateral_filter_reference(f, v, max_cells=200),
                               rtol=2e-5, atol=1e-6)


def test_filter_handles_degenerate_features():
    # all pixels on one point: W = all ones
    f = np.zeros((6, 3), np.float32)
    v = np.arange(6, dtype=np.float32)[:, None]
    out = bilateral_filter(f, v)
    np.testing.assert_allclose(out, bilateral_filter_reference(f, v), rtol=1e-6)
    np.testing.assert_allclose(out, out[0, 0])
    assert bilateral_filter(np.zeros((0, 3)), np.zeros((0, 2))).shape == (0, 2)


def test_filter_input_errors():
    f = np.zeros((5, 3), np.float32)
    with pytest.raises(ValueError, match="values must have shape"):
        bilateral_filter(f, np.zeros((4, 1)))
    with pytest.raises(ValueError, match="features must have shape"):
        bilateral_filter(np.zeros(5), np.zeros((5, 1)))
    with pytest.raises(ValueError, match="finite"):
        bilateral_filter(np.full((5, 3), np.nan), np.zeros((5, 1)))
    with pytest.raises(TypeError, match="numeric"):
        bilateral_filter(f.astype(str), np.zeros((5, 1)))


# ---------------------------------------------------------------------------
# the dense bilateral penalty
# ---------------------------------------------------------------------------
def _setup(G, shape=(9, 11), C=None, seed=0, sigma_xy=4.0, contrast=1.0):
    rng = np.random.default_rng(seed)
    image = 0.5 + np.float32(contrast) * (_image(rng, shape[0], shape[1], G, "smooth") - 0.5)
    image = image[..., 0] if G == 1 else image
    pen = DenseBilateral(sigma_xy=sigma_xy)
    guide = pen.guide(image)
    prob_shape = shape if C is None else shape + (C,)
    prob = rng.random(prob_shape).astype(np.float32)
    return pen, image, guide, prob


def test_dense_bilateral_is_a_guided_penalty_with_stored_parameters():
    pen = DenseBilateral(sigma_xy=20, sigma_rgb=0.1, normalize=False)
    assert isinstance(pen, Penalty) and pen.guided
    assert (pen.sigma_xy, pen.sigma_rgb, pen.normalize) == (20.0, 0.1, False)
    assert isinstance(pen.sigma_xy, float)
    assert repr(pen) == "DenseBilateral(sigma_xy=20.0, sigma_rgb=0.1, normalize=False)"
    default = DenseBilateral()
    assert (default.sigma_xy, default.sigma_rgb, default.normalize) == (50.0, 15 / 255, True)


@pytest.mark.parametrize("kwargs, match", [
    ({"sigma_xy": 0}, "sigma_xy"), ({"sigma_xy": np.inf}, "sigma_xy"),
    ({"sigma_rgb": -1.0}, "sigma_rgb"), ({"normalize": "yes"}, "normalize"),
])
def test_dense_bilateral_parameter_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DenseBilateral(**kwargs)


def test_guide_is_the_image_over_sigma_rgb():
    rng = np.random.default_rng(1)
    gray = rng.random((5, 6)).astype(np.float32)
    rgb = rng.random((5, 6, 3)).astype(np.float32)
    pen = DenseBilateral(sigma_rgb=0.25)
    g = pen.guide(gray)
    assert g.shape == (5, 6, 1) and g.dtype == np.float32
    np.testing.assert_allclose(g[..., 0], gray / 0.25, rtol=1e-6)
    np.testing.assert_allclose(pen.guide(gray[..., None]), g)
    g3 = pen.guide(rgb)
    assert g3.shape == (5, 6, 3) and g3.dtype == np.float32
    np.testing.assert_allclose(g3, rgb / 0.25, rtol=1e-6)


@pytest.mark.parametrize("G", [1, 3])
def test_guide_of_a_crop_is_the_crop_of_the_guide(G):
    pen, image, guide, _ = _setup(G, shape=(20, 24))
    window = (slice(3, 15), slice(5, 21))
    np.testing.assert_array_equal(pen.guide(image[window]), guide[window])
    # so the penalty of a crop is the same with either guide
    prob = np.random.default_rng(2).random((12, 16)).astype(np.float32)
    assert pen.value(prob, guide[window]) == pen.value(prob, pen.guide(image[window]))


@pytest.mark.parametrize("G", [1, 3])
@pytest.mark.parametrize("C", [None, 1, 3])
@pytest.mark.parametrize("normalize", [True, False])
def test_value_and_gradient_match_the_explicit_operator(G, C, normalize):
    # a contrast of 0.4 keeps the grid, hence the explicit matrices, small
    pen, image, guide, prob = _setup(G, C=C, seed=G + (C or 0), contrast=0.4)
    pen = DenseBilateral(sigma_xy=pen.sigma_xy, normalize=normalize)
    img = image[..., None] if G == 1 else image
    Wt = _explicit_operator(_features(img, pen.sigma_xy), None)
    ref_value, ref_grad = _penalty_from_matrix(prob, Wt, normalize)
    value, grad = pen.value_and_gradient(prob, guide)
    assert isinstance(value, float)
    assert grad.shape == prob.shape and grad.dtype == np.float32
    assert value == pytest.approx(ref_value, rel=1e-5)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-4, atol=1e-5 * np.abs(ref_grad).max())
    assert pen.value(prob, guide) == value
    np.testing.assert_array_equal(pen.gradient(prob, guide), grad)


@pytest.mark.parametrize("G", [1, 3])
def test_penalty_is_close_to_the_exact_gaussian_penalty(G):
    # measured: relative value error under 0.3 %, gradient error about that of W~ x
    pen, image, guide, prob = _setup(G, shape=(14, 14), seed=20 + G)
    prob = ndimage.gaussian_filter(prob, 2.0)
    prob = (prob - prob.min()) / np.ptp(prob)
    img = image[..., None] if G == 1 else image
    We = _exact_operator(_features(img, pen.sigma_xy))
    exact_value, exact_grad = _penalty_from_matrix(prob, We)
    value, grad = pen.value_and_gradient(prob, guide)
    assert value == pytest.approx(exact_value, rel=0.01)
    tol = 0.03 if G == 1 else 0.10
    assert np.linalg.norm(grad - exact_grad) / np.linalg.norm(exact_grad) < tol


@pytest.mark.parametrize("G", [1, 3])
@pytest.mark.parametrize("C", [None, 2])
def test_gradient_matches_finite_differences_of_the_value(G, C):
    # E is quadratic in the map, so central differences are exact up to float32 rounding
    pen, _, guide, prob = _setup(G, C=C, seed=30 + G)
    rng = np.random.default_rng(31)
    grad = pen.gradient(prob, guide).astype(np.float64)
    h = 0.05
    for _ in range(3):
        direction = rng.uniform(-1, 1, prob.shape).astype(np.float32)
        up, down = pen.value(prob + h * direction, guide), pen.value(prob - h * direction, guide)
        fd = (up - down) / (2 * h)
        assert fd == pytest.approx(float(np.sum(grad * direction)), rel=2e-3)
    # and pixel by pixel on a few pixels
    flat = prob.reshape(-1)
    for k in rng.choice(flat.size, 5, replace=False):
        e = np.zeros_like(flat)
        e[k] = 1.0
        e = e.reshape(prob.shape)
        fd = (pen.value(prob + h * e, guide) - pen.value(prob - h * e, guide)) / (2 * h)
        assert fd == pytest.approx(grad.reshape(-1)[k], rel=5e-3, abs=1e-3 * np.abs(grad).max())


def test_finite_differences_of_the_float64_reference_penalty():
    # the same identity on the float64 reference operator, to near machine precision
    pen, image, guide, prob = _setup(3, shape=(6, 7), seed=40)
    f = _features(image, pen.sigma_xy)
    N = f.shape[0]
    Wt = bilateral_filter_reference(f, np.eye(N))
    value, grad = _penalty_from_matrix(prob, Wt)
    rng = np.random.default_rng(41)
    v = rng.uniform(-1, 1, prob.shape)
    h = 1e-3
    up, down = _penalty_from_matrix(prob + h * v, Wt)[0], _penalty_from_matrix(prob - h * v, Wt)[0]
    fd = (up - down) / (2 * h)
    assert fd == pytest.approx(float(np.sum(grad * v)), rel=1e-9)
    # and the float32 penalty agrees with it
    assert pen.value(prob, guide) == pytest.approx(value, rel=1e-5)


@pytest.mark.parametrize("G", [1, 3])
@pytest.mark.parametrize("c", [0.0, 0.3, 1.0])
def test_constant_map(G, c):
    pen, image, guide, _ = _setup(G, seed=50)
    raw = DenseBilateral(sigma_xy=pen.sigma_xy, normalize=False)
    prob = np.full(guide.shape[:2], c, np.float32)
    W1 = bilateral_filter(_features(guide * np.float32(SRGB), raw.sigma_xy),
                          np.ones((prob.size, 1), np.float32)).reshape(prob.shape)
    value, grad = raw.value_and_gradient(prob, guide)
    np.testing.assert_allclose(grad, W1 * (1 - 2 * c), rtol=1e-4, atol=1e-5 * W1.max())
    assert value == pytest.approx(c * (1 - c) * W1.sum(dtype=np.float64), rel=1e-4, abs=1e-6)
    value_n, grad_n = pen.value_and_gradient(prob, guide)
    np.testing.assert_allclose(grad_n, grad / W1.mean(dtype=np.float64), rtol=1e-4, atol=1e-6)
    assert grad_n.mean() == pytest.approx(1 - 2 * c, abs=1e-5)
    assert value_n == pytest.approx(c * (1 - c) * prob.size, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("G", [1, 3])
def test_normalization_divides_by_the_mean_row_sum(G):
    pen, image, guide, prob = _setup(G, seed=60)
    raw = DenseBilateral(sigma_xy=pen.sigma_xy, normalize=False)
    W1 = bilateral_filter(_features(guide * np.float32(SRGB), raw.sigma_xy),
                          np.ones((prob.size, 1), np.float32))
    mass = W1.mean(dtype=np.float64)
    v_raw, g_raw = raw.value_and_gradient(prob, guide)
    v, g = pen.value_and_gradient(prob, guide)
    assert v == pytest.approx(v_raw / mass, rel=1e-6)
    np.testing.assert_allclose(g, g_raw / mass, rtol=1e-5)


def test_normalized_penalty_does_not_grow_with_sigma_xy():
    pen, image, guide, _ = _setup(1, shape=(32, 32), seed=61)
    prob = (np.arange(32)[None, :] >= 16).repeat(32, 0).astype(np.float32)  # a vertical step
    values = [DenseBilateral(sigma_xy=s).value(prob, guide) for s in (4.0, 16.0, 64.0)]
    raw = [DenseBilateral(sigma_xy=s, normalize=False).value(prob, guide)
           for s in (4.0, 16.0, 64.0)]
    # the raw energy grows with the affinity mass of a pixel (~ sigma_xy^2 until the map's size) ...
    assert raw[2] > 40 * raw[0]
    # ... the normalised one only with the fraction of it that crosses the step (at most 1/2 here)
    assert values[2] / values[0] < raw[2] / raw[0] / 5
    assert max(values) < prob.size / 2
    assert values[0] < values[1] < values[2]


@pytest.mark.parametrize("G", [1, 3])
def test_multichannel_map_is_the_sum_of_its_channels(G):
    pen, _, guide, prob = _setup(G, C=3, seed=70)
    value, grad = pen.value_and_gradient(prob, guide)
    parts = [pen.value_and_gradient(prob[..., k], guide) for k in range(3)]
    assert value == pytest.approx(sum(p[0] for p in parts), rel=1e-5)
    for k in range(3):
        np.testing.assert_allclose(grad[..., k], parts[k][1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("G", [1, 3])
def test_map_following_the_image_edge_costs_less(G):
    image = np.zeros((24, 24, G), np.float32)
    image[:, 12:] = 0.8
    image = image[..., 0] if G == 1 else image
    pen = DenseBilateral(sigma_xy=10.0)
    guide = pen.guide(image)
    on_edge = np.zeros((24, 24), np.float32)
    on_edge[:, 12:] = 1.0
    off_edge = np.roll(on_edge, -5, axis=1)
    assert pen.value(on_edge, guide) < 0.1 * pen.value(off_edge, guide)
    # descent pushes the off-edge map (1 on columns 7..18) towards the image's segmentation
    grad = pen.gradient(off_edge, guide)
    assert grad[:, 7:12].min() > 0   # lowers the dark columns wrongly set to 1
    assert grad[:, 19:].max() < 0    # raises the bright columns wrongly set to 0


def test_missing_guide_is_a_clear_error():
    pen = DenseBilateral()
    prob = np.zeros((8, 8), np.float32)
    for call in (pen.value, pen.gradient, pen.value_and_gradient):
        with pytest.raises(ValueError, match="needs a guide.*guide\\(image\\)"):
            call(prob)


def test_mismatched_or_malformed_guides_are_errors():
    pen = DenseBilateral()
    prob = np.zeros((8, 9), np.float32)
    with pytest.raises(ValueError, match=r"\(H, W\) must be equal"):
        pen.value(prob, np.zeros((8, 10, 1), np.float32))
    with pytest.raises(ValueError, match=r"\(H, W\) must be equal"):
        pen.value(prob[..., None].repeat(2, -1), np.zeros((9, 8, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        pen.value(prob, np.zeros((8, 9, 2), np.float32))
    with pytest.raises(ValueError, match="shape"):
        pen.value(prob, np.zeros((8, 9), np.float32))
    with pytest.raises(ValueError, match="finite"):
        pen.value(prob, np.full((8, 9, 1), np.nan, np.float32))
    with pytest.raises(ValueError):
        pen.guide(np.zeros((8, 9, 2), np.float32))
    with pytest.raises(ValueError, match="probability map"):
        pen.value(np.zeros((2, 8, 9, 1)), np.zeros((8, 9, 1), np.float32))


def test_doctests():
    assert doctest.testmod(bilateral_module).failed == 0
    assert doctest.testmod(dense_module).failed == 0
