"""Self-training: the sparse labels extended by the model's own confident pixels.

Sparse labels painted as strokes cover a few clustered places of each image.
:class:`SelfTrainingSegmenter` fits its estimator on them, labels a random
sample of the pixels that fit predicts with confidence (pseudo-labels,
spread over the whole of every training image), and fits a fresh copy of the
estimator on the true and the pseudo-labels together: the second fit sees the
parts of the images no stroke reached. This is self-training in the sense of
Yarowsky (1995) and Lee (2013, "Pseudo-Label"), as in scikit-learn's
``SelfTrainingClassifier``, applied to label maps.
"""
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state

from ._params import HasMethods, Interval, RandomState
from .base import RefitMixin

__all__ = ["SelfTrainingSegmenter", "pseudo_labels"]


def pseudo_labels(proba, labels, classes, n_per_image, threshold, rng):
    """The label maps ``labels`` plus pseudo-labels drawn from probability maps.

    In each image, the pixels predicted as class ``k`` with a probability of
    at least ``threshold`` and not yet labeled are the candidates of class
    ``k``. ``round(n_per_image * s_k)`` of them are drawn at random, where
    ``s_k`` is the share of the image's pixels predicted as ``k``, so the
    pseudo-labels keep the predicted class shares of the image (all the
    candidates when there are fewer).

    Parameters
    ----------
    proba : list of ndarray (H, W, C)
        Probability maps, channel ``k`` for ``classes[k]``.
    labels : list of int ndarray (H, W)
        Label maps, -1 for unlabeled pixels; their labeled pixels are kept.
    classes : ndarray (C,)
    n_per_image : int
    threshold : float in [0, 1]
    rng : numpy.random.RandomState

    Returns
    -------
    list of int64 ndarray (H, W)
        New label maps (the inputs are not modified).
    """
    out = []
    for prob, lab in zip(proba, labels):
        lab = np.array(lab, dtype=np.int64)
        best = prob.argmax(axis=-1)
        confident = (prob.max(axis=-1) >= threshold) & (lab < 0)
        flat = lab.reshape(-1)
        for k, value in enumerate(classes):
            predicted = best == k
            n = int(round(n_per_image * predicted.mean()))
            candidates = np.flatnonzero(confident & predicted)
            if n == 0 or candidates.size == 0:
                continue
            flat[rng.choice(candidates, min(n, candidates.size), replace=False)] = value
        out.append(lab)
    return out


class SelfTrainingSegmenter(RefitMixin, BaseEstimator):
    """A segmenter refitted on its sparse labels plus its own confident pixels.

    ``fit`` fits a clone of ``estimator`` on the sparse labels, draws
    ``n_per_image`` pseudo-labels per training image among the unlabeled
    pixels it predicts with a probability of at least ``threshold``
    (:func:`pseudo_labels`, in the predicted class shares of the image), and
    fits a fresh clone on the true and pseudo-labels together; ``max_iter``
    such rounds, each drawing its pseudo-labels from the previous round's
    model (the true labels are always kept, never overwritten). Only the
    training images are used; no test image is looked at.

    Parameters
    ----------
    estimator : estimator object
        Segmenter with ``fit(images, labels)`` (label maps, -1 unlabeled),
        ``predict_proba(images)`` (one (H, W, C) map per image) and
        ``classes_``, such as :class:`chm.CHM`.
    n_per_image : int >= 1, default 20
        Pseudo-labels added per training image and round.
    threshold : float in [0, 1], default 0.9
        Least predicted probability of a pseudo-labeled pixel.
    max_iter : int >= 1, default 1
        Rounds of pseudo-labelling and refitting.
    random_state : int, RandomState instance or None, default None
        Seeds the draw of the pseudo-labels.

    Attributes
    ----------
    estimator_ : estimator object
        The last round's fit; it makes the predictions.
    classes_ : ndarray
        The sparse labels' classes.
    n_pseudo_labels_ : list of int
        Pseudo-labeled pixels of the training images after each round.
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "n_per_image": [Interval(Integral, 1, None, closed="left")],
        "threshold": [Interval(Real, 0, 1, closed="both")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "random_state": [RandomState()],
    }

    def __init__(self, estimator, n_per_image=20, threshold=0.9, max_iter=1, random_state=None):
        self.estimator = estimator
        self.n_per_image = n_per_image
        self.threshold = threshold
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, images, labels):
        """Fit on the sparse labels, then on them plus pseudo-labels (``max_iter`` rounds).

        Parameters
        ----------
        images : list of ndarray (H, W) or (H, W, 3)
        labels : list of int ndarray (H, W)
            Sparse label maps, -1 for unlabeled pixels.

        Returns
        -------
        self
        """
        images, labels = self._fit_prologue(images, labels)
        rng = check_random_state(self.random_state)
        model = clone(self.estimator).fit(images, labels)
        self.n_pseudo_labels_ = []
        for _ in range(int(self.max_iter)):
            extended = pseudo_labels(model.predict_proba(images), labels, np.asarray(model.classes_),
                                     int(self.n_per_image), float(self.threshold), rng)
            self.n_pseudo_labels_.append(self._n_added(extended, labels))
            model = clone(self.estimator).fit(images, extended)
        self.estimator_ = model
        return self
