"""The contract every segmenter of the package honours, checked on each of them.

In the manner of scikit-learn's ``parametrize_with_checks``: every check runs
on a small, fast instance of every segmenter (:data:`SPECS`), on tiny
synthetic images. A new segmenter joins the suite by adding a line to
:data:`SPECS`.

The contract:

- scikit-learn habits: ``clone`` works and gives an unfitted copy;
  ``get_params``/``set_params`` round-trip; ``__init__`` and ``set_params``
  only store values, ``fit`` checks every parameter (its
  ``_parameter_constraints`` table) and returns ``self``; neither ``fit`` nor
  ``predict_proba`` changes its inputs; the segmenters with a training loop
  share their parameter names;
- ``predict_proba`` gives one float32 ``(H, W, n_classes)`` map per image,
  finite, in [0, 1], summing to 1; ``classes_`` holds the labels as given
  (not their indices) and ``predict`` returns them;
- the same seed gives bit-identical maps, whatever ``n_jobs`` (where the
  segmenter promises that), after a refit, and after ``chm.save`` /
  ``chm.load``;
- an unfitted model raises ``NotFittedError``; every malformed input raises
  ``ValueError`` or ``TypeError`` with a message.
"""
import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError

import chm
from chm.baselines import ForestSegmenter
from chm.datasets import sample_sparse_labels
from chm.mrf_segmenter import MRFSegmenter
from chm.proposals import ProposalSegmenter
from chm.self_training import SelfTrainingSegmenter
from chm.synthetic import make_shapes

from .strategies import CORRUPTIONS


# ---------------------------------------------------------------------------
# the segmenters
# ---------------------------------------------------------------------------
def small_chm():
    return chm.CHM(n_levels=2, epochs=2, context_cv=2, random_state=0)


def small_convnet():
    pytest.importorskip("torch")
    return chm.ConvNetSegmenter(width=4, hidden=8, epochs=1, batch_images=2, crop=None, downscale=1,
                                device="cpu", n_jobs=1, random_state=0)


@dataclass(frozen=True)
class Spec:
    """A segmenter under test.

    ``n_jobs_invariant`` is False for a segmenter that promises identical
    models only for the same thread count (its results then are compared
    at equal ``n_jobs``).
    """

    name: str
    make: Callable
    n_jobs_invariant: bool = True


SPECS = [
    Spec("CHM", small_chm),
    Spec("ForestSegmenter", lambda: ForestSegmenter(n_estimators=5, random_state=0)),
    # torch's intra-op threads change the order of float reductions; the
    # ConvNet documents identical models for the same thread count only
    Spec("ConvNetSegmenter", small_convnet, n_jobs_invariant=False),
    Spec("MRFSegmenter", lambda: MRFSegmenter(small_chm(), weights=(0.0, 0.5, 2.0, 1e3), cv=2,
                                              random_state=0)),
    Spec("SelfTrainingSegmenter", lambda: SelfTrainingSegmenter(small_chm(), n_per_image=5,
                                                                random_state=0)),
    Spec("ProposalSegmenter", lambda: ProposalSegmenter(small_chm(), n_per_image=10, band=1,
                                                        weights=(0.0, 0.5, 2.0), cv=2,
                                                        random_state=0)),
]

#: Segmenters with a training loop, which name its settings alike.
TRAINED_BY_LOOP = ("CHM", "ConvNetSegmenter")
SHARED_LOOP_PARAMS = {"epochs", "crop", "batch_images", "learning_rate", "solver", "momentum",
                      "weight_decay", "tv_weight", "downscale", "n_jobs", "random_state", "verbose"}

each_segmenter = pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------
def _relabel(masks, ids):
    """Masks with class k renamed ``ids[k]``."""
    return [np.asarray(ids, np.int64)[m] for m in masks]


def gray_two_classes():
    """Three gray 16x20 images, labels 3 and 7 (20 labeled pixels each)."""
    images, masks = make_shapes(n_images=3, shape=(16, 20), random_state=0)
    masks = _relabel(masks, [3, 7])
    return images, sample_sparse_labels(masks, 20, random_state=0), np.array([3, 7])


def rgb_three_classes():
    """Three RGB 16x20 images, labels 0, 2 and 5 (30 labeled pixels each)."""
    images, masks = make_shapes(n_images=3, shape=(16, 20), n_classes=3, color=True,
                                random_state=1)
    masks = _relabel(masks, [0, 2, 5])
    return images, sample_sparse_labels(masks, 30, random_state=1), np.array([0, 2, 5])


DATA = {"gray": gray_two_classes, "rgb": rgb_three_classes}


class _Fits:
    """Fits of every spec on every data set, made once for the module."""

    def __init__(self):
        self._cache = {}

    def get(self, spec, which="gray"):
        """``(model, what fit returned, inputs changed by fit or None)``."""
        key = (spec.name, which)
        if key not in self._cache:
            images, labels, _ = DATA[which]()
            kept = copy.deepcopy((images, labels))
            model = spec.make()
            returned = model.fit(images, labels)
            self._cache[key] = model, returned, _changes(kept, (images, labels))
        return self._cache[key]

    def again(self, spec):
        """A second fit on the gray set, with ``n_jobs=2`` where the spec promises invariance."""
        key = (spec.name, "again")
        if key not in self._cache:
            model = spec.make()
            if spec.n_jobs_invariant:
                model.set_params(**{k: 2 for k in _n_jobs_keys(model)})
            self._cache[key] = model.fit(*DATA["gray"]()[:2])
        return self._cache[key]


@pytest.fixture(scope="module")
def fits():
    return _Fits()


def _changes(before, after):
    """What differs between two ``(images, labels)`` pairs, or None."""
    for what, old, new in zip(("images", "labels"), before, after):
        if len(old) != len(new):
            return f"{what}: the list changed length"
        for k, (a, b) in enumerate(zip(old, new)):
            if a.dtype != b.dtype or a.shape != b.shape or not np.array_equal(a, b, equal_nan=True):
                return f"{what}[{k}] changed"
    return None


def _params_equal(a, b):
    """Parameter dicts equal, nested estimators compared by type and parameters."""
    if a.keys() != b.keys():
        return False
    return all(_value_equal(a[k], b[k]) for k in a)


def _value_equal(a, b):
    if isinstance(a, BaseEstimator) or isinstance(b, BaseEstimator):
        return type(a) is type(b) and _params_equal(a.get_params(deep=False),
                                                    b.get_params(deep=False))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    return bool(a == b)


def _fitted_attributes(model):
    return sorted(k for k in vars(model) if k.endswith("_") and not k.startswith("_"))


def assert_maps_equal(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


def _n_jobs_keys(model):
    return [k for k in model.get_params() if k == "n_jobs" or k.endswith("__n_jobs")]


# ---------------------------------------------------------------------------
# scikit-learn habits
# ---------------------------------------------------------------------------
@each_segmenter
def test_clone_gives_equal_unfitted_copy(spec, fits):
    model = spec.make()
    copy_ = clone(model)
    assert copy_ is not model and type(copy_) is type(model)
    assert _params_equal(copy_.get_params(deep=False), model.get_params(deep=False))
    for key, value in model.get_params(deep=False).items():
        if isinstance(value, BaseEstimator):
            assert getattr(copy_, key) is not value, f"clone shares the nested {key}"

    fitted, _, _ = fits.get(spec)
    refreshed = clone(fitted)
    assert _fitted_attributes(refreshed) == []
    assert _params_equal(refreshed.get_params(deep=False), fitted.get_params(deep=False))
    with pytest.raises(NotFittedError):
        refreshed.predict_proba(DATA["gray"]()[0])


@each_segmenter
def test_get_params_set_params_round_trip(spec):
    model = spec.make()
    for deep in (False, True):
        params = model.get_params(deep=deep)
        assert model.set_params(**params) is model
        assert _params_equal(model.get_params(deep=deep), params)
    # __init__ stores every argument as given, under its own name
    shallow = model.get_params(deep=False)
    for key, value in shallow.items():
        assert getattr(model, key) is value


@each_segmenter
def test_parameter_table_covers_every_parameter(spec):
    model = spec.make()
    table = getattr(type(model), "_parameter_constraints", None)
    assert isinstance(table, dict), f"{spec.name} has no _parameter_constraints table"
    assert set(table) == set(model.get_params(deep=False))


class _Invalid:
    """A value no parameter accepts."""

    def __repr__(self):
        return "<invalid>"


@each_segmenter
def test_fit_checks_every_parameter(spec):
    images, labels, _ = DATA["gray"]()
    accepted, wrong_error = [], []
    for key in spec.make().get_params(deep=False):
        model = spec.make()
        model.set_params(**{key: _Invalid()})  # storing a value never raises
        try:
            model.fit(images, labels)
        except (ValueError, TypeError) as exc:
            assert str(exc).strip(), f"{key}: {type(exc).__name__} without a message"
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            wrong_error.append(f"{key}: {type(exc).__name__}: {exc}")
        else:
            accepted.append(key)
    assert not accepted, f"fit accepted an invalid value for {accepted}"
    assert not wrong_error, wrong_error


@pytest.mark.parametrize("name", TRAINED_BY_LOOP)
def test_training_loops_share_parameter_names(name):
    spec = next(s for s in SPECS if s.name == name)
    missing = SHARED_LOOP_PARAMS - set(spec.make().get_params(deep=False))
    assert not missing, f"{name} lacks {sorted(missing)}"


@each_segmenter
def test_fit_returns_self(spec, fits):
    for which in DATA:
        model, returned, _ = fits.get(spec, which)
        assert returned is model


@each_segmenter
def test_fit_and_predict_leave_inputs_unchanged(spec, fits):
    for which in DATA:
        model, _, changed = fits.get(spec, which)
        assert changed is None, f"fit on the {which} set: {changed}"
        images, labels, _ = DATA[which]()
        kept = copy.deepcopy(images)
        model.predict_proba(images)
        assert _changes((kept, labels), (images, labels)) is None


# ---------------------------------------------------------------------------
# outputs
# ---------------------------------------------------------------------------
def check_maps(maps, images, n_classes):
    assert isinstance(maps, list) and len(maps) == len(images)
    for m, im in zip(maps, images):
        assert isinstance(m, np.ndarray) and m.dtype == np.float32
        assert m.shape == im.shape[:2] + (n_classes,)
        assert np.isfinite(m).all()
        assert m.min() >= 0 and m.max() <= 1
        np.testing.assert_allclose(m.sum(axis=-1), 1, rtol=0, atol=1e-6)


@each_segmenter
def test_predict_proba_maps(spec, fits):
    for which in DATA:
        model, _, _ = fits.get(spec, which)
        images, _, classes = DATA[which]()
        maps = model.predict_proba(images)
        check_maps(maps, images, len(classes))
        # a stacked array is the same input as the list of its images
        assert_maps_equal(model.predict_proba(np.stack(images)), maps)
        # any size of image, not only the training ones
        other, _ = make_shapes(n_images=1, shape=(13, 25), n_classes=len(classes),
                               color=which == "rgb", random_state=5)
        check_maps(model.predict_proba(other), other, len(classes))


@each_segmenter
def test_classes_are_the_given_labels(spec, fits):
    for which in DATA:
        model, _, _ = fits.get(spec, which)
        images, labels, classes = DATA[which]()
        np.testing.assert_array_equal(model.classes_, classes)
        assert np.asarray(model.classes_).dtype.kind in "iu"
        preds = model.predict(images)
        assert len(preds) == len(images)
        for p, im in zip(preds, images):
            assert p.shape == im.shape[:2]
            assert np.isin(p, classes).all()
        score = model.score(images, labels)
        hits = [p[lab >= 0] == lab[lab >= 0] for p, lab in zip(preds, labels)]
        expected = np.mean(np.concatenate(hits))
        assert score == pytest.approx(expected)


@each_segmenter
def test_same_seed_bit_identical_maps(spec, fits):
    model, _, _ = fits.get(spec)
    images = DATA["gray"]()[0]
    assert_maps_equal(fits.again(spec).predict_proba(images), model.predict_proba(images))


@each_segmenter
def test_refit_forgets_the_previous_fit(spec, fits):
    model = copy.deepcopy(fits.again(spec))
    images, labels, classes = DATA["rgb"]()
    model.fit(images, labels)
    fresh, _, _ = fits.get(spec, "rgb")
    np.testing.assert_array_equal(model.classes_, classes)
    if hasattr(model, "n_channels_"):
        assert model.n_channels_ == 3
    assert_maps_equal(model.predict_proba(images), fresh.predict_proba(images))


@each_segmenter
def test_save_load_round_trip(spec, fits, tmp_path):
    for which in DATA:
        model, _, _ = fits.get(spec, which)
        images = DATA[which]()[0]
        path = tmp_path / f"{which}.chm"
        chm.save(model, path)
        loaded = chm.load(path)
        assert type(loaded) is type(model)
        assert _params_equal(loaded.get_params(deep=False), model.get_params(deep=False))
        np.testing.assert_array_equal(loaded.classes_, model.classes_)
        assert_maps_equal(loaded.predict_proba(images), model.predict_proba(images))
        for a, b in zip(loaded.predict(images), model.predict(images)):
            np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------
@each_segmenter
@pytest.mark.parametrize("method", ["predict_proba", "predict", "score"])
def test_unfitted_model_raises_not_fitted(spec, method):
    images, labels, _ = DATA["gray"]()
    args = (images, labels) if method == "score" else (images,)
    with pytest.raises(NotFittedError):
        getattr(spec.make(), method)(*args)


@each_segmenter
def test_save_unfitted_raises_not_fitted(spec, tmp_path):
    with pytest.raises(NotFittedError):
        chm.save(spec.make(), tmp_path / "model.chm")
    assert not (tmp_path / "model.chm").exists()


@each_segmenter
@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_fit_rejects_malformed_training_set(spec, corruption):
    images, labels, _ = DATA["gray"]()
    images, labels = CORRUPTIONS[corruption](images, labels)
    with pytest.raises((ValueError, TypeError)) as info:
        spec.make().fit(images, labels)
    assert str(info.value).strip()


def _gray_to_rgb(images):
    return [np.repeat(im[..., None], 3, axis=2) for im in images]


def _with_pixel(images, value):
    images = [im.copy() for im in images]
    images[0][3, 4] = value
    return images


#: Malformed inputs of predict for a model fit on gray images.
BAD_PREDICT_INPUTS = {
    "empty": lambda ims: [],
    "none": lambda ims: None,
    "string": lambda ims: "image.png",
    "image_1d": lambda ims: [im.ravel() for im in ims],
    "stack_5d": lambda ims: np.stack(ims)[:, None, ..., None, None],
    "nan_pixel": lambda ims: _with_pixel(ims, np.nan),
    "inf_pixel": lambda ims: _with_pixel(ims, -np.inf),
    "rgb_for_gray_model": _gray_to_rgb,
    "two_channels": lambda ims: [np.stack([im, im], axis=-1) for im in ims],
    "strings": lambda ims: ["a", "b"],
    "object_array": lambda ims: [np.full(im.shape, None, object) for im in ims],
    "ragged": lambda ims: [[[0.1, 0.2], [0.3]]],
    "one_pixel": lambda ims: [im[:1, :1] for im in ims],
}


@each_segmenter
@pytest.mark.parametrize("method", ["predict_proba", "predict"])
@pytest.mark.parametrize("bad", sorted(BAD_PREDICT_INPUTS))
def test_predict_rejects_malformed_images(spec, method, bad, fits):
    model, _, _ = fits.get(spec)
    images = BAD_PREDICT_INPUTS[bad](DATA["gray"]()[0])
    with pytest.raises((ValueError, TypeError)) as info:
        getattr(model, method)(images)
    assert str(info.value).strip()


@each_segmenter
def test_predict_rejects_gray_images_for_rgb_model(spec, fits):
    model, _, _ = fits.get(spec, "rgb")
    gray = [im.mean(axis=-1) for im in DATA["rgb"]()[0]]
    with pytest.raises(ValueError, match="channel"):
        model.predict_proba(gray)
