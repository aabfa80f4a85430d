"""Folds of the labeled pixels for held-out maps (:meth:`chm.CHM.fit_heldout`).

A held-out map of fold ``k`` comes from a classifier trained without the
labeled pixels of fold ``k``; its accuracy on those pixels is what a
cross-validation over labeled pixels scores (the smoothing weight of
:class:`chm.mrf.MRFSegmenter`). :class:`HeldOutFolds` holds, per fold, the
label maps left for training and the images to map.
"""
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HeldOutFolds:
    """Per fold, the training label maps without the fold's pixels, and the images to map.

    Attributes
    ----------
    fold_labels : tuple of lists of int ndarray
        ``fold_labels[k][i]``: the labels of image ``i`` with the pixels of
        fold ``k`` set to -1.
    wanted : tuple of tuples of int
        ``wanted[k]``: the indices of the images whose held-out maps of fold
        ``k`` are asked for.
    """

    fold_labels: tuple
    wanted: tuple

    @classmethod
    def from_folds(cls, labels, folds, wanted=None):
        """Check ``folds`` against ``labels`` and build the folds.

        Parameters
        ----------
        labels : list of int ndarray (H, W)
            Label maps, -1 for unlabeled pixels.
        folds : list of int ndarray (H, W)
            Fold index ``0 .. n_folds - 1`` of every labeled pixel, -1 at
            every unlabeled one.
        wanted : list of sequences of int, or None
            Per fold, the images to map; None takes every image holding a
            pixel of the fold.

        Raises
        ------
        ValueError
            On folds of the wrong number or shape, a labeled pixel without a
            fold or an unlabeled one with a fold, fewer than 2 folds, an
            empty fold, or ``wanted`` of the wrong length or out of range.
        """
        if len(folds) != len(labels):
            raise ValueError(f"folds must hold one map per image: got {len(folds)} for "
                             f"{len(labels)} images")
        checked = []
        for i, (fold, lab) in enumerate(zip(folds, labels)):
            fold = np.asarray(fold)
            if fold.shape != lab.shape or not np.issubdtype(fold.dtype, np.integer):
                raise ValueError(f"folds[{i}] must be an integer map of shape {lab.shape}, "
                                 f"got {fold.dtype} {fold.shape}")
            if np.any((fold >= 0) != (lab >= 0)) or np.any(fold < -1):
                raise ValueError(f"folds[{i}] must give a fold (>= 0) to every labeled pixel "
                                 f"and -1 to every unlabeled one")
            checked.append(fold)
        n_folds = 1 + max((int(f.max()) for f in checked if f.size), default=-1)
        present = {int(k) for f in checked for k in np.unique(f[f >= 0])}
        if n_folds < 2 or len(present) != n_folds:
            raise ValueError(f"folds must number 0 .. n_folds - 1 with n_folds >= 2, each holding "
                             f"pixels; got folds {sorted(present)}")
        if wanted is None:
            wanted = [[i for i, f in enumerate(checked) if np.any(f == k)] for k in range(n_folds)]
        if len(wanted) != n_folds:
            raise ValueError(f"wanted must hold one list of images per fold ({n_folds}), "
                             f"got {len(wanted)}")
        wanted = tuple(tuple(int(i) for i in w) for w in wanted)
        if any(not 0 <= i < len(labels) for w in wanted for i in w):
            raise ValueError(f"wanted images must be indices below {len(labels)}")
        fold_labels = tuple([np.where(f == k, -1, lab) for lab, f in zip(labels, checked)]
                            for k in range(n_folds))
        return cls(fold_labels, wanted)

    def mapped(self, fn):
        """The same folds with ``fn`` applied to each fold's list of label maps."""
        return HeldOutFolds(tuple(fn(fold) for fold in self.fold_labels), self.wanted)


def with_classes(prob, classes, all_classes):
    """A probability map over ``classes`` as one over ``all_classes`` (a superset, sorted):
    the channels of classes it lacks are 0."""
    if np.array_equal(classes, all_classes):
        return prob
    out = np.zeros(prob.shape[:2] + (len(all_classes),), dtype=prob.dtype)
    out[..., np.searchsorted(all_classes, classes)] = prob
    return out
