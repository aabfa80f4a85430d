"""Sobel masks, input checks and plain numpy references of the TV penalty.

This module holds the numpy definition of the Sobel operator used by
:mod:`chm.penalties` (same conventions, see there): the masks
:data:`SOBEL_X` and :data:`SOBEL_Y`, the map validation ``_check_map``,
:func:`sobel_responses` and its adjoint :func:`sobel_adjoint`, and the
reference total variation (eq. 8 of Javanmardi et al., 2016)
:func:`tv_value_reference` with its subgradient (eq. 15)
:func:`tv_subgradient_reference`, against which the numba kernels of
:mod:`chm._tv_kernels` are checked.  Everything here is re-exported by
:mod:`chm.penalties`, which is the public home of these names.
"""
import numpy as np

__all__ = [
    "SOBEL_X",
    "SOBEL_Y",
    "sobel_responses",
    "sobel_adjoint",
    "tv_value_reference",
    "tv_subgradient_reference",
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
        If ``prob`` is not 2-D or 3-D, holds NaN or inf, or values more
        than 1 outside [0, 1].
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
    if arr.size and (arr.min() < -_SLACK or arr.max() > 1 + _SLACK):
        raise ValueError(f"probability map values must lie in [0, 1] (within {_SLACK:g}), got "
                         f"values from {arr.min():.4g} to {arr.max():.4g}")
    return arr


# How far a probability map may stray from [0, 1] (rounding, finite-difference probes):
# the Sobel sums of such maps cannot overflow float32.
_SLACK = 1.0


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
