"""Numba kernels of the image-guided total variations, with numpy references (internal).

The kernels evaluate the penalties of :mod:`chm._edge_penalties` with the
conventions of :mod:`chm.penalties` (Sobel correlations, "valid" centres,
``sign(0) = 0``): :func:`_edge_tv_kernel` for
:class:`~chm._edge_penalties.EdgeAwareTV` and :func:`_curvilinear_tv_kernel`
for :class:`~chm._edge_penalties.CurvilinearTV`, each computing the value and
the subgradient in one call.  :func:`_edge_tv_reference` and
:func:`_curvilinear_tv_reference` are the plain numpy definitions (built on
``sobel_responses`` and ``sobel_adjoint``) against which the kernels are
tested.  All arithmetic on the map is float32; values are accumulated in
float64.  Every kernel is compiled with ``cache=True`` and ``nogil=True``.
"""
import numpy as np
from numba import njit

from ._tv_kernels import _row_sum
from ._tv_reference import sobel_adjoint, sobel_responses


@njit(cache=True, nogil=True)
def _channel_ranges(guide):
    """Whether a (H, W, G) array is finite, and each channel's min and max (one pass)."""
    H, W, G = guide.shape
    flat = guide.reshape(H * W, G)
    low = np.empty(G, np.float32)
    high = np.empty(G, np.float32)
    nonfinite = 0
    for k in range(G):
        lo = np.float32(np.inf)
        hi = np.float32(-np.inf)
        for n in range(H * W):
            v = flat[n, k]
            nonfinite += np.int32(not (v - v == v - v))  # v - v is NaN for NaN and inf
            lo = min(lo, v)
            hi = max(hi, v)
        low[k] = lo
        high[k] = hi
    return nonfinite == 0, low, high


def _centre(plane, ndim):
    """Guide plane (H, W) at the valid Sobel centres, shaped to broadcast
    against the Sobel responses of a map with ``ndim`` dimensions."""
    inner = plane[1:-1, 1:-1]
    return inner if ndim == 2 else inner[..., None]


def _sign(x):
    return np.sign(x).astype(np.float32, copy=False)


def _sum(x):
    return float(np.sum(x, dtype=np.float64))


# ---------------------------------------------------------------------------
# numpy references
# ---------------------------------------------------------------------------
def _edge_tv_reference(f, weights):
    """EdgeAwareTV value (eq. 2) and subgradient (eq. 3), plain numpy.

    ``f``: checked float32 map (H, W) or (H, W, C); ``weights``: checked
    float32 guide (H, W, 1).
    """
    w = _centre(weights[..., 0], f.ndim)
    gx, gy = sobel_responses(f)
    value = _sum(w * (np.abs(gx) + np.abs(gy)))
    return value, sobel_adjoint(w * _sign(gx), w * _sign(gy), f.shape)


def _curvilinear_tv_reference(f, guide):
    """CurvilinearTV value (eq. 2) and subgradient (eq. 5), plain numpy.

    ``f``: checked float32 map (H, W) or (H, W, C); ``guide``: checked
    float32 guide (H, W, 3).
    """
    t_row, t_col, c = (_centre(guide[..., i], f.ndim) for i in range(3))
    gx, gy = sobel_responses(f)
    along = t_row * gx + t_col * gy
    value = _sum(c * np.abs(along) + (1 - c) * (np.abs(gx) + np.abs(gy)))
    directional = c * _sign(along)
    plain = 1 - c
    wx = directional * t_row + plain * _sign(gx)
    wy = directional * t_col + plain * _sign(gy)
    return value, sobel_adjoint(wx, wy, f.shape)


# ---------------------------------------------------------------------------
# numba kernels
# ---------------------------------------------------------------------------
# The kernels make two passes over each channel.  The first computes, row by row,
# the Sobel responses of every valid centre and the partial derivatives ``wx``,
# ``wy`` of its term into buffers padded by one pixel (zero outside the valid
# centres); the second *gathers* the subgradient (the Sobel adjoint), each output
# pixel written once from the eight neighbouring buffer entries.  Neither inner loop
# has a loop-carried dependency, so both vectorise.  The Sobel responses use the
# float32 operations of ``sobel_responses``, so the signs agree with the numpy
# references; the value is accumulated in float64, one row at a time.
@njit(cache=True, nogil=True)
def _sign32(x):
    one = np.float32(1.0)
    zero = np.float32(0.0)
    return (one if x > zero else zero) - (one if x < zero else zero)


@njit(cache=True, nogil=True)
def _adjoint_gather(wx, wy, g):
    """``g = sobel_adjoint(wx, wy)`` from the padded (H + 2, W + 2) buffers.

    The centre ``(i, j)`` sits at ``wx[i + 1, j + 1]``; output pixel ``(p, q)``
    gathers ``sum_{a, b} SOBEL_X[a, b] wx[p + 2 - a, q + 2 - b]`` and likewise
    with ``SOBEL_Y`` and ``wy``.
    """
    H, W = g.shape
    two = np.float32(2.0)
    for p in range(H):
        up_x, down_x = wx[p], wx[p + 2]
        up_y, mid_y, down_y = wy[p], wy[p + 1], wy[p + 2]
        gp = g[p]
        for q in range(W):
            gp[q] = ((up_x[q] + two * up_x[q + 1] + up_x[q + 2])
                     - (down_x[q] + two * down_x[q + 1] + down_x[q + 2])
                     + (up_y[q] + two * mid_y[q] + down_y[q])
                     - (up_y[q + 2] + two * mid_y[q + 2] + down_y[q + 2]))


@njit(cache=True, nogil=True)
def _edge_tv_kernel(planes, weights, grad):
    """Value (eq. 2) and subgradient (eq. 3) of :class:`~chm._edge_penalties.EdgeAwareTV`.

    ``planes``: (C, H, W) float32 map; ``weights``: (H, W) float32 weights;
    ``grad``: (C, H, W) float32 output, every element written.  Returns the
    value.
    """
    C, H, W = planes.shape
    total = 0.0
    if H < 3 or W < 3:
        grad[:] = 0.0
        return total
    two = np.float32(2.0)
    wx = np.zeros((H + 2, W + 2), np.float32)
    wy = np.zeros((H + 2, W + 2), np.float32)
    terms = np.empty(W - 2, np.float32)
    for ch in range(C):
        f = planes[ch]
        for i in range(1, H - 1):
            up, mid, down = f[i - 1], f[i], f[i + 1]
            w = weights[i]
            rx, ry = wx[i + 1], wy[i + 1]
            for j in range(1, W - 1):
                gx = (down[j - 1] + two * down[j] + down[j + 1]) - (
                    up[j - 1] + two * up[j] + up[j + 1])
                gy = (up[j + 1] + two * mid[j + 1] + down[j + 1]) - (
                    up[j - 1] + two * mid[j - 1] + down[j - 1])
                terms[j - 1] = w[j] * (abs(gx) + abs(gy))
                rx[j + 1] = w[j] * _sign32(gx)
                ry[j + 1] = w[j] * _sign32(gy)
            total += _row_sum(terms)
        _adjoint_gather(wx, wy, grad[ch])
    return total


@njit(cache=True, nogil=True)
def _curvilinear_tv_kernel(planes, guide, grad):
    """Value (eq. 2) and subgradient (eq. 5) of :class:`~chm._edge_penalties.CurvilinearTV`.

    ``planes``: (C, H, W) float32 map; ``guide``: (H, W, 3) float32
    ``(t_row, t_col, c)``; ``grad``: (C, H, W) float32 output, every element
    written.  Returns the value.
    """
    C, H, W = planes.shape
    total = 0.0
    if H < 3 or W < 3:
        grad[:] = 0.0
        return total
    one = np.float32(1.0)
    two = np.float32(2.0)
    wx = np.zeros((H + 2, W + 2), np.float32)
    wy = np.zeros((H + 2, W + 2), np.float32)
    terms = np.empty(W - 2, np.float32)
    rows = np.empty((3, W), np.float32)  # one guide row, channel by channel
    t_rows, t_cols, cs = rows[0], rows[1], rows[2]
    for ch in range(C):
        f = planes[ch]
        for i in range(1, H - 1):
            up, mid, down = f[i - 1], f[i], f[i + 1]
            gd = guide[i]
            for j in range(W):
                t_rows[j] = gd[j, 0]
                t_cols[j] = gd[j, 1]
                cs[j] = gd[j, 2]
            rx, ry = wx[i + 1], wy[i + 1]
            for j in range(1, W - 1):
                gx = (down[j - 1] + two * down[j] + down[j + 1]) - (
                    up[j - 1] + two * up[j] + up[j + 1])
                gy = (up[j + 1] + two * mid[j + 1] + down[j + 1]) - (
                    up[j - 1] + two * mid[j - 1] + down[j - 1])
                t_row, t_col, c = t_rows[j], t_cols[j], cs[j]
                plain = one - c
                along = t_row * gx + t_col * gy
                terms[j - 1] = c * abs(along) + plain * (abs(gx) + abs(gy))
                directional = c * _sign32(along)
                rx[j + 1] = directional * t_row + plain * _sign32(gx)
                ry[j + 1] = directional * t_col + plain * _sign32(gy)
            total += _row_sum(terms)
        _adjoint_gather(wx, wy, grad[ch])
    return total


def _run_kernel(kernel, f, guide):
    """Run a kernel on a checked (H, W) or (H, W, C) map: ``(value, grad)``."""
    planes = f[None] if f.ndim == 2 else np.ascontiguousarray(np.moveaxis(f, 2, 0))
    grad = np.empty_like(planes)
    value = kernel(planes, guide, grad)
    grad = grad[0] if f.ndim == 2 else np.ascontiguousarray(np.moveaxis(grad, 0, 2))
    return float(value), grad
