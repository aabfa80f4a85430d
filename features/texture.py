"""Texture: Gabor magnitudes, dense HOG-like cell histograms, Haar-like box differences."""
import numpy as np
from scipy import fft as sfft
from scipy import ndimage as ndi
from skimage.filters import gabor_kernel

from .base import ImageFilter, as_gray, check_positive, fmt, pad, peak_abs, planes_to_stack
from .scale_space import _gradient

# --- Gabor ---------------------------------------------------------------------------


def _gabor_sigma(frequency, bandwidth):
    """Envelope sigma of ``skimage.filters.gabor_kernel`` for an octave bandwidth."""
    b = 2.0 ** bandwidth
    return np.sqrt(np.log(2) / 2) / np.pi * (b + 1) / (b - 1) / frequency


def gabor_kernels(frequencies=(0.25, 0.125, 0.0625), n_orientations=6, bandwidth=1.0):
    """Complex Gabor kernels (``skimage.filters.gabor_kernel``), frequency-major.

    Orientations are ``theta = pi * k / n_orientations``; magnitudes of
    ``theta`` and ``theta + pi`` coincide, so half a turn covers all.

    Returns
    -------
    kernels : list of ndarray of complex128
        ``kernels[i * n_orientations + k]`` has frequency ``frequencies[i]``
        and orientation ``k``.

    Examples
    --------
    >>> [k.shape for k in gabor_kernels((0.25,), 2)]
    [(15, 15), (15, 15)]
    """
    return [gabor_kernel(f, theta=t, bandwidth=bandwidth) for f, t in _gabor_params(frequencies, n_orientations)]


def _gabor_params(frequencies, n_orientations):
    frequencies = check_positive(frequencies, "frequencies")
    if int(n_orientations) < 1:
        raise ValueError(f"n_orientations must be >= 1, got {n_orientations}")
    thetas = np.pi * np.arange(int(n_orientations)) / int(n_orientations)
    return [(f, t) for f in frequencies for t in thetas]


def _gabor_factors(frequency, theta, bandwidth):
    """1-D factors ``(ky, kx)`` with ``np.outer(ky, kx) == gabor_kernel(frequency, theta)``.

    The isotropic Gaussian envelope times a plane wave separates into a row
    and a column factor; the support is the one ``gabor_kernel`` uses.
    """
    sigma = _gabor_sigma(frequency, bandwidth)
    c, s = np.cos(theta), np.sin(theta)
    r = int(np.ceil(max(abs(3 * sigma * c), abs(3 * sigma * s), 1)))
    t = np.arange(-r, r + 1)
    envelope = np.exp(-0.5 * t * t / sigma**2)
    ky = envelope * np.exp(2j * np.pi * frequency * s * t)
    kx = envelope * np.exp(2j * np.pi * frequency * c * t) / (2 * np.pi * sigma**2)
    return ky, kx


def _centred_fft(kernel_1d, n):
    """FFT of a centred odd-length 1-D kernel zero-padded to ``n``, centre moved to index 0."""
    r = len(kernel_1d) // 2
    placed = np.zeros(n, np.complex128)
    placed[: len(kernel_1d)] = kernel_1d
    return sfft.fft(np.roll(placed, -r)).astype(np.complex64)


def _gabor_planes(gray, factors):
    """|image * kernel| for separable complex kernels, by FFT of the reflect-padded image.

    The transform covers the padded image, so the circular wrap only touches
    the padding and the cropped result equals the linear convolution. The
    kernel spectrum is the outer product of the two 1-D spectra.
    """
    h, w = gray.shape
    p = max(len(ky) // 2 for ky, _ in factors)
    ny, nx = sfft.next_fast_len(h + 2 * p), sfft.next_fast_len(w + 2 * p)
    image_ft = sfft.fft2(np.pad(gray, p, mode="symmetric"), s=(ny, nx))
    out = np.empty((len(factors), h, w), gray.dtype)
    for i, (ky, kx) in enumerate(factors):
        product = image_ft * _centred_fft(ky, ny)[:, None]
        product *= _centred_fft(kx, nx)[None, :]
        response = sfft.ifft2(product, overwrite_x=True)
        np.abs(response[p:p + h, p:p + w], out=out[i])
    return out


def gabor_magnitudes(image, frequencies=(0.25, 0.125, 0.0625), n_orientations=6, bandwidth=1.0):
    """Magnitudes ``sqrt(re**2 + im**2)`` of complex Gabor responses.

    Convolution (as ``scipy.signal.convolve2d``) with each kernel of
    :func:`gabor_kernels`, borders ``'reflect'``, computed by FFT.

    Returns
    -------
    out : ndarray of float32, shape (H, W, len(frequencies) * n_orientations)
        Frequency-major, then orientation.

    Examples
    --------
    >>> gabor_magnitudes(np.random.rand(30, 40), (0.25,), 4).shape
    (30, 40, 4)
    """
    factors = [_gabor_factors(f, t, bandwidth) for f, t in _gabor_params(frequencies, n_orientations)]
    return planes_to_stack(_gabor_planes(as_gray(image), factors))


class GaborFilter(ImageFilter):
    """Gabor magnitudes over scales and orientations (see :func:`gabor_magnitudes`).

    Parameters
    ----------
    frequencies : sequence of float
        Spatial frequencies in cycles per pixel; the Gaussian envelope widens
        as the frequency drops (``sigma ~ 0.56 / frequency`` for bandwidth 1).
    n_orientations : int
    bandwidth : float
        Octave bandwidth, as in ``skimage.filters.gabor_kernel``.

    Examples
    --------
    >>> f = GaborFilter((0.25, 0.125), n_orientations=6)
    >>> f.n_features, f.names[1]
    (12, 'gabor_f0.25_a30')
    """

    def __init__(self, frequencies=(0.25, 0.125, 0.0625), n_orientations=6, bandwidth=1.0):
        self.frequencies = check_positive(frequencies, "frequencies")
        self.n_orientations = int(n_orientations)
        (self.bandwidth,) = check_positive(bandwidth, "bandwidth")
        params = _gabor_params(self.frequencies, self.n_orientations)
        self._factors = [_gabor_factors(f, t, self.bandwidth) for f, t in params]

    @property
    def names(self):
        return [
            f"gabor_f{fmt(f)}_a{round(180 * k / self.n_orientations)}"
            for f in self.frequencies
            for k in range(self.n_orientations)
        ]

    def _compute(self, gray, memo):
        return _gabor_planes(gray, self._factors)


# --- HOG-like cells ------------------------------------------------------------------


def _orientation_votes(magnitude, angle, n_bins, signed):
    """Vote planes ``(n_bins, H, W)``: the magnitude split between the two nearest bins.

    Bin ``b`` is centred on ``b * period / n_bins`` with ``period = 2 pi``
    (``signed``) or ``pi``; the weights are linear in the angle, circularly.
    """
    period = 2 * np.pi if signed else np.pi
    t = np.mod(angle, period) * magnitude.dtype.type(n_bins / period)
    lower = np.floor(t)
    upper_w = (t - lower) * magnitude
    lower_w = magnitude - upper_w
    lower = lower.astype(np.intp).ravel() % n_bins  # t == n_bins after rounding -> bin 0
    upper = (lower + 1) % n_bins
    pixels = np.arange(magnitude.size)
    votes = np.zeros((n_bins, magnitude.size), magnitude.dtype)
    votes[lower, pixels] = lower_w.ravel()
    votes[upper, pixels] += upper_w.ravel()  # (bin, pixel) pairs are distinct: n_bins >= 2
    return votes.reshape((n_bins,) + magnitude.shape)


def _gradient_votes(gray, n_bins, sigma, memo=None):
    """Unsigned orientation votes of the Gaussian gradient (scale ``sigma``) of ``gray``."""
    gy, gx = _gradient(gray, sigma, memo)
    return _orientation_votes(np.sqrt(gy * gy + gx * gx), np.arctan2(gy, gx), n_bins, signed=False)


def _hog_planes(gray, n_bins, cell_radii, sigma, eps, memo=None):
    votes = _gradient_votes(gray, n_bins, sigma, memo)
    out = []
    for r in cell_radii:
        hist = ndi.uniform_filter(votes, size=(1, 2 * r + 1, 2 * r + 1), mode="reflect")
        norm = np.sqrt(np.sum(hist * hist, axis=0) + np.float32(eps * eps))
        out.append(hist / norm)
    return np.concatenate(out)


def hog_cells(image, n_bins=6, cell_radii=(4, 8), sigma=1.0, eps=0.01):
    """Dense HOG-like histograms: one orientation histogram per pixel and cell size.

    The Gaussian gradient (scale ``sigma``) votes its magnitude into
    ``n_bins`` unsigned orientation bins centred on ``b * pi / n_bins``
    (linear interpolation between the two nearest bin centres); votes are
    averaged over the ``(2r+1) x (2r+1)`` cell centred on each pixel (borders
    ``'reflect'``) and the histogram is L2-normalised, ``h / sqrt(|h|**2 + eps**2)``. ``eps``
    is a floor on the mean gradient magnitude, so flat regions keep small
    histograms instead of amplified noise.

    Returns
    -------
    out : ndarray of float32, shape (H, W, len(cell_radii) * n_bins)
        Cell size-major, then bin.

    Examples
    --------
    >>> stripes = np.tile([0.0, 0.0, 1.0, 1.0], (16, 4))  # vertical edges
    >>> int(hog_cells(stripes, n_bins=4, cell_radii=(2,))[8, 8].argmax())
    0
    """
    cell_radii = check_positive(cell_radii, "cell_radii", integer=True)
    if int(n_bins) < 2:
        raise ValueError(f"n_bins must be >= 2, got {n_bins}")
    return planes_to_stack(_hog_planes(as_gray(image), int(n_bins), cell_radii, float(sigma), float(eps)))


class HOGCells(ImageFilter):
    """Dense HOG-like cell histograms (see :func:`hog_cells`).

    Examples
    --------
    >>> HOGCells(n_bins=6, cell_radii=(4, 8)).names[:2]
    ['hog_c4_b0', 'hog_c4_b1']
    """

    def __init__(self, n_bins=6, cell_radii=(4, 8), sigma=1.0, eps=0.01):
        if int(n_bins) < 2:
            raise ValueError(f"n_bins must be >= 2, got {n_bins}")
        self.n_bins = int(n_bins)
        self.cell_radii = check_positive(cell_radii, "cell_radii", integer=True)
        (self.sigma,) = check_positive(sigma, "sigma")
        self.eps = float(eps)

    @property
    def names(self):
        return [f"hog_c{r}_b{b}" for r in self.cell_radii for b in range(self.n_bins)]

    def _compute(self, gray, memo):
        return _hog_planes(gray, self.n_bins, self.cell_radii, self.sigma, self.eps, memo)


# --- Haar-like boxes -----------------------------------------------------------------


def integral_image(image):
    """Summed-area table with a leading zero row and column, float64.

    ``S[y, x] = image[:y, :x].sum()``, so the sum over rows ``a:b`` and
    columns ``c:d`` is ``S[b, d] - S[a, d] - S[b, c] + S[a, c]``.

    Raises
    ------
    ValueError
        If ``image`` holds NaN or infinite values.

    Examples
    --------
    >>> float(integral_image(np.ones((2, 3)))[2, 3])
    6.0
    """
    image = np.asarray(image, dtype=np.float64)
    peak_abs(image)
    s = np.zeros((image.shape[0] + 1, image.shape[1] + 1))
    np.cumsum(np.cumsum(image, axis=0), axis=1, out=s[1:, 1:])
    return s


def _haar_planes(gray, radii):
    h, w = gray.shape
    big = max(radii)
    s = integral_image(pad(gray, big, "reflect"))

    def box(y0, y1, x0, x1):
        # Sum over rows y+y0..y+y1 and columns x+x0..x+x1 (inclusive) for every pixel.
        a, b, c, d = big + y0, big + y1 + 1, big + x0, big + x1 + 1
        return s[b:b + h, d:d + w] - s[a:a + h, d:d + w] - s[b:b + h, c:c + w] + s[a:a + h, c:c + w]

    out = np.empty((2 * len(radii), h, w), gray.dtype)
    for i, r in enumerate(radii):
        area = r * (2 * r + 1)
        out[2 * i] = (box(-r, r, -r, -1) - box(-r, r, 1, r)) / area
        out[2 * i + 1] = (box(-r, -1, -r, r) - box(1, r, -r, r)) / area
    return out


def haar_boxes(image, radii=(2, 4, 8)):
    """Haar-like half-box differences from an integral image.

    For each radius ``r`` the box is the ``(2r+1) x (2r+1)`` square centred on
    the pixel; the horizontal feature is mean(left ``r`` columns) minus
    mean(right ``r`` columns), the vertical one mean(top ``r`` rows) minus
    mean(bottom ``r`` rows); the centre row/column is left out. Borders
    ``'reflect'``.

    Returns
    -------
    out : ndarray of float32, shape (H, W, 2 * len(radii))
        Per radius the horizontal then the vertical difference.

    Examples
    --------
    >>> step = np.tile([0.0] * 5 + [1.0] * 5, (10, 1))  # dark left, bright right
    >>> haar_boxes(step, (2,))[5, 4].tolist()
    [-1.0, 0.0]
    """
    radii = check_positive(radii, "radii", integer=True)
    return planes_to_stack(_haar_planes(as_gray(image), radii))


class HaarBoxes(ImageFilter):
    """Haar-like left-right and top-bottom box differences (see :func:`haar_boxes`).

    Examples
    --------
    >>> HaarBoxes((2, 4)).names
    ['haar_h_r2', 'haar_v_r2', 'haar_h_r4', 'haar_v_r4']
    """

    def __init__(self, radii=(2, 4, 8)):
        self.radii = check_positive(radii, "radii", integer=True)

    @property
    def names(self):
        return [f"haar_{k}_r{r}" for r in self.radii for k in ("h", "v")]

    def _compute(self, gray, memo):
        return _haar_planes(gray, self.radii)
