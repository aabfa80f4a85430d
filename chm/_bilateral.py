"""Fast Gaussian filtering in a feature space with a bilateral grid.

The dense bilateral penalty (:mod:`chm._dense_penalty`) needs products
``W X`` of the Gaussian affinity

    W_ij = exp(-|f_i - f_j|^2 / 2)

of ``N`` pixels with features ``f_i`` in ``R^D`` (positions and intensities
already divided by their bandwidths) with a block ``X`` of ``C`` columns.
The brute-force product costs ``O(N^2)``; the bilateral grid (Paris and
Durand, 2006; Chen, Paris and Durand, 2007) costs ``O(N 2^D + cells)``:

1. **splat** (``A``): every pixel spreads its values over the ``2^D``
   corners of its grid cell with multilinear (tent) weights that sum to 1;
   the grid is regular with ``spacing`` (in bandwidth units) along every
   feature and covers the bounding box of the features;
2. **blur** (``B``): the grid is filtered along each axis with the same
   small symmetric kernel, with zero boundary (cells outside the bounding
   box hold no mass and are never read, so nothing is lost);
3. **slice** (``A^T``): every pixel gathers from the same corners with the
   same weights.

Slicing is exactly the transpose of splatting and ``B`` is symmetric, so
``W~ = scale * A^T B A`` is a symmetric operator: the gradient of a
quadratic form built on it is exact for its own value.

Blur kernel.  A tent of width ``s`` (in bandwidth units) has variance
``s^2 / 6``; splat and slice together contribute ``s^2 / 3``.  The blur
supplies the rest of the unit variance of the Gaussian: along each axis it
is a sampled Gaussian of radius ``ceil(3 sqrt(t))``, normalised to sum 1,
whose variance is exactly ``t = 1 / s^2 - 1 / 3`` grid units squared (for
``s`` near 1 and above, the samples of a Gaussian of variance ``t`` would
have less).  Averaged over the positions of the pixels in their cells,
splat-blur-slice is then the cubic B-spline interpolant of that kernel,
which matches the Gaussian within 0.3 % (s <= 0.8) to 1 % (s = 1) in L2;
kernels fitted by least squares do no better, because the error of ``W~``
comes from the tents (next paragraphs), not from the blur.  For
``s >= sqrt(3)`` no blur is left (the kernel is ``[1]``) and ``W~`` is
wider than ``W``.

Scale.  Each row of ``A`` sums to 1 and the blur kernel sums to 1, so
along one axis the grid operator integrates to ``s`` (bandwidth units)
where the Gaussian integrates to ``sqrt(2 pi)``; the global factor
``scale = (sqrt(2 pi) / s) ** D`` makes ``W~`` preserve mass, i.e.
``W~ 1 ~ W 1`` for densely sampled features.

Accuracy and spacing.  ``W~`` is a tensor product of one-dimensional
operators that are not shift invariant (two pixels are coupled more strongly
when both sit on grid nodes than when both sit mid-cell), with a relative
error that grows like ``s^2`` along each axis and adds up over the ``D``
axes.  Measured against the exact Gaussian on six random maps per case
(16x16 gray, 14x14 RGB: uniform noise, smoothed noise and a crop of a
natural image at half resolution; ``sigma_xy`` of 3 and 50 px,
``sigma_rgb = 15 / 255``), worst case over the six maps: ``|W~ - W|_F /
|W|_F`` and the relative L2 error of ``W~ x`` for a random ``x`` in [0, 1]:

=======  ==============  ==============
spacing  gray (D = 3)    RGB (D = 5)
=======  ==============  ==============
0.4      0.021 / 0.018   0.029 / 0.026
0.5      0.034 / 0.025   0.051 / 0.047
0.6      0.039 / 0.027   0.064 / 0.059
0.7      0.053 / 0.038   0.093 / 0.085
0.8      0.085 / 0.065   0.148 / 0.140
1.0      0.197 / 0.169   0.309 / 0.282
=======  ==============  ==============

The normalised dense bilateral penalty built on ``W~`` has about the error of
``W~ x`` in its gradient and under 1 % in its value.  Halving the spacing
multiplies the cell count by ``2^D`` (32 for RGB).  A 64x64 crop of a
natural image (``sigma_xy = 50`` px) needs a few hundred cells in gray, so
its cost is that of the splat and slice at any spacing here, and 80k
(s = 0.8) to 340k (s = 0.6) cells in RGB, where the blur dominates: about
1, 2, 5 and 20 ms per filtering at s = 0.8, 0.7, 0.6, 0.5.  Hence the
defaults (:func:`default_spacing`): 0.5 for gray features (error of
``W~ x`` within 3 %), 0.7 for colour features (within 9 %), 0.6 in between.

Memory.  The grid is dense over the bounding box of the features, with
``floor(extent_d / s) + 2`` nodes along axis ``d``; the numba kernel holds
two float32 grids of ``C`` channels (8 C bytes per cell, plus the blur
radius of spare cells along the last axis).  When the node count exceeds
``max_cells`` (default :data:`MAX_CELLS`, 2e7 cells), the spacing is raised
to ``s * (cells / max_cells) ** (1 / D)`` and then by 1 % steps until the
grid fits (:func:`grid_spacing`); the blur and the scale follow the new
spacing, so ``W~`` stays a symmetric, mass-preserving approximation, only
coarser (its error grows like ``s^2``, see the table).

Functions

- :func:`bilateral_filter`: ``W~ X`` by the numba kernel (float32);
- :func:`bilateral_filter_reference`: the same algorithm in plain numpy
  (float64 arithmetic, same grid);
- :func:`gaussian_filter_exact`: the brute-force ``W X`` (float64);
- :func:`default_spacing`, :func:`grid_spacing`, :func:`blur_taps`,
  :func:`grid_scale`: the grid parameters used by both implementations.
"""
from functools import lru_cache
import math
import numbers

import numpy as np
from numba import njit
from scipy import ndimage
from scipy.optimize import brentq

__all__ = [
    "DEFAULT_SPACINGS",
    "default_spacing",
    "MAX_CELLS",
    "bilateral_filter",
    "bilateral_filter_reference",
    "gaussian_filter_exact",
    "grid_spacing",
    "blur_taps",
    "grid_scale",
]

#: Default grid spacing in bandwidth units, by feature dimension (see the module docstring).
DEFAULT_SPACINGS = {1: 0.5, 2: 0.5, 3: 0.5, 4: 0.6, 5: 0.7}
#: Largest number of grid cells before the spacing is raised.
MAX_CELLS = 20_000_000
# Radius of the blur kernel in its standard deviations.
_TRUNCATE = 3.0


# ---------------------------------------------------------------------------
# grid parameters
# ---------------------------------------------------------------------------
def _check_features(features, values):
    """Validate and convert the inputs of the filters.

    Returns float32 C-contiguous ``features`` (N, D) and ``values`` (N, C).
    """
    f = np.asarray(features)
    v = np.asarray(values)
    if f.dtype.kind not in "biuf" or v.dtype.kind not in "biuf":
        raise TypeError("features and values must be numeric arrays")
    if f.ndim != 2 or f.shape[1] < 1:
        raise ValueError(f"features must have shape (N, D) with D >= 1, got shape {f.shape}")
    if v.ndim != 2 or v.shape[0] != f.shape[0]:
        raise ValueError(
            f"values must have shape (N, C) with N = {f.shape[0]} rows like the features, "
            f"got shape {v.shape}"
        )
    f = np.ascontiguousarray(f, dtype=np.float32)
    v = np.ascontiguousarray(v, dtype=np.float32)
    if not (np.isfinite(f).all() and np.isfinite(v).all()):
        raise ValueError("features and values must be finite (no NaN or inf)")
    return f, v


def _grid_shape(extent, spacing):
    """Nodes per axis, ``floor(extent / spacing) + 2``, computed in float32."""
    u = np.asarray(extent, np.float32) / np.float32(spacing)
    return u.astype(np.int64) + 2  # u >= 0: truncation is floor


def default_spacing(n_dims):
    """Default grid spacing for features of dimension ``n_dims``.

    0.5 up to D = 3 (gray maps), 0.6 for D = 4, 0.7 from D = 5 on (RGB
    maps): the spacings of :data:`DEFAULT_SPACINGS`, chosen from the
    measured accuracy and cost (module docstring).

    Parameters
    ----------
    n_dims : int
        Dimension ``D`` of the feature space.

    Returns
    -------
    spacing : float
    """
    return DEFAULT_SPACINGS.get(int(n_dims), 0.7)


def grid_spacing(extent, spacing=None, max_cells=MAX_CELLS):
    """Grid spacing actually used for features of a given extent.

    Parameters
    ----------
    extent : array_like of shape (D,)
        Extent ``max - min`` of the features along each axis (bandwidth units).
    spacing : float, default=DEFAULT_SPACING
        Requested spacing (bandwidth units).
    max_cells : int, default=MAX_CELLS
        Largest allowed number of cells ``prod_d (floor(extent_d / s) + 2)``.

    Returns
    -------
    spacing : float
        ``spacing`` if its grid fits in ``max_cells``; otherwise
        ``spacing * (cells / max_cells) ** (1 / D)`` raised by 1 % steps
        until the grid fits.  Returned as the float32 value the kernels use.

    Raises
    ------
    ValueError
        If ``spacing`` is not positive or ``max_cells < 2 ** D`` (the
        smallest possible grid).
    """
    extent = np.asarray(extent, np.float32).ravel()
    D = extent.size
    if spacing is None:
        spacing = default_spacing(D)
    if not (isinstance(spacing, numbers.Real) and math.isfinite(spacing) and spacing > 0):
        raise ValueError(f"spacing must be a positive number, got {spacing!r}")
    if max_cells < 2 ** D:
        raise ValueError(f"max_cells must be at least 2 ** D = {2 ** D}, got {max_cells!r}")
    s = np.float32(spacing)
    cells = math.prod(_grid_shape(extent, s).tolist())
    if cells > max_cells:
        s = np.float32(s * (cells / max_cells) ** (1.0 / D))
        while math.prod(_grid_shape(extent, s).tolist()) > max_cells:
            s = np.float32(s * np.float32(1.01))
    return float(s)


@lru_cache(maxsize=64)
def _blur_taps_cached(spacing):
    t = 1.0 / spacing ** 2 - 1.0 / 3.0
    if t <= 0:
        return np.ones(1, np.float32)
    radius = max(1, math.ceil(_TRUNCATE * math.sqrt(t)))
    r2 = np.arange(-radius, radius + 1, dtype=np.float64) ** 2

    def taps_of(width):
        k = np.exp(-0.5 * r2 / width ** 2)
        return k / k.sum()

    # the samples of a narrow Gaussian have less variance than the Gaussian: match it
    width = brentq(lambda w: taps_of(w) @ r2 - t, 1e-3, 10.0 * radius, xtol=1e-12)
    taps = taps_of(width).astype(np.float32)
    taps.setflags(write=False)
    return taps


def blur_taps(spacing):
    """Symmetric blur kernel of the grid for a given spacing.

    A sampled Gaussian of radius ``max(1, ceil(3 sqrt(t)))``, normalised to
    sum 1, whose width is set so that its variance is exactly
    ``t = 1 / spacing^2 - 1 / 3`` (grid units squared): splat, blur and
    slice together then have unit variance in bandwidth units.  ``[1]`` (no
    blur) for ``spacing >= sqrt(3)``.

    Parameters
    ----------
    spacing : float
        Grid spacing in bandwidth units.

    Returns
    -------
    taps : ndarray of shape (2 R + 1,), float32 (read-only)
        Taps for offsets ``-R .. R``.
    """
    return _blur_taps_cached(float(spacing))


def grid_scale(spacing, n_dims):
    """Global factor ``(sqrt(2 pi) / spacing) ** n_dims`` folded into the filter.

    It makes the grid operator integrate like the Gaussian
    ``exp(-|d|^2 / 2)`` (mass preservation), so that ``W~ ~ W``.

    Parameters
    ----------
    spacing : float
        Grid spacing in bandwidth units.
    n_dims : int
        Dimension ``D`` of the feature space.

    Returns
    -------
    scale : float
    """
    return (math.sqrt(2.0 * math.pi) / spacing) ** n_dims


def _grid_parameters(f, spacing, max_cells):
    """Origin, spacing, node counts, taps and scale for float32 features ``f`` (N >= 1)."""
    fmin, fmax = _bounds(f)
    extent = fmax - fmin  # float32, as in the kernel
    s = grid_spacing(extent, spacing, max_cells)
    shape = _grid_shape(extent, s)
    return fmin, np.float32(s), shape, blur_taps(s), grid_scale(s, f.shape[1])


# ---------------------------------------------------------------------------
# numba kernel
# ---------------------------------------------------------------------------
# The grid is stored planar, (C, cells) with the last feature axis fastest.
# The last axis carries R spare cells after its nodes (R = blur radius) and is
# blurred last, as one long shifted sum over the whole array: until then the
# spare cells hold zeros (the splat never writes them and the blurs of the
# other axes keep the last coordinate, so they map spare cells to spare
# cells), so every row is flanked by R zeros and its nodes receive only from
# its own nodes; the slice never reads the spare cells.  The other axes are
# blurred row block by row block with long contiguous inner loops.  The splat is a scatter (the only
# order-dependent float32 sums), the slice a gather with the same weights.
@njit(cache=True, nogil=True)
def _bounds(features):
    """Per-axis minimum and maximum of float32 features (N, D), N >= 1."""
    N, D = features.shape
    lo = features[0].copy()
    hi = features[0].copy()
    for i in range(1, N):
        for d in range(D):
            x = features[i, d]
            if x < lo[d]:
                lo[d] = x
            if x > hi[d]:
                hi[d] = x
    return lo, hi


@njit(cache=True, nogil=True)
def _pixel_cells(features, fmin, spacing, shape, strides, base, weights):
    """Base cell of every pixel and its ``2^D`` multilinear corner weights.

    Corner ``k`` has offset ``+1`` along axis ``d`` iff bit ``d`` of ``k``
    is set; its weight is ``prod_d (t_d if bit d else 1 - t_d)`` with the
    fractional coordinate ``t_d`` of the pixel in its cell.
    """
    N, D = features.shape
    one = np.float32(1.0)
    frac = np.empty(D, np.float32)
    for i in range(N):
        off = 0
        for d in range(D):
            u = (features[i, d] - fmin[d]) / spacing
            b = min(np.int64(u), shape[d] - 2)  # u >= 0: truncation is floor
            frac[d] = u - np.float32(b)
            off += b * strides[d]
        base[i] = off
        w = weights[i]
        w[0] = one
        m = 1
        for d in range(D):  # tensor product, one axis at a time
            t = frac[d]
            for k in range(m):
                wk = w[k]
                w[k] = wk * (one - t)
                w[k + m] = wk * t
            m *= 2


@njit(cache=True, nogil=True)
def _splat(values, base, weights, corner, grid):
    """Scatter ``values`` (N, C) into the planar ``grid`` (C, cells): ``grid += A^T values``."""
    N, C = values.shape
    K = corner.shape[0]
    for c in range(C):
        g = grid[c]
        for i in range(N):
            v = values[i, c]
            b = base[i]
            w = weights[i]
            for k in range(K):
                g[b + corner[k]] += w[k] * v


@njit(cache=True, nogil=True)
def _slice(grid, base, weights, corner, scale, out):
    """Gather ``out = scale * A grid`` from the planar ``grid`` (C, cells)."""
    N, C = out.shape
    K = corner.shape[0]
    for c in range(C):
        g = grid[c]
        for i in range(N):
            b = base[i]
            w = weights[i]
            acc = np.float32(0.0)
            for k in range(K):
                acc += w[k] * g[b + corner[k]]
            out[i, c] = acc * scale


@njit(cache=True, nogil=True)
def _blur_rows(src, dst, n, inner, taps):
    """Blur flat ``src`` into ``dst`` along an axis of ``n`` nodes and stride ``inner``.

    The array is a sequence of rows of ``n * inner`` values; zero boundary.
    """
    R = taps.shape[0] // 2
    L = n * inner
    c0 = taps[R]
    for p in range(0, src.shape[0], L):
        out = dst[p:p + L]
        row = src[p:p + L]
        for j in range(L):
            out[j] = c0 * row[j]
        for r in range(1, min(R, n - 1) + 1):
            w = taps[R + r]
            sh = r * inner
            _shifted_add(out[:L - sh], row[sh:], w)
            _shifted_add(out[sh:], row[:L - sh], w)


@njit(cache=True, nogil=True)
def _blur_flat(src, dst, taps):
    """Blur flat ``src`` into ``dst`` with unit stride over the whole array.

    Valid along the padded last axis (rows separated by ``R`` zero cells).
    """
    R = taps.shape[0] // 2
    L = src.shape[0]
    c0 = taps[R]
    for j in range(L):
        dst[j] = c0 * src[j]
    for r in range(1, min(R, L - 1) + 1):
        w = taps[R + r]
        _shifted_add(dst[:L - r], src[r:], w)
        _shifted_add(dst[r:], src[:L - r], w)


@njit(cache=True, nogil=True)
def _shifted_add(out, x, w):
    """``out += w * x`` for two 1-D views of equal length (vectorised loop)."""
    for j in range(out.shape[0]):
        out[j] += w * x[j]


@njit(cache=True, nogil=True)
def _bilateral_kernel(features, values, fmin, spacing, shape, taps, scale, out):
    """``out = scale * A^T B A values`` for float32 features (N, D) and values (N, C).

    ``fmin`` is the per-axis minimum of the features, ``shape`` the node
    counts per axis (``floor((max - min) / spacing) + 2``), ``taps`` the
    float32 blur kernel and ``out`` a float32 (N, C) array.
    """
    N, D = features.shape
    C = values.shape[1]
    R = taps.shape[0] // 2
    strides = np.empty(D, np.int64)
    cells = 1
    for d in range(D - 1, -1, -1):
        strides[d] = cells
        cells *= shape[d] + (R if d == D - 1 else 0)
    K = 1 << D
    corner = np.zeros(K, np.int64)
    for k in range(K):
        for d in range(D):
            if (k >> d) & 1:
                corner[k] += strides[d]
    base = np.empty(N, np.int64)
    weights = np.empty((N, K), np.float32)
    _pixel_cells(features, fmin, spacing, shape, strides, base, weights)
    grid = np.zeros((C, cells), np.float32)
    _splat(values, base, weights, corner, grid)
    if R > 0:
        flat = grid.ravel()
        tmp = np.empty_like(flat)
        for d in range(D - 1):
            _blur_rows(flat, tmp, shape[d], strides[d], taps)
            flat, tmp = tmp, flat
        _blur_flat(flat, tmp, taps)
        grid = tmp.reshape((C, cells))
    _slice(grid, base, weights, corner, np.float32(scale), out)


def bilateral_filter(features, values, spacing=None, max_cells=MAX_CELLS):
    """Approximate Gaussian filter ``W~ X`` by a bilateral grid (numba kernel).

    ``W~ = scale * A^T B A`` approximates ``W_ij = exp(-|f_i - f_j|^2 / 2)``;
    see the module docstring for the algorithm and its measured accuracy.

    Parameters
    ----------
    features : array_like of shape (N, D)
        Features of the points, already divided by their bandwidths.
    values : array_like of shape (N, C)
        Values to filter.
    spacing : float, default=DEFAULT_SPACING
        Grid spacing in bandwidth units, raised if the grid would exceed
        ``max_cells`` (see :func:`grid_spacing`).
    max_cells : int, default=MAX_CELLS
        Cell budget of the grid.

    Returns
    -------
    filtered : ndarray of shape (N, C), float32
        ``W~ values``.

    Raises
    ------
    TypeError
        If the inputs are not numeric.
    ValueError
        For inconsistent shapes, non-finite inputs or invalid grid parameters.

    Examples
    --------
    >>> import numpy as np
    >>> f = np.array([[0.0], [0.5], [4.0]], np.float32)
    >>> out = bilateral_filter(f, np.ones((3, 1), np.float32))
    >>> out.shape
    (3, 1)
    """
    f, v = _check_features(features, values)
    out = np.zeros(v.shape, np.float32)
    if f.shape[0] == 0:
        return out
    fmin, s, shape, taps, scale = _grid_parameters(f, spacing, max_cells)
    _bilateral_kernel(f, v, fmin, s, shape, taps, scale, out)
    return out


# ---------------------------------------------------------------------------
# numpy reference and brute force
# ---------------------------------------------------------------------------
def _splat_weights(f, spacing, shape):
    """Flat corner cell indices (N, 2^D) and multilinear weights (float64)."""
    N, D = f.shape
    u = (f - f.min(axis=0)) / np.float32(spacing)  # float32, as in the kernel
    base = np.minimum(np.floor(u).astype(np.int64), shape - 2)
    frac = (u - base.astype(np.float32)).astype(np.float64)
    strides = np.array([int(np.prod(shape[d + 1:])) for d in range(D)], np.int64)
    index = np.empty((N, 2 ** D), np.int64)
    weight = np.empty((N, 2 ** D), np.float64)
    for k in range(2 ** D):
        bits = np.array([(k >> d) & 1 for d in range(D)], np.int64)
        index[:, k] = (base + bits) @ strides
        weight[:, k] = np.prod(np.where(bits == 1, frac, 1.0 - frac), axis=1)
    return index, weight


def bilateral_filter_reference(features, values, spacing=None, max_cells=MAX_CELLS):
    """Plain numpy version of :func:`bilateral_filter` (same grid, float64 arithmetic).

    Parameters
    ----------
    features : array_like of shape (N, D)
        Features of the points, already divided by their bandwidths.
    values : array_like of shape (N, C)
        Values to filter.
    spacing : float, default=DEFAULT_SPACING
        Grid spacing in bandwidth units.
    max_cells : int, default=MAX_CELLS
        Cell budget of the grid.

    Returns
    -------
    filtered : ndarray of shape (N, C), float64
        ``W~ values``.
    """
    f, _ = _check_features(features, values)
    v = np.asarray(values, np.float64)
    N, D = f.shape
    if N == 0:
        return np.zeros(v.shape, np.float64)
    _, s, shape, taps, scale = _grid_parameters(f, spacing, max_cells)
    index, weight = _splat_weights(f, s, shape)
    M = int(np.prod(shape))
    grid = np.zeros((M, v.shape[1]))
    for k in range(index.shape[1]):  # splat
        np.add.at(grid, index[:, k], weight[:, k, None] * v)
    grid = grid.reshape(tuple(shape) + (v.shape[1],))
    for d in range(D):  # blur, zero boundary
        grid = ndimage.correlate1d(grid, taps.astype(np.float64), axis=d, mode="constant")
    grid = grid.reshape(M, v.shape[1])
    out = np.einsum("nk,nkc->nc", weight, grid[index])  # slice
    return scale * out


def gaussian_filter_exact(features, values, chunk=1024):
    """Brute-force ``W X`` with ``W_ij = exp(-|f_i - f_j|^2 / 2)``, O(N^2).

    Parameters
    ----------
    features : array_like of shape (N, D)
        Features of the points, already divided by their bandwidths.
    values : array_like of shape (N, C)
        Values to filter.
    chunk : int, default=1024
        Rows of ``W`` formed at a time.

    Returns
    -------
    filtered : ndarray of shape (N, C), float64
    """
    _check_features(features, values)
    f = np.asarray(features, np.float64)
    v = np.asarray(values, np.float64)
    out = np.empty(v.shape, np.float64)
    sq = np.einsum("nd,nd->n", f, f)
    for start in range(0, f.shape[0], chunk):
        fi = f[start:start + chunk]
        d2 = sq[start:start + chunk, None] + sq[None, :] - 2.0 * fi @ f.T
        out[start:start + chunk] = np.exp(-0.5 * np.maximum(d2, 0.0)) @ v
    return out
