"""Synthetic problems: thin curvilinear structures (membranes between cells)."""
import doctest

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.morphology import skeletonize

import chm.synthetic
from chm.synthetic import make_thin_structures


def test_doctests():
    assert doctest.testmod(chm.synthetic).failed == 0


def test_thin_structures_types_shapes_and_range():
    images, masks = make_thin_structures(n_images=3, shape=(64, 80), random_state=0)
    assert len(images) == len(masks) == 3
    for image, mask in zip(images, masks):
        assert image.shape == mask.shape == (64, 80)
        assert image.dtype == np.float32 and mask.dtype == np.int64
        assert image.min() >= 0.0 and image.max() <= 1.0
        assert set(np.unique(mask).tolist()) == {0, 1}


def test_thin_structures_reproducible_for_a_seed():
    a_images, a_masks = make_thin_structures(2, (48, 48), random_state=3)
    b_images, b_masks = make_thin_structures(2, (48, 48), random_state=3)
    c_images, c_masks = make_thin_structures(2, (48, 48), random_state=4)
    for a, b in zip(a_images + a_masks, b_images + b_masks):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a_masks[0], c_masks[0])
    assert not np.array_equal(a_images[0], c_images[0])


def test_thin_class_fraction_is_sensible_and_grows_with_width():
    fractions = [m.mean() for seed in range(4)
                 for m in make_thin_structures(3, (96, 96), random_state=seed)[1]]
    assert 0.05 <= min(fractions) and max(fractions) <= 0.30
    thin = np.mean(make_thin_structures(3, (96, 96), widths=(1, 1), random_state=0)[1])
    thick = np.mean(make_thin_structures(3, (96, 96), widths=(4, 4), random_state=0)[1])
    assert 0.05 <= thin < 0.12 < 0.25 < thick


def _inscribed_radius(mask):
    """Distance transform of the mask; outside the image counts as background."""
    return ndi.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_measured_width_matches_a_fixed_width(width):
    for mask in make_thin_structures(3, (96, 96), widths=(width, width), random_state=1)[1]:
        skeleton = skeletonize(mask.astype(bool))
        # area over centre-line length: the mean width of the walls
        assert 0.9 * width <= mask.sum() / skeleton.sum() <= 1.2 * width
        radius = _inscribed_radius(mask)
        assert np.percentile(radius[skeleton], 98) <= width / 2 + 1
        assert radius.max() <= 0.75 * width + 1  # where walls meet


def test_measured_widths_stay_in_the_requested_range():
    for mask in make_thin_structures(4, (96, 96), widths=(1, 4), random_state=2)[1]:
        skeleton = skeletonize(mask.astype(bool))
        assert 1.0 <= mask.sum() / skeleton.sum() <= 4.0
        radius = _inscribed_radius(mask)[skeleton]
        assert np.percentile(radius, 98) <= 4 / 2 + 1
        # walls differ in width within one image: 1-pixel walls and thicker ones
        assert (radius == 1).mean() > 0.1 and (radius >= 2).mean() > 0.1
    one_pixel = make_thin_structures(3, (96, 96), widths=(1, 1), random_state=2)[1]
    for mask in one_pixel:
        assert np.percentile(_inscribed_radius(mask)[skeletonize(mask.astype(bool))], 98) == 1


def _best_threshold_f1(image, mask):
    """F1 of the walls for the best global threshold ('darker than t is a wall')."""
    best = 0.0
    for t in np.linspace(0, 1, 201):
        wall = image < t
        tp = np.sum(wall & (mask == 1))
        wrong = np.sum(wall != (mask == 1))
        best = max(best, 2 * tp / max(2 * tp + wrong, 1))
    return best


def test_walls_darker_but_not_thresholdable():
    images, masks = make_thin_structures(4, (96, 96), random_state=5)
    for image, mask in zip(images, masks):
        assert image[mask == 1].mean() < image[mask == 0].mean() - 0.1
        assert _best_threshold_f1(image, mask) < 0.75
    # without blur, shading, noise and blobs a threshold nearly does it: those make it hard
    clean, clean_masks = make_thin_structures(4, (96, 96), noise=0, blur=0, shading=0, blobs=0,
                                              random_state=5)
    for image, mask in zip(clean, clean_masks):
        assert _best_threshold_f1(image, mask) > 0.8


@pytest.mark.parametrize("kwargs, name", [
    ({"widths": (0.5, 2)}, "widths"),
    ({"widths": (3, 2)}, "widths"),
    ({"widths": 2}, "widths"),
    ({"cell_size": 10}, "cell_size"),  # below 3 * 4
    ({"noise": -0.1}, "noise"),
    ({"blur": -1}, "blur"),
    ({"shading": 1.0}, "shading"),
    ({"blobs": -1}, "blobs"),
    ({"n_images": 0}, "n_images"),
    ({"shape": (4, 40)}, "shape"),
])
def test_thin_structures_reject_bad_parameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_thin_structures(**kwargs)
