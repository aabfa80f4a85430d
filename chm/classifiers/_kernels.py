"""numba kernels of the LDNN stage classifier, each beside its numpy reference.

The LDNN output of one class is (Seyedhosseini & Tasdizen; Sajjadi et al.)

    f(x) = 1 - prod_i (1 - g_i(x)),   g_i(x) = prod_j sigma(z_ij),   z_ij = w_ij . x + b_ij

with ``N`` groups (index i) of ``M`` discriminants (index j). The affine part
``z = X W + b`` is a BLAS matrix product done outside; these kernels do the
per-pixel products and their derivative, which BLAS cannot.
"""
import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def ldnn_forward_kernel(z, n_groups, n_disc):
    """Disjunction of conjunctions of sigmoids, row by row.

    Parameters
    ----------
    z : float32 array (n, n_groups * n_disc)
        Discriminant activations, group-major (group i owns columns
        ``i * n_disc ... (i + 1) * n_disc - 1``).

    Returns
    -------
    f : float32 array (n,)
        LDNN output in [0, 1].
    """
    n = z.shape[0]
    f = np.empty(n, np.float32)
    one = np.float32(1.0)
    for r in range(n):
        not_any = one
        for i in range(n_groups):
            # g_i = prod_j sigma(z_ij) = 1 / prod_j (1 + exp(-z_ij)): one division per group
            # (an overflowing product is inf, and g_i is then 0, its limit)
            d = one
            for j in range(n_disc):
                d *= one + np.exp(-z[r, i * n_disc + j])
            not_any *= one - one / d
        f[r] = one - not_any
    return f


@njit(cache=True, nogil=True)
def ldnn_backward_kernel(z, delta, n_groups, n_disc):
    """Gradient of ``sum_r delta[r] * f(z[r])`` with respect to ``z``.

    ``df/dz_ij = prod_{k != i} (1 - g_k) * g_i * (1 - sigma(z_ij))``; the
    product over the other groups is a prefix times a suffix product of
    ``1 - g_k`` (no division by ``1 - g_i``, which vanishes for saturated
    groups), so a row costs O(N M), not O(N^2 + N M).
    """
    n = z.shape[0]
    width = n_groups * n_disc
    dz = np.empty_like(z)
    s = np.empty(width, np.float32)
    g = np.empty(n_groups, np.float32)
    suffix = np.empty(n_groups + 1, np.float32)
    for r in range(n):
        for i in range(n_groups):
            gi = np.float32(1.0)
            for j in range(n_disc):
                sij = np.float32(1.0) / (np.float32(1.0) + np.exp(-z[r, i * n_disc + j]))
                s[i * n_disc + j] = sij
                gi *= sij
            g[i] = gi
        suffix[n_groups] = np.float32(1.0)
        for i in range(n_groups - 1, -1, -1):
            suffix[i] = suffix[i + 1] * (np.float32(1.0) - g[i])
        prefix = np.float32(1.0)
        for i in range(n_groups):
            scale = delta[r] * prefix * suffix[i + 1] * g[i]
            for j in range(n_disc):
                dz[r, i * n_disc + j] = scale * (np.float32(1.0) - s[i * n_disc + j])
            prefix *= np.float32(1.0) - g[i]
    return dz


def ldnn_forward_reference(z, n_groups, n_disc, dtype=np.float32):
    """Plain numpy version of :func:`ldnn_forward_kernel` (float64 inside)."""
    s = 1.0 / (1.0 + np.exp(-z.astype(np.float64)))
    g = s.reshape(len(z), n_groups, n_disc).prod(axis=2)
    return (1.0 - (1.0 - g).prod(axis=1)).astype(dtype)


def ldnn_backward_reference(z, delta, n_groups, n_disc, dtype=np.float32):
    """Plain numpy version of :func:`ldnn_backward_kernel` (float64 inside)."""
    s = 1.0 / (1.0 + np.exp(-z.astype(np.float64)))
    s3 = s.reshape(len(z), n_groups, n_disc)
    g = s3.prod(axis=2)
    one_minus = 1.0 - g
    others = np.empty_like(g)
    for i in range(n_groups):
        others[:, i] = np.delete(one_minus, i, axis=1).prod(axis=1)
    dz = (delta[:, None, None] * others[:, :, None] * g[:, :, None]) * (1.0 - s3)
    return dz.reshape(z.shape).astype(dtype)
