"""Weizmann Horse from 10 labeled pixels per image: supervised CHM, CHM + TV, CHM + Potts.

Trains on the first 164 images (sorted names) with 10 random labeled pixels
each: first the pixel classifier of scikit-image's trainable segmentation and
ilastik (a random forest on multi-scale features, ``--no-forest`` skips it),
then the CHM with ``tv_weight=0`` (supervised baseline), with the total
variation loss, and with the Potts penalty by graph-cut proposals
(:class:`chm.proposals.ProposalSegmenter`, what ``chm train`` fits by
default). It prints the pixel errors on the last 164 images and the fit
times, and saves a panel in the manner of the paper's Fig. 2 (image,
[random forest,] supervised, TV, Potts, ground truth).

Run ``make demo``, or ``python examples/weizmann_horse.py [--out DIR]``.
The data is found through ``CHM_DATA`` or ``../shared/data``.
"""
import argparse
import time
from pathlib import Path

import numpy as np

import chm
from chm.baselines import ForestSegmenter
from chm.datasets import load_weizmann_horse, sample_sparse_labels
from chm.metrics import pixel_error
from chm.proposals import ProposalSegmenter
from chm.plotting import save_panels


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-labeled", type=int, default=10, help="labeled pixels per training image")
    parser.add_argument("--seed", type=int, default=0, help="seed of the label draw and the models")
    parser.add_argument("--out", type=Path, default=Path("weizmann_horse_panel.png"), help="PNG panel path")
    parser.add_argument("--n-jobs", type=int, default=-1, help="cores to use (-1 = all)")
    parser.add_argument("--no-forest", action="store_true",
                        help="skip the random-forest baseline (about a minute on 2 cores)")
    args = parser.parse_args(argv)

    images, masks = load_weizmann_horse()
    train_x, train_y, test_x, test_y = images[:164], masks[:164], images[164:], masks[164:]
    sparse = sample_sparse_labels(train_y, args.n_labeled, random_state=args.seed)
    print(f"Weizmann Horse: {len(train_x)} training images with {args.n_labeled} labeled px each, "
          f"{len(test_x)} test images")

    results = {}
    if not args.no_forest:
        forest = ForestSegmenter(random_state=args.seed, n_jobs=args.n_jobs)
        t0 = time.perf_counter()
        forest.fit(train_x, sparse)
        fit_s = time.perf_counter() - t0
        results["random forest"] = forest.predict(test_x)
        print(f"{'random forest':>13}: pixel error "
              f"{100 * pixel_error(results['random forest'], test_y):6.2f} %   "
              f"(scikit-image / ilastik style, fit {fit_s:.1f} s)", flush=True)
    def supervised_chm():
        return chm.CHM(tv_weight=0.0, random_state=args.seed, n_jobs=args.n_jobs, verbose=1)

    models = [("supervised", supervised_chm(), "tv_weight=0"),
              ("TV", chm.CHM(random_state=args.seed, n_jobs=args.n_jobs, verbose=1),
               f"tv_weight={chm.CHM().tv_weight:g}"),
              ("Potts", ProposalSegmenter(supervised_chm(), n_jobs=args.n_jobs,
                                          random_state=args.seed), "graph-cut proposals")]
    for name, model, what in models:
        t0 = time.perf_counter()
        model.fit(train_x, sparse)
        fit_s = time.perf_counter() - t0
        pred = model.predict(test_x)
        results[name] = pred
        if name == "Potts":
            what += f", lambda={model.weight_:.3g}"
        print(f"{name:>13}: pixel error {100 * pixel_error(pred, test_y):6.2f} %   "
              f"({what}, fit {fit_s:.1f} s)", flush=True)

    picks = np.linspace(0, len(test_x) - 1, 5).astype(int)
    columns = {name: [maps[i] for i in picks] for name, maps in results.items()}
    columns["ground truth"] = [test_y[i] for i in picks]
    save_panels(args.out, [test_x[i] for i in picks], columns)
    print(f"panel saved to {args.out}")


if __name__ == "__main__":
    main()
