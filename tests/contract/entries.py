"""The public entry points under property test and fuzzing, with what each must return.

An :class:`Entry` pairs a strategy drawing one *case* (the arguments of a
call) with the call itself and a check of its result. The contract every
entry honours, whatever the case:

- it returns, and its output holds only finite numbers and passes the
  entry's own check (shapes, dtypes, probabilities summing to 1...); or
- it raises a ``ValueError`` or ``TypeError`` whose message says something.

Anything else (another exception, a NaN or inf in the output, a wrong
shape, a hang) breaks the contract. :func:`run_case` applies it and lets
other exceptions through, for pytest to show; :func:`classify` turns every
outcome into a kind, for the fuzz campaign (``benchmarks/fuzz.py``).
"""
import os
import pickle
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import numpy as np
from hypothesis import strategies as st

import features
from chm import _validation as val
from chm import hierarchy, metrics, mrf, penalties
from chm.baselines import ForestSegmenter
from chm.datasets import sample_sparse_labels
from chm.estimator import CHM
from chm.mrf_segmenter import MRFSegmenter
from chm.synthetic import make_shapes

from . import strategies as S

__all__ = ["ENTRIES", "Entry", "InvalidOutput", "NonFiniteOutput", "classify", "fitted",
           "run_case", "tiny", "warm_up"]


class NonFiniteOutput(AssertionError):
    """An entry returned NaN or inf."""


class InvalidOutput(AssertionError):
    """An entry returned something its contract rules out, or raised without a message."""


@dataclass(frozen=True)
class Entry:
    """One entry point: ``call(case)`` on cases drawn from ``strategy``.

    ``check(case, output)`` raises :class:`InvalidOutput` when the output
    breaks the entry's promise; ``cost`` is the relative price of a case
    (1: a function call, 10: a model is trained).
    """

    name: str
    strategy: Any
    call: Callable
    check: Callable = lambda case, out: None
    cost: int = 1


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
        When the output breaks the contract, or a ValueError/TypeError has
        no message.
    Exception
        Any other exception of the call, unchanged.
    """
    try:
        out = entry.call(case)
    except (ValueError, TypeError) as exc:
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


def warm_up():
    """Fit every tiny model and write the saved model, so that no case pays for them."""
    for name in SEGMENTERS:
        for channels in (1, 3):
            fitted(name, channels)
    saved_model_bytes()


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
def saved_model_bytes():
    """The bytes of :func:`fitted` ``("ForestSegmenter")`` written by ``chm.save``."""
    import chm

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.chm")
        chm.save(fitted("ForestSegmenter"), path)
        with open(path, "rb") as fh:
            return fh.read()


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
    ]
    return {e.name: e for e in out}


#: Every entry, by name.
ENTRIES = _entries()
