"""numba kernels of the LDNN stage classifier, each beside its numpy reference.

The LDNN output of one class is (Seyedhosseini & Tasdizen; Sajjadi et al.)

    f(x) = 1 - prod_i (1 - g_i(x)),   g_i(x) = prod_j sigma(z_ij),   z_ij = w_ij . x + b_ij

with ``N`` groups (index i) of ``M`` discriminants (index j). The affine part
``z = X W + b`` is a BLAS matrix product done outside, and so is the forward
pass's ``exp(-z)`` (numpy's vectorised exponential); these kernels do the
per-pixel products and their derivative, which neither can.
"""
import numpy as np
from numba import njit


def ldnn_forward(z, n_groups, n_disc):
    """Disjunction of conjunctions of sigmoids, row by row (float32).

    ``exp(-z)`` is taken by numpy's vectorised exponential, then
    :func:`ldnn_conjunctions_kernel` forms the products.

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
    e = np.negative(z)
    with np.errstate(over="ignore"):  # exp(-z) = inf for z < -88: that sigmoid is 0
        np.exp(e, out=e)
    return ldnn_conjunctions_kernel(e, n_groups, n_disc)


@njit(cache=True, nogil=True)
def ldnn_conjunctions_kernel(e, n_groups, n_disc):
    """``f = 1 - prod_i (1 - g_i)`` with ``g_i = 1 / prod_j (1 + e_ij)``, ``e = exp(-z)``.

    ``g_i = prod_j sigma(z_ij)`` with one division per group; an infinite
    ``e_ij`` (or product) gives ``g_i = 0``, its limit.

    Parameters
    ----------
    e : float32 array (n, n_groups * n_disc)
        ``exp(-z)``, group-major.

    Returns
    -------
    f : float32 array (n,)
    """
    n = e.shape[0]
    f = np.empty(n, np.float32)
    one = np.float32(1.0)
    for r in range(n):
        not_any = one
        for i in range(n_groups):
            d = one
            for j in range(n_disc):
                d *= one + e[r, i * n_disc + j]
            not_any *= one - one / d
        f[r] = one - not_any
    return f


def ldnn_conjunctions_reference(e, n_groups, n_disc):
    """Plain numpy version of :func:`ldnn_conjunctions_kernel` (float64 inside)."""
    with np.errstate(over="ignore"):
        g = 1.0 / (1.0 + e.astype(np.float64)).reshape(len(e), n_groups, n_disc).prod(axis=2)
    return (1.0 - (1.0 - g).prod(axis=1)).astype(np.float32)


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
    """Plain numpy version of :func:`ldnn_forward` (float64 inside)."""
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
