"""Tests of the resumable-run helpers (benchmarks/_runs.py, _progress.py)."""
import importlib
import json

import numpy as np
import pytest

from .helpers import benchmark_module


@pytest.fixture(scope="module")
def runs_module():
    with benchmark_module("_runs") as module:
        yield module


def _key(run):
    return (run["method"], run["seed"])


def test_run_log_round_trip_with_maps(runs_module, tmp_path):
    log = runs_module.RunLog(tmp_path / "out", key_of=_key)
    assert log.read() == []
    maps = {0: np.array([[0, 1], [1, 1]], dtype=np.uint8), 3: np.zeros((2, 2), np.uint8)}
    log.append({"method": "tv", "seed": 0, "pixel_error": np.float64(0.25), "n": np.int64(4),
                "_maps": maps, "_config": {"not": "stored"}})
    log.append({"method": "tv", "seed": 1, "pixel_error": 0.5})
    log.append({"method": "tv", "seed": 1, "pixel_error": 0.125})  # a later line wins
    lines = log.path.read_text().splitlines()
    assert len(lines) == 3 and "_config" not in lines[0] and "_maps" not in lines[0]
    stored = log.latest()
    assert set(stored) == {("tv", 0), ("tv", 1)}
    assert stored[("tv", 1)]["pixel_error"] == 0.125
    first = stored[("tv", 0)]
    assert first["pixel_error"] == 0.25 and first["n"] == 4
    assert sorted(first["_maps"]) == [0, 3]
    np.testing.assert_array_equal(first["_maps"][0], maps[0])
    assert "_maps" not in stored[("tv", 1)]


def test_run_log_skips_a_line_cut_short(runs_module, tmp_path, capsys):
    log = runs_module.RunLog(tmp_path, key_of=_key)
    log.append({"method": "a", "seed": 0})
    with log.path.open("a") as fh:
        fh.write('{"method": "a", "se')
    assert log.read() == [{"method": "a", "seed": 0}]
    assert "runs.jsonl:2: not a JSON line, skipped" in capsys.readouterr().err


def test_session_wall_counts_earlier_sessions_to_their_last_run(runs_module):
    ticks = iter([100.0, 112.5])
    session = runs_module.Session(clock=lambda: next(ticks))
    run = session.stamp({"method": "a"})
    assert run["session"] == session.id and run["session_seconds"] == 12.5
    runs = [run, {"session": "s1", "session_seconds": 30.0},
            {"session": "s1", "session_seconds": 50.0}, {"session": "s2", "session_seconds": 7.0},
            {"method": "no session"}]
    assert session.earlier_wall(runs) == (57.0, 2)
    assert session.earlier_wall([run]) == (0.0, 0)


def test_run_all_skips_the_runs_on_disk(runs_module, tmp_path, capsys):
    calls = []

    def run_one(key):
        calls.append(key)
        return {"k": key[0], "v": 10 * key[0]}

    def describe(run):
        return f"k={run['k']}"

    got = runs_module.run_all(tmp_path, [(1,), (2,)], lambda r: (r["k"],), run_one, describe)
    assert [r["v"] for r in got] == [10, 20] and calls == [(1,), (2,)]
    out = capsys.readouterr().out
    assert "0 of 2 runs on disk, 2 to go" in out and "[2/2 runs, " in out and "] k=2" in out
    got = runs_module.run_all(tmp_path, [(1,), (2,), (3,)], lambda r: (r["k"],), run_one, describe)
    assert calls == [(1,), (2,), (3,)] and [r["k"] for r in got] == [1, 2, 3]
    assert "2 of 3 runs on disk, 1 to go" in capsys.readouterr().out
    assert [json.loads(line)["k"] for line in (tmp_path / "runs.jsonl").read_text().splitlines()] \
        == [1, 2, 3]


def test_progress_estimates_the_time_left(runs_module):
    progress_module = importlib.import_module("_progress")
    ticks = iter([0.0, 30.0, 45.0, 200.0])
    progress = progress_module.Progress(3, "runs", clock=lambda: next(ticks))
    assert progress.step() == "[1/3 runs, 30.0s, ~1m 00s left]"
    assert progress.step() == "[2/3 runs, 45.0s, ~22.5s left]"
    assert progress.step() == "[3/3 runs, 3m 20s]"
    assert progress_module.format_seconds(3723) == "1h 02m 03s"
