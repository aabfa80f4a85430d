"""chm: semantic segmentation from sparse labels.

Contextual hierarchical models (CHM) whose stage classifiers are trained with a
supervised loss on a few labeled pixels plus a total-variation penalty on the
predicted probability maps of *all* pixels.

Main entry points: :class:`CHM`, :func:`save` and :func:`load` (model files
of arrays and JSON, :mod:`chm.persistence`), :class:`ConvNetSegmenter`
(optional torch extra, imported lazily).
"""
__version__ = "0.1.0"

from .estimator import CHM  # noqa: E402
from .persistence import load, save  # noqa: E402


def __getattr__(name):
    if name == "ConvNetSegmenter":
        from .convnet import ConvNetSegmenter
        return ConvNetSegmenter
    raise AttributeError(f"module 'chm' has no attribute {name!r}")


__all__ = ["CHM", "ConvNetSegmenter", "load", "save", "__version__"]
