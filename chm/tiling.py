"""Tiled prediction: the receptive field of a hierarchy, and windows with a halo.

A CHM's output at a pixel depends on the input within its *receptive field*:
the support of the image filters at every pyramid level, the context stencils
that read the maps of other levels, and the resampling between levels and
resolutions. Predicting a large image tile by tile, each tile with a halo at
least that wide, gives the same maps as predicting it whole, while memory is
bounded by the tile.

Examples
--------
Rows of a 100-row image in 64-row tiles with an 8-row halo: (window, tile in
the window).

>>> [((w[0].start, w[0].stop), (c[0].start, c[0].stop))
...  for w, c in tile_windows((100, 50), tile=64, halo=8)]
[((0, 72), (0, 64)), ((56, 100), (8, 44))]
"""
import math
import numbers

import numpy as np

__all__ = ["filter_support", "measure_support", "receptive_field", "tile_windows",
           "predict_tiled"]


def filter_support(filt, n_channels=1, rtol=1e-4, start=65, max_size=2049):
    """Radius in pixels beyond which a pixel no longer changes ``filt``'s output.

    Cached by the filter's type and ``repr`` (its parameters, for the
    filters of :mod:`features`), so that fits with the same bank measure it
    once; see :func:`measure_support`.
    """
    key = (type(filt), repr(filt), n_channels, rtol, start, max_size)
    if key not in _SUPPORTS:
        _SUPPORTS[key] = measure_support(filt, n_channels, rtol, start, max_size)
    return _SUPPORTS[key]


_SUPPORTS = {}


def measure_support(filt, n_channels=1, rtol=1e-4, start=65, max_size=2049):
    """Radius in pixels beyond which a pixel no longer changes ``filt``'s output.

    Measured, not declared, so that it holds for any filter: the features of
    a random image and of the same image with its centre pixel changed are
    compared, and the support is the largest distance (Chebyshev) from the
    centre at which some feature differs by more than ``rtol`` times that
    feature's largest change (FFT-based filters spread rounding noise
    everywhere). The canvas doubles until the support fits well inside it.

    Parameters
    ----------
    filt : callable
        ``filt(image) -> (H, W, F)``, e.g. a :class:`features.Filter`.
    n_channels : int, default 1
        1 for (H, W) inputs, else the C of (H, W, C) inputs.
    rtol : float, default 1e-4
    start, max_size : int
        First and largest canvas side (odd).

    Returns
    -------
    int
    """
    rng = np.random.RandomState(0)
    size = start
    while True:
        shape = (size, size) if n_channels == 1 else (size, size, n_channels)
        base = rng.random_sample(shape).astype(np.float32)
        bumped = base.copy()
        c = size // 2
        centre = bumped[c, c]  # a pixel (or its channels), moved by 0.5 within [0, 1]
        bumped[c, c] = np.where(centre < 0.5, centre + np.float32(0.5), centre - np.float32(0.5))
        diff = np.abs(filt(bumped).astype(np.float64) - filt(base).astype(np.float64))
        peak = diff.reshape(-1, diff.shape[-1]).max(axis=0)
        changed = (diff > rtol * np.where(peak > 0, peak, np.inf)).any(axis=-1)
        rows, cols = np.nonzero(changed)
        radius = int(max(np.abs(rows - c).max(), np.abs(cols - c).max())) if rows.size else 0
        if radius < size // 4 or size >= max_size:
            return radius
        size = 2 * size - 1


def receptive_field(plan, bank_support, context_support, downscale):
    """Halo (input pixels) that covers the receptive field of a hierarchy's output.

    A bound built unit by unit over ``plan``, in working-resolution pixels:
    a unit at level ``l`` sees its features, whose support is
    ``2**l * (bank_support + 1)`` (the filters at level ``l``, plus the
    block means that built the level), and every context map it reads,
    whose own receptive field grows by the stencil (``2**l *
    context_support``) and the resampling to level ``l`` (one pixel of the
    coarser of the two levels). The output's field is then scaled to the
    input (``downscale``), with the anti-aliasing filter of the working
    image (4 sigma, sigma = (downscale - 1) / 2) and the final bilinear
    upsampling (``downscale``).

    Parameters
    ----------
    plan : chm.plan.Plan
    bank_support, context_support : int
        :func:`filter_support` of the image filter bank and of the context
        filter.
    downscale : float

    Returns
    -------
    int
    """
    fields = []
    for spec in plan:
        scale = 2 ** spec.level
        field = scale * (bank_support + 1)
        for j in spec.context:
            coarser = 2 ** max(plan[j].level, spec.level)
            field = max(field, fields[j] + scale * context_support + coarser)
        fields.append(field)
    sigma = max(0.0, (downscale - 1) / 2)
    return int(math.ceil(fields[-1] * downscale + 4 * sigma + downscale)) + 1


def _spans(n, tile, halo, align):
    """Per axis: (window start, window stop, crop start, crop stop) covering ``range(n)``."""
    tile = max(align, tile // align * align)
    halo = -(-halo // align) * align
    out = []
    for start in range(0, n, tile):
        stop = min(n, start + tile)
        w0, w1 = max(0, start - halo), min(n, stop + halo)
        out.append((w0, w1, start - w0, stop - w0))
    return out


def tile_windows(shape, tile, halo, align=1):
    """Windows with a halo that cover an image of ``shape`` tile by tile.

    Parameters
    ----------
    shape : tuple
        (H, W) of the image.
    tile : int
        Side of the tiles (rounded down to a multiple of ``align``).
    halo : int
        Margin added on each side of a tile, clipped at the image border
        (rounded up to a multiple of ``align``).
    align : int, default 1
        Window origins are multiples of it, so that the pyramid of a window
        lines up with that of the whole image.

    Yields
    ------
    window : tuple of slice
        The part of the image to predict.
    crop : tuple of slice
        The tile within the window's prediction.
    """
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError(f"shape must be (H, W, ...), got {shape!r}")
    for name, value, low in (("H", shape[0], 1), ("W", shape[1], 1), ("tile", tile, 1),
                             ("halo", halo, 0), ("align", align, 1)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
                or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    tile, halo, align = int(tile), int(halo), int(align)  # numpy integers would wrap around
    for r0, r1, a0, a1 in _spans(int(shape[0]), tile, halo, align):
        for c0, c1, b0, b1 in _spans(int(shape[1]), tile, halo, align):
            yield (slice(r0, r1), slice(c0, c1)), (slice(a0, a1), slice(b0, b1))


def predict_tiled(predict_one, image, tile, halo, align=1, progress=None):
    """Stitch ``predict_one(window)`` over the tiles of ``image``.

    Parameters
    ----------
    predict_one : callable
        Map of one image window: an array whose first two axes are the
        window's (e.g. probabilities (h, w, C) or labels (h, w)).
    image : ndarray, (H, W) or (H, W, C)
    tile, halo, align : int
        See :func:`tile_windows`.
    progress : callable or None
        Wraps the list of windows (e.g. a tqdm bar).

    Returns
    -------
    ndarray
        (H, W, ...) with the dtype and trailing shape of the windows' maps.
    """
    out = None
    windows = list(tile_windows(image.shape[:2], tile, halo, align))
    for window, crop in (progress(windows) if progress else windows):
        part = predict_one(np.ascontiguousarray(image[window]))[crop]
        if out is None:
            out = np.empty(image.shape[:2] + part.shape[2:], part.dtype)
        rows = slice(window[0].start + crop[0].start, window[0].start + crop[0].stop)
        cols = slice(window[1].start + crop[1].start, window[1].start + crop[1].stop)
        out[rows, cols] = part
    return out
