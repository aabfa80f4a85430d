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
from sklearn.utils.validation import check_is_fitted

from . import _validation as val
from .base import SegmenterMixin

__all__ = ["ForestSegmenter"]


class ForestSegmenter(SegmenterMixin, BaseEstimator):
    """Random forest on multi-scale local features (scikit-image / ilastik style).

    Parameters
    ----------
    n_estimators : int, default=100
        Trees of the forest.
    max_depth : int or None, default=None
        Depth limit of the trees (None: grown until pure).
    sigma_min, sigma_max : float, default=0.5, 16.0
        Smallest and largest Gaussian scale of the features
        (:func:`skimage.feature.multiscale_basic_features`; the scales are
        ``sigma_min`` times powers of 2 up to ``sigma_max``).
    intensity, edges, texture : bool, default=True
        Feature families: smoothed intensity, gradient magnitude, Hessian
        eigenvalues. RGB images are described channel by channel.
    n_jobs : int or None, default=None
        Threads of the forest (joblib convention) and of the feature filters
        (None: 1 for the filters).
    random_state : int, RandomState instance or None, default=None
        Seeds the forest; the same seed and data give the same model.

    Attributes
    ----------
    classes_ : ndarray of int64
        Labels seen in fit, sorted.
    n_channels_ : int
        Channels of the training images (1 gray, 3 RGB).
    n_features_ : int
        Features per pixel.
    forest_ : sklearn.ensemble.RandomForestClassifier
        The fitted forest.
    """

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

    def _check_fitted(self):
        check_is_fitted(self, "forest_")

    def _check_params(self):
        val.check_int(self.n_estimators, "n_estimators", 1)
        if self.max_depth is not None:
            val.check_int(self.max_depth, "max_depth", 1)
        for name in ("sigma_min", "sigma_max"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value) \
                    or value <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if self.sigma_max < self.sigma_min:
            raise ValueError(f"sigma_max ({self.sigma_max}) must be >= sigma_min ({self.sigma_min})")
        flags = [val.check_bool(getattr(self, name), name)
                 for name in ("intensity", "edges", "texture")]
        if not any(flags):
            raise ValueError("at least one of intensity, edges and texture must be True")
        if self.n_jobs is not None and (isinstance(self.n_jobs, bool)
                                        or not isinstance(self.n_jobs, Integral) or self.n_jobs == 0):
            raise ValueError(f"n_jobs must be a nonzero integer or None, got {self.n_jobs!r}")

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
        self._check_params()
        images = val.check_images(images)
        labels = val.check_labels(labels, images)
        self.classes_ = np.asarray(val.check_sparse_labels(labels, min_classes=2), np.int64)
        self.n_channels_ = val.image_channels(images)
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
        images = val.check_images(images)
        self._check_channels(images)
        out = []
        for image in images:
            feats = self._features(image)
            prob = self.forest_.predict_proba(feats.reshape(-1, feats.shape[-1]))
            out.append(prob.reshape(image.shape[:2] + (-1,)).astype(np.float32))
        return out
