"""Potts MRF smoothing of probability maps by graph cuts.

A classifier's per-pixel probability map ``prob`` (shape ``(H, W, C)``) is
turned into a labeling ``l`` of the pixels by minimizing the Potts energy

.. math::

    E(l) = \\sum_i -\\log \\max(p_i(l_i), \\epsilon)
           + \\lambda \\sum_{(i, j)} w_{ij} [l_i \\neq l_j]

over the 4-connected pixel grid.  The edge weights are ``w_ij = 1`` (plain
Potts) or, contrast-sensitive, ``w_ij = exp(-||I_i - I_j||^2 / (2 beta))``
with ``beta`` the mean of ``||I_i - I_j||^2`` over all edges of the image
(see :func:`contrast_weights`), so that label changes are cheap across image
edges.

Two classes are solved exactly by a single minimum cut; more classes by
alpha-expansion, whose local minimum is within a factor 2 of the global one
for the Potts model.

:class:`~chm.mrf_segmenter.MRFSegmenter` (defined in :mod:`chm.mrf_segmenter`
and re-exported here, with :data:`~chm.mrf_segmenter.DEFAULT_WEIGHTS`) wraps
any scikit-learn style per-pixel estimator and picks the smoothing weight
``lambda`` by cross-validation on the sparse labels only.
"""
import numbers

import maxflow
import numpy as np
from maxflow.fastmin import aexpansion_grid

__all__ = [
    "DEFAULT_WEIGHTS",
    "MRFSegmenter",
    "contrast_weights",
    "mrf_smooth",
    "potts_energy",
]

# Edge structures for ``Graph.add_grid_edges``: edge to the right neighbour
# and edge to the neighbour below.
_RIGHT = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]])
_DOWN = np.array([[0, 0, 0], [0, 0, 0], [0, 1, 0]])

# Safety cap on alpha-expansion cycles (it converges in a handful).
_MAX_CYCLES = 100


# --------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------
def _check_prob(prob):
    prob = np.asarray(prob)
    if prob.ndim != 3:
        raise ValueError(f"prob must have shape (H, W, C), got an array with shape {prob.shape}")
    if prob.shape[2] < 2:
        raise ValueError(f"prob needs at least 2 classes on its last axis, got C={prob.shape[2]}")
    if prob.shape[0] < 1 or prob.shape[1] < 1:
        raise ValueError(f"prob must have a non-empty grid, got shape {prob.shape}")
    if not np.issubdtype(prob.dtype, np.number) or np.issubdtype(prob.dtype, np.complexfloating):
        raise ValueError(f"prob must be a real numeric array, got dtype {prob.dtype}")
    if not np.all(np.isfinite(prob)):
        raise ValueError("prob contains NaN or infinite values")
    return prob


def _check_image(image, shape):
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.shape[:2] != tuple(shape):
        raise ValueError(
            f"image must have shape {tuple(shape)} or {tuple(shape) + ('K',)} "
            f"to match prob, got {image.shape}"
        )
    if image.dtype == np.bool_:
        image = image.astype(np.uint8)
    if not np.issubdtype(image.dtype, np.number) or np.issubdtype(image.dtype, np.complexfloating):
        raise ValueError(f"image must be a real numeric array, got dtype {image.dtype}")
    if not np.all(np.isfinite(image)):
        raise ValueError("image contains NaN or infinite values")
    return image


def _unit_scaled(image):
    """``image`` (float64) times a power of two that brings its largest ``|value|`` into [0.5, 1).

    The weights of :func:`contrast_weights` do not change under a global
    scaling of the intensities, and a power of two scales exactly, so this
    only keeps the squared differences from overflowing (huge values) or
    underflowing (tiny ones).
    """
    peak = float(np.max(np.abs(image))) if image.size else 0.0
    if peak == 0:
        return image
    return np.ldexp(image, -np.frexp(peak)[1])


def _check_weight(weight, name="weight"):
    if isinstance(weight, (bool, np.bool_)) or not isinstance(weight, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {weight!r}")
    weight = float(weight)
    if not np.isfinite(weight) or weight < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {weight!r}")
    return weight


def _check_eps(eps):
    if isinstance(eps, (bool, np.bool_)) or not isinstance(eps, numbers.Real) or not 0 < eps < 1:
        raise ValueError(f"eps must be a number in (0, 1), got {eps!r}")
    return float(eps)


def _unary(prob, eps):
    """Unary costs ``-log(clip(p, eps, 1))`` as float64, shape (H, W, C)."""
    return -np.log(np.clip(prob.astype(np.float64, copy=False), eps, 1.0))


# --------------------------------------------------------------------------
# energy
# --------------------------------------------------------------------------
def contrast_weights(image):
    """Contrast-sensitive Potts weights of the 4-connected grid.

    For neighbouring pixels ``i`` and ``j``,
    ``w_ij = exp(-||I_i - I_j||^2 / (2 * beta))`` where ``||.||`` is the
    Euclidean norm over the channels and ``beta`` is the mean of
    ``||I_i - I_j||^2`` over all horizontal and vertical edges of the image
    (the rule used by GrabCut, Rother et al. 2004, written there as
    ``exp(-beta' ||.||^2)`` with ``beta' = 1 / (2 <||.||^2>)``).  The weights
    are thus 1 in flat regions and drop towards 0 across edges that are
    strong relative to the image's own typical contrast, which makes them
    invariant to a global scaling of the intensities.  A constant image
    (``beta = 0``) gets all weights equal to 1.  The image is first scaled
    by a power of two so that its largest ``|value|`` lies in [0.5, 1); any
    finite image, however large or small its values, thus gets finite
    weights (integer and boolean images are taken as their values).

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, K)
        Gray-level or multi-channel (e.g. RGB) image.

    Returns
    -------
    right : ndarray of float64, shape (H, W - 1)
        ``right[y, x]`` is the weight of the edge between ``(y, x)`` and
        ``(y, x + 1)``.
    down : ndarray of float64, shape (H - 1, W)
        ``down[y, x]`` is the weight of the edge between ``(y, x)`` and
        ``(y + 1, x)``.

    Raises
    ------
    ValueError
        If the image has another shape, is not numeric, or holds NaN or
        infinite values.

    Examples
    --------
    >>> right, down = contrast_weights(np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]))
    >>> np.round(right, 3).tolist(), down.tolist()
    ([[1.0, 0.174], [1.0, 0.174]], [[1.0, 1.0, 1.0]])
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"image must have shape (H, W) or (H, W, K), got {image.shape}")
    image = _unit_scaled(_check_image(image, image.shape[:2]).astype(np.float64, copy=False))
    if image.ndim == 2:
        image = image[:, :, None]
    d_right = np.sum((image[:, 1:] - image[:, :-1]) ** 2, axis=2)
    d_down = np.sum((image[1:] - image[:-1]) ** 2, axis=2)
    n_edges = d_right.size + d_down.size
    beta = (d_right.sum() + d_down.sum()) / n_edges if n_edges else 0.0
    if beta <= 0:
        return np.ones_like(d_right), np.ones_like(d_down)
    return np.exp(-d_right / (2 * beta)), np.exp(-d_down / (2 * beta))


def _edge_weights(shape, weight, image, contrast):
    """Per-edge weights ``weight * w_ij`` as (right (H, W-1), down (H-1, W))."""
    h, w = shape
    if contrast:
        right, down = contrast_weights(image)
        return weight * right, weight * down
    return np.full((h, w - 1), weight), np.full((h - 1, w), weight)


def _solver_weight_cap(shape, eps):
    """Largest per-edge weight the solvers need: larger ones are lowered to it.

    Every unary cost lies in ``[0, -log(eps)]``, so any labeling that cuts an
    edge dearer than the total unary cost of the ``H * W`` pixels is beaten by
    the best constant labeling; lowering such weights to twice that total
    (plus 1) keeps them uncut and leaves the minimizer unchanged, while the
    energies the solvers add up stay finite for any finite ``weight``.
    """
    return 2.0 * shape[0] * shape[1] * -np.log(eps) + 1.0


def _grid_energy(unary, labels, right, down):
    """Energy of ``labels`` for unary costs and per-edge weights (float64)."""
    u = np.take_along_axis(unary, labels[:, :, None], axis=2).sum()
    p = right[labels[:, 1:] != labels[:, :-1]].sum() + down[labels[1:] != labels[:-1]].sum()
    return float(u + p)


def potts_energy(labels, prob, weight, image=None, contrast=False, eps=1e-6):
    """Potts energy of a labeling of a probability map.

    .. math::

        E(l) = \\sum_i -\\log(\\mathrm{clip}(p_i(l_i), \\epsilon, 1))
               + \\lambda \\sum_{(i, j)} w_{ij} [l_i \\neq l_j]

    where the second sum runs over the horizontal and vertical edges of the
    4-connected grid (each once).

    Parameters
    ----------
    labels : array_like of int, shape (H, W)
        Labeling, indices into the last axis of ``prob``.
    prob : array_like, shape (H, W, C)
        Per-pixel class probabilities.
    weight : float
        Smoothing weight ``lambda >= 0``.
    image : array_like, shape (H, W) or (H, W, K), optional
        Image used for the contrast-sensitive weights; required when
        ``contrast`` is True.
    contrast : bool, default=False
        If False, ``w_ij = 1``; if True, ``w_ij`` follows
        :func:`contrast_weights`.
    eps : float, default=1e-6
        Probabilities are clipped to ``[eps, 1]`` before the logarithm.

    Returns
    -------
    float
        The energy.
    """
    prob = _check_prob(prob)
    weight = _check_weight(weight)
    eps = _check_eps(eps)
    labels = np.asarray(labels)
    if labels.shape != prob.shape[:2]:
        raise ValueError(f"labels must have shape {prob.shape[:2]}, got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= prob.shape[2]:
        raise ValueError(f"labels must lie in [0, {prob.shape[2] - 1}]")
    if contrast and image is None:
        raise ValueError("contrast=True needs an image")
    if image is not None:
        image = _check_image(image, prob.shape[:2])
    right, down = _edge_weights(prob.shape[:2], weight, image, contrast)
    return _grid_energy(_unary(prob, eps), labels.astype(np.intp), right, down)


# --------------------------------------------------------------------------
# solvers
# --------------------------------------------------------------------------
def _padded(edge_w, shape, axis):
    """Pad right (axis=1) or down (axis=0) edge weights to the grid shape."""
    full = np.zeros(shape)
    if axis == 1:
        full[:, :-1] = edge_w
    else:
        full[:-1, :] = edge_w
    return full


def _binary_cut(unary, right, down):
    """Exact minimizer for two labels: one minimum s-t cut.

    A pixel in the sink segment takes label 1 and pays its source capacity,
    one in the source segment takes label 0 and pays its sink capacity.
    """
    h, w = unary.shape[:2]
    g = maxflow.Graph[float](h * w, 2 * h * w)
    ids = g.add_grid_nodes((h, w))
    if w > 1:
        g.add_grid_edges(ids, weights=_padded(right, (h, w), 1), structure=_RIGHT, symmetric=True)
    if h > 1:
        g.add_grid_edges(ids, weights=_padded(down, (h, w), 0), structure=_DOWN, symmetric=True)
    shift = np.minimum(unary[:, :, 0], unary[:, :, 1])  # per-pixel shift: same minimizer
    g.add_grid_tedges(ids, unary[:, :, 1] - shift, unary[:, :, 0] - shift)
    g.maxflow()
    return g.get_grid_segments(ids).astype(np.intp)


def _expansion_move(unary, right, down, labels, alpha):
    """Optimal alpha-expansion move from ``labels`` with per-edge Potts weights.

    Binary variable ``x_p = 1`` switches pixel ``p`` to ``alpha`` and
    ``x_p = 0`` keeps ``labels[p]``.  For an edge ``(p, q)`` with weight
    ``w`` the move energy is ``E00 = w [f_p != f_q]``,
    ``E01 = w [f_p != alpha]``, ``E10 = w [alpha != f_q]``, ``E11 = 0``,
    written as ``E00 + (E10 - E00) x_p - E10 x_q + c (1 - x_p) x_q`` with
    ``c = E01 + E10 - E00 >= 0`` (the Potts distance is a metric, so the
    move is submodular).  The last term is a directed edge ``p -> q`` of
    capacity ``c``, cut when ``p`` is on the source side and ``q`` on the sink
    side; ``x = 1`` is the sink side.
    """
    h, w = labels.shape
    cost0 = np.take_along_axis(unary, labels[:, :, None], axis=2)[:, :, 0].copy()
    cost1 = unary[:, :, alpha].copy()
    g = maxflow.Graph[float](h * w, 2 * h * w)
    ids = g.add_grid_nodes((h, w))
    for edge_w, axis, structure in ((right, 1, _RIGHT), (down, 0, _DOWN)):
        if edge_w.size == 0:
            continue
        if axis == 1:
            fp, fq = labels[:, :-1], labels[:, 1:]
            head, tail = (slice(None), slice(None, -1)), (slice(None), slice(1, None))
        else:
            fp, fq = labels[:-1], labels[1:]
            head, tail = (slice(None, -1), slice(None)), (slice(1, None), slice(None))
        e00 = edge_w * (fp != fq)
        e01 = edge_w * (fp != alpha)
        e10 = edge_w * (fq != alpha)
        cost1[head] += e10 - e00
        cost1[tail] -= e10
        cap = e01 + e10 - e00
        g.add_grid_edges(ids, weights=_padded(cap, (h, w), axis), structure=structure, symmetric=False)
    shift = np.minimum(cost0, cost1)
    g.add_grid_tedges(ids, cost1 - shift, cost0 - shift)
    g.maxflow()
    return np.where(g.get_grid_segments(ids), alpha, labels)


def _alpha_expansion(unary, right, down, labels=None, max_cycles=_MAX_CYCLES):
    """Alpha-expansion for the Potts model with per-edge weights.

    Cycles over the labels, applying each optimal expansion move that strictly
    lowers the energy, until a full cycle brings no improvement.
    """
    if labels is None:
        labels = unary.argmin(axis=2).astype(np.intp)
    energy = _grid_energy(unary, labels, right, down)
    for _ in range(max_cycles):
        improved = False
        for alpha in range(unary.shape[2]):
            candidate = _expansion_move(unary, right, down, labels, alpha)
            e = _grid_energy(unary, candidate, right, down)
            if e < energy - 1e-10 * max(1.0, abs(energy)):
                labels, energy, improved = candidate, e, True
        if not improved:
            break
    return labels


def mrf_smooth(prob, image=None, weight=1.0, contrast=False, eps=1e-6):
    """Smooth a probability map with a Potts MRF solved by graph cuts.

    Minimizes :func:`potts_energy` over the labelings of the 4-connected
    grid.  With two classes the minimum is exact (one s-t minimum cut).  With
    more, alpha-expansion (Boykov, Veksler & Zabih 2001) gives a local
    minimum within a factor 2 of the global one: ``maxflow.fastmin``'s
    implementation for the plain Potts model, and a per-edge implementation
    for the contrast-sensitive one.  Both start from the argmax labeling.

    Parameters
    ----------
    prob : array_like, shape (H, W, C)
        Per-pixel class probabilities, ``C >= 2``.  They need not sum to 1;
        values are clipped to ``[eps, 1]`` before the logarithm.
    image : array_like, shape (H, W) or (H, W, K), optional
        Gray-level or multi-channel image (float, integer or boolean, any
        finite values); required when ``contrast`` is True, otherwise only
        checked for shape and finiteness.
    weight : float, default=1.0
        Smoothing weight ``lambda >= 0``, any finite value.  ``weight=0``
        returns the argmax of ``prob`` exactly (ties broken towards the first
        class).  Edge weights above ``2 H W (-log eps) + 1`` are lowered to it
        inside the solvers, which keeps their sums finite and does not
        change the minimizer (such an edge is never worth cutting).
    contrast : bool, default=False
        Use the contrast-sensitive edge weights of :func:`contrast_weights`
        instead of uniform ones.
    eps : float, default=1e-6
        Floor on the probabilities inside the logarithm, in (0, 1).

    Returns
    -------
    labels : ndarray of intp, shape (H, W)
        Indices into the last axis of ``prob``.

    Raises
    ------
    ValueError
        On malformed parameters, or ``prob`` or ``image`` holding NaN or
        infinite values.
    """
    prob = _check_prob(prob)
    weight = _check_weight(weight)
    eps = _check_eps(eps)
    if not isinstance(contrast, (bool, np.bool_)):
        raise ValueError(f"contrast must be a bool, got {contrast!r}")
    if contrast and image is None:
        raise ValueError("contrast=True needs an image")
    if image is not None:
        image = _check_image(image, prob.shape[:2])
    if weight == 0:
        return prob.argmax(axis=2).astype(np.intp)
    unary = _unary(prob, eps)
    n_classes = prob.shape[2]
    cap = _solver_weight_cap(prob.shape[:2], eps)
    right, down = (np.minimum(w, cap) for w in _edge_weights(prob.shape[:2], weight, image, contrast))
    weight = min(weight, cap)
    if n_classes == 2:
        return _binary_cut(unary, right, down)
    if not contrast:
        potts = weight * (1.0 - np.eye(n_classes))
        labels = aexpansion_grid(unary, potts, max_cycles=_MAX_CYCLES)
        return np.asarray(labels, dtype=np.intp)
    return _alpha_expansion(unary, right, down)


# --------------------------------------------------------------------------
# re-exports
# --------------------------------------------------------------------------
# MRFSegmenter and its default grid live in chm.mrf_segmenter, which imports
# this module; they are resolved lazily so that either module can be imported
# first without a circular-import error.
_LAZY = ("DEFAULT_WEIGHTS", "MRFSegmenter")


def __getattr__(name):
    if name in _LAZY:
        from . import mrf_segmenter

        return getattr(mrf_segmenter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
