"""LDNN stage classifier (logistic disjunctive normal network).

One LDNN per class (a single one for two classes) computes

    f(x) = 1 - prod_{i=1..N} (1 - prod_{j=1..M} sigma(w_ij . x + b_ij)),

a disjunction of N conjunctions of M sigmoid half-spaces. With more than two
classes the per-class outputs are normalised to sum to one,
``P_k = (f_k + eps / K) / (sum_c f_c + eps)``: the small ``eps`` keeps the
normalisation defined where every class output underflows to 0, and gives
the uniform distribution there. Weights start from
k-means: positives are clustered into N groups and negatives into M groups,
and discriminant (i, j) is the hyperplane halfway between positive centroid i
and negative centroid j, pointing to the positive side.
"""
import numpy as np
from sklearn.cluster import KMeans

from ._kernels import (ldnn_backward_kernel, ldnn_backward_reference, ldnn_forward,
                       ldnn_forward_reference)
from .base import StageClassifier, affine_backward, binary_to_two_columns

_EPS = np.float32(1e-6)


def _forward(z, n_groups, n_disc):
    """numba kernel for float32 rows; the float64 numpy reference otherwise."""
    if z.dtype == np.float32:
        return ldnn_forward(z, n_groups, n_disc)
    return ldnn_forward_reference(z, n_groups, n_disc, dtype=z.dtype)


def _backward(z, delta, n_groups, n_disc):
    if z.dtype == np.float32:
        return ldnn_backward_kernel(z, delta.astype(np.float32, copy=False), n_groups, n_disc)
    return ldnn_backward_reference(z, delta, n_groups, n_disc, dtype=z.dtype)


def _centroids(X, k, rng):
    """``k`` k-means centroids of ``X`` (fewer rows than k: rows repeated)."""
    k_eff = max(1, min(k, len(X)))
    if k_eff == 1:
        cents = X.mean(axis=0, keepdims=True)
    else:
        seed = int(rng.randint(np.iinfo(np.int32).max))
        cents = KMeans(k_eff, n_init=3, random_state=seed).fit(X).cluster_centers_
    return cents[np.arange(k) % k_eff]


def kmeans_init(X, positive, n_groups, n_disc, rng, sharpness=2.0):
    """Initial weights of one LDNN from labeled rows.

    Parameters
    ----------
    X : float32 array (n, D)
    positive : bool array (n,)
        Which rows belong to the LDNN's class.
    n_groups, n_disc : int
        N conjunctions of M discriminants.
    sharpness : float
        Activation of each discriminant at the two centroids it separates
        (``+sharpness`` at the positive one, ``-sharpness`` at the negative).

    Returns
    -------
    W : float32 (D, N * M), b : float32 (N * M,)
    """
    if positive.all() or not positive.any():
        # one side has no rows (a class may vanish at a coarse level): start
        # from flat discriminants whose output is the labeled class rate.
        rate = np.clip(positive.mean(), 0.01, 0.99)
        w = np.zeros((X.shape[1], n_groups * n_disc), np.float32)
        z = np.log(rate ** (1.0 / n_disc) / (1 - rate ** (1.0 / n_disc))) if rate < 0.99 else 4.0
        # one active group reproduces the rate; the others start off
        b = np.full((n_groups, n_disc), -8.0, np.float32)
        b[0] = z
        return w, b.reshape(-1)
    cp = _centroids(X[positive], n_groups, rng)
    cn = _centroids(X[~positive], n_disc, rng)
    diff = cp[:, None, :] - cn[None, :, :]                        # (N, M, D)
    norm2 = np.maximum((diff ** 2).sum(axis=2, keepdims=True), 1e-6)
    w = diff * (2.0 * sharpness / norm2)
    mid = 0.5 * (cp[:, None, :] + cn[None, :, :])
    b = -(w * mid).sum(axis=2)
    W = w.reshape(-1, X.shape[1]).T
    return W.astype(np.float32), b.reshape(-1).astype(np.float32)


class LDNNStage(StageClassifier):
    """LDNN with ``n_groups`` conjunctions of ``n_disc`` discriminants.

    Parameters
    ----------
    n_classes : int
    n_groups : int, default 8
        N, the number of conjunctions (positive clusters).
    n_disc : int, default 8
        M, the discriminants per conjunction (negative clusters).
    """

    decay_mask_ = (True, False)

    def __init__(self, n_classes, n_groups=8, n_disc=8):
        self.n_classes_ = int(n_classes)
        self.n_groups = int(n_groups)
        self.n_disc = int(n_disc)

    @property
    def _n_nets(self):
        return 1 if self.n_classes_ == 2 else self.n_classes_

    def init_params(self, X, y, rng):
        blocks = [kmeans_init(X, y == c, self.n_groups, self.n_disc, rng)
                  for c in ([1] if self.n_classes_ == 2 else range(self.n_classes_))]
        self.params_ = [np.concatenate([W for W, _ in blocks], axis=1),
                        np.concatenate([b for _, b in blocks])]
        return self

    def _nets(self, z):
        width = self.n_groups * self.n_disc
        return [np.ascontiguousarray(z[:, k * width:(k + 1) * width]) for k in range(self._n_nets)]

    def _normalise(self, f):
        """``(f + eps/K) / (sum f + eps)`` for K > 2 class outputs ``f``, and that denominator."""
        total = f.sum(axis=1, keepdims=True) + _EPS
        return (f + _EPS / self.n_classes_) / total, total

    def head(self, z):
        f = np.stack([_forward(zk, self.n_groups, self.n_disc) for zk in self._nets(z)], axis=1)
        if self.n_classes_ == 2:
            return binary_to_two_columns(f[:, 0]), (z, f)
        return self._normalise(f)[0], (z, f)

    def backward(self, X, cache, dP):
        z, f = cache
        if self.n_classes_ == 2:
            df = (dP[:, 1] - dP[:, 0])[:, None]
        else:
            P, total = self._normalise(f)
            df = (dP - (dP * P).sum(axis=1, keepdims=True)) / total
        dz = np.concatenate([_backward(zk, np.ascontiguousarray(df[:, k]), self.n_groups, self.n_disc)
                             for k, zk in enumerate(self._nets(z))], axis=1)
        return affine_backward(X, dz)
