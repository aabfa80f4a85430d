"""Filters learned without labels: k-means centroids of whitened image patches.

After Coates, Lee & Ng (2011), "An analysis of single-layer networks in
unsupervised feature learning", and Coates & Ng (2011), "The importance of
encoding versus training with sparse coding and vector quantization".

Training (:meth:`LearnedFilters.fit`), on the luminance of unlabeled images:

1. sample ``n_patches`` square patches of side ``p`` (``patch_size``) at
   random positions where the patch lies inside an image;
2. normalise the contrast of each patch, a vector ``x`` of ``d = p * p``
   pixels: ``x_n = (x - mean(x)) / sqrt(var(x) + eps_c)``, ``var`` the
   population variance of the ``d`` pixels and ``eps_c`` =
   :data:`CONTRAST_EPS` = ``10 / 255**2``, the regulariser ``10`` of
   Coates et al. for pixels on the 0-255 scale, written for images in
   [0, 1];
3. ZCA-whiten: ``y = W (x_n - mean_)`` with ``W = V (S + eps_w)**-1/2 V^T``
   from the eigendecomposition ``V S V^T`` of the covariance of the
   normalised patches (``eps_w`` = ``whiten_eps``);
4. spherical k-means (:func:`spherical_kmeans`): ``n_filters`` unit-norm
   centroids ``c_k``.

Encoding, at every pixel, of the patch centred on it (borders ``'reflect'``),
normalised and whitened as above:

- ``'triangle'``: ``f_k = max(0, mean_j(z_j) - z_k)`` with
  ``z_k = ||y - c_k||``, the distances to the centroids;
- ``'soft_threshold'``: ``f_k = max(0, c_k . y - alpha)``.

Dense computation. ``c_k . y = (w_k . x_n) - w_k . mean_`` with
``w_k = W^T c_k``: whitening and centroid fold into one bank of ``p x p``
correlation filters (:attr:`LearnedFilters.filters_`), and since
``w_k . x_n = w_k . (x - mean(x)) / sqrt(var(x) + eps_c)`` the bank acts on
the mean-free patches, followed by a per-pixel scale. The triangle encoding also
needs ``||y||**2 = ||x_n - mean_||**2_{W^T W}``, a quadratic form of the patch
of full rank: it costs ``d`` more filters (the rows of ``W``), while without
whitening ``||x_n||**2 = d var(x) / (var(x) + eps_c)`` is free. The
``n_filters`` (+ ``d``) correlations are one matrix product of the patch
matrix of the image with the stacked filters, which on 7 x 7 patches is
several times faster than FFT or direct correlation.
"""
import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.exceptions import NotFittedError

from ._gaussian import gaussian_kernel, gaussian_planes, gaussian_rows_channels_last
from ._layout import planes_to_channels_last
from ._learned_kernels import triangle_codes, triangle_codes_reference
from .base import (MAX_SCALE, ImageFilter, _luminance, check_count, check_image, pad, to_float32,
                   working_precision)

__all__ = ["LearnedFilters", "CONTRAST_EPS", "normalize_patches", "zca_whitening", "spherical_kmeans",
           "sample_patches"]

#: Contrast regulariser of the patch normalisation, for images in [0, 1]
#: (``10`` on the 0-255 scale of Coates et al.).
CONTRAST_EPS = 10.0 / 255.0 ** 2

#: Encodings of :class:`LearnedFilters`.
ENCODINGS = ("triangle", "soft_threshold")

#: Largest patch side: the whitening matrix is ``(p*p, p*p)``.
MAX_PATCH_SIZE = 31

#: Patch values per block of the dense encoding (bounds its memory).
_BLOCK_VALUES = 2 ** 21
#: Codes encoded at once by :meth:`LearnedFilters._fill`: a strip of rows of about this many
#: values (64 MB in float32), at least four pooling radii high.
_STRIP_VALUES = 2 ** 24


def normalize_patches(patches, eps=CONTRAST_EPS):
    """Contrast-normalise patches: ``(x - mean(x)) / sqrt(var(x) + eps)`` per row.

    Parameters
    ----------
    patches : ndarray, shape (n, d)
        One flattened patch per row.
    eps : float
        Regulariser of the (population) variance.

    Returns
    -------
    ndarray, shape (n, d)

    Examples
    --------
    >>> normalize_patches(np.array([[0.0, 2.0]]), eps=0.0).tolist()
    [[-1.0, 1.0]]
    """
    centred = patches - patches.mean(axis=1, keepdims=True)
    var = np.einsum("ij,ij->i", centred, centred) / patches.shape[1]
    return centred / np.sqrt(var + eps)[:, None]


def zca_whitening(patches, eps):
    """Mean and ZCA whitening matrix of a sample of patches.

    Parameters
    ----------
    patches : ndarray, shape (n, d)
    eps : float
        Added to the covariance eigenvalues, so directions of (near) zero
        variance are not blown up.

    Returns
    -------
    mean : ndarray, shape (d,)
    whitening : ndarray, shape (d, d)
        Symmetric ``V (S + eps)**-1/2 V^T``, ``V S V^T`` the covariance of
        ``patches``; ``(patches - mean) @ whitening.T`` are the whitened patches.

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal((5000, 2)) * [1.0, 3.0]
    >>> mean, w = zca_whitening(x, eps=0.0)
    >>> (np.round(np.cov((x - mean) @ w, rowvar=False, bias=True), 6) + 0.0).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    mean = patches.mean(axis=0)
    centred = patches - mean
    cov = centred.T @ centred / len(patches)
    s, v = np.linalg.eigh(cov)
    return mean, (v / np.sqrt(np.maximum(s, 0.0) + eps)) @ v.T


def spherical_kmeans(X, n_clusters, n_iter, rng):
    """Spherical k-means: unit-norm centroids maximising the summed projections.

    Each sample goes to the centroid with the largest dot product
    ``c_k . x`` (the largest cosine); each centroid becomes the normalised sum
    of its samples, so high-contrast samples weigh more. A centroid left
    without samples keeps its place. Stops after ``n_iter`` updates or when
    no sample changes centroid. (Coates & Ng assign by the largest
    ``|c_k . x|``; the signed rule keeps patches of opposite polarity in
    different centroids, as the distance-based triangle encoding needs.)

    Parameters
    ----------
    X : ndarray, shape (n, d)
    n_clusters : int
    n_iter : int
        Largest number of centroid updates.
    rng : numpy.random.Generator
        Draws the initial centroids: ``n_clusters`` distinct non-zero
        samples (random directions where there are too few of them).

    Returns
    -------
    centroids : ndarray, shape (n_clusters, d)
        Unit rows.
    n_iter : int
        Updates done.

    Examples
    --------
    >>> X = np.repeat(np.eye(3), 10, axis=0) * np.arange(1, 31)[:, None]
    >>> c, _ = spherical_kmeans(X, 3, 10, np.random.default_rng(0))
    >>> sorted(np.round(c, 6).tolist())
    [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    """
    norms = np.linalg.norm(X, axis=1)
    candidates = np.flatnonzero(norms > 0)
    if len(candidates) >= n_clusters:
        start = rng.choice(candidates, n_clusters, replace=False)
        centroids = X[start] / norms[start, None]
    else:
        centroids = rng.standard_normal((n_clusters, X.shape[1]))
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    labels = None
    done = 0
    for _ in range(n_iter):
        new = np.argmax(X @ centroids.T, axis=1)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        members = np.zeros((len(X), n_clusters))
        members[np.arange(len(X)), labels] = 1
        sums = members.T @ X
        length = np.linalg.norm(sums, axis=1)
        kept = length > 0
        centroids[kept] = sums[kept] / length[kept, None]
        done += 1
    return centroids, done


def sample_patches(grays, patch_size, n_patches, rng):
    """Random square patches, uniform over the positions inside the images.

    Parameters
    ----------
    grays : list of ndarray (H, W)
    patch_size : int
    n_patches : int
    rng : numpy.random.Generator

    Returns
    -------
    patches : ndarray, shape (n_patches, patch_size**2)
        Flattened row by row, grouped by image.

    Raises
    ------
    ValueError
        If every image is smaller than ``patch_size`` in some direction.
    """
    p = patch_size
    counts = np.array([max(g.shape[0] - p + 1, 0) * max(g.shape[1] - p + 1, 0) for g in grays])
    total = int(counts.sum())
    if total == 0:
        raise ValueError(f"every image is smaller than patch_size={p} in height or width")
    ends = np.cumsum(counts)
    index = np.sort(rng.integers(total, size=n_patches))
    which = np.searchsorted(ends, index, side="right")
    out = np.empty((n_patches, p * p), np.result_type(*grays))
    for i in np.unique(which):
        chosen = which == i
        local = index[chosen] - (ends[i] - counts[i])
        width = grays[i].shape[1] - p + 1
        windows = sliding_window_view(grays[i], (p, p))
        out[chosen] = windows[local // width, local % width].reshape(-1, p * p)
    return out


def _triangle(sq_norm, dots, centroid_sq):
    """``max(0, mean(z) - z)`` from ``z_k**2 = ||y||**2 - 2 c_k . y + ||c_k||**2``; dots (k, n)."""
    z = np.sqrt(np.maximum(sq_norm - 2 * dots + centroid_sq[:, None], 0))
    return np.maximum(z.mean(axis=0) - z, 0)


def _check_real(value, name, low=0.0, positive=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not np.isfinite(value) or value < low or (positive and value <= 0) or value > MAX_SCALE:
        bound = "> 0" if positive else f">= {low:g}"
        raise ValueError(f"{name} must be a finite number {bound} and <= {MAX_SCALE}, got {value!r}")
    return float(value)


class LearnedFilters(ImageFilter):
    """Dense encoding by filters learned with k-means on whitened patches.

    See :mod:`features.learned` for the training and the encoding. Works on
    the luminance: gray and RGB images give the same features.

    Parameters
    ----------
    n_filters : int, default=32
        Number of centroids, i.e. of output features.
    patch_size : int, default=7
        Odd patch side, 3 to :data:`MAX_PATCH_SIZE`.
    n_patches : int, default=20000
        Patches sampled by :meth:`fit`; at least ``n_filters``.
    whiten : bool, default=True
        ZCA-whiten the normalised patches; without it ``mean_`` is 0 and
        ``whitening_`` the identity.
    whiten_eps : float, default=0.1
        Added to the covariance eigenvalues of the normalised patches (whose
        pixels have variance near 1).
    encoding : {'triangle', 'soft_threshold'}, default='triangle'
    alpha : float, default=0.5
        Threshold of the ``'soft_threshold'`` encoding.
    n_iter : int, default=30
        Largest number of k-means updates.
    pool_sigma : float, default=2.0
        Gaussian pooling of the encoded maps (scale in pixels, borders
        ``'reflect'``); 0 for none.
    random_state : int or None, default=None
        Seed of the patch sampling and of the k-means start.

    Attributes
    ----------
    mean_ : ndarray of float32, shape (patch_size**2,)
        Mean normalised patch (subtracted before whitening).
    whitening_ : ndarray of float32, shape (patch_size**2, patch_size**2)
        ZCA matrix ``W``.
    centroids_ : ndarray of float32, shape (n_filters, patch_size**2)
        Unit-norm centroids in the whitened space.
    filters_ : ndarray of float32, shape (n_filters, patch_size, patch_size)
        ``W^T c_k``: ``c_k . y`` is the correlation of ``filters_[k]`` with
        the normalised patch, minus ``filters_[k] . mean_``.
    n_iter_ : int
        k-means updates done.

    Examples
    --------
    >>> stripes = np.tile(np.repeat([0.0, 1.0], 3), (30, 5))
    >>> f = LearnedFilters(n_filters=4, n_patches=500, random_state=0).fit([stripes])
    >>> f.names
    ['learned_0', 'learned_1', 'learned_2', 'learned_3']
    >>> f.filters_.shape, f(stripes).shape
    ((4, 7, 7), (30, 30, 4))
    """

    needs_fit = True

    def __init__(self, n_filters=32, patch_size=7, n_patches=20000, whiten=True, whiten_eps=0.1,
                 encoding="triangle", alpha=0.5, n_iter=30, pool_sigma=2.0, random_state=None):
        self.n_filters = check_count(n_filters, "n_filters")
        self.patch_size = check_count(patch_size, "patch_size", high=MAX_PATCH_SIZE)
        if self.patch_size < 3 or self.patch_size % 2 == 0:
            raise ValueError(f"patch_size must be odd and >= 3 (a patch centred on each pixel), "
                             f"got {patch_size!r}")
        self.n_patches = check_count(n_patches, "n_patches")
        if self.n_patches < self.n_filters:
            raise ValueError(f"n_patches ({n_patches}) must be at least n_filters ({n_filters})")
        if not isinstance(whiten, (bool, np.bool_)):
            raise ValueError(f"whiten must be True or False, got {whiten!r}")
        self.whiten = bool(whiten)
        self.whiten_eps = _check_real(whiten_eps, "whiten_eps", positive=True)
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {list(ENCODINGS)}, got {encoding!r}")
        self.encoding = encoding
        self.alpha = _check_real(alpha, "alpha")
        self.n_iter = check_count(n_iter, "n_iter")
        self.pool_sigma = _check_real(pool_sigma, "pool_sigma")
        if random_state is not None and (isinstance(random_state, (bool, np.bool_))
                                         or not isinstance(random_state, numbers.Integral)
                                         or random_state < 0):
            raise ValueError(f"random_state must be None or an integer >= 0, got {random_state!r}")
        self.random_state = None if random_state is None else int(random_state)

    @property
    def names(self):
        return [f"learned_{k}" for k in range(self.n_filters)]

    def fit(self, images, y=None):
        """Learn the filters from patches of unlabeled images.

        Parameters
        ----------
        images : list of array_like, each (H, W) or (H, W, 3)
            RGB images are reduced to luminance. At least one must be as
            large as ``patch_size`` in both directions.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        if isinstance(images, np.ndarray) or not hasattr(images, "__iter__"):
            raise ValueError("images must be a list of (H, W) or (H, W, 3) images; "
                             "wrap a single image as [image]")
        grays = [_luminance(working_precision(check_image(image))).astype(np.float64) for image in images]
        if not grays:
            raise ValueError("fit needs at least one image")
        rng = np.random.default_rng(self.random_state)
        p, d = self.patch_size, self.patch_size ** 2
        patches = normalize_patches(sample_patches(grays, p, self.n_patches, rng))
        if self.whiten:
            mean, whitening = zca_whitening(patches, self.whiten_eps)
        else:
            mean, whitening = np.zeros(d), np.eye(d)
        centroids, self.n_iter_ = spherical_kmeans((patches - mean) @ whitening.T, self.n_filters,
                                                   self.n_iter, rng)
        self.mean_ = mean.astype(np.float32)
        self.whitening_ = whitening.astype(np.float32)
        self.centroids_ = centroids.astype(np.float32)
        self.filters_ = (centroids @ whitening).reshape(self.n_filters, p, p).astype(np.float32)
        return self

    def _check_fitted(self):
        if not hasattr(self, "filters_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(images) "
                                 "before computing features")

    def validate(self, image):
        self._check_fitted()
        return super().validate(image)

    def _encoder(self, gray):
        """``encode(top, bottom)``: the unpooled codes ``(k, bottom - top, W)`` of those rows."""
        self._check_fitted()
        dtype = gray.dtype
        p, d, k = self.patch_size, self.patch_size ** 2, self.n_filters
        w = gray.shape[1]
        bank = self.filters_.reshape(k, d).astype(dtype)  # (k, d): c_k . y = bank x_n - bank mean_
        mean = self.mean_.astype(dtype)
        full_norm = self.encoding == "triangle" and self.whiten
        if full_norm:
            bank = np.concatenate([bank, self.whitening_.astype(dtype)])  # last d rows: y itself
        shift = (bank @ mean)[:, None]
        if self.encoding == "triangle":
            centroid_sq = np.einsum("ij,ij->i", self.centroids_, self.centroids_).astype(dtype)
        windows = sliding_window_view(pad(gray, p // 2, "reflect"), (p, p))
        rows = max(1, _BLOCK_VALUES // (w * d))

        def encode(first, last):
            out = np.empty((k, last - first, w), dtype)
            for top in range(first, last, rows):
                patches = windows[top:min(top + rows, last)].reshape(-1, d)
                patches = patches - patches.mean(axis=1, keepdims=True)
                var = np.einsum("ij,ij->i", patches, patches) / dtype.type(d)
                scale = 1 / np.sqrt(var + dtype.type(CONTRAST_EPS))
                raw = bank @ patches.T  # (rows of bank, n)
                if full_norm:
                    codes = (triangle_codes if dtype == np.float32 else triangle_codes_reference)(
                        raw, scale, shift[:, 0], centroid_sq, k)
                elif self.encoding == "soft_threshold":
                    codes = np.maximum(raw * scale - shift - dtype.type(self.alpha), 0)
                else:  # mean_ = 0 and W = I: ||y||**2 = ||x_n||**2
                    codes = _triangle(d * var * scale * scale, raw * scale - shift, centroid_sq)
                out[:, top - first:top - first + len(patches) // w] = codes.reshape(k, -1, w)
            return out

        return encode

    def _compute(self, gray, memo):
        codes = self._encoder(gray)(0, gray.shape[0])
        return gaussian_planes(codes, self.pool_sigma)

    def _fill(self, image, memo, out):
        """The pooled codes, written into ``out`` (H, W, k) strip by strip.

        Each strip of rows (about :data:`_STRIP_VALUES` codes) is encoded with the pooling's
        radius of rows around it, so that the result equals the whole
        image's while the codes held at once are a strip's.
        """
        gray = self._gray(image, memo)
        encode, h = self._encoder(gray), gray.shape[0]
        radius = len(gaussian_kernel(self.pool_sigma)) // 2 if self.pool_sigma > 0 else 0
        strip = max(4 * radius, 1, _STRIP_VALUES // (gray.shape[1] * self.n_filters))
        for top in range(0, h, strip):
            bottom = min(h, top + strip)
            first, last = max(0, top - radius), min(h, bottom + radius)
            codes = encode(first, last)
            if codes.dtype == np.float32:
                gaussian_rows_channels_last(codes, self.pool_sigma, top - first, out[top:bottom])
            else:
                pooled = gaussian_planes(codes, self.pool_sigma)
                planes_to_channels_last(to_float32(pooled[:, top - first:bottom - first]), out[top:bottom])
