"""Table 1 of Javanmardi et al. 2016 on Weizmann Horse: pixel error vs labeled pixels.

Protocol: gray images, sorted by name; the first 164 train, the last 164 test.
For every size (labeled pixels per training image) and every draw of the
sparse labels (the draw's seed is also the models' ``random_state``), each
method is trained on the sparse labels and scored by its pixel error on all
pixels of the test images:

- ``supervised``: CHM with ``tv_weight=0``;
- ``supervised+mrf``: the same model followed by a Potts MRF
  (:class:`chm.mrf.MRFSegmenter`, ``cv=3``), its smoothing weight lambda
  chosen by cross-validation over held-out *labeled* training pixels only.
  When ``supervised`` is run too, both come from the same trial: the MRF's
  final fit on all labels *is* the supervised model (same data, same seed),
  so it is fitted once and scored with and without the MRF;
- ``supervised+l2``: CHM with ``tv_weight=0`` and ``weight_decay=--l2``, a
  fixed value (not tuned on the test set, nor on anything else);
- ``tv``: CHM with its default total-variation weight;
- ``forest``: the pixel classifier of scikit-image's trainable segmentation
  and ilastik (:class:`chm.baselines.ForestSegmenter`: a random forest on
  multi-scale intensity, gradient and Hessian features, default settings);
- ``dense``: a dense-label reference, CHM with ``tv_weight=0`` trained with
  every training pixel labeled (or ``--dense-px`` random pixels per image);
  run once per seed, not per size.

Trials (size x seed x method) run in parallel (joblib), each model on one
core; every trial is deterministic given its seed.

Outputs in ``--out``: ``table1.md`` (mean +- std over the draws, in %, next to
the paper's figures, with the command line and wall time), ``runs.csv`` (one
line per run), ``fig1_error_vs_labeled.png``, ``fig2_samples.png``.

Usage::

    python benchmarks/table1_weizmann.py                 # the full table (hours)
    python benchmarks/table1_weizmann.py --quick         # 10 px, seed 0, 3 methods
    python benchmarks/table1_weizmann.py --sizes 10 50 --seeds 0 1 --methods supervised tv \\
        --chm-params '{"epochs": 10}'
    python benchmarks/table1_weizmann.py --quick --synthetic 8   # tiny synthetic data
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

import _harness  # noqa: E402

_harness.ship_by_value(__name__)

METHODS = ("supervised", "supervised+mrf", "supervised+l2", "tv", "forest", "dense")
QUICK_METHODS = ("supervised", "supervised+mrf", "tv")
SIZES = (10, 20, 30, 40, 50)
SEEDS = (0, 1, 2, 3, 4)
N_TRAIN = 164
MRF_CV = 3

#: Published pixel errors (fractions), Javanmardi et al. 2016, Table 1.
PAPER = {
    "supervised": {10: 0.2381},
    "supervised+mrf": {10: 0.1992},
    "tv": {10: 0.1198, 20: 0.1103, 30: 0.1030, 40: 0.0996, 50: 0.0978},
}
PAPER_DENSE = 0.0573

NAMES = {
    "supervised": "supervised",
    "supervised+mrf": "supervised + MRF",
    "supervised+l2": "supervised + L2",
    "tv": "TV",
    "forest": "RF (scikit-image features)",
    "dense": "dense labels",
}

DEFAULT_OUT = _HERE / "results" / "table1_weizmann"


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------
def _synthetic(n):
    """``n`` tiny two-class images of shapes on a background, with masks."""
    try:
        from chm.synthetic import make_shapes
    except ImportError:  # pragma: no cover - fallback when the generator is absent
        rng = np.random.RandomState(0)
        images, masks = [], []
        for _ in range(n):
            rr, cc = np.mgrid[0:32, 0:40]
            cy, cx = rng.uniform(10, 22), rng.uniform(12, 28)
            mask = (((rr - cy) / 8) ** 2 + ((cc - cx) / 10) ** 2 <= 1).astype(np.int64)
            image = 0.3 + 0.4 * mask + 0.1 * rng.standard_normal(mask.shape)
            images.append(np.clip(image, 0, 1).astype(np.float32))
            masks.append(mask)
        return images, masks
    return make_shapes(n_images=n, shape=(32, 40), n_classes=2, n_shapes=3, random_state=0)


def load_data(data):
    """(train images, train masks, test images, test masks) of a data spec.

    ``data`` is ``{"synthetic": N}`` (N tiny synthetic images, the first half
    train, the rest test) or ``{"root": path or None}`` (Weizmann Horse, gray,
    sorted names: the first 164 train, the last 164 test).
    """
    if data.get("synthetic"):
        n = int(data["synthetic"])
        images, masks = _synthetic(n)
        half = n // 2
        return images[:half], masks[:half], images[half:], masks[half:]
    from chm.datasets import load_weizmann_horse

    images, masks = load_weizmann_horse(data.get("root"), color=False)
    n_test = len(images) - N_TRAIN
    if n_test < 1:
        raise ValueError(f"Weizmann Horse has {len(images)} images, need more than {N_TRAIN}")
    return images[:N_TRAIN], masks[:N_TRAIN], images[-n_test:], masks[-n_test:]


# ---------------------------------------------------------------------------
# one trial
# ---------------------------------------------------------------------------
def _chm(config, seed, **override):
    from chm.estimator import CHM

    params = {**config["chm_params"], **override, "random_state": seed, "n_jobs": 1, "verbose": 0,
              "memory": config.get("feature_cache")}
    return CHM(**params)


def _timed_predict(model, images):
    t0 = time.perf_counter()
    maps = model.predict(images)
    return maps, time.perf_counter() - t0


def weizmann_trial(method, n_labeled, seed, _config, _with_supervised=False, _panels=None):
    """Fit and score one method on one draw of the sparse labels.

    Parameters
    ----------
    method : one of :data:`METHODS`
    n_labeled : int or "all"
        Labeled pixels per training image (for ``dense``: the pixels kept
        per image, ``"all"`` for every pixel).
    seed : int
        Seed of the label draw and the model's ``random_state``.
    _config : dict
        ``data`` (see :func:`load_data`), ``chm_params`` (shared CHM
        parameters), ``l2`` (weight decay of ``supervised+l2``).
    _with_supervised : bool
        For ``supervised+mrf``: also report the supervised model (the MRF's
        final fit) as a ``supervised`` run.
    _panels : list of int or None
        Test images whose label maps are returned (``_maps``) for figures.

    Returns
    -------
    list of dict
        ``pixel_error``, ``fit_seconds``, ``predict_seconds`` and
        method-specific information.
    """
    from chm.datasets import sample_sparse_labels

    train_x, train_y, test_x, test_y = load_data(_config["data"])
    if method == "dense":
        labels = (train_y if n_labeled == "all"
                  else sample_sparse_labels(train_y, int(n_labeled), random_state=seed))
    else:
        labels = sample_sparse_labels(train_y, int(n_labeled), random_state=seed)
    n_px = int(sum(int((lab >= 0).sum()) for lab in labels))

    if method == "supervised+mrf":
        runs, _ = _harness.mrf_trial(
            _chm(_config, seed, tv_weight=0.0), train_x, labels, test_x, test_y, _panels,
            cv=MRF_CV, cv_images=_config.get("mrf_cv_images"), random_state=seed,
            plain_method="supervised" if _with_supervised else None, n_train_px=n_px)
        return runs

    if method in ("supervised", "dense"):
        model = _chm(_config, seed, tv_weight=0.0)
    elif method == "supervised+l2":
        model = _chm(_config, seed, tv_weight=0.0, weight_decay=float(_config["l2"]))
    elif method == "tv":
        model = _chm(_config, seed)
    elif method == "forest":
        from chm.baselines import ForestSegmenter

        model = ForestSegmenter(random_state=seed, n_jobs=1)
    else:
        raise ValueError(f"unknown method {method!r}")
    t0 = time.perf_counter()
    model.fit(train_x, labels)
    fit_s = time.perf_counter() - t0
    maps, pred_s = _timed_predict(model, test_x)
    extra = {"n_train_px": n_px}
    if method != "forest":
        extra["tv_weight"] = float(model.tv_weight)
    if method == "supervised+l2":
        extra["weight_decay"] = float(model.weight_decay)
    return [_harness.trial_result(maps, test_y, fit_s, pred_s, _panels, **extra)]


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help=f"labeled pixels per training image (default {' '.join(map(str, SIZES))})")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help=f"label draws = model seeds (default {' '.join(map(str, SEEDS))})")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=None,
                        help="methods to run (default: all)")
    parser.add_argument("--l2", type=float, default=1e-3,
                        help="fixed weight decay of supervised+l2 (default 1e-3)")
    parser.add_argument("--dense-px", type=int, default=2000,
                        help="labeled pixels per image of the dense reference; 0 = every pixel "
                             "(default 2000)")
    parser.add_argument("--chm-params", default="{}",
                        help="JSON dict of CHM parameters shared by all methods, e.g. "
                             "'{\"epochs\": 10}' (random_state and n_jobs are set per trial)")
    _harness.add_mrf_cv_images_argument(parser)
    parser.add_argument("--n-jobs", type=int, default=-1, help="parallel trials (-1 = all cores)")
    _harness.add_feature_cache_argument(parser)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--data-root", default=None,
                        help="data folder holding weizmann_horse_db/ (default: chm.datasets.data_root)")
    parser.add_argument("--synthetic", type=int, default=None, metavar="N",
                        help="use N tiny synthetic images instead (half train, half test)")
    parser.add_argument("--quick", action="store_true",
                        help="one size (10), one draw (seed 0), methods supervised, "
                             "supervised+mrf, tv (explicit options still win)")
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = [10] if args.quick else list(SIZES)
    if args.seeds is None:
        args.seeds = [0] if args.quick else list(SEEDS)
    if args.methods is None:
        args.methods = list(QUICK_METHODS if args.quick else METHODS)
    args.methods = [m for m in METHODS if m in args.methods]
    args.sizes = sorted(set(args.sizes))
    args.seeds = list(dict.fromkeys(args.seeds))
    args.chm_params = _harness.json_dict(parser, args.chm_params, "--chm-params",
                                         drop=("random_state", "n_jobs", "verbose"))
    if args.synthetic is not None and args.synthetic < 2:
        parser.error("--synthetic needs at least 2 images")
    if any(s < 1 for s in args.sizes) or args.dense_px < 0:
        parser.error("--sizes must be >= 1 and --dense-px >= 0")
    return args


def make_trials(args, config, panels):
    """Trial dicts, the slowest (MRF cross-validation) first."""
    methods = args.methods
    shared = "supervised+mrf" in methods and "supervised" in methods
    first = (args.sizes[0], args.seeds[0])
    trials = []
    order = ["supervised+mrf", "dense", "tv", "forest", "supervised+l2", "supervised"]
    for method in order:
        if method not in methods or (method == "supervised" and shared):
            continue
        if method == "dense":
            n = "all" if args.dense_px == 0 else args.dense_px
            for seed in args.seeds:
                trials.append({"method": method, "n_labeled": n, "seed": seed, "_config": config})
            continue
        for size in args.sizes:
            for seed in args.seeds:
                t = {"method": method, "n_labeled": size, "seed": seed, "_config": config}
                if method == "supervised+mrf" and shared:
                    t["_with_supervised"] = True
                if (size, seed) == first and method in ("supervised", "supervised+mrf", "tv"):
                    t["_panels"] = panels
                trials.append(t)
    return trials


def _default_tv_weight():
    from chm.estimator import CHM

    return CHM().tv_weight


def write_report(args, runs, wall, argv, out):
    """table1.md, runs.csv and fig1; returns the markdown text."""
    ok = [r for r in runs if r["status"] == "ok"]
    failed = [r for r in runs if r["status"] != "ok"]
    sparse = [m for m in args.methods if m != "dense"]
    cols = list(args.methods)

    def row_of(run):
        return "dense" if run["method"] == "dense" else run["n_labeled"]

    cells = _harness.aggregate(ok, row_of, "method", "pixel_error")
    rows = list(args.sizes) + (["dense"] if "dense" in args.methods else [])
    dense_label = ("dense (all px)" if args.dense_px == 0
                   else f"dense ({args.dense_px} px/img)")
    row_names = {"dense": dense_label}
    ours = _harness.mean_std_table(cells, rows, cols, row_label="labeled px / image",
                                   row_names=row_names, col_names=NAMES)

    paper_cells = {(x, m): (v, float("nan"), 1) for m, d in PAPER.items() for x, v in d.items()}
    paper_cells[("dense", "dense")] = (PAPER_DENSE, float("nan"), 1)
    paper_rows = list(SIZES) + ["dense"]
    paper_cols = ["supervised", "supervised+mrf", "supervised+l2", "tv", "dense"]
    paper = _harness.mean_std_table(paper_cells, paper_rows, paper_cols,
                                    row_label="labeled px / image",
                                    row_names={"dense": "dense (all px)"}, col_names=NAMES)

    times = _harness.aggregate(ok, "method", lambda r: "fit", "fit_seconds")
    ptimes = _harness.aggregate(ok, "method", lambda r: "predict", "predict_seconds")
    time_rows = []
    for m in cols:
        f = times.get((m, "fit"))
        p = ptimes.get((m, "predict"))
        if f:
            time_rows.append([NAMES[m], f"{f[0]:.1f}", f"{p[0]:.1f}" if p else "—", f[2]])
    time_table = _harness.markdown_table(["method", "mean fit (s)", "mean predict (s)", "runs"],
                                         time_rows)

    lambdas = [r["mrf_lambda"] for r in ok if r["method"] == "supervised+mrf"]
    data_desc = (f"{args.synthetic} synthetic images (chm.synthetic.make_shapes, half train, "
                 f"half test) — NOT Weizmann Horse" if args.synthetic
                 else f"Weizmann Horse, gray, sorted names: first {N_TRAIN} train, last "
                      f"{N_TRAIN} test (data folder: {_harness.data_folder(args.data_root)})")
    chm_desc = json.dumps(args.chm_params) if args.chm_params else "CHM defaults"
    describe = {
        "supervised": "- supervised: CHM(tv_weight=0)."
        + (" Reported from the supervised + MRF trial: the MRF's final fit on all labels is "
           "this model (same data and seed)." if "supervised+mrf" in args.methods else ""),
        "supervised+mrf": _harness.mrf_note(NAMES["supervised+mrf"], "the supervised", "graph cut",
                                            MRF_CV, args.mrf_cv_images, lambdas),
        "supervised+l2": f"- supervised + L2: CHM(tv_weight=0, weight_decay={args.l2:g}); the "
        f"weight decay is a fixed value given by `--l2`, not tuned.",
        "tv": f"- TV: CHM with tv_weight={args.chm_params.get('tv_weight', _default_tv_weight()):g}"
        + (" (from --chm-params)." if "tv_weight" in args.chm_params else " (the default)."),
        "forest": _harness.FOREST_NOTE,
        "dense": "- dense labels: CHM(tv_weight=0) trained with "
        + ("every training pixel labeled" if args.dense_px == 0
           else f"{args.dense_px} random labeled pixels per training image (all pixels known)")
        + ", one run per draw seed.",
    }
    lines = [
        "# Table 1 — Weizmann Horse, pixel error (%) vs labeled pixels per training image"
        + (" (SYNTHETIC DATA)" if args.synthetic else ""),
        "",
        f"- Data: {data_desc}.",
        f"- Sizes: {', '.join(map(str, args.sizes))} labeled px per training image; "
        f"draws (seed of the labels and of the model): {', '.join(map(str, args.seeds))}.",
        f"- Cells: mean ± sample std over the draws of the pixel error on all test pixels "
        f"(mean alone for a single draw).",
        f"- Shared CHM parameters: {chm_desc}; `random_state` = draw seed, `n_jobs=1`.",
        *[describe[m] for m in args.methods],
        "",
        "## This run",
        "",
        ours,
        "",
        "## Paper (Javanmardi et al. 2016, Table 1)",
        "",
        paper,
        "",
        "## Time per run (one core each)",
        "",
        time_table,
        "",
    ]
    lines += _harness.footer_lines(failed, wall, len(runs), args.n_jobs, argv, __file__,
                                   lambda r: f"{r['method']} n_labeled={r['n_labeled']} seed={r['seed']}")
    text = "\n".join(lines)
    (out / "table1.md").write_text(text)

    _harness.write_csv(out / "runs.csv", runs,
                       columns=["method", "n_labeled", "seed", "pixel_error", "fit_seconds",
                                "predict_seconds", "status"])

    refs, curve_cells = _harness.split_dense(cells, dense_label)
    refs["dense CHM (paper)"] = (PAPER_DENSE, None)
    _harness.plot_error_curves(
        out / "fig1_error_vs_labeled.png", curve_cells, list(args.sizes), sparse,
        references=refs, paper={m: PAPER[m] for m in sparse if m in PAPER}, names=NAMES,
        title="Weizmann Horse" + (" (synthetic data)" if args.synthetic else ""))
    return text


def write_samples(path, args, runs, test_x, test_y, panels):
    """Fig. 2-style panels at the smallest size and first seed."""
    from chm.plotting import save_panels

    size, seed = args.sizes[0], args.seeds[0]
    columns = {}
    for method in ("supervised", "supervised+mrf", "tv"):
        for r in runs:
            if (r["method"] == method and r["n_labeled"] == size and r["seed"] == seed
                    and r["status"] == "ok" and "_maps" in r):
                columns[f"{NAMES[method]} ({100 * r['pixel_error']:.1f}%)"] = \
                    [r["_maps"][i] for i in panels]
    if not columns:
        return False
    columns["ground truth"] = [test_y[i] for i in panels]
    save_panels(path, [test_x[i] for i in panels], columns)
    return True


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    data = {"synthetic": args.synthetic} if args.synthetic else {"root": args.data_root}
    train_x, train_y, test_x, test_y = load_data(data)
    panels = _harness.panel_indices(len(test_x), 5)
    config = {"data": data, "chm_params": args.chm_params, "l2": args.l2,
              "mrf_cv_images": args.mrf_cv_images}
    with _harness.feature_cache(args.feature_cache) as cache:
        config["feature_cache"] = cache
        trials = make_trials(args, config, panels)
        runs = _run(args, trials, len(train_x), len(test_x))
    wall = time.perf_counter() - t_start
    text = write_report(args, runs, wall, argv, out)
    if write_samples(out / "fig2_samples.png", args, runs, test_x, test_y, panels):
        print(f"samples: {out / 'fig2_samples.png'}")
    return _harness.finish(text, out, runs)


def _run(args, trials, n_train, n_test):
    print(f"{'synthetic' if args.synthetic else 'Weizmann Horse'}: {n_train} train / "
          f"{n_test} test images; sizes {args.sizes}, seeds {args.seeds}, "
          f"methods {args.methods}; {len(trials)} trials, n_jobs={args.n_jobs}", flush=True)
    if "supervised+l2" in args.methods:
        print(f"supervised+l2 uses the fixed weight decay {args.l2:g} (--l2), not tuned", flush=True)
    if args.chm_params:
        print(f"shared CHM parameters: {json.dumps(args.chm_params)}", flush=True)

    return _harness.run_trials(
        weizmann_trial, trials, n_jobs=args.n_jobs,
        progress_keys=["method", "n_labeled", "seed", "pixel_error", "fit_seconds",
                       "predict_seconds", "mrf_lambda"])


if __name__ == "__main__":
    sys.exit(main())
