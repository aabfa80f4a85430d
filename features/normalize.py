"""Per-feature standardisation learned on training pixels."""
import numpy as np

from .base import FLOAT32_MAX, peak_abs, to_float32

#: Standardised values are clipped to +-2**60: training pixels lie within
#: +-sqrt(n_samples) of 0, and a float32 dot product of F such values with
#: weights of any sensible size stays finite.
STANDARD_MAX = 2.0 ** 60


def _as_rows(X):
    """Float array (..., F) -> 2-D view (n, F)."""
    X = np.asarray(X)
    if X.ndim < 1:
        raise ValueError("expected an array of shape (..., F)")
    return X.reshape(-1, X.shape[-1])


class FeatureNormalizer:
    """Standardise features: ``(X - mean_) / scale_``, float32.

    Features holding NaN or infinite values are rejected (``ValueError``).
    Standardised values are computed without overflow (in float64 where the
    float32 arithmetic could overflow) and clipped to ``+-2**60``
    (:data:`STANDARD_MAX`), far outside the range of the training pixels.

    Attributes
    ----------
    mean_ : ndarray of float32, shape (F,)
    scale_ : ndarray of float32, shape (F,)
        Standard deviation of each feature on the training pixels; 1 for
        (numerically) constant features, so they map to 0 instead of blowing up.
    n_features_in_ : int
    n_samples_seen_ : int

    Examples
    --------
    >>> X = np.array([[0.0, 5.0], [2.0, 5.0]])
    >>> norm = FeatureNormalizer().fit(X)
    >>> norm.mean_.tolist(), norm.scale_.tolist()
    ([1.0, 5.0], [1.0, 1.0])
    >>> norm.transform(X).tolist()
    [[-1.0, 0.0], [1.0, 0.0]]
    """

    def fit(self, X):
        """Learn mean and scale.

        Parameters
        ----------
        X : array_like (n_pixels, F), array (..., F), or a list of such arrays
            E.g. the training pixels, or a list of ``(H, W, F)`` feature
            stacks; statistics are accumulated in float64 block by block, so
            a list is never concatenated.

        Returns
        -------
        self
        """
        blocks = X if isinstance(X, (list, tuple)) else [X]
        if not blocks:
            raise ValueError("fit needs at least one array")
        n, total, n_features = 0, None, None
        for block in blocks:
            rows = _as_rows(block)
            if n_features is None:
                n_features = rows.shape[1]
                total = np.zeros(n_features)
            elif rows.shape[1] != n_features:
                raise ValueError(f"inconsistent feature counts: {n_features} and {rows.shape[1]}")
            n += rows.shape[0]
            total += rows.sum(axis=0, dtype=np.float64)
        if n == 0:
            raise ValueError("fit needs at least one sample")
        if not np.isfinite(total).all():
            for block in blocks:
                peak_abs(np.asarray(block), "features")
            raise ValueError("features too large to standardise: their sum overflows float64")
        mean = total / n
        total_sq = np.zeros(n_features)
        for block in blocks:  # second pass: exact variance around the mean
            centred = _as_rows(block).astype(np.float64) - mean
            total_sq += np.einsum("ij,ij->j", centred, centred)
        std = np.sqrt(total_sq / n)
        tiny = 10 * np.finfo(np.float32).eps * np.maximum(1.0, np.abs(mean))
        self.mean_ = mean.astype(np.float32)
        self.scale_ = np.where(std > tiny, std, 1.0).astype(np.float32)
        self.n_features_in_ = int(n_features)
        self.n_samples_seen_ = int(n)
        return self

    def transform(self, X, copy=True):
        """Standardise ``X`` of shape (..., F); returns float32 of the same shape.

        With ``copy=False`` a float32 C-contiguous ``X`` is overwritten in place.
        """
        if not hasattr(self, "mean_"):
            raise RuntimeError("FeatureNormalizer is not fitted; call fit first")
        X = np.asarray(X)
        if X.ndim < 1 or X.shape[-1] != self.n_features_in_:
            raise ValueError(f"expected an array of shape (..., {self.n_features_in_}), got {X.shape}")
        # |X - mean| is at most `spread`: the float32 arithmetic cannot overflow when
        # both it and spread / min(scale) are in range
        spread = peak_abs(X, "features") + float(np.abs(self.mean_).max(initial=0))
        if spread > FLOAT32_MAX or spread / float(self.scale_.min(initial=1)) > STANDARD_MAX:
            out = (X.astype(np.float64) - self.mean_) / self.scale_
            out = to_float32(np.clip(out, -STANDARD_MAX, STANDARD_MAX))
            if copy or X.dtype != np.float32:
                return out
            X[...] = out
            return X
        if copy or X.dtype != np.float32:
            return (X - self.mean_).astype(np.float32, copy=False) / self.scale_
        X -= self.mean_
        X /= self.scale_
        return X

    def fit_transform(self, X):
        """``fit(X)`` then ``transform`` of ``X`` (of each array if ``X`` is a list)."""
        self.fit(X)
        if isinstance(X, (list, tuple)):
            return [self.transform(x) for x in X]
        return self.transform(X)

    def inverse_transform(self, X):
        """Undo :meth:`transform`."""
        return (np.asarray(X, dtype=np.float32) * self.scale_ + self.mean_).astype(np.float32)

    def __repr__(self):
        fitted = f"n_features_in_={self.n_features_in_}" if hasattr(self, "n_features_in_") else "unfitted"
        return f"FeatureNormalizer({fitted})"
