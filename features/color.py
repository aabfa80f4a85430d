"""Colour: smoothed CIE Lab channels of an RGB image."""
import numpy as np
from scipy import ndimage as ndi
from skimage.color import rgb2lab

from .base import Filter, check_image, check_positive, fmt, planes_to_stack, to_float32, working_precision


def _check_rgb(image):
    image = check_image(image)
    if image.ndim != 3:
        raise ValueError(f"colour features need an RGB image (H, W, 3), got shape {image.shape}")
    return image


def _lab_planes(rgb, sigmas):
    """Planes in the precision of ``working_precision(rgb)`` (float64 for huge images)."""
    rgb = working_precision(rgb)
    # L in [0, 100] and a, b in about [-100, 100]: divided by 100 to sit near the other features.
    lab = np.moveaxis(rgb2lab(rgb).astype(rgb.dtype, copy=False), -1, 0) / rgb.dtype.type(100)
    return np.stack([ndi.gaussian_filter(lab[c], s, mode="reflect") for s in sigmas for c in range(3)])


def lab_stack(image, sigmas=(1, 3, 8)):
    """CIE Lab channels (each divided by 100), Gaussian-smoothed at each sigma.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3)
        RGB, values in [0, 1].
    sigmas : sequence of float

    Returns
    -------
    out : ndarray of float32, shape (H, W, 3 * len(sigmas))
        Sigma-major: ``L, a, b`` at the first sigma, then the next.

    Examples
    --------
    >>> white = np.ones((6, 7, 3))
    >>> (np.round(lab_stack(white, (1,))[3, 3], 3) + 0.0).tolist()
    [1.0, 0.0, 0.0]
    """
    return planes_to_stack(_lab_planes(_check_rgb(image), check_positive(sigmas, "sigmas")))


class LabColor(Filter):
    """Smoothed CIE Lab colour (see :func:`lab_stack`); RGB input only.

    Grayscale input raises ``ValueError``: a bank with colour features is
    meant for RGB images.

    Examples
    --------
    >>> LabColor((1, 4)).names
    ['lab_L_s1', 'lab_a_s1', 'lab_b_s1', 'lab_L_s4', 'lab_a_s4', 'lab_b_s4']
    """

    def __init__(self, sigmas=(1, 3, 8)):
        self.sigmas = check_positive(sigmas, "sigmas")

    @property
    def names(self):
        return [f"lab_{c}_s{fmt(s)}" for s in self.sigmas for c in "Lab"]

    def validate(self, image):
        return _check_rgb(image)

    def _planes(self, image, memo):
        return to_float32(_lab_planes(image, self.sigmas))
