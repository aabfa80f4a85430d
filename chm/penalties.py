"""Unsupervised spatial penalties on predicted probability maps.

The semi-supervised loss of Javanmardi et al. (2016) is

    E = E_S + alpha * E_U,

where E_S is a supervised loss on the few labeled pixels and E_U is an
unsupervised penalty on the predicted probability map ``f`` of *all* pixels.
The general form of the penalty (eqs. 2-6) is

    E_U = sum_k Theta(fbar(x_k)),

where ``fbar(x_k)`` collects the horizontal and vertical Sobel responses of
the map around pixel ``k``.  The paper's choice is the total variation
(eq. 8, Theta = |.| summed over both directions) with the subgradient of
eq. 15.  This module provides

- fast numba kernels :func:`tv_value`, :func:`tv_subgradient` and
  :func:`tv_value_and_subgradient`, and plain numpy references
  :func:`tv_value_reference`, :func:`tv_subgradient_reference` built on
  :func:`sobel_responses` and its adjoint :func:`sobel_adjoint`;
- a small :class:`Penalty` interface with :class:`TotalVariation` and
  :class:`QuadraticVariation` (Theta = square, a smooth member of the same
  family), so that trainers take any spatial penalty without change;
- :func:`get_penalty` to resolve a penalty from a name;
- :func:`benchmark_tv` comparing the numba kernels with the references.

Conventions shared by every function here:

- Sobel responses are *correlations* with a row-major neighbourhood,
  ``gx(i, j) = sum_{a,b} SOBEL_X[a, b] * f[i - 1 + a, j - 1 + b]`` and
  likewise ``gy`` with ``SOBEL_Y``;
- only pixels whose whole 3x3 neighbourhood lies inside the map contribute
  ("valid" boundary); maps smaller than 3x3 have penalty 0 and zero gradient;
- a map of shape (H, W, C) is penalised channel by channel and the channel
  penalties are summed;
- ``sign(0) = 0``, so a constant map has penalty 0 and subgradient exactly 0.
"""
from abc import ABC, abstractmethod
import time

import numpy as np
from numba import njit

__all__ = [
    "SOBEL_X",
    "SOBEL_Y",
    "tv_value",
    "tv_subgradient",
    "tv_value_and_subgradient",
    "tv_value_reference",
    "tv_subgradient_reference",
    "sobel_responses",
    "sobel_adjoint",
    "Penalty",
    "TotalVariation",
    "QuadraticVariation",
    "get_penalty",
    "benchmark_tv",
]

#: Vertical-derivative Sobel mask (responds to horizontal edges), paper eq. 8.
SOBEL_X = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], np.float32)
#: Horizontal-derivative Sobel mask, the transpose of :data:`SOBEL_X`.
SOBEL_Y = SOBEL_X.T.copy()


# ---------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------
def _check_map(prob):
    """Return ``prob`` as a validated C-contiguous float32 array.

    Parameters
    ----------
    prob : array_like of shape (H, W) or (H, W, C)
        Probability map.

    Returns
    -------
    arr : ndarray, float32, same shape as ``prob``

    Raises
    ------
    TypeError
        If ``prob`` is not numeric.
    ValueError
        If ``prob`` is not 2-D or 3-D or holds NaN or inf.
    """
    arr = np.asarray(prob)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"probability map must be numeric, got dtype {arr.dtype}")
    if arr.ndim not in (2, 3):
        raise ValueError(
            f"probability map must have shape (H, W) or (H, W, C), got shape {arr.shape}"
        )
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise ValueError("probability map holds NaN or inf values")
    return arr


# ---------------------------------------------------------------------------
# numba kernels
# ---------------------------------------------------------------------------
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


def tv_value(prob):
    """Total variation of a probability map (paper eq. 8), numba kernel.

    ``E_U = sum_k |gx(k)| + |gy(k)|`` over the pixels ``k`` whose whole 3x3
    neighbourhood lies inside the map, where ``gx``, ``gy`` are the
    correlations of the map with :data:`SOBEL_X` and :data:`SOBEL_Y`.

    Parameters
    ----------
    prob : array_like of shape (H, W) or (H, W, C)
        Probability map; for 3-D input the channel penalties are summed.

    Returns
    -------
    value : float
        The penalty; 0 for maps smaller than 3x3.

    Raises
    ------
    TypeError
        If ``prob`` is not numeric.
    ValueError
        If ``prob`` is not 2-D or 3-D or holds NaN or inf.
    """
    f = _check_map(prob)
    if f.ndim == 2:
        return float(_tv_value_kernel(f[None]))
    return float(_tv_value_hwc(f))


def tv_value_and_subgradient(prob):
    """Total variation (eq. 8) and its subgradient (eq. 15) in one pass.

    Parameters
    ----------
    prob : array_like of shape (H, W) or (H, W, C)
        Probability map.

    Returns
    -------
    value : float
        Same as :func:`tv_value`.
    grad : ndarray, float32, same shape as ``prob``
        Same as :func:`tv_subgradient`.

    Raises
    ------
    TypeError
        If ``prob`` is not numeric.
    ValueError
        If ``prob`` is not 2-D or 3-D or holds NaN or inf.
    """
    f = _check_map(prob)
    grad = np.empty_like(f)
    if f.ndim == 2:
        value = _tv_fused_kernel(f[None], grad[None])
    else:
        value = _tv_fused_hwc(f, grad)
    return float(value), grad


def tv_subgradient(prob):
    """Subgradient of the total variation w.r.t. the map (paper eq. 15).

    Every valid pixel ``k = (i, j)`` contributes to the nine pixels of its
    neighbourhood::

        d E_U / d f[p, q] = sum_k sign(gx(k)) * SOBEL_X[p - i + 1, q - j + 1]
                                + sign(gy(k)) * SOBEL_Y[p - i + 1, q - j + 1]

    with ``sign(0) = 0``.

    Parameters
    ----------
    prob : array_like of shape (H, W) or (H, W, C)
        Probability map.

    Returns
    -------
    grad : ndarray, float32, same shape as ``prob``
        The subgradient; all zero for maps smaller than 3x3.

    Raises
    ------
    TypeError
        If ``prob`` is not numeric.
    ValueError
        If ``prob`` is not 2-D or 3-D or holds NaN or inf.
    """
    return tv_value_and_subgradient(prob)[1]


# ---------------------------------------------------------------------------
# numpy references
# ---------------------------------------------------------------------------
def sobel_responses(prob):
    """Sobel responses of a map at its valid pixels (numpy).

    Parameters
    ----------
    prob : array_like of shape (H, W) or (H, W, C)
        Probability map.

    Returns
    -------
    gx, gy : ndarray of shape (H - 2, W - 2[, C]), float32
        Correlations with :data:`SOBEL_X` and :data:`SOBEL_Y` at the pixels
        whose 3x3 neighbourhood is inside the map (empty for maps smaller
        than 3x3).

    Raises
    ------
    TypeError
        If ``prob`` is not numeric.
    ValueError
        If ``prob`` is not 2-D or 3-D or holds NaN or inf.
    """
    f = _check_map(prob)
    H, W = f.shape[:2]
    if H < 3 or W < 3:
        empty = np.zeros((max(H - 2, 0), max(W - 2, 0)) + f.shape[2:], np.float32)
        return empty, empty.copy()
    two = np.float32(2.0)
    # same operation order as the numba kernel, so the signs agree exactly
    gx = (f[2:, :-2] + two * f[2:, 1:-1] + f[2:, 2:]) - (
        f[:-2, :-2] + two * f[:-2, 1:-1] + f[:-2, 2:]
    )
    gy = (f[:-2, 2:] + two * f[1:-1, 2:] + f[2:, 2:]) - (
        f[:-2, :-2] + two * f[1:-1, :-2] + f[2:, :-2]
    )
    return gx, gy


def sobel_adjoint(wx, wy, shape):
    """Adjoint of :func:`sobel_responses` (numpy).

    Given weights ``wx(k)``, ``wy(k)`` on the valid pixels, returns the map
    ``g[p, q] = sum_k wx(k) * SOBEL_X[p - i + 1, q - j + 1]
    + wy(k) * SOBEL_Y[p - i + 1, q - j + 1]``, i.e. the gradient of
    ``sum_k Theta(gx(k), gy(k))`` when ``wx``, ``wy`` are the partial
    derivatives of ``Theta`` (chain rule of eqs. 2-6).

    Parameters
    ----------
    wx, wy : ndarray of shape (H - 2, W - 2[, C])
        Weights on the valid pixels.
    shape : tuple
        Shape (H, W[, C]) of the map.

    Returns
    -------
    grad : ndarray of the given shape, float32
    """
    grad = np.zeros(shape, np.float32)
    H, W = shape[:2]
    if H < 3 or W < 3:
        return grad
    wx = np.asarray(wx, np.float32)
    wy = np.asarray(wy, np.float32)
    for a in range(3):
        for b in range(3):
            cx, cy = SOBEL_X[a, b], SOBEL_Y[a, b]
            if cx == 0 and cy == 0:
                continue
            grad[a : a + H - 2, b : b + W - 2] += cx * wx + cy * wy
    return grad


def tv_value_reference(prob):
    """Total variation (eq. 8), plain numpy reference of :func:`tv_value`.

    Parameters
    ----------
    prob : array_like of shape (H, W) or (H, W, C)
        Probability map.

    Returns
    -------
    value : float
    """
    gx, gy = sobel_responses(prob)
    return float(np.abs(gx).sum(dtype=np.float64) + np.abs(gy).sum(dtype=np.float64))


def tv_subgradient_reference(prob):
    """Subgradient (eq. 15), plain numpy reference of :func:`tv_subgradient`.

    Parameters
    ----------
    prob : array_like of shape (H, W) or (H, W, C)
        Probability map.

    Returns
    -------
    grad : ndarray, float32, same shape as ``prob``
    """
    gx, gy = sobel_responses(prob)
    return sobel_adjoint(np.sign(gx), np.sign(gy), np.shape(prob))


# ---------------------------------------------------------------------------
# penalty objects
# ---------------------------------------------------------------------------
class Penalty(ABC):
    """Unsupervised spatial penalty ``E_U`` on a probability map.

    Subclasses implement the general form ``E_U = sum_k Theta(fbar(x_k))``
    (paper eqs. 2-6) through :meth:`value` and :meth:`gradient`.  Trainers
    only use this interface, so a new penalty plugs in without touching them.
    """

    @abstractmethod
    def value(self, prob):
        """Penalty of a map.

        Parameters
        ----------
        prob : array_like of shape (H, W) or (H, W, C)
            Probability map.

        Returns
        -------
        value : float
        """

    @abstractmethod
    def gradient(self, prob):
        """(Sub)gradient of the penalty with respect to the map.

        Parameters
        ----------
        prob : array_like of shape (H, W) or (H, W, C)
            Probability map.

        Returns
        -------
        grad : ndarray, float32, same shape as ``prob``
        """

    def value_and_gradient(self, prob):
        """Penalty and its (sub)gradient; subclasses may fuse the two.

        Parameters
        ----------
        prob : array_like of shape (H, W) or (H, W, C)
            Probability map.

        Returns
        -------
        value : float
        grad : ndarray, float32, same shape as ``prob``
        """
        return self.value(prob), self.gradient(prob)

    def __repr__(self):
        return f"{type(self).__name__}()"


class TotalVariation(Penalty):
    """Total-variation penalty of the paper (eq. 8, subgradient eq. 15).

    ``E_U = sum_k |gx(k)| + |gy(k)|`` with Sobel responses ``gx``, ``gy``;
    evaluated by the numba kernels of this module.
    """

    def value(self, prob):
        """Total variation of ``prob``; see :func:`tv_value`."""
        return tv_value(prob)

    def gradient(self, prob):
        """Subgradient of the total variation; see :func:`tv_subgradient`."""
        return tv_subgradient(prob)

    def value_and_gradient(self, prob):
        """Value and subgradient in one pass; see :func:`tv_value_and_subgradient`."""
        return tv_value_and_subgradient(prob)


class QuadraticVariation(Penalty):
    """Smooth penalty ``E_U = sum_k gx(k)**2 + gy(k)**2`` (Theta = square).

    A member of the general family of eqs. 2-6 with a quadratic ``Theta``:
    it penalises large jumps more and small ones less than the total
    variation, and it is differentiable everywhere.  The gradient is
    ``sobel_adjoint(2 gx, 2 gy)``.
    """

    def value(self, prob):
        """Sum of squared Sobel responses over the valid pixels."""
        gx, gy = sobel_responses(prob)
        return float(np.square(gx).sum(dtype=np.float64) + np.square(gy).sum(dtype=np.float64))

    def gradient(self, prob):
        """Gradient ``sum_k 2 gx(k) SOBEL_X[..] + 2 gy(k) SOBEL_Y[..]``."""
        gx, gy = sobel_responses(prob)
        return sobel_adjoint(2 * gx, 2 * gy, np.shape(prob))

    def value_and_gradient(self, prob):
        """Value and gradient sharing one evaluation of the Sobel responses."""
        gx, gy = sobel_responses(prob)
        value = float(np.square(gx).sum(dtype=np.float64) + np.square(gy).sum(dtype=np.float64))
        return value, sobel_adjoint(2 * gx, 2 * gy, np.shape(prob))


_PENALTIES = {
    "tv": TotalVariation,
    "total_variation": TotalVariation,
    "quadratic": QuadraticVariation,
    "quadratic_variation": QuadraticVariation,
}


def get_penalty(penalty):
    """Resolve a penalty from a name, an instance or None.

    Parameters
    ----------
    penalty : {"tv", "quadratic"}, Penalty or None
        ``"tv"`` (alias ``"total_variation"``) gives :class:`TotalVariation`,
        ``"quadratic"`` (alias ``"quadratic_variation"``) gives
        :class:`QuadraticVariation`; names are case-insensitive.  A
        :class:`Penalty` instance is returned as is.  ``None`` means no
        unsupervised term and is returned as ``None``.

    Returns
    -------
    penalty : Penalty or None

    Raises
    ------
    ValueError
        For an unknown name.
    TypeError
        For anything else.
    """
    if penalty is None or isinstance(penalty, Penalty):
        return penalty
    if isinstance(penalty, str):
        key = penalty.strip().lower()
        if key not in _PENALTIES:
            raise ValueError(
                f"unknown penalty {penalty!r}; expected one of {sorted(_PENALTIES)}, "
                "a Penalty instance or None"
            )
        return _PENALTIES[key]()
    raise TypeError(
        f"penalty must be a name, a Penalty instance or None, got {type(penalty).__name__}"
    )


# ---------------------------------------------------------------------------
# benchmark
# ---------------------------------------------------------------------------
def benchmark_tv(shape=(212, 265), repeats=20, random_state=0):
    """Time the numba kernels against the numpy references.

    Each repeat evaluates the value and the subgradient of one random map
    (two calls each side: :func:`tv_value` + :func:`tv_subgradient` against
    :func:`tv_value_reference` + :func:`tv_subgradient_reference`).  The
    kernels are compiled (or loaded from cache) before timing.

    Parameters
    ----------
    shape : tuple, default=(212, 265)
        Map shape, (H, W) or (H, W, C).
    repeats : int, default=20
        Number of timed repeats; medians are reported.
    random_state : int, default=0
        Seed of the random map.

    Returns
    -------
    result : dict
        ``shape``, ``repeats``, ``numba_s`` and ``numpy_s`` (median seconds
        for value + subgradient), ``fused_s`` (median seconds of
        :func:`tv_value_and_subgradient`) and ``speedup``
        (``numpy_s / numba_s``).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    rng = np.random.default_rng(random_state)
    prob = rng.random(shape, dtype=np.float32)
    # warm-up: compile or load the cached kernels
    tv_value(prob)
    tv_value_and_subgradient(prob)

    def median_time(fn):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return float(np.median(times))

    numba_s = median_time(lambda: (tv_value(prob), tv_subgradient(prob)))
    numpy_s = median_time(lambda: (tv_value_reference(prob), tv_subgradient_reference(prob)))
    fused_s = median_time(lambda: tv_value_and_subgradient(prob))
    return {
        "shape": tuple(shape),
        "repeats": int(repeats),
        "numba_s": numba_s,
        "numpy_s": numpy_s,
        "fused_s": fused_s,
        "speedup": numpy_s / numba_s if numba_s > 0 else float("inf"),
    }
