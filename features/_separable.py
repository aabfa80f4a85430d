"""Gaussian derivatives of a float32 image: a numba kernel beside its scipy reference.

``gaussian_derivative_2d(image, sigma, order)`` is
``scipy.ndimage.gaussian_filter(image, sigma, order=order, mode="reflect")`` for
a float32 2-D image: the same sampled kernels (``truncate=4``), the same
``'reflect'`` borders (``d c b a | a b c d``), in float32 arithmetic where
scipy works in float64. Every Gaussian-derivative kernel is symmetric (even
order) or antisymmetric (odd order), so mirrored samples are added or
subtracted before they are weighted: half the multiplications, and, as in
scipy, an odd derivative of a flat image is exactly 0.
"""
import numpy as np
from numba import njit
from scipy import ndimage as ndi

from ._gaussian import _reflect, derivative_weights

__all__ = ["gaussian_derivative_2d", "gaussian_derivative_2d_reference"]


def gaussian_derivative_2d_reference(image, sigma, order=(0, 0)):
    """``scipy.ndimage.gaussian_filter(image, sigma, order=order, mode="reflect")``."""
    return ndi.gaussian_filter(image, sigma, order=order, mode="reflect")


@njit(cache=True, nogil=True)
def _pairs(a, b, sign, kt, out):
    """``out += kt * (a + sign * b)``, elementwise."""
    if sign > 0:
        for j in range(len(out)):
            out[j] += kt * (a[j] + b[j])
    else:
        for j in range(len(out)):
            out[j] += kt * (a[j] - b[j])


@njit(cache=True, nogil=True)
def _derivative_kernel(image, ky, sign_y, kx, sign_x, out):
    h, w = image.shape
    ry, rx = len(ky) // 2, len(kx) // 2
    col = np.empty(w, np.float32)
    buf = np.empty(w + 2 * rx, np.float32)
    for i in range(h):
        centre, kc = image[_reflect(i, h)], ky[ry]
        for j in range(w):
            col[j] = kc * centre[j]
        for t in range(ry):  # down the columns: taps t and 2 ry - t together
            _pairs(image[_reflect(i + t - ry, h)], image[_reflect(i + ry - t, h)], sign_y, ky[t], col)
        for j in range(w + 2 * rx):  # then along the row, from a reflected copy
            buf[j] = col[_reflect(j - rx, w)]
        row, kc = out[i], kx[rx]
        for j in range(w):
            row[j] = kc * buf[j + rx]
        for t in range(rx):
            _pairs(buf[t:t + w], buf[2 * rx - t:2 * rx - t + w], sign_x, kx[t], row)
    return out


def gaussian_derivative_2d(image, sigma, order=(0, 0)):
    """Gaussian derivative of order ``(rows, columns)`` of a 2-D image, borders ``'reflect'``.

    Float32 C-contiguous images go through the numba kernel (float32
    arithmetic); any other input through
    :func:`gaussian_derivative_2d_reference` (scipy, float64 arithmetic).
    """
    if image.dtype != np.float32 or image.ndim != 2 or not image.flags.c_contiguous:
        return gaussian_derivative_2d_reference(image, sigma, order)
    oy, ox = int(order[0]), int(order[1])
    ky, kx = (derivative_weights(sigma, o).astype(np.float32) for o in (oy, ox))
    return _derivative_kernel(image, ky, 1 - 2 * (oy % 2), kx, 1 - 2 * (ox % 2), np.empty_like(image))
