"""Pixel error and prediction time of the fold ensemble (``CHM(average_folds=...)``).

Protocol: a default ``chm.CHM`` is fit on the 164 Weizmann training images
with ``--px`` random labeled pixels each (draw = seed), once per seed; the
same fitted model then predicts the 164 test images with every variant of
``average_folds``: ``True`` (every context classifier averages itself and
its fold copies: variant ``all``), ``"coarse"`` (levels 2 and above:
``levels 2-3`` of the default 4 levels) and ``False`` (``none``). The
option acts at prediction only, so the variants differ by nothing else.
(The ``levels 1-3`` records of the committed results were made when
``"coarse"`` meant the levels above 0.)

Usage: ``python benchmarks/fold_ensemble.py [--px 10] [--seeds 0 1 2] [--out FILE]
[--chm-params JSON] [--synthetic N]``; one JSON line per (px, seed, variant) is
appended to ``--out``, and those already there are skipped. ``--synthetic N``
uses N train and N test images of :func:`chm.synthetic.make_shapes` instead
of Weizmann (for smoke tests).
"""
import argparse
import json
import time
from pathlib import Path

import chm
from chm.datasets import sample_sparse_labels
from chm.metrics import pixel_error

from _data import load_weizmann_or_synthetic

VARIANTS = {"all": True, "levels 2-3": "coarse", "none": False}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--px", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--out", default="results/predict_speed/fold_ensemble.jsonl")
    parser.add_argument("--chm-params", default="{}", help="JSON: CHM parameters other than the defaults")
    parser.add_argument("--synthetic", type=int, default=None, metavar="N")
    args = parser.parse_args(argv)
    params = json.loads(args.chm_params)
    out = Path(args.out)
    done = set()
    if out.exists():
        done = {(r["px"], r["seed"], r["variant"]) for r in map(json.loads, out.read_text().splitlines())}
    train, train_masks, test, test_masks = load_weizmann_or_synthetic(args.synthetic)
    for seed in args.seeds:
        todo = [v for v in VARIANTS if (args.px, seed, v) not in done]
        if not todo:
            continue
        sparse = sample_sparse_labels(train_masks, args.px, random_state=seed)
        t0 = time.perf_counter()
        model = chm.CHM(**{**params, "random_state": seed, "n_jobs": args.n_jobs}).fit(train, sparse)
        fit_s = time.perf_counter() - t0
        for variant in todo:
            model.set_params(average_folds=VARIANTS[variant])
            t0 = time.perf_counter()
            pred = model.predict(test)
            rec = dict(px=args.px, seed=seed, variant=variant, error=100 * pixel_error(pred, test_masks),
                       predict_s=time.perf_counter() - t0, fit_s=fit_s)
            print(json.dumps(rec), flush=True)
            with out.open("a") as f:
                f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
