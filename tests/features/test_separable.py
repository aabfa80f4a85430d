import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from features._gaussian import derivative_weights
from features._separable import gaussian_derivative_2d, gaussian_derivative_2d_reference


@pytest.mark.parametrize("sigma", [0.7, 1.0, 2.5, 8.0])
@pytest.mark.parametrize("order", [0, 1, 2])
def test_weights_are_those_of_scipy(sigma, order):
    w = derivative_weights(sigma, order)
    r = len(w) // 2
    assert r == int(4 * sigma + 0.5)
    impulse = np.zeros(4 * r + 1)
    impulse[2 * r] = 1
    # correlating an impulse with w gives w reversed around the impulse
    response = gaussian_filter1d(impulse, sigma, order=order, mode="constant")
    np.testing.assert_allclose(w[::-1], response[r:3 * r + 1], atol=1e-15)


@pytest.mark.parametrize("shape", [(40, 37), (5, 4), (1, 9), (17, 1)])
@pytest.mark.parametrize("sigma", [1.0, 3.0, 0.7])
@pytest.mark.parametrize("order", [(0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2)])
def test_kernel_matches_scipy(rng, shape, sigma, order):
    x = rng.standard_normal(shape).astype(np.float32)  # small shapes: several reflections
    got = gaussian_derivative_2d(x, sigma, order)
    want = gaussian_derivative_2d_reference(x.astype(np.float64), sigma, order)
    assert got.dtype == np.float32 and got.shape == shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-6)


def test_odd_derivatives_of_a_flat_image_are_exactly_zero():
    flat = np.full((30, 41), 0.7, np.float32)
    for order in [(1, 0), (0, 1), (1, 1), (2, 1)]:
        assert not gaussian_derivative_2d(flat, 2.0, order).any()
    np.testing.assert_allclose(gaussian_derivative_2d(flat, 2.0), 0.7, rtol=1e-6)


def test_other_inputs_take_the_reference(rng):
    x = rng.random((9, 8))
    np.testing.assert_array_equal(gaussian_derivative_2d(x, 1.5, (1, 0)),
                                  gaussian_derivative_2d_reference(x, 1.5, (1, 0)))
    strided = rng.random((9, 16)).astype(np.float32)[:, ::2]
    np.testing.assert_allclose(gaussian_derivative_2d(strided, 1.5),
                               gaussian_derivative_2d_reference(strided, 1.5))
    with pytest.raises(ValueError, match="order"):
        derivative_weights(1.0, 3)
