import numpy as np
import pytest
from scipy import ndimage as ndi

from features.base import luminance
from features.chm_bank import (
    CrossStencil,
    DenseSIFT,
    EdgeWindow,
    GaborQuadrature,
    HaarRectangles,
    HOGBlocks,
    chm_bank,
)

from .helpers import at, reflect_index

SHAPE = (20, 24)
PIXELS = [(0, 0), (3, 17), (8, 8), (10, 12), (12, 5), (19, 23)]  # borders included


@pytest.fixture
def image(rng):
    return rng.random(SHAPE, dtype=np.float32)


# --- references ----------------------------------------------------------------------


def reference_gradient(image, sigma):
    image = image.astype(np.float64)
    return (ndi.gaussian_filter(image, sigma, order=(1, 0), mode="reflect"),
            ndi.gaussian_filter(image, sigma, order=(0, 1), mode="reflect"))


def reference_votes(image, sigma, n_bins, signed):
    """Per-pixel loop: sigma * |grad| split linearly between the two nearest bin centres."""
    gy, gx = reference_gradient(image, sigma)
    period = 2 * np.pi if signed else np.pi
    votes = np.zeros(image.shape + (n_bins,))
    for y in range(image.shape[0]):
        for x in range(image.shape[1]):
            magnitude = sigma * np.hypot(gy[y, x], gx[y, x])
            position = (np.arctan2(gy[y, x], gx[y, x]) % period) / period * n_bins
            b = int(np.floor(position))
            frac = position - b
            votes[y, x, b % n_bins] += (1 - frac) * magnitude
            votes[y, x, (b + 1) % n_bins] += frac * magnitude
    return votes


def reference_l2hys(v, eps, clip):
    u = v / np.sqrt(np.sum(v * v) + eps * eps)
    c = np.minimum(u, clip)
    return c * np.linalg.norm(u) / np.linalg.norm(c) if np.linalg.norm(c) > 0 else c


def reference_descriptor(votes, y, x, cell, n_cells, eps, clip):
    """Cell means of the grid around (y, x) (votes reflected), row-major cells, then L2-Hys."""
    h, w, _ = votes.shape
    top = y - (cell * n_cells) // 2
    left = x - (cell * n_cells) // 2
    cells = []
    for i in range(n_cells):
        for j in range(n_cells):
            total = 0
            for u in range(cell):
                for v in range(cell):
                    yy, xx = top + cell * i + u, left + cell * j + v
                    total = total + votes[reflect_index(yy, h), reflect_index(xx, w)]
            cells.append(total / cell**2)
    return reference_l2hys(np.concatenate(cells), eps, clip)


def complex_gabor(sigma, wavelength, theta):
    r = int(np.ceil(3 * sigma))
    u, v = np.mgrid[-r:r + 1, -r:r + 1]  # row, column offsets
    envelope = np.exp(-(u**2 + v**2) / (2 * sigma**2)) / (2 * np.pi * sigma**2)
    return envelope * np.exp(2j * np.pi * (v * np.cos(theta) + u * np.sin(theta)) / wavelength)


def reflected_window(image, y, x, r):
    h, w = image.shape
    rows = [reflect_index(y + u, h) for u in range(-r, r + 1)]
    cols = [reflect_index(x + v, w) for v in range(-r, r + 1)]
    return image.astype(np.float64)[np.ix_(rows, cols)]


# --- Haar rectangles -----------------------------------------------------------------


@pytest.mark.parametrize("size", [2, 6, 16])
def test_haar_rectangles_match_explicit_sums(image, size):
    f = HaarRectangles(size)
    out = f(image)
    assert out.shape == SHAPE + (2,) and out.dtype == np.float32
    assert f.names == [f"haar_x{size}", f"haar_y{size}"]
    half = size // 2
    for y in range(SHAPE[0]):
        for x in range(SHAPE[1]):
            square = np.array([[at(image, y + u, x + v) for v in range(-half, half)]
                               for u in range(-half, half)], np.float64)
            left, right = square[:, :half].sum(), square[:, half:].sum()
            top, bottom = square[:half].sum(), square[half:].sum()
            area = half * size
            assert out[y, x, 0] == pytest.approx((left - right) / area, abs=1e-5)
            assert out[y, x, 1] == pytest.approx((top - bottom) / area, abs=1e-5)


def test_haar_sign_convention():
    step = np.zeros((32, 32), np.float32)
    step[:, 16:] = 1  # dark left, bright right
    out = HaarRectangles(16)(step)
    assert out[16, 16].tolist() == [-1.0, 0.0]
    assert HaarRectangles(16)(step.T)[16, 16].tolist() == [0.0, -1.0]
    assert out[16, 12, 0] == pytest.approx(-(4 / 8))  # right half: columns 12 .. 19, 4 bright


# --- HOG blocks and dense SIFT -------------------------------------------------------


@pytest.mark.parametrize("cell, n_bins, sigma", [(8, 9, 1.0), (3, 6, 1.5)])
def test_hog_blocks_match_loop_reference(image, cell, n_bins, sigma):
    f = HOGBlocks(cell=cell, n_bins=n_bins, sigma=sigma, eps=0.01, clip=0.2)
    out = f(image)
    assert out.shape == SHAPE + (4 * n_bins,) and out.dtype == np.float32
    votes = reference_votes(image, sigma, n_bins, signed=False)
    for y, x in PIXELS:
        expected = reference_descriptor(votes, y, x, cell, 2, 0.01, 0.2)
        np.testing.assert_allclose(out[y, x], expected, rtol=1e-4, atol=1e-6)


def test_hog_block_layout_and_names():
    f = HOGBlocks()
    assert f.n_features == 36
    assert f.names[:9] == [f"hog8_tl_b{b}" for b in range(9)]
    assert [f.names[9 * k][5:7] for k in range(4)] == ["tl", "tr", "bl", "br"]
    # A blob whose gradient (sigma 0.5, support 2 px) fills rows and columns 12 .. 19 only.
    image = np.zeros((40, 40), np.float32)
    image[14:18, 14:18] = 1
    f = HOGBlocks(sigma=0.5)
    out = f(image)
    # The cells of pixel (y, x): rows y-8 .. y-1 (top) or y .. y+7 (bottom), columns alike.
    for (y, x), k in [((20, 20), 0), ((20, 12), 1), ((12, 20), 2), ((12, 12), 3)]:
        block = out[y, x].reshape(4, 9)
        assert np.linalg.norm(block[k]) > 0.9
        assert np.abs(np.delete(block, k, axis=0)).max() < 1e-6


@pytest.mark.parametrize("cell, n_cells, n_bins", [(4, 4, 8), (2, 3, 5)])
def test_dense_sift_matches_loop_reference(image, cell, n_cells, n_bins):
    f = DenseSIFT(cell=cell, n_cells=n_cells, n_bins=n_bins, sigma=1.0, eps=0.01, clip=0.2)
    out = f(image)
    assert out.shape == SHAPE + (n_cells**2 * n_bins,) and out.dtype == np.float32
    votes = reference_votes(image, 1.0, n_bins, signed=True)
    for y, x in PIXELS:
        expected = reference_descriptor(votes, y, x, cell, n_cells, 0.01, 0.2)
        np.testing.assert_allclose(out[y, x], expected, rtol=1e-4, atol=1e-6)


def test_dense_sift_one_descriptor_by_hand(image):
    """The descriptor of pixel (10, 12): cell (i, j) covers rows 2+4i.. and columns 4+4j.."""
    out = DenseSIFT()(image)[10, 12]
    votes = reference_votes(image, 1.0, 8, signed=True)
    cells = [votes[2 + 4 * i:6 + 4 * i, 4 + 4 * j:8 + 4 * j].mean(axis=(0, 1))
             for i in range(4) for j in range(4)]
    np.testing.assert_allclose(out, reference_l2hys(np.concatenate(cells), 0.01, 0.2), rtol=1e-4, atol=1e-6)
    norm = np.linalg.norm(np.concatenate(cells))
    assert np.linalg.norm(out) == pytest.approx(norm / np.hypot(norm, 0.01), rel=1e-5)  # ~1


def test_dense_sift_orientation_is_signed():
    step = np.zeros((32, 32), np.float32)
    step[:, 16:] = 1  # gradient along +x
    f = DenseSIFT()
    assert f.names[:2] == ["sift4_r0c0_b0", "sift4_r0c0_b1"] and f.names[-1] == "sift4_r3c3_b7"
    bins = f(step)[16, 16].reshape(16, 8).sum(axis=0)
    flipped = f(1 - step)[16, 16].reshape(16, 8).sum(axis=0)  # gradient along -x
    assert bins.argmax() == 0 and flipped.argmax() == 4
    assert HOGBlocks()(step)[16, 16].reshape(4, 9).sum(axis=0).argmax() == 0
    assert HOGBlocks()(1 - step)[16, 16].reshape(4, 9).sum(axis=0).argmax() == 0  # unsigned


def test_descriptors_l2hys_properties(image):
    out = DenseSIFT()(image)
    norms = np.linalg.norm(out, axis=-1)
    assert norms.min() > 0.99 and norms.max() <= 1  # |v| >> eps everywhere on noise
    assert out.min() >= 0
    faint = DenseSIFT()(image * np.float32(1e-4))  # |v| ~ eps / 10: fades, nothing is clipped
    assert np.linalg.norm(faint, axis=-1).max() < 0.2
    unclipped = DenseSIFT(clip=1.0)(image)
    cosine = np.sum(faint * unclipped, axis=-1) / np.linalg.norm(faint, axis=-1) \
        / np.linalg.norm(unclipped, axis=-1)
    np.testing.assert_allclose(cosine, 1, atol=1e-4)


# --- edge window ---------------------------------------------------------------------


@pytest.mark.parametrize("radius, spacing, sigma", [(3, 1.0, 1.0), (2, 2.5, 2.0)])
def test_edge_window_is_the_shifted_magnitude(image, radius, spacing, sigma):
    f = EdgeWindow(radius=radius, spacing=spacing, sigma=sigma)
    out = f(image)
    assert out.shape == SHAPE + ((2 * radius + 1) ** 2,) and out.dtype == np.float32
    gy, gx = reference_gradient(image, sigma)
    magnitude = sigma * np.hypot(gy, gx)
    steps = [int(np.rint(spacing * k)) for k in range(-radius, radius + 1)]
    offsets = [(dy, dx) for dy in steps for dx in steps]
    assert f.names == [f"edge_{dy:+d}_{dx:+d}" for dy, dx in offsets]
    for i, (dy, dx) in enumerate(offsets):
        for y, x in PIXELS:
            assert out[y, x, i] == pytest.approx(at(magnitude, y + dy, x + dx), rel=1e-4, abs=1e-6)


# --- Gabor quadrature ----------------------------------------------------------------


def test_gabor_quadrature_matches_direct_convolution(image):
    f = GaborQuadrature()
    out = f(image)
    assert out.shape == SHAPE + (180,) and out.dtype == np.float32
    params = [(s, r * s, np.pi * k / 12) for s in (2, 3, 4, 5, 6) for r in (2, 2.25, 2.5)
              for k in range(12)]
    assert f.names[0] == "gabor_s2_l4_a0" and f.names[-1] == "gabor_s6_l15_a165"
    assert f.names[12 * 4 + 3] == "gabor_s3_l6.75_a45"
    for i, (sigma, wavelength, theta) in enumerate(params):
        kernel = complex_gabor(sigma, wavelength, theta)
        r = kernel.shape[0] // 2
        for y, x in [(2, 3), (10, 12), (17, 20)]:
            window = reflected_window(image, y, x, r)
            convolution = np.sum(window[::-1, ::-1] * kernel)  # image[y - u, x - v] * k[u, v]
            correlation = np.sum(window * kernel)
            assert abs(convolution) == pytest.approx(abs(correlation), rel=1e-9)
            assert out[y, x, i] == pytest.approx(abs(convolution), rel=1e-4, abs=1e-6)


def test_gabor_quadrature_orientation_and_phase_invariance():
    y, x = np.mgrid[:64, :64]
    f = GaborQuadrature(sigmas=(4,), wavelength_ratios=(2,), n_orientations=4)
    for phase in (0.0, 1.0, 2.0):
        waves = np.cos(2 * np.pi * y / 8 + phase).astype(np.float32)  # wave vector along y
        out = f(waves)[24:40, 24:40]
        assert np.all(out.argmax(axis=-1) == 2)  # theta = 90 degrees
        # the quadrature magnitude is flat over the wave: it does not ripple with the phase
        assert out[..., 2].max() - out[..., 2].min() < 1e-3 * out[..., 2].max()


# --- cross stencil -------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.0, 0.5])
def test_cross_stencil_explicit_indexing(image, sigma):
    f = CrossStencil(n_steps=10, spacing=1.0, sigma=sigma)
    out = f(image)
    assert out.shape == SHAPE + (81,) and out.dtype == np.float32
    source = ndi.gaussian_filter(image, sigma, mode="reflect") if sigma else image
    offsets = [tuple(int(v) for v in name.split("_")[1:]) for name in f.names]
    rays = [(0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1)]
    assert offsets[0] == (0, 0)
    assert set(offsets) == {(0, 0)} | {(k * a, k * b) for k in range(1, 11) for a, b in rays}
    for i, (dy, dx) in enumerate(offsets):
        for y, x in PIXELS:
            assert out[y, x, i] == pytest.approx(at(source, y + dy, x + dx), abs=1e-6)
    if sigma == 0:
        assert out[5, 7, 0] == image[5, 7] and out[5, 7, offsets.index((-3, 3))] == image[2, 10]


def test_cross_stencil_spacing():
    f = CrossStencil(n_steps=4, spacing=1.5)
    assert f.n_features == 33
    assert sorted({max(abs(dy), abs(dx)) for dy, dx in f.offsets}) == [0, 2, 3, 4, 6]


# --- the bank ------------------------------------------------------------------------


def test_bank_gray_and_rgb(rng):
    bank = chm_bank()
    names = bank.names
    assert bank.n_features == len(names) == 476 and len(set(names)) == 476
    assert [f.n_features for f in bank.filters] == [2, 36, 49, 180, 128, 81]
    rgb = rng.random((21, 26, 3), dtype=np.float32)
    out = bank(rgb)
    assert out.shape == (21, 26, 476) and out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, bank(luminance(rgb)))
    assert np.isfinite(out).all()


def test_bank_shares_the_gradient_and_matches_members(image):
    bank = chm_bank()
    memo = {}
    planes = bank._planes(image, memo)
    assert ("chm_polar", 1.0) in memo
    start = 0
    for f in bank.filters:
        np.testing.assert_array_equal(planes[start:start + f.n_features], f.planes(image))
        start += f.n_features


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (5, 4), (40, 30)])
def test_bank_finite_on_constant_and_tiny_images(shape, rng):
    bank = chm_bank()
    flat = bank(np.full(shape, 0.7, np.float32))
    assert flat.shape == shape + (476,) and np.isfinite(flat).all()
    gabor = slice(87, 267)
    np.testing.assert_array_equal(np.delete(flat, np.r_[gabor, 395:476], axis=-1), 0)  # no gradient
    np.testing.assert_allclose(flat[..., 395:], 0.7, rtol=1e-6)  # stencil of a constant
    assert np.isfinite(bank(rng.random(shape, dtype=np.float32))).all()


def test_bank_scale_multiplies_supports():
    small, big = chm_bank(1.0), chm_bank(2.0)
    assert big.n_features == 476
    haar, hog, edge, gabor, sift, cross = big.filters
    assert (haar.size, hog.cell, sift.cell, hog.sigma, sift.sigma, edge.sigma) == (32, 16, 8, 2, 2, 2)
    assert gabor.sigmas == (4, 6, 8, 10, 12) and gabor.wavelength_ratios == (2, 2.25, 2.5)
    assert np.abs(edge.offsets).max() == 6 and np.abs(cross.offsets).max() == 20
    assert cross.sigma == 1.0 and small.filters[5].sigma == 0.5
    assert chm_bank(0.5).filters[1].cell == 4 and chm_bank(0.5).filters[2].spacing == 1


def test_bank_scale_covariance_on_smooth_image():
    """A smooth image zoomed by 2 with scale 2 gives the features of scale 1 (edge, Gabor)."""
    def picture(zoom):
        y, x = np.mgrid[:60 * zoom, :60 * zoom] / zoom
        return (np.sin(x / 3) + np.cos(y / 4 + x / 9)).astype(np.float32)

    edge1, edge2 = EdgeWindow(sigma=1.0), EdgeWindow(spacing=2, sigma=2.0)
    g1 = GaborQuadrature(sigmas=(2, 3))
    g2 = GaborQuadrature(sigmas=(4, 6))
    one, two = picture(1), picture(2)
    a, b = edge1(one)[20:40:3, 20:40:3], edge2(two)[40:80:6, 40:80:6]
    np.testing.assert_allclose(a, b, rtol=2e-3, atol=1e-4)
    a, b = g1(one)[25:35:3, 25:35:3], g2(two)[50:70:6, 50:70:6]
    # Equal up to the sampling of the truncated kernels (the cut at 3 sigma is sampled
    # twice as finely at scale 2); without the scale rule the features differ far more.
    assert np.abs(a - b).max() < 0.01 * a.max()
    assert np.abs(a - g1(two)[50:70:6, 50:70:6]).max() > 0.2 * a.max()


# --- parameters ----------------------------------------------------------------------


@pytest.mark.parametrize("build", [
    lambda: HaarRectangles(15),
    lambda: HaarRectangles(0),
    lambda: HaarRectangles(2.5),
    lambda: HOGBlocks(cell=0),
    lambda: HOGBlocks(n_bins=1),
    lambda: HOGBlocks(sigma=0),
    lambda: HOGBlocks(eps=0),
    lambda: HOGBlocks(clip=0),
    lambda: HOGBlocks(clip=1.5),
    lambda: DenseSIFT(n_cells=0),
    lambda: DenseSIFT(cell=-4),
    lambda: DenseSIFT(cell=4096, n_cells=2),
    lambda: EdgeWindow(radius=0),
    lambda: EdgeWindow(spacing=0.5),
    lambda: EdgeWindow(sigma=-1),
    lambda: GaborQuadrature(sigmas=(1,), wavelength_ratios=(1.5,)),
    lambda: GaborQuadrature(n_orientations=0),
    lambda: GaborQuadrature(sigmas=()),
    lambda: CrossStencil(n_steps=0),
    lambda: CrossStencil(spacing=0.9),
    lambda: CrossStencil(sigma=-0.1),
    lambda: CrossStencil(sigma="wide"),
    lambda: chm_bank(0.4),
    lambda: chm_bank(float("nan")),
    lambda: chm_bank(1000),
    lambda: chm_bank("big"),
])
def test_bad_parameters(build):
    with pytest.raises(ValueError):
        build()


def test_bad_image():
    image = np.zeros((8, 8), np.float32)
    image[2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        chm_bank()(image)
    with pytest.raises(ValueError):
        HOGBlocks()(np.zeros((4, 4, 2)))


def test_bank_finite_on_huge_values(image):
    bank = chm_bank()
    huge = bank(image * np.float32(1e30))  # filtered in float64, rounded to float32
    assert huge.dtype == np.float32 and np.isfinite(huge).all()
    start = 2 + 36 + 49 + 180  # dense SIFT: normalised, so the same up to the eps floor
    np.testing.assert_allclose(huge[..., start:start + 128], bank(image)[..., start:start + 128],
                               atol=3e-3)
