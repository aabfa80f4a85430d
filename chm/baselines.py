"""The pixel classifier of the tools in common use, as a baseline with the same API.

scikit-image's trainable segmentation (:class:`skimage.future.TrainableSegmenter`)
and ilastik's pixel classification both describe each pixel by Gaussian-smoothed
intensities, gradient magnitudes and Hessian eigenvalues over a range of scales
and train a random forest on the labeled pixels (scribbles or clicks). There is
no spatial term in training: each pixel is classified on its own.
:class:`ForestSegmenter` is that pipeline, built from
:func:`skimage.feature.multiscale_basic_features` and
:class:`sklearn.ensemble.RandomForestClassifier`, behind the estimator API of
:class:`chm.CHM` (lists of images, sparse labels with -1 = unlabeled), so that
the benchmarks can score it on the same protocol, and :class:`chm.mrf.MRFSegmenter`
can wrap it.
"""
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import RandomForestClassifier

from ._params import N_JOBS, Boolean, Interval, RandomState
from ._validation import check_images
from .base import SegmenterMixin

__all__ = ["ForestSegmenter"]


class ForestSegmenter(SegmenterMixin, BaseEstimator):
    """Random forest on multi-scale local features (scikit-image / ilastik style).

    Parameters
    ----------
    n_estimators : int >= 1, default=100
        Trees of the forest.
    max_depth : int >= 1 or None, default=None
        Depth limit of the trees (None: grown until pure).
    sigma_min, sigma_max : float in (0, 4096], default=0.5, 16.0
        Smallest and largest Gaussian scale of the features
        (:func:`skimage.feature.multiscale_basic_features`; the scales are
        ``sigma_min`` times powers of 2 up to ``sigma_max``, which must not
        be below ``sigma_min``).
    intensity, edges, texture : bool, default=True
        Feature families: smoothed intensity, gradient magnitude, Hessian
        eigenvalues; at least one must be True. RGB images are described
        channel by channel.
    n_jobs : int or None, default=None
        Threads of the forest (joblib convention: -1 all cores, 0 is not
        allowed) and of the feature filters (None: 1 for the filters).
    random_state : int, RandomState instance or None, default=None
        Seeds the forest; the same seed and data give the same model.

    Attributes
    ----------
    classes_ : ndarray of int64
        Labels seen in fit, sorted.
    n_classes_ : int
        Number of classes.
    n_channels_ : int
        Channels of the training images (1 gray, 3 RGB).
    n_features_ : int
        Features per pixel.
    forest_ : sklearn.ensemble.RandomForestClassifier
        The fitted forest.
    """

    _fitted_attribute = "forest_"
    _parameter_constraints = {
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "max_depth": [None, Interval(Integral, 1, None, closed="left")],
        "sigma_min": [Interval(Real, 0, 4096, closed="right")],
        "sigma_max": [Interval(Real, 0, 4096, closed="right")],
        "intensity": [Boolean()],
        "edges": [Boolean()],
        "texture": [Boolean()],
        "n_jobs": N_JOBS,
        "random_state": [RandomState()],
    }

    def __init__(self, n_estimators=100, max_depth=None, sigma_min=0.5, sigma_max=16.0,
                 intensity=True, edges=True, texture=True, n_jobs=None, random_state=None):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.sigma_min = sigma_min
        self.sigma_max = sigma_max
        self.intensity = intensity
        self.edges = edges
        self.texture = texture
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _check_params(self):
        self._validate_params()
        if self.sigma_max < self.sigma_min:
            raise ValueError(f"sigma_max ({self.sigma_max}) must be >= sigma_min ({self.sigma_min})")
        if not (self.intensity or self.edges or self.texture):
            raise ValueError("at least one of intensity, edges and texture must be True")

    def _features(self, image):
        """(H, W, n_features) float32 features of one validated image."""
        from skimage.feature import multiscale_basic_features

        workers = 1 if self.n_jobs is None or self.n_jobs < 0 else self.n_jobs
        feats = multiscale_basic_features(
            image, intensity=self.intensity, edges=self.edges, texture=self.texture,
            sigma_min=self.sigma_min, sigma_max=self.sigma_max, workers=workers,
            channel_axis=-1 if image.ndim == 3 else None)
        return feats.astype(np.float32, copy=False)

    def fit(self, images, labels):
        """Train the forest on the labeled pixels.

        Parameters
        ----------
        images : list of ndarray or ndarray
            Images (H, W) or (H, W, 3); sizes may differ.
        labels : list of ndarray or ndarray
            One int label map per image, -1 for unlabeled pixels; at least
            two classes must be labeled.

        Returns
        -------
        self : ForestSegmenter
        """
        images, labels = self._fit_prologue(images, labels)
        X, y = [], []
        for image, lab in zip(images, labels):
            known = lab >= 0
            if known.any():
                X.append(self._features(image)[known])
                y.append(lab[known])
        X = np.concatenate(X)
        self.n_features_ = X.shape[1]
        self.forest_ = RandomForestClassifier(
            n_estimators=self.n_estimators, max_depth=self.max_depth, n_jobs=self.n_jobs,
            random_state=self.random_state).fit(X, np.concatenate(y))
        return self

    def predict_proba(self, images):
        """Class probabilities of every pixel.

        Parameters
        ----------
        images : list of ndarray or ndarray
            Images like those of :meth:`fit` (same number of channels).

        Returns
        -------
        list of ndarray of float32, shape (H, W, n_classes)
            Channel ``k`` is class ``classes_[k]``; each pixel sums to 1.
        """
        self._check_fitted()
        images = check_images(images)
        self._check_channels(images)
        out = []
        for image in images:
            feats = self._features(image)
            prob = self.forest_.predict_proba(feats.reshape(-1, feats.shape[-1]))
            out.append(prob.reshape(image.shape[:2] + (-1,)).astype(np.float32))
        return out
