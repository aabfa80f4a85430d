"""Training with the Potts penalty by graph-cut proposals.

Gradient descent gets little from the nearest-neighbour Potts loss (Marin et
al., CVPR 2019, "Beyond Gradient Descent for Regularized Segmentation
Losses"); their alternating direction method (ADM) splits

    min_θ  E_S(θ) + λ · Potts(S_θ)

into a discrete step, the labeling ``Y`` minimising
``Σ_p -log S_θ(p, Y_p) + λ Σ_{p~q} [Y_p ≠ Y_q]`` with the sparse labels held
fixed (a graph cut, :func:`chm.mrf.mrf_smooth`), and a continuous step, the
classifier fitted with the supervised loss on ``Y``. :class:`ProposalSegmenter`
makes that split with the Potts weight ``λ`` chosen on held-out labeled
pixels (:class:`chm.mrf_segmenter.MRFSegmenter`), cutting each training
image's probability map and refitting the estimator on the sparse labels
plus a sample of the cut's pixels away from its boundaries (the proposals).
The proposals reach every part of every training image, each consistent with
its neighbours, where the sparse labels are a few isolated pixels.
"""
import warnings
from numbers import Integral, Real

import numpy as np
from scipy import ndimage as ndi
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state

from ._params import N_JOBS, Boolean, HasMethods, Interval, Options, RandomState, SequenceOf
from .base import RefitMixin
from .mrf import mrf_smooth
from .mrf_segmenter import MRFSegmenter, folds_can_train

__all__ = ["ProposalSegmenter", "potts_proposals"]


def _clamped(prob, lab, classes):
    """``prob`` with every labeled pixel of ``lab`` made certain of its label."""
    prob = np.array(prob, dtype=np.float32)
    labeled = lab >= 0
    prob[labeled] = 0.0
    prob[labeled, np.searchsorted(classes, lab[labeled])] = 1.0
    return prob


def _away_from_boundaries(cut, band):
    """Pixels of the label map ``cut`` farther than ``band`` px (chessboard) from another label."""
    if band == 0:
        return np.ones(cut.shape, dtype=bool)
    near = ndi.grey_dilation(cut, size=3) != ndi.grey_erosion(cut, size=3)
    if band > 1:
        near = ndi.binary_dilation(near, iterations=band - 1)
    return ~near


def potts_proposals(proba, labels, classes, weight, n_per_image, band, rng, images=None,
                    contrast=False, eps=1e-6):
    """The label maps ``labels`` plus pixels of their Potts proposals.

    Each image's probability map, with its labeled pixels made certain of
    their labels, is cut by :func:`chm.mrf.mrf_smooth` with ``weight`` (the
    ADM labeling step: the minimum of the unary ``-log p`` plus ``weight``
    times the Potts term). ``n_per_image`` unlabeled pixels of the cut that
    lie more than ``band`` pixels from a boundary between its labels are drawn
    at random and take the cut's label (all of them when there are fewer).

    Parameters
    ----------
    proba : list of ndarray (H, W, C)
        Probability maps, channel ``k`` for ``classes[k]``.
    labels : list of int ndarray (H, W)
        Label maps, -1 for unlabeled pixels; their labeled pixels are kept.
    classes : ndarray (C,)
        Sorted class values.
    weight : float >= 0
        Potts weight λ.
    n_per_image : int >= 1
    band : int >= 0
        Pixels within this chessboard distance of a boundary of the cut are
        never drawn (0: every pixel may be).
    rng : numpy.random.RandomState
    images : list of ndarray or None
        The images, for ``contrast=True``.
    contrast : bool
        Contrast-sensitive edge weights (:func:`chm.mrf.contrast_weights`).
    eps : float
        Floor on the probabilities inside the logarithm.

    Returns
    -------
    extended : list of int64 ndarray (H, W)
        New label maps (the inputs are not modified).
    cuts : list of int64 ndarray (H, W)
        The cuts, as class values.
    """
    classes = np.asarray(classes)
    extended, cuts = [], []
    for i, (prob, lab) in enumerate(zip(proba, labels)):
        lab = np.array(lab, dtype=np.int64)
        image = None if images is None or not contrast else np.asarray(images[i])
        cut = mrf_smooth(_clamped(prob, lab, classes), image, weight, contrast, eps)
        candidates = np.flatnonzero((lab < 0) & _away_from_boundaries(cut, band))
        pick = rng.choice(candidates, min(n_per_image, candidates.size), replace=False)
        lab.reshape(-1)[pick] = classes[cut.reshape(-1)[pick]]
        extended.append(lab)
        cuts.append(classes[cut])
    return extended, cuts


class ProposalSegmenter(RefitMixin, BaseEstimator):
    """A segmenter trained with the Potts penalty by graph-cut proposals.

    ``fit`` chooses the Potts weight ``weight_`` on held-out labeled pixels
    and fits ``estimator`` on the sparse labels (both by
    :class:`~chm.mrf_segmenter.MRFSegmenter`, whose search for a
    :class:`chm.CHM` retrains only its top-down classifier per fold). Then,
    ``rounds`` times: the training images' probability maps are cut
    (:func:`potts_proposals`, the sparse labels held fixed) and a fresh clone
    of ``estimator`` is fitted on the sparse labels plus ``n_per_image``
    pixels of each cut, drawn more than ``band`` px from the cut's
    boundaries. When the search chooses weight 0 (no penalty), there is no
    round, and the model is the estimator fitted on the sparse labels; so it
    is when some fold of the search would leave fewer than two classes to
    train on (a class with a single labeled pixel), with a ``UserWarning``.
    This is the alternating direction method of Marin et al.
    (2019) for ``E_S + λ · Potts``: the cut is its labeling step, the fit its
    training step. Only the training images and their sparse labels are
    used.

    Parameters
    ----------
    estimator : estimator object
        Segmenter with ``fit(images, labels)`` (label maps, -1 unlabeled),
        ``predict_proba(images)`` and ``classes_``, such as :class:`chm.CHM`
        (``CHM(tv_weight=0)`` is the usual choice: the Potts term is the
        spatial penalty).
    rounds : int >= 1, default 1
        Cuts and refits.
    n_per_image : int >= 1, default 100
        Proposal pixels added per training image.
    band : int >= 0, default 2
        Width in px of the margin along the cut's boundaries, where the
        proposals are least sure, from which no proposal is drawn.
    weights : float or array_like of float, default None
        Grid of Potts weights; see :class:`~chm.mrf_segmenter.MRFSegmenter`.
    contrast : bool, default False
        Contrast-sensitive edge weights in the search and the cuts.
    cv : int >= 2, default 3
        Folds of the labeled pixels in the weight search.
    cv_images : int or None, default None
        Images scored per fold in the weight search (None: all).
    scoring : {"balanced", "accuracy"}, default "balanced"
        Score of the held-out labeled pixels in the weight search (see
        :class:`~chm.mrf_segmenter.MRFSegmenter`). Balanced accuracy keeps
        the cut from erasing a rare class (thin walls, vessels) that pooled
        accuracy would give up to smooth the common one.
    smooth : bool, default False
        ``predict`` also cuts the final probability maps with ``weight_``
        (the Potts MRF at inference); ``predict_proba`` is never smoothed.
    n_jobs : int or None, default None
        Threads of the weight search's scoring.
    random_state : int, RandomState instance or None, default None
        Seeds the weight search's folds and the draw of the proposals.

    Attributes
    ----------
    estimator_ : estimator object
        The last round's fit; it makes the predictions.
    weight_ : float
        The chosen Potts weight λ.
    cv_scores_ : ndarray or None
        Held-out accuracy of each weight of ``weights_`` (None without a search).
    weights_ : ndarray
        The searched grid (``[0.]`` when the labels were too few to search).
    classes_ : ndarray
        The sparse labels' classes.
    n_proposals_ : list of int
        Proposal pixels added to the training labels in each round (none
        when the chosen weight is 0: ``estimator_`` is then the plain fit).

    Examples
    --------
    >>> import chm                                              # doctest: +SKIP
    >>> from chm.proposals import ProposalSegmenter             # doctest: +SKIP
    >>> model = ProposalSegmenter(chm.CHM(tv_weight=0)).fit(images, labels)  # doctest: +SKIP
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "rounds": [Interval(Integral, 1, None, closed="left")],
        "n_per_image": [Interval(Integral, 1, None, closed="left")],
        "band": [Interval(Integral, 0, None, closed="left")],
        "weights": [None, Interval(Real, 0, None, closed="left"),
                    SequenceOf(Interval(Real, 0, None, closed="left"), min_length=1)],
        "contrast": [Boolean()],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "cv_images": [None, Interval(Integral, 1, None, closed="left")],
        "scoring": [Options({"accuracy", "balanced"})],
        "smooth": [Boolean()],
        "n_jobs": N_JOBS,
        "random_state": [RandomState()],
    }

    def __init__(self, estimator, rounds=1, n_per_image=100, band=2, weights=None, contrast=False,
                 cv=3, cv_images=None, scoring="balanced", smooth=False, n_jobs=None,
                 random_state=None):
        self.estimator = estimator
        self.rounds = rounds
        self.n_per_image = n_per_image
        self.band = band
        self.weights = weights
        self.contrast = contrast
        self.cv = cv
        self.cv_images = cv_images
        self.scoring = scoring
        self.smooth = smooth
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, images, labels):
        """Choose the Potts weight, fit, then refit on the labels plus proposals.

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
        search = MRFSegmenter(self.estimator, weights=self.weights, contrast=self.contrast,
                              cv=self.cv, cv_images=self.cv_images, scoring=self.scoring,
                              n_jobs=self.n_jobs, random_state=rng)
        self.n_proposals_ = []
        if search._weight_grid().size > 1 and not folds_can_train(labels, int(self.cv), rng):
            # too few labels of a class to hold some out: no penalty rather than no model
            counts = {int(c): sum(int(np.count_nonzero(lab == c)) for lab in labels)
                      for c in np.unique(np.concatenate([lab[lab >= 0] for lab in labels]))}
            warnings.warn(f"too few labeled pixels to choose the Potts weight by cv={self.cv} "
                          f"folds (labeled pixels per class: {counts}); fitting without the "
                          "penalty (weight 0): label more pixels of each class, or lower cv",
                          UserWarning, stacklevel=2)
            self.weight_, self.weights_, self.cv_scores_ = 0.0, np.zeros(1), None
            self.estimator_ = clone(self.estimator).fit(images, labels)
            return self
        search.fit(images, labels)
        self.weight_ = float(search.weight_)
        self.weights_ = search.weights_
        self.cv_scores_ = search.cv_scores_
        model = search.estimator_
        # weight 0 is no penalty: the cut is the argmax, and the model stays the supervised fit
        for _ in range(int(self.rounds) if self.weight_ > 0 else 0):
            extended, _ = potts_proposals(
                model.predict_proba(images), labels, np.asarray(model.classes_), self.weight_,
                int(self.n_per_image), int(self.band), rng, images, bool(self.contrast))
            self.n_proposals_.append(self._n_added(extended, labels))
            model = clone(self.estimator).fit(images, extended)
        self.estimator_ = model
        return self

    def predict(self, images, tile_size=None):
        """Label maps: the most probable class, or with ``smooth=True`` the cut with ``weight_``.

        Parameters
        ----------
        images : list of ndarray (H, W) or (H, W, 3)
        tile_size : int or None, default None
            See :meth:`predict_proba`.

        Returns
        -------
        list of int64 ndarray (H, W)
        """
        probs = self.predict_proba(images, tile_size)
        if not self.smooth:
            return [self.classes_[p.argmax(axis=-1)] for p in probs]
        return [self.classes_[mrf_smooth(p, np.asarray(im) if self.contrast else None, self.weight_,
                                         bool(self.contrast))]
                for p, im in zip(probs, images)]
