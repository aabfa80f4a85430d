"""Prediction of large images in tiles with dask, locally or on a cluster.

An image (a numpy, dask or zarr array, ``(H, W)`` or ``(H, W, 3)``) is cut
into tiles that each carry a halo of ``depth`` pixels of their neighbours
(:func:`dask.array.map_overlap`); each tile with its halo is predicted on its
own and the halo is cut away again. The prediction of a pixel depends on the
pixels within the model's receptive field, so with a halo at least that wide
every kept pixel sees the image it would see untiled. At the image border
the tiles get no halo (``boundary="none"``): the model sees the true border,
as it does untiled.

The halo is the model's ``receptive_field_`` (in input pixels) when it has
one. Without it, :class:`chm.baselines.ForestSegmenter` gets the reach of
its widest Gaussian filter, and any other model :data:`FALLBACK_HALO`
pixels (a guess, not a bound: CHM models state their receptive field).
Tile origins and the halo are
multiples of the model's pyramid step (``downscale * 2 ** (n_levels - 1)``
for CHM), so that tiles are downsampled on the grid of the whole image, and
a CHM pads every image (and so the last tiles) to multiples of that step in
the same way: the tiled maps equal the whole-image ones up to float32
rounding, at any image size.

The tasks run wherever dask runs them: threads by default, or the workers
of a :class:`dask.distributed.Client` (``chm predict --scheduler ADDRESS``).

Examples
--------
>>> import numpy as np
>>> from chm.baselines import ForestSegmenter
>>> from chm.synthetic import make_shapes
>>> images, masks = make_shapes(n_images=2, shape=(40, 48), random_state=0)
>>> model = ForestSegmenter(n_estimators=5, sigma_max=2, random_state=0).fit(images, masks)
>>> tiled = predict_proba(model, images[0], tile_size=16).compute()
>>> bool(np.array_equal(tiled, model.predict_proba([images[0]])[0]))
True
"""
import math
import numbers

import numpy as np

from .files import scale_pixels
from .hierarchy import grid_step as hierarchy_grid_step

__all__ = ["FALLBACK_HALO", "halo", "grid_step", "predict_proba", "predict"]

FALLBACK_HALO = 256
"""Halo in input pixels for a model that states no ``receptive_field_``."""


def halo(model):
    """Halo (input pixels) a tile needs for its pixels to be predicted as untiled.

    Parameters
    ----------
    model : fitted segmenter

    Returns
    -------
    int
        ``model.receptive_field_`` when present; for a
        :class:`~chm.baselines.ForestSegmenter`, the radius of its widest
        Gaussian (4 ``sigma_max``, scipy's truncation) plus the finite
        differences of its edge and Hessian features; else
        :data:`FALLBACK_HALO`.
    """
    reach = getattr(model, "receptive_field_", None)
    if reach is not None:
        return int(math.ceil(np.max(reach)))
    from .baselines import ForestSegmenter

    if isinstance(model, ForestSegmenter):
        return int(math.ceil(4 * float(model.sigma_max))) + 3
    return FALLBACK_HALO


def grid_step(model):
    """Pixel multiple that keeps tiles on the pyramid grid of the whole image.

    For a fitted CHM, the step of its plan (``plan_.step``); for another
    model with ``n_levels`` and ``downscale``, :func:`chm.hierarchy.grid_step`;
    else 1.
    """
    plan = getattr(model, "plan_", None)
    if plan is not None:
        return plan.step
    n_levels = getattr(model, "n_levels", None)
    downscale = getattr(model, "downscale", None)
    if n_levels is None or downscale is None:
        return 1
    return hierarchy_grid_step(float(downscale), int(n_levels))


def _round_up(value, step):
    return -(-int(value) // step) * step


def _axis_chunks(size, tile, depth):
    """Chunk sizes of one axis: ``tile`` each, the last one folded in if under ``depth``."""
    chunks = [tile] * (size // tile)
    rest = size - tile * len(chunks)
    if rest:
        if chunks and rest < depth:
            chunks[-1] += rest
        else:
            chunks.append(rest)
    return tuple(chunks)


def _overlapped(chunks, depth):
    """Sizes of the chunks of one axis once their halo is added (none at the border)."""
    n = len(chunks)
    return tuple(c + depth * (i > 0) + depth * (i < n - 1) for i, c in enumerate(chunks))


def _tile_proba(block, model):
    """Probabilities (h, w, C) float32 of one tile (h, w, channels) with its halo."""
    image = block[..., 0] if block.shape[-1] == 1 else block
    return np.asarray(model.predict_proba([scale_pixels(image)])[0], np.float32)


def _tile_labels(proba, classes):
    return classes[proba.argmax(axis=-1)]


def predict_proba(model, image, tile_size=1024, depth=None):
    """Class probabilities of a large image, as a lazy dask array.

    Parameters
    ----------
    model : fitted segmenter
        Any estimator of the package (``predict_proba`` on a list of images,
        ``classes_``). It is put in the task graph once, so a distributed
        scheduler sends it to every worker.
    image : ndarray, dask.array.Array or zarr.Array, shape (H, W) or (H, W, 3)
        Integer pixels are scaled by their dtype's range tile by tile
        (:func:`chm.files.scale_pixels`), float pixels taken as they are.
    tile_size : int, default 1024
        Side of the tiles, before their halo (rounded up to a multiple of
        :func:`grid_step`, and to at least the halo).
    depth : int or None
        Halo in input pixels; ``None`` takes :func:`halo` of the model
        (rounded up to a multiple of :func:`grid_step`).

    Returns
    -------
    dask.array.Array of float32, shape (H, W, n_classes)
        Channel ``k`` is ``model.classes_[k]``. Call ``.compute()`` (or
        store it with :func:`dask.array.to_zarr`).

    Raises
    ------
    ValueError
        For an image that is not (H, W) or (H, W, 3), or a tile size < 1.
    """
    import dask
    import dask.array as da

    if image.ndim not in (2, 3) or image.ndim == 3 and image.shape[2] != 3:
        raise ValueError(f"image must be (H, W) or (H, W, 3), got shape {tuple(image.shape)}")
    if isinstance(tile_size, (bool, np.bool_)) or not isinstance(tile_size, numbers.Integral) \
            or tile_size < 1:
        raise ValueError(f"tile_size must be an integer >= 1, got {tile_size!r}")
    if depth is not None and (isinstance(depth, (bool, np.bool_))
                              or not isinstance(depth, numbers.Integral) or depth < 0):
        raise ValueError(f"depth must be None or an integer >= 0, got {depth!r}")
    step = grid_step(model)
    depth = _round_up(halo(model) if depth is None else int(depth), step)
    tile = _round_up(max(int(tile_size), depth, 1), step)
    x = image if isinstance(image, da.Array) else da.from_array(image, chunks=-1)
    if x.ndim == 2:
        x = x[..., None]
    h, w, c = x.shape
    chunks = (_axis_chunks(h, tile, depth), _axis_chunks(w, tile, depth), (c,))
    x = x.rechunk(chunks)
    n_classes = len(model.classes_)
    out_chunks = (_overlapped(chunks[0], depth), _overlapped(chunks[1], depth), (n_classes,))
    return da.map_overlap(_tile_proba, x, model=dask.delayed(model, pure=True),
                          depth={0: depth, 1: depth, 2: 0}, boundary="none",
                          chunks=out_chunks, dtype=np.float32,
                          meta=np.empty((0, 0, 0), np.float32))


def predict(model, image, tile_size=1024, depth=None):
    """Label map of a large image (values in ``model.classes_``), as a lazy dask array.

    Parameters and tiling as :func:`predict_proba`; returns a dask array
    ``(H, W)`` of the dtype of ``model.classes_``.
    """
    proba = predict_proba(model, image, tile_size=tile_size, depth=depth)
    classes = np.asarray(model.classes_)
    return proba.map_blocks(_tile_labels, classes, drop_axis=2, dtype=classes.dtype,
                            meta=np.empty((0, 0), classes.dtype))
