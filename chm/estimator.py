"""The CHM estimator: a contextual hierarchy of stage classifiers trained from
sparse labels with a spatial penalty (total variation by default).

Pipeline (Seyedhosseini & Tasdizen, PAMI 2015; Javanmardi et al. 2016):

1. Each image is brought to the working resolution (``downscale``) and a
   pyramid of ``n_levels`` levels is built (factor 2 per level).
2. **Bottom-up.** The classifier of level ``l`` sees the image features of
   level ``l`` plus the probability maps ("context") of levels ``0..l-1``
   downsampled to level ``l``.
3. **Top-down.** A level-0 classifier sees the image features plus all
   levels' maps upsampled to level 0. Its output is the stage's output.
4. With ``n_stages > 1`` each stage's output is context for every classifier
   of the next stage.

Each classifier minimises E_S + tv_weight * E_U (eq. 1); by default E_U only
acts at full resolution (bottom-up level 0 and top-down), coarse levels train
purely supervised.
"""
import copy
import numbers
import time
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_memory
from skimage.transform import rescale

from features import ContextFilter, FeatureNormalizer, Filter, FilterBank, default_bank
from features.base import peak_abs

from . import _validation as val
from ._progress import bar, log
from ._params import (N_JOBS, VERBOSE, Boolean, HasMethods, Interval, Options, RandomState,
                      SequenceOf, check_param)
from ._runtime import compute_threads, release_freed_memory, resolve_n_jobs, thread_map
from .base import SegmenterMixin
from .classifiers import make_stage, train_stage
from .files import label_dtype
from .hierarchy import (downsample_to_level, grid_step, pad_to_step, padded_shape, pool_labels,
                        pyramid, resize_map)
from . import class_prior, penalty_search, training_length
from .penalties import PENALTY_NAMES, Penalty, get_penalty
from .folded_unit import FoldedUnit
from .plan import LATER_STAGES, TOP_DOWN, Unit, build_plan
from .tiling import filter_support, predict_tiled, receptive_field
from .unit_inputs import UnitInputs, input_row_range, input_rows, normalized



def working_image(image, downscale, n_levels=1):
    """``image`` at the working resolution, padded to whole pixels at every level.

    The image is first mirrored out at its bottom and right to multiples of
    :func:`chm.hierarchy.grid_step`, then shrunk by exactly ``downscale``
    (anti-aliased); its level-0 size is ``ceil(H / step) * step /
    downscale``. Predicted maps are cropped back to the input's size.
    """
    image = pad_to_step(np.asarray(image, dtype=np.float32), grid_step(downscale, n_levels))
    if downscale == 1:
        return image
    channel_axis = -1 if image.ndim == 3 else None
    return rescale(image, 1.0 / downscale, anti_aliasing=True,
                   channel_axis=channel_axis, preserve_range=True).astype(np.float32)


def level_features(image, bank, downscale, n_levels, n_jobs=1):
    """Image features of every pyramid level of ``image``: float32 (H_l, W_l, F).

    A pure function of its arguments (``n_jobs``, the threads of a
    :class:`features.FilterBank`, changes only the speed), so that
    :class:`CHM` can cache it (``memory``) across fits, cross-validation
    folds and predictions.
    """
    levels = pyramid(working_image(image, downscale, n_levels), int(n_levels))
    if isinstance(bank, FilterBank) and n_jobs > 1:
        return [bank(im, n_jobs=n_jobs) for im in levels]
    return [bank(im) for im in levels]



_ROW_BLOCK = 1 << 15  # pixel rows per block of a unit's prediction
_COARSE_FROM = 2  # average_folds="coarse": the fold ensemble from this level up
_PREDICT_CHUNK = 16  # images whose features are held at once in a prediction
_FLOAT16_MAX = float(np.finfo(np.float16).max)


def _stored(features, dtype):
    """Level features as stored: float16 halves their memory, unless a value would not fit
    (then that level stays float32). Every unit input built from them is float32."""
    if dtype == "float16" and np.abs(features).max(initial=0.0) < _FLOAT16_MAX:
        return features.astype(np.float16)
    return features

def _sample_rows(X, n_max, rng):
    """Up to ``n_max`` random pixel rows of the stacks ``X``, in pixel order."""
    starts = np.r_[0, np.cumsum([x.shape[0] * x.shape[1] for x in X])]
    take = np.sort(rng.choice(starts[-1], min(starts[-1], n_max), replace=False))
    owner = np.searchsorted(starts, take, side="right") - 1
    return np.concatenate([input_rows(X[i], take[owner == i] - starts[i])
                           for i in np.unique(owner)])


def _as_probabilities(maps):
    """Output maps clipped to [0, 1] and normalised to sum 1 over the classes."""
    p = np.clip(maps, 0.0, 1.0)
    p /= p.sum(axis=-1, keepdims=True)
    return p


def _image_folds(n_images, n_folds, rng):
    """``n_folds`` random folds of ``n_images`` images (index arrays; one per image if fewer)."""
    return np.array_split(rng.permutation(n_images), min(n_folds, n_images))


class CHM(SegmenterMixin, ClassifierMixin, BaseEstimator):
    """Contextual hierarchical model trained from sparse labels.

    Parameters
    ----------
    n_levels : int >= 1, default 4
        Pyramid levels of the bottom-up pass (level 0 = working resolution).
    n_stages : int >= 1, default 1
        Stages; each stage's output is context for the next one.
    later_stages : {"hierarchy", "top_down"}, default "hierarchy"
        What the stages after the first are: a whole hierarchy each
        (``"hierarchy"``), or, as in the original CHM, a single level-0
        classifier that reads every map of the previous stage, bottom-up
        levels included (``"top_down"``; see :func:`chm.plan.build_plan`).
    classifier : {"ldnn", "logistic"}, default "ldnn"
        Stage classifier.
    tv_weight : float >= 0 or "auto", default 0.1
        Weight alpha of the spatial penalty E_U (eq. 1); E_S is a mean over
        labeled pixels and E_U a mean over map pixels, so the weight does not
        depend on image or label counts. ``0`` trains the supervised
        baseline. 0.1 is the best of the positive weights measured on
        Weizmann Horse at 10 labeled pixels per image (0.1, 0.25, 0.5, 1; see
        benchmarks/results/). ``"auto"`` chooses it, 0 included, by
        cross-validation over held-out labeled pixels
        (:mod:`chm.penalty_search`).
    penalty : str, "auto" or Penalty, default "tv"
        The spatial penalty, a name of :data:`chm.penalties.PENALTY_NAMES`
        (``"tv"``: total variation, eqs. 8 and 15; ``"edge_tv"``,
        ``"bilateral"``, ``"curvilinear"``, ``"quadratic"``: see
        :mod:`chm.penalties`) or an instance. ``"auto"`` chooses among
        :data:`chm.penalty_search.AUTO_PENALTIES` and no penalty, with the
        weight ``tv_weight`` (or chosen as well when it is ``"auto"``).
    penalty_cv : int >= 2, default 3
        Folds of held-out labeled pixels of the ``"auto"`` search.
    tv_levels : "full_resolution", "all", "top_down", int or list, default "full_resolution"
        Classifiers the penalty applies to: level indices (``0 .. n_levels -
        1``) and/or ``"top_down"``, alone or in a list, tuple or set.
        ``"full_resolution"`` means ``{0, "top_down"}``.
    downscale : float >= 1, default 2.0
        Working resolution = input size / downscale; probability maps are
        resampled back to the input size. ``1`` works at full resolution.
    bank : features.Filter or None
        Image filter bank; ``None`` uses ``features.default_bank``.
        ``features.chm_bank()`` is the original CHM's 476 features; a bank
        that learns from images (``features.LearnedFilters``) is fitted, as a
        copy, on the training images inside :meth:`fit`.
    learned_filters : int >= 0, default 128
        With ``bank=None``: filters learned from the training images
        (``features.LearnedFilters``: whitened 7 x 7 patches clustered by
        k-means, triangle encoding; Coates & Ng 2011) added to the default
        bank, fitted inside :meth:`fit` with a seed drawn from
        ``random_state``. Ignored when ``bank`` is given. On Weizmann Horse
        at 10 labeled pixels per image (seed 0, 15 epochs) 64 filters lower
        the supervised error from 14.63 % to 12.18 % and 128 to 11.50 %;
        with ``epochs="auto"`` TV gives 11.58 % with 64 and 11.04 % with
        128, and dense labels 6.14 % and 6.07 %
        (benchmarks/results/capacity). ``0`` gives the plain default bank.
    feature_dtype : {"float32", "float16"}, default "float32"
        How the image features of the training (and predicted) images are
        held between units. ``"float16"`` halves the largest arrays of a
        fit (about 3 significant digits; a level whose values exceed the
        float16 range stays float32); the classifiers always compute in
        float32.
    context_radii : tuple of int >= 1, default (1, 2, 4, 8)
        Radii of the stencil (centre plus 8 directions per radius) at which
        context maps are sampled.
    context_average : bool, default False
        Sample box means of the context maps instead of single pixels.
    n_groups, n_disc : int >= 1 or sequence of int, default 8 and 8
        LDNN size: N conjunctions of M discriminants. A sequence gives one
        size per pyramid level (entry ``l`` for the bottom-up classifier of
        level ``l``, entry 0 also for the top-down ones); the original CHM
        uses 10 x 20 at level 0 and 24 x 24 above. On Weizmann Horse at
        10 labeled pixels per image, 8 x 8 (with 4 levels) has lower error
        than 4 x 4 both with and without TV; 16 x 8 overfits.
    epochs : int >= 0 or "auto", default "auto"
        Passes over the training images (0 keeps the initial weights).
        ``"auto"`` chooses it by early stopping on the (smoothed) error of
        held-out labeled pixels, once, on the first classifier
        (:mod:`chm.training_length`; at most ``training_length.MAX_EPOCHS``,
        300): sparse labels then get short trainings and dense labels long
        ones. On Weizmann Horse (seed 0) it chose 5 to 23 epochs at 10
        labeled pixels per image and 94 to 127 with 2000, which lowered the
        dense-label error to 6.07-6.12 % (benchmarks/results/capacity). An
        integer fixes the length and skips the measurement.
    batch_images : int >= 1, default 16
        Images per mini-batch.
    learning_rate : float > 0, default 0.01
        Step size of the solver.
    solver : {"adam", "momentum"}, default "adam"
        Adam, or gradient descent with (heavy-ball) momentum ``momentum``.
    momentum : float in [0, 1), default 0.9
        Momentum of ``solver="momentum"`` (see
        :func:`chm.classifiers.train_stage`).
    loss : {"cross_entropy", "squared"}, default "cross_entropy"
        Supervised loss E_S.
    weight_decay : float >= 0, default 0
        L2 penalty on the stage weights (the Tikhonov baseline).
    dropout : float in [0, 1), default 0
        Input dropout on labeled rows.
    crop : int >= 3 or None, default 64
        E_U is taken on one random ``crop`` x ``crop`` window of each image
        per step (a window of the working resolution; smaller images are
        used whole). ``None`` takes it on whole maps, at about twice the
        training time.
    class_weight : None or "balanced", default None
        Class weights of the supervised loss.
    context_cv : None or int >= 2, default 8
        Out-of-fold context (stacking). A classifier fits its own labeled
        pixels better than unseen ones, so during training the context maps
        it passes on are more reliable at the labeled pixels than they will
        be on new images, and the classifiers that read them learn to trust
        them too much. With ``context_cv=K`` the training images are split
        into K random folds and the context maps of each fold's images come
        from a copy of the classifier trained on the other folds; the
        classifier kept for prediction is trained on all images (with fewer
        than K images, one fold per image). Costs K extra trainings of every
        classifier whose output is context. ``None`` passes the classifiers'
        own maps on. On Weizmann Horse at 10 labeled pixels per image, 8
        folds lower the error of the TV model by about 0.7 points and make
        the TV loss better than the supervised loss, which it is not
        without (benchmarks/results/).
    class_prior : {"estimate", "labels"} or sequence of float, default "estimate"
        The class shares the predictions are made for. The classifiers learn
        the posteriors under the shares of the *labeled* pixels; painted
        strokes label about as many pixels of a small object as of the
        background, and the model then over-predicts the object.
        ``"estimate"`` estimates the shares of all pixels of the training
        images from the fitted model's own output maps (EM, Saerens et al.
        2002; :mod:`chm.class_prior`) and moves every prediction to them by
        Bayes' rule; ``"labels"`` keeps the labels' shares. On Weizmann
        Horse trained from one stroke per class per image (51 % of the
        labeled pixels horse, 21 % of the pixels) it lowered the pixel error
        from 16.79 % to 14.98 % (seed 0, the same classifiers); random
        clicks, whose shares are the images', are left nearly as they were
        (10 random px, seed 0: 11.38 % and 11.39 %). A sequence of
        ``n_classes`` non-negative numbers gives the shares outright (in the
        order of ``classes_``, normalised to sum to 1): the shares a user
        knows, or those a model fitted on representative labels estimated,
        kept when later labels are not representative (suggested pixels,
        ``benchmarks/active.py``).
    average_folds : bool or "coarse", default "coarse"
        With ``context_cv``, a classifier whose output is context may predict
        with the mean of its own probabilities and those of its
        ``context_cv`` fold copies (a bagged ensemble that costs no extra
        training, only prediction time; the copies are kept in the model
        either way, so the option can be changed after fitting). ``True``:
        every such classifier; ``"coarse"``: those of levels 2 and above,
        which hold a sixteenth of the working pixels or less; ``False``:
        none (each predicts with the classifier trained on all images
        alone). On Weizmann Horse at 10 labeled pixels per image (3 draws,
        the same fitted models) the mean pixel error is 11.38 % with
        ``True``, 11.34 % with ``"coarse"`` and 11.44 % with ``False``; at
        50 pixels (seed 0) 7.95 %, 7.98 % and 8.01 %. ``"coarse"`` predicted
        the 164 test images in 21.1 s against 37.9 s for ``True`` (one core;
        ``benchmarks/fold_ensemble.py``).
    average_flip : bool, default False
        Predict each image twice, as given and mirrored left to right, and
        average the two probability maps (the second mirrored back). Doubles
        the prediction time. It helps only with very few labels: on Weizmann
        Horse (with ``average_folds``) it lowers the pixel error by about 0.3
        points at 10 labeled pixels per image but raises it by about 0.3 at
        50 (the features are not mirror-symmetric, so the mirrored image is
        a slightly unfamiliar input to a model trained on the originals).
    memory : None, str or joblib.Memory, default None
        Where to cache the image features of every pyramid level (the
        scikit-learn ``memory`` convention: a folder, or an object with the
        ``joblib.Memory`` interface). Features depend only on the image,
        ``bank``, ``downscale`` and ``n_levels``, so fits on new draws of the
        sparse labels, cross-validation folds and repeated predictions on
        the same images reuse them. Results are the same with or without.
    random_state : int, RandomState or None, default None
        Seeds the weight initialisation, the mini-batches, the crops and the
        ``context_cv`` folds.
    n_jobs : int or None, default None
        Cores (joblib convention: None is 1, -1 all; 0 is not allowed): the
        features of several images, the trainings of a classifier and its
        ``context_cv`` copies, and blocks of pixel rows of each prediction
        run in threads, each numeric call with one BLAS/OpenMP thread (see
        :mod:`chm._runtime`). Results do not depend on it.
    verbose : int >= 0 or bool, default 0
        Progress on stderr: 1 draws bars of the features (per image), the
        classifiers, and the tiles of a tiled prediction, and logs one line
        per classifier; 2 adds a bar of each classifier's epochs; 3 also
        logs one line per epoch.

    Attributes
    ----------
    penalty_ : Penalty or None
        The penalty the penalised classifiers trained with (``None``: none).
    tv_weight_ : float
        Its weight; the chosen one with ``"auto"``.
    penalty_search_ : list of chm.penalty_search.PenaltyTrial
        With ``"auto"``: every candidate and its held-out labeled-pixel error.
    epochs_ : int
        The epochs every classifier trained for; the chosen ones with
        ``epochs="auto"``.
    epoch_search_ : chm.training_length.EpochChoice or None
        With ``epochs="auto"``: the held-out error and loss after every epoch.
    plan_ : chm.plan.Plan
        The hierarchy; ``units_`` its fitted classifiers, in order.
    receptive_field_ : int
        Input pixels on each side that reach an output pixel (the halo of
        tiled prediction).
    label_prior_ : ndarray (n_classes,)
        The class shares of the labeled pixels (uniform over the labeled
        classes with ``class_weight="balanced"``).
    class_prior_ : ndarray (n_classes,)
        The class shares the predictions are adjusted to (``class_prior``).

    Every parameter is checked against ``_parameter_constraints`` at the
    start of :meth:`fit`, before any feature is computed (a ValueError names
    the parameter); ``average_folds`` and ``average_flip`` are checked again
    at prediction, since they may be changed after fitting.

    Examples
    --------
    >>> from chm import CHM
    >>> model = CHM(random_state=0).fit(train_images, sparse_labels)   # doctest: +SKIP
    >>> label_maps = model.predict(test_images)                        # doctest: +SKIP
    """

    _fitted_attribute = "units_"
    _parameter_constraints = {
        "n_levels": [Interval(Integral, 1, None, closed="left")],
        "n_stages": [Interval(Integral, 1, None, closed="left")],
        "later_stages": [Options(set(LATER_STAGES))],
        "classifier": [Options({"ldnn", "logistic"})],
        "tv_weight": [Interval(Real, 0, None, closed="left"), Options({"auto"})],
        "penalty": [Options(set(PENALTY_NAMES) | {"auto"}), Penalty],
        "penalty_cv": [Interval(Integral, 2, None, closed="left")],
        "tv_levels": [Options({"full_resolution", "all", TOP_DOWN}),
                      Interval(Integral, 0, None, closed="left"),
                      SequenceOf([Interval(Integral, 0, None, closed="left"), Options({TOP_DOWN})],
                                 sets=True)],
        "downscale": [Interval(Real, 1, None, closed="left")],
        "bank": [None, Filter],
        "feature_dtype": [Options({"float32", "float16"})],
        "learned_filters": [Interval(Integral, 0, None, closed="left")],
        "context_radii": [SequenceOf(Interval(Integral, 1, None, closed="left"), min_length=1)],
        "context_average": [Boolean()],
        "n_groups": [Interval(Integral, 1, None, closed="left"),
                     SequenceOf(Interval(Integral, 1, None, closed="left"), min_length=1)],
        "n_disc": [Interval(Integral, 1, None, closed="left"),
                   SequenceOf(Interval(Integral, 1, None, closed="left"), min_length=1)],
        "epochs": [Interval(Integral, 0, None, closed="left"), Options({"auto"})],
        "batch_images": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "solver": [Options({"adam", "momentum"})],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "loss": [Options({"cross_entropy", "squared"})],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "crop": [None, Interval(Integral, 3, None, closed="left")],
        "class_weight": [None, Options({"balanced"})],
        "class_prior": [Options({"estimate", "labels"}),
                        SequenceOf(Interval(Real, 0, None, closed="left"), min_length=2)],
        "context_cv": [None, Interval(Integral, 2, None, closed="left")],
        "average_folds": [Boolean(), Options({"coarse"})],
        "average_flip": [Boolean()],
        "memory": [None, str, HasMethods("cache")],
        "random_state": [RandomState()],
        "n_jobs": N_JOBS,
        "verbose": VERBOSE,
    }

    def __init__(self, n_levels=4, n_stages=1, later_stages="hierarchy", classifier="ldnn", tv_weight=0.1, penalty="tv",
                 penalty_cv=3, tv_levels="full_resolution", downscale=2.0, bank=None,
                 learned_filters=128, feature_dtype="float32", context_radii=(1, 2, 4, 8),
                 context_average=False,
                 n_groups=8, n_disc=8, epochs="auto", batch_images=16, learning_rate=0.01,
                 solver="adam", momentum=0.9, loss="cross_entropy", weight_decay=0.0,
                 dropout=0.0, crop=64, class_weight=None, class_prior="estimate", context_cv=8,
                 average_folds="coarse", average_flip=False, memory=None, random_state=None, n_jobs=None,
                 verbose=0):
        self.n_levels = n_levels
        self.n_stages = n_stages
        self.later_stages = later_stages
        self.classifier = classifier
        self.tv_weight = tv_weight
        self.penalty = penalty
        self.penalty_cv = penalty_cv
        self.tv_levels = tv_levels
        self.downscale = downscale
        self.bank = bank
        self.learned_filters = learned_filters
        self.feature_dtype = feature_dtype
        self.context_radii = context_radii
        self.context_average = context_average
        self.n_groups = n_groups
        self.n_disc = n_disc
        self.epochs = epochs
        self.batch_images = batch_images
        self.learning_rate = learning_rate
        self.solver = solver
        self.momentum = momentum
        self.loss = loss
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.crop = crop
        self.class_weight = class_weight
        self.class_prior = class_prior
        self.context_cv = context_cv
        self.average_folds = average_folds
        self.average_flip = average_flip
        self.memory = memory
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _check_prediction_params(self):
        """The options read at prediction time (they may be set after fitting)."""
        for name in ("average_folds", "average_flip"):
            check_param(name, getattr(self, name), self._parameter_constraints[name])

    def _check_params(self):
        """Check every parameter (see ``_parameter_constraints``) and ``tv_levels`` against
        ``n_levels``."""
        self._validate_params()
        self._penalised_keys()
        for name in ("n_groups", "n_disc"):
            value = getattr(self, name)
            if not isinstance(value, Integral) and len(value) != int(self.n_levels):
                raise ValueError(f"{name} must be an int or hold one size per level "
                                 f"(n_levels={int(self.n_levels)}), got {len(value)} sizes")

    def _penalised_keys(self):
        """Keys of the penalised classifiers (level indices and/or ``"top_down"``) of valid
        parameters; a ValueError if ``tv_levels`` names a level beyond ``n_levels``."""
        n_levels, tv_levels = int(self.n_levels), self.tv_levels
        if isinstance(tv_levels, str) and tv_levels == "full_resolution":
            return {0, TOP_DOWN}
        if isinstance(tv_levels, str) and tv_levels == "all":
            return set(range(n_levels)) | {TOP_DOWN}
        levels = {tv_levels} if isinstance(tv_levels, (str, Integral)) else set(tv_levels)
        bad = sorted(int(x) for x in levels if x != TOP_DOWN and x >= n_levels)
        if bad:
            raise ValueError(f"tv_levels entries must be level indices below n_levels={n_levels} "
                             f"or 'top_down', got {bad}")
        return {x if x == TOP_DOWN else int(x) for x in levels}

    def _fitted_bank(self, images):
        """The bank used: ``bank`` or the default one; a copy fitted on the working images
        when it learns from images (:attr:`features.Filter.needs_fit`)."""
        bank = self.bank
        if bank is None:
            n_learned = int(self.learned_filters)
            seed = (check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
                    if n_learned else None)
            bank = default_bank(color=self.n_channels_ == 3, n_learned=n_learned, random_state=seed)
        if not bank.needs_fit:
            return bank
        t0 = time.perf_counter()
        level0 = [working_image(im, float(self.downscale), int(self.n_levels)) for im in images]
        bank = copy.deepcopy(bank).fit(level0)
        self._log(1, f"bank fitted on {len(images)} images: {time.perf_counter() - t0:.1f}s")
        return bank

    def _log(self, level, msg):
        if self.verbose >= level:
            log(f"[chm] {msg}")

    # ---------------------------------------------------------------- features
    def _image_features(self, images, plan):
        """Per image, per level: (H_l, W_l, F) image features, stored as ``feature_dtype``."""
        cached = check_memory(self.memory).cache(level_features, ignore=["n_jobs"])
        args = (self.bank_, plan.downscale, plan.n_levels)
        n_jobs = resolve_n_jobs(self.n_jobs)

        def features(im, threads=1):
            return [_stored(f, self.feature_dtype) for f in cached(im, *args, n_jobs=threads)]

        show = self.verbose >= 1 and len(images) > 1
        if n_jobs == 1 or len(images) < 2:  # one image (a tile): its filters in n_jobs threads
            return [features(im, n_jobs) for im in bar(images, show, "features", unit="image")]
        jobs = Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator")(
            delayed(features)(im) for im in images)
        return list(bar(jobs, show, "features", total=len(images), unit="image"))

    @staticmethod
    def _as_context(prob):
        """The channels of a probability map passed on as context (one for two classes)."""
        return prob[..., 1] if prob.shape[-1] == 2 else prob

    # --------------------------------------------------------------- hierarchy
    def _unit_inputs(self, spec, plan, feats, outputs):
        """Per image, the (unnormalised) inputs of unit ``spec``: its level's features, then
        its context, as :class:`chm.unit_inputs.UnitInputs` built on request.

        ``outputs[j]`` holds the context maps of unit ``j`` (one per image);
        each is brought to the unit's level (block means going down, bilinear
        going up), to be sampled by ``context_filter_``.
        """
        ctx_filter = self.context_filter_

        def inputs(i):
            target = feats[i][spec.level]
            sources = []
            for j in spec.context:
                source, m = plan[j].level, outputs[j][i]
                m = (downsample_to_level(m, spec.level - source) if source <= spec.level
                     else resize_map(m, target.shape[:2]))
                sources.append(ctx_filter.extend(m))
            return UnitInputs(target, sources, ctx_filter)

        return thread_map(inputs, range(len(feats)), self.n_jobs)

    def _walk(self, plan, feats, unit_maps, release_features=False):
        """Run the units of ``plan`` in order; the last unit's (H_0, W_0, C) maps.

        ``unit_maps(index, spec, X)`` returns the unit's maps of its inputs
        ``X``; it trains the unit first when fitting. Context maps are
        dropped once the last unit that reads them has run, and with
        ``release_features`` so are the features of a level (in ``feats``)
        once the last unit of that level has run.
        """
        last_reader = {j: i for i, spec in enumerate(plan) for j in spec.context}
        last_of_level = {spec.level: i for i, spec in enumerate(plan)}
        outputs = {}
        for i, spec in enumerate(plan):
            maps = unit_maps(i, spec, self._unit_inputs(spec, plan, feats, outputs))
            for j in [j for j in outputs if last_reader[j] == i]:
                del outputs[j]
            if spec.feeds_context:
                outputs[i] = [self._as_context(m) for m in maps]
            if release_features and last_of_level[spec.level] == i:
                for f in feats:
                    f[spec.level] = None
        return maps

    @staticmethod
    def _guide_source(images, plan):
        """``guides(penalty, level)``: the penalty's guide of every image at ``level``.

        A list of ``None`` for penalties that need none
        (:attr:`chm.penalties.Penalty.guided`); computed once per penalty and
        level, from the working image at that level.
        """
        memo = {}  # (id, level) -> (penalty, guides): the penalty is kept, so its id stays its own
        pyramids = []  # the working-image pyramid of every image, built on first need

        def guides(penalty, level):
            key = (id(penalty), level)
            if key not in memo:
                if not penalty.guided:
                    found = [None] * len(images)
                else:
                    if not pyramids:
                        pyramids.extend(pyramid(working_image(im, plan.downscale, plan.n_levels),
                                                plan.n_levels) for im in images)
                    found = [penalty.guide(pyr[level]) for pyr in pyramids]
                memo[key] = (penalty, found)
            return memo[key][1]

        return guides

    def _fit_walk(self, plan, feats, labels, guides, rng, heldout=None):
        """Train every unit of ``plan``; return the fitted units, the last unit's maps
        of the training images, and the held-out maps (None without ``heldout``).

        ``guides`` is what :meth:`_guide_source` returns. ``heldout`` is a
        :class:`chm.heldout.HeldOutFolds` holding the label maps of every fold
        (at level 0, like ``labels``): copies of the last unit are then trained
        on them (:meth:`_heldout_copies`).
        """
        def pyramid_of(lab, f, level):
            return pool_labels(lab, f[level].shape[:2], self.n_classes_) if level else lab

        label_pyr = [[pyramid_of(lab, f, level) for level in range(plan.n_levels)]
                     for lab, f in zip(labels, feats)]
        units, found = [], []
        with bar(None, self.verbose >= 1, "classifiers", total=len(plan), unit="classifier") as done:
            def fit_unit(index, spec, X):
                unit_guides = guides if spec.penalised else None
                unit, maps = self._fit_unit(spec, X, [p[spec.level] for p in label_pyr],
                                            unit_guides, rng)
                units.append(unit)
                if heldout is not None and index == len(plan) - 1:
                    fold_labels = [[pyramid_of(lab, f, spec.level) for lab, f in zip(fold, feats)]
                                   for fold in heldout.fold_labels]
                    found.append(self._heldout_copies(unit, X, fold_labels, heldout.wanted,
                                                      unit_guides, rng))
                done.update()
                return maps

            maps = self._walk(plan, feats, fit_unit)
        return units, maps, (found[0] if found else None)

    def _heldout_copies(self, unit, X, fold_labels, wanted, guides, rng):
        """Maps of copies of ``unit`` (the last one) trained without each fold's pixels.

        Copy ``k`` trains like ``unit`` (same normalisation, penalty and
        length) on ``fold_labels[k]``; it maps the images ``wanted[k]``, at
        the unit's resolution. Its seed comes from a copy of ``rng``, so the
        model's own random stream, and the model, are those of :meth:`fit`.
        Returns ``(maps per fold, seconds)``.
        """
        t0 = time.perf_counter()
        spec = unit.spec
        X = [normalized(x, unit.normalizer) for x in X]
        if guides is not None:
            guides = None if self.tv_weight_ == 0 else guides(self.penalty_, spec.level)
        penalty, weight = (None, 0.0) if guides is None else (self.penalty_, self.tv_weight_)
        seeds = copy.deepcopy(rng).randint(np.iinfo(np.int32).max, size=len(fold_labels))
        out = []
        for k, (ys, seed) in enumerate(zip(fold_labels, seeds)):
            clf, _ = self._train(X, ys, penalty, weight, guides, f"{spec.name} held-out fold {k + 1}",
                                 np.random.RandomState(seed), spec.level)
            copy_unit = Unit(spec, unit.normalizer, clf)
            out.append(self._maps(lambda rows: copy_unit.predict_proba(rows, False),
                                  [X[i] for i in wanted[k]]))
        seconds = time.perf_counter() - t0
        self._log(1, f"{spec.name}: {len(fold_labels)} held-out copies, {seconds:.1f}s")
        return out, seconds

    def _fit_class_prior(self, labels, maps):
        """Set ``label_prior_`` and ``class_prior_`` (see :mod:`chm.class_prior`).

        ``maps`` are the output maps of the training images at level 0, from
        which ``class_prior="estimate"`` estimates the pixels' class shares.
        """
        self.label_prior_ = class_prior.label_prior(labels, self.n_classes_, self.class_weight)
        if isinstance(self.class_prior, str) and self.class_prior == "estimate":
            self.class_prior_ = class_prior.estimate_prior([_as_probabilities(m) for m in maps],
                                                           self.label_prior_)
        elif isinstance(self.class_prior, str):
            self.class_prior_ = self.label_prior_.copy()
        else:
            self.class_prior_ = class_prior.given_prior(self.class_prior, self.n_classes_)
        self._log(1, "class shares: labels " + ", ".join(f"{v:.3f}" for v in self.label_prior_)
                  + "; estimated " + ", ".join(f"{v:.3f}" for v in self.class_prior_))

    def _predict_walk(self, feats):
        """Level-0 probability maps of the fitted hierarchy on image features.

        Each unit predicts with its normalisation folded into its classifiers
        (:class:`chm.folded_unit.FoldedUnit`), on the features where they lie;
        where the folding does not apply, on normalised rows as in training.
        """
        coarse = isinstance(self.average_folds, str)  # "coarse", the one string allowed

        peaks = {}  # (image, level) -> largest |value| of that level's features

        def predict_unit(index, spec, X):
            unit = self.units_[index]
            average = spec.level >= _COARSE_FROM if coarse else bool(self.average_folds)
            folded = FoldedUnit(unit, average, X[0].features.shape[-1])
            missing = [i for i in range(len(X)) if (i, spec.level) not in peaks]
            found = thread_map(lambda i: peak_abs(X[i].features, "features"), missing, self.n_jobs)
            peaks.update({(i, spec.level): peak for i, peak in zip(missing, found)})
            if all(folded.applies(peaks[i, spec.level]) for i in range(len(X))):
                return self._maps(folded.predict_proba, X, raw=True)
            return self._maps(lambda rows: unit.predict_proba(rows, average),
                              [normalized(x, unit.normalizer) for x in X])

        return self._walk(self.plan_, feats, predict_unit, release_features=True)

    def _fit_unit(self, spec, X, ys, guides, rng):
        """Fit the unit ``spec`` on its inputs ``X``; return (unit, maps).

        ``guides`` gives the penalty's guides of the images
        (:meth:`_guide_source`); ``None`` for a unit without penalty. The
        first penalised unit resolves ``penalty="auto"`` / ``tv_weight="auto"``
        (:meth:`_choose_penalty`) on its inputs before it trains.

        ``maps`` are the unit's probability maps of the training images: for
        a unit that feeds context, with ``context_cv``, each image's map comes
        from a classifier trained on the other folds of images (see
        ``context_cv``), else from the unit itself.
        """
        t0 = time.perf_counter()
        norm = FeatureNormalizer().fit(_sample_rows(X, 200_000, rng))
        X = [normalized(x, norm) for x in X]
        if self.epochs_ is None:
            self._choose_epochs(spec, X, ys, guides, rng)
        if guides is not None and self.tv_weight_ is None:
            self._choose_penalty(spec, X, ys, guides, rng)
        if guides is not None:
            guides = (None if self.tv_weight_ == 0
                      else guides(self.penalty_, spec.level))
        idx = np.arange(len(X))
        jobs = [(idx, spec.name)]  # (training images, log name); the unit comes first
        folds = []                 # (held-out images, job whose classifier maps them)
        if spec.feeds_context and self.context_cv:
            for k, held in enumerate(_image_folds(len(ys), int(self.context_cv), rng)):
                rest = np.setdiff1d(idx, held)
                if any((ys[i] >= 0).any() for i in rest):
                    jobs.append((rest, f"{spec.name} context fold {k + 1}"))
                    folds.append((held, len(jobs) - 1))
                else:  # no labels outside the fold: nothing to learn, the unit's maps stand in
                    folds.append((held, 0))
        seeds = rng.randint(np.iinfo(np.int32).max, size=len(jobs))
        trained = self._parallel_train(X, ys, guides, jobs, seeds, spec.level)
        clf, hist = trained[0]
        weight = self.tv_weight_ if guides is not None else 0.0
        self._log(1, f"{spec.name}: {X[0].shape[-1]} features, tv_weight={weight:g}, "
                     f"E_S={hist[-1]['E_S']:.4f}, E_U={hist[-1]['E_U']:.4f}, "
                     f"{len(jobs)} trainings, {time.perf_counter() - t0:.1f}s"
                  if hist else f"{spec.name}: no epochs")
        # jobs 1.. are the fold copies
        unit = Unit(spec, norm, clf, [c for c, _ in trained[1:]] if folds else [])
        if not folds:
            return unit, self._maps(lambda rows: unit.predict_proba(rows, False), X)
        maps = [None] * len(X)
        for held, job in folds:
            source = Unit(spec, norm, trained[job][0])
            for i, m in zip(held, self._maps(lambda rows: source.predict_proba(rows, False),
                                             [X[i] for i in held])):
                maps[i] = m
        return unit, maps

    def _parallel_train(self, X, ys, guides, jobs, seeds, level):
        """Train one classifier per job ``(image indices, name)``, job ``k`` with seed ``seeds[k]``.

        Jobs run in ``n_jobs`` threads (:func:`chm._runtime.thread_map`);
        every job has its own random stream, so the result does not depend
        on ``n_jobs``. ``guides`` is ``None`` for a unit without penalty.
        """
        def one(job_seed):
            (images, name), seed = job_seed
            penalty, weight = (None, 0.0) if guides is None else (self.penalty_, self.tv_weight_)
            return self._train([X[i] for i in images], [ys[i] for i in images], penalty, weight,
                               None if guides is None else [guides[i] for i in images], name,
                               np.random.RandomState(seed), level)

        return thread_map(one, zip(jobs, seeds), self.n_jobs)

    def _choose_penalty(self, spec, X, ys, guides, rng):
        """Resolve ``penalty="auto"`` / ``tv_weight="auto"`` by held-out labeled pixels.

        Sets ``penalty_``, ``tv_weight_`` and ``penalty_search_`` (see
        :mod:`chm.penalty_search`).
        """
        t0 = time.perf_counter()
        grid = penalty_search.candidates(self.penalty, self.tv_weight)

        def train(X, labels, penalty, weight, image_guides, rng):
            return self._train(X, labels, penalty, weight, image_guides, "penalty search", rng,
                               spec.level)[0]

        # a copy of the random stream: the fit that follows draws exactly what it would with
        # the chosen setting given, so choosing "no penalty" gives the tv_weight=0 model
        searched = [None if w == 0 else get_penalty(p) for p, w in grid]
        trials = penalty_search.search(
            X, ys, list(zip(searched, (w for _, w in grid))), train,
            lambda pen: guides(pen, spec.level), int(self.penalty_cv), copy.deepcopy(rng),
            map_fn=lambda fn, jobs: thread_map(fn, jobs, self.n_jobs))
        choice = penalty_search.best(trials)
        penalty, weight = grid[choice]
        self.penalty_ = searched[choice] if weight > 0 else None
        self.tv_weight_ = float(weight)
        self.penalty_search_ = trials
        self._log(1, f"penalty search ({len(trials)} candidates x {self.penalty_cv} folds, "
                     f"{time.perf_counter() - t0:.1f}s): "
                     + ", ".join(f"{t.penalty}:{t.tv_weight:g} {100 * t.error:.2f}%" for t in trials)
                     + f" -> {self.penalty_!r} tv_weight={weight:g}")

    def _choose_epochs(self, spec, X, ys, guides, rng):
        """Resolve ``epochs="auto"`` by early stopping on held-out labeled pixels.

        Sets ``epochs_`` and ``epoch_search_`` (see :mod:`chm.training_length`).
        The unit trains with its penalty when that is already fixed (not
        ``"auto"``), else without.
        """
        t0 = time.perf_counter()
        fixed = guides is not None and self.tv_weight_ is not None and self.tv_weight_ > 0
        penalty, weight = (self.penalty_, self.tv_weight_) if fixed else (None, 0.0)
        image_guides = guides(penalty, spec.level) if fixed else None

        def train(train_labels, held_out, max_epochs, stop):
            return self._train(X, train_labels, penalty, weight, image_guides, "training length",
                               copy.deepcopy(rng), spec.level, validation=held_out, epochs=max_epochs,
                               stop=stop)[1]

        choice = training_length.choose_epochs(ys, train, int(self.penalty_cv), copy.deepcopy(rng))
        self.epochs_, self.epoch_search_ = choice.epochs, choice
        self._log(1, f"training length ({len(choice.val_loss)} epochs run, "
                     f"{time.perf_counter() - t0:.1f}s): smoothed held-out error lowest "
                     f"after {choice.epochs} epochs")

    def _size(self, name, level):
        """``n_groups`` or ``n_disc`` of the classifiers of pyramid ``level``."""
        value = getattr(self, name)
        return int(value if isinstance(value, Integral) else value[level])

    def _train(self, X, ys, penalty, weight, guides, name, rng, level=0, validation=None,
               epochs=None, stop=None):
        """One classifier on inputs ``X``, with ``weight * penalty`` unless the weight is 0;
        sized for pyramid ``level`` (:meth:`_size`).

        It trains for ``epochs_`` epochs unless ``epochs`` is given;
        ``validation`` and ``stop``: see :func:`chm.classifiers.train_stage`.
        """
        clf = make_stage(self.classifier, self.n_classes_, n_groups=self._size("n_groups", level),
                         n_disc=self._size("n_disc", level))
        hist = train_stage(clf, X, ys, penalty=penalty if weight > 0 else None,
                           tv_weight=weight, loss=self.loss,
                           epochs=int(self.epochs_ if epochs is None else epochs),
                           batch_images=int(self.batch_images), learning_rate=self.learning_rate,
                           solver=self.solver, momentum=self.momentum,
                           weight_decay=self.weight_decay, dropout=self.dropout, crop=self.crop,
                           class_weight=self.class_weight, guides=guides,
                           rng=rng, validation=validation, stop=stop,
                           verbose=self.verbose - 1, name=name)
        return clf, hist

    def _maps(self, predict_rows, X, raw=False):
        """Probability maps (H, W, C) of ``predict_rows`` on the inputs ``X`` of a unit.

        ``predict_rows(rows)`` gives the probabilities of normalised rows, or
        with ``raw`` ``predict_rows(features, context)`` those of the raw parts
        (:meth:`chm.unit_inputs.UnitInputs.raw_row_range`). The pixel rows of
        all images are cut into blocks of a fixed size, predicted in
        ``n_jobs`` threads: one large image uses every core, and the blocks
        (so the results) do not depend on ``n_jobs``.
        """
        sizes = [x.shape[0] * x.shape[1] for x in X]
        blocks = [(i, start) for i, n in enumerate(sizes) for start in range(0, n, _ROW_BLOCK)]

        def block(b):
            i, start = b
            stop = min(start + _ROW_BLOCK, sizes[i])
            if raw:
                return predict_rows(*X[i].raw_row_range(start, stop))
            return predict_rows(input_row_range(X[i], start, stop))

        parts = thread_map(block, blocks, self.n_jobs)
        out, k = [], 0
        for x in X:
            n = -(-x.shape[0] * x.shape[1] // _ROW_BLOCK)
            out.append(np.concatenate(parts[k:k + n]).reshape(x.shape[:2] + (-1,)))
            k += n
        return out

    # -------------------------------------------------------------------- API
    def fit(self, images, labels):
        """Fit the hierarchy on images with sparse labels.

        Parameters
        ----------
        images : list of arrays (H, W) or (H, W, 3), or one stacked array
        labels : list of int arrays (H, W), or one stacked array
            Class of each labeled pixel, -1 where unlabeled.

        Returns
        -------
        self
        """
        self._fit(images, labels)
        return self

    def fit_heldout(self, images, labels, folds, score, wanted=None):
        """Fit as :meth:`fit` does, and map the labeled pixels of each fold out of fold.

        For every fold ``k`` of the labeled pixels, a copy of the last
        classifier of the hierarchy (the top-down one) is trained, on the
        same inputs, without fold ``k``'s pixels, and maps the training
        images. Its inputs at a training image are the context that the
        levels below gave during training, which comes from classifiers
        that never saw that image's labels (``context_cv``), so no label of
        fold ``k`` reaches its maps except through the training length
        (``epochs="auto"``), the class shares (``class_prior``) and,
        second-hand, the context of the other images. This is what
        :class:`chm.mrf.MRFSegmenter` scores its smoothing weights on: one
        fit, plus one training of the top-down classifier per fold, in place
        of one fit per fold (``cv_fits``).

        Without ``context_cv`` the context of the training images is in
        sample, so each fold's maps then come from a whole model fitted
        without the fold's pixels instead.

        The fitted model is the one :meth:`fit` gives with the same
        ``random_state``; ``fit_time_`` leaves out the held-out copies.

        Parameters
        ----------
        images, labels
            As for :meth:`fit`.
        folds : list of int arrays (H, W)
            Fold index (0, 1, ...) of every labeled pixel, -1 elsewhere.
        score : callable
            ``score(k, indices, maps)``, called once per fold with the image
            indices ``wanted[k]`` and their out-of-fold probability maps
            (H, W, n_classes), like those of :meth:`predict_proba`.
        wanted : list of sequences of int or None
            Per fold, the images to map; None maps every image with a pixel
            of the fold.

        Returns
        -------
        self
        """
        from .heldout import HeldOutFolds, with_classes

        images, labels = val.check_images(images), val.check_labels(labels, images)
        heldout = HeldOutFolds.from_folds(labels, folds, wanted)
        if not self.context_cv:  # in-sample context: the whole model is refitted per fold
            self._check_params()
            classes = val.check_sparse_labels(labels, min_classes=2)
            for k, indices in enumerate(heldout.wanted):
                fold_model = clone(self).fit(images, heldout.fold_labels[k])
                score(k, list(indices), [with_classes(p, fold_model.classes_, classes) for p in
                                         fold_model.predict_proba([images[i] for i in indices])])
            return self.fit(images, labels)
        maps, _ = self._fit(images, labels, heldout)
        with compute_threads(self.n_jobs):
            for k, indices in enumerate(heldout.wanted):
                score(k, list(indices), [self._finished(self._cropped(m, images[i].shape))
                                         for m, i in zip(maps[k], indices)])
        return self

    def _fit(self, images, labels, heldout=None):
        """Body of :meth:`fit`; returns the held-out maps of ``heldout``
        (:meth:`_heldout_copies`) or None."""
        t0 = time.perf_counter()
        images, labels = self._fit_prologue(images, labels)
        if not isinstance(self.class_prior, str):
            class_prior.given_prior(self.class_prior, self.n_classes_)  # before any work
        auto = any(isinstance(v, str) and v == "auto" for v in (self.penalty, self.tv_weight))
        # resolved by the first penalised unit when "auto" (see _choose_penalty)
        self.penalty_ = None if auto else get_penalty(self.penalty)
        self.tv_weight_ = None if auto else float(self.tv_weight)
        self.penalty_search_ = []
        self.epochs_ = None if isinstance(self.epochs, str) else int(self.epochs)
        self.epoch_search_ = None
        self.bank_ = self._fitted_bank(images)
        self.context_filter_ = ContextFilter(radii=tuple(self.context_radii),
                                             n_channels=1 if self.n_classes_ == 2 else self.n_classes_,
                                             average=bool(self.context_average))
        plan = build_plan(int(self.n_levels), int(self.n_stages), self._penalised_keys(),
                          downscale=float(self.downscale), later_stages=self.later_stages)
        self.receptive_field_ = receptive_field(
            plan, filter_support(self.bank_, self.n_channels_),
            filter_support(self.context_filter_, self.context_filter_.n_channels), plan.downscale)
        rng = check_random_state(self.random_state)
        with compute_threads(self.n_jobs):
            feats = self._image_features(images, plan)
            self._log(1, f"features of {len(images)} images: {time.perf_counter() - t0:.1f}s")

            def level0(labels):
                out = []
                for lab, f in zip(labels, feats):
                    idx = np.where(lab >= 0, np.searchsorted(self.classes_, lab), -1)
                    out.append(pool_labels(pad_to_step(idx, plan.step, fill=-1), f[0].shape[:2],
                                           self.n_classes_))
                return out

            y0 = level0(labels)
            if heldout is not None:
                heldout = heldout.mapped(level0)
            self.n_features_in_ = feats[0][0].shape[-1]
            self.units_, maps, found = self._fit_walk(plan, feats, y0, self._guide_source(images, plan),
                                                      rng, heldout)
            self._fit_class_prior(y0, maps)
        if self.tv_weight_ is None:  # "auto" but nothing penalised
            self.penalty_, self.tv_weight_ = None, 0.0
        self.plan_ = plan
        self.fit_time_ = time.perf_counter() - t0 - (found[1] if found else 0.0)
        self._log(1, f"fit done in {self.fit_time_:.1f}s")
        return found

    def _check_structure(self):
        """Raise a ValueError if a parameter the fitted hierarchy depends on changed since fit."""
        for name in ("n_levels", "n_stages", "downscale"):
            fitted, now = getattr(self.plan_, name), getattr(self, name)
            if isinstance(now, bool) or not isinstance(now, numbers.Real) or now != fitted:
                raise ValueError(f"{name} was {fitted!r} when this model was fit and is {now!r} "
                                 f"now; call fit again to use the new value, or set it back")

    def _check_predict_input(self, images, tile_size):
        """Checks shared by the predictions: fitted, options, structure, images, tile size."""
        self._check_fitted()
        self._check_prediction_params()
        self._check_structure()
        if tile_size is not None:
            val.check_int(tile_size, "tile_size", 16)
        images = val.check_images(images)
        self._check_channels(images)
        return images

    def _proba(self, images):
        """Probability maps of whole validated images (inside :func:`compute_threads`)."""
        maps = self._input_maps(images)
        if self.average_flip:
            mirrored = self._input_maps([np.ascontiguousarray(im[:, ::-1]) for im in images])
            maps = [0.5 * (m + f[:, ::-1]) for m, f in zip(maps, mirrored)]
        return thread_map(self._finished, maps, self.n_jobs)

    def _input_maps(self, images):
        """The hierarchy's output maps at the input resolution (the padding cropped away).

        Images go through in chunks of ``_PREDICT_CHUNK``, so the features held at once
        are those of one chunk, however many images are predicted.
        """
        out = []
        for first in range(0, len(images), _PREDICT_CHUNK):
            chunk = images[first:first + _PREDICT_CHUNK]
            maps = self._predict_walk(self._image_features(chunk, self.plan_))
            out.extend(thread_map(lambda k: self._cropped(maps[k], chunk[k].shape), range(len(chunk)),
                                  self.n_jobs))
        return out

    def _cropped(self, m, shape):
        """A level-0 output map at the input resolution of an image of ``shape`` (padding cropped)."""
        return resize_map(m, padded_shape(shape, self.plan_.step))[:shape[0], :shape[1]]

    def _finished(self, m):
        """An output map as a probability map, moved to the class shares ``class_prior_``."""
        p = _as_probabilities(m).astype(np.float32)
        prior = getattr(self, "class_prior_", None)
        return p if prior is None else class_prior.adjust(p, self.label_prior_, prior)

    def _tiled(self, image, tile_size, per_tile):
        """``per_tile(map)`` of every tile of ``image``, stitched (see :mod:`chm.tiling`)."""
        def tiles(windows):
            return bar(windows, self.verbose >= 1 and len(windows) > 1, "tiles", unit="tile")

        def one(window):
            out = per_tile(self._proba([window])[0])
            release_freed_memory()  # the tile's intermediates, before the next tile's
            return out

        return predict_tiled(one, image, tile_size, self.receptive_field_, self.plan_.step,
                             progress=tiles)

    def predict_proba(self, images, tile_size=None):
        """Class probability maps.

        Parameters
        ----------
        images : list of ndarray or ndarray
            Images like those of ``fit``.
        tile_size : int or None, default None
            Predict each image in tiles of ``tile_size`` x ``tile_size``
            input pixels, each with a halo of ``receptive_field_`` pixels,
            and stitch them: the working memory is bounded by the tile, not
            the image, and the maps equal the untiled ones up to rounding
            (window origins are aligned with the pyramid of the whole
            image). ``None`` predicts whole images.

        Returns
        -------
        list of ndarray of float32, shape (H, W, n_classes)
            Channel ``k`` is class ``classes_[k]``; each pixel sums to 1.
        """
        images = self._check_predict_input(images, tile_size)
        with compute_threads(self.n_jobs):
            if tile_size is None:
                return self._proba(images)
            return [self._tiled(im, tile_size, lambda p: p) for im in images]

    def predict(self, images, tile_size=None):
        """Most probable class of every pixel.

        Parameters
        ----------
        images : list of ndarray or ndarray
            Images like those of ``fit``.
        tile_size : int or None, default None
            As in :meth:`predict_proba`. With tiles, no whole-image
            probability map is held, and the label maps have the smallest
            integer dtype that holds ``classes_``.

        Returns
        -------
        list of ndarray of int, shape (H, W)
            Label maps with values in ``classes_``.
        """
        if tile_size is None:
            return super().predict(images)
        images = self._check_predict_input(images, tile_size)
        labels = self.classes_.astype(label_dtype(int(self.classes_.max()), int(self.classes_.min())))
        with compute_threads(self.n_jobs):
            return [self._tiled(im, tile_size, lambda p: labels[p.argmax(axis=-1)]) for im in images]

def load(path):
    """Read a model written by :meth:`CHM.save` (or any chm estimator's save).

    Same as :func:`chm.load` (:func:`chm.persistence.load`), kept importable here.
    """
    from .persistence import load as load_model

    return load_model(path)
