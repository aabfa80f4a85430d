"""Input checks shared by every estimator.

Images and label maps are passed either as a list (or tuple) of arrays of
possibly different sizes, or as one stacked array.  The functions here turn
them into lists of float32 images and int64 label maps, or raise an error
naming the problem and the image concerned.  Label value ``-1`` marks an
unlabeled pixel.
"""
import numbers

import numpy as np

from ._params import Boolean, Interval, check_param

__all__ = [
    "check_bool",
    "check_int",
    "check_images",
    "check_labels",
    "check_label_maps",
    "check_sparse_labels",
    "check_labels_in_classes",
    "image_channels",
    "integers_to_unit",
]

_NUMERIC_KINDS = "biuf"


def check_bool(value, name):
    """``bool(value)`` if it is a Python or numpy bool, else a ValueError naming ``name``."""
    return bool(check_param(name, value, [Boolean()]))


def check_int(value, name, low):
    """``int(value)`` if it is an integer (not a bool) ``>= low``, else a ValueError naming ``name``."""
    return int(check_param(name, value, [Interval(numbers.Integral, low, None, closed="left")]))


def _as_list(data, what, stack_ndims):
    """Split an image/label container into a list of arrays.

    Parameters
    ----------
    data : list, tuple or ndarray
        A sequence of per-image arrays, or one stacked array whose ndim is in
        ``stack_ndims`` (a 1-D object array is treated as a sequence).
    what : str
        Name used in error messages ("images", "labels").
    stack_ndims : tuple of int
        Allowed ndim of a stacked array.

    Returns
    -------
    items : list
        One entry per image (not yet converted).

    Raises
    ------
    TypeError
        If ``data`` is not a list, tuple or array.
    ValueError
        If ``data`` is empty or a stacked array has the wrong ndim.
    """
    if isinstance(data, np.ndarray):
        if data.dtype == object and data.ndim == 1:
            items = list(data)
        elif data.ndim in stack_ndims:
            items = list(data)
        else:
            shapes = " or ".join(
                "(N, H, W)" if n == 3 else "(N, H, W, 3)" for n in stack_ndims
            )
            raise ValueError(
                f"a stacked array of {what} must have shape {shapes}, got shape "
                f"{data.shape}; pass a list to give a single image"
            )
    elif isinstance(data, (list, tuple)):
        items = list(data)
    else:
        raise TypeError(
            f"{what} must be a list of arrays or a stacked ndarray, got {type(data).__name__}"
        )
    if len(items) == 0:
        raise ValueError(f"{what} is empty: need at least one image")
    return items


def _as_numeric_array(item, what, index):
    """``np.asarray`` with a TypeError for anything that is not numeric."""
    if isinstance(item, (str, bytes)) or item is None:
        raise TypeError(f"{what}[{index}] is not an array (got {type(item).__name__})")
    try:
        arr = np.asarray(item)
    except (ValueError, TypeError) as exc:  # ragged nested sequences
        raise TypeError(f"{what}[{index}] is not array-like: {exc}") from None
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(f"{what}[{index}] must be numeric, got dtype {arr.dtype}")
    return arr


def check_images(images):
    """Validate images and convert them to float32.

    Parameters
    ----------
    images : list or tuple of array_like, or ndarray
        Either a sequence of images, each (H, W) (gray) or (H, W, 3) (RGB),
        sizes free to differ; or one stack of shape (N, H, W) or
        (N, H, W, 3).  An (H, W, 1) image is taken as gray.  Integer images
        are scaled to [0, 1] by their dtype's range (uint8 is divided by 255, a
        signed dtype is mapped from its [min, max]);
        boolean images become 0/1; float images are kept as they are.

    Returns
    -------
    images : list of ndarray, float32
        Each (H, W) or (H, W, 3), C-contiguous.  An input that is already
        float32 and C-contiguous is returned without copy.

    Raises
    ------
    TypeError
        If ``images`` or one of its images is not a numeric array.
    ValueError
        If the list is empty, an image has the wrong ndim or channel count,
        fewer than 2 rows or columns, NaN or inf pixels, or gray and RGB
        images are mixed.
    """
    items = _as_list(images, "images", stack_ndims=(3, 4))
    out = []
    first_rgb = None
    for index, item in enumerate(items):
        arr = _as_numeric_array(item, "images", index)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        if arr.ndim not in (2, 3):
            raise ValueError(
                f"image {index} must have shape (H, W) or (H, W, 3), got shape {arr.shape}"
            )
        if arr.ndim == 3 and arr.shape[2] != 3:
            raise ValueError(
                f"image {index} has {arr.shape[2]} channels; expected 1 (gray) or 3 (RGB)"
            )
        if arr.shape[0] < 2 or arr.shape[1] < 2:
            raise ValueError(
                f"image {index} has shape {arr.shape}; need at least 2 rows and 2 columns"
            )
        is_rgb = arr.ndim == 3
        if first_rgb is None:
            first_rgb = is_rgb
        elif is_rgb != first_rgb:
            kinds = {True: "RGB", False: "gray"}
            raise ValueError(
                f"image {index} is {kinds[is_rgb]} but image 0 is {kinds[first_rgb]}; "
                "do not mix gray and RGB images"
            )
        if arr.dtype.kind in "iu":
            arr = integers_to_unit(arr)
        else:
            arr = np.ascontiguousarray(arr, dtype=np.float32)
            if not np.isfinite(arr).all():
                raise ValueError(f"image {index} holds NaN or inf pixels")
        out.append(arr)
    return out


def integers_to_unit(data):
    """Integer pixels as float32 in [0, 1], by their dtype's range (not the image's).

    An unsigned image is divided by its dtype's maximum (255 for uint8, 65535
    for uint16); a signed one is mapped from its dtype's ``[min, max]``.
    """
    info = np.iinfo(data.dtype)
    out = np.asarray(data).astype(np.float32, order="C")
    if info.min:
        out -= np.float32(info.min)
    out /= np.float32(float(info.max) - float(info.min))
    return out


def image_channels(images):
    """Channels of images validated by :func:`check_images`: 1 (gray) or 3 (RGB)."""
    return 1 if images[0].ndim == 2 else images[0].shape[2]


def _label_array(item, index):
    """Convert one label map to int64 (integral values only, >= -1)."""
    arr = _as_numeric_array(item, "labels", index)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise ValueError(f"label map {index} holds NaN or inf values")
        if not np.array_equal(arr, np.round(arr)):
            raise ValueError(
                f"label map {index} holds non-integer values; labels must be "
                "integers (-1 for unlabeled)"
            )
    labels = np.ascontiguousarray(arr, dtype=np.int64)
    if labels.size and labels.min() < -1:
        raise ValueError(
            f"label map {index} holds the value {labels.min()}; labels must be >= -1 "
            "(-1 marks an unlabeled pixel)"
        )
    return labels


def check_label_maps(labels):
    """Validate label maps on their own, without reference images.

    Parameters
    ----------
    labels : list or tuple of array_like, or ndarray of shape (N, H, W)
        Label maps, each 2-D.

    Returns
    -------
    labels : list of ndarray, int64

    Raises
    ------
    TypeError
        If ``labels`` or one of its maps is not a numeric array.
    ValueError
        If the list is empty, a map is not 2-D, or a value is not integral
        or is below -1.
    """
    items = _as_list(labels, "labels", stack_ndims=(3,))
    out = []
    for index, item in enumerate(items):
        arr = _label_array(item, index)
        if arr.ndim != 2:
            raise ValueError(f"label map {index} must be 2-D (H, W), got shape {arr.shape}")
        out.append(arr)
    return out


def check_labels(labels, images):
    """Validate label maps against their images.

    Parameters
    ----------
    labels : list or tuple of array_like, or ndarray of shape (N, H, W)
        One label map per image: integer class values, ``-1`` for unlabeled
        pixels.  Float arrays are accepted when all values are integral.
    images : sequence of ndarray
        The images, as returned by :func:`check_images`; only their
        (H, W) shapes are used.

    Returns
    -------
    labels : list of ndarray, int64
        Each the (H, W) of its image, C-contiguous.

    Raises
    ------
    TypeError
        If ``labels`` or one of its maps is not a numeric array.
    ValueError
        If the number of maps differs from the number of images, a map's
        shape differs from its image's (H, W), a value is not integral or is
        below -1.
    """
    items = _as_list(labels, "labels", stack_ndims=(3,))
    if len(items) != len(images):
        raise ValueError(f"got {len(items)} label maps for {len(images)} images")
    out = []
    for index, (item, image) in enumerate(zip(items, images)):
        arr = _label_array(item, index)
        expected = tuple(np.shape(image)[:2])
        if arr.shape != expected:
            raise ValueError(
                f"label map {index} has shape {arr.shape} but its image is {expected}"
            )
        out.append(arr)
    return out


def _labeled_counts(labels):
    """Per-class counts of labeled pixels over all maps (labels >= 0).

    Returns
    -------
    classes : ndarray of int64
        Sorted labeled values.
    counts : ndarray of int64
        Their pixel counts.
    """
    dense_max = 1 << 20
    total = np.zeros(0, np.int64)
    others = []
    for arr in labels:
        arr = np.asarray(arr)
        known = arr[arr >= 0] if arr.size else arr.ravel()
        if known.size == 0:
            continue
        top = int(known.max())
        if top < dense_max:
            counts = np.bincount(known.ravel(), minlength=total.size)
            if counts.size > total.size:
                counts[: total.size] += total
                total = counts
            else:
                total += counts
        else:
            others.append(known.ravel())
    classes = np.flatnonzero(total).astype(np.int64)
    counts = total[classes]
    if others:
        big, big_counts = np.unique(np.concatenate(others), return_counts=True)
        merged = {int(c): int(n) for c, n in zip(classes, counts)}
        for c, n in zip(big, big_counts):
            merged[int(c)] = merged.get(int(c), 0) + int(n)
        classes = np.array(sorted(merged), np.int64)
        counts = np.array([merged[c] for c in classes], np.int64)
    return classes, counts


def check_sparse_labels(labels, min_classes=2):
    """Check that sparse labels hold enough labeled classes.

    Parameters
    ----------
    labels : list of ndarray of int
        Label maps as returned by :func:`check_labels` (``-1`` unlabeled).
    min_classes : int, default=2
        Least number of distinct labeled classes.

    Returns
    -------
    classes : ndarray of int64
        The sorted distinct labeled values.

    Raises
    ------
    ValueError
        If no pixel is labeled, or fewer than ``min_classes`` classes are.
    """
    classes, _ = _labeled_counts(labels)
    if classes.size == 0:
        raise ValueError("no labeled pixels: every label is -1")
    if classes.size < min_classes:
        if classes.size == 1:
            raise ValueError(
                f"only one class ({classes[0]}) is labeled; need at least {min_classes} classes"
            )
        raise ValueError(
            f"only {classes.size} classes {classes} are labeled; "
            f"need at least {min_classes} classes"
        )
    return classes


def check_labels_in_classes(labels, classes):
    """Check that every labeled value belongs to the classes seen in fit.

    Parameters
    ----------
    labels : list of ndarray of int
        Label maps (``-1`` unlabeled).
    classes : array_like of int
        The classes seen in fit.

    Raises
    ------
    ValueError
        Naming the smallest offending label value and the first image that
        holds it.
    """
    classes = np.asarray(classes)
    for index, arr in enumerate(labels):
        arr = np.asarray(arr)
        known = arr[arr >= 0]
        if known.size == 0:
            continue
        values = np.unique(known) if known.max() >= (1 << 20) else np.flatnonzero(
            np.bincount(known)
        )
        bad = values[~np.isin(values, classes)]
        if bad.size:
            raise ValueError(
                f"label {bad[0]} is beyond the classes seen in fit {classes} (image {index})"
            )
