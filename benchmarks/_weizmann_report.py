"""Report of the Weizmann Horse Table 1 benchmark: table1.md, runs.csv, figures 1 and 2."""
import json

from _cli import data_folder
from _figures import plot_error_curves
from _methods import WEIZMANN_METHODS
from _mrf import mrf_note
from _report import (FOREST_NOTE, aggregate, footer_lines, markdown_table, mean_std_table,
                     split_dense, write_csv)

NAMES = WEIZMANN_METHODS.titles()

POTTS_NOTE = ("- Potts proposals: `chm.proposals.ProposalSegmenter(CHM(tv_weight=0))`, the "
              "Potts penalty trained by graph-cut proposals: lambda chosen on held-out labeled "
              "pixels, the training maps cut with it, the CHM refitted on the sparse labels plus "
              "100 pixels per image of the cuts, 2 px or more from their boundaries.")

#: Published pixel errors (fractions), Javanmardi et al. 2016, Table 1.
PAPER = {
    "supervised": {10: 0.2381},
    "supervised+mrf": {10: 0.1992},
    "tv": {10: 0.1198, 20: 0.1103, 30: 0.1030, 40: 0.0996, 50: 0.0978},
}
PAPER_DENSE = 0.0573
PAPER_SIZES = (10, 20, 30, 40, 50)

#: Leading columns of runs.csv.
CSV_COLUMNS = ["method", "n_labeled", "seed", "pixel_error", "fit_seconds", "predict_seconds",
               "status"]


def _default_tv_weight():
    from chm.estimator import CHM

    return CHM().tv_weight


def _describe(run):
    return f"{run['method']} n_labeled={run['n_labeled']} seed={run['seed']}"


def write_report(args, runs, wall, argv, out, *, script, n_train, mrf_cv, **timing):
    """table1.md, runs.csv and fig1 in ``out``; returns the markdown text.

    ``args`` are the parsed options of ``table1_weizmann.py``; ``runs`` the
    runs of the table (every run on disk and this session's failures);
    ``wall`` its wall time; ``timing`` the other keywords of
    :func:`_report.footer_lines`.
    """
    ok = [r for r in runs if r["status"] == "ok"]
    failed = [r for r in runs if r["status"] != "ok"]
    sparse = [m for m in args.methods if m != "dense"]
    cols = list(args.methods)

    def row_of(run):
        return "dense" if run["method"] == "dense" else run["n_labeled"]

    cells = aggregate(ok, row_of, "method", "pixel_error")
    rows = list(args.sizes) + (["dense"] if "dense" in args.methods else [])
    dense_label = ("dense (all px)" if args.dense_px == 0
                   else f"dense ({args.dense_px} px/img)")
    row_names = {"dense": dense_label}
    ours = mean_std_table(cells, rows, cols, row_label="labeled px / image",
                          row_names=row_names, col_names=NAMES)

    paper_cells = {(x, m): (v, float("nan"), 1) for m, d in PAPER.items() for x, v in d.items()}
    paper_cells[("dense", "dense")] = (PAPER_DENSE, float("nan"), 1)
    paper_rows = list(PAPER_SIZES) + ["dense"]
    paper_cols = ["supervised", "supervised+mrf", "supervised+l2", "tv", "dense"]
    paper = mean_std_table(paper_cells, paper_rows, paper_cols, row_label="labeled px / image",
                           row_names={"dense": "dense (all px)"}, col_names=NAMES)

    times = aggregate(ok, "method", lambda r: "fit", "fit_seconds")
    ptimes = aggregate(ok, "method", lambda r: "predict", "predict_seconds")
    time_rows = []
    for m in cols:
        f = times.get((m, "fit"))
        p = ptimes.get((m, "predict"))
        if f:
            time_rows.append([NAMES[m], f"{f[0]:.1f}", f"{p[0]:.1f}" if p else "—", f[2]])
    time_table = markdown_table(["method", "mean fit (s)", "mean predict (s)", "runs"], time_rows)

    lambdas = [r["mrf_lambda"] for r in ok if r["method"] == "supervised+mrf"]
    data_desc = (f"{args.synthetic} synthetic images (chm.synthetic.make_shapes, half train, "
                 f"half test) — NOT Weizmann Horse" if args.synthetic
                 else f"Weizmann Horse, gray, sorted names: first {n_train} train, last "
                      f"{n_train} test (data folder: {data_folder(args.data_root)})")
    chm_desc = json.dumps(args.chm_params) if args.chm_params else "CHM defaults"
    describe = {
        "supervised": "- supervised: CHM(tv_weight=0)."
        + (" Reported from the supervised + MRF trial: the MRF's final fit on all labels is "
           "this model (same data and seed)." if "supervised+mrf" in args.methods else ""),
        "supervised+mrf": mrf_note(NAMES["supervised+mrf"], "the supervised", "graph cut",
                                   mrf_cv, args.mrf_cv_images, lambdas, args.mrf_cv_fits),
        "supervised+l2": f"- supervised + L2: CHM(tv_weight=0, weight_decay={args.l2:g}); the "
        f"weight decay is a fixed value given by `--l2`, not tuned.",
        "tv": f"- TV: CHM with tv_weight={args.chm_params.get('tv_weight', _default_tv_weight()):g}"
        + (" (from --chm-params)." if "tv_weight" in args.chm_params else " (the default)."),
        "tv+mrf": mrf_note(NAMES["tv+mrf"], "the TV", "graph cut", mrf_cv, args.mrf_cv_images,
                           [r["mrf_lambda"] for r in ok if r["method"] == "tv+mrf"], args.mrf_cv_fits),
        "potts": POTTS_NOTE,
        "potts-2": POTTS_NOTE[:-1] + "; two rounds of cuts and refits (`rounds=2`).",
        "potts+mrf": POTTS_NOTE[:-1] + "; the test maps also cut with the chosen lambda "
        "(`smooth=True`).",
        "forest": FOREST_NOTE,
        "dense": "- dense labels: CHM(tv_weight=0"
        + (", n_stages=2, later_stages='top_down': the original two-stage schedule)"
           if args.dense_stages > 1 else ")") + " trained with "
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
        "- Cells: mean ± sample std over the draws of the pixel error on all test pixels "
        "(mean alone for a single draw).",
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
    lines += footer_lines(failed, wall, len(runs), args.n_jobs, argv, script, _describe, **timing)
    text = "\n".join(lines)
    (out / "table1.md").write_text(text)

    write_csv(out / "runs.csv", runs, columns=CSV_COLUMNS, exclude=("settings",))

    refs, curve_cells = split_dense(cells, dense_label)
    refs["dense CHM (paper)"] = (PAPER_DENSE, None)
    plot_error_curves(
        out / "fig1_error_vs_labeled.png", curve_cells, list(args.sizes), sparse,
        references=refs, paper={m: PAPER[m] for m in sparse if m in PAPER}, names=NAMES,
        title="Weizmann Horse" + (" (synthetic data)" if args.synthetic else ""))
    return text


def write_samples(path, args, runs, test_x, test_y, panels):
    """Fig. 2-style panels at the smallest size and first seed; False when no maps were kept."""
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
