"""Labels as a person paints them: simulated brush strokes and suggested pixels.

Interactive tools (napari, ilastik, Labkit) are used by painting a few
strokes per class, training, looking at the result and painting more where
the model is wrong or unsure. This module stands in for both halves of that
loop:

- :func:`simulate_strokes` paints, from dense ground-truth masks, the sparse
  label maps a person would: a few smooth brush strokes per class, kept
  inside the class and away from its boundary, where a careful annotator
  stays. Benchmarks on stroke labels measure what a user of the tool gets,
  unlike labels sampled uniformly at random (:func:`chm.datasets.sample_sparse_labels`).
- :func:`suggest_labels` picks the unlabeled pixels whose labels would help
  the model most: those it is least sure of, spread over the image instead
  of piled up on one boundary (active learning by uncertainty with a
  minimum distance). :func:`suggestion_layer` turns them into a label layer
  to show over the image.

Label maps are int64, ``-1`` for unlabeled pixels, as everywhere in
:mod:`chm`.

Examples
--------
>>> from chm.synthetic import make_shapes
>>> _, masks = make_shapes(n_images=2, shape=(40, 48), random_state=0)
>>> labels = simulate_strokes(masks, n_strokes=1, length=15, width=3, margin=1,
...                           random_state=0)
>>> labels[0].dtype, sorted(np.unique(labels[0]).tolist())
(dtype('int64'), [-1, 0, 1])
>>> bool(np.all(labels[0][labels[0] >= 0] == masks[0][labels[0] >= 0]))
True
"""
import math
import numbers
from typing import NamedTuple

import numpy as np
from scipy import ndimage as ndi
from sklearn.utils import check_random_state

from ._params import Boolean, HasMethods, Interval, Options, check_param
from ._validation import check_int, check_label_maps, check_labels

__all__ = ["Stroke", "simulate_strokes", "Suggestions", "uncertainty", "selection_score",
           "suggest_from_proba", "suggest_labels", "suggestion_layer"]

MEASURES = ("margin", "entropy", "least_confident")
"""Uncertainty measures of :func:`uncertainty`."""

_TURN_STEP = math.pi / 12
"""Heading change tried when a stroke meets the edge of its room (15 degrees)."""
_MAX_TURNS = 9
"""At most ``_MAX_TURNS * _TURN_STEP`` (135 degrees) either way before the stroke stops."""
_FREE_TRIES = 3
"""Starts tried for a stroke of the full brush before the medial axis is considered."""
_NEIGHBOURS = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc]


def _check_real(value, name, low):
    return float(check_param(name, value, [Interval(numbers.Real, low, None, closed="left")]))


# ------------------------------------------------------------------ strokes
class Stroke(NamedTuple):
    """One simulated brush stroke.

    Attributes
    ----------
    image : int
        Index of the image it is painted on.
    label : int
        The class value painted.
    path : ndarray of shape (K, 2), float64
        Points (row, col) of the centre line, in painting order.
    pixels : ndarray of shape (M, 2), int64
        The pixels (row, col) it paints.
    length : float
        Arc length of the centre line in pixels.
    fallback : bool
        True when the class region had no room for the brush at the margin,
        so the stroke was drawn one pixel wide along the region's medial axis.
    """

    image: int
    label: int
    path: np.ndarray
    pixels: np.ndarray
    length: float
    fallback: bool


def _brush(width):
    """Offsets (dr, dc) of a round brush ``width`` pixels across, and its reach.

    Odd widths are centred on a pixel, even widths on a pixel corner (the
    offsets then run from ``-width // 2`` to ``width // 2 - 1``). The reach
    is the largest distance from the centre pixel to a brush pixel.
    """
    centre = 0.0 if width % 2 else -0.5
    span = np.arange(-(width // 2), (width - 1) // 2 + 1)
    dr, dc = np.meshgrid(span, span, indexing="ij")
    inside = (dr - centre) ** 2 + (dc - centre) ** 2 <= (width / 2) ** 2
    offsets = np.column_stack([dr[inside], dc[inside]])
    return offsets, float(np.sqrt((offsets ** 2).sum(axis=1)).max())


def _depth(region):
    """Distance of each pixel of ``region`` to the nearest pixel outside it.

    The image edge is no boundary: a region that fills its image is
    infinitely deep.
    """
    if region.all():
        return np.full(region.shape, np.inf)
    return ndi.distance_transform_edt(region)


def _free_walk(room, start, heading, n_steps, visited, rng):
    """Centre-line points of a smooth walk of unit steps that stays in ``room``.

    The heading drifts with a smoothly varying turn rate (a random walk
    with momentum); at the edge of the room the walk turns by the smallest
    multiple of 15 degrees that keeps it inside, up to 135 degrees, and
    stops when none does. It never steps back onto a pixel it has left.
    """
    h, w = room.shape
    pos = np.asarray(start, np.float64)
    points = [pos]
    turn_rate = 0.0
    current = (int(round(pos[0])), int(round(pos[1])))
    for _ in range(n_steps):
        turn_rate = 0.8 * turn_rate + rng.normal(0.0, 0.03)
        heading += turn_rate
        side = 1 if rng.rand() < 0.5 else -1
        for k in range(2 * _MAX_TURNS + 1):
            turn = side * ((k + 1) // 2) * (1 if k % 2 else -1) * _TURN_STEP
            nxt = pos + (math.sin(heading + turn), math.cos(heading + turn))
            pixel = (int(round(nxt[0])), int(round(nxt[1])))
            if (0 <= pixel[0] < h and 0 <= pixel[1] < w and room[pixel]
                    and (pixel == current or pixel not in visited)):
                break
        else:
            break  # boxed in
        if turn:
            heading += turn
            turn_rate = 0.0
        pos, current = nxt, pixel
        visited.add(pixel)
        points.append(pos)
    return points, heading


def _graph_walk(room, start, heading, target, visited, rng):
    """Pixel path along 8-connected ``room`` pixels (a medial axis), of arc length
    about ``target``, going as straight as the pixels allow."""
    h, w = room.shape
    path = [start]
    length = 0.0
    r, c = start
    while length < target:
        best = None
        for dr, dc in _NEIGHBOURS:
            rr, cc = r + dr, c + dc
            if 0 <= rr < h and 0 <= cc < w and room[rr, cc] and (rr, cc) not in visited:
                bend = abs(math.remainder(math.atan2(dr, dc) - heading, 2 * math.pi))
                bend += 1e-3 * rng.rand()  # ties broken by the seed
                if best is None or bend < best[0]:
                    best = (bend, rr, cc, math.atan2(dr, dc), math.hypot(dr, dc))
        if best is None:
            break
        _, r, c, heading, step = best
        visited.add((r, c))
        path.append((r, c))
        length += step
    return path, length


def _two_way(walk, start, target, rng):
    """A stroke from ``start`` forwards, then backwards for what the forward part missed."""
    visited = {tuple(int(round(v)) for v in start)}
    heading = rng.uniform(0.0, 2 * math.pi)
    forward, length = walk(start, heading, target, visited)
    if length < target:
        backward, more = walk(start, heading + math.pi, target - length, visited)
        return backward[::-1] + forward[1:], length + more
    return forward, length


def _free_stroke(room, length, offsets, rng):
    """A stroke of the full brush whose centre line stays in ``room``: path, pixels, arc."""
    def walk(start, heading, target, visited):
        points, _ = _free_walk(room, start, heading, int(round(target)), visited, rng)
        return points, float(len(points) - 1)

    candidates = np.argwhere(room)
    start = candidates[rng.randint(len(candidates))].astype(np.float64)
    path, arc = _two_way(walk, start, round(length), rng)
    path = np.asarray(path, np.float64)
    centres = np.rint(path).astype(np.int64)
    pixels = (centres[:, None, :] + offsets[None]).reshape(-1, 2)
    inside = ((pixels >= 0) & (pixels < room.shape)).all(axis=1)
    return path, np.unique(pixels[inside], axis=0), arc


def _medial_stroke(room, length, rng):
    """A one-pixel stroke along the 8-connected pixels of ``room``: path, pixels, arc."""
    def walk(start, heading, target, visited):
        return _graph_walk(room, start, heading, target, visited, rng)

    candidates = np.argwhere(room)
    start = tuple(int(v) for v in candidates[rng.randint(len(candidates))])
    path, arc = _two_way(walk, start, length, rng)
    path = np.asarray(path, np.int64).reshape(-1, 2)
    return path.astype(np.float64), np.unique(path, axis=0), arc


def _one_stroke(region, depth, taken, length, offsets, reach, margin, rng):
    """Path, pixels, arc length and fallback flag of one stroke in ``region``, or None.

    Up to ``_FREE_TRIES`` strokes of the full brush are tried at the margin
    and the longest kept; when it is shorter than half of ``length`` (the
    room is a few deep spots, or none), a stroke along the medial axis is
    tried too, and the longer of the two is drawn.
    """
    if taken.any():  # keep one free pixel between strokes, so each is its own component
        apart = ndi.distance_transform_edt(~taken)
    else:
        apart = np.full(region.shape, np.inf)
    room = region & (depth > margin + reach) & (apart > reach + 1.5)
    best = None
    if room.any():
        for _ in range(_FREE_TRIES):
            drawn = _free_stroke(room, length, offsets, rng)
            if best is None or drawn[2] > best[2]:
                best = drawn
            if best[2] >= round(length):
                break
        best = best + (False,)
    if best is None or best[2] < length / 2:
        from skimage.morphology import skeletonize

        medial = skeletonize(region) & (apart > 1.5)
        if medial.any():
            drawn = _medial_stroke(medial, length, rng)
            if best is None or drawn[2] > best[2]:
                best = drawn + (True,)
    return best


def simulate_strokes(masks, n_strokes=1, length=40, width=3, margin=2, per_component=False,
                     return_strokes=False, random_state=None):
    """Sparse label maps painted as brush strokes, as a person labels in napari.

    Models an annotator who, for every class in an image, paints
    ``n_strokes`` smooth strokes of a round brush ``width`` pixels across
    and about ``length`` pixels long, well inside the class: every stroke
    pixel has at least ``margin`` pixels of its own class between it and any
    pixel of another class. The centre line is a random walk of unit steps
    whose heading drifts smoothly (a turn rate with momentum); at the edge
    of the room it may use it turns, and it stops when boxed in, then
    continues from its start the other way. Strokes of one class keep a free
    pixel between each other, so each is its own 8-connected component.

    Where a region is too thin for the brush at that margin (a membrane 2
    pixels wide, say), the stroke falls back to what a person does there: a
    one-pixel line along the region's medial axis (its skeleton), with no
    margin kept; ``Stroke.fallback`` tells which strokes did. Strokes are
    shorter than ``length`` when the room runs out, and fewer than
    ``n_strokes`` when a region has no room left for another.

    Parameters
    ----------
    masks : list of array_like of shape (H, W), or ndarray (N, H, W)
        Dense ground-truth label maps; pixels of -1 (unknown) belong to no
        class, and count as boundary.
    n_strokes : int, default 1
        Strokes per class present in an image (per connected component with
        ``per_component``).
    length : float, default 40
        Arc length of each stroke's centre line, in pixels.
    width : int, default 3
        Brush diameter in pixels.
    margin : float, default 2
        Pixels of its own class kept between a stroke and the class
        boundary: every stroke pixel lies at a distance greater than
        ``margin`` from the nearest pixel of another class (or of -1). The
        image edge is no boundary.
    per_component : bool, default False
        Paint ``n_strokes`` in every 8-connected component of each class
        (every cell, every object) instead of in each class as a whole.
    return_strokes : bool, default False
        Also return the strokes drawn.
    random_state : int, RandomState instance or None
        Seed; the same seed gives the same strokes.

    Returns
    -------
    labels : list of ndarray of shape (H, W), int64
        The class value on stroke pixels, -1 elsewhere.
    strokes : list of Stroke
        Only with ``return_strokes``: every stroke drawn, image by image,
        class by class.

    Raises
    ------
    ValueError
        For invalid masks, a count or width below 1, or a negative length
        or margin.

    Examples
    --------
    >>> mask = np.zeros((30, 60), int)
    >>> mask[:, 30:] = 1
    >>> labels, strokes = simulate_strokes([mask], n_strokes=2, length=12, width=3, margin=2,
    ...                                    return_strokes=True, random_state=0)
    >>> [(s.label, s.length, s.fallback) for s in strokes]
    [(0, 12.0, False), (0, 12.0, False), (1, 12.0, False), (1, 12.0, False)]
    >>> bool(np.all(mask[labels[0] >= 0] == labels[0][labels[0] >= 0]))
    True
    """
    masks = check_label_maps(masks)
    n_strokes = check_int(n_strokes, "n_strokes", 1)
    length = _check_real(length, "length", 0)
    width = check_int(width, "width", 1)
    margin = _check_real(margin, "margin", 0)
    per_component = check_param("per_component", per_component, [Boolean()])
    return_strokes = check_param("return_strokes", return_strokes, [Boolean()])
    rng = check_random_state(random_state)
    offsets, reach = _brush(width)
    eight = np.ones((3, 3), bool)
    out, strokes = [], []
    for index, mask in enumerate(masks):
        labels = np.full(mask.shape, -1, np.int64)
        for value in np.unique(mask[mask >= 0]):
            region = mask == value
            depth = _depth(region)
            if per_component:
                components, n = ndi.label(region, structure=eight)
                parts = [components == k for k in range(1, n + 1)]
            else:
                parts = [region]
            taken = np.zeros(mask.shape, bool)
            for part in parts:
                for _ in range(n_strokes):
                    drawn = _one_stroke(part, depth, taken, length, offsets, reach, margin, rng)
                    if drawn is None:
                        break
                    path, pixels, arc, fallback = drawn
                    labels[pixels[:, 0], pixels[:, 1]] = value
                    taken[pixels[:, 0], pixels[:, 1]] = True
                    strokes.append(Stroke(index, int(value), path, pixels, arc, fallback))
        out.append(labels)
    return (out, strokes) if return_strokes else out


# -------------------------------------------------------------- suggestions
class Suggestions(NamedTuple):
    """Suggested pixels of one image, most uncertain first.

    Attributes
    ----------
    rows, cols : ndarray of shape (K,), int64
        Pixel coordinates: ``image[s.rows, s.cols]`` are the suggested pixels.
    uncertainty : ndarray of shape (K,), float32
        Uncertainty of the model at each, in [0, 1] (:func:`uncertainty`).
    """

    rows: np.ndarray
    cols: np.ndarray
    uncertainty: np.ndarray

    @property
    def points(self):
        """(K, 2) array of (row, col): the data of a napari Points layer."""
        return np.column_stack([self.rows, self.cols])


def uncertainty(proba, measure="margin"):
    """How unsure a probability map is at each pixel, from 0 (certain) to 1.

    Parameters
    ----------
    proba : array_like of shape (H, W, C)
        Class probabilities, summing to 1 over the last axis.
    measure : {"margin", "entropy", "least_confident"}, default "margin"
        ``"margin"``: one minus the gap between the two most probable
        classes; ``"entropy"``: the Shannon entropy over ``log C``;
        ``"least_confident"``: one minus the top probability, over
        ``1 - 1 / C``. Each is 1 where all classes are equally likely.

    Returns
    -------
    ndarray of shape (H, W), float32

    Examples
    --------
    >>> proba = np.array([[[1.0, 0.0], [0.5, 0.5], [0.8, 0.2]]])
    >>> uncertainty(proba).astype(float).round(2).tolist()
    [[0.0, 1.0, 0.4]]
    >>> uncertainty(proba, "entropy").astype(float).round(2).tolist()
    [[0.0, 1.0, 0.72]]
    """
    check_param("measure", measure, [Options(MEASURES)])
    proba = np.asarray(proba, np.float64)
    if proba.ndim != 3 or proba.shape[-1] < 1:
        raise ValueError(f"proba must be (H, W, C), got shape {proba.shape}")
    n = proba.shape[-1]
    if n == 1:
        return np.zeros(proba.shape[:2], np.float32)
    if measure == "margin":
        top = np.partition(proba, n - 2, axis=-1)
        value = 1.0 - (top[..., -1] - top[..., -2])
    elif measure == "entropy":
        p = np.clip(proba, 0.0, 1.0)
        logs = np.log(np.where(p > 0, p, 1.0))
        value = -(p * logs).sum(axis=-1) / math.log(n)
    else:
        value = (1.0 - proba.max(axis=-1)) / (1.0 - 1.0 / n)
    return (np.clip(value, 0.0, 1.0) + 0.0).astype(np.float32)  # + 0.0: no -0.0


def _proba_list(proba):
    if isinstance(proba, np.ndarray) and proba.ndim == 4:
        return list(proba)
    if isinstance(proba, np.ndarray) and proba.ndim == 3:
        raise ValueError("proba must be a list of (H, W, C) maps or an (N, H, W, C) stack, "
                         f"got one array of shape {proba.shape}; wrap a single map in a list")
    if not isinstance(proba, (list, tuple)) or not proba:
        raise ValueError("proba must be a non-empty list of (H, W, C) maps")
    return [np.asarray(p) for p in proba]


def _disc(radius):
    """Offsets of the pixels closer than ``radius`` to the centre (the centre at least)."""
    r = max(int(math.ceil(radius)) - 1, 0)
    dr, dc = np.mgrid[-r:r + 1, -r:r + 1]
    inside = (dr ** 2 + dc ** 2 < radius ** 2) | ((dr == 0) & (dc == 0))
    return dr[inside], dc[inside]


def _pick(score, passes, n, min_distance, rng):
    """Greedy picks by decreasing score (ties broken by ``rng``), each at least
    ``min_distance`` from the earlier ones.

    ``passes`` is a list of boolean masks of pixels not to take: the first
    pass picks off the first mask, and while fewer than ``n`` are found the
    next pass goes on off the next (looser) mask.
    """
    h, w = score.shape
    order = np.lexsort((rng.random_sample(score.size), -score.ravel()))
    taken = np.zeros(score.shape, bool)  # the discs of the picks so far
    dr, dc = _disc(min_distance)
    picked = []
    for mask in passes:
        blocked = mask | taken
        flat = blocked.ravel()
        for start in range(0, order.size, 4096):
            chunk = order[start:start + 4096]
            for index in chunk[~flat[chunk]]:
                if flat[index]:
                    continue  # blocked by a pick made in this chunk
                picked.append(index)
                r, c = divmod(int(index), w)
                rr, cc = r + dr, c + dc
                keep = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
                blocked[rr[keep], cc[keep]] = True
                taken[rr[keep], cc[keep]] = True
                if len(picked) == n:
                    return np.asarray(picked, np.int64)
    return np.asarray(picked, np.int64)


def _near(labeled, distance):
    """Pixels closer than ``distance`` to a labeled pixel (the labeled ones at least)."""
    if distance <= 1 or not labeled.any():
        return labeled.copy()
    return ndi.distance_transform_edt(~labeled) < distance


def selection_score(proba, measure="margin", smooth=0.0):
    """The score :func:`suggest_from_proba` ranks pixels by: uncertainty, optionally smoothed.

    Parameters
    ----------
    proba : array_like of shape (H, W, C)
        Class probabilities.
    measure : {"margin", "entropy", "least_confident"}, default "margin"
        Uncertainty measure (:func:`uncertainty`).
    smooth : float, default 0
        Standard deviation in pixels of a Gaussian applied to the
        uncertainty map; 0 ranks the raw map.

    Returns
    -------
    ndarray of shape (H, W), float32, in [0, 1]

    Notes
    -----
    The raw uncertainty of a probability map peaks on a thin line along
    every predicted boundary, where the map crosses 0.5, however right or
    wrong that boundary is. Smoothing over a few pixels ranks instead by how
    much uncertainty lies *around* a pixel, so a broad region the model
    dithers over (a textured patch of background half taken for the object)
    outranks a crisp boundary, and the pixel picked lies inside that region
    rather than on an edge whose true label is itself ambiguous.

    Examples
    --------
    >>> proba = np.zeros((20, 20, 2), np.float32)
    >>> proba[..., 0] = 1.0
    >>> proba[:, 4, 0] = 0.5           # a thin line of full uncertainty
    >>> proba[8:16, 10:18, 0] = 0.7    # a broad patch of moderate uncertainty
    >>> proba[..., 1] = 1 - proba[..., 0]
    >>> raw, smoothed = selection_score(proba), selection_score(proba, smooth=3)
    >>> int(np.argmax(raw) % 20), bool(smoothed[12, 14] > smoothed[12, 4])
    (4, True)
    """
    score = uncertainty(proba, measure)
    smooth = _check_real(smooth, "smooth", 0)
    if smooth > 0:
        score = ndi.gaussian_filter(score, smooth, mode="nearest")
    return score.astype(np.float32)


def suggest_from_proba(proba, n_per_image, labels=None, min_distance=8, measure="margin",
                       smooth=0.0, label_distance=None, random_state=None):
    """Pixels to label next, from probability maps: uncertain and spread out.

    Greedy active selection: pixels are taken by decreasing
    :func:`selection_score` (the uncertainty, smoothed over ``smooth``
    pixels), skipping every pixel closer than ``min_distance`` to one
    already taken and every pixel closer than ``label_distance`` to one
    already labeled, so that the suggestions cover all the uncertain places
    of an image instead of crowding one boundary or an existing label.
    Ties (plateaus of equal score) are broken at random by
    ``random_state``.

    Parameters
    ----------
    proba : list of array_like of shape (H, W, C), or ndarray (N, H, W, C)
        Class probability maps, as returned by ``predict_proba``.
    n_per_image : int
        Suggestions per image; fewer when the image runs out of unlabeled
        pixels at that distance.
    labels : list of array_like of shape (H, W), or None
        The current label maps (-1 unlabeled); pixels with a label ``>= 0``
        are never suggested.
    min_distance : float, default 8
        Smallest distance in pixels between two suggestions of one image.
    measure : {"margin", "entropy", "least_confident"}, default "margin"
        Uncertainty measure (:func:`uncertainty`).
    smooth : float, default 0
        Gaussian standard deviation in pixels applied to the uncertainty
        before ranking (:func:`selection_score`); 0 ranks the raw map.
    label_distance : float or None, default None
        Smallest distance in pixels between a suggestion and an already
        labeled pixel; None takes ``min_distance``, 0 only keeps off the
        labeled pixels themselves. Where an image has too little room that
        far from its labels, its remaining suggestions keep only off the
        labeled pixels (and ``min_distance`` from each other).
    random_state : int, RandomState instance or None
        Seed for the tie-breaks; the same seed gives the same suggestions.

    Returns
    -------
    list of Suggestions
        One per image, highest score first; ``uncertainty`` holds the score
        (the smoothed uncertainty when ``smooth > 0``).

    Examples
    --------
    >>> proba = np.zeros((1, 20, 20, 2), np.float32)
    >>> proba[..., 0] = np.linspace(0.5, 1.0, 20)  # unsure on the left, sure on the right
    >>> proba[..., 1] = 1 - proba[..., 0]
    >>> (found,) = suggest_from_proba(proba, 3, min_distance=5, random_state=0)
    >>> found.cols.tolist(), found.uncertainty.astype(float).round(2).tolist()
    ([0, 0, 0], [1.0, 1.0, 1.0])
    >>> bool(np.diff(np.sort(found.rows)).min() >= 5)
    True
    """
    proba = _proba_list(proba)
    n_per_image = check_int(n_per_image, "n_per_image", 1)
    min_distance = _check_real(min_distance, "min_distance", 0)
    check_param("measure", measure, [Options(MEASURES)])
    smooth = _check_real(smooth, "smooth", 0)
    label_distance = (min_distance if label_distance is None
                      else _check_real(label_distance, "label_distance", 0))
    shapes = [np.shape(p)[:2] for p in proba]
    if labels is not None:
        labels = check_labels(labels, [np.empty(s + (0,)) for s in shapes])
    rng = check_random_state(random_state)
    out = []
    for index, p in enumerate(proba):
        if np.ndim(p) != 3:
            raise ValueError(f"probability map {index} must be (H, W, C), got shape "
                             f"{np.shape(p)}")
        score = selection_score(p, measure, smooth)
        if labels is None:
            passes = [np.zeros(score.shape, bool)]
        else:
            labeled = labels[index] >= 0
            passes = [_near(labeled, label_distance), labeled]
        picked = _pick(score, passes, n_per_image, min_distance, rng)
        rows, cols = np.divmod(picked, score.shape[1])
        out.append(Suggestions(rows, cols, score[rows, cols]))
    return out


def suggest_labels(model, images, n_per_image, labels=None, min_distance=8, measure="margin",
                   smooth=0.0, label_distance=None, random_state=None):
    """Pixels whose labels would help a fitted model most.

    Predicts the images with ``model.predict_proba`` and selects, per image,
    the ``n_per_image`` most uncertain unlabeled pixels, at least
    ``min_distance`` apart and ``label_distance`` from the labeled ones
    (:func:`suggest_from_proba`). Label them, add them to the training
    labels and fit again: the active-learning loop of interactive
    segmentation (``benchmarks/active.py`` measures it on Weizmann Horse).

    Parameters
    ----------
    model : fitted segmenter
        Anything with ``predict_proba(images)`` returning (H, W, C) maps:
        :class:`chm.CHM`, :class:`chm.baselines.ForestSegmenter`...
    images : list of ndarray or ndarray
        Images the model can predict.
    n_per_image : int
        Suggestions per image.
    labels : list of array_like of shape (H, W), or None
        The current label maps (-1 unlabeled); labeled pixels are never
        suggested.
    min_distance : float, default 8
        Smallest distance in pixels between two suggestions of one image.
    measure : {"margin", "entropy", "least_confident"}, default "margin"
        Uncertainty measure (:func:`uncertainty`).
    smooth : float, default 0
        Gaussian standard deviation in pixels applied to the uncertainty
        before ranking (:func:`selection_score`).
    label_distance : float or None, default None
        Smallest distance between a suggestion and a labeled pixel; None
        takes ``min_distance``.
    random_state : int, RandomState instance or None
        Seed for the tie-breaks.

    Returns
    -------
    list of Suggestions
        One per image, highest score first.

    Examples
    --------
    >>> from chm.baselines import ForestSegmenter
    >>> from chm.datasets import sample_sparse_labels
    >>> from chm.synthetic import make_shapes
    >>> images, masks = make_shapes(n_images=2, shape=(32, 32), random_state=0)
    >>> labels = sample_sparse_labels(masks, 40, random_state=0)
    >>> model = ForestSegmenter(n_estimators=5, random_state=0).fit(images, labels)
    >>> found = suggest_labels(model, images, 4, labels=labels, label_distance=0,
    ...                        random_state=0)
    >>> [len(s.rows) for s in found]
    [4, 4]
    >>> bool(all((lab[s.rows, s.cols] == -1).all() for s, lab in zip(found, labels)))
    True
    """
    check_param("model", model, [HasMethods("predict_proba")])
    return suggest_from_proba(model.predict_proba(images), n_per_image, labels=labels,
                              min_distance=min_distance, measure=measure, smooth=smooth,
                              label_distance=label_distance, random_state=random_state)


def suggestion_layer(suggestions, shape, radius=0):
    """A label layer marking suggested pixels: 1 there, 0 (unlabeled) elsewhere.

    Parameters
    ----------
    suggestions : Suggestions or (rows, cols)
        The pixels of one image.
    shape : (int, int)
        The image's (H, W).
    radius : float, default 0
        Mark every pixel closer than ``radius`` to a suggestion, to make
        single pixels visible; ``0`` marks the pixels alone.

    Returns
    -------
    ndarray of shape (H, W), uint8

    Examples
    --------
    >>> suggestion_layer((np.array([0, 2]), np.array([1, 3])), (3, 4))
    array([[0, 1, 0, 0],
           [0, 0, 0, 0],
           [0, 0, 0, 1]], dtype=uint8)
    """
    rows = np.asarray(suggestions[0], np.int64).ravel()
    cols = np.asarray(suggestions[1], np.int64).ravel()
    h, w = (int(s) for s in shape)
    radius = _check_real(radius, "radius", 0)
    if rows.shape != cols.shape:
        raise ValueError(f"rows and cols differ in length: {rows.size} and {cols.size}")
    if rows.size and (rows.min() < 0 or rows.max() >= h or cols.min() < 0 or cols.max() >= w):
        raise ValueError(f"a suggested pixel lies outside the image of shape {(h, w)}")
    layer = np.zeros((h, w), np.uint8)
    dr, dc = _disc(radius)
    rr, cc = (rows[:, None] + dr).ravel(), (cols[:, None] + dc).ravel()
    keep = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
    layer[rr[keep], cc[keep]] = 1
    return layer
