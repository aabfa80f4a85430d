"""Image and label files: reading folders of images, writing results.

The formats of the tools in use for interactive segmentation (ilastik,
Weka, Labkit, napari, scikit-image): PNG and JPEG (read with
:mod:`imageio.v3`), TIFF, 16-bit and multi-page (:mod:`tifffile`), and zarr
arrays, an OME-Zarr group standing for its full-resolution array.

Every file is read as a *stack* of 2-D slices, ``(N, H, W)`` (grey) or
``(N, H, W, 3)`` (RGB), ``N = 1`` for a plain 2-D image; a 3-D volume or a
multi-page TIFF is segmented slice by slice. Images become float32: integer
pixels scaled to [0, 1] by the range of their dtype (uint8 by 255, uint16 by
65535, whatever the image holds), float pixels kept as they are; the alpha
channel of RGBA and grey+alpha images is dropped. Label files are read as
int64 stacks, unscaled.

Results are written as TIFF: label maps in the smallest unsigned integer
dtype that holds their values, probability maps as float32 ``(H, W, C)``
(one channel per class), a stack as one page per slice. A result is written
to a hidden temporary file in the destination folder, then moved onto its
name (:func:`os.replace`), so a file of that name is always complete.

Every problem with a file raises :class:`FileError`, a ``ValueError`` whose
one-line message starts with the file's path.

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_labels(folder / "a.tif", np.array([[1, 2], [2, 300]]))
>>> read_labels(folder / "a.tif").dtype, read_labels(folder / "a.tif").shape
(dtype('int64'), (1, 2, 2))
>>> import tifffile
>>> tifffile.imread(folder / "a.tif").dtype
dtype('uint16')
"""
import glob
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ._validation import integers_to_unit

__all__ = ["FileError", "IMAGE_SUFFIXES", "expand_paths", "output_stem", "read_image",
           "read_labels", "open_zarr", "scale_pixels", "label_dtype", "needs_bigtiff",
           "TiffStackWriter", "write_labels", "write_proba"]

TIFF_SUFFIXES = (".tif", ".tiff")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg") + TIFF_SUFFIXES + (".zarr",)
_PILLOW_SUFFIXES = (".png", ".jpg", ".jpeg")
_ZARR_MARKERS = (".zarray", ".zgroup", "zarr.json")
_OME_SUFFIXES = (".ome.tif", ".ome.tiff", ".ome.zarr")


class FileError(ValueError):
    """A file that is missing, unreadable or does not fit; the message names it."""

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = " ".join(str(reason).split())  # one line
        super().__init__(f"{self.path}: {self.reason}")


# ------------------------------------------------------------------ paths
def _natural_key(path):
    """Sort key that orders ``img2`` before ``img10``."""
    return [int(part) if part.isdigit() else part.lower()
            for part in re.split(r"(\d+)", str(path))]


def _is_zarr(path):
    path = Path(path)
    return path.is_dir() and (path.suffix.lower() == ".zarr"
                              or any((path / m).exists() for m in _ZARR_MARKERS))


def _folder_images(folder):
    found = [p for p in Path(folder).iterdir()
             if not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
             and (p.is_file() or _is_zarr(p))]
    if not found:
        raise FileError(folder, "folder holds no images (" + ", ".join(IMAGE_SUFFIXES) + ")")
    return sorted(found, key=_natural_key)


def expand_paths(arguments):
    """The image files named by command-line arguments, in order.

    Parameters
    ----------
    arguments : iterable of str or path-like
        Each a file, a zarr store, a folder (its image files and zarr stores,
        hidden names skipped) or a glob pattern (``"raw/*.tif"``). Folders
        and patterns are expanded in natural order (``img2`` before
        ``img10``), so that a folder of images and a folder of label files
        named alike pair up by position.

    Returns
    -------
    list of pathlib.Path

    Raises
    ------
    FileError
        For an argument that names nothing, or a folder without images.
    """
    out = []
    for arg in arguments:
        path = Path(arg)
        if path.is_file() or _is_zarr(path):
            out.append(path)
        elif path.is_dir():
            out.extend(_folder_images(path))
        elif glob.has_magic(str(arg)):
            matches = sorted((Path(p) for p in glob.glob(str(arg))
                              if Path(p).is_file() or _is_zarr(p)), key=_natural_key)
            if not matches:
                raise FileError(arg, "no file matches this pattern")
            out.extend(matches)
        else:
            raise FileError(arg, "no such file or folder")
    return out


def output_stem(path):
    """File name of ``path`` without its suffix (``.ome.tif`` and ``.ome.zarr`` count as one)."""
    name = Path(path).name
    for suffix in _OME_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


# ---------------------------------------------------------------- reading
def _first_line(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def open_zarr(path):
    """The array of a zarr store and its axes.

    Parameters
    ----------
    path : str or path-like
        A zarr array, or a group: an OME-Zarr image (its first
        ``multiscales`` dataset, the full resolution) or any group holding
        an array ``"0"``.

    Returns
    -------
    array : zarr.Array
        Not loaded: index it, or wrap it with :func:`dask.array.from_zarr`.
    axes : str or None
        One letter per dimension (``"ZYX"``, ``"CYX"``...) from the OME-Zarr
        metadata, ``None`` when the store does not say.

    Raises
    ------
    FileError
        If the store cannot be opened or holds no image array.
    """
    import zarr

    path = Path(path)
    if not path.exists():
        raise FileError(path, "no such file or folder")
    try:
        node = zarr.open(store=str(path), mode="r")
    except Exception as exc:  # zarr raises many kinds for a store it cannot read
        raise FileError(path, f"cannot open as zarr ({_first_line(exc)})") from None
    if not isinstance(node, zarr.Group):
        return node, None
    attrs = dict(node.attrs)
    multiscales = attrs.get("multiscales") or attrs.get("ome", {}).get("multiscales")
    key, axes = "0", None
    if multiscales:
        first = multiscales[0]
        key = first.get("datasets", [{}])[0].get("path", "0")
        names = [a["name"] if isinstance(a, dict) else a for a in first.get("axes", [])]
        axes = "".join(str(n)[0].upper() for n in names) or None
    try:
        array = node[key]
    except KeyError:
        raise FileError(path, f"zarr group holds no array {key!r} (an OME-Zarr "
                              "image has its full resolution there)") from None
    if isinstance(array, zarr.Group):
        raise FileError(path, f"{key!r} in this zarr group is a group, not an array")
    if axes is not None and len(axes) != array.ndim:
        axes = None
    return array, axes


def _guess_axes(shape, samples=(3, 4)):
    """Axes of an array whose file does not name them (a last axis of ``samples`` is colour)."""
    if len(shape) == 2:
        return "YX"
    if len(shape) == 3:
        return "YXS" if shape[-1] in samples else "ZYX"
    if len(shape) == 4 and shape[-1] in samples:
        return "ZYXS"
    return None


def _read_raw(path):
    """Pixels of a file and its axes (letters; Y, X spatial, S/C channels)."""
    path = Path(path)
    if not path.exists():
        raise FileError(path, "no such file or folder")
    if _is_zarr(path):
        array, axes = open_zarr(path)
        try:
            data = np.asarray(array[...])
        except Exception as exc:
            raise FileError(path, f"cannot read zarr array ({_first_line(exc)})") from None
        return data, axes or _guess_axes(data.shape), None
    if path.is_dir():
        raise FileError(path, "is a folder, not an image file or zarr store")
    if path.suffix.lower() in TIFF_SUFFIXES:
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                return series.asarray(), series.axes, None
        except Exception as exc:
            raise FileError(path, f"cannot read as TIFF ({_first_line(exc)})") from None
    import imageio.v3 as iio

    plugin = "pillow" if path.suffix.lower() in _PILLOW_SUFFIXES else None
    try:
        mode = iio.immeta(path, plugin=plugin).get("mode")
        data = iio.imread(path, plugin=plugin)
    except Exception as exc:
        raise FileError(path, f"cannot read as an image ({_first_line(exc)})") from None
    return data, _guess_axes(data.shape, samples=(2, 3, 4)), mode


def _split_axes(data, axes, path):
    """Reorder to (N, H, W, channels): all axes but Y, X and one channel axis flatten into N."""
    if axes is None or "Y" not in axes or "X" not in axes or len(axes) != data.ndim:
        raise FileError(path, f"cannot tell the image axes of an array of shape {data.shape}")
    channel = next((a for a in "SC" if a in axes and data.shape[axes.index(a)] > 1), None)
    order = [i for i, a in enumerate(axes) if a not in ("Y", "X", channel)]
    order += [axes.index("Y"), axes.index("X")]
    n_channels = 1
    if channel is not None:
        order.append(axes.index(channel))
        n_channels = data.shape[axes.index(channel)]
    data = np.transpose(data, order)
    h, w = data.shape[-3:-1] if channel else data.shape[-2:]
    return data.reshape((-1, h, w, n_channels)), channel


def scale_pixels(data):
    """Float32 pixels: integers scaled to [0, 1] by their dtype's range, floats kept.

    An unsigned image is divided by its dtype's maximum (255 for uint8,
    65535 for uint16), a signed one mapped from ``[min, max]`` of its dtype;
    booleans become 0 and 1. The scaling is per pixel, so a block of an image
    scales as the whole image does.

    Examples
    --------
    >>> scale_pixels(np.array([0, 255], np.uint8)).tolist()
    [0.0, 1.0]
    >>> scale_pixels(np.array([0, 65535], np.uint16)).tolist()
    [0.0, 1.0]

    Raises
    ------
    ValueError
        For NaN or inf pixels, or a dtype that is not numeric.
    """
    data = np.asarray(data)
    kind = data.dtype.kind
    if kind == "b":
        return data.astype(np.float32)
    if kind in "iu":
        return integers_to_unit(data)
    if kind == "f":
        out = data.astype(np.float32)
        if not np.isfinite(out).all():
            raise ValueError("holds NaN or inf pixels")
        return out
    raise ValueError(f"pixels of dtype {data.dtype} are not numbers")


def read_image(path):
    """Read an image file as a float32 stack of 2-D slices.

    Parameters
    ----------
    path : str or path-like
        PNG, JPEG, TIFF (any bit depth, multi-page, ImageJ hyperstacks) or
        a zarr / OME-Zarr store.

    Returns
    -------
    ndarray of float32, shape (N, H, W) or (N, H, W, 3)
        ``N = 1`` for a 2-D image. Integer pixels are scaled to [0, 1] by
        their dtype's range; float pixels are kept. RGBA loses its alpha,
        grey+alpha becomes grey. Axes other than rows, columns and colour
        (pages, Z, time) all become slices.

    Raises
    ------
    FileError
        If the file is missing or unreadable, has other than 1 or 3 colour
        channels, or is smaller than 2 x 2 pixels.
    """
    data, axes, _ = _read_raw(path)
    stack, channel = _split_axes(data, axes, path)
    c = stack.shape[-1]
    if c == 1:
        stack = stack[..., 0]
    elif channel == "S" and c == 2:      # grey + alpha
        stack = stack[..., 0]
    elif channel == "S" and c == 4:      # RGBA
        stack = stack[..., :3]
    elif c != 3:
        raise FileError(path, f"has {c} channels; images must be grey or RGB(A)")
    if stack.shape[1] < 2 or stack.shape[2] < 2:
        raise FileError(path, f"image of {stack.shape[1]} x {stack.shape[2]} pixels is too small")
    try:
        return scale_pixels(stack)
    except ValueError as exc:
        raise FileError(path, exc) from None


def read_labels(path):
    """Read a label file as an int64 stack of 2-D label maps.

    Parameters
    ----------
    path : str or path-like
        A single-channel integer image (PNG, including palette PNG whose
        palette indices are the labels, TIFF, zarr), as painted in napari,
        ilastik or Labkit. Float files are accepted when every value is
        an integer.

    Returns
    -------
    ndarray of int64, shape (N, H, W)
        The values as stored.

    Raises
    ------
    FileError
        If the file is missing or unreadable, has colour channels, or holds
        non-integer values.
    """
    path = Path(path)
    data, axes, mode = _read_raw(path)
    if mode == "P":  # palette PNG: the indices are the labels, not the colours
        import imageio.v3 as iio

        data, axes = iio.imread(path, plugin="pillow", mode="P"), "YX"
    stack, _ = _split_axes(data, axes, path)
    if stack.shape[-1] != 1:
        raise FileError(path, f"label image has {stack.shape[-1]} channels; labels must be a "
                              "single-channel integer image")
    stack = stack[..., 0]
    kind = stack.dtype.kind
    if kind == "f":
        if not np.isfinite(stack).all() or not np.array_equal(stack, np.round(stack)):
            raise FileError(path, "holds non-integer values; labels must be integers")
    elif kind not in "biu":
        raise FileError(path, f"labels of dtype {stack.dtype} are not integers")
    if kind == "u" and stack.dtype.itemsize == 8 and stack.size and \
            stack.max() > np.iinfo(np.int64).max:
        raise FileError(path, "holds label values beyond the int64 range")
    return stack.astype(np.int64)


# ---------------------------------------------------------------- writing
def label_dtype(max_value, min_value=0):
    """Smallest integer dtype holding ``min_value .. max_value``: unsigned unless negative.

    Examples
    --------
    >>> label_dtype(255), label_dtype(256), label_dtype(3, -1)
    (dtype('uint8'), dtype('uint16'), dtype('int8'))
    """
    kinds = (np.uint8, np.uint16, np.uint32, np.uint64) if min_value >= 0 else \
        (np.int8, np.int16, np.int32, np.int64)
    for dtype in kinds:
        info = np.iinfo(dtype)
        if info.min <= min_value and max_value <= info.max:
            return np.dtype(dtype)
    raise ValueError(f"no integer dtype holds {min_value} .. {max_value}")


def needs_bigtiff(n_values, dtype):
    """Whether ``n_values`` pixels of ``dtype`` need BigTIFF (over 4 GiB, with a margin)."""
    return n_values * np.dtype(dtype).itemsize > 2 ** 32 - 2 ** 28


@contextmanager
def _replacing(path):
    """Yield a hidden temporary path beside ``path``; move it onto ``path`` on success.

    On any error the temporary file is removed and ``path`` is left as it
    was.
    """
    path = Path(path)
    if path.is_dir():
        raise FileError(path, "is a folder, not a file to write")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise FileError(path, f"cannot write here ({exc.strerror or exc})") from None
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's file is private; a result is not
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise FileError(path, f"cannot write here ({exc.strerror or exc})") from None
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


class TiffStackWriter:
    """Write a TIFF page by page, complete or not at all.

    Pages of one shape and dtype form one stack: ``tifffile.imread`` reads
    ``N`` pages ``(H, W)`` back as ``(N, H, W)`` and one page as
    ``(H, W)``; pages ``(H, W, C)`` are stored with ``C`` samples per pixel
    (read back as ``(H, W, C)`` or ``(N, H, W, C)``). Use it as a context
    manager: the file appears under ``path`` when the block ends without
    an error, and nothing is left when it raises.

    Parameters
    ----------
    path : str or path-like
        Destination; its folder must exist.
    dtype : dtype
        Dtype the pages are stored in.
    bigtiff : bool, default False
        Write BigTIFF, needed for files over 4 GiB.

    Examples
    --------
    >>> import tempfile, pathlib, tifffile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "s.tif"
    >>> with TiffStackWriter(out, np.uint8) as writer:
    ...     for k in range(3):
    ...         writer.write(np.full((4, 5), k))
    >>> tifffile.imread(out).shape
    (3, 4, 5)
    """

    def __init__(self, path, dtype, bigtiff=False):
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.bigtiff = bool(bigtiff)
        self._shape = None

    def __enter__(self):
        import tifffile

        if not self.path.parent.is_dir():
            raise FileError(self.path.parent, "output folder does not exist")
        self._replace = _replacing(self.path)
        tmp = self._replace.__enter__()
        try:
            self._tif = tifffile.TiffWriter(tmp, bigtiff=self.bigtiff)
        except BaseException as exc:
            self._replace.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def write(self, page):
        """Append one page (H, W) or (H, W, C); every page must have the first one's shape."""
        page = np.asarray(page)
        if self._shape is None:
            self._shape = page.shape
        elif page.shape != self._shape:
            raise ValueError(f"page of shape {page.shape} in a stack of {self._shape} pages")
        extra = {"planarconfig": "contig"} if page.ndim == 3 else {}
        self._tif.write(page.astype(self.dtype, copy=False), contiguous=True,
                        photometric="minisblack", metadata=None, **extra)

    def __exit__(self, kind, exc, tb):
        self._tif.close()
        return self._replace.__exit__(kind, exc, tb)


def write_labels(path, labels, dtype=None):
    """Write a label map (H, W) or a stack (N, H, W) as TIFF.

    Parameters
    ----------
    path : str or path-like
    labels : array_like of int
    dtype : dtype or None
        Stored dtype; ``None`` takes the smallest unsigned integer dtype that
        holds the values (:func:`label_dtype`; signed if any is negative).
    """
    labels = np.asarray(labels)
    if labels.ndim not in (2, 3):
        raise ValueError(f"labels must be (H, W) or (N, H, W), got shape {labels.shape}")
    if dtype is None:
        dtype = label_dtype(int(labels.max()), min(0, int(labels.min()))) if labels.size \
            else np.dtype(np.uint8)
    with TiffStackWriter(path, dtype, bigtiff=needs_bigtiff(labels.size, dtype)) as writer:
        for page in labels.reshape((-1,) + labels.shape[-2:]):
            writer.write(page)


def write_proba(path, proba):
    """Write probability maps (H, W, C) or a stack (N, H, W, C) as float32 TIFF."""
    proba = np.asarray(proba)
    if proba.ndim not in (3, 4):
        raise ValueError(f"probabilities must be (H, W, C) or (N, H, W, C), got shape "
                         f"{proba.shape}")
    with TiffStackWriter(path, np.float32, bigtiff=needs_bigtiff(proba.size, np.float32)) as writer:
        for page in proba.reshape((-1,) + proba.shape[-3:]):
            writer.write(page)
