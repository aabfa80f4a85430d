import numpy as np
import pytest
from scipy import ndimage as ndi

from features import (
    DoGFilter,
    GaussianFilter,
    GradientMagnitude,
    HessianEigenvalues,
    LoGFilter,
    StructureTensorEigenvalues,
    dog_stack,
    gaussian_stack,
    gradient_magnitude,
    hessian_eigenvalues,
    log_stack,
    structure_tensor_eigenvalues,
)

from .helpers import tiny_image

TOL = dict(rtol=1e-5, atol=1e-6)


def test_gaussian_matches_scipy(rng):
    image = tiny_image(rng)
    out = GaussianFilter((0.5, 1, 3))(image)
    assert out.shape == (7, 9, 3) and out.dtype == np.float32
    for i, s in enumerate((0.5, 1, 3)):
        np.testing.assert_allclose(out[..., i], ndi.gaussian_filter(image.astype(np.float64), s, mode="reflect"), **TOL)
    np.testing.assert_array_equal(gaussian_stack(image, (0.5, 1, 3)), out)


def test_dog_is_difference_of_consecutive_gaussians(rng):
    image = tiny_image(rng)
    f = DoGFilter((1, 2, 4))
    assert f.names == ["dog_s1_s2", "dog_s2_s4"]
    out = f(image)
    g = [ndi.gaussian_filter(image.astype(np.float64), s) for s in (1, 2, 4)]
    np.testing.assert_allclose(out[..., 0], g[0] - g[1], **TOL)
    np.testing.assert_allclose(out[..., 1], g[1] - g[2], **TOL)
    np.testing.assert_array_equal(dog_stack(image, (1, 2, 4)), out)
    with pytest.raises(ValueError):
        DoGFilter((1,))


def test_log_matches_scipy_gaussian_laplace(rng):
    image = tiny_image(rng)
    out = LoGFilter((1, 2.5))(image)
    for i, s in enumerate((1, 2.5)):
        expected = s * s * ndi.gaussian_laplace(image.astype(np.float64), s, mode="reflect")
        np.testing.assert_allclose(out[..., i], expected, **TOL)
    np.testing.assert_array_equal(log_stack(image, (1, 2.5)), out)


def test_gradient_magnitude_matches_scipy(rng):
    image = tiny_image(rng)
    out = GradientMagnitude((1, 2))(image)
    for i, s in enumerate((1, 2)):
        expected = s * ndi.gaussian_gradient_magnitude(image.astype(np.float64), s, mode="reflect")
        np.testing.assert_allclose(out[..., i], expected, **TOL)
    np.testing.assert_array_equal(gradient_magnitude(image, (1, 2)), out)


def test_hessian_eigenvalues_match_eigvalsh(rng):
    image = tiny_image(rng).astype(np.float64)
    sigmas = (1, 2)
    f = HessianEigenvalues(sigmas)
    assert f.names == ["hess_s1_max", "hess_s1_min", "hess_s2_max", "hess_s2_min"]
    out = f(image)
    assert out.shape == (7, 9, 4) and out.dtype == np.float32
    for i, s in enumerate(sigmas):
        d = {o: s * s * ndi.gaussian_filter(image, s, order=o) for o in ((2, 0), (1, 1), (0, 2))}
        for y in range(7):
            for x in range(9):
                m = np.array([[d[2, 0][y, x], d[1, 1][y, x]], [d[1, 1][y, x], d[0, 2][y, x]]])
                lo, hi = np.linalg.eigvalsh(m)
                np.testing.assert_allclose(out[y, x, 2 * i:2 * i + 2], [hi, lo], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(hessian_eigenvalues(image, sigmas), out)


def test_structure_tensor_eigenvalues_match_eigvalsh(rng):
    image = tiny_image(rng).astype(np.float64)
    f = StructureTensorEigenvalues(sigma=1, rhos=(1.5, 3))
    assert f.names == ["st_r1.5_max", "st_r1.5_min", "st_r3_max", "st_r3_min"]
    out = f(image)
    gy = ndi.gaussian_filter(image, 1, order=(1, 0))
    gx = ndi.gaussian_filter(image, 1, order=(0, 1))
    for i, rho in enumerate((1.5, 3)):
        jyy, jyx, jxx = (ndi.gaussian_filter(p, rho) for p in (gy * gy, gy * gx, gx * gx))
        for y in range(7):
            for x in range(9):
                lo, hi = np.linalg.eigvalsh([[jyy[y, x], jyx[y, x]], [jyx[y, x], jxx[y, x]]])
                np.testing.assert_allclose(out[y, x, 2 * i:2 * i + 2], [hi, max(lo, 0)], rtol=1e-4, atol=1e-6)
    assert (out >= 0).all()
    np.testing.assert_array_equal(structure_tensor_eigenvalues(image, 1, (1.5, 3)), out)


def test_oriented_structure():
    # Vertical stripes vary along x only: Hessian and structure tensor see one direction.
    stripes = np.tile(np.sin(np.arange(40) * 2 * np.pi / 8), (40, 1)).astype(np.float32)
    st = structure_tensor_eigenvalues(stripes, 1, (4,))[20, 20]
    assert st[0] > 0.05 and st[1] < 1e-4 * st[0]
    hess = hessian_eigenvalues(stripes, (1,))
    assert np.abs(hess[15:25, 15:25]).min(axis=-1).max() < 1e-4  # one eigenvalue ~ 0 everywhere


@pytest.mark.parametrize("cls", [GaussianFilter, LoGFilter, GradientMagnitude, HessianEigenvalues])
def test_bad_sigmas_raise(cls):
    with pytest.raises(ValueError, match="sigmas"):
        cls((1, -2))
    with pytest.raises(ValueError, match="sigmas"):
        cls(())


def test_rgb_input_uses_luminance(rng):
    from features.base import luminance

    rgb = rng.random((7, 9, 3)).astype(np.float32)
    f = HessianEigenvalues((1,))
    np.testing.assert_array_equal(f(rgb), f(luminance(rgb)))
    np.testing.assert_array_equal(gaussian_stack(rgb, (1,)), gaussian_stack(luminance(rgb), (1,)))
