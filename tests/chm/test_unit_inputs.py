"""Unit inputs built on request equal the whole (H, W, D) input array."""
import numpy as np
import pytest

from chm.unit_inputs import UnitInputs, input_row_range, input_rows, normalized
from features import ContextFilter, FeatureNormalizer


def _whole(features, maps, context_filter):
    return np.concatenate([features] + [context_filter(m) for m in maps], axis=-1)


@pytest.fixture(params=[False, True], ids=["samples", "box means"])
def case(request):
    rng = np.random.RandomState(0)
    features = rng.standard_normal((13, 17, 5)).astype(np.float32)
    maps = [rng.random_sample((13, 17)).astype(np.float32) for _ in range(2)]
    cf = ContextFilter(radii=(1, 3, 6), average=request.param)
    whole = _whole(features, maps, cf)
    norm = FeatureNormalizer().fit(whole)
    inputs = UnitInputs(features, [cf.extend(m) for m in maps], cf)
    return inputs, whole, norm


def test_context_windows_and_points_equal_the_filter_output(case):
    inputs, whole, _ = case
    cf = inputs.context_filter
    rng = np.random.RandomState(1)
    m = rng.random_sample((9, 11)).astype(np.float32)
    ref = cf(m)
    source = cf.extend(m)
    out = np.empty((4, 5, cf.n_features), np.float32)
    np.testing.assert_array_equal(cf.sample_window(source, slice(2, 6), slice(3, 8), out),
                                  ref[2:6, 3:8])
    r, c = rng.randint(0, 9, 20), rng.randint(0, 11, 20)
    pts = cf.sample_points(source, r, c, np.empty((20, cf.n_features), np.float32))
    np.testing.assert_array_equal(pts, ref[r, c])


def test_raw_row_range_splits_features_and_context(case):
    inputs, whole, norm = case
    flat = whole.reshape(-1, whole.shape[-1])
    n_feat = inputs.features.shape[-1]
    for start, stop in [(0, flat.shape[0]), (5, 40), (17, 34), (200, 221), (220, 221)]:
        features, context = inputs.normalized(norm).raw_row_range(start, stop)  # never normalised
        np.testing.assert_array_equal(features, flat[start:stop, :n_feat])
        np.testing.assert_array_equal(context, flat[start:stop, n_feat:])
        assert np.shares_memory(features, inputs.features)  # a view, not a copy


def test_every_view_equals_the_whole_array(case):
    inputs, whole, norm = case
    assert inputs.shape == whole.shape
    np.testing.assert_array_equal(inputs.full(), whole)
    np.testing.assert_array_equal(inputs[3:9, 2:15], whole[3:9, 2:15])
    idx = np.random.RandomState(2).choice(whole.shape[0] * whole.shape[1], 30, replace=False)
    flat = whole.reshape(-1, whole.shape[-1])
    np.testing.assert_array_equal(input_rows(inputs, idx), flat[idx])
    mask = np.zeros(len(flat), bool)
    mask[idx] = True
    np.testing.assert_array_equal(input_rows(inputs, mask), flat[mask])
    for start, stop in [(0, 5), (16, 40), (20, len(flat)), (33, 34)]:
        np.testing.assert_array_equal(input_row_range(inputs, start, stop), flat[start:stop])


def test_normalised_views_equal_the_normalised_whole_array_bit_for_bit(case):
    inputs, whole, norm = case
    ref = norm.transform(whole.copy(), copy=False)   # in place, as the estimator once did
    z = normalized(inputs, norm)
    assert inputs.normalizer is None                 # the raw inputs are unchanged
    np.testing.assert_array_equal(z.full(), ref)
    np.testing.assert_array_equal(z[1:4, 5:9], ref[1:4, 5:9])
    np.testing.assert_array_equal(input_rows(z, [0, 7, 200]),
                                  ref.reshape(-1, ref.shape[-1])[[0, 7, 200]])
    np.testing.assert_array_equal(normalized(whole, norm), ref)   # plain arrays too
    assert input_rows(whole, [3]).shape == (1, whole.shape[-1])
