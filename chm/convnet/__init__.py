"""The paper's ConvNet, trained with cross-entropy plus a total-variation loss (PyTorch).

This subpackage needs the optional PyTorch dependency: ``pip install chm[convnet]``.
The rest of :mod:`chm` never imports torch.

- :class:`ConvNetSegmenter`: scikit-learn style estimator (fit, predict_proba,
  predict, score, save) training the patch network densely from sparse labels;
- :func:`load`: read a model written by :meth:`ConvNetSegmenter.save`;
- :func:`tv_loss_torch`: total variation of probability maps (eqs. 8 and 15);
- :class:`PatchNet`: the network, with its patch-wise and dense evaluations.
"""
try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "chm.convnet needs PyTorch, which is not installed; install the optional "
        "dependency with `pip install chm[convnet]`"
    ) from exc

from .estimator import ConvNetSegmenter, load, resolve_device
from .losses import SOBEL_X, SOBEL_Y, interpolated_nll, tv_loss_torch
from .network import PatchNet, extract_patches, pad_image, patch_size_for

__all__ = [
    "ConvNetSegmenter",
    "load",
    "resolve_device",
    "tv_loss_torch",
    "interpolated_nll",
    "SOBEL_X",
    "SOBEL_Y",
    "PatchNet",
    "extract_patches",
    "pad_image",
    "patch_size_for",
]
