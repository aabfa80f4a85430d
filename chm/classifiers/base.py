"""The stage-classifier interface shared by the logistic and LDNN stages.

A stage classifier maps feature rows ``X`` (n, D) to class probabilities
``P`` (n, C). Training (:mod:`chm.classifiers.sgd`) only needs three things
from it: initial parameters, a forward pass, and the vector-Jacobian product
of that pass (``backward``), so any loss on ``P`` -- the supervised loss on the
labeled pixels and the spatial penalty on whole probability maps -- is chained
through the same code.
"""
import numpy as np


class StageClassifier:
    """Base class: parameters live in ``params_``, a list of float32 arrays.

    Subclasses implement :meth:`init_params`, :meth:`forward` and
    :meth:`backward`. The weight matrices subject to weight decay are the
    entries listed in ``decay_mask_`` (biases are not decayed).
    """

    n_classes_ = None
    params_ = None
    decay_mask_ = ()

    def init_params(self, X, y, rng):  # pragma: no cover - interface
        """Set ``params_`` from labeled rows ``X`` (n, D) with class indices ``y``."""
        raise NotImplementedError

    def forward(self, X):
        """Return ``(P, cache)``: probabilities (n, C) and what backward needs.

        Every stage starts with an affine map, ``params_[0]`` and ``params_[1]``,
        followed by :meth:`head`.
        """
        return self.head(affine(X, *self.params_[:2]))

    def head(self, z):  # pragma: no cover - interface
        """``(P, cache)`` from the first affine map's output ``z = X W + b`` (n, width)."""
        raise NotImplementedError

    def backward(self, X, cache, dP):  # pragma: no cover - interface
        """Gradients of ``sum(dP * P)`` w.r.t. each entry of ``params_``."""
        raise NotImplementedError

    def predict_proba(self, X):
        """Class probabilities (n, C), float32, computed in row blocks."""
        X = np.asarray(X, dtype=np.float32)
        out = np.empty((len(X), self.n_classes_), np.float32)
        step = 1 << 16
        for start in range(0, len(X), step):
            out[start:start + step] = self.forward(X[start:start + step])[0]
        return out


def affine(X, W, b):
    """``X @ W + b`` in float32."""
    z = X @ W
    z += b
    return z


def affine_backward(X, dz):
    """Gradients of an affine map: ``(X^T dz, sum(dz))``, in the dtype of the inputs."""
    return [X.T @ dz, dz.sum(axis=0)]


def binary_to_two_columns(f):
    """Stack ``[1 - f, f]`` as an (n, 2) probability array."""
    return np.stack([1 - f, f], axis=1)
