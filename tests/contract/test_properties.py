"""Property tests: every public entry point either succeeds or refuses cleanly.

For each entry of :data:`tests.contract.entries.ENTRIES` (the segmenters'
``fit``, ``predict_proba`` and parameters, the ConvNet's when torch is
installed (skipped otherwise), MRF smoothing, the feature filters, the TV
penalty, the hierarchy plumbing and tiled prediction, the input checks, the
metrics, sparse-label sampling, ``chm.save``/``chm.load``, the image and
label files, the command line, dask prediction and the dataset loaders),
hypothesis draws inputs, valid and malformed, and the outcome must be a
finite output that passes the entry's check, or a ``ValueError``/``TypeError``
(or a refusal the entry documents) with a message.

The budget is small and fixed (``derandomize``: the same cases on every run)
so that the whole file takes about a minute; ``benchmarks/fuzz.py`` runs the
same strategies at a larger budget.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings

from .entries import ENTRIES, SKIPPED, run_case, warm_up

# warnings (overflow in a filter, a complex cast, a deprecated ConvNet parameter, a
# reader's plugin notice) are not part of the contract
pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"),
              pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

#: Examples per entry, by the entry's cost (1: a call, 2: a prediction, 10: a fit).
MAX_EXAMPLES = {1: 100, 2: 25, 10: 8}

#: Cases every run includes, whatever hypothesis draws.
EXPLICIT = {
    "persistence.load": [("pickle", "exploit"), ("bytes", b""), ("truncated", 0.5),
                         ("truncated", 0.99)],
    "CHM.predict_proba": [(1, [np.full((9, 11), np.nan, np.float32)]),
                          (1, [np.full((9, 11), 3e38, np.float32)]),
                          (3, [np.zeros((2, 2, 3), np.float32)])],
    "features.extract_features": [np.full((9, 11), 1e20, np.float32),
                                  np.zeros((1, 1), np.float32)],
    "mrf.mrf_smooth": [(np.full((4, 5, 2), 0.5, np.float32), None, 1e300, False, 1e-6)],
    "features.filter_params": [("GaussianFilter", {"sigmas": (np.inf,)})],
    "penalties": [("tv_value", np.where(np.indices((5, 5)).sum(axis=0) % 2, 3e38, -3e38)
                   .astype(np.float32))],
    "hierarchy": [("downsample", (np.full((4, 4), 3e38, np.float32),)),
                  ("pool_labels", (np.array([[0, 5], [1, -1]]), (1, 1), 2)),
                  ("resize_map", (np.zeros((3, 3, 2), np.float32), (20.5, 4))),
                  ("pyramid", (np.zeros((4, 4), np.float32), 0))],
    # tiles of 16 on images of 40 px: really tiled (the small-field CHM's halo is 26 px)
    "CHM.tiled": [("CHM_small_field", 1, [np.linspace(0, 1, 40 * 37, dtype=np.float32)
                                          .reshape(40, 37)], 16, "predict_proba"),
                  ("CHM_small_field", 3, [np.full((33, 50, 3), 0.5, np.float32)], 17, "predict"),
                  ("CHM", 1, [np.zeros((20, 20), np.float32)], 15, "predict_proba")],
    "tiling.tile_windows": [((100, 50), 64, 8, 1), ((37, 41), 16, 26, 3), ((0, 5), 4, 1, 1),
                            ((6,), 28, 12, 5), ((6, 28), 40, 3, 0), ((6, 28), 40, -3, 1)],
    "hierarchy.grid": [("grid_step", (1.5, 2)), ("grid_step", (2.0, 4)),
                       ("pad_to_step", (np.zeros((5, 7, 3), np.float32), 4)),
                       ("grid_step", (np.inf, 2)),
                       ("pad_to_step", (np.zeros((4, 4), np.float32), 0))],
    "scale_out": [("ForestSegmenter", 1, np.zeros((9, 9), np.float32), (1, 1), None, 32, None,
                   "predict_proba"),
                  ("ForestSegmenter", 1, np.zeros((9, 9), np.float32), None, None, np.inf, None,
                   "predict")],
    "files.write": [("write_labels", np.zeros((2, 2), np.int64), None, "new"),
                    ("write_labels", np.zeros((2, 2), np.int64), None, "folder")],
    "files.read": [("read_image", ("missing", ".png")), ("read_labels", ("folder", ".tif")),
                   ("read_labels", ("image", ".png", np.arange(12, dtype=np.uint8).reshape(3, 4),
                                    "array"))],
    "cli.main": [(["--version"], ""), (["train"], ""),
                 (["predict", "@forest.chm", "@img.png", "--out", "@out/pred", "--proba"], "")],
    "datasets.load_weizmann_horse": [
        ([], "missing", False, None),
        # a folder named like an image
        ([("weizmann_horse_db/gray", ("folder", "")),
          ("weizmann_horse_db/figure_ground", ("folder", "")),
          ("weizmann_horse_db/gray/horse001", ("folder", ".jpg")),
          ("weizmann_horse_db/figure_ground/horse001",
           ("image", ".jpg", np.full((4, 5), 200, np.uint8), "array"))], "", False, None)],
}


@pytest.fixture(scope="module", autouse=True)
def tiny_models():
    """The fitted tiny models (and saved model) the entries use, made once for the module."""
    warm_up()


@pytest.mark.parametrize("name", sorted(set(ENTRIES) | set(SKIPPED)))
def test_entry_succeeds_or_refuses_cleanly(name):
    if name in SKIPPED:
        pytest.skip(SKIPPED[name])
    entry = ENTRIES[name]

    # no shrinking: near a failing case (a huge allocation, say) shrinking can
    # take minutes; the case is reported as drawn
    @settings(max_examples=MAX_EXAMPLES[entry.cost], deadline=None, database=None,
              derandomize=True, phases=[Phase.explicit, Phase.generate],
              report_multiple_bugs=False,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much])
    @given(case=entry.strategy)
    def check(case):
        run_case(entry, case)

    for case in EXPLICIT.get(name, ()):
        check = example(case=case)(check)
    check()
