"""A unit's prediction with its input normalisation folded into its classifiers.

Each stage classifier starts with an affine map ``z = x_n W + b`` of the
normalised inputs ``x_n = (x - mean) / scale``
(:class:`features.FeatureNormalizer`). That is the affine map
``z = x (W / scale) + (b - (mean / scale) W)`` of the raw inputs ``x``, so a
prediction need not build normalised rows: it multiplies the level's image
features where they lie, and the sampled context apart,

    z = x_features W'_features + x_context W'_context + b',

with the classifier and its fold copies (the fold ensemble) side by side in
one ``W'``. Each classifier's part of ``z`` then goes through its
:meth:`~chm.classifiers.base.StageClassifier.head`.

The folded map differs from the normalised one by float32 rounding. It is
used only where that rounding is small and nothing can overflow
(:meth:`FoldedUnit.applies`); elsewhere the unit normalises its rows as in
training.
"""
import numpy as np

from features.base import FLOAT32_MAX
from features.normalize import STANDARD_MAX

__all__ = ["FoldedUnit", "MAX_CENTRE_RATIO"]

# Largest |mean / scale| of a folded input. The rounding of x W' is about
# float32's epsilon times |x / scale| |W|; at a ratio of 1e3 that is 1e-4 |W|.
MAX_CENTRE_RATIO = 1e3


class FoldedUnit:
    """The normalisation and first affine maps of a unit's classifiers, folded.

    Parameters
    ----------
    unit : chm.plan.Unit
    average_folds : bool
        Average the classifier with its fold copies (as
        :meth:`chm.plan.Unit.predict_proba`).
    n_features : int
        How many leading input columns are image features; the rest are
        context.
    """

    def __init__(self, unit, average_folds, n_features):
        self.classifiers = [unit.classifier] + (list(unit.fold_classifiers) if average_folds else [])
        mean = unit.normalizer.mean_.astype(np.float64)
        scale = unit.normalizer.scale_.astype(np.float64)
        weights, biases, self.widths = [], [], []
        for clf in self.classifiers:
            W, b = (np.asarray(p, np.float64) for p in clf.params_[:2])
            W = W / scale[:, None]
            weights.append(W)
            biases.append(b - mean @ W)
            self.widths.append(W.shape[1])
        W = np.concatenate(weights, axis=1)
        self.feature_weights = np.ascontiguousarray(W[:n_features], np.float32)
        self.context_weights = np.ascontiguousarray(W[n_features:], np.float32)
        self.bias = np.concatenate(biases).astype(np.float32)
        self._mean_abs = float(np.abs(mean[:n_features]).max(initial=0))
        self._scale_min = float(scale.min(initial=1))
        self._centred = bool(np.all(np.abs(mean / scale) <= MAX_CENTRE_RATIO))

    def applies(self, features_peak):
        """Whether the folded map may be used on features whose largest ``|value|`` is
        ``features_peak``.

        It may when the inputs' centres are within :data:`MAX_CENTRE_RATIO`
        scales of 0, and when the normalised features cannot leave the range
        that :meth:`features.FeatureNormalizer.transform` computes in float32
        without clipping. The context columns are probabilities.
        """
        spread = features_peak + self._mean_abs
        return (self._centred and spread <= FLOAT32_MAX
                and spread / self._scale_min <= STANDARD_MAX)

    def predict_proba(self, features, context):
        """Class probabilities (n, C) of raw feature rows (n, F) and context rows (n, D - F)."""
        z = features @ self.feature_weights
        if context.shape[1]:
            z += context @ self.context_weights
        z += self.bias
        P, start = None, 0
        for clf, width in zip(self.classifiers, self.widths):
            part = clf.head(z[:, start:start + width])[0]
            P = part if P is None else P + part
            start += width
        if len(self.classifiers) > 1:
            P /= np.float32(len(self.classifiers))
        return P
