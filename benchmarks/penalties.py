"""Spatial penalties side by side: each penalty against supervised and supervised + MRF.

One table over these cells (data set and labeled pixels per training image):

- ``weizmann-10``, ``weizmann-50``: Weizmann Horse, 164 train / 164 test gray
  images, random labeled pixels (:func:`chm.datasets.sample_sparse_labels`);
- ``thin-10``, ``thin-50``: the thin-structure set
  (:func:`chm.synthetic.make_thin_structures`, ``--thin-images`` train and as
  many test images of 128 x 128); the F1 of the thin class is reported too;
- ``thinfull-10``, ``thinfull-50``: the same set with the CHM at full
  resolution (``downscale=1``: walls 1-4 px wide are 0.5-2 px at the
  default ``downscale=2``);
- ``stanford-10``: Stanford Background, fold 0 of
  :func:`chm.datasets.stanford_folds` (572 train / 143 test RGB images),
  with the CHM in the reduced configuration (``--stanford-chm``) and with the
  ConvNet (``--stanford-convnet``); unknown pixels are not scored.

Methods: ``supervised`` (``tv_weight=0``), ``supervised+mrf``
(:class:`chm.mrf_segmenter.MRFSegmenter` around the supervised model, lambda by
cross-validation on held-out labeled pixels), ``potts`` (the Potts penalty
trained by graph-cut proposals, :class:`chm.proposals.ProposalSegmenter`
around the supervised model, its weight chosen by balanced held-out accuracy;
``potts:accuracy`` chooses it by plain accuracy; ``potts+contrast`` cuts with
contrast-sensitive edge weights, so that the cut may change label at an
intensity edge, such as the flank of a thin wall, at little cost), ``forest``
(:class:`chm.baselines.ForestSegmenter`), and any penalty name of
:data:`chm.penalties.PENALTY_NAMES`, or ``auto``, optionally with a weight
after a colon (``bilateral:0.3``; without one :data:`FIXED_WEIGHT`, and
``auto`` alone chooses both the penalty and the weight). ``--backends`` picks
the models of the Stanford cells (``chm``, ``convnet``); the other cells use
the CHM.

Every run is appended to ``--out/runs.jsonl`` as it finishes; a rerun with the
same ``--out`` skips the runs already there, so an interrupted run resumes.
The table (``--out/penalties.md``) is rebuilt from every run on disk: pixel
error (mean +- std over the draws), thin-class F1 on the thin cells, and the
fit time of each penalty relative to plain TV in the same cell and draw.

Usage::

    python benchmarks/penalties.py --cells weizmann-10 --seeds 0 1 2 \\
        --methods supervised supervised+mrf tv edge_tv bilateral --out benchmarks/results/penalties
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import chm
from _runs import f1_of_class, load_thin, load_weizmann, run_all
from chm.baselines import ForestSegmenter
from chm.datasets import load_stanford_background, sample_sparse_labels, stanford_folds
from chm.metrics import pixel_error
from chm.mrf_segmenter import MRFSegmenter
from chm.proposals import ProposalSegmenter

#: Weight of a penalty named without one (the paper's TV weight of the CHM).
FIXED_WEIGHT = 0.1
CELLS = ("weizmann-10", "weizmann-50", "thin-10", "thin-50", "thinfull-10", "thinfull-50",
         "stanford-10")
#: CHM settings of a data set besides the defaults (``stanford``: ``--stanford-chm``).
DATA_CHM = {"thinfull": {"downscale": 1.0}}
STANFORD_CHM = {"downscale": 4, "n_levels": 2, "context_radii": [1, 4], "n_groups": 4,
                "n_disc": 4, "context_cv": 2}
STANFORD_CONVNET = {"width": 16, "hidden": 128, "downscale": 4, "epochs": 12}


def load_cell_data(name, args):
    """(train images, train masks, test images, test masks) of a data set name."""
    if name == "weizmann":
        return load_weizmann()
    if name in ("thin", "thinfull"):
        return load_thin(args.thin_images)
    if name == "stanford":
        images, labels = load_stanford_background()
        train, test = stanford_folds(n_images=len(images), n_folds=5, random_state=0)[0]
        return ([images[i] for i in train], [labels[i] for i in train],
                [images[i] for i in test], [labels[i] for i in test])
    raise ValueError(f"unknown data set {name!r}")


def base_model(data, backend, seed, args, **override):
    """The estimator of a cell and backend with ``override`` on top of its settings."""
    if backend == "convnet":
        from chm.convnet import ConvNetSegmenter

        params = {**args.stanford_convnet, "n_jobs": args.n_jobs, **override}
        return ConvNetSegmenter(random_state=seed, **params)
    params = {**(args.stanford_chm if data == "stanford" else DATA_CHM.get(data, {})),
              "n_jobs": args.n_jobs, **override}
    return chm.CHM(random_state=seed, **params)


def make_method(method, data, backend, seed, args):
    """The estimator of a method name (see the module docstring)."""
    if method == "forest":
        return ForestSegmenter(random_state=seed, n_jobs=args.n_jobs)
    if method == "supervised":
        return base_model(data, backend, seed, args, tv_weight=0.0)
    if method == "supervised+mrf":
        return MRFSegmenter(base_model(data, backend, seed, args, tv_weight=0.0),
                            cv_images=args.mrf_cv_images, random_state=seed, n_jobs=args.n_jobs)
    if method.partition(":")[0] in ("potts", "potts+contrast"):
        scoring = method.partition(":")[2] or "balanced"
        return ProposalSegmenter(base_model(data, backend, seed, args, tv_weight=0.0),
                                 cv_images=args.mrf_cv_images, scoring=scoring,
                                 contrast=method.startswith("potts+contrast"),
                                 random_state=seed, n_jobs=args.n_jobs)
    name, _, weight = method.partition(":")
    weight = weight or ("auto" if name == "auto" else str(FIXED_WEIGHT))
    return base_model(data, backend, seed, args, penalty=name,
                      tv_weight=weight if weight == "auto" else float(weight))


def run_one(key, args, cache):
    cell, backend, method, seed = key
    data, _, size = cell.partition("-")
    train_x, train_y, test_x, test_y = cache[data]
    labels = sample_sparse_labels(train_y, int(size), random_state=seed)
    model = make_method(method, data, backend, seed, args)
    t0 = time.perf_counter()
    model.fit(train_x, labels)
    fit_s = time.perf_counter() - t0
    preds = model.predict(test_x)
    run = {"cell": cell, "backend": backend, "method": method, "seed": seed,
           "pixel_error": pixel_error(preds, test_y), "fit_seconds": fit_s}
    if data.startswith("thin"):
        run["f1_thin"] = f1_of_class(preds, test_y)
    fitted = getattr(model, "estimator_", model)
    for attr in ("penalty_", "tv_weight_"):
        if hasattr(fitted, attr):
            run[attr.rstrip("_")] = repr(getattr(fitted, attr))
    return run


def summary(runs):
    """Markdown table: per cell and backend, each method's error, F1 and fit time vs TV."""
    by = {}
    for r in runs:
        by.setdefault((r["cell"], r["backend"], r["method"]), []).append(r)
    tv_fit = {(r["cell"], r["backend"], r["seed"]): r["fit_seconds"] for r in runs
              if r["method"] == "tv"}
    lines = ["| cell | backend | method | pixel error (%) | thin-class F1 | fit (s) | "
             "fit / TV fit | draws | chosen |",
             "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for (cell, backend, method), rs in sorted(by.items(), key=lambda kv: (
            CELLS.index(kv[0][0]) if kv[0][0] in CELLS else 99, kv[0][1], kv[0][2])):
        err = 100 * np.array([r["pixel_error"] for r in rs])
        sd = f" ± {err.std(ddof=1):.2f}" if len(rs) > 1 else ""
        f1 = (f"{np.mean([r['f1_thin'] for r in rs]):.3f}" if "f1_thin" in rs[0] else "")
        ratios = [r["fit_seconds"] / tv_fit[(cell, backend, r["seed"])] for r in rs
                  if (cell, backend, r["seed"]) in tv_fit]
        ratio = f"{np.median(ratios):.2f}" if ratios else ""
        chosen = ", ".join(f"{r.get('penalty', '').split('(')[0]} {r.get('tv_weight', '')}"
                           for r in sorted(rs, key=lambda r: r["seed"])
                           if "auto" in method and "tv_weight" in r)
        lines.append(f"| {cell} | {backend} | {method} | {err.mean():.2f}{sd} | {f1} | "
                     f"{np.median([r['fit_seconds'] for r in rs]):.0f} | {ratio} | {len(rs)} | "
                     f"{chosen} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["weizmann-10"], choices=CELLS)
    parser.add_argument("--methods", nargs="+", default=["supervised", "supervised+mrf", "tv"])
    parser.add_argument("--backends", nargs="+", default=["chm"], choices=["chm", "convnet"],
                        help="models of the Stanford cells (the other cells use the CHM)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--thin-images", type=int, default=40)
    parser.add_argument("--mrf-cv-images", type=int, default=50)
    parser.add_argument("--stanford-chm", type=json.loads, default=STANFORD_CHM)
    parser.add_argument("--stanford-convnet", type=json.loads, default=STANFORD_CONVNET)
    parser.add_argument("--n-jobs", type=int, default=-1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    keys = [(c, b, m, s) for c in args.cells
            for b in (args.backends if c.startswith("stanford") else ["chm"])
            for s in args.seeds for m in args.methods]
    cache = {d: load_cell_data(d, args) for d in sorted({c.partition("-")[0] for c in args.cells})}
    t_all = time.perf_counter()
    runs = run_all(args.out, keys, lambda r: (r["cell"], r["backend"], r["method"], r["seed"]),
                   lambda key: run_one(key, args, cache),
                   lambda r: (f"{r['cell']} {r['backend']} {r['method']} seed {r['seed']}: "
                              f"error {100 * r['pixel_error']:.2f} %"
                              + (f", F1 {r['f1_thin']:.3f}" if "f1_thin" in r else "")
                              + f", fit {r['fit_seconds']:.0f} s"))
    table = summary(runs)
    command = "python benchmarks/penalties.py " + " ".join(sys.argv[1:] if argv is None else argv)
    (Path(args.out) / "penalties.md").write_text(
        f"{table}\n\nCommand: `{command}`; this invocation {time.perf_counter() - t_all:.0f} s.\n")
    print(table)


if __name__ == "__main__":
    main()
