"""Report of the Stanford Background Table 2 benchmark: table2.md, runs.csv, figures 3 and 4."""
import json

from _cli import data_folder
from _figures import plot_error_curves
from _methods import STANFORD_METHODS
from _mrf import mrf_note
from _report import (FOREST_NOTE, aggregate, footer_lines, markdown_table, mean_std_table,
                     split_dense, write_csv)

NAMES = STANFORD_METHODS.titles()

#: Published pixel errors (fractions), Javanmardi et al. 2016, Table 2.
PAPER = {
    "supervised": {10: 0.3998},
    "tv": {10: 0.2619, 20: 0.2433, 30: 0.2361, 40: 0.2313, 50: 0.2279},
}
PAPER_SIZES = (10, 20, 30, 40, 50)

#: Fixed colours of the 8 classes in the sample figure (unknown pixels: black).
PALETTE = (
    ("sky", "#87ceeb"),
    ("tree", "#1b7a1b"),
    ("road", "#808080"),
    ("grass", "#9acd32"),
    ("water", "#1f4fd1"),
    ("building", "#b5442c"),
    ("mountain", "#8b5fbf"),
    ("foreground object", "#ffd92f"),
)

#: Leading columns of runs.csv.
CSV_COLUMNS = ["method", "n_labeled", "fold", "seed", "pixel_error", "fit_seconds",
               "train_images_per_s", "predict_seconds", "mrf_lambda", "mrf_cv_accuracy",
               "n_train_images", "n_test_images", "n_train_px", "tv_weight", "device", "status"]


def _describe(run):
    return f"{run['method']} n_labeled={run['n_labeled']} fold={run['fold']} seed={run['seed']}"


def write_report(args, runs, wall, argv, out, n_images, *, n_folds, script, mrf_cv, fold_seed):
    """table2.md, runs.csv and fig3 in ``out``; returns the markdown text.

    ``args`` are the parsed options of ``table2_stanford.py``, ``runs`` the
    runs of the table, ``wall`` its wall time, ``n_images`` the images the
    ``n_folds`` folds are made over, ``script`` the path of the script (for
    the command line), ``mrf_cv`` the folds of the lambda search and
    ``fold_seed`` the seed of the cross-validation folds.
    """
    ok = [r for r in runs if r["status"] == "ok"]
    failed = [r for r in runs if r["status"] != "ok"]
    sparse = [m for m in args.methods if m != "dense"]

    def row_of(run):
        return "dense" if run["method"] == "dense" else run["n_labeled"]

    cells = aggregate(ok, row_of, "method", "pixel_error")
    rows = list(args.sizes) + (["dense"] if "dense" in args.methods else [])
    dense_label = ("dense (all known px)" if args.dense_px == 0
                   else f"dense ({args.dense_px} px/img)")
    paper_cols = {"paper:supervised": "supervised (paper)", "paper:tv": "TV (paper)"}
    table_cells = dict(cells)
    for col, method in (("paper:supervised", "supervised"), ("paper:tv", "tv")):
        for x, v in PAPER[method].items():
            table_cells[(x, col)] = (v, float("nan"), 1)
    ours = mean_std_table(table_cells, rows, list(args.methods) + list(paper_cols),
                          row_label="labeled px / image", row_names={"dense": dense_label},
                          col_names={**NAMES, **paper_cols})
    paper_cells = {(x, m): (v, float("nan"), 1) for m, d in PAPER.items() for x, v in d.items()}
    paper = mean_std_table(paper_cells, list(PAPER_SIZES), ["supervised", "tv"],
                           row_label="labeled px / image", col_names=NAMES)

    fit = aggregate(ok, "method", lambda r: "fit", "fit_seconds")
    pred = aggregate(ok, "method", lambda r: "predict", "predict_seconds")
    speed = aggregate(ok, "method", lambda r: "speed", "train_images_per_s")
    time_rows = []
    for m in args.methods:
        f, p, s = fit.get((m, "fit")), pred.get((m, "predict")), speed.get((m, "speed"))
        if f:
            time_rows.append([NAMES[m], f"{f[0]:.1f}", f"{p[0]:.1f}" if p else "—",
                              f"{s[0]:.1f}" if s else "—", f[2]])
    time_table = markdown_table(
        ["method", "mean fit (s)", "mean predict (s)", "training images/s", "runs"], time_rows)

    devices = sorted({r["device"] for r in ok if r.get("device")})
    if args.synthetic:
        data_desc = (f"{args.synthetic} synthetic 4-class RGB images (chm.synthetic.make_shapes) "
                     f"— NOT Stanford Background")
    else:
        data_desc = (f"Stanford Background (data folder: {data_folder(args.data_root)}), "
                     + (f"the first {n_images} images only (sorted names) — NOT the full 715"
                        if args.n_images else f"{n_images} images"))
    convnet_desc = json.dumps(args.convnet_params)
    chm_desc = json.dumps(args.chm_params) if args.chm_params else "CHM defaults"
    with_chm = any(m in STANFORD_METHODS.names("chm") for m in args.methods)
    with_convnet = any(m in STANFORD_METHODS.names("convnet") for m in args.methods)
    describe = {
        "supervised": "- supervised: ConvNet(tv_weight=0)." + _shared_note(args, "supervised"),
        "supervised+mrf": _mrf_note(args, ok, "supervised+mrf", "the supervised", mrf_cv),
        "tv": lambda: f"- TV: ConvNet with tv_weight={_tv_weight(args, 'tv')}.",
        "dense": "- dense labels: ConvNet(tv_weight=0) trained with "
        + ("every known training pixel labeled" if args.dense_px == 0
           else f"{args.dense_px} random known pixels per training image")
        + ", one run per fold and draw.",
        "chm-supervised": "- CHM supervised: CHM(tv_weight=0)."
        + _shared_note(args, "chm-supervised"),
        "chm-supervised+mrf": _mrf_note(args, ok, "chm-supervised+mrf", "the CHM supervised",
                                        mrf_cv),
        "chm-tv": lambda: f"- CHM + TV: CHM with tv_weight={_tv_weight(args, 'chm-tv')}.",
        "forest": FOREST_NOTE,
    }
    palette = ", ".join(f"{name} {color}" for name, color in PALETTE)
    lines = [
        "# Table 2 — Stanford Background, pixel error (%) vs labeled pixels per training image"
        + (" (SYNTHETIC DATA)" if args.synthetic else ""),
        "",
        f"- Data: {data_desc}; {n_folds}-fold cross-validation over seeded random folds "
        f"(chm.datasets.stanford_folds, seed {fold_seed}); folds run: "
        f"{', '.join(map(str, args.folds))}.",
        f"- Sizes: {', '.join(map(str, args.sizes))} labeled px per training image; "
        f"draws (seed of the labels and of the models): {', '.join(map(str, args.seeds))}.",
        "- Cells: mean ± sample std over folds x draws of the pixel error on all known pixels "
        "of the fold's test images (mean alone for a single run).",
        f"- Shared ConvNet parameters: {convnet_desc}; `random_state` = draw seed; "
        f"device: {', '.join(devices) or '—'}." if with_convnet else None,
        f"- Shared CHM parameters: {chm_desc}; `random_state` = draw seed." if with_chm else None,
        *[describe[m]() if callable(describe[m]) else describe[m] for m in args.methods],
        "",
        "## This run",
        "",
        ours,
        "",
        "## Paper (Javanmardi et al. 2016, Table 2)",
        "",
        paper,
        "",
        "## Time per run",
        "",
        "Training images/s: training images x epochs / fit seconds, over all the fits of a run "
        f"(supervised + MRF: {mrf_cv} cross-validation fits and the final one; CHM: its epochs "
        "per stage classifier; RF: one pass).",
        "",
        time_table,
        "",
        f"Sample figure palette: {palette}; unknown pixels black.",
        "",
    ]
    lines = [line for line in lines if line is not None]
    lines += footer_lines(failed, wall, len(runs), args.n_jobs, argv, script, _describe)
    text = "\n".join(lines)
    (out / "table2.md").write_text(text)

    write_csv(out / "runs.csv", runs, columns=CSV_COLUMNS)

    refs, curve_cells = split_dense(cells, dense_label)
    plot_error_curves(
        out / "fig3_error_vs_labeled.png", curve_cells, list(args.sizes), sparse,
        references=refs, paper={m: PAPER[m] for m in ("supervised", "tv")}, names=NAMES,
        title="Stanford Background" + (" (synthetic data)" if args.synthetic else ""))
    return text


def _shared_note(args, method):
    """Says that ``method`` is reported from its MRF trial, when that one runs too."""
    host = {guest: host for host, guest in STANFORD_METHODS.hosts().items()}[method]
    if host not in args.methods:
        return ""
    return (" Reported from the " + NAMES[host] + " trial: the MRF's final fit on all labels is "
            "this model (same data and seed).")


def _mrf_note(args, ok, method, source, mrf_cv):
    """Report line of an MRF method (:func:`_mrf.mrf_note`)."""
    lambdas = [r["mrf_lambda"] for r in ok if r["method"] == method]
    fits = args.mrf_cv_fits if method.startswith("chm-") else "refit"  # the ConvNet has no fit_heldout
    return mrf_note(NAMES[method], source, "alpha-expansion", mrf_cv, args.mrf_cv_images,
                    lambdas, fits)


def _tv_weight(args, method):
    """``"0.1 (the default)"``: the total-variation weight of ``tv`` or ``chm-tv`` runs."""
    params = args.convnet_params if method == "tv" else args.chm_params
    if "tv_weight" in params:
        return f"{float(params['tv_weight']):g} (from the shared parameters)"
    if method == "tv":
        from chm.convnet import ConvNetSegmenter as cls
    else:
        from chm.estimator import CHM as cls
    return f"{cls().tv_weight:g} (the default)"


def palette_cmap():
    """The 8-colour map of the classes, black for unknown (negative) labels."""
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap([color for _, color in PALETTE], name="stanford")
    return cmap.with_extremes(under="black")


def write_samples(path, args, runs, test_x, test_y, panels):
    """Fig. 4-style panels (image, supervised, TV, truth) at the first size, fold and seed.

    Returns False when no label maps were kept.
    """
    from chm.plotting import save_panels

    size, fold, seed = args.sizes[0], args.folds[0], args.seeds[0]
    columns = {}
    for method in ("supervised", "tv"):
        for r in runs:
            if (r["method"] == method and r["n_labeled"] == size and r["fold"] == fold
                    and r["seed"] == seed and r["status"] == "ok" and "_maps" in r):
                columns[f"{NAMES[method]} ({100 * r['pixel_error']:.1f}%)"] = \
                    [r["_maps"][i] for i in panels]
    if not columns:
        return False
    columns["ground truth"] = [test_y[i] for i in panels]
    save_panels(path, [test_x[i] for i in panels], columns, cmap=palette_cmap(),
                n_classes=len(PALETTE))
    return True
