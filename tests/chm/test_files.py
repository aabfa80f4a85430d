"""Image and label files: formats, scaling, axes, path expansion, atomic writers."""
import os

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
import zarr
from PIL import Image

from chm import files
from chm.files import FileError


def test_png_uint8_scaled_by_dtype_range(tmp_path):
    data = np.array([[0, 51, 102], [153, 204, 10]], np.uint8)
    iio.imwrite(tmp_path / "a.png", data)
    image = files.read_image(tmp_path / "a.png")
    assert image.dtype == np.float32 and image.shape == (1, 2, 3)
    np.testing.assert_allclose(image[0], data / 255.0, rtol=1e-6)


def test_16bit_tiff_scaled_by_dtype_not_image_max(tmp_path):
    data = np.array([[0, 1000], [500, 250]], np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", data)
    image = files.read_image(tmp_path / "a.tif")[0]
    np.testing.assert_allclose(image, data / 65535.0, rtol=1e-6)
    assert image.max() < 0.02  # not stretched to the image's own maximum


def test_16bit_png_and_signed_tiff(tmp_path):
    iio.imwrite(tmp_path / "a.png", np.array([[0, 65535], [32768, 1]], np.uint16))
    np.testing.assert_allclose(files.read_image(tmp_path / "a.png")[0],
                               [[0, 1], [32768 / 65535, 1 / 65535]], rtol=1e-6)
    tifffile.imwrite(tmp_path / "s.tif", np.array([[-32768, 32767], [0, -1]], np.int16))
    np.testing.assert_allclose(files.read_image(tmp_path / "s.tif")[0],
                               [[0, 1], [32768 / 65535, 32767 / 65535]], rtol=1e-6)


def test_float_tiff_kept(tmp_path):
    data = np.array([[-0.5, 2.0], [0.25, 7.0]], np.float64)
    tifffile.imwrite(tmp_path / "f.tif", data)
    image = files.read_image(tmp_path / "f.tif")
    assert image.dtype == np.float32
    np.testing.assert_array_equal(image[0], data.astype(np.float32))


def test_float_with_nan_names_file(tmp_path):
    tifffile.imwrite(tmp_path / "n.tif", np.array([[0.0, np.nan], [1, 2]], np.float32))
    with pytest.raises(FileError, match=r"n\.tif: holds NaN"):
        files.read_image(tmp_path / "n.tif")


def test_rgba_and_grey_alpha_png_drop_alpha(tmp_path):
    rgba = np.random.RandomState(0).randint(0, 256, (5, 6, 4)).astype(np.uint8)
    iio.imwrite(tmp_path / "rgba.png", rgba)
    image = files.read_image(tmp_path / "rgba.png")
    assert image.shape == (1, 5, 6, 3)
    np.testing.assert_allclose(image[0], rgba[..., :3] / 255.0, rtol=1e-6)
    Image.fromarray(rgba[..., :2], mode="LA").save(tmp_path / "la.png")
    grey = files.read_image(tmp_path / "la.png")
    assert grey.shape == (1, 5, 6)
    np.testing.assert_allclose(grey[0], rgba[..., 0] / 255.0, rtol=1e-6)


def test_rgb_tiff_and_jpeg(tmp_path):
    rgb = np.random.RandomState(1).randint(0, 256, (7, 9, 3)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb)
    image = files.read_image(tmp_path / "rgb.tif")
    assert image.shape == (1, 7, 9, 3)
    np.testing.assert_allclose(image[0], rgb / 255.0, rtol=1e-6)
    iio.imwrite(tmp_path / "rgb.jpg", rgb)
    assert files.read_image(tmp_path / "rgb.jpg").shape == (1, 7, 9, 3)


def test_multipage_tiff_is_a_stack(tmp_path):
    stack = np.arange(4 * 5 * 6, dtype=np.uint16).reshape(4, 5, 6)
    tifffile.imwrite(tmp_path / "s.tif", stack, photometric="minisblack")
    image = files.read_image(tmp_path / "s.tif")
    assert image.shape == (4, 5, 6)
    np.testing.assert_allclose(image, stack / 65535.0, rtol=1e-6)


def test_imagej_hyperstack_axes(tmp_path):
    data = np.random.RandomState(2).randint(0, 255, (2, 3, 5, 6)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "zc.tif", data, imagej=True, metadata={"axes": "ZCYX"})
    image = files.read_image(tmp_path / "zc.tif")
    assert image.shape == (2, 5, 6, 3)  # colour moved last, Z stays the stack axis
    np.testing.assert_allclose(image[1, :, :, 2], data[1, 2] / 255.0, rtol=1e-6)
    tifffile.imwrite(tmp_path / "c5.tif", np.zeros((5, 4, 6), np.uint8), imagej=True,
                     metadata={"axes": "CYX"})
    with pytest.raises(FileError, match=r"c5\.tif: has 5 channels"):
        files.read_image(tmp_path / "c5.tif")


def test_zarr_array_and_stack(tmp_path):
    data = np.random.RandomState(3).randint(0, 255, (3, 8, 9)).astype(np.uint8)
    arr = zarr.open(str(tmp_path / "v.zarr"), mode="w", shape=data.shape, dtype=data.dtype,
                    chunks=(1, 4, 4))
    arr[...] = data
    image = files.read_image(tmp_path / "v.zarr")
    assert image.shape == (3, 8, 9)
    np.testing.assert_allclose(image, data / 255.0, rtol=1e-6)
    rgb = zarr.open(str(tmp_path / "rgb.zarr"), mode="w", shape=(8, 9, 3), dtype=np.uint8)
    rgb[...] = 255
    assert files.read_image(tmp_path / "rgb.zarr").shape == (1, 8, 9, 3)


def _ome_zarr(path, data, axes):
    group = zarr.open_group(str(path), mode="w")
    level0 = group.zeros(name="0", shape=data.shape, dtype=data.dtype)
    level0[...] = data
    group.zeros(name="1", shape=tuple(max(1, s // 2) for s in data.shape), dtype=data.dtype)
    group.attrs["multiscales"] = [{"version": "0.4", "axes": [{"name": a} for a in axes],
                                   "datasets": [{"path": "0"}, {"path": "1"}]}]


def test_ome_zarr_group_reads_level_0_with_its_axes(tmp_path):
    data = np.random.RandomState(4).randint(0, 60000, (3, 2, 10, 12)).astype(np.uint16)
    _ome_zarr(tmp_path / "img.ome.zarr", data, "czyx")
    image = files.read_image(tmp_path / "img.ome.zarr")
    assert image.shape == (2, 10, 12, 3)  # c=3 is colour, z the slices
    np.testing.assert_allclose(image[1, ..., 0], data[0, 1] / 65535.0, rtol=1e-6)
    array, axes = files.open_zarr(tmp_path / "img.ome.zarr")
    assert axes == "CZYX" and array.shape == data.shape


def test_zarr_group_without_level_0(tmp_path):
    group = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    group.zeros(name="x", shape=(4, 4), dtype=np.uint8)
    with pytest.raises(FileError, match=r"g\.zarr: zarr group holds no array '0'"):
        files.read_image(tmp_path / "g.zarr")


def test_labels_palette_png_keeps_indices(tmp_path):
    values = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    im = Image.fromarray(values, mode="P")
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0])
    im.save(tmp_path / "p.png")
    labels = files.read_labels(tmp_path / "p.png")
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels[0], values)


def test_labels_tiff_stack_and_float(tmp_path):
    stack = np.random.RandomState(5).randint(0, 300, (3, 4, 5)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "l.tif", stack, photometric="minisblack")
    np.testing.assert_array_equal(files.read_labels(tmp_path / "l.tif"), stack)
    tifffile.imwrite(tmp_path / "f.tif", np.array([[1.0, 2.0], [0.0, 3.0]], np.float32))
    np.testing.assert_array_equal(files.read_labels(tmp_path / "f.tif")[0], [[1, 2], [0, 3]])
    tifffile.imwrite(tmp_path / "g.tif", np.array([[1.5, 2.0], [0.0, 3.0]], np.float32))
    with pytest.raises(FileError, match=r"g\.tif: holds non-integer values"):
        files.read_labels(tmp_path / "g.tif")


def test_labels_with_colour_rejected(tmp_path):
    iio.imwrite(tmp_path / "c.png", np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(FileError, match=r"c\.png: label image has 3 channels"):
        files.read_labels(tmp_path / "c.png")


def test_missing_and_unreadable_files_named(tmp_path):
    with pytest.raises(FileError, match=r"nope\.png: no such file"):
        files.read_image(tmp_path / "nope.png")
    (tmp_path / "junk.png").write_bytes(b"not a png at all")
    with pytest.raises(FileError) as err:
        files.read_image(tmp_path / "junk.png")
    message = str(err.value)
    assert message.startswith(str(tmp_path / "junk.png") + ": cannot read")
    assert "\n" not in message
    (tmp_path / "junk.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(FileError, match=r"junk\.tif: cannot read as TIFF"):
        files.read_labels(tmp_path / "junk.tif")


def test_expand_paths_folders_globs_natural_order(tmp_path):
    for name in ("im10.png", "im2.png", "im1.tif", ".hidden.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "v.zarr").mkdir()
    names = [p.name for p in files.expand_paths([tmp_path])]
    assert names == ["im1.tif", "im2.png", "im10.png", "v.zarr"]
    names = [p.name for p in files.expand_paths([str(tmp_path / "im*.png"),
                                                 tmp_path / "im1.tif"])]
    assert names == ["im2.png", "im10.png", "im1.tif"]  # each argument in turn


def test_expand_paths_errors_name_the_argument(tmp_path):
    with pytest.raises(FileError, match=r"missing\.tif: no such file or folder"):
        files.expand_paths([tmp_path / "missing.tif"])
    with pytest.raises(FileError, match=r"\*\.png: no file matches"):
        files.expand_paths([str(tmp_path / "*.png")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileError, match=r"empty: folder holds no images"):
        files.expand_paths([tmp_path / "empty"])


def test_output_stem():
    assert files.output_stem("a/b/cell.ome.tif") == "cell"
    assert files.output_stem("vol.ome.zarr") == "vol"
    assert files.output_stem("x.y.png") == "x.y"


@pytest.mark.parametrize("top, dtype", [(1, np.uint8), (255, np.uint8), (256, np.uint16),
                                        (70000, np.uint32)])
def test_write_labels_smallest_unsigned_dtype(tmp_path, top, dtype):
    labels = np.array([[0, 1], [top, 2]])
    files.write_labels(tmp_path / "l.tif", labels)
    back = tifffile.imread(tmp_path / "l.tif")
    assert back.dtype == dtype
    np.testing.assert_array_equal(back, labels)
    assert files.label_dtype(top) == dtype


def test_write_labels_stack_and_proba_round_trip(tmp_path):
    rng = np.random.RandomState(6)
    stack = rng.randint(1, 4, (3, 5, 6))
    files.write_labels(tmp_path / "s.tif", stack)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "s.tif"), stack)
    for c in (2, 3, 5):
        proba = rng.random_sample((5, 6, c)).astype(np.float32)
        files.write_proba(tmp_path / f"p{c}.tif", proba)
        back = tifffile.imread(tmp_path / f"p{c}.tif")
        assert back.dtype == np.float32 and back.shape == (5, 6, c)
        np.testing.assert_array_equal(back, proba)
    stack_proba = rng.random_sample((2, 5, 6, 3)).astype(np.float32)
    files.write_proba(tmp_path / "ps.tif", stack_proba)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "ps.tif"), stack_proba)


def test_failed_write_leaves_nothing_and_keeps_old_file(tmp_path):
    target = tmp_path / "out.tif"
    with pytest.raises(ValueError, match="page of shape"):
        with files.TiffStackWriter(target, np.uint8) as writer:
            writer.write(np.zeros((4, 4)))
            writer.write(np.zeros((5, 4)))
    assert list(tmp_path.iterdir()) == []
    files.write_labels(target, np.ones((4, 4), int))
    with pytest.raises(RuntimeError):
        with files.TiffStackWriter(target, np.uint8) as writer:
            writer.write(np.full((4, 4), 2))
            raise RuntimeError("interrupted")
    assert [p.name for p in tmp_path.iterdir()] == ["out.tif"]
    np.testing.assert_array_equal(tifffile.imread(target), np.ones((4, 4)))


def test_written_file_not_private(tmp_path):
    files.write_labels(tmp_path / "l.tif", np.ones((3, 3), int))
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(tmp_path / "l.tif").st_mode & 0o777 == 0o666 & ~umask


def test_file_error_is_one_line():
    err = FileError("a.png", "first\nsecond  line")
    assert str(err) == "a.png: first second line" and isinstance(err, ValueError)
    assert err.path == "a.png"


def test_writing_onto_a_folder_names_it(tmp_path):
    from chm.files import FileError, write_labels
    (tmp_path / "out.tif").mkdir()
    with pytest.raises(FileError, match="out.tif"):
        write_labels(tmp_path / "out.tif", np.zeros((4, 4), np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["out.tif"]
