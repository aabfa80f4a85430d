import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.color import rgb2lab

from features import LabColor, lab_stack


def test_lab_matches_skimage_then_gaussian(rng):
    rgb = rng.random((7, 9, 3)).astype(np.float32)
    f = LabColor((1, 3))
    assert f.names == ["lab_L_s1", "lab_a_s1", "lab_b_s1", "lab_L_s3", "lab_a_s3", "lab_b_s3"]
    out = f(rgb)
    assert out.shape == (7, 9, 6) and out.dtype == np.float32
    lab = rgb2lab(rgb.astype(np.float64)) / 100
    for i, s in enumerate((1, 3)):
        for c in range(3):
            expected = ndi.gaussian_filter(lab[..., c], s, mode="reflect")
            np.testing.assert_allclose(out[..., 3 * i + c], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(lab_stack(rgb, (1, 3)), out)


def test_lab_needs_rgb(rng):
    with pytest.raises(ValueError, match="RGB"):
        LabColor()(rng.random((7, 9)))
    with pytest.raises(ValueError):
        LabColor()(rng.random((7, 9, 4)))
