"""Filter interface: an image goes in, a float32 feature stack (H, W, F) comes out.

Images are 2-D ``(H, W)`` grayscale or ``(H, W, 3)`` RGB arrays with values
roughly in [0, 1]. Every filter has a fixed number of output features
(``n_features``) and one short name per feature (``names``), set when the
filter is built, so a classifier sees the same columns for every image.

How a filter treats colour is part of its class:

- :class:`ImageFilter` subclasses describe luminance structure. RGB input is
  reduced to luminance (``skimage.color.rgb2gray`` weights) first, so gray
  and RGB images give the same number of features.
- Colour filters (e.g. :class:`features.color.LabColor`) need RGB input and
  raise ``ValueError`` on grayscale images.
- :class:`features.context.ContextFilter` takes probability maps with a
  channel count fixed at construction.

Internally filters produce feature-major planes ``(F, H, W)``, which
:class:`FilterBank` writes block by block into the result, and the filters of one call share
intermediate results (luminance, Gaussian derivatives) through a memo dict;
``__call__`` returns the pixel-major ``(H, W, F)`` stack.

Numerical range. Every public function and filter rejects NaN or infinite
pixels with a ``ValueError`` and gives finite features for any finite
image. Images whose largest ``|value|`` is at most :data:`FLOAT32_SAFE_ABS`
(``2**24``, which covers [0, 1] images and raw 8-, 16- and 24-bit values)
are filtered in float32, where no feature can overflow. Larger images are
filtered in float64 (:func:`working_precision`), so squared terms such as
the structure tensor's cannot overflow, and the features are then rounded
to float32 with values beyond the float32 range clipped to
``+-float32 max`` (:func:`to_float32`). A huge image thus gets the features
of the same image scaled down, scaled back up, up to float32 rounding, as
long as they fit in float32.
"""
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor

import numbers

import numpy as np

from ._layout import planes_to_channels_last

#: Luminance weights of ``skimage.color.rgb2gray`` (ITU-R BT.709).
LUMA_WEIGHTS = np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)

#: Border modes accepted by the filters, mapped to ``np.pad`` names.
#: ``'reflect'`` is half-sample symmetric (``d c b a | a b c d``), the same
#: as the ``scipy.ndimage`` mode of that name; ``'edge'`` replicates the
#: border pixel.
PAD_MODES = {"reflect": "symmetric", "edge": "edge"}

#: Largest float32 value: features beyond it are clipped to it (:func:`to_float32`).
FLOAT32_MAX = float(np.finfo(np.float32).max)

#: Images with a larger ``|value|`` are filtered in float64 (:func:`working_precision`).
#: Below it every feature stays far inside the float32 range (the largest
#: intermediate, a squared structure-tensor entry, is below ``2**100``).
FLOAT32_SAFE_ABS = 2.0 ** 24


def peak_abs(array, what="image"):
    """Largest ``|value|`` of a numeric array (0 for an empty one).

    Parameters
    ----------
    array : ndarray
    what : str
        Name of the array in the error message.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If the array holds NaN or infinite values.

    Examples
    --------
    >>> peak_abs(np.array([[0.5, -2.0]]))
    2.0
    """
    if array.size == 0:
        return 0.0
    high, low = float(array.max()), float(array.min())
    if not (np.isfinite(high) and np.isfinite(low)):
        raise ValueError(f"{what} contains NaN or infinite values")
    return max(high, -low, 0.0)


def working_precision(image):
    """The array the filters compute on: float32 ``image`` itself, or a float64 copy.

    Parameters
    ----------
    image : ndarray of float32
        A validated image (see :func:`check_image`).

    Returns
    -------
    ndarray
        ``image`` when its largest ``|value|`` is at most
        :data:`FLOAT32_SAFE_ABS`; a float64 copy otherwise.
    """
    if peak_abs(image) <= FLOAT32_SAFE_ABS:
        return image
    return image.astype(np.float64)


def to_float32(array):
    """Round to float32, clipping values beyond the float32 range to ``+-float32 max``.

    float32 input is returned as is.

    Examples
    --------
    >>> to_float32(np.array([1.5, 1e300, -1e300])).tolist() == [1.5, FLOAT32_MAX, -FLOAT32_MAX]
    True
    """
    if array.dtype == np.float32:
        return array
    return np.clip(array, -FLOAT32_MAX, FLOAT32_MAX).astype(np.float32)


def as_float32(array):
    """Convert to a float32 ndarray; integer images are divided by their dtype's maximum.

    Parameters
    ----------
    array : array_like

    Returns
    -------
    out : ndarray of float32
        ``array`` itself when it already is a float32 ndarray.
    """
    array = np.asarray(array)
    if array.dtype.kind in "ui":
        return (array.astype(np.float32) / np.float32(np.iinfo(array.dtype).max)).astype(np.float32)
    if array.dtype.kind not in "fb":
        raise ValueError(f"expected a numeric image, got dtype {array.dtype}")
    if array.dtype.kind == "f" and array.dtype.itemsize > 4 and array.size:
        with np.errstate(invalid="ignore"):
            peak = max(float(array.max()), -float(array.min()))
        if np.isfinite(peak) and peak > FLOAT32_MAX:
            raise ValueError(
                f"image values reach {peak:.3g}, beyond the float32 range (+-{FLOAT32_MAX:.4g}); "
                "scale the image down first"
            )
    return array.astype(np.float32, copy=False)


def check_image(image):
    """Validate a grayscale or RGB image and return it as float32.

    Parameters
    ----------
    image : array_like, shape (H, W), (H, W, 1) or (H, W, 3)
        ``(H, W, 1)`` is squeezed to ``(H, W)``. Integer images are divided
        by their dtype's maximum, boolean ones become 0 / 1.

    Returns
    -------
    image : ndarray of float32, shape (H, W) or (H, W, 3)

    Raises
    ------
    ValueError
        On any other shape, an empty image, or NaN or infinite pixels.

    Examples
    --------
    >>> check_image(np.zeros((4, 5))).dtype
    dtype('float32')
    """
    image = as_float32(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(
            "expected a 2-D grayscale image (H, W) or an RGB image (H, W, 3), "
            f"got an array of shape {image.shape}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"empty image of shape {image.shape}")
    peak_abs(image)
    return image


def _luminance(image):
    """Luminance of a validated image, in its own precision; 2-D input is returned as is."""
    if image.ndim == 2:
        return image
    return image @ LUMA_WEIGHTS.astype(image.dtype)


def luminance(image):
    """Luminance of an RGB image (``rgb2gray`` weights), float32.

    The image is validated by :func:`check_image`; a float32 2-D image is
    returned as is.

    Examples
    --------
    >>> round(float(luminance(np.ones((2, 2, 3), np.float32))[0, 0]), 4)
    1.0
    """
    image = check_image(image)
    if image.ndim == 2:
        return image
    return to_float32(_luminance(working_precision(image)))


def as_gray(image):
    """Validate a grayscale or RGB image and return its luminance (H, W) in working precision.

    float32, or float64 for a huge image (see :func:`working_precision`).
    """
    return _luminance(working_precision(check_image(image)))


def check_mode(mode):
    """Validate a border mode name (a key of :data:`PAD_MODES`) and return it."""
    if mode not in PAD_MODES:
        raise ValueError(f"mode must be one of {sorted(PAD_MODES)}, got {mode!r}")
    return mode


def pad(image, width, mode="reflect"):
    """Pad the first two axes of ``image`` by ``width`` pixels on every side.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
    width : int
    mode : {'reflect', 'edge'}
        See :data:`PAD_MODES`.
    """
    check_mode(mode)
    widths = [(width, width)] * 2 + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, widths, mode=PAD_MODES[mode])


def planes_to_stack(planes):
    """Feature-major ``(F, H, W)`` planes -> C-contiguous float32 ``(H, W, F)``.

    float64 planes are rounded by :func:`to_float32` (clipped to the float32 range).
    """
    return np.ascontiguousarray(np.moveaxis(to_float32(planes), 0, -1))


MAX_SCALE = 4096
"""Largest filter scale (sigma, radius, ...) in pixels: beyond it a kernel is a memory hazard."""


def check_positive(values, name, integer=False):
    """Validate a non-empty sequence of positive numbers up to :data:`MAX_SCALE`; return a tuple."""
    try:
        values = tuple(np.atleast_1d(np.asarray(values, dtype=np.float64)).tolist())
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a non-empty sequence of positive numbers, "
                         f"got {values!r}") from None
    if not values or any(not (0 < v <= MAX_SCALE) for v in values):
        raise ValueError(f"{name} must be a non-empty sequence of positive numbers up to "
                         f"{MAX_SCALE} (pixels), got {values}")
    if integer:
        if any(int(v) != v for v in values):
            raise ValueError(f"{name} must be integers, got {values}")
        values = tuple(int(v) for v in values)
    return values


def check_count(value, name, high=None):
    """``int(value)`` for an integer (not a bool) in ``[1, high]``, else a ValueError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or value < 1 or (high is not None and value > high):
        bound = f" and <= {high}" if high is not None else ""
        raise ValueError(f"{name} must be an integer >= 1{bound}, got {value!r}")
    return int(value)


def fmt(value):
    """Short text for a number inside a feature name (``2.0 -> '2'``)."""
    return f"{value:g}"


class Filter(ABC):
    """Abstract per-pixel filter: ``filter(image) -> (H, W, n_features)`` float32.

    Subclasses implement :attr:`names` and :meth:`_planes`; they may override
    :meth:`validate` to accept other inputs. A filter learned from images
    (such as :class:`features.LearnedFilters`) sets :attr:`needs_fit` and
    implements :meth:`fit`; :class:`chm.CHM` fits a copy of its bank on the
    training images (at the working resolution) before computing features.
    """

    #: bool: whether :meth:`fit` learns something from images.
    needs_fit = False

    def fit(self, images):
        """Learn from a list of images (validated like :meth:`validate`); return ``self``.

        Filters without learned state (``needs_fit`` false) learn nothing.
        """
        return self

    @property
    @abstractmethod
    def names(self):
        """list of str: one short name per output feature, in output order."""

    @property
    def n_features(self):
        """int: number of output features F."""
        return len(self.names)

    def validate(self, image):
        """Check ``image`` and return the float32 array the filter works on."""
        return check_image(image)

    @abstractmethod
    def _planes(self, image, memo):
        """Feature planes ``(F, H, W)`` float32 of an already validated input.

        ``memo`` is a dict shared by all filters of one call (one image), for
        intermediate results several filters need (the luminance, Gaussian
        derivatives); keys are tuples naming the result. Values in it must
        not be modified.
        """

    def _checked_planes(self, image, memo):
        planes = self._planes(image, memo)
        expected = (self.n_features,) + image.shape[:2]
        if planes.shape != expected or planes.dtype != np.float32:
            raise RuntimeError(
                f"{type(self).__name__} produced {planes.dtype} {planes.shape}, expected float32 {expected}"
            )
        return planes

    def planes(self, image):
        """Validate ``image`` and return feature-major planes ``(F, H, W)``."""
        image = self.validate(image)
        return self._checked_planes(image, {})

    def _fill(self, image, memo, out):
        """Write the features of a validated input into ``out`` (H, W, F)."""
        planes_to_channels_last(self._checked_planes(image, memo), out)

    def __call__(self, image):
        """Feature stack of ``image``: C-contiguous float32 array ``(H, W, n_features)``."""
        image = self.validate(image)
        out = np.empty(image.shape[:2] + (self.n_features,), np.float32)
        self._fill(image, {}, out)
        return out

    def fill(self, image, out):
        """Write the feature stack of ``image`` into ``out``, a float32 ``(H, W, n_features)``
        array or view (e.g. a block of columns of a larger stack); return ``out``.

        Raises
        ------
        ValueError
            If ``out`` is not float32 of that shape.
        """
        image = self.validate(image)
        expected = image.shape[:2] + (self.n_features,)
        if not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.shape != expected:
            raise ValueError(f"out must be a float32 array of shape {expected}, got "
                             f"{getattr(out, 'dtype', type(out).__name__)} {np.shape(out)}")
        self._fill(image, {}, out)
        return out

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


class ImageFilter(Filter):
    """Filter of the luminance: RGB input is reduced to luminance first.

    Subclasses implement :meth:`_compute` on a 2-D float32 image.
    """

    @staticmethod
    def _gray(image, memo):
        """The luminance of a validated input in its working precision, memoised."""
        gray = memo.get(("gray",))
        if gray is None:
            gray = memo[("gray",)] = _luminance(working_precision(image))
        return gray

    def _planes(self, image, memo):
        return to_float32(self._compute(self._gray(image, memo), memo))

    @abstractmethod
    def _compute(self, gray, memo):
        """Feature planes ``(F, H, W)`` of a 2-D image, in the image's precision.

        ``gray`` is float32, or float64 for a huge image (see
        :func:`working_precision`); the planes are rounded to float32
        afterwards. ``memo``: see :meth:`Filter._planes`.
        """


class FilterBank(Filter):
    """Several filters side by side: their outputs concatenated along the last axis.

    A bank is itself a :class:`Filter`, so banks nest. An input must be
    valid for every member (e.g. a bank holding a colour filter needs RGB).

    Parameters
    ----------
    filters : iterable of Filter

    Examples
    --------
    >>> from features.scale_space import GaussianFilter, GradientMagnitude
    >>> bank = FilterBank([GaussianFilter((1, 2)), GradientMagnitude((1,))])
    >>> bank.names
    ['gauss_s1', 'gauss_s2', 'gmag_s1']
    >>> bank(np.zeros((8, 6))).shape
    (8, 6, 3)
    """

    def __init__(self, filters):
        self.filters = list(filters)
        for f in self.filters:
            if not isinstance(f, Filter):
                raise TypeError(f"FilterBank members must be Filter instances, got {type(f).__name__}")

    @property
    def names(self):
        return [name for f in self.filters for name in f.names]

    @property
    def needs_fit(self):
        return any(f.needs_fit for f in self.filters)

    def fit(self, images):
        """Fit every member that learns from images (in place); return ``self``."""
        for f in self.filters:
            if f.needs_fit:
                f.fit(images)
        return self

    def validate(self, image):
        for f in self.filters:
            image = f.validate(image)
        return image if self.filters else check_image(image)

    def _planes(self, image, memo):
        out = np.empty((self.n_features,) + image.shape[:2], np.float32)
        start = 0
        for f in self.filters:
            out[start:start + f.n_features] = f._checked_planes(image, memo)
            start += f.n_features
        return out

    def _fill(self, image, memo, out):
        # Each member writes its block of columns straight into the (H, W, F) result.
        start = 0
        for f in self.filters:
            f._fill(image, memo, out[..., start:start + f.n_features])
            start += f.n_features

    def __call__(self, image, n_jobs=1):
        """Feature stack of ``image``: C-contiguous float32 ``(H, W, n_features)``.

        With ``n_jobs`` > 1 the members are computed in up to ``n_jobs``
        threads (groups of about equal feature counts, each with its own
        memo of intermediate results), for one large image; the values do
        not depend on ``n_jobs``.
        """
        if n_jobs is None or n_jobs <= 1 or len(self.filters) < 2:
            return super().__call__(image)
        image = self.validate(image)
        out = np.empty(image.shape[:2] + (self.n_features,), np.float32)
        starts = np.r_[0, np.cumsum([f.n_features for f in self.filters])]
        groups = [[] for _ in range(min(int(n_jobs), len(self.filters)))]
        loads = [0] * len(groups)
        for i in sorted(range(len(self.filters)), key=lambda i: -self.filters[i].n_features):
            g = loads.index(min(loads))  # largest members first, each to the lightest group
            groups[g].append(i)
            loads[g] += self.filters[i].n_features

        def run(group):
            memo = {}
            for i in sorted(group):
                self.filters[i]._fill(image, memo, out[..., starts[i]:starts[i + 1]])

        with ThreadPoolExecutor(len(groups)) as pool:
            list(pool.map(run, groups))
        return out

    def __iter__(self):
        return iter(self.filters)

    def __len__(self):
        return len(self.filters)

    def __repr__(self):
        inner = ",\n".join("    " + repr(f).replace("\n", "\n    ") for f in self.filters)
        return f"FilterBank([\n{inner}\n])" if self.filters else "FilterBank([])"
