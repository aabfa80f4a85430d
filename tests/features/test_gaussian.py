import numpy as np
import pytest

from features._gaussian import gaussian_kernel, gaussian_planes, gaussian_planes_reference


@pytest.mark.parametrize("shape, sigma", [((3, 40, 37), 2.0), ((2, 5, 4), 3.0), ((1, 1, 9), 1.0),
                                          ((4, 17, 23), 0.7)])
def test_kernel_matches_scipy_gaussian_with_reflected_borders(rng, shape, sigma):
    x = rng.standard_normal(shape).astype(np.float32)  # (2, 5, 4) at sigma 3: several reflections
    got = gaussian_planes(x, sigma)
    want = gaussian_planes_reference(x.astype(np.float64), sigma)
    assert got.dtype == np.float32 and got.shape == shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-6)


def test_kernel_weights_are_those_of_scipy(rng):
    from scipy.ndimage import gaussian_filter1d
    impulse = np.zeros(41)
    impulse[20] = 1
    k = gaussian_kernel(2.5)
    assert len(k) == 2 * int(4 * 2.5 + 0.5) + 1
    np.testing.assert_allclose(k, gaussian_filter1d(impulse, 2.5, mode="constant")[20 - 10:20 + 11],
                               rtol=1e-6)


def test_other_inputs_take_the_reference_and_zero_sigma_is_identity(rng):
    x = rng.random((2, 9, 8))
    np.testing.assert_array_equal(gaussian_planes(x, 1.5), gaussian_planes_reference(x, 1.5))
    strided = rng.random((2, 9, 16)).astype(np.float32)[:, :, ::2]
    np.testing.assert_allclose(gaussian_planes(strided, 1.5), gaussian_planes_reference(strided, 1.5))
    assert gaussian_planes(x, 0) is x
