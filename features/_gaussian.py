"""Gaussian smoothing of a stack of planes: a numba kernel beside its scipy reference.

``gaussian_planes(x, sigma)`` is ``scipy.ndimage.gaussian_filter(x, (0, sigma, sigma),
mode="reflect")`` for a float32 stack ``(n, H, W)``: the same sampled kernel
(``truncate=4``), the same ``'reflect'`` borders (``d c b a | a b c d``), in
float32 arithmetic where scipy works in float64. Each pass runs along
contiguous rows, so it vectorises: on a stack of 128 planes of 256 x 256 it
takes less than half the time of scipy's.
"""
import numpy as np
from numba import njit
from scipy import ndimage as ndi

__all__ = ["derivative_weights", "gaussian_kernel", "gaussian_planes", "gaussian_planes_reference",
           "gaussian_rows_channels_last", "gaussian_rows_channels_last_reference"]


def derivative_weights(sigma, order, truncate=4.0):
    """The correlation weights of ``scipy.ndimage.gaussian_filter1d(..., sigma, order)``.

    float64 ``(2r + 1,)``, ``r = int(truncate * sigma + 0.5)``: the normalised
    Gaussian ``phi`` for order 0, ``-x / sigma**2 phi`` for order 1 and
    ``(x**2 / sigma**4 - 1 / sigma**2) phi`` for order 2, reversed (a
    convolution kernel applied as a correlation).
    """
    sigma, order = float(sigma), int(order)
    if order not in (0, 1, 2):
        raise ValueError(f"order must be 0, 1 or 2, got {order}")
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    phi = np.exp(-0.5 * (x / sigma) ** 2)
    phi /= phi.sum()
    if order == 1:
        phi = -x / sigma ** 2 * phi
    elif order == 2:
        phi = (x * x / sigma ** 4 - 1 / sigma ** 2) * phi
    return phi[::-1].copy()


def gaussian_kernel(sigma, truncate=4.0):
    """The normalised 1-D Gaussian of ``scipy.ndimage.gaussian_filter1d``: float32 ``(2r + 1,)``,
    ``r = int(truncate * sigma + 0.5)`` (:func:`derivative_weights` of order 0)."""
    return derivative_weights(sigma, 0, truncate).astype(np.float32)


def gaussian_planes_reference(x, sigma):
    """``scipy.ndimage.gaussian_filter`` over the last two axes, ``'reflect'`` borders."""
    return ndi.gaussian_filter(x, (0, sigma, sigma), mode="reflect")


@njit(cache=True, nogil=True)
def _reflect(i, n):
    """Index ``i`` folded into ``0 .. n - 1`` by half-sample reflection, as often as needed."""
    while i < 0 or i >= n:
        i = -i - 1 if i < 0 else 2 * n - i - 1
    return i


@njit(cache=True, nogil=True)
def _smooth_row(plane, i, k, col, buf, row):
    """Row ``i`` of the smoothed ``plane`` (H, W) into ``row`` (W,); ``col``, ``buf`` are scratch."""
    h, w = plane.shape
    r = (len(k) - 1) // 2
    col[:] = 0
    for t in range(len(k)):  # down the columns: a weighted sum of whole rows
        src = plane[_reflect(i + t - r, h)]
        kt = k[t]
        for j in range(w):
            col[j] += kt * src[j]
    for j in range(w + 2 * r):  # then along the row, from a reflected copy
        buf[j] = col[_reflect(j - r, w)]
    row[:] = 0
    for t in range(len(k)):
        kt = k[t]
        for j in range(w):
            row[j] += kt * buf[j + t]


@njit(cache=True, nogil=True)
def _smooth_kernel(x, k, out):
    n, h, w = x.shape
    col = np.empty(w, np.float32)
    buf = np.empty(w + len(k) - 1, np.float32)
    for p in range(n):
        for i in range(h):
            _smooth_row(x[p], i, k, col, buf, out[p, i])
    return out


_BLOCK = 32  # columns per block of the in-cache transposition


@njit(cache=True, nogil=True)
def _smooth_rows_channels_last_kernel(x, k, first, out):
    n, h, w = x.shape
    col = np.empty(w, np.float32)
    buf = np.empty(w + len(k) - 1, np.float32)
    rows = np.empty((n, w), np.float32)  # one smoothed row of every plane, in cache
    for ii in range(out.shape[0]):
        for p in range(n):
            _smooth_row(x[p], first + ii, k, col, buf, rows[p])
        for j0 in range(0, w, _BLOCK):
            for j in range(j0, min(j0 + _BLOCK, w)):
                for p in range(n):
                    out[ii, j, p] = rows[p, j]
    return out


def gaussian_planes(x, sigma):
    """Gaussian smoothing (scale ``sigma`` px) of each plane of ``x`` (n, H, W), borders ``'reflect'``.

    float32 C-contiguous stacks go through the numba kernel; any other input
    through :func:`gaussian_planes_reference`. ``sigma`` 0 returns ``x``.
    """
    if sigma == 0:
        return x
    if x.dtype != np.float32 or x.ndim != 3 or not x.flags.c_contiguous:
        return gaussian_planes_reference(x, sigma)
    return _smooth_kernel(x, gaussian_kernel(sigma), np.empty_like(x))


def gaussian_rows_channels_last_reference(x, sigma, first, out):
    """Rows ``first .. first + len(out) - 1`` of ``gaussian_planes_reference(x, sigma)``,
    written channels-last into ``out`` (rows, W, n)."""
    smooth = gaussian_planes_reference(x, sigma) if sigma else x
    out[...] = np.moveaxis(smooth[:, first:first + out.shape[0]], 0, -1)
    return out


def gaussian_rows_channels_last(x, sigma, first, out):
    """Rows ``first ..`` of :func:`gaussian_planes` of ``x`` (n, H, W), channels-last in ``out``.

    One pass instead of smoothing every plane and then transposing the stack
    (:func:`features._layout.planes_to_channels_last`): each output row of
    all planes is smoothed into a cache-resident buffer and transposed from
    there. ``out`` (rows, W, n) may be a view, e.g. a block of columns of a
    larger feature stack. The same float32 arithmetic as :func:`gaussian_planes`.
    """
    if not (0 <= first and first + out.shape[0] <= x.shape[1]):
        raise ValueError(f"rows {first} .. {first + out.shape[0] - 1} are outside {x.shape[1]} rows")
    if (sigma == 0 or x.dtype != np.float32 or out.dtype != np.float32 or x.ndim != 3
            or not x.flags.c_contiguous):
        return gaussian_rows_channels_last_reference(x, sigma, first, out)
    return _smooth_rows_channels_last_kernel(x, gaussian_kernel(sigma), first, out)
