"""The public entry points under property test and fuzzing, with what each must return.

An :class:`Entry` pairs a strategy drawing one *case* (the arguments of a
call) with the call itself and a check of its result. The contract every
entry honours, whatever the case:

- it returns, and its output holds only finite numbers and passes the
  entry's own check (shapes, dtypes, probabilities summing to 1...); or
- it raises a ``ValueError`` or ``TypeError`` whose message says something
  (or another exception the entry documents as a refusal, such as the
  ``FileNotFoundError`` of a dataset loader: :attr:`Entry.rejects`).

Anything else (another exception, a NaN or inf in the output, a wrong
shape, a hang) breaks the contract. :func:`run_case` applies it and lets
other exceptions through, for pytest to show; :func:`classify` turns every
outcome into a kind, for the fuzz campaign (``benchmarks/fuzz.py``).

Entries needing an optional dependency that is missing (PyTorch for the
ConvNet) are left out of :data:`ENTRIES` and listed in :data:`SKIPPED`.
"""
import copy
import importlib.util
import os
import pickle
import tempfile
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import numpy as np
from hypothesis import strategies as st

import features
from chm import _validation as val
from chm import cli, datasets, files, hierarchy, metrics, mrf, penalties, scale_out, tiling
from chm.baselines import ForestSegmenter
from chm.datasets import sample_sparse_labels
from chm.estimator import CHM
from chm.mrf_segmenter import MRFSegmenter
from chm.synthetic import make_shapes

from . import strategies as S

__all__ = ["ENTRIES", "Entry", "InvalidOutput", "NonFiniteOutput", "SKIPPED", "classify",
           "fitted", "run_case", "tiny", "warm_up"]

#: Whether PyTorch (the ``convnet`` extra) is installed.
HAVE_TORCH = importlib.util.find_spec("torch") is not None


class NonFiniteOutput(AssertionError):
    """An entry returned NaN or inf."""


class InvalidOutput(AssertionError):
    """An entry returned something its contract rules out, or raised without a message."""


@dataclass(frozen=True)
class Entry:
    """One entry point: ``call(case)`` on cases drawn from ``strategy``.

    ``check(case, output)`` raises :class:`InvalidOutput` when the output
    breaks the entry's promise; ``cost`` is the relative price of a case
    (1: a function call, 10: a model is trained); ``rejects`` are the
    exceptions that count as a clean refusal (with a message).
    """

    name: str
    strategy: Any
    call: Callable
    check: Callable = lambda case, out: None
    cost: int = 1
    rejects: tuple = (ValueError, TypeError)


# ---------------------------------------------------------------------------
# outcomes
# ---------------------------------------------------------------------------
def assert_finite(out, where="output"):
    """Raise :class:`NonFiniteOutput` if ``out`` holds a NaN or inf anywhere."""
    if isinstance(out, np.ndarray):
        if out.dtype.kind in "fc" and not np.isfinite(out).all():
            raise NonFiniteOutput(f"{where} holds {np.count_nonzero(~np.isfinite(out))} "
                                  f"non-finite values (shape {out.shape})")
    elif isinstance(out, (float, np.floating, complex)):
        if not np.isfinite(out):
            raise NonFiniteOutput(f"{where} is {out!r}")
    elif isinstance(out, (list, tuple)):
        for k, item in enumerate(out):
            assert_finite(item, f"{where}[{k}]")
    elif isinstance(out, dict):
        for k, item in out.items():
            assert_finite(item, f"{where}[{k!r}]")


def expect(condition, message):
    """Raise :class:`InvalidOutput` with ``message`` unless ``condition``."""
    if not condition:
        raise InvalidOutput(message)


def run_case(entry, case):
    """Call ``entry`` on ``case`` and apply the contract.

    Returns
    -------
    ("ok", output) or ("rejected", exception)

    Raises
    ------
    NonFiniteOutput, InvalidOutput
        When the output breaks the contract, or a refusal (ValueError,
        TypeError, or another of ``entry.rejects``) has no message.
    Exception
        Any other exception of the call, unchanged.
    """
    try:
        out = entry.call(case)
    except entry.rejects as exc:
        if not str(exc).strip():
            raise InvalidOutput(f"{type(exc).__name__} raised without a message") from exc
        return "rejected", exc
    assert_finite(out)
    entry.check(case, out)
    return "ok", out


def classify(entry, case):
    """``(kind, message)`` of one case: kind is ok, rejected, nonfinite, invalid or error."""
    try:
        kind, out = run_case(entry, case)
    except NonFiniteOutput as exc:
        return "nonfinite", str(exc)
    except InvalidOutput as exc:
        return "invalid", str(exc)
    except Exception as exc:  # noqa: BLE001 - every other failure is what the campaign counts
        return "error", f"{type(exc).__name__}: {exc}"
    return kind, (f"{type(out).__name__}: {out}" if kind == "rejected" else "")


# ---------------------------------------------------------------------------
# tiny models
# ---------------------------------------------------------------------------
def tiny(name):
    """A fresh, fast instance of segmenter ``name``."""
    if name == "CHM":
        return CHM(n_levels=2, epochs=1, context_cv=2, random_state=0)
    if name == "ForestSegmenter":
        return ForestSegmenter(n_estimators=3, random_state=0)
    if name == "MRFSegmenter":
        return MRFSegmenter(ForestSegmenter(n_estimators=3, random_state=0), weights=(0.0, 1.0),
                            cv=2, random_state=0)
    if name == "ConvNetSegmenter":
        from chm import ConvNetSegmenter

        return ConvNetSegmenter(width=2, hidden=4, epochs=1, downscale=2.0, device="cpu",
                                random_state=0)
    if name == "CHM_small_field":  # a receptive field of 26 px: small images are really tiled
        bank = features.FilterBank([features.GaussianFilter((1,)),
                                    features.GradientMagnitude((1,))])
        return CHM(n_levels=2, downscale=1.5, bank=bank, context_radii=(1, 2), epochs=1,
                   context_cv=2, random_state=0)
    raise KeyError(name)


@lru_cache(maxsize=None)
def training_data(channels=1):
    """Two 16x20 images of make_shapes with 20 labeled pixels each."""
    images, masks = make_shapes(n_images=2, shape=(16, 20), color=channels == 3, random_state=0)
    return images, sample_sparse_labels(masks, 20, random_state=0)


@lru_cache(maxsize=None)
def fitted(name, channels=1):
    """``tiny(name)`` fitted on :func:`training_data` (cached: fit once per process)."""
    return tiny(name).fit(*training_data(channels))


SEGMENTERS = ("CHM", "ForestSegmenter", "MRFSegmenter")
#: Every fitted tiny model the entries use (the ConvNet when torch is installed).
MODELS = SEGMENTERS + ("CHM_small_field",) + (("ConvNetSegmenter",) if HAVE_TORCH else ())


def warm_up():
    """Fit every tiny model and write the saved models, so that no case pays for them."""
    for name in MODELS:
        for channels in (1, 3):
            fitted(name, channels)
    saved_model_bytes()
    for name in ("ForestSegmenter", "CHM"):
        model_file_bytes(name, labels_from=1)


# ---------------------------------------------------------------------------
# checks shared by the entries
# ---------------------------------------------------------------------------
def check_prob_maps(maps, images, n_classes):
    """Maps of ``predict_proba``: one float32 (H, W, n_classes) per image, summing to 1."""
    images = list(images)
    expect(isinstance(maps, list), f"predict_proba returned {type(maps).__name__}, not a list")
    expect(len(maps) == len(images), f"{len(maps)} maps for {len(images)} images")
    for k, (m, im) in enumerate(zip(maps, images)):
        expected = tuple(np.shape(im)[:2]) + (n_classes,)
        expect(isinstance(m, np.ndarray) and m.dtype == np.float32,
               f"map {k} is {getattr(m, 'dtype', type(m))}, not float32")
        expect(m.shape == expected, f"map {k} has shape {m.shape}, expected {expected}")
        expect(m.min() >= 0 and m.max() <= 1, f"map {k} leaves [0, 1]: {m.min()}..{m.max()}")
        expect(np.allclose(m.sum(axis=-1), 1, rtol=0, atol=1e-6), f"map {k} does not sum to 1")


def check_label_output(preds, images, classes):
    """Label maps of ``predict``: one (H, W) map per image with values in ``classes``."""
    images = list(images)
    expect(len(preds) == len(images), f"{len(preds)} label maps for {len(images)} images")
    for k, (p, im) in enumerate(zip(preds, images)):
        expect(p.shape == tuple(np.shape(im)[:2]), f"label map {k} has shape {p.shape}")
        expect(np.isin(p, classes).all(), f"label map {k} holds values outside {classes}")


def _labeled_classes(labels):
    return np.unique(np.concatenate([np.asarray(lab)[np.asarray(lab) >= 0].ravel()
                                     for lab in labels]))


# ---------------------------------------------------------------------------
# segmenters
# ---------------------------------------------------------------------------
def _fit_call(name):
    def call(case):
        images, labels = case
        model = tiny(name).fit(images, labels)
        out = {"classes": np.asarray(model.classes_), "maps": model.predict_proba(images)}
        if name == "MRFSegmenter":
            out["labels"] = model.predict(images)
        return out
    return call


def _fit_check(case, out):
    images, labels = case
    expect(np.array_equal(out["classes"], _labeled_classes(labels)),
           f"classes_ {out['classes']} are not the labeled values {_labeled_classes(labels)}")
    check_prob_maps(out["maps"], images, len(out["classes"]))
    if "labels" in out:
        check_label_output(out["labels"], images, out["classes"])


@st.composite
def _predict_case(draw):
    """``(channels of the fitted model, images)``; images mostly with the model's channels."""
    channels = draw(st.sampled_from([1, 3]))
    other = draw(st.integers(0, 4)) == 4  # (the simplest draw, 0, keeps the model's channels)
    return channels, draw(S.image_inputs(channels=4 - channels if other else channels))


def _predict_call(name):
    def call(case):
        channels, images = case
        model = fitted(name, channels)
        out = {"maps": model.predict_proba(images)}
        if name == "MRFSegmenter":
            out["labels"] = model.predict(images)
        return out
    return call


def _predict_check(name):
    def check(case, out):
        channels, images = case
        classes = fitted(name, channels).classes_
        check_prob_maps(out["maps"], images, len(classes))
        if "labels" in out:
            check_label_output(out["labels"], images, classes)
    return check


#: Words some parameter of some segmenter takes; drawn as parameter values.
_WORDS = ("ldnn", "logistic", "tv", "quadratic", "all", "full_resolution", "top_down", "balanced",
          "adam", "sgd", "cross_entropy", "squared", "auto", "cpu", "")


def param_values():
    """A value for any parameter: numbers, words, tuples, None, junk."""
    return st.one_of(S.numbers(-3, 8), st.none(), st.sampled_from(_WORDS),
                     st.tuples(st.integers(-1, 4)), st.lists(S.numbers(-1, 4), max_size=3),
                     S.anything(small=True))


def _near(default):
    """Values close to a parameter's default, many of them valid."""
    if isinstance(default, bool):
        return st.booleans()
    if isinstance(default, int):
        return st.integers(max(default - 2, -1), default + 2)
    if isinstance(default, float):
        return st.sampled_from([0.0, default / 2, default, 2 * default, 1.0])
    if isinstance(default, tuple):
        return st.lists(st.integers(1, 4), min_size=1, max_size=len(default) + 1).map(tuple)
    return st.sampled_from(_WORDS)


def _params_case(name):
    # memory is left out: a string value would create a cache folder
    defaults = tiny(name).get_params(deep=False)
    names = sorted(set(defaults) - {"memory"})
    return st.sampled_from(names).flatmap(
        lambda key: st.tuples(st.just(key), st.one_of(_near(defaults[key]), _near(defaults[key]),
                                                      param_values())))


def _params_call(name):
    def call(case):
        param, value = case
        model = tiny(name).set_params(**{param: value})
        images, labels = training_data()
        model.fit(images, labels)
        return {"classes": np.asarray(model.classes_), "maps": model.predict_proba(images)}
    return call


def _params_check(case, out):
    images, labels = training_data()
    _fit_check((images, labels), out)


# ---------------------------------------------------------------------------
# MRF
# ---------------------------------------------------------------------------
def _weights():
    return st.one_of(st.floats(0, 50), S.numbers(-2, 100), st.none(), st.text(max_size=2),
                     st.just(1e300))


def _flags():
    return st.one_of(st.booleans(), st.integers(0, 2), st.none(), st.text(max_size=2))


def _eps():
    return st.one_of(st.floats(1e-12, 0.5), S.numbers(-1, 2), st.none())


@st.composite
def _smooth_case(draw):
    """``(prob, image, weight, contrast, eps)``: valid, or with one argument wrong."""
    prob = draw(S.prob_maps(valid=True))
    image = draw(st.one_of(st.none(), S.image_arrays(size=prob.shape[:2], valid_shape=True,
                                                     values=S.FLOAT_RANGES["unit"])))
    args = [prob, image, draw(st.floats(0, 20) | st.integers(0, 10)), draw(st.booleans()),
            draw(st.floats(1e-9, 0.1))]
    bad = draw(st.sampled_from([None, None, None, 0, 1, 2, 3, 4]))
    if bad is not None:
        args[bad] = draw([S.prob_maps(), S.image_arrays(max_side=12), _weights(), _flags(),
                          _eps()][bad])
    return tuple(args)


def _smooth_call(case):
    prob, image, weight, contrast, eps = case
    return mrf.mrf_smooth(prob, image, weight, contrast, eps)


def _smooth_check(case, out):
    prob = np.asarray(case[0])
    expect(out.shape == prob.shape[:2], f"labels of shape {out.shape} for prob {prob.shape}")
    expect(out.dtype.kind in "iu", f"labels of dtype {out.dtype}")
    expect(out.size == 0 or (out.min() >= 0 and out.max() < prob.shape[2]),
           "labels outside [0, C)")


@st.composite
def _energy_case(draw):
    """``(labels, prob, weight, contrast, eps)``: valid, or with one argument wrong."""
    prob, _, weight, contrast, eps = draw(_smooth_case())
    shape = np.shape(prob)[:2] if np.ndim(prob) >= 2 else (2, 2)
    n_classes = np.shape(prob)[-1] if np.ndim(prob) == 3 else 2
    labels = draw(S.label_maps(shape, list(range(max(n_classes, 1)))))
    labels = np.where(labels < 0, 0, labels)
    if draw(st.integers(0, 5)) == 5:
        labels = draw(st.one_of(S.label_maps(), S.image_arrays(max_side=6)))
    return labels, prob, weight, contrast, eps


def _energy_call(case):
    labels, prob, weight, contrast, eps = case
    image = None
    if contrast is True:
        image = prob[..., 0] if prob.ndim == 3 else prob
    return mrf.potts_energy(labels, prob, weight, image=image, contrast=contrast, eps=eps)


def _energy_check(case, out):
    expect(isinstance(out, float) and out >= 0, f"energy {out!r} is not a float >= 0")


def _contrast_check(case, out):
    right, down = out
    h, w = np.shape(case)[:2]
    expect(right.shape == (h, max(w - 1, 0)) and down.shape == (max(h - 1, 0), w),
           f"edge weights of shapes {right.shape}, {down.shape} for an image {np.shape(case)}")
    expect(all(a.size == 0 or (a.min() >= 0 and a.max() <= 1) for a in out),
           "edge weights outside [0, 1]")


# ---------------------------------------------------------------------------
# features
# ---------------------------------------------------------------------------
#: Filters and feature functions: name -> (factory or function, output planes
#: per call or None when the output is not an (H, W, F) stack).
FILTERS = {
    "IntensityStencil": lambda: features.IntensityStencil(radius=3),
    "GaussianFilter": lambda: features.GaussianFilter((1, 2)),
    "DoGFilter": lambda: features.DoGFilter((1, 2)),
    "LoGFilter": lambda: features.LoGFilter((1, 2)),
    "GradientMagnitude": lambda: features.GradientMagnitude((1,)),
    "HessianEigenvalues": lambda: features.HessianEigenvalues((1,)),
    "StructureTensorEigenvalues": lambda: features.StructureTensorEigenvalues(1.0, (2,)),
    "GaborFilter": lambda: features.GaborFilter((0.25,), n_orientations=2),
    "HOGCells": lambda: features.HOGCells(n_bins=4, cell_radii=(2,)),
    "HaarBoxes": lambda: features.HaarBoxes((2,)),
    "LabColor": lambda: features.LabColor((1,)),
    "ContextFilter": lambda: features.ContextFilter(radii=(1, 2)),
    "ContextFilter3": lambda: features.ContextFilter(radii=(1, 2), n_channels=3, average=True),
    "FilterBank": lambda: features.FilterBank([features.GaussianFilter((1,)),
                                               features.HaarBoxes((2,))]),
}

#: Plain feature functions taking one image and returning an (H, W, F) stack.
FEATURE_FUNCTIONS = {
    "gaussian_stack": features.gaussian_stack,
    "dog_stack": features.dog_stack,
    "log_stack": features.log_stack,
    "gradient_magnitude": features.gradient_magnitude,
    "hessian_eigenvalues": features.hessian_eigenvalues,
    "structure_tensor_eigenvalues": features.structure_tensor_eigenvalues,
    "gabor_magnitudes": features.gabor_magnitudes,
    "hog_cells": features.hog_cells,
    "haar_boxes": features.haar_boxes,
    "lab_stack": features.lab_stack,
    "sample_stencil": lambda image: features.sample_stencil(image,
                                                            features.stencil_offsets([1, 3])),
}


def _check_stack(image, out, n_features=None):
    h, w = np.shape(image)[:2]
    expect(isinstance(out, np.ndarray) and out.dtype == np.float32,
           f"features are {getattr(out, 'dtype', type(out))}, not float32")
    expect(out.ndim == 3 and out.shape[:2] == (h, w),
           f"features of shape {out.shape} for an image {np.shape(image)}")
    if n_features is not None:
        expect(out.shape[2] == n_features, f"{out.shape[2]} features, expected {n_features}")


def _extract_check(image, out):
    color = np.ndim(image) == 3 and np.shape(image)[2] == 3
    _check_stack(image, out, features.default_bank(color=color).n_features)


def _filter_case():
    return st.tuples(st.sampled_from(sorted(FILTERS) + sorted(FEATURE_FUNCTIONS)),
                     st.one_of(S.image_arrays(max_side=16), S.prob_maps(max_classes=3)))


def _filter_call(case):
    name, image = case
    if name in FILTERS:
        return FILTERS[name]()(image)
    return FEATURE_FUNCTIONS[name](image)


def _filter_check(case, out):
    name, image = case
    _check_stack(image, out, FILTERS[name]().n_features if name in FILTERS else None)


#: Filter classes and the parameters the filter_params entry draws values for.
FILTER_PARAMS = {
    "IntensityStencil": ("radius", "radii", "n_directions", "sigma", "mode"),
    "GaussianFilter": ("sigmas",),
    "DoGFilter": ("sigmas",),
    "LoGFilter": ("sigmas",),
    "GradientMagnitude": ("sigmas",),
    "HessianEigenvalues": ("sigmas",),
    "StructureTensorEigenvalues": ("sigma", "rhos"),
    "GaborFilter": ("frequencies", "n_orientations", "bandwidth"),
    "HOGCells": ("n_bins", "cell_radii", "sigma", "eps"),
    "HaarBoxes": ("radii",),
    "LabColor": ("sigmas",),
    "ContextFilter": ("radii", "n_directions", "n_channels", "mode", "average", "prefix"),
}


def _filter_param_values():
    scales = S.numbers(-2, 40)
    return st.one_of(scales, st.lists(scales, max_size=3), st.tuples(scales, scales),
                     st.sampled_from(["reflect", "edge", "wrap", ""]), st.none(), st.booleans())


@st.composite
def _filter_params_case(draw):
    name = draw(st.sampled_from(sorted(FILTER_PARAMS)))
    keys = draw(st.lists(st.sampled_from(FILTER_PARAMS[name]), min_size=1, max_size=2, unique=True))
    return name, {k: draw(_filter_param_values()) for k in keys}


_PARAM_IMAGE = np.linspace(0, 1, 12 * 14 * 3, dtype=np.float32).reshape(12, 14, 3)


def _filter_params_call(case):
    name, params = case
    f = getattr(features, name)(**params)
    image = _PARAM_IMAGE
    if name == "ContextFilter":
        image = np.resize(_PARAM_IMAGE, (12, 14, max(1, int(f.n_channels))))
    elif name != "LabColor":
        image = _PARAM_IMAGE[..., 0]
    return f(image), f.n_features


def _filter_params_check(case, out):
    stack, n_features = out
    _check_stack(_PARAM_IMAGE, stack, n_features)


@st.composite
def _normalizer_case(draw):
    """``(training arrays, new array)`` of F features, sometimes with other shapes."""
    d = draw(st.integers(1, 5))
    rows = st.integers(1, 30).map(lambda n: (n, d))
    stacks = st.tuples(st.integers(1, 4), st.integers(1, 4)).map(lambda hw: hw + (d,))
    odd = st.one_of(st.tuples(st.integers(0, 30), st.integers(0, 5)), st.just(()),
                    st.tuples(st.integers(0, 5)))
    dtypes = st.sampled_from(["float32", "float32", "float64", "int64", "bool"])

    def arrays(shapes):
        return st.tuples(shapes, dtypes).flatmap(lambda sd: S._array(sd[1], sd[0]))

    good = arrays(rows | stacks)
    train = draw(st.one_of(good, st.lists(good, min_size=1, max_size=3), arrays(odd),
                           st.just([])))
    new = draw(st.one_of(good, good, arrays(odd)))
    return train, new


def _normalizer_call(case):
    train, new = case
    norm = features.FeatureNormalizer().fit(train)
    return norm.transform(new)


def _normalizer_check(case, out):
    expect(out.dtype == np.float32 and out.shape == np.shape(case[1]),
           f"normalised features {out.dtype} {out.shape} for input {np.shape(case[1])}")


# ---------------------------------------------------------------------------
# penalties
# ---------------------------------------------------------------------------
PENALTY_FUNCTIONS = {
    "tv_value": penalties.tv_value,
    "tv_subgradient": penalties.tv_subgradient,
    "tv_value_and_subgradient": penalties.tv_value_and_subgradient,
    "tv_value_reference": penalties.tv_value_reference,
    "tv_subgradient_reference": penalties.tv_subgradient_reference,
    "TotalVariation.value_and_gradient": penalties.TotalVariation().value_and_gradient,
    "QuadraticVariation.value_and_gradient": penalties.QuadraticVariation().value_and_gradient,
}


def _guided(penalty):
    """``value_and_gradient`` of a guided penalty with the guide of a fixed image of the map's size."""
    def call(prob):
        shape = np.shape(prob)
        side = shape[:2] if len(shape) >= 2 else (1, 1)
        image = (np.indices(side).sum(axis=0) % 5 / 4).astype(np.float32)
        return penalty.value_and_gradient(prob, penalty.guide(image))
    return call


PENALTY_FUNCTIONS.update({
    f"{type(pen).__name__}.value_and_gradient": _guided(pen)
    for pen in (penalties.EdgeAwareTV(), penalties.CurvilinearTV(), penalties.DenseBilateral())})


def _penalty_case():
    maps = st.one_of(S.prob_maps(ndim=2), S.prob_maps(), S.image_arrays(max_side=10))
    return st.tuples(st.sampled_from(sorted(PENALTY_FUNCTIONS)), maps)


def _penalty_call(case):
    name, prob = case
    return PENALTY_FUNCTIONS[name](prob)


def _penalty_check(case, out):
    name, prob = case
    if name in ("tv_value", "tv_value_reference"):
        value, grad = out, None
    elif name in ("tv_subgradient", "tv_subgradient_reference"):
        value, grad = None, out
    else:
        value, grad = out
    if value is not None:
        expect(isinstance(value, float) and value >= 0, f"penalty {value!r} is not a float >= 0")
    if grad is not None:
        expect(grad.shape == np.shape(prob) and grad.dtype == np.float32,
               f"gradient {grad.dtype} {grad.shape} for a map {np.shape(prob)}")


def _get_penalty_check(case, out):
    expect(out is None or isinstance(out, penalties.Penalty), f"get_penalty returned {out!r}")


# ---------------------------------------------------------------------------
# hierarchy
# ---------------------------------------------------------------------------
def _levels():
    return st.one_of(st.integers(-2, 6), st.floats(0, 3), st.none(), st.text(max_size=1))


def _shapes():
    side = st.one_of(st.integers(-2, 30), st.floats(0, 30))
    return st.one_of(st.tuples(side, side), st.tuples(side), st.tuples(side, side, side),
                     st.none(), st.integers(1, 5))


def _maps():
    """Valid inputs of the pyramid functions: finite images and probability maps."""
    return st.one_of(S.image_arrays(max_side=12, valid_shape=True, dtypes=("float32", "float64"),
                                    values=S.float_values(("unit", "unit", "wide", "finite"))),
                     S.prob_maps(valid=True))


@st.composite
def _pool_case(draw):
    n_classes = draw(st.integers(1, 5))
    labels = draw(S.label_maps(classes=list(range(n_classes))))
    h, w = labels.shape
    out_shape = (draw(st.integers(1, h)), draw(st.integers(1, w)))
    return labels, out_shape, n_classes


def _pool_bad():
    return [st.one_of(S.label_maps(), S.image_arrays(max_side=6)), _shapes(),
            st.one_of(st.integers(-1, 6), st.none(), st.floats(0, 3))]


@st.composite
def _hierarchy_case(draw):
    """``(function name, arguments)``: valid, or with one argument wrong."""
    fn = draw(st.sampled_from(["downsample", "downsample_to_level", "pyramid", "level_shape",
                               "pool_labels", "resize_map"]))
    anything = st.one_of(S.image_arrays(max_side=12), S.prob_maps())
    sizes = st.tuples(st.integers(1, 30), st.integers(1, 30))
    if fn == "downsample":
        args = draw(S.one_bad([_maps()], [anything]))
    elif fn in ("downsample_to_level", "pyramid"):
        args = draw(S.one_bad([_maps(), st.integers(1 if fn == "pyramid" else 0, 5)],
                              [anything, _levels()]))
    elif fn == "level_shape":
        args = draw(S.one_bad([sizes, st.integers(0, 6)], [_shapes(), _levels()]))
    elif fn == "pool_labels":
        args = list(draw(_pool_case()))
        if draw(st.booleans()):
            k = draw(st.integers(0, 2))
            args[k] = draw(_pool_bad()[k])
        args = tuple(args)
    else:
        args = draw(S.one_bad([_maps(), sizes], [anything, _shapes()]))
    return fn, args


def _hierarchy_call(case):
    fn, args = case
    return getattr(hierarchy, fn)(*args)


def _hierarchy_check(case, out):
    fn, args = case
    if fn == "pyramid":
        expect(len(out) == args[1], f"pyramid of {len(out)} levels for n_levels={args[1]!r}")
    if fn == "pool_labels":
        n_classes = args[2]
        expect(out.shape == tuple(args[1]), f"pooled labels {out.shape} for {args[1]!r}")
        expect(out.size == 0 or (out.min() >= -1 and out.max() < n_classes),
               f"pooled labels outside [-1, {n_classes})")
    if fn == "resize_map":
        expect(out.shape[:2] == tuple(args[1]), f"resized map {out.shape} for {args[1]!r}")
    if fn in ("downsample", "pyramid", "resize_map") or (fn == "downsample_to_level" and args[1]):
        for a in (out if fn == "pyramid" else [out]):
            expect(a.dtype == np.float32, f"{fn} returned {a.dtype}")


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------
def _label_inputs():
    return st.one_of(st.lists(S.label_maps(), min_size=1, max_size=3),
                     st.lists(S.image_arrays(max_side=8), max_size=2), S.anything())


@st.composite
def _validation_case(draw):
    fn = draw(st.sampled_from(["check_bool", "check_int", "check_images", "check_label_maps",
                               "check_labels", "check_sparse_labels", "check_labels_in_classes",
                               "image_channels"]))
    if fn == "check_bool":
        return fn, (draw(S.anything()), "flag")
    if fn == "check_int":
        return fn, (draw(st.one_of(S.numbers(), S.anything())), "count", draw(st.integers(-3, 3)))
    if fn in ("check_images", "image_channels"):
        return fn, (draw(S.image_inputs()),)
    if fn == "check_label_maps":
        return fn, (draw(_label_inputs()),)
    if fn == "check_labels":
        images, labels = draw(S.training_sets(max_side=8, corrupt=0.5))
        return fn, (labels, images)
    if fn == "check_sparse_labels":
        return fn, (draw(st.lists(S.label_maps(), min_size=1, max_size=3)),
                    draw(st.integers(0, 4)))
    classes = draw(st.one_of(st.lists(st.integers(0, 6), max_size=4), S.anything()))
    return fn, (draw(st.lists(S.label_maps(), min_size=1, max_size=3)), classes)


def _validation_call(case):
    fn, args = case
    if fn == "image_channels":
        return val.image_channels(val.check_images(*args))
    if fn == "check_labels":
        labels, images = args
        return val.check_labels(labels, val.check_images(images))
    return getattr(val, fn)(*args)


def _validation_check(case, out):
    fn, args = case
    if fn == "check_bool":
        expect(isinstance(out, bool), f"check_bool returned {out!r}")
    elif fn == "check_int":
        expect(type(out) is int and out >= args[2], f"check_int returned {out!r}")
    elif fn == "check_images":
        expect(all(a.dtype == np.float32 and a.ndim in (2, 3) for a in out),
               "check_images returned something other than float32 (H, W[, 3]) images")
    elif fn in ("check_label_maps", "check_labels"):
        expect(all(a.dtype == np.int64 and a.ndim == 2 and (a.size == 0 or a.min() >= -1)
                   for a in out), "label maps other than int64 (H, W) >= -1")
    elif fn == "check_sparse_labels":
        expect(len(out) >= args[1], f"{len(out)} classes for min_classes={args[1]}")
    elif fn == "image_channels":
        expect(out in (1, 3), f"image_channels returned {out!r}")


# ---------------------------------------------------------------------------
# metrics, datasets
# ---------------------------------------------------------------------------
@st.composite
def _pixel_error_case(draw):
    truths = draw(st.lists(S.label_maps(), min_size=0, max_size=3))
    kind = draw(st.sampled_from(["same", "same", "shape", "count", "junk"]))
    if kind == "junk":
        return draw(S.anything()), truths
    preds = [draw(S.label_maps(t.shape)) for t in truths]
    if kind == "shape" and preds:
        preds[0] = preds[0][:, :-1]
    if kind == "count":
        preds = preds[:-1]
    return preds, truths


def _pixel_error_call(case):
    return metrics.pixel_error(*case)


def _pixel_error_check(case, out):
    expect(isinstance(out, float) and 0 <= out <= 1, f"pixel error {out!r} outside [0, 1]")


@st.composite
def _sparse_case(draw):
    masks = st.lists(S.label_maps(), min_size=1, max_size=3)
    return draw(S.one_bad(
        [masks, st.integers(0, 50), st.one_of(st.none(), st.integers(0, 2 ** 32 - 1))],
        [_label_inputs(), S.numbers(-2, 50), st.one_of(st.integers(-5, -1), st.text(max_size=2),
                                                       st.floats())]))


def _sparse_call(case):
    return sample_sparse_labels(*case)


def _sparse_check(case, out):
    masks, n, _ = case
    masks = list(masks)
    expect(len(out) == len(masks), f"{len(out)} maps for {len(masks)} masks")
    for k, (sparse, mask) in enumerate(zip(out, masks)):
        mask = np.asarray(mask)
        expect(sparse.dtype == np.int64 and sparse.shape == mask.shape,
               f"sparse map {k} is {sparse.dtype} {sparse.shape} for a mask {mask.shape}")
        kept = sparse >= 0
        expect(np.count_nonzero(kept) <= n, f"sparse map {k} keeps more than {n} pixels")
        expect(np.array_equal(sparse[kept], mask[kept]), f"sparse map {k} changes labels")


# ---------------------------------------------------------------------------
# persistence
# ---------------------------------------------------------------------------
#: Calls made by unpickling :class:`_Exploit`; a safe loader leaves it empty.
PICKLE_CALLS = []


def _record_pickle_call(tag):
    PICKLE_CALLS.append(tag)
    return tag


class _Exploit:
    """A pickle that calls :func:`_record_pickle_call` when it is loaded."""

    def __reduce__(self):
        return _record_pickle_call, ("code from the file ran",)


@lru_cache(maxsize=None)
def model_file_bytes(name, channels=1, labels_from=0):
    """The bytes of :func:`fitted` ``(name, channels)`` written by ``chm.save``; with
    ``labels_from=1``, of the same model fitted on classes 1, 2 (as the CLI's label
    files paint them) instead of 0, 1."""
    import chm

    model = fitted(name, channels)
    if labels_from:
        images, labels = training_data(channels)
        model = tiny(name).fit(images, [np.where(lab >= 0, lab + labels_from, -1)
                                        for lab in labels])
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.chm")
        chm.save(model, path)
        with open(path, "rb") as fh:
            return fh.read()


def saved_model_bytes():
    """The bytes of :func:`fitted` ``("ForestSegmenter")`` written by ``chm.save``."""
    return model_file_bytes("ForestSegmenter")


def _load_case():
    """A recipe for a file's bytes (built by :func:`file_bytes`)."""
    return st.one_of(
        st.tuples(st.just("bytes"), st.binary(max_size=200)),
        st.tuples(st.just("truncated"), st.floats(0, 1, exclude_max=True)),
        st.tuples(st.just("overwritten"), st.floats(0, 1, exclude_max=True),
                  st.binary(min_size=1, max_size=8)),
        st.tuples(st.just("pickle"), st.sampled_from(["exploit", "dict", "array"])),
    )


def file_bytes(case):
    """The bytes a :func:`_load_case` recipe describes."""
    kind = case[0]
    if kind == "bytes":
        return case[1]
    if kind == "pickle":
        payload = {"exploit": _Exploit(), "dict": {"format": "chm"},
                   "array": np.zeros(3)}[case[1]]
        return pickle.dumps(payload)
    data = saved_model_bytes()
    cut = int(case[1] * len(data))
    if kind == "truncated":
        return data[:cut]
    return data[:cut] + case[2] + data[cut + len(case[2]):]


def _load_call(case):
    import chm

    data = file_bytes(case)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.chm")
        with open(path, "wb") as fh:
            fh.write(data)
        del PICKLE_CALLS[:]
        try:
            model = chm.load(path)
        finally:
            expect(not PICKLE_CALLS, "chm.load ran code from the file (unpickled it)")
    return model


def _load_check(case, out):
    expect(hasattr(out, "predict_proba"), f"chm.load returned {type(out).__name__}")
    images = training_data()[0]
    check_prob_maps(out.predict_proba(images), images, len(out.classes_))


# ---------------------------------------------------------------------------
# ConvNet (optional: torch)
# ---------------------------------------------------------------------------
def _convnet_sizes():
    """Sizes of a network that trains in a fraction of a second."""
    return st.fixed_dictionaries({"width": st.integers(2, 4), "hidden": st.integers(4, 8),
                                  "downscale": st.sampled_from([1, 1.0, 1.5, 2.0])})


def _convnet_fit_call(case):
    from chm import ConvNetSegmenter

    sizes, (images, labels) = case
    model = ConvNetSegmenter(epochs=1, device="cpu", random_state=0, **sizes).fit(images, labels)
    return {"classes": np.asarray(model.classes_), "maps": model.predict_proba(images)}


def _convnet_fit_check(case, out):
    _fit_check(case[1], out)


#: The ConvNet's deprecated parameter names and the values they take.
_CONVNET_ALIASES = {
    "n_epochs": st.one_of(st.integers(-1, 3), st.just("deprecated")),
    "crop_size": st.one_of(st.none(), st.integers(1, 12), st.just("deprecated")),
    "batch_size": st.one_of(st.integers(-1, 4), st.just("deprecated")),
    "solver": st.sampled_from(["adam", "momentum", "sgd", "SGD", ""]),
    "crop": st.one_of(st.none(), st.integers(1, 12)),
    "device": st.sampled_from(["cpu", "cpu", "auto", "cuda", "cuda:7", "tpu", ""]),
    "padding": st.sampled_from(["reflect", "zero", "edge"]),
    "lr_schedule": st.sampled_from(["constant", "cosine", "linear"]),
}
RENAMED_CONVNET = ("n_epochs", "crop_size", "batch_size")


@st.composite
def _convnet_params_case(draw):
    """One or two parameters of the tiny ConvNet set at once, the deprecated names included."""
    defaults = tiny("ConvNetSegmenter").get_params(deep=False)
    keys = draw(st.lists(st.sampled_from(sorted(set(defaults) | set(_CONVNET_ALIASES))),
                         min_size=1, max_size=2, unique=True))
    params = {}
    for key in keys:
        near = _CONVNET_ALIASES[key] if key in _CONVNET_ALIASES else _near(defaults[key])
        params[key] = draw(st.one_of(near, near, param_values()))
    return params


def _deprecated_in(params):
    """Whether ``params`` use a deprecated name or value (which must warn)."""
    solver = params.get("solver")
    return any(k in RENAMED_CONVNET and not (isinstance(v, str) and v == "deprecated")
               for k, v in params.items()) or (isinstance(solver, str) and solver == "sgd")


def _convnet_params_call(case):
    model = tiny("ConvNetSegmenter").set_params(**case)
    images, labels = training_data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FutureWarning)
        model.fit(images, labels)
    warned = any(issubclass(w.category, FutureWarning) for w in caught)
    return {"classes": np.asarray(model.classes_), "maps": model.predict_proba(images),
            "warned": warned}


def _convnet_params_check(case, out):
    _params_check(case, out)
    if _deprecated_in(case):
        expect(out["warned"], f"no FutureWarning for the deprecated parameters of {case!r}")


# ---------------------------------------------------------------------------
# persistence: round trips, saving anything
# ---------------------------------------------------------------------------
_MODEL_FILE_NAMES = ("model.chm", "m", "model.zip", "a b.chm", "mod\u00e8le.chm", ".hidden")


def _round_trip_case():
    """``(model name, channels, file name, images)``: the images mostly fit the model."""
    return st.tuples(st.sampled_from(MODELS), st.sampled_from([1, 3]),
                     st.sampled_from(_MODEL_FILE_NAMES), st.integers(0, 4)).flatmap(
        lambda c: st.tuples(st.just(c[0]), st.just(c[1]), st.just(c[2]),
                            S.image_inputs(max_side=16, channels=c[1] if c[3] < 4 else 4 - c[1])))


def _predict_or_refuse(model, images):
    try:
        return model.predict_proba(images)
    except (ValueError, TypeError) as exc:
        return exc


def _round_trip_call(case):
    import chm

    name, channels, file_name, images = case
    model = fitted(name, channels)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, file_name)
        chm.save(model, path)
        loaded = chm.load(path)
    expected = _predict_or_refuse(model, images)
    got = _predict_or_refuse(loaded, images)
    expect(isinstance(got, Exception) == isinstance(expected, Exception),
           f"the saved model gives {expected!r:.200} and the loaded one {got!r:.200}")
    if isinstance(got, Exception):
        raise got
    return {"type": type(loaded), "classes": np.asarray(loaded.classes_), "maps": got,
            "expected": expected, "params": repr(loaded.get_params(deep=False))}


def _round_trip_check(case, out):
    name, channels, _, images = case
    model = fitted(name, channels)
    expect(out["type"] is type(model), f"chm.load returned a {out['type'].__name__}")
    expect(np.array_equal(out["classes"], model.classes_), "classes_ changed in the round trip")
    expect(out["params"] == repr(model.get_params(deep=False)),
           "the parameters changed in the round trip")
    check_prob_maps(out["maps"], images, len(model.classes_))
    for k, (a, b) in enumerate(zip(out["maps"], out["expected"])):
        expect(np.array_equal(a, b), f"map {k} of the loaded model differs from the saved "
                                     f"model's by up to {np.abs(a - b).max()}")


@st.composite
def _save_case(draw):
    """What ``chm.save`` is handed: junk, unfitted models, other estimators, or a fitted
    model with an extra attribute."""
    kind = draw(st.sampled_from(["anything", "unfitted", "foreign", "extra", "extra"]))
    if kind == "anything":
        return kind, draw(S.anything())
    if kind == "unfitted":
        return kind, draw(st.sampled_from(MODELS))
    if kind == "foreign":
        return kind, draw(st.sampled_from(["RandomForestClassifier", "LogisticRegression",
                                           "FilterBank", "FeatureNormalizer", "Plan"]))
    return kind, (draw(st.sampled_from(MODELS)), draw(S.anything()))


def _save_object(case):
    kind, arg = case
    if kind == "anything":
        return arg
    if kind == "unfitted":
        return tiny(arg)
    if kind == "foreign":
        if arg == "RandomForestClassifier":
            from sklearn.ensemble import RandomForestClassifier

            return RandomForestClassifier(n_estimators=2).fit([[0.0], [1.0]], [0, 1])
        if arg == "LogisticRegression":
            from sklearn.linear_model import LogisticRegression

            return LogisticRegression().fit([[0.0], [1.0]], [0, 1])
        if arg == "FilterBank":
            return features.default_bank()
        if arg == "FeatureNormalizer":
            return features.FeatureNormalizer().fit(np.ones((3, 2), np.float32))
        return fitted("CHM").plan_
    name, value = arg
    model = copy.deepcopy(fitted(name))
    model.extra_attribute_ = value
    return model


def _save_call(case):
    import chm

    obj = _save_object(case)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.chm")
        chm.save(obj, path)
        expect(case[0] == "extra", f"chm.save wrote a {type(obj).__name__} ({case[0]})")
        loaded = chm.load(path)
    images = training_data()[0]
    return {"maps": loaded.predict_proba(images), "expected": obj.predict_proba(images)}


def _save_check(case, out):
    for k, (a, b) in enumerate(zip(out["maps"], out["expected"])):
        expect(np.array_equal(a, b), f"map {k} of the loaded model differs from the saved one's")


# ---------------------------------------------------------------------------
# tiled prediction
# ---------------------------------------------------------------------------
#: Tiled and whole-image maps agree within this (the API's promise: up to rounding).
TILE_ATOL = 1e-5


@st.composite
def _tiled_case(draw):
    """``(model, channels, images, tile_size, method)``; images up to 48 px."""
    name = draw(st.sampled_from(["CHM_small_field", "CHM_small_field", "CHM"]))
    channels = draw(st.sampled_from([1, 3]))
    kind = draw(st.sampled_from(["clean", "clean", "clean", "inputs", "other"]))
    if kind == "clean":
        images = draw(st.lists(S.image_arrays(min_side=2, max_side=48, channels=channels,
                                              dtypes=("float32",), values=S.FLOAT_RANGES["unit"]),
                               min_size=1, max_size=2))
    else:
        images = draw(S.image_inputs(max_side=48, max_images=2,
                                     channels=4 - channels if kind == "other" else channels))
    tile = draw(st.one_of(st.integers(16, 40), S.tile_sizes()))
    return name, channels, images, tile, draw(st.sampled_from(["predict_proba", "predict"]))


def _tiled_call(case):
    name, channels, images, tile_size, method = case
    model = fitted(name, channels)
    tiled = getattr(model, method)(images, tile_size=tile_size)
    try:
        whole = model.predict_proba(images)
    except (ValueError, TypeError) as exc:
        raise InvalidOutput(f"{method}(tile_size={tile_size!r}) predicts images that "
                            f"predict_proba refuses ({exc})") from exc
    return {"tiled": tiled, "whole": whole}


def _check_agrees(tiled, whole, classes, labels, where):
    """Tiled maps (labels when ``labels``) against whole-image probabilities."""
    for k, (t, p) in enumerate(zip(tiled, whole)):
        if not labels:
            gap = np.abs(t - p).max() if t.size else 0.0
            expect(gap <= TILE_ATOL, f"{where}: map {k} differs from the whole-image map by "
                                     f"{gap:.3g} > {TILE_ATOL}")
            continue
        top2 = np.sort(p, axis=-1)[..., -2:] if p.shape[-1] > 1 else np.zeros(p.shape[:2] + (2,))
        clear = top2[..., 1] - top2[..., 0] > TILE_ATOL  # ties may break either way
        agree = t == classes[p.argmax(axis=-1)]
        expect(agree[clear].all(), f"{where}: label map {k} differs from the whole-image "
                                   f"labels at {np.count_nonzero(~agree & clear)} pixels")


def _tiled_check(case, out):
    name, channels, images, tile_size, method = case
    classes = fitted(name, channels).classes_
    images = val.check_images(images)
    if method == "predict_proba":
        check_prob_maps(out["tiled"], images, len(classes))
    else:
        check_label_output(out["tiled"], images, classes)
    _check_agrees(out["tiled"], out["whole"], classes, method == "predict",
                  f"tile_size={tile_size!r}")


def _window_args():
    shapes = st.one_of(st.tuples(st.integers(0, 60), st.integers(0, 60)),
                       st.tuples(st.integers(0, 60), st.integers(0, 60), st.integers(1, 4)))
    valid = [shapes, st.integers(1, 40), st.integers(0, 20), st.integers(1, 8)]
    invalid = [st.one_of(st.tuples(st.integers(-3, 60)), st.tuples(S.numbers(-3, 60),
                                                                    S.numbers(-3, 60)),
                         st.none()),
               S.numbers(-3, 40), S.numbers(-3, 20), S.numbers(-3, 8)]
    return S.one_bad(valid, invalid)


def _windows_call(case):
    return list(tiling.tile_windows(*case))


def _windows_check(case, out):
    shape, tile, halo, align = case
    h, w = shape[:2]
    expect(h >= 0 and w >= 0, f"tile_windows accepted the shape {shape!r}")
    bounds = [b for pair in out for slices in pair for sl in slices for b in (sl.start, sl.stop)]
    expect(all(isinstance(b, (int, np.integer)) for b in bounds),
           f"tile_windows{case!r} made slices of {sorted({type(b).__name__ for b in bounds})}")
    covered = np.zeros((h, w), np.int64)
    for window, crop in out:
        for axis, n in enumerate((h, w)):
            win, cut = window[axis], crop[axis]
            expect(0 <= win.start <= win.stop <= n, f"window {window} leaves an image {shape}")
            expect(0 <= cut.start <= cut.stop <= win.stop - win.start,
                   f"crop {crop} leaves its window {window}")
            expect(win.start % align == 0, f"window {window} does not start on a multiple of "
                                           f"align={align}")
            start, stop = win.start + cut.start, win.start + cut.stop
            expect(cut.start >= min(halo, start) and win.stop - stop >= min(halo, n - stop),
                   f"window {window} gives its tile {crop} less than halo={halo}")
        covered[window[0].start + crop[0].start:window[0].start + crop[0].stop,
                window[1].start + crop[1].start:window[1].start + crop[1].stop] += 1
    if covered.size:
        expect(covered.min() == 1 and covered.max() == 1,
               f"the tiles do not partition the image: pixels covered {covered.min()} to "
               f"{covered.max()} times")


#: Pyramid factors whose grid step is known (factor -> the smallest whole multiple).
_STEP_FACTORS = (1, 1.5, 2, 2.0, 3, 1.25, 4 / 3, 2.5)


@st.composite
def _grid_case(draw):
    fn = draw(st.sampled_from(["grid_step", "pad_to_step"]))
    if fn == "grid_step":
        return fn, draw(S.one_bad([st.sampled_from(_STEP_FACTORS), st.integers(1, 6)],
                                  [S.numbers(-1, 4), S.numbers(-2, 8)]))
    # finite real pixels: NaN and inf are padded as they are
    finite = S.float_values(("unit", "wide", "finite"))
    dtypes = ("float32", "float32", "float64", "uint8", "uint16", "int32", "bool")
    return fn, draw(S.one_bad([S.image_arrays(max_side=12, valid_shape=True, values=finite,
                                              dtypes=dtypes), st.integers(1, 16)],
                              [S.image_arrays(max_side=6, values=finite, dtypes=dtypes),
                               S.numbers(-2, 16)]))


def _grid_call(case):
    fn, args = case
    return getattr(hierarchy, fn)(*args)


def _grid_check(case, out):
    fn, args = case
    if fn == "grid_step":
        downscale, n_levels = args
        expect(type(out) is int and out >= 1, f"grid_step returned {out!r}")
        if downscale in _STEP_FACTORS and type(n_levels) is int and n_levels >= 1:
            ratio = out / (downscale * 2 ** (n_levels - 1))
            expect(ratio >= 1 - 1e-9 and abs(ratio - round(ratio)) < 1e-6,
                   f"grid_step{args!r} = {out} is no whole multiple of the coarsest pixel")
        return
    image, step = args
    image = np.asarray(image)
    expect(isinstance(out, np.ndarray) and out.dtype == image.dtype and out.ndim == image.ndim,
           f"pad_to_step returned {type(out).__name__} {getattr(out, 'dtype', '')}")
    h, w = image.shape[:2]
    expect(out.shape[0] % step == 0 and out.shape[1] % step == 0 and h <= out.shape[0] < h + step
           and w <= out.shape[1] < w + step and out.shape[2:] == image.shape[2:],
           f"pad_to_step of {image.shape} to step {step!r} has shape {out.shape}")
    expect(np.array_equal(out[:h, :w], image, equal_nan=image.dtype.kind in "fc"),
           "pad_to_step changed the image")


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------
def _file_case():
    return st.tuples(st.sampled_from(["read_image", "read_labels"]), S.file_recipes())


def _read_call(case):
    fn, recipe = case
    with tempfile.TemporaryDirectory() as folder:
        return getattr(files, fn)(S.write_file(folder, "image", recipe))


def _read_check(case, out):
    fn, recipe = case
    expect(isinstance(out, np.ndarray), f"{fn} returned {type(out).__name__}")
    if fn == "read_image":
        expect(out.dtype == np.float32 and (out.ndim == 3 or out.ndim == 4 and out.shape[3] == 3),
               f"read_image returned {out.dtype} {out.shape}, not (N, H, W[, 3]) float32")
        expect(out.shape[1] >= 2 and out.shape[2] >= 2, f"read_image returned {out.shape}")
    else:
        expect(out.dtype == np.int64 and out.ndim == 3,
               f"read_labels returned {out.dtype} {out.shape}, not (N, H, W) int64")
    if recipe[0] != "image" or recipe[1] == ".jpg":
        return
    array = recipe[2]
    plain = array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3 and fn == "read_image")
    if not plain:
        return
    if fn == "read_image":
        expected = files.scale_pixels(array)[None]
    else:
        expected = array.astype(np.int64)[None]
    expect(out.shape == expected.shape and np.array_equal(out, expected),
           f"{fn} read {out.shape} values other than the {array.dtype} {array.shape} written")


_LABEL_DTYPES = ("int64", "int64", "int32", "uint8", "uint16", "int8", "bool")


@st.composite
def _write_case(draw):
    """``(function, array, dtype, destination kind)``."""
    fn = draw(st.sampled_from(["write_labels", "write_proba"]))
    if fn == "write_labels":
        stack = st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6),
                          st.sampled_from(_LABEL_DTYPES)).flatmap(
            lambda c: S._array(c[3], c[:3]))
        array = draw(st.one_of(S.label_maps(), S.label_maps(), stack, S.image_arrays(max_side=6)))
        dtype = draw(st.one_of(st.none(), st.none(), st.none(),
                               st.sampled_from(["uint8", "int16", "uint32", "float32", "bogus"])))
    else:
        stack = st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6),
                          st.integers(1, 4)).flatmap(
            lambda shape: S._array("float32", shape, S.FLOAT_RANGES["unit"]))
        # finite values: write_proba stores what it is given, NaN included
        finite = S.float_values(("unit", "wide", "finite"))
        array = draw(st.one_of(S.prob_maps(max_side=6, valid=True),
                               S.prob_maps(max_side=6, valid=True), stack,
                               S.image_arrays(max_side=6, values=finite)))
        dtype = None
    where = draw(st.sampled_from(["new", "new", "new", "existing", "no_folder", "folder"]))
    return fn, array, dtype, where


def _leftovers(folder):
    return sorted(n for n in os.listdir(folder) if n.startswith("."))


def _write_call(case):
    import tifffile

    fn, array, dtype, where = case
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "out.tif")
        if where == "no_folder":
            path = os.path.join(folder, "missing", "out.tif")
        elif where == "folder":
            os.makedirs(path)
        elif where == "existing":
            with open(path, "wb") as fh:
                fh.write(b"old")
        kwargs = {"dtype": dtype} if fn == "write_labels" and dtype is not None else {}
        try:
            getattr(files, fn)(path, array, **kwargs)
        except BaseException:
            expect(not _leftovers(folder), f"{fn} failed and left {_leftovers(folder)}")
            if where == "existing":
                with open(path, "rb") as fh:
                    expect(fh.read() == b"old", f"{fn} failed and changed the existing file")
            raise
        expect(not _leftovers(folder), f"{fn} left {_leftovers(folder)} beside its file")
        return tifffile.imread(path)


def _write_check(case, out):
    fn, array, dtype, _ = case
    array = np.asarray(array)
    expect(out.size == array.size, f"{fn} wrote {out.shape} for an array {array.shape}")
    out = out.reshape(array.shape)
    if fn == "write_proba":
        expect(out.dtype == np.float32, f"write_proba wrote {out.dtype}")
        expect(np.array_equal(out, array.astype(np.float32), equal_nan=True),
               "write_proba wrote other values")
    elif dtype is not None:
        expect(out.dtype == np.dtype(dtype), f"write_labels wrote {out.dtype}, not {dtype}")
    else:
        expect(out.dtype.kind in "iu" and np.array_equal(out, array),
               f"write_labels wrote {out.dtype} values other than the {array.dtype} ones given")


#: Names of the files and folders an expand_paths case makes, and the arguments it passes.
_TREE_NAMES = ("img2.tif", "img10.tif", "a.png", "B.JPG", "c.txt", ".hidden.png", "sub",
               "sub/a.png", "sub/img1.tif", "stack.zarr", "x.jpeg", "noext", "empty", "d.tiff")
_PATTERNS = ("", "sub", "*", "*.tif", "img*", "sub/*", "missing", "[", "[ab].png", "**", "?.png",
             "img2.tif", "stack.zarr", "*.zarr", "sub/a.png", "sub/missing", "empty", "c.txt",
             "*.PNG", "**/*.png", ".", "..")


@st.composite
def _expand_case(draw):
    tree = draw(st.lists(st.sampled_from(_TREE_NAMES), min_size=3, max_size=10, unique=True))
    args = draw(st.lists(st.sampled_from(_PATTERNS), min_size=1, max_size=3))
    if draw(st.integers(0, 9)) == 9:
        args = draw(st.one_of(st.just([]), st.lists(S.anything(), min_size=1, max_size=2)))
    return tree, args


def _make_tree(folder, names):
    for name in names:
        path = os.path.join(folder, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if name.endswith(".zarr"):
            S.write_file(folder, name[:-5], ("image", ".zarr", np.zeros((3, 4), np.uint8),
                                             "array"))
        elif name in ("sub", "empty"):
            os.makedirs(path, exist_ok=True)
        else:
            with open(path, "wb") as fh:
                fh.write(b"x")


def _expand_call(case):
    tree, args = case
    with tempfile.TemporaryDirectory() as folder:
        _make_tree(folder, tree)
        arguments = [os.path.join(folder, a) if isinstance(a, str) else a for a in args]
        out = files.expand_paths(arguments)
        exists = [os.path.isfile(p) or files._is_zarr(p) for p in out]
        return {"paths": [str(p) for p in out], "exist": exists, "folder": folder}


def _expand_check(case, out):
    tree, args = case
    expect(all(out["exist"]), "expand_paths returned paths that are no file or zarr store")
    expect(len(out["paths"]) >= len(args), f"{len(out['paths'])} paths for {len(args)} arguments")
    hidden = [p for p in out["paths"] if os.path.basename(p).startswith(".")]
    expect(not hidden, f"expand_paths returned the hidden {hidden} for {args!r}")


# ---------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------
#: Option values ``--set`` draws (as typed on a command line).
_SET_VALUES = ("0", "1", "2", "3", "-1", "0.5", "null", "true", "false", "[1, 2]", "[]", "{}",
               '"x"', "tv", "ldnn", "NaN", "Infinity", "", "adam", "logistic", "1e-3")
#: ``--set`` options that keep a CLI training run a fraction of a second (they come last: they win).
_FAST = {"chm": ["--set", "n_levels=1", "--set", "epochs=1", "--set", "context_cv=null"],
         "forest": ["--set", "n_estimators=3"]}
#: Options a CLI case leaves alone: a cache folder, or training runs of minutes.
_SLOW_OPTIONS = {"memory", "n_levels", "epochs", "context_cv", "n_estimators"}
_CONFIGS = ('{"random_state": 1}', '{"sigma_max": 2}', '{"tv_weight": 0.3}', "[]", "{", "",
            '{"bogus": 1}', "random_state = 2\n", '{"n_jobs": 1}')
#: Path arguments, ``@`` standing for the case's folder (see :func:`_cli_folder`).
_IMAGES = ("@img.png", "@img.png", "@img.png", "@rgb.png", "@garbage.tif", "@missing.png",
           "@imgs", "@imgs/*.png", "@empty.png", "@lab.png", "@nothing/*.png")
_LABELS = ("@lab.png", "@lab.png", "@lab.png", "@garbage.tif", "@missing.png", "@labs",
           "@rgb.png", "@img.png", "@blank.png")
_PAIRS = (("@img.png", "@lab.png"), ("@rgb.png", "@lab.png"), ("@imgs", "@labs"),
          ("@imgs/*.png", "@labs/*.png"))
_MODEL_PATHS = ("@forest.chm", "@forest.chm", "@chm.chm", "@chm.chm", "@garbage.tif",
                "@missing.chm", "@img.png", "@imgs")
_JUNK = ("--quiet", "--proba", "--labels", "--out", "--set", "--unlabeled", "x=1", "=1", "1",
         "-1", "--tile-size", "train", "predict", "evaluate", "--", "-", "@out", "@img.png")


def _option_names(method):
    model = CHM() if method == "chm" else ForestSegmenter()
    return sorted(set(model.get_params(deep=False)) - _SLOW_OPTIONS)


def _perturb(draw, tokens):
    """``tokens`` with, sometimes, one deleted, replaced or inserted."""
    how = draw(st.sampled_from(["keep", "keep", "keep", "delete", "replace", "insert"]))
    if how == "keep" or not tokens:
        return tokens
    k = draw(st.integers(0, len(tokens) - 1))
    junk = draw(st.one_of(st.sampled_from(_JUNK), st.text("abc=01.-/", max_size=4)))
    if how == "delete":
        return tokens[:k] + tokens[k + 1:]
    return tokens[:k] + [junk] + tokens[k + (how == "replace"):]


@st.composite
def _cli_case(draw):
    """``(argv, config text)``; ``@`` in argv stands for the case's folder."""
    command = draw(st.sampled_from(["train"] * 4 + ["predict"] * 3 + ["evaluate"] * 2
                                   + ["other"]))
    pairs = st.one_of(st.sampled_from(_PAIRS), st.sampled_from(_PAIRS), st.sampled_from(_PAIRS),
                      st.tuples(st.sampled_from(_IMAGES), st.sampled_from(_LABELS)))
    pairs = draw(st.lists(pairs, min_size=1, max_size=2))
    images, labels = [p[0] for p in pairs], [p[1] for p in pairs]
    if draw(st.integers(0, 9)) == 9:  # not as many label files as images
        labels = labels[:-1] if len(labels) > 1 else labels * 2
    flags = draw(st.lists(st.sampled_from(["--quiet", "--quiet", "--unlabeled 0",
                                           "--unlabeled 3", "--unlabeled -1"]),
                          max_size=2, unique=True))
    flags = [t for f in flags for t in f.split()]
    config = draw(st.sampled_from(_CONFIGS))
    if command == "train":
        method = draw(st.sampled_from(["chm", "chm", "forest", "forest", "forest", "chm-default",
                                       "chm-default", "bogus"]))
        head = ["--method", method] if method in ("chm", "forest", "bogus") else []
        method = "chm" if method in ("chm-default", "bogus") else method
        keys = st.sampled_from(_option_names(method) + ["bogus", ""])
        sets = draw(st.lists(st.tuples(keys, st.sampled_from(_SET_VALUES)), max_size=1))
        sets = [t for k, v in sets for t in ("--set", f"{k}={v}")]
        if draw(st.integers(0, 4)) == 4:
            sets += ["--config", draw(st.sampled_from(["@config.json", "@config.toml",
                                                       "@missing.json", "@img.png"]))]
        body = _perturb(draw, images + ["--labels"] + labels + ["--out", "@out/model.chm"]
                        + flags + sets)
        return ["train"] + body + head + _FAST[method], config
    if command in ("predict", "evaluate"):
        model = [draw(st.sampled_from(_MODEL_PATHS))]
        if command == "predict":
            options = draw(st.lists(st.sampled_from(["--proba", "--quiet", "--tile-size 16",
                                                     "--tile-size 0", "--tile-size -1",
                                                     "--tile-size 1", "--tile-size x",
                                                     "--tile-size 17"]),
                                    max_size=2, unique=True))
            rest = ["--out", "@out/pred"] + [t for o in options for t in o.split()]
        else:
            rest = ["--labels"] + labels + flags
        return [command] + _perturb(draw, model + images + rest), config
    other = draw(st.one_of(st.just([]), st.sampled_from([["--version"], ["--help"], ["train"],
                                                         ["predict", "--out"], ["bogus"],
                                                         ["train", "--help"]]),
                           st.lists(st.sampled_from(_JUNK), min_size=1, max_size=4)))
    return other, config


@lru_cache(maxsize=None)
def _cli_pixels():
    """uint8 pixels of the grey and RGB training images and the label image (0 unlabeled)."""
    gray = (training_data(1)[0][0] * 255).round().astype(np.uint8)
    rgb = (training_data(3)[0][0] * 255).round().astype(np.uint8)
    labels = (training_data(1)[1][0] + 1).astype(np.uint8)
    return gray, rgb, labels


def _cli_folder(folder, config):
    """Write the files a CLI case names (see ``_IMAGES``, ``_LABELS``, ``_MODEL_PATHS``)."""
    import imageio.v3 as iio

    gray, rgb, labels = _cli_pixels()
    for sub in ("imgs", "labs"):
        os.makedirs(os.path.join(folder, sub))
    for name, pixels in [("img.png", gray), ("imgs/img.png", gray), ("rgb.png", rgb),
                         ("lab.png", labels), ("labs/lab.png", labels),
                         ("blank.png", np.zeros_like(labels))]:
        iio.imwrite(os.path.join(folder, name), pixels, plugin="pillow")
    contents = {"garbage.tif": b"II*\x00garbage", "empty.png": b"",
                "forest.chm": model_file_bytes("ForestSegmenter", labels_from=1),
                "chm.chm": model_file_bytes("CHM", labels_from=1), "config.json": config.encode(),
                "config.toml": config.encode()}
    for name, data in contents.items():
        with open(os.path.join(folder, name), "wb") as fh:
            fh.write(data)


def _cli_call(case):
    import chm

    argv, config = case
    with tempfile.TemporaryDirectory() as folder:
        _cli_folder(folder, config)
        args = [folder + os.sep + a[1:] if a.startswith("@") else a for a in argv]
        try:
            code = cli.main(args)
        except SystemExit as exc:  # argparse: a usage error
            expect(exc.code == 2, f"SystemExit({exc.code!r}) for {argv}")
            return {"code": 2, "wrote": None}
        wrote = None
        if code == 0 and argv[:1] == ["train"]:
            wrote = sorted(chm.load(os.path.join(folder, "out", "model.chm")).classes_.tolist())
        elif code == 0 and argv[:1] == ["predict"]:
            out_dir = os.path.join(folder, "out", "pred")
            wrote = sorted(n for n in os.listdir(out_dir) if n.endswith(".tif"))
        return {"code": code, "wrote": wrote}


def _cli_check(case, out):
    argv, _ = case
    expect(type(out["code"]) is int and out["code"] in (0, 2),
           f"chm {' '.join(argv)} ended with {out['code']!r}, not 0 or 2")
    if out["code"] == 0 and argv[:1] == ["train"]:
        expect(len(out["wrote"]) >= 2, f"chm train saved a model of classes {out['wrote']}")
    if out["code"] == 0 and argv[:1] == ["predict"]:
        expect(out["wrote"], "chm predict wrote no label image")


# ---------------------------------------------------------------------------
# scale_out (dask, no cluster)
# ---------------------------------------------------------------------------
@st.composite
def _scale_out_case(draw):
    """``(model, channels, image, grow, dask chunks or None, tile_size, depth, method)``.

    ``grow`` ``(dh, dw)`` enlarges the image (repeating it) to ``dh`` and ``dw``
    pixels beyond the model's halo, so that it is really tiled; None keeps
    it small (smaller than the halo: the image is one tile).
    """
    name = draw(st.sampled_from(MODELS))
    channels = draw(st.sampled_from([1, 3]))
    kind = draw(st.sampled_from(["fit", "fit", "fit", "fit", "other", "odd"]))
    if kind == "odd":
        image = draw(S.image_arrays(max_side=8))
    else:
        image = draw(S.image_arrays(min_side=1, max_side=24,
                                    channels=channels if kind == "fit" else 4 - channels,
                                    dtypes=S.VALID_DTYPES))
    grow = draw(st.one_of(st.tuples(st.integers(1, 30), st.integers(1, 30)), st.none()))
    chunks = draw(st.one_of(st.none(), st.integers(16, 64)))
    tile = draw(st.one_of(st.integers(8, 40), st.integers(8, 40), S.numbers(-3, 40),
                          st.text(max_size=1), st.none()))
    depth = None
    if grow is None:  # (a small depth on an enlarged image makes hundreds of tiles)
        depth = draw(st.one_of(st.none(), st.none(), st.integers(0, 20), S.numbers(-3, 20)))
    method = draw(st.sampled_from(["predict_proba", "predict"]))
    return name, channels, image, grow, chunks, tile, depth, method


def _scale_out_image(case):
    """The image of a scale_out case, enlarged beyond the model's halo when it asks."""
    name, channels, image, grow = case[:4]
    if grow is None or image.ndim not in (2, 3) or image.size == 0:
        return image
    model = fitted(name, channels)
    reach = scale_out.halo(model) + scale_out.grid_step(model)
    return np.resize(image, (reach + grow[0], reach + grow[1]) + image.shape[2:])


def _scale_out_call(case):
    import dask.array as da

    name, channels, _, _, chunks, tile, depth, method = case
    model = fitted(name, channels)
    image = _scale_out_image(case)
    x = image if chunks is None else da.from_array(image, chunks=chunks)
    out = getattr(scale_out, method)(model, x, tile_size=tile, depth=depth).compute()
    result = {"out": out, "whole": None}
    if depth is None:
        try:
            result["whole"] = model.predict_proba([image])[0]
        except (ValueError, TypeError) as exc:
            raise InvalidOutput(f"scale_out.{method} predicts an image that predict_proba "
                                f"refuses ({exc})") from exc
    return result


def _scale_out_check(case, out):
    name, channels, _, _, _, tile, depth, method = case
    classes = fitted(name, channels).classes_
    image = _scale_out_image(case)
    result = out["out"]
    if method == "predict_proba":
        check_prob_maps([result], [image], len(classes))
    else:
        check_label_output([result], [image], classes)
    if out["whole"] is not None:
        _check_agrees([result], [out["whole"]], classes, method == "predict",
                      f"scale_out.{method}(tile_size={tile!r})")


# ---------------------------------------------------------------------------
# dataset loaders, on fake dataset folders
# ---------------------------------------------------------------------------
@st.composite
def _named_file(draw, suffix, array, garbage=0.25):
    """Recipe of a file named ``...suffix`` holding ``array``, or a broken one."""
    if draw(st.floats(0, 1)) <= 1 - garbage:
        return "image", suffix, array, "array"
    kind = draw(st.sampled_from(["bytes", "truncated", "truncated", "empty", "folder",
                                 "missing"]))
    if kind == "bytes":
        return kind, suffix, draw(st.binary(max_size=40))
    if kind == "truncated":
        return kind, suffix, array, draw(st.floats(0, 1, exclude_max=True))
    return kind, suffix


def _n_files():
    """Images in a fake dataset: mostly 1 to 3, sometimes none."""
    return st.sampled_from([1, 1, 2, 2, 3, 0])


def _pixels(draw, shape):
    return draw(S._array("uint8", shape))


def _loader_n():
    valid = st.one_of(st.none(), st.integers(1, 3))
    return st.one_of(valid, valid, valid, st.integers(-1, 0), S.numbers(-1, 4),
                     st.text(max_size=1))


def _sides_like(draw, h, w):
    """Mostly ``(h, w)``, sometimes another size."""
    if draw(st.integers(0, 5)) == 5:
        return draw(st.integers(2, 10)), draw(st.integers(2, 10))
    return h, w


@st.composite
def _weizmann_case(draw):
    """``(files, root, color, n)``: files are ``(path in the data folder, recipe)``."""
    base = "weizmann_horse_db/"
    folders = [f for f in ("gray", "rgb", "figure_ground") if draw(st.integers(0, 9)) < 9]
    out = [(base + f, ("folder", "")) for f in folders]
    for k in range(draw(_n_files())):
        h, w = draw(st.integers(2, 10)), draw(st.integers(2, 10))
        name = f"horse{k + 1:03d}"
        gray = _pixels(draw, _sides_like(draw, h, w))
        rgb = _pixels(draw, (draw(st.integers(2, 12)), draw(st.integers(2, 12)), 3))
        mask = _pixels(draw, (h, w))
        out += [(base + "gray/" + name, draw(_named_file(".jpg", gray))),
                (base + "rgb/" + name, draw(_named_file(".jpg", rgb))),
                (base + "figure_ground/" + name, draw(_named_file(".jpg", mask)))]
    root = draw(st.sampled_from(["", "", "weizmann_horse_db", "missing"]))
    return out, root, draw(st.booleans()), draw(_loader_n())


def _regions_text(draw, h, w):
    """The bytes of a ``*.regions.txt`` for an image of ``h`` x ``w``: mostly valid."""
    rh, rw = _sides_like(draw, h, w)
    values = draw(S._array("int64", (rh, rw)).map(lambda a: np.asarray(a) % 10 - 1))
    if draw(st.integers(0, 3)) < 3:
        values = np.clip(values, -1, 7)
    text = "\n".join(" ".join(str(v) for v in row) for row in values)
    how = draw(st.sampled_from(["keep"] * 5 + ["token", "binary", "empty", "float"]))
    if how == "token":
        text = text.replace(str(values.flat[0]), draw(st.sampled_from(["x", "1.5", "nan", "--"])),
                            1)
    elif how == "float":
        text = text.replace(" ", ".0 ")
    if how == "binary":
        return draw(st.binary(min_size=1, max_size=30))
    return b"" if how == "empty" else text.encode("ascii")


@st.composite
def _stanford_case(draw):
    base = "iccv09Data/"
    folders = [f for f in ("images", "labels") if draw(st.integers(0, 9)) < 9]
    out = [(base + f, ("folder", "")) for f in folders]
    for k in range(draw(_n_files())):
        h, w = draw(st.integers(2, 10)), draw(st.integers(2, 10))
        name = f"{k:07d}"
        out.append((base + "images/" + name, draw(_named_file(".jpg", _pixels(draw, (h, w, 3))))))
        if draw(st.integers(0, 7)) < 7:
            out.append((base + "labels/" + name, ("bytes", ".regions.txt",
                                                  _regions_text(draw, h, w))))
    root = draw(st.sampled_from(["", "", "iccv09Data", "missing"]))
    return out, root, draw(_loader_n())


_SIFT_SUB = "spatial_envelope_256x256_static_8outdoorcategories"


@st.composite
def _mat_recipe(draw, h, w):
    """A SIFT Flow label file: ``("mat", ".mat", {name: array})`` or a broken file."""
    sh, sw = _sides_like(draw, h, w)
    dtype = draw(st.sampled_from(["uint8", "uint8", "int16", "float64", "bool"]))
    top = draw(st.sampled_from([34, 34, 34, 36]))
    values = draw(S._array("int64", (sh, sw)).map(lambda a: np.asarray(a) % top))
    labels = values.astype(dtype)
    if dtype == "float64" and draw(st.booleans()):
        labels = labels + draw(st.sampled_from([0.5, np.nan, -1.0]))
    key = draw(st.sampled_from(["S", "S", "S", "T"]))
    how = draw(st.sampled_from(["mat"] * 6 + ["bytes", "empty", "folder"]))
    if how == "bytes":
        return "bytes", ".mat", draw(st.binary(max_size=40))
    if how in ("empty", "folder"):
        return how, ".mat"
    return "mat", ".mat", {key: labels}


@st.composite
def _sift_case(draw):
    """``(files, root, split lines or None)``."""
    base = draw(st.sampled_from(["", "", "SiftFlowDataset/"]))
    folders = [f"{base}{top}/{_SIFT_SUB}" for top in ("Images", "SemanticLabels")
               if draw(st.integers(0, 9)) < 9]
    out = [(f, ("folder", "")) for f in folders]
    names = []
    for k in range(draw(_n_files())):
        h, w = draw(st.integers(2, 10)), draw(st.integers(2, 10))
        name = f"coast_{k}"
        names.append(name)
        out.append((f"{base}Images/{_SIFT_SUB}/{name}",
                    draw(_named_file(".jpg", _pixels(draw, (h, w, 3))))))
        if draw(st.integers(0, 7)) < 7:
            out.append((f"{base}SemanticLabels/{_SIFT_SUB}/{name}", draw(_mat_recipe(h, w))))
    split = None
    if draw(st.booleans()):
        split = draw(st.lists(st.sampled_from(names + ["", "# comment", "nothing", "x.jpg"])
                              | st.sampled_from([n + ".jpg" for n in names] or ["a.png"])
                              | st.text("ab_ .#", max_size=5),
                              max_size=4))
    return out, draw(st.sampled_from(["", "", "missing"])), split


def _fake_dataset(folder, entries):
    """Write the ``(path, recipe)`` files of a fake dataset under ``folder``."""
    from scipy.io import savemat

    for relative, recipe in entries:
        path = os.path.join(folder, relative)
        if recipe == ("folder", ""):
            os.makedirs(path, exist_ok=True)
        elif not os.path.isdir(os.path.dirname(path)):
            continue  # the case left its folder out
        elif recipe[0] == "mat":
            savemat(path + ".mat", recipe[2])
        else:
            S.write_file(os.path.dirname(path), os.path.basename(path), recipe)


def _dataset_call(loader):
    def call(case):
        with tempfile.TemporaryDirectory() as folder:
            _fake_dataset(folder, case[0])
            root = os.path.join(folder, case[1])
            if loader == "load_weizmann_horse":
                return datasets.load_weizmann_horse(root, color=case[2], n=case[3])
            if loader == "load_stanford_background":
                return datasets.load_stanford_background(root, n=case[2])
            split = None
            if case[2] is not None:
                split = os.path.join(folder, "split.txt")
                with open(split, "w", encoding="utf-8") as fh:
                    fh.write("\n".join(case[2]))
            return datasets.load_sift_flow(root, split=split)
    return call


def _dataset_check(loader):
    def check(case, out):
        images, labels = out[0], out[1]
        expect(len(images) == len(labels) and len(images) >= 1,
               f"{loader} returned {len(images)} images and {len(labels)} label maps")
        if loader == "load_weizmann_horse":
            n, ndim, dtype, low, high = case[3], 3 if case[2] else 2, np.uint8, 0, 1
        elif loader == "load_stanford_background":
            n, ndim, dtype, low, high = case[2], 3, np.int64, -1, 7
        else:
            n, ndim, dtype, low, high = None, 3, np.int64, -1, datasets.SIFT_FLOW_N_CLASSES - 1
            expect(len(out[2]) == len(images) and all(isinstance(s, str) for s in out[2]),
                   f"load_sift_flow returned names {out[2]!r}")
        if isinstance(n, int) and not isinstance(n, bool):
            expect(len(images) <= n, f"{loader}(n={n}) returned {len(images)} images")
        for k, (im, lab) in enumerate(zip(images, labels)):
            expect(im.dtype == np.float32 and im.ndim == ndim and im.min() >= 0 and im.max() <= 1,
                   f"{loader}: image {k} is {im.dtype} {im.shape} in {im.min()}..{im.max()}")
            expect(lab.dtype == dtype and lab.shape == im.shape[:2]
                   and lab.min() >= low and lab.max() <= high,
                   f"{loader}: label map {k} is {lab.dtype} {lab.shape} in "
                   f"{lab.min()}..{lab.max()} for an image {im.shape}")
    return check


#: The loaders' refusals: a ValueError for bad content, FileNotFoundError (documented) for
#: missing folders and files.
_LOADER_REJECTS = (ValueError, TypeError, FileNotFoundError)


# ---------------------------------------------------------------------------
# the registry
# ---------------------------------------------------------------------------
def _entries():
    out = []
    for name in SEGMENTERS:
        out += [
            Entry(f"{name}.fit", S.training_sets(), _fit_call(name), _fit_check, cost=10),
            Entry(f"{name}.predict_proba", _predict_case(), _predict_call(name),
                  _predict_check(name), cost=2),
            Entry(f"{name}.params", _params_case(name), _params_call(name), _params_check,
                  cost=10),
        ]
    out += [
        Entry("mrf.mrf_smooth", _smooth_case(), _smooth_call, _smooth_check),
        Entry("mrf.potts_energy", _energy_case(), _energy_call, _energy_check),
        Entry("mrf.contrast_weights", S.image_arrays(max_side=12), mrf.contrast_weights,
              _contrast_check),
        Entry("features.extract_features", S.image_arrays(max_side=16), features.extract_features,
              _extract_check, cost=2),
        Entry("features.filters", _filter_case(), _filter_call, _filter_check),
        Entry("features.filter_params", _filter_params_case(), _filter_params_call,
              _filter_params_check),
        Entry("features.FeatureNormalizer", _normalizer_case(), _normalizer_call,
              _normalizer_check),
        Entry("penalties", _penalty_case(), _penalty_call, _penalty_check),
        Entry("penalties.get_penalty", S.anything() | st.sampled_from(["tv", "TV ", "quadratic"]),
              penalties.get_penalty, _get_penalty_check),
        Entry("hierarchy", _hierarchy_case(), _hierarchy_call, _hierarchy_check),
        Entry("validation", _validation_case(), _validation_call, _validation_check),
        Entry("metrics.pixel_error", _pixel_error_case(), _pixel_error_call, _pixel_error_check),
        Entry("datasets.sample_sparse_labels", _sparse_case(), _sparse_call, _sparse_check),
        Entry("persistence.load", _load_case(), _load_call, _load_check),
        Entry("persistence.round_trip", _round_trip_case(), _round_trip_call, _round_trip_check,
              cost=2),
        Entry("persistence.save", _save_case(), _save_call, _save_check, cost=2),
        Entry("CHM.tiled", _tiled_case(), _tiled_call, _tiled_check, cost=2),
        Entry("tiling.tile_windows", _window_args(), _windows_call, _windows_check),
        Entry("hierarchy.grid", _grid_case(), _grid_call, _grid_check),
        Entry("files.read", _file_case(), _read_call, _read_check),
        Entry("files.write", _write_case(), _write_call, _write_check),
        Entry("files.expand_paths", _expand_case(), _expand_call, _expand_check),
        Entry("cli.main", _cli_case(), _cli_call, _cli_check, cost=10),
        Entry("scale_out", _scale_out_case(), _scale_out_call, _scale_out_check, cost=2),
    ]
    for loader, strategy in [("load_weizmann_horse", _weizmann_case()),
                             ("load_stanford_background", _stanford_case()),
                             ("load_sift_flow", _sift_case())]:
        out.append(Entry(f"datasets.{loader}", strategy, _dataset_call(loader),
                         _dataset_check(loader), cost=2, rejects=_LOADER_REJECTS))
    convnet = [
        Entry("ConvNetSegmenter.fit", st.tuples(_convnet_sizes(), S.training_sets()),
              _convnet_fit_call, _convnet_fit_check, cost=10),
        Entry("ConvNetSegmenter.predict_proba", _predict_case(),
              _predict_call("ConvNetSegmenter"), _predict_check("ConvNetSegmenter"), cost=2),
        Entry("ConvNetSegmenter.params", _convnet_params_case(), _convnet_params_call,
              _convnet_params_check, cost=10),
    ]
    if HAVE_TORCH:
        out += convnet
    else:
        SKIPPED.update({e.name: "needs PyTorch (pip install chm[convnet])" for e in convnet})
    return {e.name: e for e in out}


#: Entries left out for want of an optional dependency: name -> reason.
SKIPPED = {}


#: Every entry, by name.
ENTRIES = _entries()
