"""Feature-major planes ``(F, H, W)`` into a channels-last stack ``(H, W, F)``.

Filters compute plane by plane; the stage classifiers read pixel rows. The
copy between the two layouts is a transposition, done here in cache-sized
blocks of columns (a numba kernel), beside the plain numpy reference.
"""
import numpy as np
from numba import njit

__all__ = ["planes_to_channels_last", "planes_to_channels_last_reference"]

_BLOCK = 32  # columns per block: 32 planes' rows of them stay in cache


def planes_to_channels_last_reference(planes, out):
    """``out[i, j, f] = planes[f, i, j]`` (numpy)."""
    out[...] = np.moveaxis(planes, 0, -1)
    return out


@njit(cache=True, nogil=True)
def _transpose_kernel(planes, out):
    n_planes, h, w = planes.shape
    for i in range(h):
        for j0 in range(0, w, _BLOCK):
            j1 = min(j0 + _BLOCK, w)
            for f in range(n_planes):
                for j in range(j0, j1):
                    out[i, j, f] = planes[f, i, j]
    return out


def planes_to_channels_last(planes, out):
    """``out[i, j, f] = planes[f, i, j]`` for float32 ``planes`` (F, H, W) and ``out`` (H, W, F).

    ``out`` may be a view, e.g. a block of columns of a larger stack.
    """
    if planes.dtype != np.float32 or out.dtype != np.float32 or planes.ndim != 3:
        return planes_to_channels_last_reference(planes, out)
    return _transpose_kernel(planes, out)
