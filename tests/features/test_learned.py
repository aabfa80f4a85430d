import doctest
import pickle

import numpy as np
import pytest
from scipy import ndimage as ndi
from sklearn.exceptions import NotFittedError

import features.learned as learned
from features._learned_kernels import triangle_codes, triangle_codes_reference
from features.base import FilterBank, luminance
from features.learned import CONTRAST_EPS, LearnedFilters, sample_patches, spherical_kmeans
from features.scale_space import GaussianFilter

from .helpers import at


def stripes(shape, axis, rng, period=6, noise=0.05):
    """Stripes of random phase along ``axis`` (0: horizontal stripes, 1: vertical), plus noise."""
    coord = np.arange(shape[axis]) + rng.integers(period)
    profile = np.where((coord // (period // 2)) % 2 == 0, 0.2, 0.8)
    image = np.broadcast_to(profile[:, None] if axis == 0 else profile[None, :], shape)
    return (image + noise * rng.standard_normal(shape)).astype(np.float32)


def mixed_image(rng, shape=(40, 48)):
    image = rng.random(shape).astype(np.float32)
    image[:, : shape[1] // 2] = stripes((shape[0], shape[1] // 2), 1, rng)
    return image


def explicit_encoding(f, image):
    """Per-pixel reference: extract the patch (reflect borders), normalise, whiten, encode."""
    r = f.patch_size // 2
    w_matrix, centroids, mean = (a.astype(np.float64) for a in (f.whitening_, f.centroids_, f.mean_))
    h, w = image.shape
    out = np.zeros((f.n_filters, h, w))
    for y in range(h):
        for x in range(w):
            patch = np.array([[at(image, y + dy, x + dx) for dx in range(-r, r + 1)]
                              for dy in range(-r, r + 1)], np.float64).ravel()
            normalised = (patch - patch.mean()) / np.sqrt(patch.var() + CONTRAST_EPS)
            whitened = w_matrix @ (normalised - mean)
            if f.encoding == "triangle":
                z = np.linalg.norm(whitened - centroids, axis=1)
                out[:, y, x] = np.maximum(z.mean() - z, 0)
            else:
                out[:, y, x] = np.maximum(centroids @ whitened - f.alpha, 0)
    return out


@pytest.mark.parametrize("encoding, whiten, patch_size", [
    ("triangle", True, 5), ("triangle", False, 5), ("soft_threshold", True, 5), ("triangle", True, 3),
])
def test_dense_encoding_matches_explicit_per_patch(rng, encoding, whiten, patch_size):
    f = LearnedFilters(n_filters=6, patch_size=patch_size, n_patches=1500, whiten=whiten,
                       encoding=encoding, alpha=0.3, pool_sigma=0, random_state=0).fit([mixed_image(rng)])
    image = mixed_image(rng, (9, 11))  # every pixel, borders included
    out = f.planes(image)
    assert out.shape == (6, 9, 11) and out.dtype == np.float32
    expected = explicit_encoding(f, image)
    assert (expected > 0).mean() > 0.2  # the encoding is not trivially zero
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5 * expected.max())


def test_triangle_kernel_matches_its_numpy_reference(rng):
    k, d, n = 7, 9, 301
    raw = rng.standard_normal((k + d, n)).astype(np.float32)
    scale = rng.uniform(0.5, 3, n).astype(np.float32)
    shift = rng.standard_normal(k + d).astype(np.float32)
    centroid_sq = rng.uniform(0.5, 1.5, k).astype(np.float32)
    raw[:k, :5] = 1e3  # far from every centroid's sphere: z clipped at 0 under the root
    expected = triangle_codes_reference(raw.astype(np.float64), scale.astype(np.float64),
                                        shift.astype(np.float64), centroid_sq.astype(np.float64), k)
    got = triangle_codes(raw, scale, shift, centroid_sq, k)
    assert got.dtype == np.float32 and got.shape == (k, n)
    assert (expected > 0).any(axis=0).mean() > 0.9 and (expected == 0).any()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)


def test_float64_images_take_the_reference_path(rng):
    f = LearnedFilters(n_filters=6, patch_size=5, n_patches=1500, pool_sigma=0,
                       random_state=0).fit([mixed_image(rng)])
    image = mixed_image(rng, (9, 11))
    single = f.planes(image)
    double = f._compute(image.astype(np.float64), {})
    assert double.dtype == np.float64
    np.testing.assert_allclose(single, double, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("pool_sigma, strip", [(2.0, 33), (1.5, 25), (0.0, 7), (2.0, 1000)])
def test_stack_is_filled_in_strips_equal_to_the_whole_planes(rng, monkeypatch, pool_sigma, strip):
    f = LearnedFilters(n_filters=5, patch_size=5, n_patches=1500, pool_sigma=pool_sigma,
                       random_state=0).fit([mixed_image(rng)])
    image = mixed_image(rng, (61, 23))
    whole = np.moveaxis(f.planes(image), 0, -1)
    monkeypatch.setattr(learned, "_STRIP_VALUES", strip * 23 * 5)  # strips of `strip` rows
    stack = f(image)
    assert stack.shape == (61, 23, 5) and stack.dtype == np.float32
    np.testing.assert_allclose(stack, whole, rtol=1e-5, atol=1e-6)


def test_filters_fold_whitening_and_centroids(rng):
    f = LearnedFilters(n_filters=5, patch_size=5, n_patches=1000, random_state=1).fit([mixed_image(rng)])
    np.testing.assert_allclose(f.filters_.reshape(5, 25), f.centroids_ @ f.whitening_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(f.centroids_, axis=1), 1, rtol=1e-5)


def test_pooling_is_a_gaussian_of_the_encoded_maps(rng):
    image = mixed_image(rng)
    plain = LearnedFilters(n_filters=4, n_patches=1000, pool_sigma=0, random_state=3).fit([image])
    pooled = LearnedFilters(n_filters=4, n_patches=1000, pool_sigma=1.5, random_state=3).fit([image])
    expected = ndi.gaussian_filter(plain.planes(image), (0, 1.5, 1.5), mode="reflect")
    np.testing.assert_allclose(pooled.planes(image), expected, rtol=1e-5, atol=1e-6)


def test_same_seed_same_filters_different_seeds_differ(rng):
    images = [mixed_image(rng), rng.random((30, 20))]
    a, b, c = (LearnedFilters(n_filters=8, n_patches=2000, random_state=s).fit(images) for s in (0, 0, 1))
    for name in ("mean_", "whitening_", "centroids_", "filters_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.allclose(a.filters_, c.filters_)
    np.testing.assert_array_equal(a(images[0]), b(images[0]))


@pytest.mark.parametrize("axis", [0, 1])
def test_filters_learned_on_stripes_follow_their_orientation(rng, axis):
    # An image varying along one axis only (a smooth random profile, weak
    # noise): the learned filters vary along that axis, while filters learned
    # on noise vary about as much along both.
    profile = ndi.gaussian_filter1d(rng.standard_normal(60), 1.0)
    profile = 0.5 + 0.25 * profile / profile.std()
    image = np.broadcast_to(profile[:, None] if axis == 0 else profile, (60, 60))
    image = (image + 0.005 * rng.standard_normal((60, 60))).astype(np.float32)
    for training, low, high in ((image, 5, np.inf), (rng.random((60, 60)), 0.3, 3)):
        f = LearnedFilters(n_filters=8, n_patches=3000, random_state=0).fit([training])
        across = (np.diff(f.filters_, axis=1 + axis) ** 2).sum(axis=(1, 2))
        along = (np.diff(f.filters_, axis=2 - axis) ** 2).sum(axis=(1, 2))
        assert ((across > low * along) & (across < high * along)).all()


def test_encoding_separates_two_textures(rng):
    # Vertical stripes left, horizontal stripes right: a nearest-mean rule on
    # the pooled codes, with means from the top rows, labels the bottom rows.
    h, w = 64, 64
    image = np.concatenate([stripes((h, w // 2), 1, rng), stripes((h, w // 2), 0, rng)], axis=1)
    f = LearnedFilters(n_filters=8, n_patches=3000, pool_sigma=2.0, random_state=0).fit([image])
    codes = f(image)
    left, right = codes[:, 6:w // 2 - 6], codes[:, w // 2 + 6:-6]
    means = [side[6:h // 2].reshape(-1, 8).mean(axis=0) for side in (left, right)]
    for label, side in enumerate((left, right)):
        test = side[h // 2:-6].reshape(-1, 8)
        distances = np.stack([np.linalg.norm(test - m, axis=1) for m in means])
        assert (distances.argmin(axis=0) == label).mean() > 0.95


def test_spherical_kmeans_recovers_signed_directions(rng):
    directions = rng.standard_normal((4, 10))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    labels = rng.integers(4, size=400)
    gains = rng.uniform(0.5, 3, size=(400, 1))
    X = gains * (directions[labels] + 0.05 * rng.standard_normal((400, 10)))
    centroids, n_iter = spherical_kmeans(X, 4, 50, np.random.default_rng(0))
    assert n_iter < 50  # converged
    cosines = directions @ centroids.T
    assert (cosines.max(axis=1) > 0.99).all()


def test_sample_patches_are_windows_inside_the_images(rng):
    grays = [np.arange(12 * 15, dtype=np.float64).reshape(12, 15),
             np.arange(5 * 4, dtype=np.float64).reshape(5, 4)]
    patches = sample_patches(grays, 5, 300, rng)
    assert patches.shape == (300, 25)
    # the second image is too narrow: every patch is a 5 x 5 window of the first
    top_left = patches[:, 0].astype(int)
    y, x = top_left // 15, top_left % 15
    assert (y <= 12 - 5).all() and (x <= 15 - 5).all()
    windows = np.stack([grays[0][a:a + 5, b:b + 5].ravel() for a, b in zip(y, x)])
    np.testing.assert_array_equal(patches, windows)
    assert len(np.unique(top_left)) > 60  # spread over the 88 positions


def test_gray_and_rgb_give_the_same_filters_and_features(rng):
    rgb = rng.random((30, 36, 3)).astype(np.float32)
    rgb[:, :18] = stripes((30, 18), 1, rng)[..., None] * [1.0, 0.9, 0.7]
    gray = luminance(rgb)
    from_rgb = LearnedFilters(n_filters=6, n_patches=1000, random_state=2).fit([rgb])
    from_gray = LearnedFilters(n_filters=6, n_patches=1000, random_state=2).fit([gray])
    np.testing.assert_array_equal(from_rgb.filters_, from_gray.filters_)
    out = from_rgb(rgb)
    assert out.shape == (30, 36, 6) and out.dtype == np.float32
    np.testing.assert_array_equal(out, from_rgb(gray))


def test_names_before_fit_and_features_only_after(rng):
    f = LearnedFilters(n_filters=3)
    assert f.names == ["learned_0", "learned_1", "learned_2"] and f.n_features == 3
    image = rng.random((10, 10))
    with pytest.raises(NotFittedError, match="not fitted"):
        f(image)
    with pytest.raises(NotFittedError, match="not fitted"):
        f.planes(image)


def test_a_bank_fits_its_learned_member(rng):
    image = mixed_image(rng)
    learned_filters = LearnedFilters(n_filters=4, n_patches=500, random_state=0)
    bank = FilterBank([GaussianFilter((1,)), learned_filters])
    assert bank.needs_fit and learned_filters.needs_fit and not GaussianFilter((1,)).needs_fit
    assert bank.fit([image]) is bank
    reference = LearnedFilters(n_filters=4, n_patches=500, random_state=0).fit([image])
    np.testing.assert_array_equal(bank(image)[..., 1:], reference(image))


@pytest.mark.parametrize("params", [
    {"n_filters": 0}, {"n_filters": 2.5}, {"patch_size": 4}, {"patch_size": 1},
    {"patch_size": learned.MAX_PATCH_SIZE + 2}, {"n_filters": 10, "n_patches": 9}, {"whiten": "yes"},
    {"whiten_eps": 0}, {"encoding": "kmeans"}, {"alpha": -0.1}, {"alpha": np.nan}, {"n_iter": 0},
    {"pool_sigma": -1}, {"random_state": -1}, {"random_state": 1.5},
])
def test_bad_parameters_raise(params):
    with pytest.raises(ValueError):
        LearnedFilters(**params)


@pytest.mark.parametrize("images, message", [
    (np.zeros((2, 20, 20)), "list of"),
    ([], "at least one"),
    ([np.zeros((6, 40)), np.zeros((40, 5))], "smaller than patch_size"),
    ([np.full((20, 20), np.nan)], "NaN"),
    ([np.zeros((20, 20, 2))], "shape"),
])
def test_bad_training_images_raise(images, message):
    with pytest.raises(ValueError, match=message):
        LearnedFilters(n_filters=2, n_patches=10).fit(images)


def test_flat_and_huge_images_give_finite_features(rng):
    flat = LearnedFilters(n_filters=4, n_patches=100, random_state=0).fit([np.full((20, 20), 0.5)])
    assert np.isfinite(flat(np.full((12, 12), 0.5))).all()
    image = mixed_image(rng)
    f = LearnedFilters(n_filters=4, n_patches=500, random_state=0).fit([image])
    huge = f(image.astype(np.float64) * 1e30)
    assert huge.dtype == np.float32 and np.isfinite(huge).all()
    # normalised patches barely see the contrast regulariser at that scale
    np.testing.assert_allclose(huge, f(image), atol=0.05 * f(image).max())


def test_fitted_state_is_plain_and_pickles(rng):
    image = mixed_image(rng)
    f = LearnedFilters(n_filters=4, n_patches=500, random_state=0).fit([image])
    for name, value in vars(f).items():
        assert isinstance(value, (np.ndarray, bool, int, float, str, type(None))), name
        if isinstance(value, np.ndarray):
            assert value.dtype == np.float32, name
    copy = pickle.loads(pickle.dumps(f))
    np.testing.assert_array_equal(copy(image), f(image))
    assert repr(copy).startswith("LearnedFilters(n_filters=4, patch_size=7")


def test_docstring_examples():
    result = doctest.testmod(learned, extraglobs={"np": np}, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
