"""Tiled prediction with dask: equal to the untiled prediction, locally and on a cluster."""
import numpy as np
import pytest
import tifffile
import zarr

import chm
from chm import CHM, cli, scale_out
from chm.baselines import ForestSegmenter
from chm.synthetic import make_shapes


@pytest.fixture(scope="module")
def forest():
    images, masks = make_shapes(n_images=2, shape=(40, 48), random_state=0)
    return ForestSegmenter(n_estimators=5, sigma_max=2, random_state=0).fit(images, masks)


@pytest.fixture(scope="module")
def image():
    return make_shapes(n_images=1, shape=(90, 110), random_state=3)[0][0]


def test_forest_tiles_equal_untiled(forest, image):
    lazy = scale_out.predict_proba(forest, image, tile_size=16)
    # 16-pixel tiles, halo 11: 90 rows = 5 x 16 + 10 (under the halo: merged), 110 = 6 x 16 + 14
    assert lazy.chunks[:2] == ((16, 16, 16, 16, 26), (16,) * 6 + (14,))
    np.testing.assert_array_equal(lazy.compute(), forest.predict_proba([image])[0])
    np.testing.assert_array_equal(scale_out.predict(forest, image, tile_size=16).compute(),
                                  forest.predict([image])[0])


def test_too_small_halo_changes_the_result(forest, image):
    # the halo is what makes the tiles agree: with none they differ near tile edges
    tiled = scale_out.predict_proba(forest, image, tile_size=16, depth=0).compute()
    assert not np.array_equal(tiled, forest.predict_proba([image])[0])


def test_rgb_and_integer_zarr_input(tmp_path):
    images, masks = make_shapes(n_images=2, shape=(40, 44), color=True, random_state=1)
    model = ForestSegmenter(n_estimators=5, sigma_max=2, random_state=0).fit(images, masks)
    pixels = np.round(images[0] * 255).astype(np.uint8)
    store = zarr.open(str(tmp_path / "rgb.zarr"), mode="w", shape=pixels.shape,
                      dtype=np.uint8, chunks=(16, 16, 3))
    store[...] = pixels
    tiled = scale_out.predict_proba(model, store, tile_size=16).compute()
    np.testing.assert_array_equal(tiled, model.predict_proba([pixels / np.float32(255)])[0])


def test_chm_tiles_with_its_receptive_field():
    images, masks = make_shapes(n_images=3, shape=(40, 48), random_state=0)
    model = CHM(n_levels=2, epochs=2, context_cv=None, random_state=0).fit(images, masks)
    # a size on the 4-pixel grid of the pyramid (n_levels=2, downscale=2): for other sizes the
    # whole image's pyramid resamples by a factor slightly off 2, which no tiling reproduces
    big = make_shapes(n_images=1, shape=(332, 340), random_state=1)[0][0]
    lazy = scale_out.predict_proba(model, big, tile_size=64)
    assert scale_out.halo(model) == model.receptive_field_
    assert lazy.numblocks[:2] == (2, 2)  # tiles widen to the halo (157 -> 160, 4-pixel grid)
    whole = model.predict_proba([big])[0]
    tiled = lazy.compute()
    # equal up to float32 rounding: the FFT-based filters of the bank round differently
    # on a window than on the whole image (differences of a few ulps)
    np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(tiled.argmax(axis=-1), whole.argmax(axis=-1))


def test_grid_step_and_halo_fallback(forest):
    assert scale_out.grid_step(CHM(n_levels=4, downscale=2)) == 16
    assert scale_out.grid_step(CHM(n_levels=2, downscale=1.5)) == 3
    assert scale_out.grid_step(forest) == 1
    assert scale_out.halo(forest) == 4 * 2 + 3
    assert scale_out.halo(object()) == scale_out.FALLBACK_HALO


def test_bad_image_shape(forest):
    with pytest.raises(ValueError, match=r"\(H, W\) or \(H, W, 3\)"):
        scale_out.predict_proba(forest, np.zeros((10, 10, 2), np.float32))


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local:
        with distributed.Client(local) as client:
            yield local, client


def test_distributed_equals_local(cluster, forest, image):
    local, client = cluster
    lazy = scale_out.predict_proba(forest, image, tile_size=32)
    on_cluster = client.compute(lazy, sync=True)
    np.testing.assert_array_equal(on_cluster, lazy.compute(scheduler="threads"))
    np.testing.assert_array_equal(on_cluster, forest.predict_proba([image])[0])
    workers = client.run(lambda: True)
    assert len(workers) == 2


def test_cli_predict_with_scheduler(cluster, forest, image, tmp_path):
    local, _ = cluster
    model = tmp_path / "forest.chm"
    chm.save(forest, model)
    tifffile.imwrite(tmp_path / "big.tif", image)
    for name, extra in (("here", []), ("there", ["--scheduler", local.scheduler_address])):
        assert cli.main(["predict", str(model), str(tmp_path / "big.tif"), "--out",
                         str(tmp_path / name), "--proba", "--tile-size", "32", "--quiet"]
                        + extra) == 0
    for suffix in (".tif", "_proba.tif"):
        np.testing.assert_array_equal(tifffile.imread(tmp_path / "there" / f"big{suffix}"),
                                      tifffile.imread(tmp_path / "here" / f"big{suffix}"))
