import numpy as np
import pytest

from features._gaussian import (gaussian_kernel, gaussian_planes, gaussian_planes_reference,
                                gaussian_rows_channels_last, gaussian_rows_channels_last_reference)


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


@pytest.mark.parametrize("shape, sigma, first, rows", [((3, 40, 37), 2.0, 0, 40), ((5, 30, 70), 2.0, 9, 12),
                                                       ((2, 5, 4), 3.0, 1, 3), ((4, 17, 23), 0.7, 16, 1)])
def test_rows_channels_last_match_the_reference(rng, shape, sigma, first, rows):
    x = rng.standard_normal(shape).astype(np.float32)
    stack = np.full((rows, shape[2], shape[0] + 3), -7, np.float32)
    got = gaussian_rows_channels_last(x, sigma, first, stack[..., 2:2 + shape[0]])  # a view
    want = gaussian_rows_channels_last_reference(x.astype(np.float64), sigma, first,
                                                 np.empty((rows, shape[2], shape[0])))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-6)
    assert (stack[..., :2] == -7).all() and (stack[..., -1] == -7).all()  # nothing else written
    # the same float32 arithmetic as smoothing whole planes
    np.testing.assert_array_equal(got, np.moveaxis(gaussian_planes(x, sigma)[:, first:first + rows], 0, -1))


def test_rows_channels_last_reject_rows_outside(rng):
    x = rng.standard_normal((2, 6, 5)).astype(np.float32)
    with pytest.raises(ValueError, match="outside"):
        gaussian_rows_channels_last(x, 1.0, 4, np.empty((3, 5, 2), np.float32))
