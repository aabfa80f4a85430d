import pickle

import features

import numpy as np
import pytest

from features import FilterBank, GaussianFilter, GradientMagnitude, HaarBoxes, IntensityStencil, LabColor
from features.base import Filter, ImageFilter, as_float32, check_image, luminance, pad

from .helpers import reflect_index, tiny_image


class Ones(ImageFilter):
    """Two constant planes (1 and 2), for checking concatenation order."""

    names = ["one", "two"]

    def _compute(self, gray, memo):
        return np.stack([np.ones_like(gray), np.full_like(gray, 2)])


class Broken(ImageFilter):
    names = ["a", "b"]

    def _compute(self, gray, memo):
        return gray[None]  # one plane instead of two


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4, 3), (6, 7, 2), (6, 7, 4), (0, 5), (5, 0, 3)])
def test_bad_shapes_raise_clear_value_error(shape):
    with pytest.raises(ValueError, match=r"\(H, W\)|empty"):
        check_image(np.zeros(shape))
    with pytest.raises(ValueError):
        GaussianFilter()(np.zeros(shape))


def test_check_image_accepts_gray_rgb_and_single_channel(rng):
    gray = rng.random((4, 5))
    out = check_image(gray)
    assert out.dtype == np.float32 and out.shape == (4, 5)
    np.testing.assert_allclose(out, gray, rtol=1e-6)
    assert check_image(gray[..., None]).shape == (4, 5)
    assert check_image(np.zeros((4, 5, 3))).shape == (4, 5, 3)
    f32 = gray.astype(np.float32)
    assert check_image(f32) is f32  # no copy when already float32


def test_integer_images_are_rescaled():
    out = as_float32(np.array([[0, 255]], np.uint8))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0.0, 1.0]])
    with pytest.raises(ValueError, match="numeric"):
        as_float32(np.array([["a"]]))


def test_luminance_uses_rgb2gray_weights(rng):
    from skimage.color import rgb2gray

    rgb = rng.random((6, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(luminance(rgb), rgb2gray(rgb), rtol=1e-5, atol=1e-6)
    gray = rgb[..., 0]
    assert luminance(gray) is gray


def test_pad_reflect_matches_reference_index(rng):
    image = tiny_image(rng, (3, 4))
    padded = pad(image, 9, "reflect")  # wider than the image: repeated reflection
    for y in range(padded.shape[0]):
        for x in range(padded.shape[1]):
            assert padded[y, x] == image[reflect_index(y - 9, 3), reflect_index(x - 9, 4)]
    with pytest.raises(ValueError, match="mode"):
        pad(image, 1, "wrap")


def test_bank_concatenates_in_order(rng):
    image = tiny_image(rng)
    filters = [Ones(), GaussianFilter((1, 2)), HaarBoxes((1,))]
    bank = FilterBank(filters)
    out = bank(image)
    assert out.shape == (7, 9, 6) and out.dtype == np.float32 and out.flags.c_contiguous
    assert bank.names == ["one", "two", "gauss_s1", "gauss_s2", "haar_h_r1", "haar_v_r1"]
    assert bank.n_features == len(bank.names) == 6
    np.testing.assert_array_equal(out, np.concatenate([f(image) for f in filters], axis=-1))
    np.testing.assert_array_equal(out[..., 0], 1)
    np.testing.assert_array_equal(out[..., 1], 2)
    np.testing.assert_array_equal(bank.planes(image), np.moveaxis(out, -1, 0))


def test_banks_nest(rng):
    image = tiny_image(rng)
    inner = FilterBank([GaussianFilter((1,)), Ones()])
    nested = FilterBank([Ones(), inner, FilterBank([]), GradientMagnitude((1,))])
    flat = FilterBank([Ones(), GaussianFilter((1,)), Ones(), GradientMagnitude((1,))])
    assert nested.names == flat.names
    np.testing.assert_array_equal(nested(image), flat(image))
    np.testing.assert_array_equal(nested.planes(image), flat.planes(image))
    assert len(nested) == 4 and isinstance(nested, Filter)


def test_shared_memo_gives_same_results_as_separate_calls(rng):
    image = rng.random((20, 23)).astype(np.float32)
    from features import default_bank

    bank = default_bank()
    together = bank(image)
    separate = np.concatenate([f(image) for f in bank], axis=-1)
    np.testing.assert_array_equal(together, separate)


def test_empty_bank(rng):
    out = FilterBank([])(tiny_image(rng))
    assert out.shape == (7, 9, 0) and out.dtype == np.float32


def test_bank_rejects_non_filters():
    with pytest.raises(TypeError):
        FilterBank([GaussianFilter(), np.zeros(3)])


def test_wrong_plane_count_is_reported(rng):
    with pytest.raises(RuntimeError, match="Broken"):
        Broken()(tiny_image(rng))
    with pytest.raises(RuntimeError, match="Broken"):
        FilterBank([Broken()])(tiny_image(rng))


def test_gray_filters_reduce_rgb_to_luminance(rng):
    rgb = rng.random((8, 10, 3)).astype(np.float32)
    bank = FilterBank([IntensityStencil(4), GaussianFilter((1,))])
    np.testing.assert_array_equal(bank(rgb), bank(luminance(rgb)))


def test_colour_member_makes_bank_require_rgb(rng):
    bank = FilterBank([GaussianFilter((1,)), LabColor((1,))])
    assert bank(rng.random((6, 7, 3))).shape == (6, 7, 4)
    with pytest.raises(ValueError, match="RGB"):
        bank(rng.random((6, 7)))


def test_filters_pickle(rng):
    image = tiny_image(rng)
    bank = FilterBank([IntensityStencil(3), GaussianFilter((1,))])
    clone = pickle.loads(pickle.dumps(bank))
    np.testing.assert_array_equal(clone(image), bank(image))
    assert "IntensityStencil" in repr(bank)


@pytest.mark.parametrize("make", [
    lambda: features.GaussianFilter(sigmas=(1e6,)),
    lambda: features.StructureTensorEigenvalues(sigma=30, rhos=840737707.0),
    lambda: features.GaussianFilter(sigmas=("a",)),
    lambda: features.HaarBoxes(radii=(5000,)),
])
def test_filter_scales_are_bounded(make):
    with pytest.raises(ValueError, match="positive numbers"):
        make()


@pytest.mark.parametrize("make", [
    lambda: features.IntensityStencil(n_directions=float("inf")),
    lambda: features.IntensityStencil(n_directions=0),
    lambda: features.ContextFilter(n_directions=2.5),
    lambda: features.ContextFilter(n_channels=True),
])
def test_filter_counts_are_integers(make):
    with pytest.raises(ValueError, match="integer >= 1"):
        make()


def test_fill_writes_the_stack_into_a_view(rng):
    bank = FilterBank([GaussianFilter(sigmas=(1, 2)), GradientMagnitude(sigmas=(1,))])
    image = tiny_image(rng)
    big = np.zeros(image.shape[:2] + (bank.n_features + 2,), np.float32)
    assert bank.fill(image, big[..., 1:1 + bank.n_features]) is not None
    np.testing.assert_array_equal(big[..., 1:1 + bank.n_features], bank(image))
    assert (big[..., 0] == 0).all() and (big[..., -1] == 0).all()
    with pytest.raises(ValueError, match="out must be"):
        bank.fill(image, np.zeros(image.shape[:2] + (2,), np.float32))


@pytest.mark.parametrize("shape", [(5, 7, 33), (1, 1, 1), (3, 40, 65)])
def test_channels_last_kernel_matches_numpy_into_a_column_block(rng, shape):
    from features._layout import planes_to_channels_last, planes_to_channels_last_reference
    planes = rng.random(shape).astype(np.float32)
    f, h, w = shape
    got = np.zeros((h, w, f + 3), np.float32)
    want = np.zeros_like(got)
    planes_to_channels_last(planes, got[..., 2:2 + f])
    planes_to_channels_last_reference(planes, want[..., 2:2 + f])
    assert (got == want).all() and (got[..., 2:2 + f] == np.moveaxis(planes, 0, -1)).all()
    assert not got[..., :2].any() and not got[..., -1].any()  # nothing written outside the block


@pytest.mark.parametrize("n_jobs", [2, 3, 8])
def test_bank_in_threads_equals_the_bank_in_one(rng, n_jobs):
    from features import default_bank
    from features.learned import LearnedFilters
    image = rng.random((37, 45)).astype(np.float32)
    learned = LearnedFilters(n_filters=6, patch_size=5, n_patches=600, random_state=0).fit([image])
    bank = FilterBank(list(default_bank()) + [learned])
    np.testing.assert_array_equal(bank(image, n_jobs=n_jobs), bank(image))
