"""Resumable runs of a benchmark: one JSON line per finished run, and the data sets they use.

A benchmark lists its runs as keys (tuples of names and numbers); those already
in ``runs.jsonl`` are skipped, so an interrupted benchmark resumes where it
stopped and its summary is rebuilt from every run on disk.
"""
import json
import time
from pathlib import Path

import numpy as np

from chm.datasets import load_weizmann_horse
from chm.synthetic import make_thin_structures

#: Weizmann Horse protocol: gray images sorted by name, first 164 train, last 164 test.
WEIZMANN_TRAIN = 164


def load_weizmann():
    """(train images, train masks, test images, test masks) of Weizmann Horse."""
    images, masks = load_weizmann_horse()
    n = WEIZMANN_TRAIN
    return images[:n], masks[:n], images[-n:], masks[-n:]


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
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "runs.jsonl"
    runs = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    done = {key_of(r) for r in runs}
    todo = [k for k in keys if k not in done]
    print(f"{len(keys) - len(todo)} of {len(keys)} runs on disk, {len(todo)} to go", flush=True)
    t0 = time.perf_counter()
    for k, key in enumerate(todo, 1):
        run = run_one(key)
        runs.append(run)
        with log.open("a") as fh:
            fh.write(json.dumps(run) + "\n")
        elapsed = time.perf_counter() - t0
        print(f"[{k}/{len(todo)}, {elapsed / 60:.1f} min] {describe(run)}", flush=True)
    return runs
