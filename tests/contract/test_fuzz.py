"""The fuzz campaign's watchdog and bookkeeping (benchmarks/fuzz.py)."""
import json

import pytest

from ..benchmarks.helpers import benchmark_module


@pytest.fixture(scope="module")
def fuzz():
    with benchmark_module("fuzz") as module:
        yield module


def test_worker_reports_hangs_and_crashes_and_recovers(fuzz):
    worker = fuzz.Worker(registry="tests.contract._probes", startup_timeout=60)
    try:
        assert worker.run("answer", "answer", timeout=30)[0] == "ok"
        kind, message, _ = worker.run("hang", "hang", timeout=0.5)
        assert kind == "hang" and "0.5s" in message
        assert worker.run("answer", "answer", timeout=30)[0] == "ok"
        kind, message, _ = worker.run("crash", "crash", timeout=30)
        assert kind == "crash" and "exit code 3" in message
        assert worker.run("answer", "answer", timeout=30)[0] == "ok"
    finally:
        worker.close()
    assert not worker.process.is_alive()


def test_plan_spreads_the_budget_by_cost(fuzz):
    class E:
        def __init__(self, cost):
            self.cost = cost

    budget = fuzz.plan({"call": E(1), "predict": E(4), "fit": E(100)}, 1000)
    assert budget["call"] > budget["predict"] > budget["fit"] >= 1
    assert sum(budget.values()) == pytest.approx(1000, abs=2)


def test_results_count_kinds_and_keep_distinct_failures(fuzz, tmp_path):
    out = tmp_path / "fuzz.json"
    results = fuzz.Results(out, {"seed": 0})
    results.start("entry", planned=4)
    for kind, message in [("ok", ""), ("rejected", "ValueError: x"), ("error", "IndexError: y"),
                          ("error", "IndexError: y"), ("nonfinite", "output holds 1 NaN")]:
        results.add("entry", kind, message, 0.1, case=(1, 2))
    results.write(finished=True)
    saved = json.loads(out.read_text())
    row = saved["entries"]["entry"]
    counts = [row[k] for k in ("cases", "ok", "rejected", "error", "nonfinite")]
    assert counts == [5, 1, 1, 2, 1]
    assert [f["message"] for f in row["failures"]] == ["IndexError: y", "output holds 1 NaN"]
    assert saved["finished"] is not None and results.failed() == 3
    assert "IndexError: y" in results.table()
