"""Synthetic segmentation problems for fast unit tests and examples.

:func:`make_shapes` draws images made of a few rectangles and ellipses per
class on a background, each class with its own brightness (or colour) and
texture, plus Gaussian noise, together with the dense ground-truth masks.
The problems are small and easy enough for a model to learn in a second or
two, and fully determined by ``random_state``.

:func:`make_thin_structures` draws a network of thin curved boundaries
between cells (membranes in electron microscopy, vessel walls), 1 to a few
pixels wide, blurred, shaded and noisy, with dark blobs inside the cells:
the problem the contextual model is made for, where a pixel's own intensity
does not tell its class.

Examples
--------
>>> images, masks = make_shapes(n_images=2, shape=(20, 24), random_state=0)
>>> len(images), images[0].shape, images[0].dtype, masks[0].dtype
(2, (20, 24), dtype('float32'), dtype('int64'))
>>> sorted(np.unique(masks[0]).tolist())
[0, 1]
"""

import numbers

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree
from sklearn.utils import check_random_state

from ._params import Interval, check_param
from ._validation import check_int

__all__ = ["make_shapes", "make_thin_structures", "class_colors", "class_levels"]

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


# ------------------------------------------------------------ thin structures
_MAX_WARP_SLOPE = 0.45
"""Largest derivative of the warp: the warped coordinates never fold."""


def _check_real(value, name, low, high=None, closed="left"):
    return float(check_param(name, value, [Interval(numbers.Real, low, high, closed=closed)]))


def _check_widths(widths):
    try:
        low, high = (float(w) for w in widths)
    except (TypeError, ValueError):
        raise ValueError(f"widths must be a pair (min, max) of numbers, got {widths!r}") \
            from None
    if not (np.isfinite(low) and np.isfinite(high) and 1 <= low <= high):
        raise ValueError(f"widths must satisfy 1 <= min <= max (pixels), got {widths!r}")
    return low, high


def _cell_seeds(h, w, cell_size, rng):
    """Cell centres: a hexagonal lattice of spacing ``cell_size``, jittered, covering
    the image and one cell beyond each edge (so that border cells are whole)."""
    dy = cell_size * np.sqrt(3) / 2
    rows = np.arange(-cell_size, h + cell_size + dy, dy)
    seeds = []
    for i, r in enumerate(rows):
        cols = np.arange(-cell_size, w + 2 * cell_size, cell_size) + (i % 2) * cell_size / 2
        seeds.append(np.column_stack([np.full(cols.size, r), cols]))
    seeds = np.concatenate(seeds)
    radius = 0.35 * cell_size * np.sqrt(rng.uniform(size=len(seeds)))
    angle = rng.uniform(0, 2 * np.pi, len(seeds))
    return seeds + np.column_stack([radius * np.sin(angle), radius * np.cos(angle)])


def _warp(h, w, cell_size, rng):
    """A smooth displacement field (2, H, W) that bends the cell walls, and its
    Jacobian (2, 2, H, W); the largest derivative is capped so the warp never folds."""
    field = np.zeros((2, h, w))
    # a broad bend and a finer wobble, as in real membranes
    for sigma, amplitude in ((0.4 * cell_size, 0.25 * cell_size),
                             (0.12 * cell_size, 0.04 * cell_size)):
        for k in range(2):
            part = ndi.gaussian_filter(rng.standard_normal((h, w)), sigma, mode="reflect")
            field[k] += amplitude * part / max(part.std(), 1e-12)
    jacobian = np.stack([np.stack(np.gradient(f), 0) for f in field])
    steepest = np.abs(jacobian).max()
    if steepest > _MAX_WARP_SLOPE:
        field *= _MAX_WARP_SLOPE / steepest
        jacobian *= _MAX_WARP_SLOPE / steepest
    return field, jacobian


def _wall_distance(h, w, seeds, field, jacobian):
    """Distance of every pixel to the nearest cell wall, and the two cells either side.

    The cells are the Voronoi cells of ``seeds`` in warped coordinates
    ``q = p + field(p)``. In those coordinates the wall between the nearest
    seed ``a`` and the second nearest ``b`` lies at the distance
    ``f = (|q - b|^2 - |q - a|^2) / (2 |a - b|)``; its gradient in image
    coordinates is ``J^T u`` (``u`` the unit vector from ``b`` to ``a``), so
    ``f / |J^T u|`` is the distance in pixels, to first order.
    """
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
    q = np.stack([rows + field[0], cols + field[1]], -1).reshape(-1, 2)
    dist, nearest = cKDTree(seeds).query(q, k=2)
    a, b = nearest[:, 0], nearest[:, 1]
    step = seeds[a] - seeds[b]
    span = np.linalg.norm(step, axis=1)
    f = (dist[:, 1] ** 2 - dist[:, 0] ** 2) / (2 * span)
    u = step / span[:, None]
    jac = jacobian.reshape(2, 2, -1)
    grad_r = (1 + jac[0, 0]) * u[:, 0] + jac[1, 0] * u[:, 1]
    grad_c = jac[0, 1] * u[:, 0] + (1 + jac[1, 1]) * u[:, 1]
    distance = f / np.hypot(grad_r, grad_c)
    return distance.reshape(h, w), a.reshape(h, w), b.reshape(h, w)


def _pair_values(values, a, b):
    """A value per cell wall, uniform in [0, 1) and the same seen from either cell."""
    return np.mod(values[a] + values[b], 1.0)


def _smooth_noise(h, w, sigma, rng):
    """Zero-mean smooth noise of standard deviation 1."""
    noise = ndi.gaussian_filter(rng.standard_normal((h, w)), sigma, mode="reflect")
    return noise / max(noise.std(), 1e-12)


def _add_blobs(image, wall_distance, half_width, n_blobs, rng):
    """Darken ``n_blobs`` small round blobs inside the cells, clear of the walls."""
    h, w = image.shape
    for _ in range(n_blobs):
        r0, c0 = rng.uniform(0, h), rng.uniform(0, w)
        radius = rng.uniform(1.5, 3.0)
        depth = rng.uniform(0.3, 0.6)
        i, j = int(r0), int(c0)
        if wall_distance[i, j] < half_width[i, j] + radius + 2:
            continue  # it would touch a wall: skip it, the wall alone tells the class
        lo_r, hi_r = max(0, int(r0 - radius - 1)), min(h, int(r0 + radius + 2))
        lo_c, hi_c = max(0, int(c0 - radius - 1)), min(w, int(c0 + radius + 2))
        rr, cc = np.mgrid[lo_r:hi_r, lo_c:hi_c]
        cover = np.clip(radius + 0.5 - np.hypot(rr + 0.5 - r0, cc + 0.5 - c0), 0, 1)
        image[lo_r:hi_r, lo_c:hi_c] -= depth * cover


def make_thin_structures(n_images=4, shape=(96, 96), widths=(1, 4), cell_size=24,
                         noise=0.08, blur=1.0, shading=0.3, blobs=1.5, random_state=None):
    """Images of a network of thin curved walls between cells, with dense masks.

    A model of cell membranes in electron microscopy (or vessel walls, or
    grain boundaries): the image is tiled by cells, the Voronoi cells of a
    jittered hexagonal lattice of centres ``cell_size`` apart, bent by a
    smooth random warp so that the walls curve. Each wall has its own width,
    drawn uniformly in ``widths`` (pixels), and its own contrast. The walls
    are darker than the cells; each cell has its own gray level and a faint
    texture, and dark round blobs (vesicles, organelles) about as dark as
    the walls lie inside the cells. The image is then blurred, multiplied by
    a smooth shading field and corrupted by Gaussian noise, so that no
    global threshold separates walls from cells: the blobs, the shading and
    the blur of the thinnest walls defeat it, and telling a wall needs its
    shape and context.

    The mask is 1 on the walls, the pixels whose centre lies within half
    the wall's width of the wall's centre line, and 0 in the cells. A wall
    of width ``w`` is ``w`` pixels across (to rounding), so the distance
    transform of the mask, the radius of the largest disc inside it, stays
    near ``w / 2`` along the walls, a little more where three walls meet.
    With the defaults about 15-25 % of the pixels are walls.

    Parameters
    ----------
    n_images : int, default 4
        Number of images.
    shape : (int, int), default (96, 96)
        Image size (H, W), at least (8, 8).
    widths : (float, float), default (1, 4)
        Smallest and largest wall width in pixels, ``1 <= min <= max``; each
        wall draws its width uniformly between them.
    cell_size : float, default 24
        Distance between neighbouring cell centres in pixels, at least three
        times the largest width.
    noise : float, default 0.08
        Standard deviation of the additive Gaussian noise (gray levels are in
        [0, 1]; cells are about 0.5-0.8, walls 0.25-0.5 darker).
    blur : float, default 1.0
        Standard deviation in pixels of the Gaussian blur (the point spread
        of the microscope); ``0`` for none.
    shading : float, default 0.3
        Amplitude of the multiplicative shading: the image is multiplied by
        a smooth field between ``1 - shading`` and ``1 + shading``; below 1.
    blobs : float, default 1.5
        Mean number of dark blobs tried per cell (those that would touch a
        wall are left out); ``0`` for none.
    random_state : int, RandomState instance or None
        Seed; the same seed gives the same images and masks.

    Returns
    -------
    images : list of ndarray of shape (H, W), float32
        Gray images, values in [0, 1].
    masks : list of ndarray of shape (H, W), int64
        1 on the walls (the thin structure), 0 in the cells.

    Raises
    ------
    ValueError
        For a non-positive count, a shape smaller than (8, 8), widths not
        ``1 <= min <= max``, a cell size below three times the largest
        width, or a negative noise, blur, shading (or one of 1 or more) or
        blob count.

    Examples
    --------
    >>> images, masks = make_thin_structures(n_images=2, shape=(64, 80), random_state=0)
    >>> images[0].shape, images[0].dtype, masks[0].dtype
    ((64, 80), dtype('float32'), dtype('int64'))
    >>> sorted(np.unique(masks[0]).tolist())
    [0, 1]
    >>> bool(0.05 < masks[0].mean() < 0.3)
    True
    >>> bool(images[0][masks[0] == 1].mean() < images[0][masks[0] == 0].mean())
    True
    """
    n_images = check_int(n_images, "n_images", 1)
    h, w = _check_shape(shape)
    low, high = _check_widths(widths)
    cell_size = _check_real(cell_size, "cell_size", 3 * high)
    noise = _check_real(noise, "noise", 0)
    blur = _check_real(blur, "blur", 0)
    shading = _check_real(shading, "shading", 0, 1, closed="left")
    blobs = _check_real(blobs, "blobs", 0)
    rng = check_random_state(random_state)
    images, masks = [], []
    for _ in range(n_images):
        seeds = _cell_seeds(h, w, cell_size, rng)
        field, jacobian = _warp(h, w, cell_size, rng)
        distance, a, b = _wall_distance(h, w, seeds, field, jacobian)
        half_width = (low + (high - low) * _pair_values(rng.uniform(size=len(seeds)), a, b)) / 2
        contrast = 0.25 + 0.25 * _pair_values(rng.uniform(size=len(seeds)), a, b)
        mask = (distance < half_width).astype(np.int64)
        # the wall's share of each pixel (anti-aliased over one pixel)
        cover = np.clip(half_width + 0.5 - distance, 0.0, 1.0)
        image = rng.uniform(0.5, 0.8, len(seeds))[a] + 0.05 * _smooth_noise(h, w, 2.0, rng)
        image -= contrast * cover
        _add_blobs(image, distance, half_width, int(rng.poisson(blobs * h * w / cell_size ** 2)),
                   rng)
        if blur > 0:
            image = ndi.gaussian_filter(image, blur, mode="reflect")
        light = _smooth_noise(h, w, max(h, w) / 4, rng)
        image *= 1 + shading * light / max(np.abs(light).max(), 1e-12)
        image += noise * rng.standard_normal((h, w))
        images.append(np.clip(image, 0.0, 1.0).astype(np.float32))
        masks.append(mask)
    return images, masks
