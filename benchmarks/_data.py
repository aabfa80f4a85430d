"""Data sets of the resumable benchmarks (capacity, penalties, labels).

The table benchmarks load their own data (``table1_weizmann.load_data``,
``table2_stanford.load_data``); these helpers serve the scripts built on
:func:`_runs.run_all`.
"""
import numpy as np

from chm.datasets import load_weizmann_horse
from chm.synthetic import make_shapes, make_thin_structures

#: Weizmann Horse protocol: gray images sorted by name, first 164 train, last 164 test.
WEIZMANN_TRAIN = 164


def load_weizmann():
    """(train images, train masks, test images, test masks) of Weizmann Horse."""
    images, masks = load_weizmann_horse()
    n = WEIZMANN_TRAIN
    return images[:n], masks[:n], images[-n:], masks[-n:]


def load_weizmann_or_synthetic(n_synthetic=None):
    """``load_weizmann()``, or with ``n_synthetic`` that many train and as many test images
    of :func:`chm.synthetic.make_shapes` (32 x 40, seed 0), for smoke tests."""
    if not n_synthetic:
        return load_weizmann()
    images, masks = make_shapes(2 * n_synthetic, (32, 40), random_state=0)
    n = n_synthetic
    return images[:n], masks[:n], images[n:], masks[n:]


def load_thin(n_images, shape=(128, 128)):
    """``n_images`` train and as many test images of the thin-structure set (seed 1000)."""
    images, masks = make_thin_structures(2 * n_images, shape, random_state=1000)
    return images[:n_images], masks[:n_images], images[n_images:], masks[n_images:]


def f1_of_class(preds, masks, cls=1):
    """F1 of class ``cls`` over all pixels of all images."""
    p = np.concatenate([np.ravel(x) for x in preds]) == cls
    t = np.concatenate([np.ravel(m) for m in masks]) == cls
    tp = np.sum(p & t)
    return float(2 * tp / max(1, p.sum() + t.sum()))
