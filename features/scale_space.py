"""Gaussian scale space: smoothing, DoG, LoG, gradient magnitude, Hessian and
structure-tensor eigenvalues.

All derivatives are exact Gaussian derivatives (``scipy.ndimage.gaussian_filter``
with ``order``, see :func:`gaussian_derivative`; float32 images by the numba
kernel of :mod:`features._separable`), borders ``'reflect'``. LoG and Hessian responses are
scale-normalised by ``sigma**2`` and gradient magnitudes by ``sigma``, so
their magnitudes are comparable across scales. The plain functions accept a
2-D image or an RGB image (reduced to luminance). Huge images are filtered
in float64 (see :mod:`features.base`), so the squared terms of the gradient
magnitude, the eigenvalues and the structure tensor never overflow.
"""
import numpy as np

from ._separable import gaussian_derivative_2d
from .base import ImageFilter, as_gray, check_positive, fmt, planes_to_stack, to_float32


def _gaussian_derivative(gray, sigma, order=(0, 0), memo=None):
    """:func:`gaussian_derivative` of a validated 2-D image, in its precision, memoised.

    ``memo``: results are looked up in / stored into it (see
    :meth:`features.base.Filter._planes`); the returned array must then not
    be modified.
    """
    order = (int(order[0]), int(order[1]))
    key = ("gauss", float(sigma), order)
    if memo is not None and key in memo:
        return memo[key]
    out = gaussian_derivative_2d(gray, sigma, order)
    if memo is not None:
        memo[key] = out
    return out


def gaussian_derivative(image, sigma, order=(0, 0)):
    """Gaussian derivative ``d^(oy+ox) / dy^oy dx^ox (G_sigma * gray)``, float32.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        RGB images are reduced to luminance.
    sigma : float
    order : (int, int)
        Derivative orders along rows and columns.

    Returns
    -------
    out : ndarray of float32, shape (H, W)

    Examples
    --------
    >>> ramp = np.tile(np.arange(9, dtype=np.float32), (9, 1))
    >>> round(float(gaussian_derivative(ramp, 1.0, (0, 1))[4, 4]), 3)
    1.0
    """
    (sigma,) = check_positive(sigma, "sigma")
    return to_float32(_gaussian_derivative(as_gray(image), sigma, order))


def _eig_sym2x2(a, b, c):
    """Eigenvalues ``(larger, smaller)`` of ``[[a, b], [b, c]]``, elementwise."""
    half_trace = 0.5 * (a + c)
    root = np.sqrt((0.5 * (a - c)) ** 2 + b * b)
    return half_trace + root, half_trace - root


# --- plane builders: 2-D float32 image -> (F, H, W) ------------------------------------


def _gaussian_planes(gray, sigmas, memo=None):
    return np.stack([_gaussian_derivative(gray, s, memo=memo) for s in sigmas])


def _dog_planes(gray, sigmas, memo=None):
    g = _gaussian_planes(gray, sigmas, memo)
    return g[:-1] - g[1:]


def _log_planes(gray, sigmas, memo=None):
    out = []
    for s in sigmas:
        lap = _gaussian_derivative(gray, s, (2, 0), memo) + _gaussian_derivative(gray, s, (0, 2), memo)
        out.append(np.float32(s * s) * lap)
    return np.stack(out)


def _gradient(gray, sigma, memo=None):
    return _gaussian_derivative(gray, sigma, (1, 0), memo), _gaussian_derivative(gray, sigma, (0, 1), memo)


def _gradient_magnitude_planes(gray, sigmas, memo=None):
    out = []
    for s in sigmas:
        gy, gx = _gradient(gray, s, memo)
        out.append(np.float32(s) * np.sqrt(gy * gy + gx * gx))
    return np.stack(out)


def _hessian_planes(gray, sigmas, memo=None):
    out = []
    for s in sigmas:
        k = np.float32(s * s)
        hyy, hxy, hxx = (k * _gaussian_derivative(gray, s, o, memo) for o in ((2, 0), (1, 1), (0, 2)))
        out.extend(_eig_sym2x2(hyy, hxy, hxx))
    return np.stack(out)


def _structure_tensor_planes(gray, sigma, rhos, memo=None):
    gy, gx = _gradient(gray, sigma, memo)
    products = (gy * gy, gy * gx, gx * gx)
    out = []
    for rho in rhos:
        jyy, jyx, jxx = (gaussian_derivative_2d(p, rho) for p in products)
        big, small = _eig_sym2x2(jyy, jyx, jxx)
        out.extend((big, np.maximum(small, 0)))
    return np.stack(out)


# --- plain functions: image -> (H, W, F) ---------------------------------------------


def gaussian_stack(image, sigmas=(1, 2, 4, 8)):
    """Gaussian-smoothed copies of a 2-D image, one per sigma.

    Returns
    -------
    out : ndarray of float32, shape (H, W, len(sigmas))

    Examples
    --------
    >>> gaussian_stack(np.ones((5, 6)), (1, 2)).shape
    (5, 6, 2)
    """
    return planes_to_stack(_gaussian_planes(as_gray(image), check_positive(sigmas, "sigmas")))


def dog_stack(image, sigmas=(1, 2, 4, 8)):
    """Differences of Gaussians ``G(sigma_i) - G(sigma_{i+1})`` of consecutive sigmas.

    Returns
    -------
    out : ndarray of float32, shape (H, W, len(sigmas) - 1)

    Examples
    --------
    >>> dog_stack(np.ones((5, 6)), (1, 2, 4)).shape
    (5, 6, 2)
    """
    return planes_to_stack(_dog_planes(as_gray(image), check_positive(sigmas, "sigmas")))


def log_stack(image, sigmas=(1, 2, 4, 8)):
    """Scale-normalised Laplacian of Gaussian ``sigma**2 * (G_yy + G_xx)``.

    Examples
    --------
    >>> bool(np.abs(log_stack(np.ones((5, 6)), (1,))).max() < 1e-3)  # flat image
    True
    """
    return planes_to_stack(_log_planes(as_gray(image), check_positive(sigmas, "sigmas")))


def gradient_magnitude(image, sigmas=(1, 2, 4)):
    """Scale-normalised Gaussian gradient magnitude ``sigma * |grad G_sigma * I|``.

    Examples
    --------
    >>> ramp = np.tile(np.arange(20.0), (20, 1))
    >>> round(float(gradient_magnitude(ramp, (1,))[10, 10, 0]), 3)
    1.0
    """
    return planes_to_stack(_gradient_magnitude_planes(as_gray(image), check_positive(sigmas, "sigmas")))


def hessian_eigenvalues(image, sigmas=(1, 2, 4)):
    """Eigenvalues of the scale-normalised Gaussian Hessian ``sigma**2 * H``.

    Returns
    -------
    out : ndarray of float32, shape (H, W, 2 * len(sigmas))
        Per sigma the larger then the smaller eigenvalue.

    Examples
    --------
    >>> bowl = np.add.outer(np.arange(-5.0, 6) ** 2, np.zeros(11))  # I = y**2
    >>> (np.round(hessian_eigenvalues(bowl, (1,))[5, 5], 2) + 0.0).tolist()
    [2.0, 0.0]
    """
    return planes_to_stack(_hessian_planes(as_gray(image), check_positive(sigmas, "sigmas")))


def structure_tensor_eigenvalues(image, sigma=1.0, rhos=(2, 4)):
    """Eigenvalues of the structure tensor ``G_rho * (grad I grad I^T)``.

    The gradient is the Gaussian derivative at ``sigma`` (inner scale); the
    products are averaged with a Gaussian of each integration scale ``rho``.

    Returns
    -------
    out : ndarray of float32, shape (H, W, 2 * len(rhos))
        Per rho the larger then the smaller eigenvalue (clipped at 0).

    Examples
    --------
    >>> ramp = np.tile(np.arange(20.0), (20, 1))
    >>> (np.round(structure_tensor_eigenvalues(ramp, 1, (2,))[10, 10], 3) + 0.0).tolist()
    [1.0, 0.0]
    """
    (sigma,) = check_positive(sigma, "sigma")
    return planes_to_stack(_structure_tensor_planes(as_gray(image), sigma, check_positive(rhos, "rhos")))


# --- filters --------------------------------------------------------------------------


class _SigmasFilter(ImageFilter):
    prefix = ""

    def __init__(self, sigmas):
        self.sigmas = check_positive(sigmas, "sigmas")


class GaussianFilter(_SigmasFilter):
    """Gaussian smoothing at several scales (see :func:`gaussian_stack`).

    Examples
    --------
    >>> GaussianFilter((1, 4)).names
    ['gauss_s1', 'gauss_s4']
    """

    def __init__(self, sigmas=(1, 2, 4, 8)):
        super().__init__(sigmas)

    @property
    def names(self):
        return [f"gauss_s{fmt(s)}" for s in self.sigmas]

    def _compute(self, gray, memo):
        return _gaussian_planes(gray, self.sigmas, memo)


class DoGFilter(_SigmasFilter):
    """Differences of Gaussians of consecutive sigmas (see :func:`dog_stack`).

    Examples
    --------
    >>> DoGFilter((1, 2, 4)).names
    ['dog_s1_s2', 'dog_s2_s4']
    """

    def __init__(self, sigmas=(1, 2, 4, 8)):
        super().__init__(sigmas)
        if len(self.sigmas) < 2:
            raise ValueError("DoGFilter needs at least two sigmas")

    @property
    def names(self):
        return [f"dog_s{fmt(a)}_s{fmt(b)}" for a, b in zip(self.sigmas[:-1], self.sigmas[1:])]

    def _compute(self, gray, memo):
        return _dog_planes(gray, self.sigmas, memo)


class LoGFilter(_SigmasFilter):
    """Scale-normalised Laplacian of Gaussian (see :func:`log_stack`).

    Examples
    --------
    >>> LoGFilter((1, 2)).names
    ['log_s1', 'log_s2']
    """

    def __init__(self, sigmas=(1, 2, 4, 8)):
        super().__init__(sigmas)

    @property
    def names(self):
        return [f"log_s{fmt(s)}" for s in self.sigmas]

    def _compute(self, gray, memo):
        return _log_planes(gray, self.sigmas, memo)


class GradientMagnitude(_SigmasFilter):
    """Gaussian gradient magnitude (see :func:`gradient_magnitude`).

    Examples
    --------
    >>> GradientMagnitude((1, 2)).names
    ['gmag_s1', 'gmag_s2']
    """

    def __init__(self, sigmas=(1, 2, 4)):
        super().__init__(sigmas)

    @property
    def names(self):
        return [f"gmag_s{fmt(s)}" for s in self.sigmas]

    def _compute(self, gray, memo):
        return _gradient_magnitude_planes(gray, self.sigmas, memo)


class HessianEigenvalues(_SigmasFilter):
    """Hessian eigenvalues, larger then smaller, per scale (see :func:`hessian_eigenvalues`).

    Examples
    --------
    >>> HessianEigenvalues((1,)).names
    ['hess_s1_max', 'hess_s1_min']
    """

    def __init__(self, sigmas=(1, 2, 4)):
        super().__init__(sigmas)

    @property
    def names(self):
        return [f"hess_s{fmt(s)}_{k}" for s in self.sigmas for k in ("max", "min")]

    def _compute(self, gray, memo):
        return _hessian_planes(gray, self.sigmas, memo)


class StructureTensorEigenvalues(ImageFilter):
    """Structure-tensor eigenvalues per integration scale (see
    :func:`structure_tensor_eigenvalues`).

    Examples
    --------
    >>> StructureTensorEigenvalues(1, (2,)).names
    ['st_r2_max', 'st_r2_min']
    """

    def __init__(self, sigma=1.0, rhos=(2, 4)):
        (self.sigma,) = check_positive(sigma, "sigma")
        self.rhos = check_positive(rhos, "rhos")

    @property
    def names(self):
        return [f"st_r{fmt(r)}_{k}" for r in self.rhos for k in ("max", "min")]

    def _compute(self, gray, memo):
        return _structure_tensor_planes(gray, self.sigma, self.rhos, memo)
