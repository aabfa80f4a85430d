"""The cells of benchmarks/penalties.py build the models they name."""
import argparse

import pytest

from .helpers import benchmark_module


@pytest.fixture(scope="module")
def penalties():
    with benchmark_module("penalties") as module:
        yield module


def _args(module):
    return argparse.Namespace(n_jobs=1, mrf_cv_images=5, stanford_chm=module.STANFORD_CHM,
                              stanford_convnet=module.STANFORD_CONVNET)


def test_thin_cells_run_at_their_resolution(penalties):
    args = _args(penalties)
    full = penalties.make_method("curvilinear", "thinfull", "chm", 3, args)
    half = penalties.make_method("curvilinear", "thin", "chm", 3, args)
    assert (full.downscale, half.downscale) == (1.0, 2.0)
    assert full.penalty == "curvilinear" and full.tv_weight == penalties.FIXED_WEIGHT
    supervised = penalties.make_method("supervised", "thinfull", "chm", 3, args)
    assert (supervised.downscale, supervised.tv_weight, supervised.random_state) == (1.0, 0.0, 3)
    assert penalties.make_method("tv", "stanford", "chm", 0, args).downscale == 4


def test_thin_full_resolution_data_is_the_thin_set(penalties):
    args = argparse.Namespace(thin_images=2)
    full = penalties.load_cell_data("thinfull", args)
    half = penalties.load_cell_data("thin", args)
    assert len(full[0]) == 2 and all((a == b).all() for a, b in zip(full[0], half[0]))
