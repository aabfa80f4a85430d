"""numba kernel of the triangle encoding of :class:`features.LearnedFilters`, beside its
numpy reference.

One matrix product of the stacked filters with the mean-free patches gives,
per pixel ``j``, the raw responses ``r_ij`` of the ``k`` centroid filters and
the ``d`` whitening rows. With the pixel's contrast scale ``s_j`` and the
filter offsets ``t_i`` (``w_i . mean_``), ``u_ij = r_ij s_j - t_i`` is
``c_i . y_j`` for the centroid rows and ``y_j`` itself for the whitening rows,
so (Coates & Ng 2011, triangle encoding)

    ||y_j||**2 = sum_{i >= k} u_ij**2,
    z_ij = sqrt(max(||y_j||**2 - 2 u_ij + ||c_i||**2, 0)),   i < k,
    f_ij = max(0, mean_i(z_ij) - z_ij).

The numpy reference takes several passes over the ``(k + d, n)`` responses;
the kernel takes one pass per quantity, in float32, without temporaries of
that size.
"""
import numpy as np
from numba import njit

__all__ = ["triangle_codes", "triangle_codes_reference"]


def triangle_codes_reference(raw, scale, shift, centroid_sq, n_filters):
    """Triangle codes ``(k, n)`` from raw responses ``raw`` ``(k + d, n)`` (numpy).

    Parameters
    ----------
    raw : array (k + d, n)
        Filter responses of the mean-free patches: ``k`` centroid filters,
        then the ``d`` rows of the whitening matrix.
    scale : array (n,)
        Per-pixel contrast scale ``1 / sqrt(var + eps_c)``.
    shift : array (k + d,)
        Per-filter offset ``w_i . mean_``.
    centroid_sq : array (k,)
        ``||c_i||**2``.
    n_filters : int
        ``k``.
    """
    u = raw * scale[None, :] - shift[:, None]
    sq_norm = np.einsum("ij,ij->j", u[n_filters:], u[n_filters:])
    z = np.sqrt(np.maximum(sq_norm - 2 * u[:n_filters] + centroid_sq[:, None], 0))
    return np.maximum(z.mean(axis=0) - z, 0)


@njit(cache=True, nogil=True)
def triangle_codes(raw, scale, shift, centroid_sq, n_filters):
    """:func:`triangle_codes_reference` for float32 arrays, as float32 ``(k, n)``."""
    rows, n = raw.shape
    sq = np.zeros(n, np.float32)
    for i in range(n_filters, rows):
        t = shift[i]
        for j in range(n):
            u = raw[i, j] * scale[j] - t
            sq[j] += u * u
    z = np.empty((n_filters, n), np.float32)
    mean = np.zeros(n, np.float32)
    for i in range(n_filters):
        t, c = shift[i], centroid_sq[i]
        for j in range(n):
            v = sq[j] - np.float32(2) * (raw[i, j] * scale[j] - t) + c
            v = np.sqrt(v) if v > 0 else np.float32(0)
            z[i, j] = v
            mean[j] += v
    inv = np.float32(1.0 / n_filters)
    for i in range(n_filters):
        for j in range(n):
            v = mean[j] * inv - z[i, j]
            z[i, j] = v if v > 0 else np.float32(0)
    return z
