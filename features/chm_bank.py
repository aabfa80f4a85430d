"""The per-level feature bank of the original contextual hierarchical model (CHM).

Six filters, applied to every pyramid level, 476 features in all:

=========================  ==============================================  ========
filter                     what (reference scale, ``scale=1``)             features
=========================  ==============================================  ========
:class:`HaarRectangles`    left-right and top-bottom halves of a 16 px          2
                           square
:class:`HOGBlocks`         2 x 2 cells of 8 px, 9 unsigned bins, L2-Hys        36
:class:`EdgeWindow`        gradient magnitude (sigma 1) over a 7 x 7 window     49
:class:`GaborQuadrature`   sigma 2..6 x wavelength/sigma 2, 2.25, 2.5 x 12     180
                           orientations, quadrature magnitude
:class:`DenseSIFT`         4 x 4 cells of 4 px, 8 signed bins, SIFT norm       128
:class:`CrossStencil`      the "+" and "x" of a 21 x 21 window                  81
=========================  ==============================================  ========

Conventions shared by the filters:

- A support of side ``S`` "centred" on pixel ``(y, x)`` covers rows
  ``y - S//2 .. y - S//2 + S - 1`` (and the same for columns): for even ``S`` the pixel
  is the bottom-right one of the four central pixels.
- Borders are ``'reflect'`` (half-sample symmetric): the image is reflected
  for smoothing, sampling and Haar sums; orientation votes are reflected as
  planes for HOG and SIFT cells.
- Gradients are Gaussian derivatives of scale ``sigma`` (shared with the
  other filters of a call through the memo) and scale-normalised:
  magnitudes are ``sigma * |grad|``, so features of an image zoomed by ``s``
  with every support times ``s`` stay comparable.
- Orientation votes split the gradient magnitude linearly between the two
  nearest bin centres ``b * period / n_bins`` (``period`` pi for unsigned,
  2 pi for signed orientations; angle 0 is a gradient along +x, angles grow
  towards +y, i.e. downwards).
- HOG and SIFT descriptors are L2-Hys normalised with a floor ``eps``:
  ``u = v / sqrt(|v|**2 + eps**2)``, ``c = min(u, clip)``, output
  ``c * |u| / |c|``. For blocks with ``|v| >> eps`` this is plain L2-Hys
  (unit norm); flat blocks fade to 0 instead of amplifying noise.

RGB images are reduced to luminance first (every filter is an
:class:`~features.base.ImageFilter`).
"""
from functools import lru_cache

import numpy as np
from scipy import ndimage as ndi

from .base import (
    MAX_SCALE,
    FilterBank,
    ImageFilter,
    check_count,
    check_positive,
    fmt,
    pad,
)
from .intensity import _sample_planes, offset_names, stencil_offsets
from .scale_space import _gaussian_derivative, _gradient
from .texture import _gabor_planes, _orientation_votes, integral_image

__all__ = ["HaarRectangles", "HOGBlocks", "EdgeWindow", "GaborQuadrature", "DenseSIFT",
           "CrossStencil", "chm_bank"]

# --- parameter checks ----------------------------------------------------------------


def _check_real(value, name, low, high=MAX_SCALE, low_inclusive=True):
    """``float(value)`` for a real number in ``[low, high]`` (``(low, high]``), else a ValueError."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    above = value >= low if low_inclusive else value > low
    if not (above and value <= high):
        bracket = "[" if low_inclusive else "("
        raise ValueError(f"{name} must be in {bracket}{low:g}, {high:g}], got {value!r}")
    return value


def _check_bins(n_bins):
    n_bins = check_count(n_bins, "n_bins", high=360)
    if n_bins < 2:
        raise ValueError(f"n_bins must be >= 2, got {n_bins!r}")
    return n_bins


def _ray_radii(n_steps, spacing):
    """Distinct integer radii ``round(spacing * k)``, ``k = 1 .. n_steps`` (``spacing >= 1``)."""
    return tuple(int(r) for r in np.rint(spacing * np.arange(1, n_steps + 1)))


# --- gradients and orientation votes -------------------------------------------------


def _polar_gradient(gray, sigma, memo):
    """Scale-normalised magnitude ``sigma * |grad|`` and angle ``atan2(gy, gx)``, memoised."""
    key = ("chm_polar", float(sigma))
    if memo is not None and key in memo:
        return memo[key]
    gy, gx = _gradient(gray, sigma, memo)
    magnitude = np.hypot(gy, gx)
    magnitude *= magnitude.dtype.type(sigma)
    result = (magnitude, np.arctan2(gy, gx))
    if memo is not None:
        memo[key] = result
    return result


def _cell_grid(votes, cell, n_cells):
    """Cell-mean histograms of the ``n_cells x n_cells`` grid around every pixel.

    The grid spans ``S = cell * n_cells`` pixels; cell ``(i, j)`` of pixel
    ``(y, x)`` covers rows ``y - S//2 + cell*i + (0 .. cell-1)`` and the same
    for columns. Votes are reflected outside the image.

    Returns
    -------
    ndarray, shape (n_cells**2 * n_bins, H, W)
        Cell row-major, then cell column, then bin.
    """
    n_bins, h, w = votes.shape
    half = (cell * n_cells) // 2
    padded = np.pad(votes, ((0, 0), (half, half), (half, half)), mode="symmetric")
    # uniform_filter's window at index k starts at k - cell//2; every window read below
    # lies inside the padded planes, so its own border mode never matters.
    means = ndi.uniform_filter(padded, size=(1, cell, cell), mode="reflect")
    out = np.empty((n_cells * n_cells * n_bins, h, w), votes.dtype)
    k = 0
    for i in range(n_cells):
        y0 = cell * i + cell // 2
        for j in range(n_cells):
            x0 = cell * j + cell // 2
            out[k:k + n_bins] = means[:, y0:y0 + h, x0:x0 + w]
            k += n_bins
    return out


def _l2hys(v, eps, clip):
    """L2-Hys with a floor, in place on descriptors ``v`` (D, H, W) with entries >= 0.

    ``u = v / sqrt(|v|**2 + eps**2)``, ``c = min(u, clip)``, result ``c * |u| / |c|``
    (0 where ``c`` is 0).
    """
    dtype = v.dtype.type
    norm = np.sqrt(np.einsum("dhw,dhw->hw", v, v) + dtype(eps * eps))
    v /= norm
    before = np.sqrt(np.einsum("dhw,dhw->hw", v, v))
    np.minimum(v, dtype(clip), out=v)
    after = np.sqrt(np.einsum("dhw,dhw->hw", v, v))
    ratio = np.divide(before, after, out=np.zeros_like(after), where=after > 0)
    v *= ratio
    return v


# --- Haar-like rectangles ------------------------------------------------------------


class HaarRectangles(ImageFilter):
    """Haar-like two-rectangle responses of the square centred on each pixel.

    The ``size x size`` square (rows and columns ``-size//2 .. size//2 - 1``
    around the pixel) is split into halves; ``haar_x`` is the mean of the
    left half minus the mean of the right half, ``haar_y`` the top half
    minus the bottom half (sums from an integral image of the reflected
    image, divided by the half area).

    Parameters
    ----------
    size : int
        Even side of the square in pixels.

    Examples
    --------
    >>> f = HaarRectangles(16)
    >>> f.names
    ['haar_x16', 'haar_y16']
    >>> step = np.tile([0.0] * 10 + [1.0] * 10, (20, 1))  # dark left, bright right
    >>> f(step)[10, 10].tolist()
    [-1.0, 0.0]
    """

    def __init__(self, size=16):
        self.size = check_count(size, "size", high=MAX_SCALE)
        if self.size % 2:
            raise ValueError(f"size must be even (two equal halves), got {size!r}")

    @property
    def names(self):
        return [f"haar_x{self.size}", f"haar_y{self.size}"]

    def _compute(self, gray, memo):
        h, w = gray.shape
        half = self.size // 2
        s = integral_image(pad(gray, half, "reflect"))
        # In padded coordinates the square of pixel (y, x) spans rows y .. y + size - 1.

        def box(r0, r1, c0, c1):  # sum over rows y+r0 .. y+r1-1, columns x+c0 .. x+c1-1
            return s[r1:r1 + h, c1:c1 + w] - s[r0:r0 + h, c1:c1 + w] - s[r1:r1 + h, c0:c0 + w] \
                + s[r0:r0 + h, c0:c0 + w]

        n = self.size
        area = half * n
        out = np.empty((2, h, w), gray.dtype)
        out[0] = (box(0, n, 0, half) - box(0, n, half, n)) / area
        out[1] = (box(0, half, 0, n) - box(half, n, 0, n)) / area
        return out


# --- HOG blocks and dense SIFT -------------------------------------------------------


class _CellDescriptor(ImageFilter):
    """Orientation histograms on a grid of cells around every pixel, L2-Hys normalised."""

    _signed = False  # True: bins over a full turn (SIFT); False: half a turn (HOG)
    _prefix = ""

    def _check(self, n_bins, sigma, eps, clip):
        self.n_bins = _check_bins(n_bins)
        (self.sigma,) = check_positive(sigma, "sigma")
        self.eps = _check_real(eps, "eps", 0.0, low_inclusive=False)
        self.clip = _check_real(clip, "clip", 0.0, 1.0, low_inclusive=False)

    def _check_span(self):
        span = self.cell * self._grid()
        if span > MAX_SCALE:
            raise ValueError(f"the cell grid spans {span} pixels, more than {MAX_SCALE}")

    def _grid(self):
        """Cells per side of the grid."""
        raise NotImplementedError

    def _cell_labels(self):
        """One label per cell, row-major."""
        raise NotImplementedError

    @property
    def names(self):
        return [f"{self._prefix}{self.cell}_{c}_b{b}" for c in self._cell_labels()
                for b in range(self.n_bins)]

    def _compute(self, gray, memo):
        magnitude, angle = _polar_gradient(gray, self.sigma, memo)
        votes = _orientation_votes(magnitude, angle, self.n_bins, self._signed)
        return _l2hys(_cell_grid(votes, self.cell, self._grid()), self.eps, self.clip)


class HOGBlocks(_CellDescriptor):
    """Dense HOG: the 2 x 2 block of cells around every pixel.

    The block spans ``2 * cell`` pixels (rows and columns ``-cell .. cell - 1``
    around the pixel); each cell holds the mean orientation votes of its
    pixels, with ``n_bins`` unsigned bins centred on ``b * pi / n_bins`` and
    linear interpolation between the two nearest bins. The
    ``4 * n_bins`` block vector is L2-Hys normalised (see the module
    docstring; ``eps`` is a floor on the norm of the cell means, in units of
    the scale-normalised gradient magnitude).

    Parameters
    ----------
    cell : int
        Cell side in pixels.
    n_bins : int
        Orientation bins over half a turn.
    sigma : float
        Scale of the Gaussian gradient.
    eps : float
        Floor of the normalisation, > 0.
    clip : float
        Clipping level of L2-Hys, in (0, 1].

    Notes
    -----
    Features are cell-major (top-left, top-right, bottom-left, bottom-right),
    then bin: names ``hog{cell}_{tl,tr,bl,br}_b{bin}``.

    Examples
    --------
    >>> f = HOGBlocks()
    >>> f.n_features, f.names[:2], f.names[-1]
    (36, ['hog8_tl_b0', 'hog8_tl_b1'], 'hog8_br_b8')
    >>> stripes = np.tile([0.0] * 4 + [1.0] * 4, (32, 4))  # vertical edges: gradient along x
    >>> int(f(stripes)[16, 16, :9].argmax())
    0
    """

    _prefix = "hog"

    def __init__(self, cell=8, n_bins=9, sigma=1.0, eps=0.01, clip=0.2):
        self.cell = check_count(cell, "cell", high=MAX_SCALE)
        self._check(n_bins, sigma, eps, clip)
        self._check_span()

    def _grid(self):
        return 2

    def _cell_labels(self):
        return ["tl", "tr", "bl", "br"]


class DenseSIFT(_CellDescriptor):
    """Dense SIFT: a ``n_cells x n_cells`` grid of cells around every pixel.

    The patch spans ``S = n_cells * cell`` pixels (rows and columns
    ``-S//2 .. S - S//2 - 1`` around the pixel). Each cell holds the mean
    orientation votes of its pixels with ``n_bins`` signed bins centred on
    ``b * 2 pi / n_bins`` (linear interpolation between the two nearest bins);
    the spatial binning is plain box cells (no bilinear spreading between
    cells, no Gaussian window). The descriptor is normalised like SIFT: L2,
    clip at ``clip``, L2 again (L2-Hys with a floor ``eps``, see the module
    docstring).

    Parameters
    ----------
    cell : int
        Cell side in pixels.
    n_cells : int
        Cells per side of the patch.
    n_bins : int
        Orientation bins over a full turn.
    sigma : float
        Scale of the Gaussian smoothing of the gradient.
    eps : float
        Floor of the normalisation, > 0.
    clip : float
        Clipping level, in (0, 1].

    Notes
    -----
    Features are cell row-major, then bin: names
    ``sift{cell}_r{row}c{col}_b{bin}``.

    Examples
    --------
    >>> f = DenseSIFT()
    >>> f.n_features, f.names[0], f.names[-1]
    (128, 'sift4_r0c0_b0', 'sift4_r3c3_b7')
    >>> f(np.random.rand(20, 24)).shape
    (20, 24, 128)
    """

    _signed = True
    _prefix = "sift"

    def __init__(self, cell=4, n_cells=4, n_bins=8, sigma=1.0, eps=0.01, clip=0.2):
        self.cell = check_count(cell, "cell", high=MAX_SCALE)
        self.n_cells = check_count(n_cells, "n_cells", high=64)
        self._check(n_bins, sigma, eps, clip)
        self._check_span()

    def _grid(self):
        return self.n_cells

    def _cell_labels(self):
        return [f"r{i}c{j}" for i in range(self.n_cells) for j in range(self.n_cells)]


# --- edge window ---------------------------------------------------------------------


class EdgeWindow(ImageFilter):
    """Gradient magnitude sampled over a square window of offsets around each pixel.

    The scale-normalised derivative-of-Gaussian magnitude ``sigma * |grad|``
    is read at every offset ``(dy, dx) = round(spacing * (i, j))`` for
    ``i, j`` in ``-radius .. radius`` (borders ``'reflect'``).

    Parameters
    ----------
    radius : int
        Half side of the window in steps: ``(2 * radius + 1)**2`` features.
    spacing : float
        Step between samples in pixels, >= 1.
    sigma : float
        Scale of the Gaussian gradient.

    Examples
    --------
    >>> f = EdgeWindow()
    >>> f.n_features, f.names[0], f.names[24]
    (49, 'edge_-3_-3', 'edge_+0_+0')
    """

    def __init__(self, radius=3, spacing=1.0, sigma=1.0):
        self.radius = check_count(radius, "radius", high=MAX_SCALE)
        self.spacing = _check_real(spacing, "spacing", 1.0)
        (self.sigma,) = check_positive(sigma, "sigma")
        if self.radius * self.spacing > MAX_SCALE:
            raise ValueError(f"radius * spacing must be <= {MAX_SCALE} pixels, got "
                             f"{self.radius * self.spacing:g}")

    @property
    def offsets(self):
        """ndarray (n, 2): the ``(dy, dx)`` offsets, in feature order (row-major)."""
        steps = np.rint(self.spacing * np.arange(-self.radius, self.radius + 1)).astype(np.int64)
        dy, dx = np.meshgrid(steps, steps, indexing="ij")
        return np.stack([dy.ravel(), dx.ravel()], axis=1)

    @property
    def names(self):
        return offset_names("edge", self.offsets)

    def _compute(self, gray, memo):
        magnitude, _ = _polar_gradient(gray, self.sigma, memo)
        return _sample_planes(magnitude, self.offsets, "reflect")


# --- Gabor quadrature pairs ----------------------------------------------------------


@lru_cache(maxsize=8)
def _quadrature_factors(sigmas, ratios, n_orientations):
    """Separable complex kernels ``(ky, kx)``, sigma-major, then ratio, then orientation."""
    factors = []
    for sigma in sigmas:
        r = int(np.ceil(3 * sigma))
        t = np.arange(-r, r + 1)
        envelope = np.exp(-0.5 * t * t / sigma**2)
        for ratio in ratios:
            k = 2 * np.pi / (ratio * sigma)
            for o in range(n_orientations):
                theta = np.pi * o / n_orientations
                ky = envelope * np.exp(1j * k * np.sin(theta) * t)
                kx = envelope * np.exp(1j * k * np.cos(theta) * t) / (2 * np.pi * sigma**2)
                factors.append((ky, kx))
    return tuple(factors)


class GaborQuadrature(ImageFilter):
    """Magnitudes of Gabor quadrature pairs, parametrised by sigma and wavelength.

    The complex kernel is
    ``g(x, y) = exp(-(x**2 + y**2) / (2 sigma**2)) / (2 pi sigma**2)
    * exp(2j pi (x cos(theta) + y sin(theta)) / lambda)``: its real and
    imaginary parts are the even and odd filters of a quadrature pair, and
    the feature is ``sqrt(even**2 + odd**2)``. The envelope is isotropic and
    truncated at ``ceil(3 sigma)`` pixels; it has unit mass, so responses are
    comparable across sigmas. Convolutions run by FFT of the reflect-padded
    image (the machinery of :class:`features.texture.GaborFilter`).

    Parameters
    ----------
    sigmas : sequence of float
        Envelope scales in pixels.
    wavelength_ratios : sequence of float
        ``lambda / sigma``; every wavelength must be at least 2 pixels.
    n_orientations : int
        Orientations ``theta = pi * k / n_orientations`` (``theta`` and
        ``theta + pi`` give the same magnitude).

    Notes
    -----
    Features are sigma-major, then ratio, then orientation: names
    ``gabor_s{sigma}_l{lambda}_a{degrees}``.

    Examples
    --------
    >>> f = GaborQuadrature()
    >>> f.n_features, f.names[0], f.names[13]
    (180, 'gabor_s2_l4_a0', 'gabor_s2_l4.5_a15')
    """

    def __init__(self, sigmas=(2, 3, 4, 5, 6), wavelength_ratios=(2, 2.25, 2.5), n_orientations=12):
        self.sigmas = check_positive(sigmas, "sigmas")
        self.wavelength_ratios = check_positive(wavelength_ratios, "wavelength_ratios")
        self.n_orientations = check_count(n_orientations, "n_orientations", high=360)
        shortest = min(self.sigmas) * min(self.wavelength_ratios)
        if shortest < 2:
            raise ValueError(f"every wavelength sigma * ratio must be >= 2 pixels (the sampling "
                             f"limit), got {shortest:g}")

    @property
    def names(self):
        return [f"gabor_s{fmt(s)}_l{fmt(s * r)}_a{round(180 * k / self.n_orientations)}"
                for s in self.sigmas for r in self.wavelength_ratios
                for k in range(self.n_orientations)]

    def _compute(self, gray, memo):
        factors = _quadrature_factors(self.sigmas, self.wavelength_ratios, self.n_orientations)
        return _gabor_planes(gray, factors)


# --- cross stencil -------------------------------------------------------------------


class CrossStencil(ImageFilter):
    """The image at the centre and along the "+" and "x" through each pixel.

    Offsets ``(0, 0)``, then for each step ``k = 1 .. n_steps`` the eight
    points at Chebyshev radius ``round(spacing * k)`` on the horizontal,
    vertical and two diagonal lines (``1 + 8 * n_steps`` features; 81 for the
    21 x 21 window of the reference). The image is smoothed by a Gaussian of
    ``sigma`` first (``sigma=0``: the raw image); borders ``'reflect'``.

    Parameters
    ----------
    n_steps : int
        Samples per ray.
    spacing : float
        Step along the rays in pixels, >= 1 (so the radii are distinct).
    sigma : float
        Pre-smoothing, >= 0.

    Examples
    --------
    >>> f = CrossStencil()
    >>> f.n_features, f.names[:3]
    (81, ['cross_+0_+0', 'cross_+0_+1', 'cross_+1_+1'])
    """

    def __init__(self, n_steps=10, spacing=1.0, sigma=0.5):
        self.n_steps = check_count(n_steps, "n_steps", high=MAX_SCALE)
        self.spacing = _check_real(spacing, "spacing", 1.0)
        self.sigma = _check_real(sigma, "sigma", 0.0)
        if self.n_steps * self.spacing > MAX_SCALE:
            raise ValueError(f"n_steps * spacing must be <= {MAX_SCALE} pixels, got "
                             f"{self.n_steps * self.spacing:g}")

    @property
    def offsets(self):
        """ndarray (n, 2): the ``(dy, dx)`` offsets, in feature order."""
        return stencil_offsets(_ray_radii(self.n_steps, self.spacing), n_directions=8)

    @property
    def names(self):
        return offset_names("cross", self.offsets)

    def _compute(self, gray, memo):
        if self.sigma > 0:
            gray = _gaussian_derivative(gray, self.sigma, memo=memo)
        return _sample_planes(gray, self.offsets, "reflect")


# --- the bank ------------------------------------------------------------------------


def chm_bank(scale=1.0):
    """The per-level CHM feature bank, 476 features, with every support times ``scale``.

    ``scale=1`` is the reference bank, whose windows were tuned for electron
    micrographs of membranes. ``scale`` multiplies every spatial support and
    keeps the feature count; a rule of thumb is ``scale ~ object size / 100 px``
    at the working resolution. With ``s = scale``:

    =========================  ===================================================
    filter                     settings
    =========================  ===================================================
    :class:`HaarRectangles`    ``size = 2 * max(1, round(8 s))``
    :class:`HOGBlocks`         ``cell = max(1, round(8 s))``, gradient sigma ``s``
    :class:`EdgeWindow`        radius 3, ``spacing = max(1, s)``, sigma ``s``
    :class:`GaborQuadrature`   sigmas ``s * (2, 3, 4, 5, 6)``, ratios 2, 2.25, 2.5,
                               12 orientations
    :class:`DenseSIFT`         ``cell = max(1, round(4 s))``, 4 x 4 cells, sigma ``s``
    :class:`CrossStencil`      10 steps, ``spacing = max(1, s)``, sigma ``0.5 s``
    =========================  ===================================================

    HOG, SIFT and edge filters share one memoised gradient (sigma ``s``).

    Parameters
    ----------
    scale : float
        Support multiplier, >= 0.5 (below it the shortest Gabor wavelength
        drops under 2 pixels).

    Returns
    -------
    FilterBank

    Raises
    ------
    ValueError
        If ``scale`` is not a number in ``[0.5, 256]``.

    Examples
    --------
    >>> chm_bank().n_features, chm_bank(2.5).n_features
    (476, 476)
    >>> chm_bank(2.0).filters[1].cell
    16
    """
    s = _check_real(scale, "scale", 0.5, 256.0)
    step = max(1.0, s)
    return FilterBank([
        HaarRectangles(size=2 * max(1, round(8 * s))),
        HOGBlocks(cell=max(1, round(8 * s)), n_bins=9, sigma=s),
        EdgeWindow(radius=3, spacing=step, sigma=s),
        GaborQuadrature(sigmas=tuple(s * k for k in (2, 3, 4, 5, 6)),
                        wavelength_ratios=(2, 2.25, 2.5), n_orientations=12),
        DenseSIFT(cell=max(1, round(4 * s)), n_cells=4, n_bins=8, sigma=s),
        CrossStencil(n_steps=10, spacing=step, sigma=0.5 * s),
    ])
