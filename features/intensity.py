"""Intensity stencil: the (lightly smoothed) image sampled at a sparse star of offsets."""
import numpy as np

from .base import ImageFilter, check_count, check_mode, check_positive, pad, peak_abs
from .scale_space import _gaussian_derivative


def stencil_offsets(radii, n_directions=8, centre=True):
    """Integer offsets of a star stencil: ``n_directions`` rays at each radius.

    The ray at angle ``a = 2*pi*k/n_directions`` meets the square ring of
    half-side ``r`` (Chebyshev radius ``r``) at
    ``(dy, dx) = round(r * (sin(a), cos(a)) / max(|sin(a)|, |cos(a)|))``
    (rows point down). With 8 directions these are the axis points
    ``(0, +-r), (+-r, 0)`` and the diagonals ``(+-r, +-r)``; rings of different
    radii never share a point. Duplicates within a ring (many directions at a
    small radius) are dropped, keeping the first.

    Parameters
    ----------
    radii : sequence of int
    n_directions : int
    centre : bool
        Put ``(0, 0)`` first.

    Returns
    -------
    offsets : ndarray of int, shape (n_offsets, 2)
        ``(dy, dx)`` rows: the centre, then radius by radius, angle by angle.

    Examples
    --------
    >>> stencil_offsets([2], n_directions=4).tolist()
    [[0, 0], [0, 2], [2, 0], [0, -2], [-2, 0]]
    >>> stencil_offsets([3], centre=False)[:3].tolist()
    [[0, 3], [3, 3], [3, 0]]
    """
    radii = check_positive(radii, "radii", integer=True)
    n_directions = check_count(n_directions, "n_directions", high=360)
    angles = 2 * np.pi * np.arange(n_directions) / n_directions
    unit = np.stack([np.sin(angles), np.cos(angles)], axis=1)
    unit /= np.abs(unit).max(axis=1, keepdims=True)
    offsets = [(0, 0)] if centre else []
    for r in radii:
        offsets.extend((int(dy), int(dx)) for dy, dx in np.rint(r * unit))
    unique = list(dict.fromkeys(offsets))
    return np.array(unique, dtype=np.int64).reshape(-1, 2)


def offset_names(prefix, offsets):
    """Feature names ``'{prefix}_{dy:+d}_{dx:+d}'`` for stencil offsets."""
    return [f"{prefix}_{dy:+d}_{dx:+d}" for dy, dx in offsets]


def _sample_planes(image, offsets, mode="reflect"):
    """Planes ``(n_offsets, H, W)``: ``out[i, y, x] = image[y + dy_i, x + dx_i]``."""
    h, w = image.shape
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    r = int(np.abs(offsets).max()) if len(offsets) else 0
    padded = pad(image, r, mode)
    out = np.empty((len(offsets), h, w), image.dtype)
    for i, (dy, dx) in enumerate(offsets):
        out[i] = padded[r + dy:r + dy + h, r + dx:r + dx + w]
    return out


def sample_stencil(image, offsets, mode="reflect"):
    """Sample a 2-D array at integer offsets around every pixel.

    Parameters
    ----------
    image : ndarray, shape (H, W)
    offsets : array_like of int, shape (n, 2)
        ``(dy, dx)`` pairs.
    mode : {'reflect', 'edge'}
        Border handling (see :data:`features.base.PAD_MODES`).

    Returns
    -------
    out : ndarray of float32, shape (H, W, n)
        ``out[y, x, i] = image[y + dy_i, x + dx_i]`` (padded outside).

    Raises
    ------
    ValueError
        If ``image`` is not 2-D or holds NaN or infinite values.

    Examples
    --------
    >>> im = np.arange(12.0).reshape(3, 4)
    >>> sample_stencil(im, [(0, 1)])[0, :, 0].tolist()
    [1.0, 2.0, 3.0, 3.0]
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"sample_stencil expects a 2-D array, got shape {image.shape}")
    peak_abs(image)
    return np.moveaxis(_sample_planes(image, offsets, mode), 0, -1).copy()


class IntensityStencil(ImageFilter):
    """Smoothed intensity at a star stencil of offsets reaching ``radius``.

    Parameters
    ----------
    radius : int
        Outermost radius of the stencil (ignored when ``radii`` is given).
    radii : sequence of int, optional
        Ring radii; default ``round(radius * (0.3, 0.6, 1.0))`` (``3, 6, 10``
        for ``radius=10``).
    n_directions : int
        Rays per ring (8: the four axes and four diagonals).
    sigma : float
        Gaussian smoothing applied before sampling (0 for none); it tames
        noise and JPEG artefacts without blurring structure away.
    mode : {'reflect', 'edge'}
        Border handling.

    Examples
    --------
    >>> f = IntensityStencil(radius=10)
    >>> f.n_features, f.names[:2]
    (25, ['int_+0_+0', 'int_+0_+3'])
    >>> f(np.random.rand(20, 30)).shape
    (20, 30, 25)
    """

    def __init__(self, radius=10, radii=None, n_directions=8, sigma=0.7, mode="reflect"):
        if radii is None:
            radii = np.unique(np.maximum(1, np.rint(radius * np.array([0.3, 0.6, 1.0]))))
        self.radii = check_positive(radii, "radii", integer=True)
        self.radius = max(self.radii)
        self.n_directions = check_count(n_directions, "n_directions", high=360)
        self.sigma = float(sigma)
        self.mode = check_mode(mode)
        self._offsets = stencil_offsets(self.radii, self.n_directions)

    @property
    def offsets(self):
        """ndarray (n, 2): the ``(dy, dx)`` offsets, in feature order."""
        return self._offsets.copy()

    @property
    def names(self):
        return offset_names("int", self._offsets)

    def _compute(self, gray, memo):
        if self.sigma > 0:
            gray = _gaussian_derivative(gray, self.sigma, memo=memo)
        return _sample_planes(gray, self._offsets, self.mode)
