"""Potts MRF smoothing wrapped as an estimator, lambda chosen on sparse labels.

:class:`MRFSegmenter` wraps any scikit-learn style per-pixel estimator,
smooths its probability maps with :func:`chm.mrf.mrf_smooth` and chooses the
Potts weight ``lambda`` by cross-validation over held-out labeled pixels
(pixels labeled -1 are never looked at).  Both :class:`MRFSegmenter` and
:data:`DEFAULT_WEIGHTS` are also importable from :mod:`chm.mrf`.
"""

import copy
import warnings
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _validation as val
from ._params import (N_JOBS, Boolean, HasMethods, Interval, Options, RandomState, SequenceOf,
                      validate_params)
from .mrf import mrf_smooth

__all__ = ["DEFAULT_WEIGHTS", "MRFSegmenter"]

#: Default grid of smoothing weights searched by :class:`MRFSegmenter`:
#: no smoothing plus 12 log-spaced values from 0.05 to 20.
DEFAULT_WEIGHTS = np.r_[0.0, np.geomspace(0.05, 20.0, 12)]


def _check_images_labels(images, labels):
    """Images and label maps through the shared checks (:mod:`chm._validation`)."""
    if labels is None:
        raise ValueError("labels are required")
    images = val.check_images(images)
    return images, val.check_labels(labels, images)


def _classes_left_for_training(labels, folds, k):
    """The classes of the labeled pixels outside fold ``k``."""
    return np.unique(np.concatenate([lab[(f != k) & (lab >= 0)] for lab, f in zip(labels, folds)]))


def folds_can_train(labels, cv, rng):
    """Whether the ``cv`` folds :class:`MRFSegmenter` would deal leave each fold 2 classes to train on.

    ``rng`` (a RandomState, left as it was) must be the one the search will
    use: the folds are dealt from a copy of it.
    """
    n_labeled = sum(np.count_nonzero(lab >= 0) for lab in labels)
    if n_labeled < cv:
        return False
    folds = _assign_folds(labels, cv, copy.deepcopy(rng))
    return all(_classes_left_for_training(labels, folds, k).size >= 2 for k in range(cv))


def _check_fold_classes(labels, folds, k, cv, classes):
    """Raise a ValueError if the labels left for training fold ``k`` hold fewer than 2 classes."""
    present = _classes_left_for_training(labels, folds, k)
    if present.size >= 2:
        return
    missing = np.setdiff1d(classes, present)[0]
    n = sum(np.count_nonzero(lab == missing) for lab in labels)
    raise ValueError(
        f"cross-validation fold {k + 1} of cv={cv} lacks labels of class {missing} for training: "
        f"all {n} labeled pixel{'s' if n > 1 else ''} of class {missing} fall in that fold's "
        f"held-out pixels, so its estimator would see only class {present[0]}; lower cv, "
        f"label more pixels of class {missing}, or pass a single weight (no cross-validation)")


def _assign_folds(labels, n_folds, rng):
    """Split each image's labeled pixels into ``n_folds`` folds.

    Within every (image, class) group the pixels are shuffled and dealt out
    round-robin, continuing the deal where the previous group stopped, so
    each image and each class is spread as evenly as possible over the folds
    and the folds' sizes differ by at most one pixel.  Unlabeled pixels get
    fold -1.
    """
    folds = []
    start = 0
    for lab in labels:
        fold = np.full(lab.shape, -1, dtype=np.int32)
        flat = fold.reshape(-1)
        lab_flat = lab.reshape(-1)
        for c in np.unique(lab_flat[lab_flat >= 0]):
            idx = rng.permutation(np.flatnonzero(lab_flat == c))
            flat[idx] = (start + np.arange(idx.size)) % n_folds
            start = (start + idx.size) % n_folds
        folds.append(fold)
    return folds


def _align_proba(prob, est_classes, classes):
    """Reorder/extend a probability map from ``est_classes`` to ``classes``."""
    est_classes = np.asarray(est_classes)
    prob = np.asarray(prob)
    if prob.ndim != 3 or prob.shape[2] != est_classes.size:
        raise ValueError(
            f"estimator returned a probability map of shape {prob.shape} for {est_classes.size} classes"
        )
    if np.array_equal(est_classes, classes):
        return prob
    pos = np.searchsorted(classes, est_classes)
    if np.any(pos >= classes.size) or not np.array_equal(classes[np.minimum(pos, classes.size - 1)], est_classes):
        raise ValueError(f"estimator classes {est_classes} are not among the labels' classes {classes}")
    out = np.zeros(prob.shape[:2] + (classes.size,), dtype=prob.dtype)
    out[:, :, pos] = prob
    return out


def _heldout_correct(prob, image, lab, mask, grid, classes, contrast, eps):
    """Correctly labeled held-out pixels per weight of the grid and class, (n_weights, n_classes)."""
    truth = lab[mask]
    index = np.searchsorted(classes, truth)
    image = image if contrast else None
    return np.array([
        np.bincount(index[classes[mrf_smooth(prob, image, w, contrast, eps)[mask]] == truth],
                    minlength=classes.size)
        for w in grid
    ])


class MRFSegmenter(BaseEstimator):
    """Per-pixel estimator followed by Potts MRF smoothing, lambda chosen on sparse labels.

    ``predict`` labels each image by :func:`~chm.mrf.mrf_smooth` of the wrapped
    estimator's probability map with the smoothing weight ``weight_``.

    **How the weight is chosen.**  Only the sparse labels are ever used
    (pixels labeled -1 are never looked at).  The labeled pixels of every
    training image are split into ``cv`` folds, shuffled with
    ``random_state`` and dealt out per image and per class, so every image
    with at least ``cv`` labeled pixels contributes to every fold and the
    class proportions are kept.  For each fold, a clone of ``estimator`` is
    fitted on all images with that fold's pixels set to -1 (or, with
    ``cv_fits="auto"`` and a :class:`chm.CHM`, only its top-down classifier
    is retrained so; see ``cv_fits``); its probability
    maps of the training images are smoothed with every weight of the grid
    and the accuracy is measured on the held-out pixels (pooled over images).
    The weight with the best accuracy averaged over folds, ``cv_scores_``,
    is kept; a ``UserWarning`` says so when it is the largest weight of the
    grid, since the best weight may then lie beyond it.  Ties go to the
    **smallest** weight: held-out sparse labels can show that smoothing
    removes isolated errors, but they rarely sit on object boundaries or
    thin structures, which is where extra smoothing does harm, so among
    equally scored weights the least smoothing is the safe choice (and a
    grid containing 0 falls back to no smoothing when smoothing does not
    help).  Finally a clone of ``estimator`` is fitted on
    all labels as ``estimator_``.

    Held-out pixels share their images with the fold's training pixels, so
    the accuracies are somewhat optimistic about the estimator; what matters
    is the comparison between weights, made on identical probability maps.

    Parameters
    ----------
    estimator : estimator object
        Scikit-learn style segmenter: ``fit(images, labels)`` with label maps
        using -1 for unlabeled pixels, ``predict_proba(images)`` returning
        one ``(H, W, C)`` map per image, and ``classes_``.
    weights : float or array_like of float, default=None
        Grid of smoothing weights (``lambda >= 0``) to choose from; None uses
        :data:`DEFAULT_WEIGHTS` (0 and 12 log-spaced values from 0.05 to 20).
        A single number (or a one-element grid) is used as is, with no
        cross-validation.
    contrast : bool, default=False
        Use contrast-sensitive edge weights computed from the images (see
        :func:`~chm.mrf.contrast_weights`); the images passed to
        ``fit``/``predict`` must then be the gray-level or color images
        themselves.
    cv : int, default=3
        Number of folds over the labeled pixels, ``>= 2``. The labels left
        for training by every fold must hold at least two classes.
    eps : float in (0, 1), default=1e-6
        Floor on the probabilities inside the logarithm.
    cv_images : int or None, default=None
        Score each fold on at most this many of the images holding its
        held-out pixels, drawn at random (``random_state``); None scores
        all of them. Smoothing every image at every weight of the grid is
        the cost of the search (8-class alpha-expansion of hundreds of
        scene images, 13 weights and 3 folds takes longer than the fits
        themselves); 100 images of 10 labeled pixels still give each fold
        a few hundred held-out pixels. The fold estimators are still
        trained on all images.
    cv_fits : {"auto", "refit"}, default="auto"
        Where each fold's probability maps come from. ``"refit"``: a clone
        of ``estimator`` fitted on all images with that fold's pixels set
        to -1, as above: ``cv + 1`` fits in all. ``"auto"``: the same,
        unless the estimator offers ``fit_heldout`` (:class:`chm.CHM` does),
        which fits it once on all labels and retrains only its top-down
        classifier per fold, on the context the fitted hierarchy gave
        during training (out of fold by image, see
        :meth:`chm.CHM.fit_heldout`); that final fit is ``estimator_``. On
        Weizmann Horse it cuts the search of a default CHM with TV from
        three fits of the whole hierarchy to three trainings of its last
        classifier.
    scoring : {"accuracy", "balanced"}, default="accuracy"
        What the held-out pixels score: ``"accuracy"``, the share of them
        labeled right; ``"balanced"``, the mean over classes of the share of
        each class's held-out pixels labeled right (balanced accuracy), so
        that a rare class, such as a thin structure that smoothing erases,
        counts as much as the common one.
    n_jobs : int, default=None
        Number of jobs smoothing the images of a fold in parallel (joblib
        convention; None means 1, 0 is not allowed).
    random_state : int, RandomState instance or None, default=None
        Seeds the split of the labeled pixels into folds and the choice of
        the ``cv_images`` scored images.

    Attributes
    ----------
    estimator_ : estimator object
        Clone of ``estimator`` fitted on all labels.
    classes_ : ndarray
        Class labels, those of ``estimator_``.
    weight_ : float
        Chosen smoothing weight.
    weights_ : ndarray of float64
        The grid searched, sorted ascending without duplicates.
    cv_scores_ : ndarray of float64, shape (n_weights,) or None
        Mean held-out accuracy for each weight of ``weights_``; None when no
        cross-validation was run.
    cv_fold_scores_ : ndarray of float64, shape (cv, n_weights) or None
        Held-out accuracy of each fold and weight.

    Notes
    -----
    Every parameter is checked against ``_parameter_constraints`` at the
    start of :meth:`fit`, and images and labels go through the same checks
    as in :class:`chm.CHM` (boolean and integer images, integral float
    labels; :mod:`chm._validation`). The images given to the wrapped
    estimator and used for contrast are those checked images (float32).
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "weights": [None, Interval(Real, 0, None, closed="left"),
                    SequenceOf(Interval(Real, 0, None, closed="left"), min_length=1)],
        "contrast": [Boolean()],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "eps": [Interval(Real, 0, 1, closed="neither")],
        "cv_images": [None, Interval(Integral, 1, None, closed="left")],
        "cv_fits": [Options({"auto", "refit"})],
        "scoring": [Options({"accuracy", "balanced"})],
        "n_jobs": N_JOBS,
        "random_state": [RandomState()],
    }

    def __init__(self, estimator, weights=None, contrast=False, cv=3, eps=1e-6, cv_images=None,
                 cv_fits="auto", scoring="accuracy", n_jobs=None, random_state=None):
        self.estimator = estimator
        self.cv_fits = cv_fits
        self.scoring = scoring
        self.weights = weights
        self.contrast = contrast
        self.cv = cv
        self.cv_images = cv_images
        self.eps = eps
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _weight_grid(self):
        """The validated ``weights`` as a sorted float64 grid without duplicates."""
        grid = DEFAULT_WEIGHTS if self.weights is None else self.weights
        return np.unique(np.asarray(grid, dtype=np.float64).reshape(-1))

    def fit(self, images, labels):
        """Choose the smoothing weight on the sparse labels and fit the estimator.

        Parameters
        ----------
        images : sequence of ndarray, each (H, W) or (H, W, 3)
            Training images.
        labels : sequence of int ndarray, each (H, W)
            Sparse label maps, -1 for unlabeled pixels.

        Returns
        -------
        self : MRFSegmenter
        """
        validate_params(self)
        images, labels = _check_images_labels(images, labels)
        classes = val.check_sparse_labels(labels, min_classes=2)
        eps = float(self.eps)
        grid = self._weight_grid()
        n_labeled = sum(np.count_nonzero(lab >= 0) for lab in labels)
        self.weights_ = grid
        fitted = None  # the final fit, when the search made it (cv_fits)
        if grid.size == 1:
            self.cv_scores_ = None
            self.cv_fold_scores_ = None
            self.weight_ = float(grid[0])
        else:
            cv = int(self.cv)
            if n_labeled < cv:
                raise ValueError(f"cv={cv} folds need at least {cv} labeled pixels, "
                                 f"got {n_labeled}")
            n_scored = self.cv_images
            rng = check_random_state(self.random_state)
            folds = _assign_folds(labels, cv, rng)
            for k in range(cv):
                _check_fold_classes(labels, folds, k, cv, classes)
            wanted = []
            for k in range(cv):
                used = [i for i, f in enumerate(folds) if np.any(f == k)]
                if n_scored is not None and len(used) > n_scored:
                    used = sorted(rng.choice(used, n_scored, replace=False).tolist())
                wanted.append(used)
            fold_scores = np.empty((cv, grid.size))

            def score(k, used, probs, est_classes):
                fold_scores[k] = self._heldout_accuracy(images, labels, folds, k, used, probs,
                                                        est_classes, classes, grid, eps)

            if self.cv_fits == "auto" and hasattr(self.estimator, "fit_heldout"):
                est = clone(self.estimator)
                # its maps have a column per class of all the labels, even before it is fitted
                fitted = est.fit_heldout(
                    images, labels, folds, lambda k, used, probs: score(k, used, probs, classes),
                    wanted)
            else:
                for k, used in enumerate(wanted):
                    train = [np.where(f == k, -1, lab) for lab, f in zip(labels, folds)]
                    est = clone(self.estimator).fit(images, train)
                    score(k, used, est.predict_proba([images[i] for i in used]), est.classes_)
            self.cv_fold_scores_ = fold_scores
            self.cv_scores_ = fold_scores.mean(axis=0)
            best = np.flatnonzero(self.cv_scores_ >= self.cv_scores_.max() - 1e-12)[0]
            self.weight_ = float(grid[best])
            if best == grid.size - 1:
                warnings.warn(f"the chosen smoothing weight {self.weight_:g} is the largest of "
                              f"the grid and scored better than every smaller one; a larger "
                              f"weight may score better still: pass a grid reaching further "
                              f"(weights=...)", UserWarning, stacklevel=2)
        self.estimator_ = clone(self.estimator).fit(images, labels) if fitted is None else fitted
        return self

    def _heldout_accuracy(self, images, labels, folds, k, used, probs, est_classes, classes, grid,
                          eps):
        """Held-out accuracy of fold ``k`` for every weight of the grid, from the probability
        maps ``probs`` (classes ``est_classes``) of images ``used``, made without its pixels."""
        jobs = (
            delayed(_heldout_correct)(
                _align_proba(prob, est_classes, classes), images[i], labels[i], folds[i] == k,
                grid, classes, self.contrast, eps,
            )
            for prob, i in zip(probs, used)
        )
        correct = np.sum(Parallel(n_jobs=self.n_jobs)(jobs), axis=0)  # (n_weights, n_classes)
        truth = np.concatenate([labels[i][folds[i] == k] for i in used])
        n_heldout = np.bincount(np.searchsorted(classes, truth), minlength=classes.size)
        if self.scoring == "accuracy":
            return correct.sum(axis=1) / n_heldout.sum()
        seen = n_heldout > 0  # balanced: the mean of the recalls of the held-out classes
        return (correct[:, seen] / n_heldout[seen]).mean(axis=1)

    def save(self, path):
        """Write the fitted model to a model file; read it back with :func:`chm.load`.

        Same as ``chm.save(self, path)`` (:func:`chm.persistence.save`).

        Parameters
        ----------
        path : str or path-like
        """
        from .persistence import save

        save(self, path)

    @property
    def classes_(self):
        check_is_fitted(self, "estimator_")
        return self.estimator_.classes_

    def predict_proba(self, images):
        """Probability maps of the fitted estimator (unsmoothed).

        Parameters
        ----------
        images : sequence of ndarray, each (H, W) or (H, W, 3)

        Returns
        -------
        list of ndarray, each (H, W, C)
        """
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(images)

    def predict(self, images):
        """Smoothed label maps.

        Parameters
        ----------
        images : sequence of ndarray, each (H, W) or (H, W, 3)

        Returns
        -------
        list of ndarray, each (H, W)
            Labels taken from ``classes_``.
        """
        check_is_fitted(self, "estimator_")
        images = val.check_images(images)
        classes = np.asarray(self.estimator_.classes_)
        probs = self.estimator_.predict_proba(images)
        image_for = (lambda im: im) if self.contrast else (lambda im: None)
        return [
            classes[mrf_smooth(prob, image_for(im), self.weight_, self.contrast, self.eps)]
            for prob, im in zip(probs, images)
        ]

    def score(self, images, labels):
        """Accuracy of ``predict`` on the labeled pixels (label >= 0).

        Parameters
        ----------
        images : sequence of ndarray, each (H, W) or (H, W, 3)
        labels : sequence of int ndarray, each (H, W)
            Label maps, -1 for unlabeled pixels.

        Returns
        -------
        float
        """
        images, labels = _check_images_labels(images, labels)
        n_labeled = sum(np.count_nonzero(lab >= 0) for lab in labels)
        if n_labeled == 0:
            raise ValueError("labels contain no labeled pixel (all -1)")
        preds = self.predict(images)
        correct = sum(np.count_nonzero(pred[lab >= 0] == lab[lab >= 0]) for pred, lab in zip(preds, labels))
        return correct / n_labeled
