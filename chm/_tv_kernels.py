"""Numba kernels of the total-variation penalty (internal).

The kernels evaluate the total variation of a probability map (eq. 8 of
Javanmardi et al., 2016) and its subgradient (eq. 15) with the conventions of
:mod:`chm.penalties`: Sobel *correlations* with
:data:`~chm.penalties.SOBEL_X` and :data:`~chm.penalties.SOBEL_Y`, a
"valid" boundary (only pixels whose whole 3x3 neighbourhood lies inside the
map contribute; maps smaller than 3x3 give 0) and ``sign(0) = 0``.

All arithmetic on the map is float32 (inputs must be C-contiguous float32,
as returned by ``chm.penalties._check_map``); the penalty value is
accumulated in float64.  Every kernel is compiled with ``cache=True`` and
``nogil=True``.  The public wrappers are :func:`chm.penalties.tv_value`,
:func:`chm.penalties.tv_subgradient` and
:func:`chm.penalties.tv_value_and_subgradient`.

- :func:`_tv_value_kernel`, :func:`_tv_fused_kernel`: value, and value plus
  subgradient in one pass, of (C, H, W) planes;
- :func:`_tv_value_hwc`, :func:`_tv_fused_hwc`: the same for a (H, W, C) map,
  channel by channel;
- :func:`_sobel_row`, :func:`_row_sum`, :func:`_copy_channel`: helpers.
"""
import numpy as np
from numba import njit


# The kernels make a single pass over the map, one row at a time, with a few
# row buffers (O(W) memory): every loop over a row is free of loop-carried
# dependencies, so it vectorises.  The subgradient is *gathered* (each output
# row is written once from the sign rows of the three neighbourhood rows that
# touch it) rather than scattered.  The kernels are serial, so the result does
# not depend on the number of threads; the only reassociated operation is the
# float64 sum of one row of absolute responses, whose order is fixed by the
# compiled code.  The Sobel responses are evaluated with exactly the same
# float32 operations as the numpy references, so both agree on the sign of
# every response.
@njit(cache=True, nogil=True)
def _sobel_row(f, i, absrow, sxp, syp):
    """Sobel responses of the valid row ``i`` of the 2-D map ``f``.

    Writes ``|gx| + |gy|`` into ``absrow[j]`` and ``sign(gx)``, ``sign(gy)``
    into ``sxp[j + 1]``, ``syp[j + 1]`` for the valid columns
    ``j = 1 .. W - 2``.
    """
    W = f.shape[1]
    two = np.float32(2.0)
    one = np.float32(1.0)
    zero = np.float32(0.0)
    up = f[i - 1]
    mid = f[i]
    down = f[i + 1]
    for j in range(1, W - 1):
        gx = (down[j - 1] + two * down[j] + down[j + 1]) - (up[j - 1] + two * up[j] + up[j + 1])
        gy = (up[j + 1] + two * mid[j + 1] + down[j + 1]) - (up[j - 1] + two * mid[j - 1] + down[j - 1])
        absrow[j] = abs(gx) + abs(gy)
        # branch-free sign with sign(0) = 0
        sxp[j + 1] = (one if gx > zero else zero) - (one if gx < zero else zero)
        syp[j + 1] = (one if gy > zero else zero) - (one if gy < zero else zero)


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _row_sum(absrow):
    """float64 sum of a float32 row (vectorised; order fixed by the code)."""
    acc = 0.0
    for j in range(absrow.shape[0]):
        acc += np.float64(absrow[j])
    return acc


@njit(cache=True, nogil=True)
def _tv_value_kernel(planes):
    """Total variation (eq. 8) of (C, H, W) float32 planes."""
    C, H, W = planes.shape
    total = 0.0
    if H < 3 or W < 3:
        return total
    absrow = np.zeros(W, np.float32)
    sxp = np.zeros(W + 2, np.float32)
    syp = np.zeros(W + 2, np.float32)
    for c in range(C):
        f = planes[c]
        for i in range(1, H - 1):
            _sobel_row(f, i, absrow, sxp, syp)
            total += _row_sum(absrow)
    return total


@njit(cache=True, nogil=True)
def _tv_fused_kernel(planes, grad):
    """Total variation (eq. 8) and its subgradient (eq. 15) in one pass.

    ``grad`` (same shape as ``planes``) receives the subgradient; every
    element is written.  Returns the penalty value.

    With ``sx``, ``sy`` the sign rows of the valid row ``i`` (zero outside
    the valid columns), eq. 15 places on rows ``i - 1``, ``i``, ``i + 1`` the
    contributions ``-S + D``, ``2 D`` and ``S + D``, where
    ``S[q] = sx[q - 1] + 2 sx[q] + sx[q + 1]`` and ``D[q] = sy[q - 1] - sy[q + 1]``.
    Output row ``r`` therefore gathers
    ``(S + D)[r - 1] + 2 D[r] + (D - S)[r + 1]`` (rows outside 1 .. H - 2
    contributing zero).  All entries are small integers, so the result is
    exact in float32.
    """
    C, H, W = planes.shape
    total = 0.0
    if H < 3 or W < 3:
        grad[:] = 0.0
        return total
    two = np.float32(2.0)
    absrow = np.zeros(W, np.float32)
    sxp = np.zeros(W + 2, np.float32)
    syp = np.zeros(W + 2, np.float32)
    S = np.zeros((3, W), np.float32)
    D = np.zeros((3, W), np.float32)
    zero_row = np.zeros(W, np.float32)
    for c in range(C):
        f = planes[c]
        g = grad[c]
        for r in range(H):
            t = r + 1
            if t <= H - 2:
                # Sobel responses and signs of valid row t -> ring slot t % 3
                _sobel_row(f, t, absrow, sxp, syp)
                total += _row_sum(absrow)
                St = S[t % 3]
                Dt = D[t % 3]
                for q in range(W):
                    St[q] = sxp[q] + two * sxp[q + 1] + sxp[q + 2]
                    Dt[q] = syp[q] - syp[q + 2]
            Sm = S[(r - 1) % 3] if r - 1 >= 1 else zero_row
            Dm = D[(r - 1) % 3] if r - 1 >= 1 else zero_row
            D0 = D[r % 3] if 1 <= r <= H - 2 else zero_row
            Sp = S[(r + 1) % 3] if r + 1 <= H - 2 else zero_row
            Dp = D[(r + 1) % 3] if r + 1 <= H - 2 else zero_row
            gr = g[r]
            for q in range(W):
                gr[q] = (Sm[q] + Dm[q]) + two * D0[q] + (Dp[q] - Sp[q])
    return total


@njit(cache=True, nogil=True)
def _copy_channel(f, c, plane):
    """Copy channel ``c`` of a (H, W, C) map into the contiguous ``plane``."""
    H, W = plane.shape
    for i in range(H):
        for j in range(W):
            plane[i, j] = f[i, j, c]


@njit(cache=True, nogil=True)
def _tv_value_hwc(f):
    """Total variation of a (H, W, C) map: channel by channel, summed.

    Each channel is copied into one contiguous (H, W) plane (reused for all
    channels) so that the row kernels read contiguous memory.
    """
    H, W, C = f.shape
    plane = np.empty((1, H, W), np.float32)
    total = 0.0
    for c in range(C):
        _copy_channel(f, c, plane[0])
        total += _tv_value_kernel(plane)
    return total


@njit(cache=True, nogil=True)
def _tv_fused_hwc(f, grad):
    """Value and subgradient of a (H, W, C) map: channel by channel."""
    H, W, C = f.shape
    plane = np.empty((1, H, W), np.float32)
    gplane = np.empty((1, H, W), np.float32)
    total = 0.0
    for c in range(C):
        _copy_channel(f, c, plane[0])
        total += _tv_fused_kernel(plane, gplane)
        g = gplane[0]
        for i in range(H):
            for j in range(W):
                grad[i, j, c] = g[i, j]
    return total
