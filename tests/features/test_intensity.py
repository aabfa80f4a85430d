import numpy as np
import pytest
from scipy import ndimage as ndi

from features import IntensityStencil, sample_stencil, stencil_offsets
from features.scale_space import gaussian_derivative

from .helpers import at, edge_index, tiny_image


def test_stencil_offsets_star_pattern():
    offsets = stencil_offsets([2, 5], n_directions=8)
    assert offsets.shape == (17, 2)
    assert offsets[0].tolist() == [0, 0]
    ring = {tuple(o) for o in offsets[1:9]}
    assert ring == {(0, 2), (2, 2), (2, 0), (2, -2), (0, -2), (-2, -2), (-2, 0), (-2, 2)}
    assert np.abs(offsets[9:]).max(axis=1).tolist() == [5] * 8  # second ring at Chebyshev radius 5
    assert len({tuple(o) for o in offsets}) == len(offsets)


def test_stencil_offsets_drop_duplicates_and_validate():
    offsets = stencil_offsets([1], n_directions=32, centre=False)
    assert len(offsets) == 8  # only 8 lattice points at Chebyshev radius 1
    with pytest.raises(ValueError):
        stencil_offsets([0, 2])
    with pytest.raises(ValueError):
        stencil_offsets([2], n_directions=0)


def test_sample_stencil_matches_hand_indexing(rng):
    image = tiny_image(rng)
    offsets = [(0, 0), (3, -2), (-6, 8), (1, 1)]
    out = sample_stencil(image, offsets)
    assert out.shape == (7, 9, 4) and out.dtype == np.float32
    for i, (dy, dx) in enumerate(offsets):
        for y in range(7):
            for x in range(9):
                assert out[y, x, i] == at(image, y + dy, x + dx)
    edge = sample_stencil(image, offsets, mode="edge")
    assert edge[0, 0, 2] == at(image, -6, 8, edge_index)


def test_intensity_stencil_samples_smoothed_padded_image(rng):
    image = tiny_image(rng)
    f = IntensityStencil(radius=10, sigma=0.7)
    assert f.radii == (3, 6, 10)
    assert f.n_features == len(f.names) == 25
    out = f(image)
    assert out.shape == (7, 9, 25) and out.dtype == np.float32
    # the package's Gaussian (tested against scipy's in test_separable.py)
    smooth = gaussian_derivative(image, 0.7)
    np.testing.assert_allclose(smooth, ndi.gaussian_filter(image, 0.7, mode="reflect"), atol=1e-6)
    r = 10
    padded = np.pad(smooth, r, mode="symmetric")
    for i, (dy, dx) in enumerate(f.offsets):
        np.testing.assert_array_equal(out[..., i], padded[r + dy:r + dy + 7, r + dx:r + dx + 9])
    # the name encodes the offset
    i = f.names.index("int_+10_-10")
    assert tuple(f.offsets[i]) == (10, -10)
    np.testing.assert_array_equal(out[2, 3, i], at(smooth, 12, -7))


def test_intensity_stencil_without_smoothing_and_custom_radii(rng):
    image = tiny_image(rng)
    f = IntensityStencil(radii=(1, 2), n_directions=4, sigma=0, mode="edge")
    assert f.names == ["int_+0_+0", "int_+0_+1", "int_+1_+0", "int_+0_-1", "int_-1_+0",
                       "int_+0_+2", "int_+2_+0", "int_+0_-2", "int_-2_+0"]
    out = f(image)
    np.testing.assert_array_equal(out[..., 0], image)
    assert out[0, 8, 5] == image[0, 8]  # x + 2 clamps to the last column
    assert out[6, 3, 6] == image[6, 3]  # y + 2 clamps to the last row
    assert out[3, 3, 8] == image[1, 3]


def test_intensity_stencil_bad_arguments():
    with pytest.raises(ValueError):
        IntensityStencil(radii=(0, 3))
    with pytest.raises(ValueError, match="mode"):
        IntensityStencil(mode="wrap")
