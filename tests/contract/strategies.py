"""Hypothesis strategies for the inputs of every public entry point of the package.

Shared by the property tests (``tests/contract/test_properties.py``) and the
fuzz campaign (``benchmarks/fuzz.py``). Every strategy draws mostly inputs the
entry should accept, mixed with the ways a caller gets them wrong: NaN and inf
pixels, extreme finite values, wrong shapes, dtypes and containers, labels
that do not fit their images. Everything drawn is picklable (the campaign
sends cases to a worker process): files are drawn as recipes
(:func:`file_recipes`), made on disk by :func:`write_file` when a case runs.

:data:`CORRUPTIONS` names the ways a training set ``(images, labels)`` can be
broken; the contract suite checks each of them against every segmenter.
"""
import os

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

__all__ = [
    "CORRUPTIONS",
    "GARBAGE_SUFFIXES",
    "anything",
    "file_arrays",
    "file_recipes",
    "float_values",
    "image_arrays",
    "image_inputs",
    "label_maps",
    "numbers",
    "one_bad",
    "prob_maps",
    "tile_sizes",
    "training_sets",
    "write_file",
]

# ---------------------------------------------------------------------------
# scalars
# ---------------------------------------------------------------------------
#: Value ranges of float arrays: the [0, 1] of images and probabilities, a
#: wide range, every finite float32 (extremes overflow squares and sums),
#: and every float32 including NaN and inf.
FLOAT_RANGES = {
    "unit": st.floats(0.0, 1.0, width=32),
    "wide": st.floats(-1e4, 1e4, width=32),
    "finite": st.floats(width=32, allow_nan=False, allow_infinity=False),
    "any": st.floats(width=32),
}


def float_values(kinds=("unit", "unit", "unit", "wide", "finite", "any")):
    """Element strategy of a float array; repeated kinds are drawn more often."""
    return st.sampled_from(kinds).flatmap(lambda k: FLOAT_RANGES[k])


#: With ``CHM_FUZZ_WILD=1`` in the environment (``benchmarks/fuzz.py`` sets it)
#: numbers also take huge magnitudes, which can make a call allocate gigabytes
#: or run for minutes: findings for the campaign's watchdog, kept out of the
#: test suite, which has none.
WILD = os.environ.get("CHM_FUZZ_WILD") == "1"

#: Special values every number strategy includes; they fail fast when refused.
SPECIAL_FLOATS = (np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-300)
#: Huge floats (only floats: a huge valid count just makes a call take as long as asked).
HUGE = (1e7, 1e12, 1e300, -1e300)


def numbers(low=-3, high=8):
    """A number a caller might pass for a count, a size or a weight, valid or not.

    Integers in ``[low, high]``, floats a little beyond, NaN, infinities, tiny
    values, booleans and numpy scalars (and, with :data:`WILD`, huge values).
    """
    specials = SPECIAL_FLOATS + (HUGE if WILD else ())
    return st.one_of(
        st.integers(low, high),
        st.floats(low - 1.0, 10.0 * max(high, 1)),
        st.sampled_from(specials),
        st.booleans(),
        st.sampled_from([np.int64(2), np.float32(0.5), np.uint8(3)]),
    )


def anything(small=False):
    """Arbitrary Python values: scalars, strings, containers, small arrays.

    ``small`` keeps the numbers within :func:`numbers`, for parameters (a
    valid but huge count makes a fit run for as long as asked).
    """
    ints, floats = (numbers(), numbers()) if small else (st.integers(), st.floats())
    scalars = st.one_of(
        st.none(), st.booleans(), ints, floats, st.text(max_size=4),
        st.binary(max_size=4), st.complex_numbers(max_magnitude=10),
        st.sampled_from([np.bool_(True), np.int64(-1), np.float32(np.nan), np.uint8(7)]),
    )
    return st.recursive(
        st.one_of(scalars, image_arrays(max_side=6), label_maps()),
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner),
                                st.dictionaries(st.text(max_size=2), inner, max_size=2)),
        max_leaves=4,
    )


# ---------------------------------------------------------------------------
# arrays
# ---------------------------------------------------------------------------
VALID_DTYPES = ("float32", "float32", "float32", "float64", "float16", "uint8", "uint16",
                "int32", "int64", "bool")
ODD_DTYPES = ("complex64", "object", "U2", "datetime64[s]")


@st.composite
def _array(draw, dtype, shape, values=None):
    """An array of ``dtype`` and ``shape``; float arrays take ``values`` elements."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        # drawn as float32, then cast (float16 overflows to inf like a caller's cast would)
        elements = values if values is not None else float_values()
        array = draw(hnp.arrays(np.float32, shape, elements=elements))
        return array.astype(dtype)
    if dtype.kind == "O":
        return draw(hnp.arrays(dtype, shape, elements=st.one_of(st.floats(0, 1), st.none(),
                                                                  st.text(max_size=2))))
    if dtype.kind == "U":
        return draw(hnp.arrays(dtype, shape, elements=st.text(max_size=2)))
    if dtype.kind == "M":
        return np.zeros(shape, dtype)
    return draw(hnp.arrays(dtype, shape))


def _sides(min_side, max_side):
    return st.tuples(st.integers(min_side, max_side), st.integers(min_side, max_side))


@st.composite
def image_arrays(draw, min_side=1, max_side=20, channels=None, dtypes=None, values=None,
                 valid_shape=False, size=None):
    """One image: usually (H, W) or (H, W, 3), sometimes another shape or dtype.

    Parameters
    ----------
    min_side, max_side : int
        Range of H and W.
    channels : None, 1 or 3
        Force gray (1) or RGB (3); None draws either.
    dtypes : sequence of str, optional
        Dtypes to draw from; default mostly float32, also other numeric ones
        and, rarely, non-numeric ones.
    values : strategy, optional
        Elements of float arrays (default :func:`float_values`).
    valid_shape : bool
        Only (H, W) or (H, W, 3) shapes.
    size : (int, int), optional
        Fixed (H, W) instead of drawn sides.
    """
    h, w = size if size is not None else draw(_sides(min_side, max_side))
    if channels == 1:
        shape = (h, w)
    elif channels == 3:
        shape = (h, w, 3)
    elif valid_shape:
        shape = draw(st.sampled_from([(h, w), (h, w, 3)]))
    else:
        shape = draw(st.sampled_from([(h, w), (h, w), (h, w, 3), (h, w, 3), (h, w, 1), (h, w, 2),
                                      (h, w, 4), (h,), (), (1, h, w, 3), (0, w), (h, 0, 3)]))
    if dtypes is None:
        dtypes = VALID_DTYPES if valid_shape else VALID_DTYPES * 4 + ODD_DTYPES
    dtype = draw(st.sampled_from(dtypes))
    return draw(_array(dtype, shape, values))


@st.composite
def image_inputs(draw, max_side=20, max_images=3, channels=None):
    """The ``images`` argument of ``fit``/``predict``: list, tuple, stack or junk.

    About half the draws are valid lists of float32 images in [0, 1] with
    ``channels`` channels (1 or 3; None draws either), a quarter valid in
    shape with other dtypes and value ranges, the rest anything.
    """
    kind = draw(st.sampled_from(["clean"] * 6 + ["valid"] * 3 + ["list"] * 2
                                + ["tuple", "stack", "junk"]))
    if kind == "junk":
        return draw(st.one_of(
            st.just([]), st.none(), st.text(max_size=3), st.integers(), st.just([None]),
            st.just([[0.1, 0.2], [0.3]]), st.just({"image": 1}), st.just(np.array(["a", "b"])),
            st.just(np.zeros((3, 4, 5, 6, 2), np.float32)), st.just(np.float32(0.5)),
            st.lists(st.text(max_size=2), min_size=1, max_size=2),
        ))
    if kind == "stack":
        n = draw(st.integers(1, max_images))
        h, w = draw(_sides(1, max_side))
        shape = draw(st.sampled_from([(n, h, w), (n, h, w, 3), (n, h, w, 1), (n, h, w, 2)]))
        return draw(_array(draw(st.sampled_from(VALID_DTYPES)), shape))
    if kind in ("clean", "valid"):
        channels = channels or draw(st.sampled_from([1, 3]))
        if kind == "clean":
            dtypes, values = ("float32",), FLOAT_RANGES["unit"]
        else:
            dtypes, values = VALID_DTYPES, float_values()
        return draw(st.lists(image_arrays(min_side=2, max_side=max_side, channels=channels,
                                          dtypes=dtypes, values=values),
                             min_size=1, max_size=max_images))
    images = draw(st.lists(image_arrays(max_side=max_side), min_size=1, max_size=max_images))
    return tuple(images) if kind == "tuple" else images


@st.composite
def label_maps(draw, shape=None, classes=None, max_side=12):
    """One sparse label map (int64, -1 unlabeled) of ``shape``, labels from ``classes``."""
    if shape is None:
        shape = draw(_sides(1, max_side))
    if classes is None:
        classes = draw(st.lists(st.integers(0, 5), min_size=1, max_size=4, unique=True))
    h, w = shape
    out = np.full((h, w), -1, np.int64)
    n = h * w
    if n:
        picks = draw(st.lists(st.tuples(st.integers(0, n - 1), st.sampled_from(classes)),
                              max_size=min(n, 30)))
        for index, cls in picks:
            out.flat[index] = cls
    return out


def _class_sets():
    small = st.lists(st.integers(0, 9), min_size=2, max_size=4, unique=True)
    large = st.lists(st.integers(0, 2 ** 40), min_size=2, max_size=3, unique=True)
    return st.one_of(small, small, small, large)


@st.composite
def _valid_training_set(draw, max_side, max_images):
    n = draw(st.integers(1, max_images))
    channels = draw(st.sampled_from([1, 3]))
    dtypes = draw(st.sampled_from([("float32",), ("float32",), ("float64", "uint8", "uint16",
                                                                 "float16", "bool")]))
    values = draw(st.sampled_from(["unit", "unit", "wide", "finite"]))
    images = draw(st.lists(image_arrays(min_side=2, max_side=max_side, channels=channels,
                                        dtypes=dtypes, values=FLOAT_RANGES[values]),
                           min_size=n, max_size=n))
    classes = draw(_class_sets())
    labels = [draw(label_maps(im.shape[:2], classes)) for im in images]
    # most sets label at least two classes (the others test the one-class error)
    if draw(st.integers(0, 4)) < 4 and labels[0].size >= 2:
        labels[0].flat[0], labels[0].flat[-1] = classes[0], classes[1]
    return images, labels


# ---------------------------------------------------------------------------
# corruptions of a training set
# ---------------------------------------------------------------------------
def _float_images(images):
    return [np.array(im, dtype=np.float32) for im in images]


def _set_pixel(images, value):
    images = _float_images(images)
    images[-1].flat[images[-1].size // 2] = value
    return images


def _relabel(labels, fn):
    return [fn(np.array(lab, dtype=np.int64)) for lab in labels]


def _one_class(labels):
    labeled = np.concatenate([lab[lab >= 0] for lab in labels])
    first = labeled[0] if labeled.size else 0
    return _relabel(labels, lambda lab: np.where(lab >= 0, first, -1))


def _first_nan(labels):
    labels = np.array(labels, dtype=np.float64)
    labels.flat[0] = np.nan
    return labels


def _cut_row(labels):
    labels = list(labels)
    labels[0] = np.concatenate([labels[0], labels[0][:1]], axis=0)
    return labels


def _gray(image):
    image = np.asarray(image, np.float32)
    return image if image.ndim == 2 else image.mean(axis=-1)


def _mixed(images, labels):
    gray = _gray(images[0])
    return [gray, np.repeat(gray[..., None], 3, axis=2)], [labels[0], labels[0]]


#: Broken training sets: name -> function ``(images, labels) -> (images,
#: labels)`` of a valid set. Every one must make ``fit`` raise a ValueError or
#: TypeError.
CORRUPTIONS = {
    "empty": lambda ims, labs: ([], []),
    "images_none": lambda ims, labs: (None, labs),
    "labels_none": lambda ims, labs: (ims, None),
    "image_1d": lambda ims, labs: ([np.ravel(im) for im in ims], labs),
    "image_4d": lambda ims, labs: ([np.asarray(im)[None, ..., None] for im in ims], labs),
    "two_channels": lambda ims, labs: ([np.stack([_gray(im)] * 2, axis=-1) for im in ims], labs),
    "nan_pixel": lambda ims, labs: (_set_pixel(ims, np.nan), labs),
    "inf_pixel": lambda ims, labs: (_set_pixel(ims, np.inf), labs),
    "label_shape": lambda ims, labs: (ims, _cut_row(labs)),
    "label_count": lambda ims, labs: (ims, list(labs) + [labs[-1]]),
    "one_class": lambda ims, labs: (ims, _one_class(labs)),
    "unlabeled": lambda ims, labs: (ims, [np.full(np.shape(lab), -1, np.int64) for lab in labs]),
    "label_below_minus_one": lambda ims, labs: (ims, _relabel(labs, lambda lab: np.where(
        np.arange(lab.size).reshape(lab.shape) == 0, -2, lab))),
    "label_non_integer": lambda ims, labs: (ims, [np.where(np.asarray(lab) >= 0, lab + 0.5, -1.0)
                                                  for lab in labs]),
    "label_nan": lambda ims, labs: (ims, [_first_nan(lab) for lab in labs]),
    "images_strings": lambda ims, labs: (["not an image"] * len(labs), labs),
    "images_object": lambda ims, labs: ([np.full(np.shape(im)[:2], None, object) for im in ims],
                                        labs),
    "labels_strings": lambda ims, labs: (ims, [np.full(np.shape(lab), "a") for lab in labs]),
    "mixed_gray_rgb": _mixed,
    "ragged_image": lambda ims, labs: ([[[0.1, 0.2], [0.3]]] + list(ims)[1:], labs),
}


@st.composite
def training_sets(draw, max_side=16, max_images=3, corrupt=0.3):
    """``(images, labels)`` for ``fit``: mostly valid, a fraction ``corrupt`` broken."""
    images, labels = draw(_valid_training_set(max_side, max_images))
    if draw(st.floats(0, 1)) > 1 - corrupt:  # the simplest draw, 0, is a valid set
        name = draw(st.sampled_from(sorted(CORRUPTIONS)))
        images, labels = CORRUPTIONS[name](images, labels)
    return images, labels


# ---------------------------------------------------------------------------
# probability maps
# ---------------------------------------------------------------------------
@st.composite
def prob_maps(draw, max_side=12, max_classes=4, ndim=3, valid=False):
    """A probability-like map (H, W, C) (or (H, W) with ``ndim=2``).

    With ``valid``, a float32 or float64 map of values in [0, 1] (``C >= 2``),
    summing to 1 over the classes half of the time; otherwise sometimes of
    another shape, dtype or value range.
    """
    h, w = draw(_sides(1, max_side))
    c = draw(st.integers(2 if valid else 1, max(max_classes, 2)))
    shape = (h, w, c) if ndim == 3 else (h, w)
    if valid:
        dtype = draw(st.sampled_from(("float32", "float32", "float64")))
        values = FLOAT_RANGES["unit"]
    else:
        shape = draw(st.sampled_from([shape] * 8 + [(h, w), (h,), (h, w, c, 1), (0, w, c)]))
        dtype = draw(st.sampled_from(("float32",) * 4 + ("float64", "int64", "bool", "complex64",
                                                          "object")))
        values = float_values(("unit",) * 6 + ("wide", "finite", "any"))
    prob = draw(_array(dtype, shape, values))
    if draw(st.booleans()) and prob.dtype.kind == "f" and prob.ndim == 3 and prob.size:
        total = np.abs(prob).sum(axis=-1, keepdims=True)
        prob = np.where(total > 0, np.abs(prob) / np.where(total > 0, total, 1), 1 / prob.shape[-1])
        prob = prob.astype(dtype)
    return prob


@st.composite
def one_bad(draw, valid, invalid, p_bad=0.4):
    """Arguments drawn from ``valid`` strategies; with probability ``p_bad`` one of
    them is drawn from its ``invalid`` strategy instead."""
    args = [draw(v) for v in valid]
    if draw(st.floats(0, 1)) > 1 - p_bad:  # the simplest draw, 0, keeps every argument valid
        k = draw(st.integers(0, len(valid) - 1))
        args[k] = draw(invalid[k])
    return tuple(args)


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------
#: What each image format's writer stores: dtype -> shapes ("n": pages or
#: slices, "h", "w": sides), so that every drawn array can be written.
_FILE_LAYOUTS = {
    ".png": {"uint8": ("hw", "hw3", "hw4", "hw2"), "uint16": ("hw",), "bool": ("hw",)},
    ".jpg": {"uint8": ("hw", "hw3")},
    ".tif": dict.fromkeys(("uint8", "uint16", "int8", "int16", "int32", "uint32", "uint64",
                           "float16", "float32", "float64", "bool"),
                          ("hw", "hw", "hw3", "hw4", "hw2", "hw1", "nhw", "1hw", "nhw3", "h",
                           "nnhw")),
}
_FILE_LAYOUTS[".zarr"] = _FILE_LAYOUTS[".tif"]
#: Suffixes of garbage files (those chm.files reads, in any case, and others).
GARBAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".PNG", ".zarr", ".txt", "")


def _layout_shape(layout, n, h, w):
    sizes = {"n": n, "h": h, "w": w}
    return tuple(sizes[c] if c in sizes else int(c) for c in layout)


@st.composite
def file_arrays(draw, suffix, min_side=1, max_side=10):
    """An array the writer of ``suffix`` (.png, .jpg, .tif, .zarr) stores as it is."""
    dtype = draw(st.sampled_from(sorted(_FILE_LAYOUTS[suffix])))
    layout = draw(st.sampled_from(_FILE_LAYOUTS[suffix][dtype]))
    n = draw(st.integers(1, 3))
    h, w = draw(_sides(min_side, max_side))
    values = float_values(("unit", "unit", "unit", "wide", "any"))
    return draw(_array(dtype, _layout_shape(layout, n, h, w), values))


@st.composite
def file_recipes(draw, suffixes=(".png", ".tif", ".jpg", ".zarr"), garbage=0.3):
    """A recipe for one file, made by :func:`write_file`; mostly a valid image.

    ``("image", suffix, array, layout)``: ``array`` written by imageio (PNG,
    JPEG), tifffile or zarr (``layout``: a plain ``"array"``, a ``"group"``
    holding it as ``"0"``, or an ``"ome"`` group naming its axes);
    ``("truncated", suffix, array, fraction)``: the same cut short;
    ``("bytes", suffix, data)``, ``("empty", suffix)``, ``("folder",
    suffix)`` (a folder named like an image) and ``("missing", suffix)``.
    """
    suffix = draw(st.sampled_from(suffixes))
    if draw(st.floats(0, 1)) <= 1 - garbage:  # the simplest draw, 0, is a valid image
        layout = "array"
        if suffix == ".zarr":
            layout = draw(st.sampled_from(["array", "array", "group", "ome"]))
        return "image", suffix, draw(file_arrays(suffix)), layout
    kind = draw(st.sampled_from(["bytes", "bytes", "truncated", "truncated", "empty", "folder",
                                 "missing"]))
    if kind == "bytes":
        return kind, draw(st.sampled_from(GARBAGE_SUFFIXES)), draw(st.binary(max_size=64))
    if kind == "truncated":
        suffix = ".tif" if suffix == ".zarr" else suffix
        return kind, suffix, draw(file_arrays(suffix)), draw(st.floats(0, 1, exclude_max=True))
    return kind, draw(st.sampled_from(GARBAGE_SUFFIXES))


def _write_array(path, suffix, array, layout="array"):
    if suffix in (".png", ".jpg"):
        import imageio.v3 as iio

        iio.imwrite(path, array, plugin="pillow")
    elif suffix == ".tif":
        import tifffile

        tifffile.imwrite(path, array)
    else:
        import zarr

        if layout == "array":
            zarr.create_array(store=path, data=array)
            return
        group = zarr.open_group(path, mode="w")
        group.create_array("0", data=array)
        if layout == "ome":
            axes = "tzyx"[-array.ndim:] if array.ndim <= 2 or array.shape[-1] > 4 else \
                ("tzyx"[-(array.ndim - 1):] + "c")
            group.attrs["multiscales"] = [{"axes": [{"name": a} for a in axes],
                                           "datasets": [{"path": "0"}]}]


def write_file(folder, stem, recipe):
    """Make the file a :func:`file_recipes` recipe describes in ``folder``; return its path."""
    kind, suffix = recipe[0], recipe[1]
    path = os.path.join(folder, stem + suffix)
    if kind == "folder":
        os.makedirs(path, exist_ok=True)
    elif kind in ("bytes", "empty"):
        with open(path, "wb") as fh:
            fh.write(recipe[2] if kind == "bytes" else b"")
    elif kind in ("image", "truncated"):
        _write_array(path, suffix, recipe[2], recipe[3] if kind == "image" else "array")
        if kind == "truncated":
            with open(path, "rb") as fh:
                data = fh.read()
            with open(path, "wb") as fh:
                fh.write(data[:int(recipe[3] * len(data))])
    return path


def tile_sizes(low=16, high=40):
    """A ``tile_size``: mostly an int in ``[low, high]``, else None, too small, or junk."""
    return st.one_of(st.integers(low, high), st.integers(low, high), st.none(),
                     st.integers(-2, low - 1), numbers(-3, high), st.text(max_size=2),
                     st.just(float(low)))
