"""The training length chosen from the sparse labels alone (``CHM(epochs="auto")``).

Sparse and dense labels want very different training lengths: a classifier
fed ten labeled pixels per image overfits them within a few epochs, while one
fed two thousand keeps improving for many more. With ``epochs="auto"``
:class:`chm.CHM` measures it, by early stopping on held-out *labeled pixels*:
the labeled pixels of every image are dealt into ``n_folds`` folds, a
painted stroke (a connected region of one class) whole
(:func:`chm.penalty_search.labeled_pixel_folds`); one classifier is trained on
all folds but the first for at most ``max_epochs`` epochs, with the unit's
own settings (penalty included), and after every epoch its error on the
held-out fold is recorded. The error of a few hundred held-out pixels is
noisy, so the curve is smoothed by a moving mean over ``SMOOTH`` epochs; the
training stops once the smoothed error has not improved for ``patience``
epochs, and the epoch of its minimum is the length every classifier of the
hierarchy then trains for, on all the labels. (The held-out cross-entropy,
recorded too, is a worse guide: it rises as soon as the classifier grows
confident, long before its error does; on Weizmann Horse at 10 labeled
pixels per image it chose 2 epochs and raised the error from 14.63 % to
16.00 %.)

The measurement runs once, on the first unit of the hierarchy (level 0 of
the bottom-up pass: image features, no context), so it costs one training of
one classifier, stopped early. No test image and no unlabeled truth is used.
"""
from dataclasses import dataclass

import numpy as np

from .penalty_search import labeled_pixel_folds

#: Most epochs of the measurement (``CHM(epochs="auto")``).
MAX_EPOCHS = 300
#: Epochs without improvement of the smoothed held-out error after which it stops.
PATIENCE = 10
#: Width (epochs) of the moving mean that smooths the held-out error.
SMOOTH = 5


@dataclass(frozen=True)
class EpochChoice:
    """The result of :func:`choose_epochs`.

    Attributes
    ----------
    epochs : int
        The chosen length: the epoch of the lowest smoothed held-out error.
    val_error : tuple of float
        The held-out error rate after every epoch run.
    val_loss : tuple of float
        The held-out supervised loss after every epoch run.
    """

    epochs: int
    val_error: tuple
    val_loss: tuple


def smoothed(curve, width=SMOOTH, centred=True):
    """Moving mean of ``curve`` over ``width`` epochs (fewer at the ends).

    ``centred=False`` averages the last ``width`` epochs up to each one (what
    is known while training).
    """
    curve = np.asarray(curve, dtype=np.float64)
    out = np.empty_like(curve)
    for t in range(len(curve)):
        lo, hi = (t - width // 2, t + width // 2 + 1) if centred else (t - width + 1, t + 1)
        out[t] = curve[max(lo, 0):min(hi, len(curve))].mean()
    return out


def stop_after(patience):
    """``stop(history)`` for :func:`chm.classifiers.train_stage`: True once the trailing
    mean of ``val_error`` has not improved on its best for ``patience`` epochs."""
    def stop(history):
        trail = smoothed([rec["val_error"] for rec in history], centred=False)
        return len(trail) - 1 - int(np.argmin(trail)) >= patience

    return stop


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


def choose_epochs(labels, train, n_folds, rng, max_epochs=None, patience=PATIENCE):
    """The training length of the smoothed held-out labeled-pixel error minimum.

    Parameters
    ----------
    labels : list of int arrays (H, W)
        Class index per pixel, -1 where unlabeled.
    train : callable
        ``train(train_labels, held_out_labels, max_epochs, stop) ->
        history``, the per-epoch records of
        :func:`chm.classifiers.train_stage` with ``"val_error"`` and
        ``"val_loss"``; ``stop`` is its early-stopping rule.
    n_folds : int >= 2
    rng : numpy.random.RandomState
    max_epochs : int, optional
        Default: ``MAX_EPOCHS`` (read at call time).
    patience : int

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
    max_epochs = MAX_EPOCHS if max_epochs is None else int(max_epochs)
    train_labels, held = split_labels(labels, n_folds, rng)
    history = train(train_labels, held, max_epochs, stop_after(patience))
    errors = tuple(float(rec["val_error"]) for rec in history)
    losses = tuple(float(rec["val_loss"]) for rec in history)
    best = int(np.argmin(smoothed(errors))) + 1 if errors else 1
    return EpochChoice(epochs=best, val_error=errors, val_loss=losses)
