"""The training length chosen from the sparse labels alone (``CHM(epochs="auto")``).

Sparse and dense labels want very different training lengths: a classifier
fed ten labeled pixels per image overfits them within a few epochs, while one
fed two thousand keeps improving for many more. With ``epochs="auto"``
:class:`chm.CHM` measures it, by early stopping on held-out *labeled pixels*:
the labeled pixels of every image are dealt into ``n_folds`` folds
(:func:`chm.penalty_search.labeled_pixel_folds`); one classifier is trained on
all folds but the first for at most ``max_epochs`` epochs, with the unit's
own settings (penalty included), and after every epoch its supervised loss on
the held-out fold is recorded. Training stops once that loss has not improved
for ``patience`` epochs, and the epoch of its minimum is the length every
classifier of the hierarchy then trains for, on all the labels.

The measurement runs once, on the first unit of the hierarchy (level 0 of
the bottom-up pass: image features, no context), so it costs one training of
one classifier, stopped early. No test image and no unlabeled truth is used.
"""
from dataclasses import dataclass

import numpy as np

from .penalty_search import labeled_pixel_folds

#: Most epochs of the measurement (``CHM(epochs="auto")``).
MAX_EPOCHS = 100
#: Epochs without improvement of the held-out loss after which it stops.
PATIENCE = 6


@dataclass(frozen=True)
class EpochChoice:
    """The result of :func:`choose_epochs`.

    Attributes
    ----------
    epochs : int
        The chosen length: the epoch of the lowest held-out loss (at least 1).
    val_loss : tuple of float
        The held-out supervised loss after every epoch run.
    """

    epochs: int
    val_loss: tuple


def split_labels(labels, n_folds, rng):
    """Training and held-out labels: one fold of every image's labeled pixels held out.

    Parameters
    ----------
    labels : list of int arrays (H, W)
        Class index per pixel, -1 where unlabeled.
    n_folds : int >= 2
        The held-out share is ``1 / n_folds`` of each image's labels.
    rng : numpy.random.RandomState

    Returns
    -------
    train, held_out : lists of int arrays (H, W)
        Each labeled pixel is in exactly one of them (-1 in the other).
    """
    folds = labeled_pixel_folds(labels, n_folds, rng)
    train = [np.where(f > 0, lab, -1) for lab, f in zip(labels, folds)]
    held = [np.where(f == 0, lab, -1) for lab, f in zip(labels, folds)]
    return train, held


def choose_epochs(labels, train, n_folds, rng, max_epochs=MAX_EPOCHS, patience=PATIENCE):
    """The training length of the held-out labeled-pixel loss minimum.

    Parameters
    ----------
    labels : list of int arrays (H, W)
        Class index per pixel, -1 where unlabeled.
    train : callable
        ``train(train_labels, held_out_labels, max_epochs, patience) ->
        history``, the per-epoch records of
        :func:`chm.classifiers.train_stage` with ``"val_loss"``.
    n_folds : int >= 2
    rng : numpy.random.RandomState
    max_epochs, patience : int

    Returns
    -------
    EpochChoice

    Raises
    ------
    ValueError
        If fewer than two pixels are labeled (nothing to hold out).
    """
    if sum(int((lab >= 0).sum()) for lab in labels) < 2:
        raise ValueError("epochs='auto' needs at least 2 labeled pixels to hold some out")
    train_labels, held = split_labels(labels, n_folds, rng)
    curve = tuple(float(rec["val_loss"]) for rec in train(train_labels, held, max_epochs, patience))
    return EpochChoice(epochs=int(np.argmin(curve)) + 1 if curve else 1, val_loss=curve)
