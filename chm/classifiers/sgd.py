"""The one training loop of every stage classifier.

Minimises (Javanmardi et al., eq. 1)

    E = E_S + tv_weight * E_U (+ weight_decay / 2 * ||W||^2)

by mini-batch (sub)gradient descent, where E_S is the mean supervised loss
over the labeled pixels of the batch's images and E_U the spatial penalty of
the classifier's probability maps of those images, *all* of their pixels,
divided by their pixel count. The penalty's gradient with respect to each map
(eq. 15 for total variation) is chained through the classifier's backward pass
exactly like the supervised gradient.

For two classes the penalty sees the probability map of the positive class
(H, W); for more classes the whole (H, W, C) map.
"""
import time

import numpy as np

from .._progress import bar, log
from ..unit_inputs import input_rows

_PROB_FLOOR = np.float32(1e-6)
LOSSES = ("cross_entropy", "squared")
SOLVERS = ("adam", "momentum")


def supervised_loss(P, y, loss, sample_weight=None):
    """Weighted mean supervised loss over rows and its gradient w.r.t. ``P``.

    Parameters
    ----------
    P : float32 (n, C)
    y : int (n,)
        Class index of each row.
    loss : {"cross_entropy", "squared"}
    sample_weight : float array (n,) or None
        Row weights; the loss is ``sum(w * loss_row) / sum(w)``.
    """
    n = len(y)
    rows = np.arange(n)
    w = np.ones(n, P.dtype) if sample_weight is None else np.asarray(sample_weight, P.dtype)
    w = w / w.sum()
    dP = np.zeros_like(P)
    if loss == "cross_entropy":
        py = np.maximum(P[rows, y], _PROB_FLOOR)
        dP[rows, y] = -w / py
        return float(-(w * np.log(py)).sum()), dP
    diff = P.copy()
    diff[rows, y] -= 1.0
    dP[:] = 2.0 * diff * w[:, None]
    return float((w * (diff ** 2).sum(axis=1)).sum()), dP


def class_weights(y, n_classes, mode):
    """Per-class weights of the supervised loss: ``None`` or ``"balanced"``.

    ``"balanced"`` weighs class ``c`` by ``n / (n_classes * n_c)``, as in
    scikit-learn, so every labeled class carries the same total weight.
    """
    if mode is None:
        return np.ones(n_classes, np.float32)
    if mode != "balanced":
        raise ValueError(f"class_weight must be None or 'balanced', got {mode!r}")
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    return np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 0.0).astype(np.float32)


def penalty_map(P, shape):
    """The map the penalty acts on: positive class for C = 2, else all classes."""
    h, w = shape
    return P[:, 1].reshape(h, w) if P.shape[1] == 2 else P.reshape(h, w, P.shape[1])


def penalty_map_grad(g, n_classes):
    """Inverse of :func:`penalty_map` for a gradient: back to (n, C) rows."""
    if n_classes == 2:
        g = g.reshape(-1)
        return np.stack([np.zeros_like(g), g], axis=1)
    return g.reshape(-1, n_classes)


class _Optimizer:
    """Adam or momentum SGD over a list of float32 parameter arrays."""

    def __init__(self, params, solver, learning_rate, momentum):
        self.solver, self.lr, self.momentum = solver, learning_rate, momentum
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, params, grads, lr_scale):
        self.t += 1
        lr = self.lr * lr_scale
        for p, g, m, v in zip(params, grads, self.m, self.v):
            if self.solver == "adam":
                m *= 0.9
                m += 0.1 * g
                v *= 0.999
                v += 0.001 * g * g
                mhat = m / (1 - 0.9 ** self.t)
                vhat = v / (1 - 0.999 ** self.t)
                p -= (lr * mhat / (np.sqrt(vhat) + 1e-8)).astype(np.float32)
            else:
                m *= self.momentum
                m -= lr * g
                p += m


def _crop(X, size, rng):
    """A random ``size`` x ``size`` window of a map: the pair of slices (whole if smaller)."""
    h, w = X.shape[:2]
    if size is None or (h <= size and w <= size):
        return slice(None), slice(None)
    r = rng.randint(0, max(h - size, 0) + 1)
    c = rng.randint(0, max(w - size, 0) + 1)
    return slice(r, r + size), slice(c, c + size)


def _labeled_rows(maps, labels):
    """The feature rows and class indices of every labeled pixel of ``maps``."""
    rows = [np.flatnonzero(lab.reshape(-1) >= 0) for lab in labels]
    X = np.concatenate([input_rows(m, r) for m, r in zip(maps, rows)])
    return X, np.concatenate([lab.reshape(-1)[r] for lab, r in zip(labels, rows)])


def train_stage(clf, maps, labels, *, penalty=None, tv_weight=0.0, loss="cross_entropy",
                epochs=30, batch_images=16, learning_rate=0.01, solver="adam", momentum=0.9,
                weight_decay=0.0, dropout=0.0, crop=None, class_weight=None, guides=None, rng=None,
                validation=None, stop=None, verbose=0, name="stage"):
    """Train a stage classifier on feature maps with sparse labels.

    Parameters
    ----------
    clf : StageClassifier
        Initialised here with :meth:`init_params` on the labeled pixels.
    maps : list of float32 arrays (H, W, D) or chm.unit_inputs.UnitInputs
        Per-pixel features of each training image.
    labels : list of int arrays (H, W)
        Class index per pixel, -1 where unlabeled.
    penalty : Penalty or None
        Spatial penalty E_U of the probability maps (``value``/``gradient``).
    tv_weight : float
        Weight alpha of E_U (eq. 1). Zero trains purely supervised, and then
        only the labeled pixels are ever evaluated.
    loss : {"cross_entropy", "squared"}
        Supervised loss E_S.
    epochs, batch_images : int
        Passes over the images, and images per gradient step.
    learning_rate, solver, momentum : optimiser settings.
        The learning rate follows a cosine decay to 10 % over training.
    weight_decay : float
        L2 (Tikhonov) penalty on the weight matrices.
    dropout : float
        Input-feature dropout rate on the labeled rows of each step.
    class_weight : None or "balanced"
        Weights of the labeled classes in E_S (see :func:`class_weights`).
    crop : int or None
        If set, E_U is taken on a random ``crop`` x ``crop`` window of each
        image per step instead of the whole map (documented speed trade-off).
    guides : list of float32 arrays (H, W, G) or None
        The penalty's guide of each image (:meth:`chm.penalties.Penalty.guide`),
        cropped with the same window as the map; ``None`` for penalties that
        need none.
    rng : numpy.random.RandomState
    validation : list of int arrays (H, W) or None
        Held-out labels of each image (class index, -1 elsewhere), never
        trained on: after every epoch their mean supervised loss E_S and
        their error rate are recorded as ``"val_loss"`` and ``"val_error"``
        (the training length chosen from the data, :mod:`chm.training_length`).
    stop : callable or None
        ``stop(history) -> bool``, asked after every epoch: True ends the
        training (early stopping).
    verbose : int
        > 0 draws a bar of the epochs on stderr; > 1 also prints one line
        per epoch.

    Returns
    -------
    history : list of dict
        Per-epoch mean E_S, E_U, seconds (and ``val_loss``, ``val_error``
        with ``validation``); shorter than ``epochs`` when ``stop`` ended it.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    rng = np.random.RandomState(0) if rng is None else rng
    use_penalty = penalty is not None and tv_weight > 0
    rows = [np.flatnonzero(lab.reshape(-1) >= 0) for lab in labels]
    XL = [input_rows(m, r) for m, r in zip(maps, rows)]
    yL = [lab.reshape(-1)[r] for lab, r in zip(labels, rows)]
    y_all = np.concatenate(yL)
    cw = class_weights(y_all, clf.n_classes_, class_weight)
    clf.init_params(np.concatenate(XL), y_all, rng)
    held_out = None if validation is None else _labeled_rows(maps, validation)
    opt = _Optimizer(clf.params_, solver, learning_rate, momentum)
    n_img = len(maps)
    steps_per_epoch = int(np.ceil(n_img / batch_images))
    total_steps = max(1, epochs * steps_per_epoch)
    history = []
    step = 0
    epoch_bar = bar(None, verbose > 0, f"{name} epochs", total=epochs, unit="epoch")
    for epoch in range(epochs):
        t0 = time.perf_counter()
        es_sum = eu_sum = 0.0
        order = rng.permutation(n_img)
        for s in range(steps_per_epoch):
            batch = order[s * batch_images:(s + 1) * batch_images]
            lr_scale = 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * step / total_steps))
            grads = [np.zeros_like(p) for p in clf.params_]
            Xs = np.concatenate([XL[i] for i in batch])
            ys = np.concatenate([yL[i] for i in batch])
            if len(ys):
                if dropout > 0:
                    keep = rng.random_sample(Xs.shape) >= dropout
                    Xs = (Xs * keep / (1.0 - dropout)).astype(np.float32)
                P, cache = clf.forward(Xs)
                es, dP = supervised_loss(P, ys, loss, cw[ys])
                es_sum += es
                for g, gi in zip(grads, clf.backward(Xs, cache, dP)):
                    g += gi
            if use_penalty:
                windows = [(i, _crop(maps[i], crop, rng)) for i in batch]
                crops = [(maps[i][win], None if guides is None or guides[i] is None
                          else guides[i][win]) for i, win in windows]
                n_pix = sum(c.shape[0] * c.shape[1] for c, _ in crops)
                scale = np.float32(tv_weight / n_pix)
                eu = 0.0
                for c, guide in crops:
                    Xm = c.reshape(-1, c.shape[-1])
                    P, cache = clf.forward(Xm)
                    fmap = penalty_map(P, c.shape[:2])
                    value, gmap = (penalty.value_and_gradient(fmap) if guide is None
                                   else penalty.value_and_gradient(fmap, guide))
                    eu += value
                    dP = penalty_map_grad(gmap * scale, P.shape[1])
                    for g, gi in zip(grads, clf.backward(Xm, cache, dP)):
                        g += gi
                eu_sum += eu / n_pix
            if weight_decay > 0:
                for g, p, decay in zip(grads, clf.params_, clf.decay_mask_):
                    if decay:
                        g += np.float32(weight_decay) * p
            opt.step(clf.params_, grads, lr_scale)
            step += 1
        rec = {"epoch": epoch + 1, "E_S": es_sum / steps_per_epoch,
               "E_U": eu_sum / steps_per_epoch, "seconds": time.perf_counter() - t0}
        if held_out is not None:
            P_val = clf.predict_proba(held_out[0])
            rec["val_loss"] = supervised_loss(P_val, held_out[1], loss)[0]
            rec["val_error"] = float(np.mean(P_val.argmax(axis=1) != held_out[1]))
        history.append(rec)
        epoch_bar.update()
        if verbose > 1:
            log(f"[chm] {name} epoch {epoch + 1}/{epochs}  E_S={rec['E_S']:.4f}  "
                f"E_U={rec['E_U']:.4f}  {rec['seconds']:.2f}s"
                + (f"  val={rec['val_loss']:.4f} ({100 * rec['val_error']:.2f}%)"
                   if held_out is not None else ""))
        if stop is not None and stop(history):
            break
    epoch_bar.close()
    return history
