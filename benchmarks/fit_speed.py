"""Wall time and peak memory of one CHM fit on the Weizmann training set.

Protocol: the first 164 gray Weizmann Horse images (sorted names), 10 random
labeled pixels each (seed 0), ``n_jobs=-1``; ``--model tv`` is the default
``chm.CHM`` (TV on), ``--model potts`` the default of ``chm train``
(:class:`chm.proposals.ProposalSegmenter` around ``CHM(tv_weight=0)``).
Prints the fit's wall time, the process's peak resident memory, and the
speed-up of the numba total-variation kernel over its numpy reference
(median of repeated calls on a 212 x 265 map).

Usage: ``python benchmarks/fit_speed.py [--model tv|potts] [--n-labeled 10] [--seed 0] [--n-jobs -1]``
Targets: <= 300 s and <= 8 GB on 2 cores (the default measured 98.0 s and
4.91 GB, ``benchmarks/results/fit_speed``; before, 109.2 s and 4.88 GB; earlier, with 128 learned filters
and epochs="auto", 212.6 s and 4.82 GB, 7 epochs chosen; with 64 filters
and 15 epochs 206.0 s and 3.68 GB; before the learned filters the target was
<= 120 s and <= 6 GB).
"""
import argparse
import os
import resource
import time

import chm
from chm.datasets import load_weizmann_horse, sample_sparse_labels
from chm.penalties import benchmark_tv
from chm.proposals import ProposalSegmenter


def peak_rss_gb():
    """Peak resident set size of this process in GB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-labeled", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=-1)
    parser.add_argument("--model", choices=("tv", "potts"), default="tv",
                        help="tv: chm.CHM(); potts: ProposalSegmenter(CHM(tv_weight=0))")
    args = parser.parse_args(argv)

    images, masks = load_weizmann_horse()
    sparse = sample_sparse_labels(masks[:164], args.n_labeled, random_state=args.seed)
    model = chm.CHM(random_state=args.seed, n_jobs=args.n_jobs, verbose=1)
    if args.model == "potts":
        model = ProposalSegmenter(model.set_params(tv_weight=0.0), n_jobs=args.n_jobs,
                                  random_state=args.seed)
    t0 = time.perf_counter()
    model.fit(images[:164], sparse)
    fit_s = time.perf_counter() - t0
    print(f"cores available: {os.cpu_count()}")
    what = (f"CHM fit (tv_weight={model.tv_weight:g})" if args.model == "tv" else
            f"Potts-proposal CHM fit (lambda={model.weight_:.3g}, search, fit and refit)")
    print(f"{what} on 164 images: {fit_s:.1f} s wall")
    # children (joblib workers) count too: report the larger of self and children
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2
    print(f"peak RSS: {peak_rss_gb():.2f} GB (largest worker process: {children:.2f} GB)")

    tv = benchmark_tv()
    print(f"TV kernel on {tv['shape']}: numba {1e3 * tv['numba_s']:.3f} ms, "
          f"numpy {1e3 * tv['numpy_s']:.3f} ms (medians of {tv['repeats']}), "
          f"speed-up {tv['speedup']:.1f}x")


if __name__ == "__main__":
    main()
