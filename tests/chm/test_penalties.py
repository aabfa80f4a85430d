"""Tests of the unsupervised spatial penalties (paper eqs. 2-6, 8 and 15)."""
import numpy as np
import pytest

from chm.penalties import (
    SOBEL_X,
    SOBEL_Y,
    Penalty,
    QuadraticVariation,
    TotalVariation,
    benchmark_tv,
    get_penalty,
    sobel_responses,
    tv_subgradient,
    tv_subgradient_reference,
    tv_value,
    tv_value_and_subgradient,
    tv_value_reference,
)

SHAPES = [(3, 3), (4, 4), (5, 9), (9, 5), (17, 23), (64, 48), (3, 3, 2), (6, 11, 3), (20, 13, 8)]


def _loop_tv(f):
    """Literal transcription of eq. 8 and eq. 15 (explicit loops, float64)."""
    f = np.asarray(f, np.float64)
    H, W = f.shape
    value = 0.0
    grad = np.zeros((H, W))
    for i in range(1, H - 1):
        for j in range(1, W - 1):
            patch = f[i - 1 : i + 2, j - 1 : j + 2]
            gx = float((SOBEL_X * patch).sum())
            gy = float((SOBEL_Y * patch).sum())
            value += abs(gx) + abs(gy)
            grad[i - 1 : i + 2, j - 1 : j + 2] += np.sign(gx) * SOBEL_X + np.sign(gy) * SOBEL_Y
    return value, grad


def test_sobel_masks():
    assert SOBEL_X.dtype == np.float32 and SOBEL_Y.dtype == np.float32
    np.testing.assert_array_equal(SOBEL_X, [[-1, -2, -1], [0, 0, 0], [1, 2, 1]])
    np.testing.assert_array_equal(SOBEL_Y, SOBEL_X.T)


@pytest.mark.parametrize("shape", SHAPES)
def test_kernel_matches_reference(shape, rng):
    prob = rng.random(shape, dtype=np.float32)
    value = tv_value(prob)
    grad = tv_subgradient(prob)
    assert isinstance(value, float)
    assert grad.dtype == np.float32 and grad.shape == prob.shape
    assert value == pytest.approx(tv_value_reference(prob), rel=1e-6)
    np.testing.assert_array_equal(grad, tv_subgradient_reference(prob))
    fused_value, fused_grad = tv_value_and_subgradient(prob)
    assert fused_value == pytest.approx(value, rel=1e-6)
    np.testing.assert_array_equal(fused_grad, grad)


@pytest.mark.parametrize("shape", [(3, 3), (5, 7), (8, 6)])
def test_reference_matches_literal_equations(shape, rng):
    # quantised values keep the Sobel responses exact, so the signs agree
    prob = (rng.integers(0, 8, size=shape) / 8).astype(np.float32)
    value, grad = _loop_tv(prob)
    assert tv_value(prob) == pytest.approx(value, abs=1e-9)
    np.testing.assert_array_equal(tv_subgradient(prob), grad.astype(np.float32))


def test_channels_are_summed(rng):
    prob = rng.random((10, 12, 3), dtype=np.float32)
    per_channel = [tv_value(prob[:, :, c]) for c in range(3)]
    assert tv_value(prob) == pytest.approx(sum(per_channel), rel=1e-6)
    grad = tv_subgradient(prob)
    for c in range(3):
        np.testing.assert_array_equal(grad[:, :, c], tv_subgradient(prob[:, :, c]))


def _fd_gradient(fn, prob, h):
    grad = np.zeros(prob.shape, np.float64)
    for idx in np.ndindex(prob.shape):
        up = prob.copy()
        down = prob.copy()
        up[idx] += h
        down[idx] -= h
        grad[idx] = (fn(up) - fn(down)) / (2 * h)
    return grad


@pytest.mark.parametrize("shape", [(5, 6), (4, 5, 2)])
def test_subgradient_matches_finite_differences_away_from_kinks(shape):
    h = 1e-3
    rng = np.random.default_rng(1)
    for _ in range(1000):
        prob = rng.random(shape).astype(np.float32)
        gx, gy = sobel_responses(prob)
        # a step of h moves a response by at most 4h: stay clear of |.|'s kink
        if min(np.abs(gx).min(), np.abs(gy).min()) > 0.05:
            break
    else:  # pragma: no cover
        pytest.fail("no random map away from kinks found")
    numeric = _fd_gradient(tv_value, prob, h)
    np.testing.assert_allclose(tv_subgradient(prob), numeric, atol=2e-2)


def test_step_edge_exact_value_and_gradient():
    H, W, c0 = 9, 12, 6
    prob = np.zeros((H, W), np.float32)
    prob[:, c0:] = 1.0
    # gx = 0 everywhere; gy = 4 at the valid columns c0 - 1 and c0 of every valid row
    assert tv_value(prob) == pytest.approx(8.0 * (H - 2))
    assert tv_value_reference(prob) == pytest.approx(8.0 * (H - 2))
    grad = tv_subgradient(prob)
    expected_row = np.zeros(W, np.float32)
    expected_row[[c0 - 2, c0 - 1]] = -4.0
    expected_row[[c0, c0 + 1]] = 4.0
    for r in range(2, H - 2):
        np.testing.assert_array_equal(grad[r], expected_row)
    # flat interior far from the edge: exactly zero
    assert np.all(grad[:, : c0 - 2] == 0)
    assert np.all(grad[:, c0 + 2 :] == 0)
    # the transposed edge gives the same penalty and the transposed gradient
    assert tv_value(prob.T) == pytest.approx(tv_value(prob))
    np.testing.assert_array_equal(tv_subgradient(np.ascontiguousarray(prob.T)), grad.T)


@pytest.mark.parametrize("shape", [(7, 5), (6, 6, 3)])
def test_constant_map_has_zero_value_and_exactly_zero_subgradient(shape):
    prob = np.full(shape, 0.37, np.float32)
    assert tv_value(prob) == 0.0
    assert tv_value_reference(prob) == 0.0
    grad = tv_subgradient(prob)
    assert np.all(grad == 0)
    assert np.all(tv_subgradient_reference(prob) == 0)


def test_sign_of_zero_response_is_zero():
    # a vertical ramp: gy = 0 exactly, gx = 8 * step > 0 everywhere
    prob = np.repeat(np.arange(6, dtype=np.float32)[:, None] * 0.125, 5, axis=1)
    gx, gy = sobel_responses(prob)
    assert np.all(gy == 0) and np.all(gx > 0)
    # sign(0) = 0: only sign(gx) * SOBEL_X contributes
    expected, _ = _loop_tv(prob)
    assert tv_value(prob) == pytest.approx(expected)
    grad = tv_subgradient(prob)
    np.testing.assert_array_equal(grad, _loop_tv(prob)[1].astype(np.float32))
    # SOBEL_X is left-right symmetric, so without a sign(gy) term so is the gradient
    np.testing.assert_array_equal(grad, grad[:, ::-1])
    assert grad.any()


@pytest.mark.parametrize("shape", [(2, 2), (2, 7), (7, 2), (1, 1), (0, 4), (2, 5, 3)])
def test_maps_smaller_than_3x3(shape):
    prob = np.ones(shape, np.float32)
    assert tv_value(prob) == 0.0
    grad = tv_subgradient(prob)
    assert grad.shape == shape and grad.dtype == np.float32 and not grad.any()
    assert tv_value_reference(prob) == 0.0
    assert not tv_subgradient_reference(prob).any()


def test_input_dtype_and_immutability(rng):
    prob64 = rng.random((8, 9))
    before = prob64.copy()
    grad = tv_subgradient(prob64)
    assert grad.dtype == np.float32
    np.testing.assert_array_equal(prob64, before)
    np.testing.assert_array_equal(grad, tv_subgradient(prob64.astype(np.float32)))
    # non-contiguous input
    big = rng.random((20, 20), dtype=np.float32)
    view = big[::2, 1::2]
    np.testing.assert_array_equal(tv_subgradient(view), tv_subgradient(view.copy()))
    assert tv_value(view) == tv_value(view.copy())


def test_repeated_calls_identical(rng):
    prob = rng.random((50, 40, 2), dtype=np.float32)
    v1, g1 = tv_value_and_subgradient(prob)
    v2, g2 = tv_value_and_subgradient(prob)
    assert v1 == v2
    np.testing.assert_array_equal(g1, g2)


@pytest.mark.parametrize(
    "fn", [tv_value, tv_subgradient, tv_value_reference, tv_subgradient_reference]
)
def test_invalid_maps(fn):
    with pytest.raises(ValueError, match="shape"):
        fn(np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="shape"):
        fn(np.zeros((3, 3, 3, 3), np.float32))
    bad = np.zeros((4, 4), np.float32)
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        fn(bad)
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        fn(bad)


# ---------------------------------------------------------------------------
# penalty objects
# ---------------------------------------------------------------------------
def test_penalty_is_abstract():
    with pytest.raises(TypeError):
        Penalty()


def test_total_variation_object(rng):
    prob = rng.random((12, 10, 2), dtype=np.float32)
    tv = TotalVariation()
    assert tv.value(prob) == tv_value(prob)
    np.testing.assert_array_equal(tv.gradient(prob), tv_subgradient(prob))
    value, grad = tv.value_and_gradient(prob)
    assert value == pytest.approx(tv_value(prob))
    np.testing.assert_array_equal(grad, tv_subgradient(prob))
    assert repr(tv) == "TotalVariation()"


def test_quadratic_variation_value(rng):
    prob = rng.random((7, 8, 2), dtype=np.float32)
    gx, gy = sobel_responses(prob)
    qv = QuadraticVariation()
    assert qv.value(prob) == pytest.approx(float((gx.astype(float) ** 2).sum() + (gy.astype(float) ** 2).sum()))
    assert qv.value(np.full((5, 5), 0.2, np.float32)) == 0.0
    assert repr(qv) == "QuadraticVariation()"
    value, grad = qv.value_and_gradient(prob)
    assert value == pytest.approx(qv.value(prob))
    np.testing.assert_array_equal(grad, qv.gradient(prob))


@pytest.mark.parametrize("shape", [(5, 6), (4, 5, 2), (3, 3)])
def test_quadratic_variation_gradient_finite_differences(shape, rng):
    prob = rng.random(shape).astype(np.float32)
    qv = QuadraticVariation()
    grad = qv.gradient(prob)
    assert grad.dtype == np.float32 and grad.shape == prob.shape
    numeric = _fd_gradient(qv.value, prob, 1e-2)
    np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=2e-2)


def test_custom_penalty_plugs_in():
    class Mean(Penalty):
        def value(self, prob):
            return float(np.mean(prob))

        def gradient(self, prob):
            return np.full(np.shape(prob), 1.0 / np.size(prob), np.float32)

    pen = get_penalty(Mean())
    value, grad = pen.value_and_gradient(np.ones((2, 2), np.float32))
    assert value == 1.0 and grad.shape == (2, 2)
    assert repr(pen) == "Mean()"


def test_custom_guided_penalty_gets_its_guide_cropped_like_the_map():
    """A guided penalty receives, at every step, the crop of its guide taken where the map was."""
    from chm.classifiers import make_stage, train_stage

    rng = np.random.RandomState(0)
    images = [rng.random_sample((20, 24)).astype(np.float32) for _ in range(3)]
    maps = [np.dstack([im, im ** 2]) for im in images]
    labels = [np.where(rng.random_sample((20, 24)) < 0.2, rng.randint(0, 2, (20, 24)), -1)
              for _ in images]
    clf = make_stage("logistic", 2)
    seen = []

    class Probe(Penalty):
        guided = True

        def guide(self, image):
            return np.asarray(image, np.float32)[..., None]

        def value(self, prob, guide=None):
            # where the guide crop lies, and the classifier's map of the features there
            (i, r, c), = [(i, r, c) for i, im in enumerate(images) for r in range(13)
                          for c in range(17) if np.array_equal(guide[..., 0], im[r:r + 8, c:c + 8])]
            window = maps[i][r:r + 8, c:c + 8].reshape(-1, 2)
            seen.append(np.allclose(prob, clf.forward(window)[0][:, 1].reshape(8, 8)))
            return 0.0

        def gradient(self, prob, guide=None):
            return np.zeros(np.shape(prob), np.float32)

    pen = Probe()
    train_stage(clf, maps, labels, penalty=pen, tv_weight=1.0, epochs=2, batch_images=2, crop=8,
                guides=[pen.guide(im) for im in images], rng=np.random.RandomState(1))
    assert seen == [True] * 6  # two epochs of three images, each map and guide from one window


def test_get_penalty():
    assert isinstance(get_penalty("tv"), TotalVariation)
    assert isinstance(get_penalty("TV"), TotalVariation)
    assert isinstance(get_penalty("total_variation"), TotalVariation)
    assert isinstance(get_penalty("quadratic"), QuadraticVariation)
    assert get_penalty(None) is None
    tv = TotalVariation()
    assert get_penalty(tv) is tv
    with pytest.raises(ValueError, match="unknown penalty 'l2'"):
        get_penalty("l2")
    with pytest.raises(TypeError, match="Penalty instance"):
        get_penalty(3)


def test_benchmark_tv_smoke():
    result = benchmark_tv(shape=(40, 30), repeats=3)
    assert result["shape"] == (40, 30) and result["repeats"] == 3
    for key in ("numba_s", "numpy_s", "fused_s", "speedup"):
        assert result[key] > 0
    assert result["speedup"] == pytest.approx(result["numpy_s"] / result["numba_s"])


@pytest.mark.parametrize("fn", [tv_value, lambda p: QuadraticVariation().value_and_gradient(p)])
def test_maps_far_outside_the_probability_range_are_rejected(fn):
    huge = np.where(np.indices((6, 6)).sum(axis=0) % 2, 3e38, -3e38).astype(np.float32)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fn(huge)
