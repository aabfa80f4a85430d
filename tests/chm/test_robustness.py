"""Numerical robustness: huge, tiny, integer, boolean and non-finite inputs.

Every public function taking pixels must either give finite results for
any finite input or reject NaN / infinite pixels with a ValueError; the
scale of the pixel values must not turn results into NaN.
"""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import features
from chm.mrf import contrast_weights, mrf_smooth, potts_energy
from features import scale_space

FLOAT32_MAX = float(np.finfo(np.float32).max)
SCALES = (1e12, 1e30, 3e38)


def _scaled(image, scale):
    """``image * scale`` as float32, computed in float64 (no overflow to inf)."""
    return (np.asarray(image, np.float64) * scale).astype(np.float32)


def _run_isolated(code, timeout=20):
    """Run ``code`` in a fresh interpreter; return what it printed as JSON.

    A call that never returns fails the test after ``timeout`` seconds
    instead of hanging the suite.
    """
    try:
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the call did not return within {timeout} s")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# MRF: contrast weights of images whose squared differences overflow
# ---------------------------------------------------------------------------
def test_mrf_contrast_two_classes_returns_on_overflowing_differences():
    labels = _run_isolated("""
        import json
        import numpy as np
        from chm.mrf import mrf_smooth
        prob = np.array([[[.2, .8], [.7, .3]]])
        print(json.dumps(mrf_smooth(prob, np.array([[0.0, 1e200]]), contrast=True).tolist()))
    """)
    # one edge, w = exp(-1/2): keeping the argmax (1, 0) costs 0.223 + 0.357 + 0.607,
    # less than either constant labelling
    assert labels == [[1, 0]]


def test_mrf_contrast_three_classes_is_scale_invariant():
    got = _run_isolated("""
        import json
        import numpy as np
        from chm.mrf import mrf_smooth
        prob = np.random.default_rng(0).dirichlet(np.ones(3), size=(2, 3))
        image = np.array([[0.0, 1e200, 1e200], [0.0, 0.0, 1e200]])
        print(json.dumps([mrf_smooth(prob, image, contrast=True).tolist(),
                          mrf_smooth(prob, image / 1e200, contrast=True).tolist()]))
    """)
    huge, unit = got
    assert huge == unit == [[0, 2, 2], [0, 0, 1]]


@pytest.mark.parametrize("scale", [1e-300, 1e-30, 1.0, 1e30, 1e200, 1e306])
def test_contrast_weights_are_finite_and_scale_invariant(rng, scale):
    image = rng.random((6, 7, 3))
    right, down = contrast_weights(image)
    big_right, big_down = contrast_weights(image * scale)
    assert np.isfinite(big_right).all() and np.isfinite(big_down).all()
    np.testing.assert_allclose(big_right, right, rtol=1e-12)
    np.testing.assert_allclose(big_down, down, rtol=1e-12)


def test_contrast_weights_of_the_widest_float64_range():
    big = np.finfo(np.float64).max
    image = np.array([[-big, big, big], [big, -big, big]])  # differences overflow float64 too
    right, down = contrast_weights(image)
    assert np.isfinite(right).all() and np.isfinite(down).all()
    expected = contrast_weights(np.array([[-1.0, 1.0, 1.0], [1.0, -1.0, 1.0]]))
    np.testing.assert_allclose(right, expected[0], rtol=1e-12)
    np.testing.assert_allclose(down, expected[1], rtol=1e-12)
    prob = np.full((2, 3, 3), 1 / 3)
    assert mrf_smooth(prob, image, contrast=True).shape == (2, 3)


@pytest.mark.parametrize("contrast", [False, True])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_mrf_largest_weights_keep_the_minimizer(n_classes, contrast):
    # energies of weight ~ float64 max overflow; the labeling must be that of a large weight
    rng = np.random.default_rng(0)
    prob = rng.dirichlet(np.ones(n_classes), size=(6, 7))
    image = rng.random((6, 7))
    large = mrf_smooth(prob, image, weight=1e6, contrast=contrast)
    assert np.unique(large).size == 1
    np.testing.assert_array_equal(mrf_smooth(prob, image, weight=1.7e308, contrast=contrast), large)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_mrf_functions_reject_non_finite_images(bad):
    prob = np.full((2, 3, 2), 0.5)
    image = np.zeros((2, 3))
    image[1, 2] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        contrast_weights(image)
    with pytest.raises(ValueError, match="NaN or infinite"):
        mrf_smooth(prob, image, contrast=True)
    with pytest.raises(ValueError, match="NaN or infinite"):
        potts_energy(np.zeros((2, 3), int), prob, 1.0, image=image, contrast=True)


def test_mrf_accepts_integer_and_boolean_images():
    prob = np.random.default_rng(1).dirichlet(np.ones(3), size=(5, 6))
    mask = np.zeros((5, 6), bool)
    mask[:, 3:] = True
    reference = mrf_smooth(prob, mask.astype(np.float64), weight=2.0, contrast=True)
    for image in (mask, mask.astype(np.uint8), mask.astype(np.int64) * 1000):
        np.testing.assert_array_equal(mrf_smooth(prob, image, weight=2.0, contrast=True), reference)
        np.testing.assert_allclose(contrast_weights(image)[0], contrast_weights(mask * 1.0)[0])


# ---------------------------------------------------------------------------
# features: huge pixel values
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scene():
    """A 32x40 image in [0, 1]: two shapes on a ramp, with noise."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:32, :40]
    image = 0.3 + 0.4 * ((yy - 12) ** 2 + (xx - 14) ** 2 < 50) + 0.2 * (xx > 28) + xx / 200
    return (image + 0.05 * rng.standard_normal(image.shape)).clip(0, 1).astype(np.float32)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("color", [False, True])
def test_default_bank_is_finite_for_huge_images(scene, scale, color):
    image = np.stack([scene, scene[::-1], 1 - scene], axis=-1) if color else scene
    stack = features.extract_features(_scaled(image, scale))
    bad = [name for name, plane in zip(features.default_bank(color).names, np.moveaxis(stack, -1, 0))
           if not np.isfinite(plane).all()]
    assert bad == []


def test_huge_images_scale_the_features_exactly(scene):
    # 2**40 (about 1.1e12): linear features scale by 2**40, the structure tensor by 2**80
    scale = 2.0 ** 40
    big = _scaled(scene, scale)
    linear = [features.GaussianFilter((1, 4)), features.LoGFilter((1, 2)),
              features.GradientMagnitude((1, 2)), features.HessianEigenvalues((1,)),
              features.GaborFilter((0.25,), 2), features.HaarBoxes((2,))]
    for f in linear:
        small = f(scene)
        np.testing.assert_allclose(f(big) / scale, small, rtol=1e-4, atol=1e-5 * np.abs(small).max(),
                                   err_msg=type(f).__name__)
    st = features.StructureTensorEigenvalues(1, (2, 4))
    small = st(scene)
    np.testing.assert_allclose(st(big) / scale ** 2, small, rtol=1e-4, atol=1e-5 * small.max())


def test_features_at_the_float32_limit():
    # a checkerboard at +-FLOAT32_MAX: its Laplacian of Gaussian is the unit board's, scaled;
    # the structure tensor of stripes exceeds float32 and clips at its largest value
    unit = np.where(np.indices((16, 16)).sum(axis=0) % 2 == 0, 1.0, -1.0).astype(np.float32)
    board = _scaled(unit, FLOAT32_MAX)
    log = features.log_stack(board, (1, 2))
    assert np.isfinite(log).all()
    np.testing.assert_allclose(log / FLOAT32_MAX, features.log_stack(unit, (1, 2)), rtol=1e-4, atol=1e-6)
    st = features.structure_tensor_eigenvalues(board[:, ::2].repeat(2, axis=1), 1, (2,))
    assert np.isfinite(st).all() and st.max() == FLOAT32_MAX


def test_ordinary_images_take_the_float32_path(scene):
    # below the float64 threshold nothing changes: same bits as a float32 computation
    gray = scene * np.float32(1000)
    assert gray.dtype == np.float32
    gy, gx = (float32_gaussian(gray, 1, order) for order in ((1, 0), (0, 1)))
    products = (gy * gy, gy * gx, gx * gx)
    j = [float32_gaussian(p, 2, (0, 0)) for p in products]
    expected = scale_space._eig_sym2x2(*j)
    got = features.structure_tensor_eigenvalues(gray, 1, (2,))
    np.testing.assert_array_equal(got[..., 0], expected[0])
    np.testing.assert_array_equal(got[..., 1], np.maximum(expected[1], 0))


def float32_gaussian(image, sigma, order):
    """The float32 Gaussian derivative (the numba kernel, itself tested against scipy)."""
    from features._separable import gaussian_derivative_2d

    assert image.dtype == np.float32 and image.flags.c_contiguous
    return gaussian_derivative_2d(image, sigma, order)


# ---------------------------------------------------------------------------
# features: non-finite, integer and boolean pixels
# ---------------------------------------------------------------------------
def _gray_functions():
    return {
        "check_image": features.check_image,
        "luminance": features.luminance,
        "extract_features": features.extract_features,
        "gaussian_stack": features.gaussian_stack,
        "dog_stack": features.dog_stack,
        "log_stack": features.log_stack,
        "gradient_magnitude": features.gradient_magnitude,
        "hessian_eigenvalues": features.hessian_eigenvalues,
        "structure_tensor_eigenvalues": features.structure_tensor_eigenvalues,
        "gaussian_derivative": lambda im: scale_space.gaussian_derivative(im, 1.0, (1, 0)),
        "gabor_magnitudes": lambda im: features.gabor_magnitudes(im, (0.25,), 2),
        "hog_cells": features.hog_cells,
        "haar_boxes": features.haar_boxes,
        "integral_image": features.integral_image,
        "sample_stencil": lambda im: features.sample_stencil(im, [(0, 1), (2, -1)]),
        "IntensityStencil": features.IntensityStencil(radius=3),
        "GaussianFilter": features.GaussianFilter(),
        "DoGFilter": features.DoGFilter(),
        "LoGFilter": features.LoGFilter(),
        "GradientMagnitude": features.GradientMagnitude(),
        "HessianEigenvalues": features.HessianEigenvalues(),
        "StructureTensorEigenvalues": features.StructureTensorEigenvalues(),
        "GaborFilter": features.GaborFilter((0.25,), 2),
        "HOGCells": features.HOGCells(),
        "HaarBoxes": features.HaarBoxes(),
        "ContextFilter": features.ContextFilter(radii=(1, 2)),
        "default_bank": features.default_bank(),
        "Filter.planes": features.GaussianFilter((1,)).planes,
    }


def _rgb_functions():
    return {
        "lab_stack": features.lab_stack,
        "LabColor": features.LabColor((1,)),
        "default_bank(color=True)": features.default_bank(color=True),
        "luminance(rgb)": features.luminance,
        "extract_features(rgb)": features.extract_features,
    }


GRAY = _gray_functions()
RGB = _rgb_functions()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", sorted(GRAY))
def test_gray_features_reject_non_finite_pixels(name, bad):
    image = np.random.default_rng(0).random((12, 14), dtype=np.float32)
    image[3, 4] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        GRAY[name](image)


@pytest.mark.parametrize("name", sorted(RGB))
def test_rgb_features_reject_non_finite_pixels(name):
    image = np.random.default_rng(0).random((12, 14, 3), dtype=np.float32)
    image[3, 4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        RGB[name](image)


# these take raw values; every other function divides integer images by their dtype's maximum
RAW_VALUES = {"integral_image", "sample_stencil", "ContextFilter"}


@pytest.mark.parametrize("name", sorted(GRAY))
def test_gray_features_take_integer_and_boolean_images(name):
    mask = np.zeros((12, 14), bool)
    mask[3:9, 5:11] = True
    f = GRAY[name]
    reference = np.asarray(f(mask.astype(np.float32)))
    as_uint8 = 255 * reference if name in RAW_VALUES else reference
    for image, expected in ((mask, reference), (mask.astype(np.uint8) * 255, as_uint8)):
        out = np.asarray(f(image))
        assert out.dtype == reference.dtype and np.isfinite(out).all()
        np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-5)


def test_feature_normalizer_rejects_non_finite_features():
    X = np.random.default_rng(0).random((20, 3)).astype(np.float32)
    norm = features.FeatureNormalizer().fit(X)
    bad = X.copy()
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        features.FeatureNormalizer().fit(bad)
    with pytest.raises(ValueError, match="NaN or infinite"):
        features.FeatureNormalizer().fit([X, bad])
    with pytest.raises(ValueError, match="NaN or infinite"):
        norm.transform(bad)
    bad[4, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        norm.transform(bad, copy=False)


def test_feature_normalizer_transform_does_not_overflow():
    # (X - mean) overflows float32 here although the standardised values are small
    X = np.array([[-FLOAT32_MAX], [FLOAT32_MAX], [-FLOAT32_MAX], [FLOAT32_MAX]], np.float32)
    norm = features.FeatureNormalizer().fit(X)
    np.testing.assert_allclose(norm.transform(X)[:, 0], [-1, 1, -1, 1], rtol=1e-6)
    Y = X.copy()
    assert norm.transform(Y, copy=False) is Y
    np.testing.assert_allclose(Y[:, 0], [-1, 1, -1, 1], rtol=1e-6)
    shifted = features.FeatureNormalizer().fit(np.array([[-FLOAT32_MAX], [0.0]], np.float32))
    np.testing.assert_allclose(shifted.transform(np.array([[FLOAT32_MAX]], np.float32)), [[3.0]], rtol=1e-6)
    # far outside the training range: clipped, finite
    tight = features.FeatureNormalizer().fit(np.array([[0.0], [1e-3]], np.float32))
    out = tight.transform(np.array([[FLOAT32_MAX], [-FLOAT32_MAX]], np.float32))
    assert np.isfinite(out).all() and out[0, 0] > 1e15 and out[1, 0] < -1e15


# ---------------------------------------------------------------------------
# estimators on huge images
# ---------------------------------------------------------------------------
def _check_maps(maps, images, n_classes):
    assert len(maps) == len(images)
    for p, im in zip(maps, images):
        assert p.shape == im.shape[:2] + (n_classes,)
        assert np.isfinite(p).all()
        np.testing.assert_allclose(p.sum(axis=-1), 1.0, atol=1e-5)


@pytest.fixture(scope="module")
def shapes():
    from chm.datasets import sample_sparse_labels
    from chm.synthetic import make_shapes

    images, masks = make_shapes(3, (32, 40), random_state=0)
    return images, sample_sparse_labels(masks, 40, random_state=0)


def _tiny_chm():
    from chm.estimator import CHM

    bank = features.FilterBank([features.GaussianFilter((1, 2)), features.GradientMagnitude((1,)),
                                features.StructureTensorEigenvalues(1, (2,))])
    return CHM(n_levels=2, epochs=2, downscale=1, bank=bank, context_radii=(1, 2), batch_images=2,
               random_state=0)


@pytest.fixture(scope="module")
def chm_model(shapes):
    images, sparse = shapes
    return _tiny_chm().fit(images, sparse)


@pytest.mark.parametrize("scale", SCALES)
def test_chm_predicts_finite_maps_on_huge_images(shapes, chm_model, scale):
    images, _ = shapes
    big = [_scaled(im, scale) for im in images]
    _check_maps(chm_model.predict_proba(big), big, len(chm_model.classes_))


@pytest.mark.parametrize("scale", SCALES)
def test_chm_fits_on_huge_images(shapes, scale):
    images, sparse = shapes
    big = [_scaled(im, scale) for im in images]
    model = _tiny_chm().fit(big, sparse)
    _check_maps(model.predict_proba(big), big, len(model.classes_))


@pytest.fixture(scope="module")
def convnet_data():
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:24, :24]
    images, sparse = [], []
    for k in range(2):
        mask = ((yy - 12) ** 2 + (xx - 10 - 2 * k) ** 2 < 40).astype(np.int64)
        images.append((0.2 + 0.6 * mask + 0.05 * rng.standard_normal(mask.shape)).astype(np.float32))
        labels = np.full_like(mask, -1)
        picked = rng.choice(mask.size, 12, replace=False)
        labels.flat[picked] = mask.flat[picked]
        labels[12, 10], labels[0, 0] = 1, 0
        sparse.append(labels)
    return images, sparse


def _tiny_convnet():
    from chm.convnet import ConvNetSegmenter

    return ConvNetSegmenter(tv_weight=0.0, width=4, hidden=8, downscale=1, n_jobs=1, device="cpu",
                            random_state=0)


@pytest.mark.convnet
@pytest.mark.parametrize("scale", SCALES)
def test_convnet_on_huge_images(convnet_data, scale):
    images, sparse = convnet_data
    big = [_scaled(im, scale) for im in images]
    model = _tiny_convnet().fit(images, sparse)
    _check_maps(model.predict_proba(big), big, 2)  # far outside the training range
    model = _tiny_convnet().fit(big, sparse)
    _check_maps(model.predict_proba(big), big, 2)


def test_float64_images_beyond_the_float32_range_are_named():
    with pytest.raises(ValueError, match="beyond the float32 range"):
        features.extract_features(np.full((8, 8), 1e300))


# ---------------------------------------------------------------------------
# ConvNet building blocks
# ---------------------------------------------------------------------------
def test_convnet_standardise_is_exact_and_finite():
    pytest.importorskip("torch")
    from chm.convnet._runtime import INPUT_MAX, _standardise

    rng = np.random.default_rng(0)
    mean, std = np.float32([0.4, -0.2, 0.1]), np.float32([0.2, 0.3, 0.25])
    x = rng.random((5, 6, 3), dtype=np.float32)
    np.testing.assert_array_equal(_standardise(x, mean, std), (x - mean) / std)  # same bits
    huge = _scaled(x, 3e38)
    out = _standardise(huge, mean, std)
    assert out.dtype == np.float32 and np.isfinite(out).all() and np.abs(out).max() == INPUT_MAX
    # x - mean overflows float32 here, the standardised values do not
    wide_mean, wide_std = np.float32([-FLOAT32_MAX]), np.float32([FLOAT32_MAX])
    edge = np.full((2, 2, 1), FLOAT32_MAX, np.float32)
    np.testing.assert_allclose(_standardise(edge, wide_mean, wide_std), 2.0)


def test_convnet_lrn_is_finite_for_huge_activations():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from chm.convnet.network import LRN_ALPHA, LRN_BETA, LRN_K, LRN_SIZE, PatchNet

    net = PatchNet(2, 1, width=6, hidden=4)
    x = torch.rand(1, 6, 3, 4)
    reference = F.local_response_norm(x, LRN_SIZE, alpha=LRN_ALPHA, beta=LRN_BETA, k=LRN_K)
    torch.testing.assert_close(net._lrn(x), reference)
    for scale in (1e20, 1e30, 3e38):
        out = net._lrn(x * scale)
        assert torch.isfinite(out).all() and out.abs().max() < 1e-5
    assert torch.isfinite(net._lrn(torch.full((1, 6, 2, 2), float("inf")))).all()
