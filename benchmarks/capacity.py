"""Capacity sweep on Weizmann Horse: banks, LDNN sizes, stages and training length.

Each configuration is a ``+``-joined list of settings on top of the default
CHM (``default`` alone is the default):

- ``bank=default`` / ``bank=chm`` / ``bank=chm:S`` (:func:`features.chm_bank`
  with supports scaled by ``S``) / ``bank=learned`` (the default bank plus
  :class:`features.LearnedFilters`, fitted inside ``CHM.fit``;
  ``learned:K:P:S`` sets ``n_filters``, ``patch_size``, ``pool_sigma``) /
  the CHM bank plus learned filters is written ``bank=chm,learned``; several
  learned banks ``bank=learned,learned:32:11``;
- ``ldnn=GxD`` (every level), ``ldnn=16,8,8,8x16,8,8,8`` (one size per
  level) or ``ldnn=original`` (10 x 20 at level 0,
  24 x 24 above);
- ``stages=2`` (the original schedule: a second, level-0 top-down stage that
  reads every map of the first, ``later_stages="top_down"``);
- ``epochs=N`` or ``epochs=auto`` (early stopping on held-out labeled pixels,
  :mod:`chm.training_length`);
- ``downscale=D``, ``tv=W`` (the TV weight of the ``tv`` method);
- ``f16`` (``feature_dtype="float16"``);
- ``max_epochs=N``: the cap of ``epochs="auto"`` (``training_length.MAX_EPOCHS``).

Methods: ``supervised`` (``tv_weight=0``), ``tv`` (the default penalty) at
each ``--px`` labeled pixels per training image, and ``dense`` (``--dense-px``
random labeled pixels per image, supervised). Each run is a fresh process, so
its peak RSS is its own; runs are appended to ``--out/runs.jsonl`` and a rerun
skips those on disk. The table is ``--out/capacity.md``.

Usage::

    python benchmarks/capacity.py --configs default epochs=auto bank=chm+epochs=auto \\
        --methods supervised tv dense --px 10 50 --seeds 0 --out benchmarks/results/capacity
"""
import argparse
import json
import multiprocessing
import resource
import sys
import time
from pathlib import Path

import numpy as np

from _runs import load_weizmann, run_all

DENSE_PX = 2000
METHODS = ("supervised", "tv", "dense")


def _bank(value):
    import features

    parts = []
    for name in value.split(","):
        name, _, scale = name.partition(":")  # scale: everything after the first colon
        if name == "default":
            parts.append(features.default_bank())
        elif name == "chm":
            parts.append(features.chm_bank(scale=float(scale or 1.0)))
        elif name == "learned":  # learned[:n_filters[:patch_size[:pool_sigma]]]
            opts = [float(v) for v in scale.split(":")] if scale else []
            kw = dict(zip(("n_filters", "patch_size", "pool_sigma"), opts))
            for key in ("n_filters", "patch_size"):
                if key in kw:
                    kw[key] = int(kw[key])
            parts.append(features.LearnedFilters(random_state=0, **kw))
        else:
            raise ValueError(f"unknown bank {name!r}")
    if parts and not any(isinstance(p, features.FilterBank) for p in parts[:1]):
        parts.insert(0, features.default_bank())  # "learned" alone adds to the default bank
    return parts[0] if len(parts) == 1 else features.FilterBank(parts)


def _sizes(value):
    """An LDNN size: ``8`` (every level) or ``16,8,8,8`` (one per level)."""
    return int(value) if "," not in value else tuple(int(v) for v in value.split(","))


def config_params(config):
    """CHM parameters of a configuration string (see the module docstring)."""
    params = {}
    if config == "default":
        return params
    for item in config.split("+"):
        key, _, value = item.partition("=")
        if key == "bank":
            params["bank"] = _bank(value)
        elif key == "ldnn":
            if value == "original":
                params.update(n_groups=(10, 24, 24, 24), n_disc=(20, 24, 24, 24))
            else:
                g, d = value.split("x")  # GxD, or per level G0,G1,..xD0,D1,..
                params.update(n_groups=_sizes(g), n_disc=_sizes(d))
        elif key == "stages":
            params.update(n_stages=int(value), later_stages="top_down")
        elif key == "epochs":
            params["epochs"] = value if value == "auto" else int(value)
        elif key == "downscale":
            params["downscale"] = float(value)
        elif key == "tv":
            params["tv_weight"] = float(value)
        elif key == "max_epochs":  # the cap of epochs="auto" (training_length.MAX_EPOCHS)
            params["max_epochs"] = int(value)
        elif key == "f16":
            params["feature_dtype"] = "float16"
        else:
            raise ValueError(f"unknown setting {item!r} in configuration {config!r}")
    return params


def _run(key, queue):
    from chm import CHM
    from chm.datasets import sample_sparse_labels
    from chm.metrics import pixel_error

    config, method, px, seed = key
    train_x, train_y, test_x, test_y = load_weizmann()
    labels = sample_sparse_labels(train_y, DENSE_PX if method == "dense" else px, random_state=seed)
    params = config_params(config)
    if "max_epochs" in params:
        from chm import training_length

        training_length.MAX_EPOCHS = params.pop("max_epochs")
    if method != "tv":
        params["tv_weight"] = 0.0
    model = CHM(**{**params, "random_state": seed, "n_jobs": 2})
    t0 = time.perf_counter()
    model.fit(train_x, labels)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    err = pixel_error(model.predict(test_x), test_y)
    queue.put({"config": config, "method": method, "px": px, "seed": seed,
               "pixel_error": float(err), "fit_seconds": fit_s,
               "predict_seconds": time.perf_counter() - t0, "epochs": int(model.epochs_),
               "n_features": int(model.n_features_in_),
               "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20})


def run_one(key):
    """One run in a fresh process (its own peak RSS)."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_run, args=(key, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def summary(runs, configs):
    cols = [(m, px) for m in ("supervised", "tv") for px in sorted({r["px"] for r in runs
                                                                    if r["method"] != "dense"})]
    head = ["config"] + [f"{m} {px} px" for m, px in cols] + ["dense", "TV gain", "fit s (sup 10)",
                                                              "peak GB", "epochs"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for config in configs:
        mine = [r for r in runs if r["config"] == config]
        if not mine:
            continue

        def cell(method, px=None):
            errs = [r["pixel_error"] for r in mine if r["method"] == method
                    and (px is None or r["px"] == px)]
            return (100 * float(np.mean(errs)), len(errs)) if errs else (None, 0)

        row = [config]
        for m, px in cols:
            v, n = cell(m, px)
            row.append("–" if v is None else f"{v:.2f}" + (f" (n={n})" if n > 1 else ""))
        v, _ = cell("dense")
        row.append("–" if v is None else f"{v:.2f}")
        gains = [cell("supervised", px)[0] - cell("tv", px)[0] for _, px in cols[:len(cols) // 2]
                 if cell("supervised", px)[0] is not None and cell("tv", px)[0] is not None]
        row.append(", ".join(f"{g:+.2f}" for g in gains) or "–")
        fits = [r["fit_seconds"] for r in mine if r["method"] == "supervised" and r["px"] == 10]
        row.append(f"{np.median(fits):.0f}" if fits else "–")
        row.append(f"{max(r['peak_rss_gb'] for r in mine):.1f}")
        row.append(", ".join(sorted({f"{r['method'][0]}{r['px'] if r['method'] != 'dense' else 'd'}"
                                     f":{r['epochs']}" for r in mine})))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["default"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--px", nargs="+", type=int, default=[10, 50])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    for config in args.configs:
        config_params(config)  # fail on a bad configuration before any run
    keys = []
    for config in args.configs:
        for seed in args.seeds:
            for method in args.methods:
                for px in ([DENSE_PX] if method == "dense" else args.px):
                    keys.append((config, method, px, seed))
    runs = run_all(args.out, keys, lambda r: (r["config"], r["method"], r["px"], r["seed"]),
                   run_one, lambda r: (f"{r['config']} {r['method']} {r['px']} px seed {r['seed']}: "
                                       f"{100 * r['pixel_error']:.2f}%  fit {r['fit_seconds']:.0f}s  "
                                       f"{r['peak_rss_gb']:.1f} GB  epochs {r['epochs']}"))
    configs = list(dict.fromkeys([r["config"] for r in runs] + args.configs))
    table = summary(runs, configs)
    text = (f"# Capacity sweep (Weizmann Horse, pixel error %)\n\n{table}\n\n"
            f"Command: `python benchmarks/capacity.py {' '.join(sys.argv[1:] if argv is None else argv)}`\n")
    Path(args.out, "capacity.md").write_text(text)
    print(table)


if __name__ == "__main__":
    main()
