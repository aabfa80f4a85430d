"""Resumable runs of a benchmark: one JSON line per finished run in ``runs.jsonl``.

A benchmark lists its runs as keys (tuples of names and numbers); those already
in ``runs.jsonl`` are skipped, so an interrupted benchmark resumes where it
stopped and its summary is rebuilt from every run on disk.

- :class:`RunLog` reads and appends the lines of a folder (label maps kept
  for figures go to ``maps/*.npz`` beside them);
- :class:`Session` stamps the runs of one invocation, so that the wall time
  of a table built over several invocations can be added up;
- :func:`run_all` runs the missing keys one after the other (the table
  benchmarks run theirs in parallel through :func:`_trials.run_trials`).

The data sets of the scripts built on :func:`run_all` are in :mod:`_data`
(re-exported here).
"""
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from _data import WEIZMANN_TRAIN, f1_of_class, load_thin, load_weizmann  # noqa: F401
from _progress import Progress


def _json_value(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class RunLog:
    """The ``runs.jsonl`` file of a folder: one JSON line per finished run.

    Parameters
    ----------
    folder : str or Path
        Output folder (created).
    key_of : callable or None
        ``key_of(run)``: the key of a run (a tuple of JSON values), needed by
        :meth:`latest` and to store label maps.
    name : str
        File name of the log.

    Notes
    -----
    Keys of a run starting with ``_`` are not written, except ``_maps``
    (test index -> label map, for figures), saved as
    ``maps/<hash of the key>.npz`` and loaded back by :meth:`read`.  A line
    that is not valid JSON (a write cut short) is skipped with a warning.
    """

    def __init__(self, folder, key_of=None, name="runs.jsonl"):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / name
        self.key_of = key_of

    def _maps_path(self, run):
        if self.key_of is None:
            raise ValueError("RunLog needs key_of to store label maps")
        text = json.dumps(self.key_of(run), default=_json_value)
        return self.folder / "maps" / f"{hashlib.sha1(text.encode()).hexdigest()[:16]}.npz"

    def read(self):
        """Every run on disk, in the order written (with ``_maps`` where stored)."""
        if not self.path.exists():
            return []
        runs = []
        for number, line in enumerate(self.path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                runs.append(json.loads(line))
            except json.JSONDecodeError:
                print(f"{self.path}:{number}: not a JSON line, skipped", file=sys.stderr)
        if self.key_of is not None:
            for run in runs:
                maps = self._maps_path(run)
                if maps.exists():
                    with np.load(maps) as stored:
                        run["_maps"] = {int(i): stored[i] for i in stored.files}
        return runs

    def latest(self):
        """Dict key -> run of the runs on disk (the last line of a key wins)."""
        return {self.key_of(run): run for run in self.read()}

    def append(self, run):
        """Write one run (its public keys, and ``_maps`` when present)."""
        if run.get("_maps"):
            path = self._maps_path(run)
            path.parent.mkdir(exist_ok=True)
            np.savez_compressed(path, **{str(i): np.asarray(m) for i, m in run["_maps"].items()})
        line = json.dumps({k: v for k, v in run.items() if not str(k).startswith("_")},
                          default=_json_value)
        with self.path.open("a") as fh:
            fh.write(line + "\n")


class Session:
    """One invocation of a resumable benchmark.

    :meth:`stamp` marks the runs it stores with ``session`` (an id) and
    ``session_seconds`` (wall time from the session's start to the run's
    end), so that :meth:`earlier_wall` can add up the wall time of a table
    whose runs come from several sessions.

    Parameters
    ----------
    clock : callable
        Seconds (``time.perf_counter`` by default); read once at creation.
    """

    def __init__(self, clock=time.perf_counter):
        self.id = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
        self.clock = clock
        self.t0 = clock()

    def seconds(self):
        """Wall time of this session so far."""
        return self.clock() - self.t0

    def stamp(self, run):
        """Add ``session`` and ``session_seconds`` to ``run``; return it."""
        run["session"] = self.id
        run["session_seconds"] = self.seconds()
        return run

    def earlier_wall(self, runs):
        """Wall time that earlier sessions spent on ``runs``.

        Returns
        -------
        seconds : float
            For every session other than this one that stored some of
            ``runs``, the ``session_seconds`` of its last one, summed (the
            time an interrupted session spent on a trial it did not finish
            is not counted).
        n_sessions : int
            Earlier sessions counted.
        """
        earlier = {}
        for run in runs:
            sid = run.get("session")
            if sid is not None and sid != self.id:
                earlier[sid] = max(earlier.get(sid, 0.0), float(run.get("session_seconds", 0.0)))
        return sum(earlier.values()), len(earlier)


def run_all(out, keys, key_of, run_one, describe):
    """Run every key of ``keys`` not yet in ``out/runs.jsonl``; return all runs on disk.

    Parameters
    ----------
    out : str or Path
        Folder of ``runs.jsonl`` (created).
    keys : list of tuple
        The runs wanted.
    key_of : callable
        Key of a stored run (a dict), comparable with ``keys``.
    run_one : callable
        ``run_one(key) -> dict``, the run's record.
    describe : callable
        ``describe(record) -> str``, the progress line of a finished run.
    """
    log = RunLog(out)
    runs = log.read()
    done = {key_of(r) for r in runs}
    todo = [k for k in keys if k not in done]
    print(f"{len(keys) - len(todo)} of {len(keys)} runs on disk, {len(todo)} to go", flush=True)
    progress = Progress(len(todo), "runs")
    for key in todo:
        run = run_one(key)
        runs.append(run)
        log.append(run)
        print(f"{progress.step()} {describe(run)}", flush=True)
    return runs
