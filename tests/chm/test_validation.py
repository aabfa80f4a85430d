"""Tests of the shared input checks and of the parameter checks of every segmenter."""
import re

import numpy as np
import pytest

from chm._validation import (
    check_images,
    check_label_maps,
    check_labels,
    check_labels_in_classes,
    check_sparse_labels,
)


# ---------------------------------------------------------------------------
# check_images
# ---------------------------------------------------------------------------
def test_list_of_varying_sizes(rng):
    images = [rng.random((5, 6)), rng.random((7, 4)).astype(np.float32)]
    out = check_images(images)
    assert isinstance(out, list) and len(out) == 2
    assert [im.shape for im in out] == [(5, 6), (7, 4)]
    assert all(im.dtype == np.float32 and im.flags.c_contiguous for im in out)
    np.testing.assert_allclose(out[0], images[0], rtol=1e-6)


def test_stack_equals_list(rng):
    stack = rng.random((3, 5, 6, 3)).astype(np.float32)
    from_stack = check_images(stack)
    from_list = check_images(list(stack))
    assert len(from_stack) == 3
    for a, b in zip(from_stack, from_list):
        assert a.shape == (5, 6, 3)
        np.testing.assert_array_equal(a, b)
    gray = check_images(np.zeros((2, 4, 4)))
    assert len(gray) == 2 and gray[0].shape == (4, 4)
    assert len(check_images(tuple(stack))) == 3


def test_integer_scaling():
    img = np.array([[0, 255], [51, 102]], np.uint8)
    out = check_images([img])[0]
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0, 1], [0.2, 0.4]], rtol=1e-6)
    out16 = check_images([np.full((2, 2), 65535, np.uint16)])[0]
    np.testing.assert_allclose(out16, 1.0)
    # floats are not rescaled
    np.testing.assert_array_equal(check_images([np.full((2, 2), 7.5)])[0], 7.5)


def test_single_channel_is_squeezed(rng):
    img = rng.random((4, 5, 1))
    out = check_images([img])
    assert out[0].shape == (4, 5)
    np.testing.assert_allclose(out[0], img[:, :, 0], rtol=1e-6)
    assert check_images(np.zeros((2, 4, 5, 1)))[0].shape == (4, 5)


def test_nested_lists_accepted():
    out = check_images([[[0, 1], [1, 0]]])
    assert out[0].shape == (2, 2) and out[0].dtype == np.float32


@pytest.mark.parametrize("bad", [None, "image.png", 3.0, {"a": 1}])
def test_non_array_container_type_error(bad):
    with pytest.raises(TypeError, match="images must be a list"):
        check_images(bad)


def test_non_numeric_image_type_error():
    with pytest.raises(TypeError, match=r"images\[1\] must be numeric"):
        check_images([np.zeros((3, 3)), np.array([["a", "b"], ["c", "d"]])])
    with pytest.raises(TypeError, match=r"images\[0\] is not an array"):
        check_images(["image.png"])
    with pytest.raises(TypeError, match=r"images\[0\]"):
        check_images([np.zeros((2, 2), complex)])


def test_empty_list():
    with pytest.raises(ValueError, match="empty"):
        check_images([])
    with pytest.raises(ValueError, match="empty"):
        check_images(np.zeros((0, 4, 4)))


def test_wrong_ndim():
    with pytest.raises(ValueError, match="image 1 must have shape"):
        check_images([np.zeros((3, 3)), np.zeros(9)])
    with pytest.raises(ValueError, match="stacked array"):
        check_images(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="image 0 must have shape"):
        check_images([np.zeros((2, 3, 3, 3))])


def test_wrong_channel_count():
    with pytest.raises(ValueError, match="image 0 has 4 channels"):
        check_images([np.zeros((3, 3, 4))])
    with pytest.raises(ValueError, match="image 0 has 2 channels"):
        check_images(np.zeros((2, 5, 5, 2)))


def test_mixed_gray_and_rgb():
    with pytest.raises(ValueError, match="image 2 is gray but image 0 is RGB"):
        check_images([np.zeros((3, 3, 3)), np.zeros((4, 4, 3)), np.zeros((3, 3))])


@pytest.mark.parametrize("shape", [(1, 5), (5, 1), (0, 5), (1, 1, 3)])
def test_too_small(shape):
    with pytest.raises(ValueError, match="image 1 has shape .* at least 2 rows and 2 columns"):
        check_images([np.zeros((3, 3) + shape[2:]), np.zeros(shape)])


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite(value):
    img = np.zeros((3, 3))
    img[1, 1] = value
    with pytest.raises(ValueError, match="image 1 holds NaN or inf"):
        check_images([np.zeros((3, 3)), img])


# ---------------------------------------------------------------------------
# check_labels
# ---------------------------------------------------------------------------
def test_labels_happy_path():
    images = check_images([np.zeros((3, 4)), np.zeros((2, 2))])
    labels = [np.array([[0, 1, -1, 2]] * 3), np.array([[1.0, -1.0], [0.0, 3.0]])]
    out = check_labels(labels, images)
    assert [lab.dtype for lab in out] == [np.int64, np.int64]
    assert [lab.shape for lab in out] == [(3, 4), (2, 2)]
    np.testing.assert_array_equal(out[1], [[1, -1], [0, 3]])
    stack = check_labels(np.zeros((2, 5, 5), np.uint8), check_images(np.zeros((2, 5, 5, 3))))
    assert len(stack) == 2 and stack[0].dtype == np.int64


def test_labels_count_mismatch():
    images = check_images([np.zeros((3, 3))] * 2)
    with pytest.raises(ValueError, match="got 1 label maps for 2 images"):
        check_labels([np.zeros((3, 3), int)], images)


def test_labels_shape_mismatch():
    images = check_images([np.zeros((3, 3, 3)), np.zeros((4, 5, 3))])
    with pytest.raises(ValueError, match=r"label map 1 has shape \(5, 4\) but its image is \(4, 5\)"):
        check_labels([np.zeros((3, 3), int), np.zeros((5, 4), int)], images)


def test_labels_non_integer():
    images = check_images([np.zeros((2, 2))])
    with pytest.raises(ValueError, match="label map 0 holds non-integer values"):
        check_labels([np.array([[0.5, 1], [0, 0]])], images)
    with pytest.raises(ValueError, match="NaN or inf"):
        check_labels([np.array([[np.nan, 1], [0, 0]])], images)
    with pytest.raises(TypeError, match="must be numeric"):
        check_labels([np.array([["a", "b"], ["c", "d"]])], images)
    with pytest.raises(TypeError, match="labels must be a list"):
        check_labels(7, images)


def test_labels_below_minus_one():
    images = check_images([np.zeros((2, 2))])
    with pytest.raises(ValueError, match="label map 0 holds the value -2"):
        check_labels([np.array([[0, -2], [1, -1]])], images)


def test_labels_wrong_ndim():
    with pytest.raises(ValueError, match="label map 0 must be 2-D"):
        check_label_maps([np.zeros((2, 2, 2), int)])
    with pytest.raises(ValueError, match="empty"):
        check_label_maps([])


# ---------------------------------------------------------------------------
# sparse labels and classes
# ---------------------------------------------------------------------------
def test_check_sparse_labels_returns_sorted_classes():
    labels = [np.array([[-1, 3], [0, -1]]), np.array([[7, -1], [-1, -1]])]
    np.testing.assert_array_equal(check_sparse_labels(labels), [0, 3, 7])


def test_check_sparse_labels_large_values():
    labels = [np.array([[-1, 5_000_000], [2, -1]]), np.array([[2, 1]])]
    np.testing.assert_array_equal(check_sparse_labels(labels), [1, 2, 5_000_000])


def test_no_labeled_pixels():
    with pytest.raises(ValueError, match="no labeled pixels"):
        check_sparse_labels([np.full((3, 3), -1), np.full((2, 2), -1)])


def test_only_one_class():
    with pytest.raises(ValueError, match=r"only one class \(1\) is labeled; need at least 2"):
        check_sparse_labels([np.array([[1, -1], [1, 1]])])
    with pytest.raises(ValueError, match="only 2 classes .* need at least 3"):
        check_sparse_labels([np.array([[1, 0], [1, 1]])], min_classes=3)


def test_labels_in_classes():
    classes = np.array([0, 1])
    check_labels_in_classes([np.array([[0, 1], [-1, 1]])], classes)
    with pytest.raises(ValueError, match=r"label 5 is beyond the classes seen in fit \[0 1\]"):
        check_labels_in_classes([np.array([[0, 1]]), np.array([[5, -1], [1, 0]])], classes)
    with pytest.raises(ValueError, match=r"\(image 1\)"):
        check_labels_in_classes([np.array([[0, 1]]), np.array([[5, -1], [1, 0]])], [0, 1])


def test_check_int():
    from chm._validation import check_int
    assert check_int(3, "n", 2) == 3 and type(check_int(np.int64(2), "n", 2)) is int
    for bad in (1, 2.0, True, np.bool_(True), "3", None):
        with pytest.raises(ValueError, match="n must be an integer >= 2"):
            check_int(bad, "n", 2)


def test_check_bool():
    from chm._validation import check_bool
    assert check_bool(True, "b") is True and check_bool(np.bool_(False), "b") is False
    for bad in (1, 0, "True", None, 1.0):
        with pytest.raises(ValueError, match="b must be True or False"):
            check_bool(bad, "b")


def test_image_channels(rng):
    from chm._validation import image_channels
    assert image_channels(check_images([rng.random((5, 6)), rng.random((4, 4))])) == 1
    assert image_channels(check_images([rng.random((5, 6, 3))])) == 3
    assert image_channels(check_images([rng.random((5, 6, 1))])) == 1  # (H, W, 1) is gray


# ===========================================================================
# one validation layer for every segmenter (chm._params, chm.base)
# ===========================================================================
def _shapes(n=3, shape=(24, 28), seed=0):
    from chm.datasets import sample_sparse_labels
    from chm.synthetic import make_shapes

    images, masks = make_shapes(n, shape, random_state=seed)
    return images, masks, sample_sparse_labels(masks, 30, random_state=seed)


@pytest.fixture
def no_features(monkeypatch):
    """Make CHM's feature extraction fail: parameter errors must come before it."""
    import chm.estimator

    def fail(*args, **kwargs):
        raise AssertionError("features were computed before the parameters were checked")

    monkeypatch.setattr(chm.estimator, "level_features", fail)


# each of these raised a raw Python error (TypeError, AttributeError...) somewhere in fit
_RAW_ERRORS_TODAY = [
    ("tv_weight", "0.1"),
    ("downscale", None),
    ("n_levels", "a"),
    ("n_levels", float("nan")),
    ("verbose", None),
    ("dropout", "a"),
    ("n_groups", -1),
    ("context_radii", None),
    ("bank", "gaussian"),
    ("learning_rate", float("nan")),
]
# each of these was accepted without a word
_ACCEPTED_TODAY = [
    ("learning_rate", 0.0),
    ("learning_rate", -0.01),
    ("weight_decay", -0.1),
    ("weight_decay", float("nan")),
    ("n_groups", 0),
    ("n_disc", 0),
    ("momentum", "x"),
    ("n_levels", "2"),
    ("n_levels", 2.5),
    ("n_levels", True),
    ("epochs", 2.5),
]
# parameters that had no check of their own
_NEW_ENTRIES = [
    ("tv_levels", None),
    ("tv_levels", True),
    ("penalty", None),
    ("penalty", "TV"),
    ("class_weight", "auto"),
    ("class_weight", {0: 1.0, 1: 2.0}),
    ("crop", 2.5),
    ("crop", "64"),
    ("context_cv", 2.0),
    ("memory", 3),
    ("n_jobs", 0),
    ("n_jobs", 1.5),
    ("random_state", "0"),
    ("random_state", -1),
    ("random_state", np.random.default_rng(0)),
    ("context_radii", [0, 1]),
    ("context_radii", ()),
    ("batch_images", 1.0),
    ("solver", "sgd"),
    ("loss", "hinge"),
]


@pytest.mark.parametrize("name, value", _RAW_ERRORS_TODAY + _ACCEPTED_TODAY + _NEW_ENTRIES)
def test_chm_rejects_a_bad_parameter_before_any_feature(no_features, name, value):
    from chm import CHM

    images, _, labels = _shapes()
    with pytest.raises(ValueError, match=f"^{name} must be .*, got {re.escape(repr(value))}$"):
        CHM(**{name: value}).fit(images, labels)


def test_chm_checks_solver_and_loss_before_the_features(no_features):
    from chm import CHM

    images, _, labels = _shapes()
    with pytest.raises(ValueError, match="solver must be 'adam' or 'momentum', got 'lbfgs'"):
        CHM(solver="lbfgs").fit(images, labels)
    with pytest.raises(ValueError, match="loss must be 'cross_entropy' or 'squared', got 'l2'"):
        CHM(loss="l2").fit(images, labels)


def test_parameters_are_checked_before_the_data():
    from chm import CHM
    from chm.baselines import ForestSegmenter

    for est in (CHM(solver="lbfgs"), ForestSegmenter(n_estimators=0)):
        with pytest.raises(ValueError, match="must be"):
            est.fit("not images", None)


def test_fit_prologue_sets_the_classes_and_channels():
    from chm import CHM
    from chm.baselines import ForestSegmenter

    images, _, labels = _shapes()
    labels = [np.where(lab == 1, 7, lab).astype(np.float64) for lab in labels]  # integral floats
    for est in (CHM(), ForestSegmenter()):
        out_images, out_labels = est._fit_prologue([(im * 255).astype(np.uint8) for im in images],
                                                   labels)
        np.testing.assert_array_equal(est.classes_, [0, 7])
        assert est.n_classes_ == 2 and est.n_channels_ == 1
        assert out_images[0].dtype == np.float32 and out_labels[0].dtype == np.int64
        np.testing.assert_array_equal(out_labels[1], labels[1])


def test_forest_sets_n_classes():
    from chm.baselines import ForestSegmenter

    images, _, labels = _shapes()
    assert ForestSegmenter(n_estimators=3, random_state=0).fit(images, labels).n_classes_ == 2


@pytest.mark.parametrize("name, value", [("random_state", "x"),
                                         ("random_state", np.random.default_rng(0))])
def test_forest_checks_random_state_before_the_features(name, value):
    from chm.baselines import ForestSegmenter

    images, _, labels = _shapes()
    with pytest.raises(ValueError, match=f"^{name} must be .*, got {re.escape(repr(value))}$"):
        ForestSegmenter(**{name: value}).fit(images, labels)


def test_not_fitted_error_everywhere():
    from sklearn.exceptions import NotFittedError

    from chm import CHM
    from chm.baselines import ForestSegmenter

    images, masks, _ = _shapes(n=1)
    for est in (CHM(), ForestSegmenter()):
        name = type(est).__name__
        for call in (lambda: est.predict_proba(images), lambda: est.predict(images),
                     lambda: est.score(images, masks)):
            with pytest.raises(NotFittedError, match=f"this {name} is not fitted yet; call fit"):
                call()


# ---------------------------------------------------------------------------
# MRFSegmenter: the shared checks
# ---------------------------------------------------------------------------
def _forest():
    from chm.baselines import ForestSegmenter

    return ForestSegmenter(n_estimators=5, sigma_max=4, random_state=0)


def test_mrf_names_the_fold_that_lacks_a_class():
    from chm.mrf import MRFSegmenter

    images, _, labels = _shapes()
    labels = [np.where(lab == 1, -1, lab) for lab in labels]
    labels[1][3, 4] = 1  # class 1 has a single labeled pixel
    with pytest.raises(ValueError, match=r"cross-validation fold \d of cv=3 lacks labels of class 1"
                                         r".*lower cv"):
        MRFSegmenter(_forest(), weights=[0.0, 1.0], cv=3, random_state=0).fit(images, labels)
    # with a single weight there is no cross-validation, and the fit works
    MRFSegmenter(_forest(), weights=1.0).fit(images, labels)


@pytest.mark.filterwarnings("ignore:the chosen smoothing weight")
def test_mrf_takes_bool_images_with_contrast_like_chm():
    from chm.mrf import MRFSegmenter

    images, masks, labels = _shapes()
    binary = [im > 0.5 for im in images]
    seg = MRFSegmenter(_forest(), weights=[0.0, 1.0], contrast=True, random_state=0)
    preds = seg.fit(binary, labels).predict(binary)
    ref = MRFSegmenter(_forest(), weights=[0.0, 1.0], contrast=True, random_state=0)
    ref_preds = ref.fit([b.astype(np.float32) for b in binary], labels).predict(binary)
    np.testing.assert_array_equal(seg.cv_scores_, ref.cv_scores_)
    for a, b in zip(preds, ref_preds):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore:the chosen smoothing weight")
def test_mrf_takes_integral_float_labels_like_chm():
    from chm.mrf import MRFSegmenter

    images, masks, labels = _shapes()
    as_int = MRFSegmenter(_forest(), weights=[0.0, 1.0], random_state=0).fit(images, labels)
    as_float = MRFSegmenter(_forest(), weights=[0.0, 1.0], random_state=0).fit(
        images, [lab.astype(np.float64) for lab in labels])
    np.testing.assert_array_equal(as_float.cv_fold_scores_, as_int.cv_fold_scores_)
    float_masks = [m.astype(np.float32) for m in masks]
    assert as_float.score(images, float_masks) == as_int.score(images, masks)
    with pytest.raises(ValueError, match="label map 0 holds non-integer values"):
        as_int.score(images, [m + 0.5 for m in masks])


@pytest.mark.parametrize("params, match", [
    ({"estimator": None}, "estimator must be an object with the methods 'fit' and 'predict_proba'"),
    ({"contrast": 1}, "contrast must be True or False, got 1"),
    ({"eps": 0}, r"eps must be a finite number in \(0, 1\), got 0"),
    ({"weights": [np.nan]}, r"weights must be a finite number >= 0, a non-empty list"),
    ({"n_jobs": 0}, "n_jobs must be an integer >= 1, an integer <= -1 or None, got 0"),
    ({"random_state": "x"}, "random_state must be None, an integer"),
    # checked even where a single weight leaves them unused
    ({"weights": 1.0, "cv": 1}, "cv must be an integer >= 2, got 1"),
    ({"weights": 1.0, "cv_images": 0}, "cv_images must be an integer >= 1 or None, got 0"),
])
def test_mrf_rejects_bad_parameters_by_name(params, match):
    from chm.mrf import MRFSegmenter

    images, _, labels = _shapes()
    params = {"estimator": _forest(), **params}
    with pytest.raises(ValueError, match=match):
        MRFSegmenter(**params).fit(images, labels)


# ---------------------------------------------------------------------------
# one set of parameter names
# ---------------------------------------------------------------------------
def test_chm_and_the_convnet_share_their_parameter_names():
    pytest.importorskip("torch")
    from chm import CHM
    from chm.convnet import ConvNetSegmenter

    shared = {"epochs", "crop", "batch_images", "learning_rate", "solver", "momentum",
              "weight_decay", "tv_weight", "downscale", "n_jobs", "random_state", "verbose"}
    assert shared <= set(CHM().get_params()) & set(ConvNetSegmenter().get_params())
    from chm._params import check_param

    def rule(cls, name):
        with pytest.raises(ValueError) as info:
            check_param(name, object(), cls._parameter_constraints[name])
        return str(info.value).split(", got")[0]

    # the same values are valid (epochs=0 and the "auto" search only for CHM)
    for name in shared - {"epochs", "tv_weight"}:
        assert rule(CHM, name) == rule(ConvNetSegmenter, name)
    assert rule(CHM, "tv_weight") == rule(ConvNetSegmenter, "tv_weight") + " or 'auto'"


def test_signed_integer_images_are_scaled_by_their_dtype_range_as_files_are():
    from chm.files import scale_pixels
    image = np.array([[-32768, 0], [32767, 100]], np.int16)
    got = check_images([image])[0]
    np.testing.assert_allclose(got, (image.astype(np.float64) + 32768) / 65535, rtol=1e-6)
    np.testing.assert_array_equal(got, scale_pixels(image))
    assert got.min() == 0.0 and got.max() == 1.0
