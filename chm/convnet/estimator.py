"""scikit-learn style estimator training the paper's ConvNet from sparse labels.

:class:`ConvNetSegmenter` minimises the semi-supervised loss of the paper,

    E = E_S + tv_weight * E_U,

with ``E_S`` the cross-entropy of the few labeled pixels (label ``-1`` marks
an unlabeled pixel) and ``E_U`` the total variation of the softmax probability
map of *all* pixels (eqs. 8 and 15), through the dense, fully convolutional
evaluation of the patch network (:mod:`chm.convnet.network`).
"""
import math
import sys
import time
import warnings
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from skimage.transform import resize
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from chm._params import N_JOBS, VERBOSE, Hidden, Interval, Options, RandomState
from chm._validation import check_images
from chm.base import SegmenterMixin

from ._runtime import _bilinear_sources, _channel_stats, _seeded, _standardise, _torch_threads, resolve_device
from ..penalties import PENALTY_NAMES, Penalty, TotalVariation, get_penalty
from .losses import interpolated_nll, penalty_loss_torch, tv_loss_torch
from .network import PADDING_MODES, PatchNet, pad_image

__all__ = ["ConvNetSegmenter", "load"]

_SCHEDULES = ("constant", "cosine")
_DEPRECATED = "deprecated"
#: Renamed parameters (old name -> CHM's name), kept as deprecated aliases for one release.
RENAMED = {"n_epochs": "epochs", "crop_size": "crop", "batch_size": "batch_images"}


def _resized(image, shape):
    """``image`` (H, W) or (H, W, 3) at the network's output grid ``shape`` (bilinear,
    anti-aliased): what a guided penalty's :meth:`~chm.penalties.Penalty.guide` sees."""
    if image.shape[:2] == tuple(shape):
        return np.asarray(image, np.float32)
    return resize(image, shape, order=1, anti_aliasing=True, preserve_range=True).astype(np.float32)


class ConvNetSegmenter(SegmenterMixin, BaseEstimator):
    """The paper's ConvNet trained with cross-entropy plus a total-variation loss.

    A patch classifier (4 blocks of 3x3 convolution with ``width`` maps, ReLU,
    2x2 max-pooling and local response normalisation; a fully connected layer
    of ``hidden`` units with ReLU; softmax over the classes) is trained and
    applied densely: one fully convolutional pass of the same weights gives
    the probabilities of every pixel (:class:`chm.convnet.network.PatchNet`).
    Each iteration takes a mini-batch of training images (random crops of
    them when ``crop`` is set), computes the softmax map and minimises

        E = E_S + tv_weight * E_U,

    where ``E_S`` is the mean cross-entropy of the labeled pixels of the
    batch and ``E_U`` is the total variation of the softmax map (eqs. 8 and
    15, :func:`chm.convnet.losses.tv_loss_torch`) over all pixels of the
    batch, divided by the number of pixel positions with a full 3x3
    neighbourhood, so that ``tv_weight`` does not depend on the image or crop
    size.

    Parameters
    ----------
    tv_weight : float >= 0, default=0.1
        Weight of the unsupervised total-variation term (``alpha`` of the
        paper, with E_U of eq. 8); 0 trains with the supervised term
        only. With the per-pixel normalisation above, 0.1 was the best of
        0.1 and 0.3 on Stanford Background with the CPU settings (0.3
        over-smooths a network trained for 12 epochs).
    penalty : str or Penalty, default="tv"
        The spatial penalty E_U, by name or as a :class:`chm.penalties.Penalty`
        (see :func:`chm.penalties.get_penalty`). ``"tv"`` runs the torch total
        variation above; any other penalty is evaluated on each map of the
        batch at the output grid, with its guide computed from the image
        resized to that grid, through
        :func:`chm.convnet.losses.penalty_loss_torch`, and divided by the
        same pixel count.
    width : int >= 1, default=64
        Feature maps of each convolution (64 in the paper).
    hidden : int >= 1, default=512
        Units of the fully connected layer (512 in the paper).
    downscale : float >= 1, default=4.0
        Factor by which images are shrunk (bilinear, antialiased) before the
        network sees them; probability maps are upsampled back to the input
        size (bilinear). ``1`` is the paper's full resolution (use it on a
        GPU); the default 4 is for CPU runs: a Stanford Background image
        (about 240 x 320) becomes 60 x 80, and training is about 16 times
        cheaper than at full resolution. Labeled pixels keep their
        full-resolution positions: their probability is the bilinear
        interpolation of the network's output, exactly as in
        :meth:`predict_proba`. The total variation is taken on the network's
        output grid.
    crop : int >= 3 or None, default=None
        Side of the random square crop taken from each (downscaled) training
        image at each iteration, in output pixels; the network also sees the
        ``patch_size_ - 1`` pixels of context around it. ``None`` (or a crop
        larger than the image) trains on whole images. Crops of 64 to 128
        px make full-resolution training cheaper per iteration, at the cost
        of fewer labeled pixels per crop.
    batch_images : int >= 1, default=8
        Images (crops) per iteration.
    epochs : int >= 1, default=12
        Passes over the training images.
    learning_rate : float > 0, default=5e-3
        Step size of the solver.
    solver : {"adam", "momentum"}, default="adam"
        Adam, or SGD with (heavy-ball) momentum ``momentum``.
    momentum : float in [0, 1), default=0.9
        Momentum of ``solver="momentum"``.
    weight_decay : float >= 0, default=0.0
        L2 penalty on the weights (the solver's ``weight_decay``).
    lr_schedule : {"constant", "cosine"}, default="cosine"
        Learning rate kept constant or decayed to 0 along a half cosine over
        all iterations.
    padding : {"reflect", "zero"}, default="reflect"
        How images are extended at their borders so that the output has the
        input's height and width: mirrored without repeating the edge pixel,
        or zeros (the mean colour, after normalisation). The patch network
        on a patch cut from the image padded this way gives the same
        probabilities as the dense map at that pixel.
    device : {"auto", "cpu", "cuda"} or str, default="auto"
        Where the network runs: ``"auto"`` uses CUDA when
        :func:`torch.cuda.is_available`, else the CPU.
    n_jobs : int or None, default=None
        Torch intra-op threads during :meth:`fit` and prediction (``-1``: all
        cores; 0 is not allowed); ``None`` leaves torch's setting unchanged.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, the image order and the crops. With
        an int, two fits on the CPU with the same data and thread count give
        the same model (torch's deterministic algorithms are switched on
        during fit).
    verbose : int >= 0 or bool, default=0
        If > 0, one line per epoch on stderr: the mean cross-entropy, total
        variation (per pixel) and loss of the epoch, and its duration.
    n_epochs, crop_size, batch_size : deprecated
        Former names of ``epochs``, ``crop`` and ``batch_images`` (those of
        :class:`chm.CHM`); a value given under an old name is used, with a
        ``FutureWarning``. Likewise ``solver="sgd"`` is read as
        ``"momentum"``. They will be removed in the next release.

    Every parameter is checked against ``_parameter_constraints`` at the
    start of :meth:`fit`, before the network is built (a ValueError names the
    parameter).

    Attributes
    ----------
    classes_ : ndarray of int64
        Labels seen in fit, sorted; output channel ``k`` is ``classes_[k]``.
    n_classes_ : int
        Number of classes.
    n_channels_ : int
        Channels of the training images (1 grey, 3 RGB).
    mean_, std_ : ndarray of float32, shape (n_channels_,)
        Per-channel mean and standard deviation of the training pixels, used
        to normalise every input.
    module_ : chm.convnet.network.PatchNet
        The trained network, in evaluation mode, on ``device_``.
    patch_size_ : int
        Side of the patch network's input (its receptive field, 62).
    device_ : torch.device
        Device the network lives on.
    history_ : list of dict
        Per epoch: ``epoch``, ``ce``, ``tv``, ``loss`` (means over the
        iterations) and ``seconds``.
    n_iter_ : int
        Number of optimisation steps taken.
    """

    _fitted_attribute = "module_"
    _parameter_constraints = {
        "tv_weight": [Interval(Real, 0, None, closed="left")],
        "penalty": [Options(set(PENALTY_NAMES)), Penalty],
        "width": [Interval(Integral, 1, None, closed="left")],
        "hidden": [Interval(Integral, 1, None, closed="left")],
        "downscale": [Interval(Real, 1, None, closed="left")],
        "crop": [None, Interval(Integral, 3, None, closed="left")],
        "batch_images": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "solver": [Options({"adam", "momentum"}), Hidden(Options({"sgd"}))],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "lr_schedule": [Options(_SCHEDULES)],
        "padding": [Options(PADDING_MODES)],
        "device": [str, torch.device],
        "n_jobs": N_JOBS,
        "random_state": [RandomState()],
        "verbose": VERBOSE,
        # deprecated names: what the new name takes, or the "deprecated" default
        "n_epochs": [Interval(Integral, 1, None, closed="left"), Hidden(Options({_DEPRECATED}))],
        "crop_size": [None, Interval(Integral, 3, None, closed="left"),
                      Hidden(Options({_DEPRECATED}))],
        "batch_size": [Interval(Integral, 1, None, closed="left"), Hidden(Options({_DEPRECATED}))],
    }

    def __init__(self, tv_weight=0.1, penalty="tv", width=64, hidden=512, downscale=4.0, crop=None,
                 batch_images=8, epochs=12, learning_rate=5e-3, solver="adam", momentum=0.9,
                 weight_decay=0.0, lr_schedule="cosine", padding="reflect", device="auto",
                 n_jobs=None, random_state=None, verbose=0, n_epochs=_DEPRECATED,
                 crop_size=_DEPRECATED, batch_size=_DEPRECATED):
        self.tv_weight = tv_weight
        self.penalty = penalty
        self.width = width
        self.hidden = hidden
        self.downscale = downscale
        self.crop = crop
        self.batch_images = batch_images
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.solver = solver
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.padding = padding
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.n_epochs = n_epochs
        self.crop_size = crop_size
        self.batch_size = batch_size

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        """Validate the parameters; return the torch device of ``device``."""
        self._validate_params()
        return resolve_device(self.device)

    def _training_settings(self):
        """``epochs``, ``crop``, ``batch_images`` and ``solver``, old names and values mapped.

        A value given under a deprecated name (``n_epochs``, ``crop_size``,
        ``batch_size``) or ``solver="sgd"`` is used, with a FutureWarning.
        """
        settings = {new: getattr(self, new) for new in RENAMED.values()}
        for old, new in RENAMED.items():
            value = getattr(self, old)
            if not (isinstance(value, str) and value == _DEPRECATED):
                warnings.warn(f"{old} is deprecated and will be removed in the next release; "
                              f"use {new} (the name CHM uses)", FutureWarning, stacklevel=3)
                settings[new] = value
        settings["solver"] = self.solver
        if self.solver == "sgd":
            warnings.warn('solver="sgd" is deprecated and will be removed in the next release; '
                          'use solver="momentum" (the name CHM uses)', FutureWarning, stacklevel=3)
            settings["solver"] = "momentum"
        return settings

    # ------------------------------------------------------------ preprocessing
    def _low_shape(self, shape):
        """Height and width of the network's output grid for an input of ``shape``."""
        h, w = shape[:2]
        return max(1, int(round(h / self.downscale))), max(1, int(round(w / self.downscale)))

    def _prepare(self, image):
        """Normalise, downscale and pad one image; returns ``(C, h + P - 1, w + P - 1)`` float32."""
        x = image if image.ndim == 3 else image[:, :, None]
        x = _standardise(x, self.mean_, self.std_)
        x = np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)
        low = self._low_shape(image.shape)
        if low != image.shape[:2]:
            t = torch.from_numpy(x).unsqueeze(0)
            x = F.interpolate(t, size=low, mode="bilinear", align_corners=False,
                              antialias=True)[0].numpy()
        return pad_image(x, self.patch_size_, self.padding).astype(np.float32, copy=False)

    def _labeled_points(self, labels, shape):
        """Labeled pixels of one image on the output grid: corners, weights and class indices.

        Returns
        -------
        ys, xs : ndarray of int64, shape (M, 4)
            Output-grid cells around each labeled pixel.
        weights : ndarray of float32, shape (M, 4)
            Their bilinear weights (those of :meth:`predict_proba`'s upsampling).
        targets : ndarray of int64, shape (M,)
            Class indices into ``classes_``.
        """
        rows, cols = np.nonzero(labels >= 0)
        targets = np.searchsorted(self.classes_, labels[rows, cols])
        h, w = self._low_shape(shape)
        y0, y1, fy = _bilinear_sources(rows.astype(np.float64), h, shape[0])
        x0, x1, fx = _bilinear_sources(cols.astype(np.float64), w, shape[1])
        ys = np.stack([y0, y0, y1, y1], axis=1)
        xs = np.stack([x0, x1, x0, x1], axis=1)
        weights = np.stack([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx], axis=1)
        return ys, xs, weights.astype(np.float32), targets.astype(np.int64)

    # -------------------------------------------------------------------- fit
    def fit(self, images, labels):
        """Train the network on sparsely labeled images.

        Parameters
        ----------
        images : list of ndarray or ndarray
            Images (H, W) or (H, W, 3), sizes may differ; uint8 is scaled to
            [0, 1] (see :func:`chm._validation.check_images`).
        labels : list of ndarray or ndarray
            One int label map per image, ``-1`` for unlabeled pixels; at least
            two classes must be labeled.

        Returns
        -------
        self : ConvNetSegmenter
        """
        images, labels = self._fit_prologue(images, labels)
        device = resolve_device(self.device)
        settings = self._training_settings()
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        self.mean_, self.std_ = _channel_stats(images, self.n_channels_)
        self.device_ = device

        with _torch_threads(self.n_jobs), _seeded(seed, device):
            module = PatchNet(self.n_classes_, self.n_channels_, width=self.width,
                              hidden=self.hidden).to(device)
            self.patch_size_ = module.patch_size
            padded = [self._prepare(im) for im in images]
            points = [self._labeled_points(lab, im.shape) for lab, im in zip(labels, images)]
            low_shapes = [self._low_shape(im.shape) for im in images]
            self.penalty_ = get_penalty(self.penalty)
            guides = None
            if self.penalty_.guided and self.tv_weight > 0:
                guides = [self.penalty_.guide(_resized(im, shape))
                          for im, shape in zip(images, low_shapes)]
            self._train(module, padded, points, low_shapes, guides, rng, device, settings)
        module.eval()
        self.module_ = module
        return self

    def _make_optimizer(self, module, solver):
        if solver == "adam":
            return torch.optim.Adam(module.parameters(), lr=self.learning_rate,
                                    weight_decay=self.weight_decay)
        return torch.optim.SGD(module.parameters(), lr=self.learning_rate, momentum=self.momentum,
                               weight_decay=self.weight_decay)

    def _sample_batch(self, batch, padded, points, low_shapes, guides, rng, side):
        """Crops (of side ``side``, None: whole images) of the batch's images, grouped by
        shape, with their labeled pixels and the penalty's guides (``guides`` None: none)."""
        p = self.patch_size_
        groups = {}
        for index in batch:
            h, w = low_shapes[index]
            ch, cw = h, w
            if side is not None:
                ch, cw = min(side, h), min(side, w)
            top = int(rng.randint(h - ch + 1))
            left = int(rng.randint(w - cw + 1))
            crop = padded[index][:, top:top + ch + p - 1, left:left + cw + p - 1]
            ys, xs, weights, targets = points[index]
            inside = ((ys.min(axis=1) >= top) & (ys.max(axis=1) < top + ch)
                      & (xs.min(axis=1) >= left) & (xs.max(axis=1) < left + cw))
            group = groups.setdefault((ch, cw), {"crops": [], "points": [], "guides": []})
            group["guides"].append(None if guides is None
                                   else guides[index][top:top + ch, left:left + cw])
            group["points"].append((len(group["crops"]), ys[inside] - top, xs[inside] - left,
                                    weights[inside], targets[inside]))
            group["crops"].append(crop)
        return groups

    def _batch_loss(self, module, groups, device):
        """Cross-entropy of the labeled pixels and per-pixel total variation of a batch."""
        log_probs, weights = [], []
        tv_sum = torch.zeros((), device=device)
        n_valid = 0
        for (ch, cw), group in groups.items():
            x = torch.from_numpy(np.stack(group["crops"])).to(device)
            log_prob = F.log_softmax(module.forward_dense(x), dim=1)
            for b, ys, xs, w, t in group["points"]:
                if len(t) == 0:
                    continue
                t_idx = torch.from_numpy(t).to(device)
                ys_t = torch.from_numpy(ys).to(device)
                xs_t = torch.from_numpy(xs).to(device)
                log_probs.append(log_prob[b, t_idx[:, None], ys_t, xs_t])
                weights.append(torch.from_numpy(w).to(device))
            if ch >= 3 and cw >= 3:
                prob = log_prob.exp()
                with torch.set_grad_enabled(self.tv_weight > 0 and torch.is_grad_enabled()):
                    tv_sum = tv_sum + self._penalty_sum(prob, group["guides"])
                n_valid += x.shape[0] * (ch - 2) * (cw - 2)
        if log_probs:
            ce = interpolated_nll(torch.cat(log_probs), torch.cat(weights))
        else:
            ce = torch.zeros((), device=device)
        tv = tv_sum / n_valid if n_valid else tv_sum
        return ce, tv

    def _penalty_sum(self, prob, guides):
        """E_U of a batch of maps (N, C, H, W): torch total variation for ``"tv"``, else
        the penalty object through :func:`chm.convnet.losses.penalty_loss_torch`."""
        if type(self.penalty_) is TotalVariation:
            return tv_loss_torch(prob, reduction="sum")
        return sum(penalty_loss_torch(p, self.penalty_, g) for p, g in zip(prob, guides))

    def _train(self, module, padded, points, low_shapes, guides, rng, device, settings):
        epochs, batch_images = settings["epochs"], settings["batch_images"]
        optimizer = self._make_optimizer(module, settings["solver"])
        n_images = len(padded)
        n_batches = math.ceil(n_images / batch_images)
        total_steps = epochs * n_batches
        scheduler = None
        if self.lr_schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps)))
        self.history_ = []
        self.n_iter_ = 0
        module.train()
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            order = rng.permutation(n_images)
            sums = np.zeros(3)
            for k in range(n_batches):
                batch = order[k * batch_images:(k + 1) * batch_images]
                groups = self._sample_batch(batch, padded, points, low_shapes, guides, rng,
                                            settings["crop"])
                ce, tv = self._batch_loss(module, groups, device)
                loss = ce + self.tv_weight * tv
                optimizer.zero_grad(set_to_none=True)
                if loss.requires_grad:
                    loss.backward()
                    optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                self.n_iter_ += 1
                sums += (ce.item(), tv.item(), loss.item())
            ce_mean, tv_mean, loss_mean = sums / n_batches
            seconds = time.perf_counter() - start
            self.history_.append({"epoch": epoch, "ce": float(ce_mean), "tv": float(tv_mean),
                                  "loss": float(loss_mean), "seconds": float(seconds)})
            if self.verbose:
                print(f"[ConvNetSegmenter] epoch {epoch}/{epochs}  ce {ce_mean:.4f}  "
                      f"tv {tv_mean:.4f}  loss {loss_mean:.4f}  {seconds:.1f}s",
                      file=sys.stderr, flush=True)

    # --------------------------------------------------------------- predict
    def predict_proba(self, images):
        """Class probabilities of every pixel.

        Parameters
        ----------
        images : list of ndarray or ndarray
            Images like those of :meth:`fit` (same number of channels).

        Returns
        -------
        list of ndarray of float32, shape (H, W, n_classes_)
            Per image, the softmax of the dense network (upsampled bilinearly
            to the image size when ``downscale > 1``); channel ``k`` is class
            ``classes_[k]``; each pixel's probabilities sum to 1.
        """
        self._check_fitted()
        images = check_images(images)
        self._check_channels(images)
        out = []
        with _torch_threads(self.n_jobs), torch.inference_mode():
            for image in images:
                x = torch.from_numpy(self._prepare(image)).unsqueeze(0).to(self.device_)
                prob = torch.softmax(self.module_.forward_dense(x), dim=1)
                if prob.shape[2:] != image.shape[:2]:
                    prob = F.interpolate(prob, size=image.shape[:2], mode="bilinear",
                                         align_corners=False)
                out.append(np.ascontiguousarray(prob[0].permute(1, 2, 0).cpu().numpy(),
                                                dtype=np.float32))
        return out

def load(path, device=None):
    """Read a ConvNet model written by :meth:`ConvNetSegmenter.save` (or :func:`chm.save`).

    Same as :func:`chm.load` (:func:`chm.persistence.load`) for a file that
    holds a ConvNet. Files of the earlier ``torch.save`` format of this
    class are not read.

    Parameters
    ----------
    path : str or path-like
    device : str or None, default=None
        Overrides the saved ``device`` parameter (e.g. ``"cpu"`` to load a
        model trained on a GPU on a machine without one).

    Returns
    -------
    ConvNetSegmenter
        Fitted, predicting exactly as the saved model did on the same device.

    Raises
    ------
    ValueError
        If ``path`` is not a chm model file (see :func:`chm.load`) or holds
        another kind of model.
    """
    from chm.persistence import load as load_model

    model = load_model(path, device=device)
    if not isinstance(model, ConvNetSegmenter):
        raise ValueError(f"{path} holds a {type(model).__name__}, not a ConvNetSegmenter")
    return model
