"""Tests of the shared input checks."""
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
