"""Tiled prediction: receptive field, windows, and tiles stitched like the whole image."""
import doctest

import numpy as np
import pytest

import features
from chm import CHM
from chm import tiling
from chm.datasets import sample_sparse_labels
from chm.plan import build_plan
from chm.synthetic import make_shapes
from chm.tiling import filter_support, receptive_field, tile_windows


def test_docstring_examples_run():
    assert doctest.testmod(tiling).failed == 0


def test_filter_support_is_measured_exactly():
    # scipy truncates Gaussians at 4 sigma; a context stencil reaches its largest radius
    assert filter_support(features.GaussianFilter(sigmas=(2,))) == 8
    assert filter_support(features.GaussianFilter(sigmas=(1, 3))) == 12
    assert filter_support(features.ContextFilter(radii=(1, 3))) == 3
    assert filter_support(features.ContextFilter(radii=(2,), n_channels=3), n_channels=3) == 2


def test_receptive_field_of_a_single_unit_and_its_growth():
    one = build_plan(1, 1, set())  # level 0 (features only), then top-down reading it
    # unit 0: 1 * (8 + 1) = 9; top-down: 9 + 1 * 2 + 1 = 12 working px; input: 12 * 1 + 0 + 1, + 1
    assert receptive_field(one, 8, 2, 1.0) == 14
    fields = [receptive_field(build_plan(n, 1, set()), 32, 8, 2.0) for n in (1, 2, 3, 4)]
    assert fields == sorted(fields) and len(set(fields)) == 4
    assert receptive_field(build_plan(2, 2, set()), 32, 8, 2.0) > fields[1]


@pytest.mark.parametrize("shape,tile,halo,align", [((100, 70), 32, 10, 8), ((17, 90), 16, 5, 1),
                                                   ((64, 64), 64, 3, 4), ((50, 51), 200, 9, 2)])
def test_tiles_cover_every_pixel_once(shape, tile, halo, align):
    count = np.zeros(shape, int)
    for window, crop in tile_windows(shape, tile, halo, align):
        assert window[0].start % align == 0 and window[1].start % align == 0
        rows = np.arange(shape[0])[window[0]][crop[0]]
        cols = np.arange(shape[1])[window[1]][crop[1]]
        count[np.ix_(rows, cols)] += 1
        for ax, (w, c) in enumerate(zip(window, crop)):  # the halo is there unless clipped
            assert c.start >= min(halo, w.start + c.start) and w.stop - w.start - c.stop >= min(
                halo, shape[ax] - (w.start + c.stop))
    assert (count == 1).all()


@pytest.fixture(scope="module")
def model():
    images, masks = make_shapes(4, (64, 80), random_state=0)
    return CHM(n_levels=3, epochs=2, context_cv=2, random_state=0,
               bank=features.FilterBank([features.GaussianFilter((1, 2)), features.DoGFilter((1, 2))]),
               ).fit(images, sample_sparse_labels(masks, 30, random_state=0))


def test_receptive_field_is_fitted(model):
    bank = filter_support(model.bank_)
    assert model.receptive_field_ == receptive_field(
        model.plan_, bank, filter_support(model.context_filter_), 2.0)
    assert model.receptive_field_ > 4 * bank  # the coarse levels see far


def test_tiled_prediction_equals_whole_image(model):
    image = make_shapes(1, (296, 408), random_state=1)[0]
    whole = model.predict_proba(image)[0]
    tiled = model.predict_proba(image, tile_size=96)[0]
    assert tiled.dtype == np.float32 and tiled.shape == whole.shape
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    labels = model.predict(image, tile_size=96)[0]
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, model.predict(image)[0])


@pytest.mark.parametrize("shape", [(301, 250), (97, 333)])
def test_tiled_prediction_equals_whole_image_at_any_size(model, shape):
    # images are padded to whole pixels of the coarsest level, tiles and whole images alike
    image = make_shapes(1, shape, random_state=2)[0]
    np.testing.assert_allclose(model.predict_proba(image, tile_size=64)[0],
                               model.predict_proba(image)[0], atol=1e-5)


def test_tiny_tile_size_rejected(model):
    with pytest.raises(ValueError, match="tile_size"):
        model.predict_proba(make_shapes(1, (40, 40))[0], tile_size=4)


@pytest.mark.parametrize("args", [((16, 58), 8, 0.95, 8), ((16, 58), 0, 2, 1), ((16.0, 5), 8, 2, 1),
                                  ((16, 58), 8, 2, True), ((4,), 8, 2, 1)])
def test_tile_windows_rejects_non_integers(args):
    with pytest.raises(ValueError, match="must be"):
        list(tile_windows(*args))


def test_freed_memory_is_released_after_every_tile(model, monkeypatch):
    import chm.estimator
    from chm.tiling import tile_windows
    calls = []
    monkeypatch.setattr(chm.estimator, "release_freed_memory", lambda: calls.append(1))
    image = make_shapes(1, (296, 408), random_state=1)[0]
    model.predict(image, tile_size=96)
    n_tiles = len(list(tile_windows(image[0].shape[:2], 96, model.receptive_field_, model.plan_.step)))
    assert n_tiles > 1 and len(calls) == n_tiles


def test_release_freed_memory_runs_here():
    from chm._runtime import release_freed_memory
    release_freed_memory()  # glibc's malloc_trim, or nothing where there is none


def test_prediction_drops_each_level_s_features_after_its_last_unit(model):
    image = make_shapes(1, (64, 80), random_state=3)[0]
    feats = model._image_features(image, model.plan_)
    seen = []
    original = model._unit_inputs

    def spy(spec, plan, feats_, outputs):
        seen.append([f is None for f in feats_[0]])
        return original(spec, plan, feats_, outputs)

    model._unit_inputs = spy
    try:
        maps = model._predict_walk(feats)
    finally:
        del model._unit_inputs
    levels = [spec.level for spec in model.plan_]
    assert levels == [0, 1, 2, 0]
    # before the top-down unit (level 0) the features of levels 1 and 2 are gone, not level 0's
    assert seen[-1] == [False, True, True]
    assert all(f is None for f in feats[0])
    np.testing.assert_allclose(maps[0], model._predict_walk(model._image_features(image, model.plan_))[0])
