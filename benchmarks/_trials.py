"""Trials of the table benchmarks: running them in parallel, sharing fits, their results.

A benchmark is a list of *trials*: each trial is a dict of parameters (method,
labeled pixels per image, seed, fold, ...) handed to a trial function that
returns one result dict, or a list of them when one fit serves several
methods. Every result becomes a *run*: the trial's parameters merged with the
result. Keys starting with ``_`` are private: they travel back to the caller
(label maps for figures, ...) but are kept out of progress lines, CSV files
and run logs.

- :func:`run_trials` runs trials in parallel (joblib), printing one line per
  finished run with the elapsed time and an estimate of the time left;
- :func:`share_fits` lets one trial report two methods from a single fit;
- :func:`trial_result` and :func:`panel_indices` build a trial's result;
- :func:`feature_cache` is the image-feature cache shared by the trials of a run;
- :func:`ship_by_value` sends the benchmark modules to the joblib workers.
"""
import contextlib
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

from _progress import Progress
from _report import public


def _call(index, fn, params):
    """Run one trial; return (index, list of result dicts, wall seconds)."""
    t0 = time.perf_counter()
    try:
        out = fn(**params)
        results = [out] if isinstance(out, dict) else list(out)
    except Exception as exc:  # one failed trial must not lose the others
        results = [{"status": "error", "error": f"{type(exc).__name__}: {exc}",
                    "_traceback": traceback.format_exc()}]
    return index, results, time.perf_counter() - t0


def format_run(run, keys=None, float_digits=4):
    """One progress line: ``key=value`` pairs of the public keys of ``run``."""
    keys = keys if keys is not None else list(public(run))
    parts = []
    for k in keys:
        if k not in run:
            continue
        v = run[k]
        if isinstance(v, (float, np.floating)):
            v = f"{v:.{float_digits}g}"
        parts.append(f"{k}={v}")
    return " ".join(parts)


def run_trials(fn, trials, n_jobs=-1, progress=True, progress_keys=None, stream=None,
               on_trial=None):
    """Run ``fn(**trial)`` for every trial dict, in parallel.

    Parameters
    ----------
    fn : callable
        Trial function: keyword arguments from the trial dict; returns a
        result dict or a list of result dicts.  It must be picklable by
        joblib (a module-level function) and deterministic given its
        parameters (seed everything from them).
    trials : list of dict
        Parameters of each trial.  Trials are dispatched in this order, so
        put the slowest first for a better load balance.
    n_jobs : int
        joblib convention (-1 = all cores, 1 = run in this process).
    progress : bool
        Print one line per finished run, prefixed by ``[k/n trials, elapsed,
        ~time left]`` (see :class:`_progress.Progress`).
    progress_keys : list of str or None
        Keys shown in the progress lines (default: all public keys).
    stream : file or None
        Where progress goes (default ``sys.stdout``).
    on_trial : callable or None
        ``on_trial(runs)`` is called in this process with the runs of each
        trial as soon as it finishes (to store them, say), before its
        progress lines are printed.

    Returns
    -------
    runs : list of dict
        One per result, in trial order: the trial's parameters merged with
        the result, plus ``trial`` (index of the trial), ``status``
        (``"ok"`` or ``"error"``) and ``trial_seconds`` (wall time of the
        whole trial).  A trial that raised gives a single run with
        ``status="error"`` and the message in ``error``.
    """
    from joblib import Parallel, delayed

    stream = stream or sys.stdout
    trials = [dict(t) for t in trials]
    n = len(trials)
    done = {}
    counter = Progress(n, "trials")
    if n_jobs == 1 or n <= 1:
        outputs = (_call(i, fn, t) for i, t in enumerate(trials))
    else:
        outputs = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(_call)(i, fn, t) for i, t in enumerate(trials))
    for index, results, seconds in outputs:
        runs = [{**trials[index], "trial": index, "status": "ok", **res, "trial_seconds": seconds}
                for res in results]
        if on_trial is not None:
            on_trial(runs)
        prefix = counter.step()
        for run in runs if progress else ():
            line = format_run(run, progress_keys)
            if run["status"] != "ok":
                line += f" status=error error={run.get('error')!r}"
            print(f"{prefix} {line}", file=stream, flush=True)
            if "_traceback" in run:
                print(run["_traceback"], file=sys.stderr, flush=True)
        done[index] = runs
    return [run for i in range(n) for run in done[i]]


def share_fits(trials, host, guest, keys, flag="_with_supervised"):
    """Let ``host`` trials also report the ``guest`` method from the same fit.

    Every ``guest`` trial whose values of ``keys`` match those of a ``host``
    trial is dropped and that host trial gets ``flag=True`` (and the guest's
    ``_panels`` when it has none), so the trial function reports both runs
    from one fit.  Guest trials without a matching host are kept.

    Parameters
    ----------
    trials : list of dict
        Trial dicts with a ``"method"`` key.
    host, guest : str
        Methods, e.g. ``"supervised+mrf"`` and ``"supervised"``.
    keys : list of str
        Trial keys that must agree (labeled pixels, seed, fold, ...).
    flag : str
        Key set on the host trials that take over a guest.

    Returns
    -------
    list of dict
        New trial list (copies of the dicts), order kept.
    """
    trials = [dict(t) for t in trials]

    def key(t):
        return tuple(t.get(k) for k in keys)

    hosts = {key(t): t for t in trials if t.get("method") == host}
    out = []
    for t in trials:
        match = hosts.get(key(t)) if t.get("method") == guest else None
        if match is None:
            out.append(t)
            continue
        match[flag] = True
        if t.get("_panels") is not None and match.get("_panels") is None:
            match["_panels"] = t["_panels"]
    return out


def trial_result(maps, truths, fit_seconds, predict_seconds, panels, **extra):
    """One run's result dict: pixel error, times, extras, and the panel maps.

    ``panels`` are test indices whose label maps are kept (under ``_maps``,
    out of the CSV) for the sample figure.
    """
    from chm.metrics import pixel_error

    out = {"pixel_error": pixel_error(maps, truths), "fit_seconds": fit_seconds,
           "predict_seconds": predict_seconds, **extra}
    if panels:
        out["_maps"] = {i: np.asarray(maps[i]).astype(np.uint8) for i in panels}
    return out


def panel_indices(n_test, k):
    """Up to ``k`` test indices spread evenly over ``n_test`` images."""
    return sorted(set(np.linspace(0, n_test - 1, min(k, n_test)).round().astype(int).tolist()))


@contextlib.contextmanager
def feature_cache(path=None):
    """Folder for the CHM image-feature cache (``CHM(memory=...)``) of a run.

    Image features depend only on the images, so every trial of a run (label
    draws, sizes, methods, cross-validation folds) can share them. Yields
    ``path`` when given (kept afterwards, for later runs), else a fresh
    temporary folder that is removed on exit.
    """
    if path is not None:
        Path(path).mkdir(parents=True, exist_ok=True)
        yield str(path)
        return
    tmp = tempfile.mkdtemp(prefix="chm-features-")
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ship_by_value(module_name=None):
    """Send the benchmark modules to joblib workers by value.

    Registers, for pickling by value, every module of the benchmarks folder
    loaded so far (this one, the other helpers, the benchmark itself) and
    ``module_name``.  Trial functions then need not be importable in the
    workers, whose path is fixed when they start (possibly before the
    benchmarks folder was added).  ``"__main__"`` is left out: cloudpickle
    ships it by value anyway.  Call it after the benchmark's imports.
    """
    try:  # joblib's loky backend pickles with cloudpickle (vendored in older joblibs)
        import cloudpickle
    except ImportError:  # pragma: no cover
        from joblib.externals import cloudpickle
    folder = Path(__file__).resolve().parent
    names = {name for name, module in list(sys.modules.items())
             if getattr(module, "__file__", None)
             and Path(module.__file__).resolve().parent == folder}
    if module_name is not None:
        names.add(module_name)
    for name in sorted(names - {"__main__"}):
        cloudpickle.register_pickle_by_value(sys.modules[name])
