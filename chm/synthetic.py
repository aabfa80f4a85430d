"""Synthetic segmentation problems for fast unit tests and examples.

:func:`make_shapes` draws images made of a few rectangles and ellipses per
class on a background, each class with its own brightness (or colour) and
texture, plus Gaussian noise, together with the dense ground-truth masks.
The problems are small and easy enough for a model to learn in a second or
two, and fully determined by ``random_state``.

Examples
--------
>>> images, masks = make_shapes(n_images=2, shape=(20, 24), random_state=0)
>>> len(images), images[0].shape, images[0].dtype, masks[0].dtype
(2, (20, 24), dtype('float32'), dtype('int64'))
>>> sorted(np.unique(masks[0]).tolist())
[0, 1]
"""

import numpy as np
from sklearn.utils import check_random_state

from ._validation import check_int

__all__ = ["make_shapes", "class_colors", "class_levels"]

_MAX_TRIES = 50


def class_levels(n_classes):
    """Mean gray level of each class: evenly spaced in [0.15, 0.85].

    Class 0 (the background) is the darkest.

    Parameters
    ----------
    n_classes : int

    Returns
    -------
    ndarray of float32, shape (n_classes,)
    """
    return np.linspace(0.15, 0.85, n_classes).astype(np.float32)


def class_colors(n_classes):
    """Mean RGB colour of each class: hues spread around the colour wheel.

    Class 0 (the background) is a dark gray; class ``k >= 1`` a saturated
    hue, different for every class.

    Parameters
    ----------
    n_classes : int

    Returns
    -------
    ndarray of float32, shape (n_classes, 3)
    """
    colors = np.empty((n_classes, 3), np.float32)
    colors[0] = 0.2
    for k in range(1, n_classes):
        hue = (k - 1) / max(n_classes - 1, 1)
        # piecewise-linear hue -> RGB, value 0.9, saturation 0.8
        rgb = np.clip(np.abs(((hue * 6 + np.array([0, 4, 2])) % 6) - 3) - 1, 0, 1)
        colors[k] = 0.9 * (1 - 0.8 + 0.8 * rgb)
    return colors


def _check_shape(shape):
    try:
        h, w = (int(s) for s in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be a pair (H, W), got {shape!r}") from None
    if h < 8 or w < 8:
        raise ValueError(f"shape must be at least (8, 8), got {shape!r}")
    return h, w


def _texture(kind, h, w, rng):
    """A zero-mean pattern of amplitude about 1 that tells classes apart."""
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 0:
        return np.zeros((h, w), np.float32)
    # stripes whose period and direction depend on the class
    period = 3.0 + (kind % 3)
    angle = (kind * 0.9 + rng.uniform(-0.2, 0.2)) % np.pi
    phase = rng.uniform(0, 2 * np.pi)
    u = rows * np.sin(angle) + cols * np.cos(angle)
    return np.sin(2 * np.pi * u / period + phase).astype(np.float32)


def _shape_mask(h, w, rng, min_size, max_size):
    """A random axis-aligned rectangle or ellipse: boolean (h, w)."""
    sh = int(rng.randint(min_size[0], max_size[0] + 1))
    sw = int(rng.randint(min_size[1], max_size[1] + 1))
    r0 = int(rng.randint(0, h - sh + 1))
    c0 = int(rng.randint(0, w - sw + 1))
    mask = np.zeros((h, w), bool)
    if rng.rand() < 0.5:
        mask[r0:r0 + sh, c0:c0 + sw] = True
    else:
        rr, cc = np.mgrid[0:sh, 0:sw]
        ry, rx = sh / 2.0, sw / 2.0
        inside = ((rr + 0.5 - ry) / ry) ** 2 + ((cc + 0.5 - rx) / rx) ** 2 <= 1.0
        mask[r0:r0 + sh, c0:c0 + sw] = inside
    return mask


def _one_mask(h, w, n_classes, n_shapes, rng):
    """Dense mask with every class present; shapes avoid each other when they can."""
    min_size = (max(3, h // 5), max(3, w // 5))
    max_size = (max(min_size[0], h // 2), max(min_size[1], w // 2))
    for _ in range(_MAX_TRIES):
        mask = np.zeros((h, w), np.int64)
        for k in range(1, n_classes):
            for _ in range(n_shapes):
                for _ in range(_MAX_TRIES):
                    blob = _shape_mask(h, w, rng, min_size, max_size)
                    if not mask[blob].any():
                        break
                mask[blob] = k
        if np.unique(mask).size == n_classes:
            return mask
    raise RuntimeError(  # pragma: no cover - only for absurd settings
        f"could not fit {n_classes - 1} foreground classes in a {h}x{w} image"
    )


def make_shapes(n_images=4, shape=(40, 48), n_classes=2, noise=0.3, color=False,
                vary_size=False, n_shapes=2, texture=0.1, random_state=None):
    """Images of textured bright shapes on a background, with dense masks.

    Every foreground class ``k = 1 .. n_classes - 1`` gets ``n_shapes``
    rectangles or ellipses per image (placed without overlap when there is
    room); the rest of the image is class 0. Each class has its own mean
    gray level (:func:`class_levels`) or colour (:func:`class_colors`) and
    its own stripe texture; Gaussian noise is added and the result clipped
    to [0, 1]. Every class is present in every mask.

    Parameters
    ----------
    n_images : int, default 4
        Number of images.
    shape : (int, int), default (40, 48)
        Image size (H, W), at least (8, 8).
    n_classes : int, default 2
        Number of classes including the background, at least 2.
    noise : float, default 0.3
        Standard deviation of the additive Gaussian noise, relative to the
        gray-level step between two consecutive classes. ``0`` gives clean
        images.
    color : bool, default False
        RGB images (H, W, 3) instead of gray (H, W).
    vary_size : bool, default False
        Draw each image's height and width independently and uniformly
        within +-25 % of ``shape`` instead of using ``shape`` itself.
    n_shapes : int, default 2
        Shapes per foreground class and image.
    texture : float, default 0.1
        Amplitude of the stripe texture of the foreground classes.
    random_state : int, RandomState instance or None
        Seed; the same seed gives the same images and masks.

    Returns
    -------
    images : list of ndarray, float32
        (H, W) or (H, W, 3), values in [0, 1].
    masks : list of ndarray, int64
        (H, W), values ``0 .. n_classes - 1``.

    Raises
    ------
    ValueError
        For a non-positive count, a shape smaller than (8, 8), fewer than
        two classes, or a negative noise or texture.
    """
    n_images = check_int(n_images, "n_images", 1)
    n_classes = check_int(n_classes, "n_classes", 2)
    n_shapes = check_int(n_shapes, "n_shapes", 1)
    h0, w0 = _check_shape(shape)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    if not np.isfinite(texture) or texture < 0:
        raise ValueError(f"texture must be a finite number >= 0, got {texture!r}")
    rng = check_random_state(random_state)
    levels = class_levels(n_classes)
    step = float(levels[1] - levels[0])
    colors = class_colors(n_classes) if color else None
    images, masks = [], []
    for _ in range(n_images):
        if vary_size:
            h = int(rng.randint(max(8, h0 - h0 // 4), h0 + h0 // 4 + 1))
            w = int(rng.randint(max(8, w0 - w0 // 4), w0 + w0 // 4 + 1))
        else:
            h, w = h0, w0
        mask = _one_mask(h, w, n_classes, n_shapes, rng)
        pattern = np.zeros((h, w), np.float32)
        for k in range(1, n_classes):
            pattern += np.where(mask == k, _texture(k, h, w, rng), 0).astype(np.float32)
        pattern *= np.float32(texture)
        if color:
            image = colors[mask] + pattern[..., None]
            image += (noise * step) * rng.standard_normal((h, w, 3)).astype(np.float32)
        else:
            image = levels[mask] + pattern
            image += (noise * step) * rng.standard_normal((h, w)).astype(np.float32)
        images.append(np.clip(image, 0.0, 1.0).astype(np.float32))
        masks.append(mask)
    return images, masks
