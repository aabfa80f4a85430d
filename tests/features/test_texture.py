import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.signal import convolve2d
from skimage.filters import gabor_kernel

from features import (
    GaborFilter,
    HaarBoxes,
    HOGCells,
    gabor_kernels,
    gabor_magnitudes,
    haar_boxes,
    hog_cells,
    integral_image,
)
from features.texture import _gabor_factors

from .helpers import at, reflect_index, tiny_image

# --- Gabor ---------------------------------------------------------------------------


@pytest.mark.parametrize("frequency", [0.3, 0.125, 0.0625])
@pytest.mark.parametrize("theta", [0.0, np.pi / 6, np.pi / 2, 5 * np.pi / 6])
def test_gabor_separable_factors_rebuild_skimage_kernel(frequency, theta):
    ky, kx = _gabor_factors(frequency, theta, 1.0)
    kernel = gabor_kernel(frequency, theta=theta)
    assert np.outer(ky, kx).shape == kernel.shape
    np.testing.assert_allclose(np.outer(ky, kx), kernel, rtol=1e-10, atol=1e-14)


def direct_gabor_magnitude(image, kernel):
    """|image * kernel| by scipy.signal.convolve2d on the reflect-padded image."""
    py, px = kernel.shape[0] // 2, kernel.shape[1] // 2
    padded = np.pad(image.astype(np.float64), ((py, py), (px, px)), mode="symmetric")
    return np.abs(convolve2d(padded, kernel, mode="valid"))


def test_gabor_magnitudes_match_direct_convolution(rng):
    image = tiny_image(rng)
    f = GaborFilter((0.25, 0.125, 0.0625), n_orientations=6)
    out = f(image)
    assert out.shape == (7, 9, 18) and out.dtype == np.float32
    assert f.names[0] == "gabor_f0.25_a0" and f.names[-1] == "gabor_f0.0625_a150"
    kernels = gabor_kernels((0.25, 0.125, 0.0625), 6)
    for i, kernel in enumerate(kernels):
        expected = direct_gabor_magnitude(image, kernel)
        np.testing.assert_allclose(out[..., i], expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max())
    np.testing.assert_array_equal(gabor_magnitudes(image, (0.25, 0.125, 0.0625), 6), out)


def test_gabor_on_larger_odd_sized_image(rng):
    image = rng.random((31, 22)).astype(np.float32)
    kernel = gabor_kernel(0.2, theta=np.pi / 4, bandwidth=1.5)
    out = gabor_magnitudes(image, (0.2,), n_orientations=4, bandwidth=1.5)
    np.testing.assert_allclose(out[..., 1], direct_gabor_magnitude(image, kernel), rtol=1e-4, atol=1e-6)


def test_gabor_responds_to_matching_orientation():
    y, x = np.mgrid[:48, :48]
    waves = np.cos(2 * np.pi * 0.25 * x).astype(np.float32)  # wave vector along x: theta = 0
    out = gabor_magnitudes(waves, (0.25,), n_orientations=4)[24, 24]
    assert out.argmax() == 0 and out[0] > 5 * out[2]


# --- HOG-like cells ------------------------------------------------------------------


def brute_force_hog(image, n_bins, radius, sigma, eps):
    image = image.astype(np.float64)
    gy = ndi.gaussian_filter(image, sigma, order=(1, 0))
    gx = ndi.gaussian_filter(image, sigma, order=(0, 1))
    h, w = image.shape
    votes = np.zeros((h, w, n_bins))
    width = np.pi / n_bins
    for y in range(h):
        for x in range(w):
            angle = np.arctan2(gy[y, x], gx[y, x]) % np.pi
            magnitude = np.hypot(gy[y, x], gx[y, x])
            b = int(np.floor(angle / width))
            frac = angle / width - b
            votes[y, x, b % n_bins] += (1 - frac) * magnitude
            votes[y, x, (b + 1) % n_bins] += frac * magnitude
    hist = np.zeros_like(votes)
    for y in range(h):
        for x in range(w):
            for u in range(-radius, radius + 1):
                for v in range(-radius, radius + 1):
                    hist[y, x] += votes[reflect_index(y + u, h), reflect_index(x + v, w)]
    hist /= (2 * radius + 1) ** 2
    return hist / np.sqrt((hist**2).sum(axis=-1, keepdims=True) + eps**2)


def test_hog_cells_match_brute_force(rng):
    image = tiny_image(rng)
    f = HOGCells(n_bins=6, cell_radii=(1, 2), sigma=1.0, eps=0.01)
    out = f(image)
    assert out.shape == (7, 9, 12) and out.dtype == np.float32
    assert f.names[:2] == ["hog_c1_b0", "hog_c1_b1"] and f.names[6] == "hog_c2_b0"
    for i, r in enumerate((1, 2)):
        expected = brute_force_hog(image, 6, r, 1.0, 0.01)
        np.testing.assert_allclose(out[..., 6 * i:6 * i + 6], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(hog_cells(image, 6, (1, 2)), out)


def test_hog_cells_large_cells_and_other_bins(rng):
    image = rng.random((12, 10)).astype(np.float32)
    out = hog_cells(image, n_bins=8, cell_radii=(4,), sigma=1.5, eps=0.05)
    np.testing.assert_allclose(out, brute_force_hog(image, 8, 4, 1.5, 0.05), rtol=1e-4, atol=1e-5)


def test_hog_orientation_of_an_edge():
    step = np.zeros((20, 20), np.float32)
    step[10:] = 1  # horizontal edge: gradient along y, angle pi/2
    out = hog_cells(step, n_bins=6, cell_radii=(2,))[10, 10]
    assert out.argmax() == 3
    assert np.linalg.norm(out) == pytest.approx(1, abs=5e-3)  # eps keeps it just under 1
    flat = hog_cells(np.full((10, 10), 0.5, np.float32), cell_radii=(2,))
    assert np.abs(flat).max() < 1e-3


# --- Haar-like boxes -----------------------------------------------------------------


def test_integral_image_box_sums(rng):
    image = rng.random((5, 6))
    s = integral_image(image)
    assert s.shape == (6, 7) and s.dtype == np.float64
    assert s[3, 4] - s[1, 4] - s[3, 2] + s[1, 2] == pytest.approx(image[1:3, 2:4].sum())


def test_haar_boxes_match_explicit_box_sums(rng):
    image = tiny_image(rng)
    radii = (1, 2, 4)
    f = HaarBoxes(radii)
    assert f.names == ["haar_h_r1", "haar_v_r1", "haar_h_r2", "haar_v_r2", "haar_h_r4", "haar_v_r4"]
    out = f(image)
    assert out.shape == (7, 9, 6) and out.dtype == np.float32

    def box_mean(y, x, rows, cols):
        return np.mean([at(image, y + u, x + v) for u in rows for v in cols])

    for i, r in enumerate(radii):
        full, neg, pos = range(-r, r + 1), range(-r, 0), range(1, r + 1)
        for y in range(7):
            for x in range(9):
                left_right = box_mean(y, x, full, neg) - box_mean(y, x, full, pos)
                top_bottom = box_mean(y, x, neg, full) - box_mean(y, x, pos, full)
                assert out[y, x, 2 * i] == pytest.approx(left_right, abs=1e-5)
                assert out[y, x, 2 * i + 1] == pytest.approx(top_bottom, abs=1e-5)
    np.testing.assert_array_equal(haar_boxes(image, radii), out)


def test_haar_sign_convention():
    step = np.zeros((12, 12), np.float32)
    step[:, 6:] = 1  # dark left, bright right
    out = haar_boxes(step, (2,))
    assert out[6, 6, 0] == pytest.approx(-1)  # left minus right
    assert out[6, 6, 1] == pytest.approx(0)
    assert haar_boxes(step.T, (2,))[6, 6, 1] == pytest.approx(-1)  # top minus bottom


def test_texture_bad_arguments():
    with pytest.raises(ValueError):
        HaarBoxes((0,))
    with pytest.raises(ValueError):
        HOGCells(n_bins=1)
    with pytest.raises(ValueError):
        GaborFilter((0.25,), n_orientations=0)
    with pytest.raises(ValueError):
        GaborFilter((-0.1,))
