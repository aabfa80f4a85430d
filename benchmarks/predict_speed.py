"""Prediction speed and memory of the default CHM, against the random forest.

Protocol: a default ``chm.CHM`` (and a default
``chm.baselines.ForestSegmenter``) is fit on the first ``--n-train`` gray
Weizmann Horse images with 10 random labeled pixels each (seed 0); the
prediction cost does not depend on how many images trained the model. Then:

1. **Throughput.** Both models predict ``--n-images`` test images resized to
   512 x 512, with ``n_jobs`` 1 and 2; the figure is the median of
   ``--repeats`` runs, in megapixels per second.
2. **Profile.** One single-core CHM prediction of the same images under
   cProfile: the share of the time spent in image features, in the stage
   classifiers, in context sampling, in feature normalisation (folded into
   the classifiers where it applies, :mod:`chm.folded_unit`) and in
   resampling (working resolution, pyramid levels, context maps).
3. **Tiling.** A 4096 x 4096 image predicted whole and in tiles
   (``--tile``): the share of pixels with the same label, and the largest
   probability difference.
4. **Large images.** In a fresh process each, ``CHM.predict(tile_size=...)``
   of an 8k x 8k and a 16k x 16k image (a test image mirrored to that size,
   float32), with the peak resident memory of that process.

Usage: ``python benchmarks/predict_speed.py [--n-train 40] [--n-images 8]
[--repeats 3] [--sizes 8192 16384] [--tile 1024] [--large-tile 1536]
[--model-out PATH] [--skip-large]``; one large image alone, on a saved model:
``python benchmarks/predict_speed.py --large-child MODEL SIZE TILE``.

Targets: >= 1 Mpx/s on 2 cores; tiled equals untiled on >= 99.9 % of the
pixels at 4096 x 4096; peak RSS <= 4 GB at 16k x 16k.
"""
import argparse
import cProfile
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from skimage.transform import resize

import chm
from chm.baselines import ForestSegmenter
from chm.datasets import load_weizmann_horse, sample_sparse_labels


def peak_rss_gb():
    """Peak resident set size of this process in GB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def mpx_per_s(model, images, n_jobs, repeats):
    """Median megapixels per second of ``model.predict_proba(images)`` with ``n_jobs``."""
    model.set_params(n_jobs=n_jobs)
    model.predict_proba(images[:1])  # warm-up: numba compilation, caches
    pixels = sum(im.shape[0] * im.shape[1] for im in images)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.predict_proba(images)
        times.append(time.perf_counter() - t0)
    return pixels / statistics.median(times) / 1e6


# (label, functions whose cumulative time it is, functions whose time is taken out of it);
# "name@file" picks a function by its file, "name<caller" its calls from that caller only.
_PARTS = {
    "features": (["level_features"], ["working_image"]),
    "classifiers": (["predict_proba@plan.py", "predict_proba@folded_unit.py"], []),
    "context sampling": (["_unit_inputs", "window@unit_inputs.py", "raw_row_range@unit_inputs.py"],
                         ["resize_map<_unit_inputs", "downsample_to_level<_unit_inputs",
                          "transform@normalize.py"]),
    "normalisation": (["transform@normalize.py"], []),
    "resampling": (["working_image", "resize_map", "downsample_to_level"], []),
}


def profile_shares(model, images):
    """Seconds and share of the single-core prediction time per part of the pipeline."""
    model.set_params(n_jobs=1)
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.runcall(model.predict_proba, images)
    total = time.perf_counter() - t0
    stats = pstats.Stats(profiler).stats  # (file, line, name) -> (cc, nc, tt, ct, callers)

    def cumulative(key):
        key, _, caller = key.partition("<")
        name, _, where = key.partition("@")
        total = 0.0
        for (f, _, n), v in stats.items():
            if n != name or (where and not f.endswith(where)):
                continue
            total += v[3] if not caller else sum(c[3] for k, c in v[4].items() if k[2] == caller)
        return total

    seconds = {part: sum(map(cumulative, inside)) - sum(map(cumulative, outside))
               for part, (inside, outside) in _PARTS.items()}
    seconds["other"] = total - sum(seconds.values())
    return total, seconds


def mirrored_image(size):
    """A test image mirrored out to ``size`` x ``size`` pixels (float32)."""
    images, _ = load_weizmann_horse()
    base = images[200]
    reps = (-(-size // base.shape[0]), -(-size // base.shape[1]))
    row = np.concatenate([base, base[:, ::-1]] * (reps[1] // 2 + 1), axis=1)
    big = np.concatenate([row, row[::-1]] * (reps[0] // 2 + 1), axis=0)[:size, :size]
    return np.ascontiguousarray(big, dtype=np.float32)


def tiling_agreement(model, size, tile):
    """Share of equal labels and largest probability difference, tiled against whole."""
    image = mirrored_image(size)
    whole = model.predict_proba([image])[0]
    tiled = model.predict_proba([image], tile_size=tile)[0]
    same = float((whole.argmax(axis=-1) == tiled.argmax(axis=-1)).mean())
    return same, float(np.abs(whole - tiled).max())


def large_child(model_path, size, tile):
    """Run in a fresh process: tiled prediction of a ``size`` x ``size`` image."""
    model = chm.load(model_path)
    model.set_params(n_jobs=2)
    big = mirrored_image(size)
    t0 = time.perf_counter()
    labels = model.predict(big[None], tile_size=tile)[0]
    seconds = time.perf_counter() - t0
    print(json.dumps({"size": size, "seconds": seconds, "mpx_per_s": size * size / seconds / 1e6,
                      "peak_rss_gb": peak_rss_gb(), "dtype": str(labels.dtype),
                      "horse_share": float((labels == model.classes_[1]).mean())}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=40)
    parser.add_argument("--n-images", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="*", default=[8192, 16384])
    parser.add_argument("--tile", type=int, default=1024, help="tiles of the 4096 x 4096 check")
    parser.add_argument("--large-tile", type=int, default=1536, help="tiles of the large images")
    parser.add_argument("--model-out", help="also save the fitted CHM here (for --large-child)")
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--large-child", nargs=3, metavar=("MODEL", "SIZE", "TILE"),
                        help="predict one SIZE x SIZE image in tiles of TILE with a saved model")
    args = parser.parse_args(argv)
    if args.large_child:
        return large_child(args.large_child[0], int(args.large_child[1]), int(args.large_child[2]))

    images, masks = load_weizmann_horse()
    train_x = images[:args.n_train]
    sparse = sample_sparse_labels(masks[:args.n_train], 10, random_state=0)
    test = [resize(im, (512, 512), anti_aliasing=True).astype(np.float32)
            for im in images[164:164 + args.n_images]]
    print(f"cores available: {os.cpu_count()}; {len(test)} test images of 512 x 512")

    t0 = time.perf_counter()
    model = chm.CHM(random_state=0, n_jobs=2).fit(train_x, sparse)
    print(f"CHM fit on {args.n_train} images: {time.perf_counter() - t0:.1f} s; "
          f"receptive field {model.receptive_field_} px")
    forest = ForestSegmenter(random_state=0, n_jobs=2).fit(train_x, sparse)

    if args.model_out:
        chm.save(model, args.model_out)
    speeds = {}
    for name, est in (("CHM", model), ("forest", forest)):
        for n_jobs in (1, 2):
            speeds[name, n_jobs] = mpx_per_s(est, test, n_jobs, args.repeats)
            print(f"{name:>6} predict, n_jobs={n_jobs}: {speeds[name, n_jobs]:.3f} Mpx/s "
                  f"(median of {args.repeats})", flush=True)
    default = model.average_folds
    model.set_params(average_folds=False)
    for n_jobs in (1, 2):
        print(f"   CHM predict, n_jobs={n_jobs}, average_folds=False: "
              f"{mpx_per_s(model, test, n_jobs, args.repeats):.3f} Mpx/s", flush=True)
    model.set_params(average_folds=default)
    print(f"CHM / forest speed on 2 cores: {speeds['CHM', 2] / speeds['forest', 2]:.2f}; "
          f"CHM 2 cores / 1 core: {speeds['CHM', 2] / speeds['CHM', 1]:.2f}")

    total, seconds = profile_shares(model, test)
    print(f"single-core CHM prediction under cProfile: {total:.2f} s")
    for part, s in seconds.items():
        print(f"  {part:<17} {s:7.2f} s  {100 * s / total:5.1f} %")

    model.set_params(n_jobs=2)
    same, diff = tiling_agreement(model, 4096, args.tile)
    print(f"4096 x 4096, tiles of {args.tile} against whole: {100 * same:.4f} % of the labels "
          f"equal, largest probability difference {diff:.2e}", flush=True)

    if args.skip_large:
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.chm"
        chm.save(model, path)
        for size in args.sizes:
            out = subprocess.run([sys.executable, __file__, "--large-child", str(path), str(size),
                                  str(args.large_tile)], capture_output=True, text=True)
            if out.returncode:
                print(f"{size} x {size}: failed\n{out.stderr[-2000:]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{size} x {size} tiled predict (tile {args.large_tile}, n_jobs=2): "
                  f"{r['seconds']:.1f} s, {r['mpx_per_s']:.3f} Mpx/s, "
                  f"peak RSS {r['peak_rss_gb']:.2f} GB", flush=True)


if __name__ == "__main__":
    main()
