"""Property tests: every public entry point either succeeds or refuses cleanly.

For each entry of :data:`tests.contract.entries.ENTRIES` (the segmenters'
``fit``, ``predict_proba`` and parameters, MRF smoothing, the feature
filters, the TV penalty, the hierarchy plumbing, the input checks, the
metrics, sparse-label sampling and ``chm.load``), hypothesis draws inputs,
valid and malformed, and the outcome must be a finite output that passes the
entry's check, or a ``ValueError``/``TypeError`` with a message.

The budget is small and fixed (``derandomize``: the same cases on every run)
so that the whole file takes about a minute; ``benchmarks/fuzz.py`` runs the
same strategies at a larger budget.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings

from .entries import ENTRIES, run_case, warm_up

# warnings (overflow in a filter, a complex cast) are not part of the contract
pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"),
              pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")]

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
}


@pytest.fixture(scope="module", autouse=True)
def tiny_models():
    """The fitted tiny models (and saved model) the entries use, made once for the module."""
    warm_up()


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_entry_succeeds_or_refuses_cleanly(name):
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
