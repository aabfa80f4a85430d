"""Per-pixel feature extraction: images -> float32 feature stacks (H, W, F).

Filters (:class:`Filter`) map a 2-D grayscale ``(H, W)`` or RGB ``(H, W, 3)``
float image (values roughly in [0, 1]) to a float32 stack ``(H, W, F)``;
:class:`FilterBank` concatenates filters. :func:`default_bank` is a rich
pixel description in the spirit of the contextual hierarchical model (CHM)
papers; :class:`ContextFilter` samples the probability maps of earlier
levels; :class:`FeatureNormalizer` standardises features for a classifier.

Every function and filter rejects NaN or infinite pixels with a
``ValueError`` and returns finite features for any finite image; integer
images are divided by their dtype's maximum, boolean ones become 0 / 1
(see :mod:`features.base`).

Colour rule of :func:`default_bank`: every texture and scale-space filter
runs on the luminance (``skimage.color.rgb2gray`` weights), so gray and RGB
images get the same features; ``color=True`` adds smoothed CIE Lab channels,
which need RGB input.

Examples
--------
>>> import numpy as np
>>> image = np.random.default_rng(0).random((40, 50), dtype=np.float32)
>>> stack = extract_features(image)
>>> stack.shape == (40, 50, default_bank().n_features), stack.dtype
(True, dtype('float32'))
"""
from functools import lru_cache

from .base import Filter, FilterBank, ImageFilter, check_image, luminance
from .color import LabColor, lab_stack
from .context import ContextFilter
from .chm_bank import (CrossStencil, DenseSIFT, EdgeWindow, GaborQuadrature, HaarRectangles,
                       HOGBlocks, chm_bank)
from .intensity import IntensityStencil, sample_stencil, stencil_offsets
from .learned import LearnedFilters
from .normalize import FeatureNormalizer
from .scale_space import (
    DoGFilter,
    GaussianFilter,
    GradientMagnitude,
    HessianEigenvalues,
    LoGFilter,
    StructureTensorEigenvalues,
    dog_stack,
    gaussian_stack,
    gradient_magnitude,
    hessian_eigenvalues,
    log_stack,
    structure_tensor_eigenvalues,
)
from .texture import (
    GaborFilter,
    HaarBoxes,
    HOGCells,
    gabor_kernels,
    gabor_magnitudes,
    haar_boxes,
    hog_cells,
    integral_image,
)

__all__ = [
    "Filter", "FilterBank", "ImageFilter", "check_image", "luminance",
    "IntensityStencil", "stencil_offsets", "sample_stencil",
    "GaussianFilter", "DoGFilter", "LoGFilter", "GradientMagnitude", "HessianEigenvalues",
    "StructureTensorEigenvalues", "gaussian_stack", "dog_stack", "log_stack", "gradient_magnitude",
    "hessian_eigenvalues", "structure_tensor_eigenvalues",
    "GaborFilter", "HOGCells", "HaarBoxes", "gabor_kernels", "gabor_magnitudes", "hog_cells",
    "haar_boxes", "integral_image",
    "LabColor", "lab_stack",
    "ContextFilter", "FeatureNormalizer", "LearnedFilters",
    "HaarRectangles", "HOGBlocks", "EdgeWindow", "GaborQuadrature", "DenseSIFT", "CrossStencil",
    "chm_bank",
    "default_bank", "extract_features",
]


def default_bank(color=False, n_learned=0, random_state=None):
    """The default pixel description: intensity, scale space and texture.

    =======================================  ==========================  ========
    filter                                   settings                    features
    =======================================  ==========================  ========
    :class:`IntensityStencil`                radii 3, 6, 10; 8 rays       25
    :class:`GaussianFilter`                  sigma 1, 2, 4, 8             4
    :class:`DoGFilter`                       sigma 1, 2, 4, 8             3
    :class:`LoGFilter`                       sigma 1, 2, 4, 8             4
    :class:`GradientMagnitude`               sigma 1, 2, 4                3
    :class:`HessianEigenvalues`              sigma 1, 2, 4                6
    :class:`StructureTensorEigenvalues`      sigma 1; rho 2, 4            4
    :class:`GaborFilter`                     f 1/4, 1/8, 1/16; 6 angles   18
    :class:`HOGCells`                        6 bins; cell radius 4, 8     12
    :class:`HaarBoxes`                       radius 2, 4, 8               6
    :class:`LabColor` (``color=True``)       sigma 1, 3, 8                9
    =======================================  ==========================  ========

    85 features for gray images, 94 with colour, plus ``n_learned``.

    Parameters
    ----------
    color : bool
        Add smoothed CIE Lab channels; the bank then needs RGB input. Without
        them RGB images are described by their luminance only.
    n_learned : int >= 0, default 0
        Add :class:`LearnedFilters` with this many filters (learned from the
        images the bank is fitted on; the bank then ``needs_fit``).
    random_state : int or None
        Seed of the learned filters.

    Returns
    -------
    FilterBank

    Examples
    --------
    >>> default_bank().n_features, default_bank(color=True).n_features
    (85, 94)
    """
    filters = [
        IntensityStencil(radius=10),
        GaussianFilter((1, 2, 4, 8)),
        DoGFilter((1, 2, 4, 8)),
        LoGFilter((1, 2, 4, 8)),
        GradientMagnitude((1, 2, 4)),
        HessianEigenvalues((1, 2, 4)),
        StructureTensorEigenvalues(sigma=1, rhos=(2, 4)),
        GaborFilter((0.25, 0.125, 0.0625), n_orientations=6),
        HOGCells(n_bins=6, cell_radii=(4, 8)),
        HaarBoxes((2, 4, 8)),
    ]
    if color:
        filters.append(LabColor((1, 3, 8)))
    if n_learned:
        filters.append(LearnedFilters(n_filters=n_learned, random_state=random_state))
    return FilterBank(filters)


@lru_cache(maxsize=2)
def _shared_default_bank(color):
    return default_bank(color)


def extract_features(image, bank=None):
    """Feature stack of one image.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, 3)
    bank : Filter, optional
        Default: ``default_bank(color=True)`` for RGB images and
        ``default_bank()`` for grayscale ones (one shared instance each).

    Returns
    -------
    stack : ndarray of float32, shape (H, W, bank.n_features)
        Finite for any finite image (huge values are filtered in float64,
        see :mod:`features.base`).

    Raises
    ------
    ValueError
        If the image has a wrong shape or holds NaN or infinite pixels.
    """
    if bank is None:
        bank = _shared_default_bank(check_image(image).ndim == 3)
    return bank(image)
