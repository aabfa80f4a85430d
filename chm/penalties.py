"""Unsupervised spatial penalties on predicted probability maps.

The semi-supervised loss of Javanmardi et al. (2016) is

    E = E_S + alpha * E_U,

where E_S is a supervised loss on the few labeled pixels and E_U is an
unsupervised penalty on the predicted probability map ``f`` of *all* pixels.
The general form of the penalty (eqs. 2-6) is

    E_U = sum_k Theta(fbar(x_k)),

where ``fbar(x_k)`` collects the horizontal and vertical Sobel responses of
the map around pixel ``k``.  The paper's choice is the total variation
(eq. 8, Theta = |.| summed over both directions) with the subgradient of
eq. 15.  This module provides

- fast numba kernels :func:`tv_value`, :func:`tv_subgradient` and
  :func:`tv_value_and_subgradient`, and plain numpy references
  :func:`tv_value_reference`, :func:`tv_subgradient_reference` built on
  :func:`sobel_responses` and its adjoint :func:`sobel_adjoint`;
- a small :class:`Penalty` interface with :class:`TotalVariation` and
  :class:`QuadraticVariation` (Theta = square, a smooth member of the same
  family), so that trainers take any spatial penalty without change;
- image-guided penalties, each with the guide it computes from the image
  (:meth:`Penalty.guide`): :class:`EdgeAwareTV` (Sobel terms weighted by
  ``exp(-|grad I|^2 / (2 beta))``), :class:`CurvilinearTV` (total variation
  along the tangent of thin structures, from the image's Hessian) and
  :class:`DenseBilateral` (the relaxed DenseCRF loss ``sum_k S_k^T W (1 -
  S_k)`` with a Gaussian kernel over position and intensity);
- :func:`get_penalty` to resolve a penalty from a name;
- :func:`benchmark_tv` comparing the numba kernels with the references.

The numba kernels live in :mod:`chm._tv_kernels`; the Sobel masks, the
input checks and the numpy references live in :mod:`chm._tv_reference`
and are re-exported here, which stays their public home.

Conventions shared by every function here:

- Sobel responses are *correlations* with a row-major neighbourhood,
  ``gx(i, j) = sum_{a,b} SOBEL_X[a, b] * f[i - 1 + a, j - 1 + b]`` and
  likewise ``gy`` with ``SOBEL_Y``;
- only pixels whose whole 3x3 neighbourhood lies inside the map contribute
  ("valid" boundary); maps smaller than 3x3 have penalty 0 and zero gradient;
- a map of shape (H, W, C) is penalised channel by channel and the channel
  penalties are summed;
- ``sign(0) = 0``, so a constant map has penalty 0 and subgradient exactly 0.
"""
from abc import ABC, abstractmethod
import time

import numpy as np

from ._tv_kernels import (
    _tv_fused_hwc,
    _tv_fused_kernel,
    _tv_value_hwc,
    _tv_value_kernel,
)
from ._tv_reference import (
    SOBEL_X,
    SOBEL_Y,
    _check_map,
    sobel_adjoint,
    sobel_responses,
    tv_subgradient_reference,
    tv_value_reference,
)

__all__ = [
    "SOBEL_X",
    "SOBEL_Y",
    "tv_value",
    "tv_subgradient",
    "tv_value_and_subgradient",
    "tv_value_reference",
    "tv_subgradient_reference",
    "sobel_responses",
    "sobel_adjoint",
    "Penalty",
    "GuidedPenalty",
    "TotalVariation",
    "QuadraticVariation",
    "EdgeAwareTV",
    "CurvilinearTV",
    "DenseBilateral",
    "get_penalty",
    "PENALTY_NAMES",
    "benchmark_tv",
]


# ---------------------------------------------------------------------------
# public TV functions (numba kernels in chm._tv_kernels, numpy references and
# the Sobel masks in chm._tv_reference)
# ---------------------------------------------------------------------------
def tv_value(prob):
    """Total variation of a probability map (paper eq. 8), numba kernel.

    ``E_U = sum_k |gx(k)| + |gy(k)|`` over the pixels ``k`` whose whole 3x3
    neighbourhood lies inside the map, where ``gx``, ``gy`` are the
    correlations of the map with :data:`SOBEL_X` and :data:`SOBEL_Y`.

    Parameters
    ----------
    prob : array_like of shape (H, W) or (H, W, C)
        Probability map; for 3-D input the channel penalties are summed.

    Returns
    -------
    value : float
        The penalty; 0 for maps smaller than 3x3.

    Raises
    ------
    TypeError
        If ``prob`` is not numeric.
    ValueError
        If ``prob`` is not 2-D or 3-D or holds NaN or inf.
    """
    f = _check_map(prob)
    if f.ndim == 2:
        return float(_tv_value_kernel(f[None]))
    return float(_tv_value_hwc(f))


def tv_value_and_subgradient(prob):
    """Total variation (eq. 8) and its subgradient (eq. 15) in one pass.

    Parameters
    ----------
    prob : array_like of shape (H, W) or (H, W, C)
        Probability map.

    Returns
    -------
    value : float
        Same as :func:`tv_value`.
    grad : ndarray, float32, same shape as ``prob``
        Same as :func:`tv_subgradient`.

    Raises
    ------
    TypeError
        If ``prob`` is not numeric.
    ValueError
        If ``prob`` is not 2-D or 3-D or holds NaN or inf.
    """
    f = _check_map(prob)
    grad = np.empty_like(f)
    if f.ndim == 2:
        value = _tv_fused_kernel(f[None], grad[None])
    else:
        value = _tv_fused_hwc(f, grad)
    return float(value), grad


def tv_subgradient(prob):
    """Subgradient of the total variation w.r.t. the map (paper eq. 15).

    Every valid pixel ``k = (i, j)`` contributes to the nine pixels of its
    neighbourhood::

        d E_U / d f[p, q] = sum_k sign(gx(k)) * SOBEL_X[p - i + 1, q - j + 1]
                                + sign(gy(k)) * SOBEL_Y[p - i + 1, q - j + 1]

    with ``sign(0) = 0``.

    Parameters
    ----------
    prob : array_like of shape (H, W) or (H, W, C)
        Probability map.

    Returns
    -------
    grad : ndarray, float32, same shape as ``prob``
        The subgradient; all zero for maps smaller than 3x3.

    Raises
    ------
    TypeError
        If ``prob`` is not numeric.
    ValueError
        If ``prob`` is not 2-D or 3-D or holds NaN or inf.
    """
    return tv_value_and_subgradient(prob)[1]
# ---------------------------------------------------------------------------
# penalty objects
# ---------------------------------------------------------------------------
class Penalty(ABC):
    """Unsupervised spatial penalty ``E_U`` on a probability map.

    Subclasses implement the general form ``E_U = sum_k Theta(fbar(x_k))``
    (paper eqs. 2-6) through :meth:`value` and :meth:`gradient`.  Trainers
    only use this interface, so a new penalty plugs in without touching them.

    A penalty that depends on the image (edge weights, orientations, colours)
    computes a *guide* from it once per image with :meth:`guide`: an array of
    shape (H, W, G) aligned pixel for pixel with the probability map.  The
    trainers crop the guide with the same window as the map and pass it back
    as ``guide``.  Penalties that need no guide return ``None`` from
    :meth:`guide` and ignore the argument.

    Attributes
    ----------
    guided : bool
        Whether the penalty uses a guide; trainers skip computing guides of
        penalties with ``guided = False``.
    """

    guided = False

    def guide(self, image):
        """Per-pixel guide of the penalty computed from an image.

        Parameters
        ----------
        image : ndarray of shape (H, W) or (H, W, 3), float32
            The image at the resolution of the probability map, values in [0, 1].

        Returns
        -------
        guide : ndarray of shape (H, W, G), float32, or None
            ``None`` (the default) for penalties that need no guide.
        """
        return None

    @abstractmethod
    def value(self, prob, guide=None):
        """Penalty of a map.

        Parameters
        ----------
        prob : array_like of shape (H, W) or (H, W, C)
            Probability map.
        guide : ndarray of shape (H, W, G) or None
            What :meth:`guide` returned for the map's image (same window).

        Returns
        -------
        value : float
        """

    @abstractmethod
    def gradient(self, prob, guide=None):
        """(Sub)gradient of the penalty with respect to the map.

        Parameters
        ----------
        prob : array_like of shape (H, W) or (H, W, C)
            Probability map.
        guide : ndarray of shape (H, W, G) or None
            What :meth:`guide` returned for the map's image (same window).

        Returns
        -------
        grad : ndarray, float32, same shape as ``prob``
        """

    def value_and_gradient(self, prob, guide=None):
        """Penalty and its (sub)gradient; subclasses may fuse the two.

        Parameters
        ----------
        prob : array_like of shape (H, W) or (H, W, C)
            Probability map.
        guide : ndarray of shape (H, W, G) or None
            What :meth:`guide` returned for the map's image (same window).

        Returns
        -------
        value : float
        grad : ndarray, float32, same shape as ``prob``
        """
        if guide is None:  # also serves subclasses written as value(prob), gradient(prob)
            return self.value(prob), self.gradient(prob)
        return self.value(prob, guide), self.gradient(prob, guide)

    def __repr__(self):
        return f"{type(self).__name__}()"


class GuidedPenalty(Penalty):
    """A penalty computed from its guide, value and gradient in one pass.

    Subclasses implement :meth:`guide` and :meth:`value_and_gradient`;
    :meth:`value` and :meth:`gradient` are its two outputs, and ``repr``
    shows the constructor arguments (stored as attributes of the same name).
    """

    guided = True
    _repr_params = ()

    def value(self, prob, guide=None):
        """The penalty: the first output of :meth:`value_and_gradient`."""
        return self.value_and_gradient(prob, guide)[0]

    def gradient(self, prob, guide=None):
        """The (sub)gradient: the second output of :meth:`value_and_gradient`."""
        return self.value_and_gradient(prob, guide)[1]

    @abstractmethod
    def value_and_gradient(self, prob, guide=None):
        """Penalty and (sub)gradient of ``prob`` given ``guide`` (see :class:`Penalty`)."""

    def __repr__(self):
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._repr_params)
        return f"{type(self).__name__}({args})"


class TotalVariation(Penalty):
    """Total-variation penalty of the paper (eq. 8, subgradient eq. 15).

    ``E_U = sum_k |gx(k)| + |gy(k)|`` with Sobel responses ``gx``, ``gy``;
    evaluated by the numba kernels of this module.
    """

    def value(self, prob, guide=None):
        """Total variation of ``prob``; see :func:`tv_value`."""
        return tv_value(prob)

    def gradient(self, prob, guide=None):
        """Subgradient of the total variation; see :func:`tv_subgradient`."""
        return tv_subgradient(prob)

    def value_and_gradient(self, prob, guide=None):
        """Value and subgradient in one pass; see :func:`tv_value_and_subgradient`."""
        return tv_value_and_subgradient(prob)


class QuadraticVariation(Penalty):
    """Smooth penalty ``E_U = sum_k gx(k)**2 + gy(k)**2`` (Theta = square).

    A member of the general family of eqs. 2-6 with a quadratic ``Theta``:
    it penalises large jumps more and small ones less than the total
    variation, and it is differentiable everywhere.  The gradient is
    ``sobel_adjoint(2 gx, 2 gy)``.
    """

    def value(self, prob, guide=None):
        """Sum of squared Sobel responses over the valid pixels."""
        gx, gy = sobel_responses(prob)
        return float(np.square(gx).sum(dtype=np.float64) + np.square(gy).sum(dtype=np.float64))

    def gradient(self, prob, guide=None):
        """Gradient ``sum_k 2 gx(k) SOBEL_X[..] + 2 gy(k) SOBEL_Y[..]``."""
        gx, gy = sobel_responses(prob)
        return sobel_adjoint(2 * gx, 2 * gy, np.shape(prob))

    def value_and_gradient(self, prob, guide=None):
        """Value and gradient sharing one evaluation of the Sobel responses."""
        gx, gy = sobel_responses(prob)
        value = float(np.square(gx).sum(dtype=np.float64) + np.square(gy).sum(dtype=np.float64))
        return value, sobel_adjoint(2 * gx, 2 * gy, np.shape(prob))


# Guided penalties live in their own modules, which import Penalty from here.
from ._edge_penalties import CurvilinearTV, EdgeAwareTV  # noqa: E402
from ._dense_penalty import DenseBilateral  # noqa: E402

_PENALTIES = {
    "tv": TotalVariation,
    "total_variation": TotalVariation,
    "quadratic": QuadraticVariation,
    "quadratic_variation": QuadraticVariation,
    "edge_tv": EdgeAwareTV,
    "curvilinear": CurvilinearTV,
    "curvilinear_tv": CurvilinearTV,
    "bilateral": DenseBilateral,
}


PENALTY_NAMES = tuple(sorted(_PENALTIES))


def get_penalty(penalty):
    """Resolve a penalty from a name, an instance or None.

    Parameters
    ----------
    penalty : str, Penalty or None
        A name of :data:`PENALTY_NAMES`: ``"tv"`` (alias
        ``"total_variation"``) gives :class:`TotalVariation`, ``"quadratic"``
        (alias ``"quadratic_variation"``) :class:`QuadraticVariation`,
        ``"edge_tv"`` :class:`EdgeAwareTV`, ``"curvilinear"`` (alias
        ``"curvilinear_tv"``) :class:`CurvilinearTV` and ``"bilateral"``
        :class:`DenseBilateral`, each with its default settings; names are
        case-insensitive.  A
        :class:`Penalty` instance is returned as is.  ``None`` means no
        unsupervised term and is returned as ``None``.

    Returns
    -------
    penalty : Penalty or None

    Raises
    ------
    ValueError
        For an unknown name.
    TypeError
        For anything else.
    """
    if penalty is None or isinstance(penalty, Penalty):
        return penalty
    if isinstance(penalty, str):
        key = penalty.strip().lower()
        if key not in _PENALTIES:
            raise ValueError(
                f"unknown penalty {penalty!r}; expected one of {sorted(_PENALTIES)}, "
                "a Penalty instance or None"
            )
        return _PENALTIES[key]()
    raise TypeError(
        f"penalty must be a name, a Penalty instance or None, got {type(penalty).__name__}"
    )


# ---------------------------------------------------------------------------
# benchmark
# ---------------------------------------------------------------------------
def benchmark_tv(shape=(212, 265), repeats=20, random_state=0):
    """Time the numba kernels against the numpy references.

    Each repeat evaluates the value and the subgradient of one random map
    (two calls each side: :func:`tv_value` + :func:`tv_subgradient` against
    :func:`tv_value_reference` + :func:`tv_subgradient_reference`).  The
    kernels are compiled (or loaded from cache) before timing.

    Parameters
    ----------
    shape : tuple, default=(212, 265)
        Map shape, (H, W) or (H, W, C).
    repeats : int, default=20
        Number of timed repeats; medians are reported.
    random_state : int, default=0
        Seed of the random map.

    Returns
    -------
    result : dict
        ``shape``, ``repeats``, ``numba_s`` and ``numpy_s`` (median seconds
        for value + subgradient), ``fused_s`` (median seconds of
        :func:`tv_value_and_subgradient`) and ``speedup``
        (``numpy_s / numba_s``).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    rng = np.random.default_rng(random_state)
    prob = rng.random(shape, dtype=np.float32)
    # warm-up: compile or load the cached kernels
    tv_value(prob)
    tv_value_and_subgradient(prob)

    def median_time(fn):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return float(np.median(times))

    numba_s = median_time(lambda: (tv_value(prob), tv_subgradient(prob)))
    numpy_s = median_time(lambda: (tv_value_reference(prob), tv_subgradient_reference(prob)))
    fused_s = median_time(lambda: tv_value_and_subgradient(prob))
    return {
        "shape": tuple(shape),
        "repeats": int(repeats),
        "numba_s": numba_s,
        "numpy_s": numpy_s,
        "fused_s": fused_s,
        "speedup": numpy_s / numba_s if numba_s > 0 else float("inf"),
    }
