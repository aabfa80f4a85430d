"""Segmentation metrics."""
import numpy as np
import pytest

from chm.metrics import pixel_error


def test_pixel_error_by_hand_pools_over_images():
    preds = [np.array([[0, 1], [1, 1]]), np.array([[2, 2, 0]])]
    truths = [np.array([[0, 0], [1, 1]]), np.array([[2, 1, 1]])]
    # 1 wrong of 4, then 2 wrong of 3: pooled 3 / 7 (not the mean of 1/4 and 2/3)
    assert pixel_error(preds, truths) == pytest.approx(3 / 7)


def test_pixel_error_perfect_and_all_wrong():
    t = [np.array([[0, 1], [1, 0]])]
    assert pixel_error(t, t) == 0.0
    assert pixel_error([1 - t[0]], t) == 1.0


def test_pixel_error_ignores_negative_truth():
    pred = [np.array([[0, 1, 1, 0]])]
    truth = [np.array([[0, -1, -5, 1]])]
    # known pixels: 0 (right) and 3 (wrong)
    assert pixel_error(pred, truth) == pytest.approx(0.5)


def test_pixel_error_counts_only_known_pixels_across_images():
    preds = [np.zeros((2, 2), int), np.zeros((2, 2), int)]
    truths = [np.full((2, 2), -1), np.array([[0, 1], [-1, -1]])]
    assert pixel_error(preds, truths) == pytest.approx(0.5)


def test_pixel_error_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        pixel_error([np.zeros((2, 3))], [np.zeros((3, 2))])


def test_pixel_error_rejects_mismatched_counts():
    with pytest.raises(ValueError, match="2 predictions for 1 truths"):
        pixel_error([np.zeros((2, 2))] * 2, [np.zeros((2, 2))])


def test_pixel_error_rejects_all_unknown():
    with pytest.raises(ValueError, match="no known pixels"):
        pixel_error([np.zeros((2, 2))], [np.full((2, 2), -1)])
