"""Dense bilateral penalty: the relaxed DenseCRF loss of Tang et al. (2018).

Tang, Perazzi, Djelouah, Ben Ayed, Schroers and Boykov, "On Regularized
Losses for Weakly-supervised CNN Segmentation" (ECCV 2018) regularise the
predicted probabilities ``S_k`` (one channel per class, each flattened to
the ``N`` pixels of the map) with the relaxation of the dense CRF's Potts
energy,

    (1)  E_U = sum_k S_k^T W (1 - S_k),

where ``W`` is the Gaussian affinity over position and intensity or colour,

    (2)  W_ij = exp(-|p_i - p_j|^2 / (2 sigma_xy^2) - |I_i - I_j|^2 / (2 sigma_rgb^2)).

``S_k^T W (1 - S_k)`` is the expected affinity between the pixels labelled
``k`` and those not labelled ``k``: it is small when the map changes only
between pixels that are far apart or differ in colour.  ``W`` is symmetric,
so

    (3)  dE_U / dS_k = W (1 - 2 S_k).

``W`` is applied by the bilateral grid of :mod:`chm._bilateral` as the
symmetric operator ``W~ ~ W``; value and gradient are computed with the same
``W~``, so the gradient is exact for the value.  With ``normalize=True``
both are divided by the mean row sum ``mean(W~ 1)`` of the map's pixels, a
constant of the image window that does not depend on the map.
"""
import numbers

import numpy as np

from features.base import check_image

from ._bilateral import bilateral_filter
from ._tv_reference import _check_map
from .penalties import GuidedPenalty

__all__ = ["DenseBilateral"]


def _check_positive(value, name):
    """``value`` as a positive finite float."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not np.isfinite(value) or value <= 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


class DenseBilateral(GuidedPenalty):
    """Relaxed dense-CRF (bilateral Potts) penalty of Tang et al. (2018).

    ``E_U = sum_k S_k^T W (1 - S_k)`` (eq. 1) over the channels ``S_k`` of
    the map, with the Gaussian affinity ``W`` over the pixel positions ``p``
    and the intensities or colours ``I`` (eq. 2), and its gradient
    ``W (1 - 2 S_k)`` (eq. 3).  A map of shape (H, W) is the positive class
    of a two-class problem and gives one channel.  ``W`` is applied by a
    bilateral grid (:func:`chm._bilateral.bilateral_filter`), a symmetric
    approximation ``W~`` within a few percent (gray) to about ten percent
    (RGB) of the exact Gaussian; value and gradient both use ``W~``, so the
    gradient is the exact gradient of the value.

    Parameters
    ----------
    sigma_xy : float, default=50.0
        Spatial bandwidth in pixels of the probability map.  Tang et al. use
        100 px on half-resolution outputs of PASCAL images (maps about
        250 px wide); maps at half resolution of 200x250 px images are about
        half that width, hence 50 px.  On 64x64 training crops this couples
        every pair of pixels of a crop, weighted mostly by colour.
    sigma_rgb : float, default=15/255
        Intensity or colour bandwidth on the [0, 1] scale (Tang et al.: 15 on
        the 0..255 scale).
    normalize : bool, default=True
        Divide ``E_U`` and its gradient by ``mean(W~ 1)``, the mean row sum of
        ``W~`` over the map's pixels (the mean affinity mass of a pixel).  It
        depends on the image window, not on the map, and makes the penalty per
        pixel of the order of the fraction of its affinity that crosses a
        label change: comparable with the total variation, and not growing
        with ``sigma_xy``.

    Notes
    -----
    The guide is the image divided by ``sigma_rgb``, of shape (H, W, 1)
    (gray) or (H, W, 3) (RGB); it holds no positions, so the guide of a crop
    is the crop of the guide.  The positions are those of the map's own pixel
    grid divided by ``sigma_xy``, built in every call.

    Examples
    --------
    >>> image = np.zeros((16, 16), np.float32)
    >>> image[:, 8:] = 1.0
    >>> penalty = DenseBilateral(sigma_xy=8.0)
    >>> guide = penalty.guide(image)
    >>> on_edge = image.copy()                      # the map changes with the image
    >>> off_edge = np.roll(on_edge, -4, axis=1)     # the map changes 4 px away from it
    >>> bool(penalty.value(on_edge, guide) < 0.1 * penalty.value(off_edge, guide))
    True
    """

    _repr_params = ("sigma_xy", "sigma_rgb", "normalize")

    def __init__(self, sigma_xy=50.0, sigma_rgb=15 / 255, normalize=True):
        self.sigma_xy = _check_positive(sigma_xy, "sigma_xy")
        self.sigma_rgb = _check_positive(sigma_rgb, "sigma_rgb")
        if not isinstance(normalize, (bool, np.bool_)):
            raise ValueError(f"normalize must be True or False, got {normalize!r}")
        self.normalize = bool(normalize)

    def guide(self, image):
        """Intensity or colour of ``image`` divided by ``sigma_rgb``.

        Parameters
        ----------
        image : array_like of shape (H, W), (H, W, 1) or (H, W, 3)
            The image at the resolution of the probability map, values in [0, 1].

        Returns
        -------
        guide : ndarray of shape (H, W, 1) or (H, W, 3), float32
        """
        img = check_image(image)
        if img.ndim == 2:
            img = img[..., None]
        return np.ascontiguousarray(img / np.float32(self.sigma_rgb), dtype=np.float32)

    def _inputs(self, prob, guide):
        """Checked map (H, W[, C]) and pixel features (H*W, 2 + G), float32."""
        f = _check_map(prob)
        if guide is None:
            raise ValueError(
                "DenseBilateral needs a guide: pass guide=penalty.guide(image), computed "
                "from the map's image at the map's resolution"
            )
        g = np.asarray(guide)
        if g.ndim != 3 or g.shape[2] not in (1, 3):
            raise ValueError(
                f"DenseBilateral guide must have shape (H, W, 1) or (H, W, 3), got shape {g.shape}"
            )
        if g.shape[:2] != f.shape[:2]:
            raise ValueError(
                f"DenseBilateral guide of shape {g.shape} does not match the probability map "
                f"of shape {f.shape}: their (H, W) must be equal"
            )
        if g.dtype.kind not in "biuf" or not np.isfinite(g).all():
            raise ValueError("DenseBilateral guide must be numeric and finite")
        H, W = f.shape[:2]
        G = g.shape[2]
        feats = np.empty((H, W, 2 + G), np.float32)
        inv = np.float32(1.0 / self.sigma_xy)
        feats[..., 0] = (np.arange(H, dtype=np.float32) * inv)[:, None]
        feats[..., 1] = (np.arange(W, dtype=np.float32) * inv)[None, :]
        feats[..., 2:] = g
        return f, feats.reshape(H * W, 2 + G)

    def value_and_gradient(self, prob, guide=None):
        """Penalty (eq. 1) and its gradient (eq. 3) from one application of ``W~``.

        ``W~`` is applied once to the block ``[S_1 .. S_C, 1]``; then
        ``E_U = sum_k S_k^T (W~ 1 - W~ S_k)`` and
        ``dE_U / dS_k = W~ 1 - 2 W~ S_k``, both divided by ``mean(W~ 1)``
        when ``normalize`` is set.

        Parameters
        ----------
        prob : array_like of shape (H, W) or (H, W, C)
            Probability map.
        guide : ndarray of shape (H, W, 1) or (H, W, 3)
            ``self.guide(image)`` for the map's image, same window.

        Returns
        -------
        value : float
        grad : ndarray, float32, same shape as ``prob``

        Raises
        ------
        ValueError
            If the guide is missing or does not match the map, or the map is
            invalid (see ``chm.penalties``).
        """
        f, feats = self._inputs(prob, guide)
        N = feats.shape[0]
        if N == 0:
            return 0.0, np.zeros_like(f)
        S = f.reshape(N, -1)
        C = S.shape[1]
        block = np.empty((N, C + 1), np.float32)
        block[:, :C] = S
        block[:, C] = 1.0
        out = bilateral_filter(feats, block)
        WS = out[:, :C]
        W1 = out[:, C:]
        value = float(np.einsum("nc,nc->", S.astype(np.float64), (W1 - WS).astype(np.float64)))
        grad = W1 - 2.0 * WS
        if self.normalize:
            mass = float(W1.mean(dtype=np.float64))
            value /= mass
            grad *= np.float32(1.0 / mass)
        return value, grad.reshape(f.shape)



