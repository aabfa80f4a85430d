"""Fixtures of the estimator tests: a few small synthetic images with sparse labels."""
import pytest

from chm.datasets import sample_sparse_labels
from chm.synthetic import make_shapes


@pytest.fixture(scope="module")
def data():
    """Four 32 x 40 two-class images, their masks, and 40 labeled pixels per image."""
    images, masks = make_shapes(4, (32, 40), random_state=0)
    return images, masks, sample_sparse_labels(masks, 40, random_state=0)
