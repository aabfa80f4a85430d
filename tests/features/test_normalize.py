import pickle

import numpy as np
import pytest

from features import FeatureNormalizer


def test_zero_mean_unit_std_on_training_data(rng):
    X = rng.normal(loc=[3, -2, 100], scale=[0.5, 4, 20], size=(500, 3))
    norm = FeatureNormalizer().fit(X)
    assert norm.mean_.dtype == np.float32 and norm.scale_.dtype == np.float32
    np.testing.assert_allclose(norm.mean_, X.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(norm.scale_, X.std(axis=0), rtol=1e-6)
    Z = norm.transform(X)
    assert Z.dtype == np.float32 and Z.shape == X.shape
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(Z.std(axis=0), 1, atol=1e-5)
    np.testing.assert_allclose(norm.inverse_transform(Z), X, rtol=1e-5)
    assert norm.n_features_in_ == 3 and norm.n_samples_seen_ == 500


def test_constant_features_get_unit_scale(rng):
    X = np.column_stack([np.full(50, 7.0), rng.random(50), np.zeros(50)]).astype(np.float32)
    norm = FeatureNormalizer().fit(X)
    assert norm.scale_[0] == 1 and norm.scale_[2] == 1
    Z = norm.transform(X)
    np.testing.assert_array_equal(Z[:, 0], 0)
    np.testing.assert_array_equal(Z[:, 2], 0)
    assert np.isfinite(Z).all()


def test_list_of_stacks_equals_concatenated_pixels(rng):
    stacks = [rng.random((4, 5, 6)).astype(np.float32) * 3 + 1, rng.random((7, 3, 6)).astype(np.float32)]
    pixels = np.concatenate([s.reshape(-1, 6) for s in stacks])
    a = FeatureNormalizer().fit(stacks)
    b = FeatureNormalizer().fit(pixels)
    np.testing.assert_allclose(a.mean_, b.mean_, rtol=1e-6)
    np.testing.assert_allclose(a.scale_, b.scale_, rtol=1e-6)
    out = a.transform(stacks[0])  # (..., F) works on (H, W, F)
    assert out.shape == (4, 5, 6) and out.dtype == np.float32
    np.testing.assert_allclose(out, (stacks[0] - a.mean_) / a.scale_, rtol=1e-6)
    both = FeatureNormalizer().fit_transform(stacks)
    assert [s.shape for s in both] == [(4, 5, 6), (7, 3, 6)]


def test_transform_in_place_and_pickle(rng):
    X = rng.random((20, 4)).astype(np.float32)
    norm = FeatureNormalizer().fit(X)
    expected = norm.transform(X)
    Y = X.copy()
    out = norm.transform(Y, copy=False)
    assert out is Y
    np.testing.assert_allclose(Y, expected, rtol=1e-6)
    clone = pickle.loads(pickle.dumps(norm))
    np.testing.assert_array_equal(clone.transform(X), expected)
    np.testing.assert_array_equal(FeatureNormalizer().fit_transform(X), expected)


def test_errors():
    with pytest.raises(RuntimeError, match="fit"):
        FeatureNormalizer().transform(np.zeros((2, 3)))
    norm = FeatureNormalizer().fit(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="3"):
        norm.transform(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="inconsistent"):
        FeatureNormalizer().fit([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError):
        FeatureNormalizer().fit([])
    with pytest.raises(ValueError):
        FeatureNormalizer().fit(np.zeros((0, 3)))
