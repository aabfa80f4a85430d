"""Label protocols: random pixels against painted strokes, on Weizmann Horse and thin structures.

People do not label random pixels: in napari, ilastik or Labkit they paint a
few strokes per class. This benchmark trains each method on

- ``random-N``: N random labeled pixels per training image
  (:func:`chm.datasets.sample_sparse_labels`);
- ``strokes-K``: K strokes per class per training image, ``--length`` px
  long and ``--width`` px wide, kept ``--margin`` px inside their region
  (:func:`chm.labeling.simulate_strokes`);

and scores the pixel error on every pixel of the test images (and, on the
thin-structure set, the F1 of the thin class). Each run records its labeled
pixels per image, so protocols can be compared at equal budgets (pixels) and
at equal effort (one stroke against one click).

Methods: ``forest`` (:class:`chm.baselines.ForestSegmenter`),
``supervised`` (``CHM(tv_weight=0)``), ``tv`` (``CHM(penalty="tv", tv_weight=0.1)``),
``bilateral`` (the dense bilateral penalty at weight 0.3), ``auto`` (penalty
and weight chosen on held-out labeled pixels),
``tv+self`` (:class:`chm.self_training.SelfTrainingSegmenter` around the
default CHM: refitted with 20 confident pseudo-labels per image),
``supervised+mrf`` (:class:`chm.mrf_segmenter.MRFSegmenter` around the
supervised CHM, lambda by cross-validation on labeled pixels), ``potts``
(:class:`chm.proposals.ProposalSegmenter` around the supervised CHM: the Potts
penalty trained by graph-cut proposals, which carry the labels outward over
every training image).

Data: ``weizmann`` (164 train / 164 test gray images), ``thin``
(:func:`chm.synthetic.make_thin_structures`, ``--thin-images`` train and as
many test images of 128 x 128).

Every run is appended to ``--out/runs.jsonl`` as it finishes; a rerun with
the same ``--out`` skips the runs already there (resume), and the summary
table (``--out/labels.md``) is rebuilt from all runs.

Usage::

    python benchmarks/labels.py --data weizmann --protocols strokes-1 random-10 \\
        --methods forest supervised tv --seeds 0 1 2 --out benchmarks/results/labels
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

import chm
from _runs import f1_of_class, load_thin, load_weizmann, run_all
from chm.baselines import ForestSegmenter
from chm.datasets import sample_sparse_labels
from chm.labeling import simulate_strokes
from chm.metrics import pixel_error
from chm.mrf_segmenter import MRFSegmenter
from chm.proposals import ProposalSegmenter
from chm.self_training import SelfTrainingSegmenter

METHODS = {
    "forest": lambda seed, n_jobs: ForestSegmenter(random_state=seed, n_jobs=n_jobs),
    "supervised": lambda seed, n_jobs: chm.CHM(tv_weight=0.0, random_state=seed, n_jobs=n_jobs),
    "tv": lambda seed, n_jobs: chm.CHM(penalty="tv", tv_weight=0.1, random_state=seed,
                                       n_jobs=n_jobs),
    "bilateral": lambda seed, n_jobs: chm.CHM(penalty="bilateral", tv_weight=0.3,
                                              random_state=seed, n_jobs=n_jobs),
    "auto": lambda seed, n_jobs: chm.CHM(penalty="auto", tv_weight="auto", random_state=seed,
                                         n_jobs=n_jobs),
    "tv+self": lambda seed, n_jobs: SelfTrainingSegmenter(
        chm.CHM(random_state=seed, n_jobs=n_jobs), random_state=seed),
    "potts": lambda seed, n_jobs: ProposalSegmenter(
        chm.CHM(tv_weight=0.0, random_state=seed, n_jobs=n_jobs), cv_images=50,
        random_state=seed, n_jobs=n_jobs),
    "supervised+mrf": lambda seed, n_jobs: MRFSegmenter(
        chm.CHM(tv_weight=0.0, random_state=seed, n_jobs=n_jobs), cv_images=50,
        random_state=seed, n_jobs=n_jobs),
}


def load_data(name, n_thin):
    """(train images, train masks, test images, test masks) of a data set."""
    if name == "weizmann":
        return load_weizmann()
    if name == "thin":
        return load_thin(n_thin)
    raise ValueError(f"unknown data set {name!r}")


def make_labels(protocol, masks, seed, args):
    """Sparse label maps of a protocol ``random-N`` or ``strokes-K``."""
    kind, _, count = protocol.partition("-")
    if kind == "random":
        return sample_sparse_labels(masks, int(count), random_state=seed)
    if kind == "strokes":
        return simulate_strokes(masks, n_strokes=int(count), length=args.length, width=args.width,
                                margin=args.margin, random_state=seed)
    raise ValueError(f"unknown protocol {protocol!r}: use random-N or strokes-K")


def run_one(data, protocol, method, seed, args, cache):
    train_x, train_y, test_x, test_y = cache[data]
    labels = make_labels(protocol, train_y, seed, args)
    model = METHODS[method](seed, args.n_jobs)
    t0 = time.perf_counter()
    model.fit(train_x, labels)
    fit_s = time.perf_counter() - t0
    preds = model.predict(test_x)
    run = {"data": data, "protocol": protocol, "method": method, "seed": seed,
           "labeled_px_per_image": float(np.mean([(lab >= 0).sum() for lab in labels])),
           "pixel_error": pixel_error(preds, test_y), "f1_class1": f1_of_class(preds, test_y),
           "fit_seconds": fit_s}
    if args.save_models:
        Path(args.save_models).mkdir(parents=True, exist_ok=True)
        chm.save(model, Path(args.save_models) / f"{data}_{protocol}_{method}_{seed}.chm")
    chm_model = getattr(model, "estimator_", model)
    if getattr(chm_model, "epochs_", None) is not None:
        run["epochs"] = int(chm_model.epochs_)
    return run


def summary(runs):
    """Markdown table: mean +- std of the pixel error (and F1 on thin) per data, protocol, method."""
    cells = {}
    for r in runs:
        cells.setdefault((r["data"], r["protocol"], r["method"]), []).append(r)
    lines = ["| data | protocol | labeled px/img | method | pixel error (%) | F1 class 1 | draws |",
             "|---|---|---|---|---|---|---|"]
    for (data, protocol, method), rs in sorted(cells.items()):
        err = 100 * np.array([r["pixel_error"] for r in rs])
        f1 = np.array([r["f1_class1"] for r in rs])
        px = np.mean([r["labeled_px_per_image"] for r in rs])
        sd = f" ± {err.std(ddof=1):.2f}" if len(rs) > 1 else ""
        lines.append(f"| {data} | {protocol} | {px:.0f} | {method} | {err.mean():.2f}{sd} | "
                     f"{f1.mean():.3f} | {len(rs)} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["weizmann"], choices=["weizmann", "thin"])
    parser.add_argument("--protocols", nargs="+", default=["strokes-1", "random-10"])
    parser.add_argument("--methods", nargs="+", default=["forest", "supervised", "tv"],
                        choices=sorted(METHODS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--length", type=int, default=40)
    parser.add_argument("--width", type=int, default=3)
    parser.add_argument("--margin", type=int, default=2)
    parser.add_argument("--thin-images", type=int, default=40)
    parser.add_argument("--n-jobs", type=int, default=-1)
    parser.add_argument("--out", required=True)
    parser.add_argument("--save-models", default=None, metavar="DIR",
                        help="also write every fitted model to DIR (chm.save)")
    args = parser.parse_args(argv)

    out = Path(args.out)
    keys = [(d, p, m, s) for d in args.data for p in args.protocols for s in args.seeds
            for m in args.methods]
    cache = {d: load_data(d, args.thin_images) for d in args.data}
    t_all = time.perf_counter()
    runs = run_all(out, keys, lambda r: (r["data"], r["protocol"], r["method"], r["seed"]),
                   lambda key: run_one(*key, args, cache),
                   lambda r: (f"{r['data']} {r['protocol']} {r['method']} {r['seed']}: error "
                              f"{100 * r['pixel_error']:.2f} %, F1 {r['f1_class1']:.3f}, "
                              f"{r['labeled_px_per_image']:.0f} px/img, fit {r['fit_seconds']:.0f} s"))
    table = summary(runs)
    command = "python benchmarks/labels.py " + " ".join(sys.argv[1:] if argv is None else argv)
    (out / "labels.md").write_text(f"{table}\n\nCommand: `{command}`; this invocation "
                                   f"{time.perf_counter() - t_all:.0f} s.\n")
    print(table)


if __name__ == "__main__":
    main()
