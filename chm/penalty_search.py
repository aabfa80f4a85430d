"""Choosing the spatial penalty and its weight from the sparse labels alone.

With ``penalty="auto"`` and/or ``tv_weight="auto"``, :class:`chm.CHM` picks
``(penalty, tv_weight)`` from a small grid that always holds "no penalty"
(weight 0), the way :class:`chm.mrf_segmenter.MRFSegmenter` picks its
smoothing weight: by cross-validation over held-out *labeled pixels*. The
labeled pixels of every training image are dealt into ``n_folds`` folds; for
each candidate and fold one classifier is trained on the other folds' labels
(its E_U still covers every pixel, labeled or not) and scored by its error on
the held-out fold's pixels. No test image and no unlabeled truth is used.

The search runs on the first penalised unit of the hierarchy (level 0 of the
bottom-up pass by default: image features, no context), on exactly the inputs
that unit trains on, and the choice then holds for every penalised unit. The
candidates train with the unit's own settings (classifier, epochs, crop), so
the cost is ``n_folds x (number of candidates)`` trainings of one classifier,
most of them with the penalty's full-pixel term. A penalty is kept only when
it beats no penalty by more than one standard error of the paired difference
(:func:`best`): held-out errors on ten labeled pixels per image are noisy, and
the level-0 classifier is a proxy of the whole hierarchy.
"""
from dataclasses import dataclass

import numpy as np

from .penalties import get_penalty
from .unit_inputs import input_rows

#: Penalties tried by ``penalty="auto"`` (names of :func:`chm.penalties.get_penalty`).
AUTO_PENALTIES = ("tv", "edge_tv", "bilateral")
#: Weights tried by ``tv_weight="auto"``; 0 (no penalty) is always tried as well.
AUTO_WEIGHTS = (0.1, 0.3, 1.0)


@dataclass(frozen=True)
class PenaltyTrial:
    """One candidate of the search and its held-out labeled-pixel error.

    Attributes
    ----------
    penalty : str or None
        Penalty name; ``None`` for the unpenalised candidate.
    tv_weight : float
        Its weight (0 for the unpenalised candidate).
    error : float
        Error on the held-out labeled pixels, pooled over the folds.
    se : float
        Standard error of its difference to the unpenalised candidate's error,
        paired pixel by pixel (0 for that candidate).
    """

    penalty: object
    tv_weight: float
    error: float
    se: float = 0.0


def candidates(penalty, tv_weight):
    """The ``(penalty, weight)`` grid of a setting, the unpenalised ``(None, 0.0)`` first.

    Parameters
    ----------
    penalty : "auto", str or Penalty
        ``"auto"`` tries :data:`AUTO_PENALTIES`; anything else only itself.
    tv_weight : "auto" or float
        ``"auto"`` tries :data:`AUTO_WEIGHTS`; a number only itself.

    Returns
    -------
    list of (penalty or None, float)
    """
    names = AUTO_PENALTIES if isinstance(penalty, str) and penalty == "auto" else (penalty,)
    weights = AUTO_WEIGHTS if isinstance(tv_weight, str) and tv_weight == "auto" else (tv_weight,)
    grid = [(None, 0.0)]
    grid += [(name, float(w)) for name in names for w in weights if float(w) > 0]
    return grid


def labeled_pixel_folds(labels, n_folds, rng):
    """Deal the labeled pixels of every image into ``n_folds`` folds, stroke by stroke.

    The unit dealt is a *labeled region*: a set of labeled pixels of one class
    connected through their 8 neighbours (:func:`scipy.ndimage.label`). A
    painted stroke is one region, so it is held out whole: a held-out pixel
    never has a labeled neighbour of its own class in the training folds,
    which would make the held-out error as low as the training error (the
    pixels of a stroke are nearly copies of each other). Isolated labeled
    pixels, as drawn by :func:`chm.datasets.sample_sparse_labels`, are regions
    of one pixel, dealt as before one by one.

    Parameters
    ----------
    labels : list of int arrays (H, W)
        Class index per pixel, -1 where unlabeled.
    n_folds : int >= 2
    rng : numpy.random.RandomState

    Returns
    -------
    folds : list of int arrays (H, W)
        Per image, the fold of each labeled pixel, -1 where unlabeled. The
        regions are dealt in a random order, image after image, so every fold
        gets the same number of each image's regions (to one), and of all
        regions.
    """
    out, offset = [], 0
    for lab in labels:
        regions = labeled_regions(lab)
        n = int(regions.max())
        fold_of = np.full(n + 1, -1, np.int64)
        fold_of[1 + rng.permutation(n)] = (offset + np.arange(n)) % n_folds
        offset += n
        out.append(fold_of[regions])
    return out


def labeled_regions(labels):
    """Connected regions (8-neighbour) of equally labeled pixels: 1..n, 0 where unlabeled.

    Parameters
    ----------
    labels : int array (H, W)
        Class index per pixel, -1 where unlabeled.

    Returns
    -------
    regions : int64 array (H, W)
        Numbered in raster order of their first pixel.
    """
    from scipy import ndimage

    regions, count = np.zeros(labels.shape, np.int64), 0
    for c in np.unique(labels[labels >= 0]):
        lab, n = ndimage.label(labels == c, structure=np.ones((3, 3), bool))
        inside = lab > 0
        regions[inside] = lab[inside] + count
        count += n
    if count == 0:
        return regions
    # renumber in raster order of the first pixel, whatever the classes
    flat = regions.reshape(-1)
    values, first = np.unique(flat, return_index=True)
    first = np.sort(first[values > 0])
    order = np.zeros(flat.max() + 1, np.int64)
    order[flat[first]] = np.arange(1, len(first) + 1)
    return order[regions]


def search(X, labels, grid, train, guides, n_folds, rng, map_fn=map):
    """Held-out labeled-pixel error of every candidate of ``grid``.

    Parameters
    ----------
    X : list of float32 arrays (H, W, D)
        The unit's (normalised) inputs.
    labels : list of int arrays (H, W)
        Class index per pixel, -1 where unlabeled.
    grid : list of (penalty or None, float)
        Candidates (see :func:`candidates`): names or Penalty instances
        (used as given, so their guides are computed once).
    train : callable
        ``train(X, labels, penalty, weight, guides, rng) -> classifier`` with
        ``predict_proba(rows)``; ``penalty`` is None for weight 0.
    guides : callable
        ``guides(penalty) -> list`` of the penalty's guides of the images.
    n_folds : int >= 2
    rng : numpy.random.RandomState
    map_fn : callable, default map
        How the ``len(grid) * n_folds`` trainings are run (for example
        :func:`chm._runtime.thread_map`); each has its own seed, the same
        for every candidate in a fold, so the result does not depend on it.

    Returns
    -------
    list of PenaltyTrial, in the order of ``grid``.
    """
    folds = labeled_pixel_folds(labels, n_folds, rng)
    seeds = rng.randint(np.iinfo(np.int32).max, size=n_folds)
    penalties = [None if weight == 0 else get_penalty(p) for p, weight in grid]
    image_guides = {id(pen): guides(pen) for pen in penalties if pen is not None}

    def one(job):
        c, k = job
        pen, weight = penalties[c], grid[c][1]
        train_labels = [np.where(f == k, -1, lab) for f, lab in zip(folds, labels)]
        clf = train(X, train_labels, pen, weight, image_guides.get(id(pen)),
                    np.random.RandomState(seeds[k]))
        right = []
        for x, f, lab in zip(X, folds, labels):
            held = f.reshape(-1) == k
            if held.any():
                pred = clf.predict_proba(input_rows(x, held)).argmax(axis=1)
                right.append(pred == lab.reshape(-1)[held])
        return np.concatenate(right) if right else np.zeros(0, bool)

    jobs = [(c, k) for c in range(len(grid)) for k in range(n_folds)]
    right = dict(zip(jobs, map_fn(one, jobs)))
    # every labeled pixel is held out once: its correctness under each candidate, in one order
    correct = [np.concatenate([right[c, k] for k in range(n_folds)]) for c in range(len(grid))]
    trials = []
    for c, (penalty, weight) in enumerate(grid):
        n = max(len(correct[c]), 1)
        diff = correct[c].astype(np.float64) - correct[0]
        se = float(diff.std(ddof=1) / np.sqrt(n)) if len(diff) > 1 else 0.0
        name = penalty if penalty is None or isinstance(penalty, str) else _name_of(penalty)
        trials.append(PenaltyTrial(name, float(weight), 1.0 - correct[c].sum() / n, se))
    return trials


def _name_of(penalty):
    """The registered name of a penalty's class, else its repr."""
    from .penalties import _PENALTIES

    names = [name for name, cls in sorted(_PENALTIES.items()) if type(penalty) is cls]
    return min(names, key=len) if names and repr(penalty) == repr(type(penalty)()) else repr(penalty)


def best(trials, n_se=1.0):
    """Index of the chosen trial: the lowest error among those that beat the first trial.

    A candidate counts only if its error is below the first (unpenalised)
    trial's by more than ``n_se`` standard errors of the paired difference:
    with a few labeled pixels per image, smaller differences are noise, and
    the plain model is kept. Ties go to the earlier trial.
    """
    ok = [i for i, t in enumerate(trials)
          if i == 0 or trials[0].error - t.error > n_se * t.se]
    return min(ok, key=lambda i: (trials[i].error, i))
