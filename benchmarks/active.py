"""Suggested labels against random ones, at the same budget: the active-learning loop on Weizmann.

A simulated person labels the training images the way ``chm suggest`` asks:

1. start from ``--start`` random labeled pixels per training image
   (:func:`chm.datasets.sample_sparse_labels`);
2. fit the model (``--model chm``: the default :class:`chm.CHM`; ``potts``:
   :class:`chm.proposals.ProposalSegmenter` around ``CHM(tv_weight=0)``, the
   default of ``chm train``), predict the training images, and take
   ``--step`` suggestions per image (:func:`chm.labeling.suggest_from_proba`),
   answered from the ground-truth masks;
3. repeat until ``--budget`` labeled pixels per image, then fit once more.

Strategies: ``MEASURE`` or ``MEASURE-sSIGMA`` (uncertainty measure of
:func:`chm.labeling.uncertainty`, smoothed over SIGMA pixels), optionally
``-pPOOL`` (of the POOL x ``--step`` most uncertain pixels of each image,
spread out, take the ones whose level-0 image features lie farthest from
every labeled pixel's and every pick's: greedy k-center, Sener & Savarese
2018, over all images, ``--step`` per image), optionally
followed by ``+prior``, ``+share`` and/or ``+epochs``: the rounds after the
first fit with the class shares (``CHM(class_prior=...)``) the first
round's model estimated (``+prior``) or the plain class shares of the first
round's random labels (``+share``: an unbiased sample of the pixels), and/or
the training length the first round's model chose from its random labels, instead of
re-estimating them from labels that are no longer a random sample (about
half the suggested pixels are horse, against a quarter of the pixels); and
``random``, the baseline: ``--budget`` random pixels per image, drawn at once
with the same seed. Every strategy's final model is scored on every pixel of
the test images; ``--eval-all`` scores the intermediate rounds too.

Each round is one run in ``--out/runs.jsonl``; the label maps it hands to
the next round are written to ``--out/labels/`` first, so an interrupted
benchmark resumes at the round it stopped in. Several invocations with
different ``--seeds`` may share one ``--out``.

Usage::

    python benchmarks/active.py --strategies margin random --seeds 0 1 2 \\
        --n-jobs 1 --out benchmarks/results/active_weizmann
"""
import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np
from _cli import json_dict
from _data import load_weizmann_or_synthetic
from _runs import RunLog, f1_of_class, run_all

import chm
from chm.class_prior import label_prior
from chm.datasets import sample_sparse_labels
from chm.labeling import Suggestions, suggest_from_proba
from chm.metrics import pixel_error
from chm.proposals import ProposalSegmenter

STRATEGY = re.compile(r"^(margin|entropy|least_confident)(?:-s(\d+(?:\.\d+)?))?(?:-p(\d+))?"
                      r"((?:\+prior|\+share|\+epochs)*)$")


def parse_strategy(name):
    """(measure, smooth, keep, pool) of a strategy name, or None for ``random``; ``keep``
    is the set of the first round's choices kept ("prior", "epochs"), ``pool`` the
    candidates per suggestion of the feature-diversity step (0: none)."""
    if name == "random":
        return None
    found = STRATEGY.match(name)
    if not found:
        raise ValueError(f"unknown strategy {name!r}: use random or "
                         "MEASURE[-sSIGMA][-pPOOL][+prior|+share][+epochs]")
    keep = set(found.group(4).split("+")) - {""}
    if {"prior", "share"} <= keep:
        raise ValueError(f"{name}: +prior and +share both set the class shares")
    return found.group(1), float(found.group(2) or 0), keep, int(found.group(3) or 0)


def rounds(args):
    """Labeled px per image at each round of an active strategy."""
    return list(range(args.start, args.budget, args.step)) + [args.budget]


def labels_path(out, strategy, seed, px):
    return Path(out) / "labels" / f"{strategy}_seed{seed}_px{px}.npz"


def save_labels(path, labels):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, *labels)
    tmp.replace(path)


def load_labels(path):
    with np.load(path) as stored:
        return [stored[f"arr_{i}"] for i in range(len(stored.files))]


def round_labels(strategy, seed, px, args, train_y):
    """The label maps a round trains on."""
    if strategy == "random":
        return sample_sparse_labels(train_y, px, random_state=seed)
    if px == args.start:
        return sample_sparse_labels(train_y, args.start, random_state=seed)
    path = labels_path(args.out, strategy, seed, px)
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run the earlier rounds of {strategy} seed {seed}")
    return load_labels(path)


def key_of(run):
    return run["strategy"], run["seed"], run["px"]


def kept_params(strategy, seed, px, args):
    """CHM parameters a later round takes from the first round's run (``+prior``, ``+share``,
    ``+epochs``)."""
    keep = set() if strategy == "random" or px == args.start else parse_strategy(strategy)[2]
    if not keep:
        return {}
    first = RunLog(args.out, key_of).latest().get((strategy, seed, args.start))
    if first is None:
        raise RuntimeError(f"the first round of {strategy} seed {seed} is not on disk")
    return {**({"class_prior": first["class_prior"]} if "prior" in keep else {}),
            **({"class_prior": first["label_prior"]} if "share" in keep else {}),
            **({"epochs": first["epochs"]} if "epochs" in keep else {})}


def level0_features(model, image):
    """Normalised level-0 image features of a fitted CHM: (h, w, F) at the working resolution."""
    from chm.estimator import working_image

    feats = model.bank_(working_image(image, float(model.downscale), int(model.n_levels)))
    return model.units_[0].normalizer.transform(feats)


def at_pixels(feats, rows, cols, downscale):
    """Rows of level-0 features ``feats`` at input pixels (rows, cols)."""
    r = np.minimum((rows / downscale).astype(np.int64), feats.shape[0] - 1)
    c = np.minimum((cols / downscale).astype(np.int64), feats.shape[1] - 1)
    return feats[r, c]


def _min_sq_distance(A, B, block=4096):
    """For each row of A, the smallest squared Euclidean distance to a row of B."""
    out = np.full(len(A), np.inf)
    b2 = (B.astype(np.float64) ** 2).sum(axis=1)
    for start in range(0, len(A), block):
        a = A[start:start + block].astype(np.float64)
        d = (a ** 2).sum(axis=1)[:, None] - 2 * a @ B.T.astype(np.float64) + b2[None]
        out[start:start + block] = d.min(axis=1)
    return out


def farthest_in_features(model, images, labels, pools, n, rng):
    """Of each image's candidate pool, ``n`` picks by greedy k-center in feature space:
    round by round, every image (in random order) takes its candidate farthest from
    every labeled pixel and every earlier pick, of any image."""
    ds = float(model.downscale)
    feats = [level0_features(model, im) for im in images]
    labeled = np.concatenate([at_pixels(f, *np.nonzero(lab >= 0), ds)
                              for f, lab in zip(feats, labels)])
    C = np.concatenate([at_pixels(f, s.rows, s.cols, ds) for f, s in zip(feats, pools)])
    dist = _min_sq_distance(C, labeled)
    offsets = np.cumsum([0] + [len(s.rows) for s in pools])
    chosen = [[] for _ in pools]
    for _ in range(n):
        for i in rng.permutation(len(pools)):
            lo, hi = offsets[i], offsets[i + 1]
            free = [j for j in range(lo, hi) if j - lo not in chosen[i]]
            if not free:
                continue
            j = max(free, key=lambda j: dist[j])
            chosen[i].append(j - lo)
            dist = np.minimum(dist, ((C - C[j]) ** 2).sum(axis=1))
    return [Suggestions(s.rows[k], s.cols[k], s.uncertainty[k])
            for s, k in zip(pools, (np.asarray(c, np.int64) for c in chosen))]


def run_one(strategy, seed, px, args, data):
    train_x, train_y, test_x, test_y = data
    labels = round_labels(strategy, seed, px, args, train_y)
    params = {**args.chm_params, **kept_params(strategy, seed, px, args)}
    model = chm.CHM(random_state=seed, n_jobs=args.n_jobs, **params)
    if args.model == "potts":
        model = ProposalSegmenter(model.set_params(tv_weight=0.0), random_state=seed,
                                  n_jobs=args.n_jobs)
    t0 = time.perf_counter()
    model.fit(train_x, labels)
    fitted = getattr(model, "estimator_", model)  # the CHM (the last refit, for potts)
    run = {"strategy": strategy, "seed": seed, "px": px, "model": args.model,
           "labeled_px_per_image": float(np.mean([(lab >= 0).sum() for lab in labels])),
           "fit_seconds": time.perf_counter() - t0, "epochs": getattr(fitted, "epochs_", None),
           "label_prior": fitted.label_prior_.tolist(),
           "class_prior": fitted.class_prior_.tolist()}
    if args.model == "potts":
        # the final CHM was fitted on the labels plus proposals: +share wants the labels' own shares
        indices = [np.where(lab >= 0, np.searchsorted(model.classes_, lab), -1) for lab in labels]
        run.update(label_prior=label_prior(indices, len(model.classes_)).tolist(),
                   potts_lambda=float(model.weight_))
    if px == args.budget or args.eval_all:
        t0 = time.perf_counter()
        preds = model.predict(test_x)
        run.update(pixel_error=pixel_error(preds, test_y), f1_class1=f1_of_class(preds, test_y),
                   predict_seconds=time.perf_counter() - t0)
    if strategy != "random" and px < args.budget:
        measure, smooth, _, pool = parse_strategy(strategy)
        t0 = time.perf_counter()
        proba = model.predict_proba(train_x)
        n_new = min(args.step, args.budget - px)
        found = suggest_from_proba(proba, n_new * max(pool, 1), labels=labels,
                                   min_distance=args.min_distance, measure=measure,
                                   smooth=smooth, random_state=1000 * seed + px)
        if pool:
            found = farthest_in_features(fitted, train_x, labels, found, n_new,
                                         np.random.RandomState(1000 * seed + px))
        new, wrong, asked = [], 0, 0
        for lab, mask, p, s in zip(labels, train_y, proba, found):
            lab = lab.copy()
            answers = mask[s.rows, s.cols]
            wrong += int(np.sum(np.argmax(p[s.rows, s.cols], axis=-1) != answers))
            asked += len(answers)
            lab[s.rows, s.cols] = answers
            new.append(lab)
        save_labels(labels_path(args.out, strategy, seed, px + args.step), new)
        run.update(suggest_seconds=time.perf_counter() - t0, suggested=asked,
                   suggested_wrong_share=wrong / max(asked, 1))
    return run


def summary(runs, budget):
    """Markdown: mean +- std test error per strategy and round, and the gap to random."""
    cells = {}
    for r in runs:
        if "pixel_error" in r:
            cells.setdefault((r["strategy"], r["px"]), []).append(r)
    lines = ["| strategy | labeled px/img | pixel error (%) | F1 horse | draws (seeds) |"
             " suggestions the model had wrong |", "|---|---|---|---|---|---|"]
    for (strategy, px), rs in sorted(cells.items()):
        err = 100 * np.array([r["pixel_error"] for r in rs])
        sd = f" ± {err.std(ddof=1):.2f}" if len(rs) > 1 else ""
        seeds = ", ".join(str(r["seed"]) for r in sorted(rs, key=lambda r: r["seed"]))
        asked = [r["suggested_wrong_share"] for r in runs if r["strategy"] == strategy
                 and "suggested_wrong_share" in r and r["seed"] in {x["seed"] for x in rs}]
        wrong = f"{100 * np.mean(asked):.0f} %" if asked else "–"
        lines.append(f"| {strategy} | {px} | {err.mean():.2f}{sd} | "
                     f"{np.mean([r['f1_class1'] for r in rs]):.3f} | {len(rs)} ({seeds}) | "
                     f"{wrong} |")
    base = {r["seed"]: r["pixel_error"] for r in cells.get(("random", budget), [])}
    gaps = []
    for (strategy, px), rs in sorted(cells.items()):
        paired = [100 * (base[r["seed"]] - r["pixel_error"]) for r in rs if r["seed"] in base]
        if strategy != "random" and px == budget and paired:
            seeds = sorted(r["seed"] for r in rs if r["seed"] in base)
            gaps.append(f"- {strategy}: {np.mean(paired):.2f} points below random at {budget} "
                        f"px/img (paired over seeds {seeds}; per seed "
                        + ", ".join(f"{g:.2f}" for g in paired) + ")")
    return "\n".join(lines + [""] + gaps)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", nargs="+", default=["margin", "random"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--start", type=int, default=2)
    parser.add_argument("--step", type=int, default=2)
    parser.add_argument("--budget", type=int, default=10)
    parser.add_argument("--min-distance", type=float, default=8.0)
    parser.add_argument("--train-images", type=int, default=None,
                        help="use only the first N training images (a quick pilot)")
    parser.add_argument("--test-images", type=int, default=None)
    parser.add_argument("--eval-all", action="store_true",
                        help="score every round on the test images, not only the last")
    parser.add_argument("--chm-params", default="{}",
                        help="JSON object of CHM parameters other than the defaults")
    parser.add_argument("--synthetic", type=int, default=None, metavar="N",
                        help="N tiny synthetic train and N test images instead (a smoke test)")
    parser.add_argument("--model", choices=("chm", "potts"), default="chm",
                        help="chm: chm.CHM() (TV); potts: the Potts-proposal CHM, "
                             "ProposalSegmenter(CHM(tv_weight=0)), the default of chm train")
    parser.add_argument("--n-jobs", type=int, default=-1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    args.chm_params = json_dict(parser, args.chm_params, "--chm-params",
                                drop=("random_state", "n_jobs"))
    for strategy in args.strategies:
        parse_strategy(strategy)
    if not 1 <= args.start <= args.budget or args.step < 1:
        parser.error("need 1 <= --start <= --budget and --step >= 1")

    train_x, train_y, test_x, test_y = load_weizmann_or_synthetic(args.synthetic)
    data = (train_x[:args.train_images], train_y[:args.train_images],
            test_x[:args.test_images], test_y[:args.test_images])
    keys = [(strategy, seed, px) for seed in args.seeds for strategy in args.strategies
            for px in ([args.budget] if strategy == "random" else rounds(args))]
    t_all = time.perf_counter()
    run_all(args.out, keys, key_of,
            lambda key: run_one(*key, args, data),
            lambda r: (f"{r['strategy']} seed {r['seed']} at {r['px']} px/img: fit "
                       f"{r['fit_seconds']:.0f} s"
                       + (f", error {100 * r['pixel_error']:.2f} %" if "pixel_error" in r else "")
                       + (f", {100 * r['suggested_wrong_share']:.0f} % of the suggestions were "
                          "wrong" if "suggested_wrong_share" in r else "")))
    table = summary(RunLog(args.out).read(), args.budget)
    command = "python benchmarks/active.py " + " ".join(sys.argv[1:] if argv is None else argv)
    (Path(args.out) / "active.md").write_text(
        f"{table}\n\nCommand (this invocation, {time.perf_counter() - t_all:.0f} s): "
        f"`{command}`\n")
    print(table)


if __name__ == "__main__":
    main()
