"""chm: semantic segmentation from sparse labels.

Contextual hierarchical models (CHM) whose stage classifiers are trained with a
supervised loss on a few labeled pixels plus a total-variation penalty on the
predicted probability maps of *all* pixels.
"""
__version__ = "0.1.0"
