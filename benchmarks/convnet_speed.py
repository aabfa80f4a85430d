"""Speed and accuracy of ConvNetSegmenter on one Stanford Background fold.

Trains the paper's ConvNet on the 572 training images of fold 0 with 10
labeled pixels per image, once with the supervised loss only (tv_weight=0)
and once with the total-variation loss, and prints for each run the wall
time of fit, the training images processed per second (epochs x images /
time) and the pixel error on the 143 test images (all known pixels of the
dense ground truth).

CPU settings: the estimator's defaults (images downscaled by 4, whole images,
batches of 8, Adam with a cosine-decayed learning rate of 5e-3, 12 epochs)
with a narrower network than the paper's (16 maps, 128 hidden units instead of
64 and 512) so that one run takes a few minutes on 2 cores. Pass
``--params '{"width": 64, "hidden": 512}'`` for the paper's width.

Usage::

    python benchmarks/convnet_speed.py                 # both runs, CPU settings below
    python benchmarks/convnet_speed.py --tv-weight 0.3 --params '{"epochs": 8}' --n-images 100
"""
import argparse
import json
import os
import sys
import time

# Idle OpenMP threads sleep instead of spinning: on a machine shared with other
# jobs, spinning threads make torch several times slower. Set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np


def pixel_error(est, images, labels):
    """Fraction of known pixels (label >= 0) predicted wrongly."""
    wrong = total = 0
    for pred, lab in zip(est.predict(images), labels):
        known = lab >= 0
        wrong += int(np.count_nonzero(pred[known] != lab[known]))
        total += int(np.count_nonzero(known))
    return wrong / total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="folder holding iccv09Data/ (default: chm's data root)")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--n-labeled", type=int, default=10, help="labeled pixels per training image")
    parser.add_argument("--n-images", type=int, default=None,
                        help="use only this many training images (quick runs)")
    parser.add_argument("--tv-weight", type=float, default=None,
                        help="TV weight of the TV run (default: the estimator's)")
    parser.add_argument("--only", choices=("both", "supervised", "tv"), default="both")
    parser.add_argument("--params", default="{}",
                        help="JSON dict of further ConvNetSegmenter parameters")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    from chm.convnet import ConvNetSegmenter
    from chm.datasets import load_stanford_background, sample_sparse_labels, stanford_folds

    start = time.perf_counter()
    images, masks = load_stanford_background(args.root)
    train_idx, test_idx = stanford_folds(len(images))[args.fold]
    if args.n_images is not None:
        train_idx = train_idx[:args.n_images]
    train_images = [images[i] for i in train_idx]
    train_sparse = sample_sparse_labels([masks[i] for i in train_idx], args.n_labeled,
                                        random_state=args.seed)
    test_images = [images[i] for i in test_idx]
    test_masks = [masks[i] for i in test_idx]
    print(f"data: {len(train_images)} training / {len(test_images)} test images, "
          f"{args.n_labeled} labeled px per training image "
          f"(loaded in {time.perf_counter() - start:.1f}s); torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")

    params = dict(width=16, hidden=128, random_state=args.seed, verbose=1)
    params.update(json.loads(args.params))
    runs = []
    if args.only in ("both", "supervised"):
        runs.append(("supervised", {**params, "tv_weight": 0.0}))
    if args.only in ("both", "tv"):
        tv_params = dict(params)
        if args.tv_weight is not None:
            tv_params["tv_weight"] = args.tv_weight
        runs.append(("TV", tv_params))

    results = {}
    for name, run_params in runs:
        est = ConvNetSegmenter(**run_params)
        shown = {k: v for k, v in est.get_params().items() if k not in ("verbose",)}
        print(f"\n[{name}] {shown}", flush=True)
        start = time.perf_counter()
        est.fit(train_images, train_sparse)
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        error = pixel_error(est, test_images, test_masks)
        predict_seconds = time.perf_counter() - start
        per_second = est.epochs * len(train_images) / fit_seconds
        results[name] = error
        print(f"[{name}] fit {fit_seconds:.1f}s ({per_second:.1f} training images/s, "
              f"{est.n_iter_} iterations, device {est.device_}); predict {len(test_images)} test "
              f"images {predict_seconds:.1f}s; test pixel error {100 * error:.2f}%", flush=True)
    if len(results) == 2:
        print(f"\nsummary: supervised {100 * results['supervised']:.2f}% -> TV {100 * results['TV']:.2f}% "
              "test pixel error")
    return 0


if __name__ == "__main__":
    sys.exit(main())
