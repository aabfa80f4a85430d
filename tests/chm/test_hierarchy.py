"""Pyramid plumbing: block-mean downsampling, label pooling, bilinear resizing."""
import numpy as np
import pytest

from chm.hierarchy import (downsample, downsample_to_level, level_shape, pool_labels, pyramid,
                           resize_map)


# ------------------------------------------------------------------ downsample
def test_downsample_is_2x2_block_mean():
    x = np.arange(16, dtype=np.float64).reshape(4, 4)
    expected = np.array([[(0 + 1 + 4 + 5) / 4, (2 + 3 + 6 + 7) / 4],
                         [(8 + 9 + 12 + 13) / 4, (10 + 11 + 14 + 15) / 4]])
    out = downsample(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)


def test_downsample_odd_sizes_replicate_the_edge():
    x = np.arange(15, dtype=np.float32).reshape(3, 5)
    out = downsample(x)
    assert out.shape == (2, 3)
    # last row is replicated: block of rows (2, 2); last column likewise
    assert out[1, 0] == pytest.approx((x[2, 0] + x[2, 1]) / 2)
    assert out[0, 2] == pytest.approx((x[0, 4] + x[1, 4]) / 2)
    assert out[1, 2] == pytest.approx(x[2, 4])
    assert out[0, 0] == pytest.approx(x[:2, :2].mean())


def test_downsample_multichannel_acts_per_channel(rng):
    x = rng.random((7, 6, 3)).astype(np.float32)
    out = downsample(x)
    assert out.shape == (4, 3, 3)
    for k in range(3):
        np.testing.assert_allclose(out[..., k], downsample(x[..., k]), atol=1e-7)


def test_downsample_to_level_repeats(rng):
    x = rng.random((13, 9)).astype(np.float32)
    np.testing.assert_array_equal(downsample_to_level(x, 0), x)
    np.testing.assert_allclose(downsample_to_level(x, 2), downsample(downsample(x)), atol=1e-7)
    assert downsample_to_level(x, 3).shape == level_shape(x.shape, 3)


# --------------------------------------------------------------------- pyramid
@pytest.mark.parametrize("shape", [(32, 40), (33, 41), (5, 7), (17, 2)])
def test_pyramid_shapes_match_level_shape(rng, shape):
    x = rng.random(shape).astype(np.float32)
    levels = pyramid(x, 4)
    assert len(levels) == 4
    np.testing.assert_array_equal(levels[0], x)
    for lev, im in enumerate(levels):
        assert im.shape == level_shape(shape, lev)
        assert im.dtype == np.float32


def test_level_shape_by_hand():
    assert level_shape((5, 7), 0) == (5, 7)
    assert level_shape((5, 7), 1) == (3, 4)
    assert level_shape((5, 7), 2) == (2, 2)
    assert level_shape((5, 7, 3), 3) == (1, 1)


def test_pyramid_preserves_the_mean_of_even_images(rng):
    x = rng.random((16, 8)).astype(np.float32)
    for im in pyramid(x, 4):
        assert im.mean() == pytest.approx(x.mean(), rel=1e-5)


# ----------------------------------------------------------------- pool_labels
def test_pool_labels_single_pixel_lands_in_its_cell():
    lab = np.full((4, 4), -1)
    lab[3, 2] = 1
    out = pool_labels(lab, (2, 2), 2)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [[-1, -1], [-1, 1]])


def test_pool_labels_majority_and_tie_to_smaller_index():
    lab = np.full((4, 4), -1)
    lab[0, 0], lab[0, 1], lab[1, 1] = 0, 1, 1          # majority 1
    lab[0, 2], lab[1, 3] = 2, 0                         # tie 2 vs 0 -> 0
    lab[2, 0], lab[3, 1] = 2, 1                         # tie 2 vs 1 -> 1
    lab[3, 3] = 2                                       # alone -> 2
    out = pool_labels(lab, (2, 2), 3)
    np.testing.assert_array_equal(out, [[1, 0], [1, 2]])


def test_pool_labels_unlabeled_stays_unlabeled():
    lab = np.full((6, 5), -1)
    np.testing.assert_array_equal(pool_labels(lab, (3, 3), 2), np.full((3, 3), -1))
    lab[0, 0] = 0
    out = pool_labels(lab, (3, 3), 2)
    assert out[0, 0] == 0
    assert (out.ravel()[1:] == -1).all()


def test_pool_labels_same_shape_is_identity(rng):
    lab = rng.integers(-1, 3, size=(7, 9))
    np.testing.assert_array_equal(pool_labels(lab, (7, 9), 3), lab)


def test_pool_labels_non_factor_two_shape():
    # (6, 6) -> (4, 4): row r lands in r * 4 // 6 = 0, 0, 1, 2, 2, 3
    lab = np.full((6, 6), -1)
    lab[5, 5] = 1
    lab[3, 0] = 0
    lab[2, 4] = 1
    out = pool_labels(lab, (4, 4), 2)
    expected = np.full((4, 4), -1)
    expected[3, 3] = 1
    expected[2, 0] = 0
    expected[1, 2] = 1
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("shape", [(5, 7), (9, 4), (33, 41)])
def test_pool_labels_agree_with_downsample_geometry(shape):
    """A labeled fine pixel lands in the coarse cell whose block mean it feeds."""
    h, w = level_shape(shape, 1)
    for r in range(shape[0]):
        for c in range(shape[1]):
            lab = np.full(shape, -1)
            lab[r, c] = 1
            out = pool_labels(lab, (h, w), 2)
            indicator = np.zeros(shape, np.float32)
            indicator[r, c] = 1
            fed = downsample(indicator) > 0
            np.testing.assert_array_equal(out == 1, fed)


# ------------------------------------------------------------------ resize_map
def test_resize_map_same_shape_is_identity(rng):
    p = rng.random((5, 6, 3)).astype(np.float32)
    np.testing.assert_array_equal(resize_map(p, (5, 6)), p)


@pytest.mark.parametrize("out_shape", [(13, 9), (2, 3), (5, 17)])
def test_resize_map_constant_stays_constant(out_shape):
    p = np.full((5, 7), 0.3, np.float32)
    out = resize_map(p, out_shape)
    assert out.shape == out_shape
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, 0.3, atol=1e-6)


@pytest.mark.parametrize("out_shape", [(9, 11), (2, 2), (4, 13)])
def test_resize_map_keeps_probabilities_summing_to_one(rng, out_shape):
    p = rng.dirichlet(np.ones(3), size=(4, 5)).astype(np.float32)
    out = resize_map(p, out_shape)
    assert out.shape == out_shape + (3,)
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, atol=1e-5)
    assert out.min() >= 0 and out.max() <= 1


def test_resize_map_bilinear_values_by_hand():
    p = np.array([[0.0, 1.0], [2.0, 3.0]], np.float32)
    out = resize_map(p, (4, 4))
    # output pixel i samples input coordinate clip((i + 0.5) * 2 / 4 - 0.5): 0, .25, .75, 1
    assert out[0, 0] == pytest.approx(0.0)
    assert out[3, 3] == pytest.approx(3.0)
    assert out[1, 1] == pytest.approx(0.75)   # 0.25 * 2 + 0.25 * 1
    assert out[1, 2] == pytest.approx(1.25)
    assert out[2, 0] == pytest.approx(1.5)


def test_resize_map_reproduces_a_linear_ramp_inside():
    h, w = 6, 8
    r, c = np.mgrid[0:h, 0:w].astype(np.float32)
    p = 0.1 * r + 0.05 * c
    H, W = 12, 16
    out = resize_map(p, (H, W))
    R, C = np.mgrid[0:H, 0:W]
    rr = (R + 0.5) * h / H - 0.5
    cc = (C + 0.5) * w / W - 0.5
    inside = (rr >= 0) & (rr <= h - 1) & (cc >= 0) & (cc <= w - 1)
    np.testing.assert_allclose(out[inside], (0.1 * rr + 0.05 * cc)[inside], atol=1e-5)


def test_resize_map_multichannel_matches_per_channel(rng):
    p = rng.random((4, 6, 3)).astype(np.float32)
    out = resize_map(p, (7, 5))
    for k in range(3):
        np.testing.assert_allclose(out[..., k], resize_map(p[..., k], (7, 5)), atol=1e-7)


@pytest.mark.parametrize("labels,match", [
    (np.array([[0, 5], [1, -1]]), r"\[-1, 2\)"),
    (np.array([[0, -2], [1, -1]]), r"\[-1, 2\)"),
    (np.zeros((2, 2), np.float32), "integer"),
    (np.zeros(4, np.int64), "2-D"),
])
def test_pool_labels_rejects_values_beyond_the_classes(labels, match):
    with pytest.raises(ValueError, match=match):
        pool_labels(labels, (1, 1), 2)


def test_grid_step_is_the_coarsest_whole_pixel():
    from chm.hierarchy import grid_step
    assert grid_step(2.0, 4) == 16 and grid_step(1, 1) == 1 and grid_step(1, 3) == 4
    assert grid_step(1.5, 2) == 3 and grid_step(2.5, 1) == 5


def test_pad_to_step_mirrors_bottom_and_right():
    from chm.hierarchy import pad_to_step
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    padded = pad_to_step(image, 4)
    assert padded.shape == (4, 4)
    np.testing.assert_array_equal(padded[:3], image)
    np.testing.assert_array_equal(padded[3], image[2])  # symmetric: the edge row repeated
    assert pad_to_step(image, 1) is image
    rgb = np.zeros((5, 6, 3), np.float32)
    assert pad_to_step(rgb, 4).shape == (8, 8, 3)


def test_working_image_is_exactly_a_downscale_of_the_padded_image():
    from chm.estimator import working_image
    image = np.random.RandomState(0).random_sample((37, 50)).astype(np.float32)
    assert working_image(image, 2.0, n_levels=3).shape == (20, 28)  # padded to 40 x 56
    assert working_image(image, 1, n_levels=2).shape == (38, 50)


def test_downsample_of_huge_pixels_is_finite():
    image = np.full((4, 4), 3e38, np.float32)
    out = downsample(image)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, 3e38, rtol=1e-6)


@pytest.mark.parametrize("call", [
    lambda: pyramid(np.zeros((4, 4)), 0),
    lambda: pyramid(np.zeros((4, 4)), 2.0),
    lambda: resize_map(np.zeros((4, 4)), (20.5, 4)),
    lambda: resize_map(np.zeros((4, 4)), (0, 4)),
    lambda: pool_labels(np.zeros((4, 4), np.int64), (21.35, 20), 2),
    lambda: pool_labels(np.zeros((4, 4), np.int64), 3, 2),
])
def test_levels_and_shapes_must_be_positive_integers(call):
    with pytest.raises(ValueError, match="integer >= 1|pair"):
        call()


@pytest.mark.parametrize("downscale,n_levels", [(float("inf"), 2), (0.5, 2), (2.0, 0), ("2", 2)])
def test_grid_step_rejects_bad_arguments(downscale, n_levels):
    from chm.hierarchy import grid_step
    with pytest.raises(ValueError):
        grid_step(downscale, n_levels)


def test_pad_to_step_with_a_fill_value_and_padded_shape():
    from chm.hierarchy import pad_to_step, padded_shape
    labels = np.zeros((3, 5), np.int64)
    padded = pad_to_step(labels, 4, fill=-1)
    assert padded.shape == (4, 8) == padded_shape(labels.shape, 4)
    np.testing.assert_array_equal(padded[:3, :5], labels)
    assert (padded[3] == -1).all() and (padded[:, 5:] == -1).all()
    with pytest.raises(ValueError, match="step"):
        padded_shape((3, 5), 0)


@pytest.mark.parametrize("shape, out_shape", [((5, 7), (13, 9)), ((6, 4, 3), (12, 8)), ((9, 9), (4, 20)),
                                              ((1, 3, 2), (5, 1))])
def test_resize_map_equals_map_coordinates_at_aligned_centres(rng, shape, out_shape):
    from scipy import ndimage
    p = rng.random(shape).astype(np.float32)
    h, w = shape[:2]
    H, W = out_shape
    grid = np.meshgrid(np.clip((np.arange(H) + 0.5) * h / H - 0.5, 0, h - 1),
                       np.clip((np.arange(W) + 0.5) * w / W - 0.5, 0, w - 1), indexing="ij")
    planes = p[..., None] if p.ndim == 2 else p
    want = np.stack([ndimage.map_coordinates(planes[..., k].astype(np.float64), grid, order=1,
                                             mode="nearest") for k in range(planes.shape[-1])], -1)
    got = resize_map(p, out_shape)
    assert got.dtype == np.float32 and got.shape == out_shape + shape[2:]
    np.testing.assert_allclose(got, want.reshape(got.shape), rtol=1e-6, atol=1e-6)
