"""Logistic stage classifier: sigmoid for two classes, softmax for more."""
import numpy as np

from .base import StageClassifier, affine_backward, binary_to_two_columns


class LogisticStage(StageClassifier):
    """Linear discriminant followed by a sigmoid (C = 2) or softmax (C > 2).

    Parameters
    ----------
    n_classes : int
        Number of classes, at least 2.
    """

    decay_mask_ = (True, False)

    def __init__(self, n_classes):
        self.n_classes_ = int(n_classes)

    @property
    def _n_out(self):
        return 1 if self.n_classes_ == 2 else self.n_classes_

    def init_params(self, X, y, rng):
        d = X.shape[1]
        W = (0.01 * rng.standard_normal((d, self._n_out))).astype(np.float32)
        self.params_ = [W, np.zeros(self._n_out, np.float32)]
        return self

    def head(self, z):
        if self.n_classes_ == 2:
            f = 1 / (1 + np.exp(-z[:, 0]))
            return binary_to_two_columns(f), f
        z -= z.max(axis=1, keepdims=True)
        P = np.exp(z)
        P /= P.sum(axis=1, keepdims=True)
        return P, P

    def backward(self, X, cache, dP):
        if self.n_classes_ == 2:
            f = cache
            dz = ((dP[:, 1] - dP[:, 0]) * f * (1.0 - f))[:, None]
        else:
            P = cache
            dz = P * (dP - (dP * P).sum(axis=1, keepdims=True))
        return affine_backward(X, dz.astype(X.dtype, copy=False))
