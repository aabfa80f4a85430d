"""Pyramid plumbing of the contextual hierarchy.

Level 0 is the working resolution; level ``l`` is downsampled by ``2**l``.
Images go down by 2x2 block means, sparse labels go down with their pixels
(a coarse pixel is labeled when a labeled fine pixel falls in it; the class is
the majority of those fine labels, ties to the smaller class index), and
probability maps travel down (block means) or up (bilinear) as context.
"""
import numbers

import numpy as np


def _check_count(value, name):
    """``value`` as an int if it is an integer >= 1 (not a bool), else a ValueError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _check_shape(shape):
    """An (H, W) pair of integers >= 1, else a ValueError."""
    try:
        h, w = shape
    except (TypeError, ValueError):
        raise ValueError(f"out_shape must be a pair (H, W), got {shape!r}") from None
    return _check_count(h, "out_shape[0]"), _check_count(w, "out_shape[1]")


def downsample(image):
    """Halve an (H, W) or (H, W, C) array by 2x2 block means.

    Odd sizes are padded by edge replication, so the result has shape
    ``(ceil(H / 2), ceil(W / 2), ...)``.
    """
    image = np.asarray(image, dtype=np.float32)
    h, w = image.shape[:2]
    pad = [(0, h % 2), (0, w % 2)] + [(0, 0)] * (image.ndim - 2)
    x = np.pad(image, pad, mode="edge")
    x = x.reshape(x.shape[0] // 2, 2, x.shape[1] // 2, 2, *x.shape[2:])
    with np.errstate(over="ignore"):
        out = x.mean(axis=(1, 3), dtype=np.float32)
    if not np.isfinite(out).all():  # a 2x2 sum beyond float32: the mean itself is finite
        out = x.mean(axis=(1, 3), dtype=np.float64).astype(np.float32)
    return out


def downsample_to_level(image, levels):
    """Apply :func:`downsample` ``levels`` times."""
    for _ in range(levels):
        image = downsample(image)
    return image


def pyramid(image, n_levels):
    """List of ``n_levels`` images, level 0 first (``n_levels`` an integer >= 1)."""
    n_levels = _check_count(n_levels, "n_levels")
    out = [np.asarray(image, dtype=np.float32)]
    for _ in range(n_levels - 1):
        out.append(downsample(out[-1]))
    return out


def level_shape(shape, level):
    """Shape of level ``level`` for a level-0 shape ``(H, W)``."""
    h, w = shape[:2]
    for _ in range(level):
        h, w = -(-h // 2), -(-w // 2)
    return h, w


def pool_labels(labels, out_shape, n_classes):
    """Carry sparse labels (class indices, -1 unlabeled) to a coarser grid.

    A pixel ``(r, c)`` of an ``(H, W)`` map lands in coarse pixel
    ``(r * h // H, c * w // W)``. Coarse pixels receive the majority class of
    the labeled pixels that land in them (ties to the smaller index), and -1
    when none does.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be a 2-D integer array, got {labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < -1 or labels.max() >= n_classes):
        raise ValueError(f"labels must be class indices in [-1, {n_classes}), got values from "
                         f"{labels.min()} to {labels.max()}")
    H, W = labels.shape
    h, w = _check_shape(out_shape)
    r, c = np.nonzero(labels >= 0)
    counts = np.zeros((h * w, n_classes), np.int32)
    cell = (r * h // H) * w + (c * w // W)
    np.add.at(counts, (cell, labels[r, c]), 1)
    out = np.where(counts.any(axis=1), counts.argmax(axis=1), -1)
    return out.reshape(h, w).astype(np.int64)


def _bilinear_weights(n_in, n_out):
    """Source rows ``i0``, ``i0 + 1`` and the weight of the second, per output row.

    Output pixel ``i`` samples ``clip((i + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)``.
    """
    x = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    i0 = np.floor(x).astype(np.intp)  # x is clipped to [0, n_in - 1]
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (x - i0).astype(np.float32)


def resize_map(prob, out_shape):
    """Bilinear resampling of an (h, w) or (h, w, C) map to ``out_shape``.

    Pixel centres are aligned (``(i + 0.5) * h / H - 0.5``), edges clamp.
    Separable: rows, then columns, in float32 (the values of
    ``scipy.ndimage.map_coordinates(order=1, mode="nearest")`` on those
    coordinates, up to rounding).
    """
    prob = np.asarray(prob, dtype=np.float32)
    h, w = prob.shape[:2]
    H, W = _check_shape(out_shape)
    if (h, w) == (H, W):
        return prob
    extra = (None,) * (prob.ndim - 2)
    r0, r1, wr = _bilinear_weights(h, H)
    c0, c1, wc = _bilinear_weights(w, W)
    rows = prob[r0] + wr[(slice(None), None) + extra] * (prob[r1] - prob[r0])
    return rows[:, c0] + wc[(None, slice(None)) + extra] * (rows[:, c1] - rows[:, c0])


def grid_step(downscale, n_levels):
    """Input pixels that make whole pixels at every level: the coarsest level's pixel.

    The smallest whole multiple of ``downscale * 2 ** (n_levels - 1)`` (of
    the first 100). Images are padded to multiples of it, so that the
    working resolution is exactly ``1 / downscale`` of the input and every
    level exactly half the one below, and tiles cut at multiples of it
    line up with the pyramid of the whole image.

    Examples
    --------
    >>> grid_step(2.0, 4), grid_step(1.5, 2), grid_step(1, 1)
    (16, 3, 1)
    """
    n_levels = _check_count(n_levels, "n_levels")
    if isinstance(downscale, (bool, np.bool_)) or not isinstance(downscale, numbers.Real) \
            or not np.isfinite(downscale) or downscale < 1:
        raise ValueError(f"downscale must be a finite number >= 1, got {downscale!r}")
    coarsest = float(downscale) * 2 ** (n_levels - 1)
    k = next((k for k in range(1, 101) if abs(k * coarsest - round(k * coarsest)) < 1e-9), 1)
    return max(1, int(round(k * coarsest)))


def padded_shape(shape, step):
    """``(H, W)`` of ``shape`` rounded up to multiples of ``step``."""
    step = _check_count(step, "step")
    h, w = shape[:2]
    return h + -h % step, w + -w % step


def pad_to_step(image, step, fill=None):
    """``image`` (H, W[, C]) extended at its bottom and right to multiples of ``step``.

    By mirroring, or with the constant ``fill`` (e.g. -1 for label maps).
    """
    h, w = image.shape[:2]
    hp, wp = padded_shape(image.shape, step)
    if (hp, wp) == (h, w):
        return image
    pad = [(0, hp - h), (0, wp - w)] + [(0, 0)] * (image.ndim - 2)
    if fill is None:
        return np.pad(image, pad, mode="symmetric")
    return np.pad(image, pad, constant_values=fill)
