"""Shared machinery of the table benchmarks (Weizmann Horse Table 1, Stanford
Background Table 2, ...).

A benchmark is a list of *trials*: each trial is a dict of parameters (method,
labeled pixels per image, seed, fold, ...) handed to a trial function that
returns one result dict, or a list of them when one fit serves several
methods. Every result becomes a *run*: the trial's parameters merged with the
result. Keys starting with ``_`` are private: they travel back to the caller
(label maps for figures, ...) but are kept out of progress lines and CSV files.

Pieces:

- :func:`run_trials` runs trials in parallel (joblib), printing one line per
  finished run;
- :func:`aggregate` and :func:`mean_std_table` turn runs into a markdown table
  of mean +- std of a value, rows and columns chosen by run keys;
- :func:`markdown_table`, :func:`write_csv`, :func:`command_line` write the
  reports;
- :func:`plot_error_curves` draws error vs a row key with std bars;
- :func:`share_fits`, :func:`mrf_trial` and :func:`mrf_and_plain_maps` let
  one trial report a model with and without its MRF from a single fit (the
  MRF's final fit on all labels *is* the plain model: same data, same seed);
- :func:`with_fit_time` gives an estimator class a ``fit_time_`` attribute.
"""
import contextlib
import csv
import json
import math
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np


# ---------------------------------------------------------------------------
# trials
# ---------------------------------------------------------------------------
def _public(d):
    return {k: v for k, v in d.items() if not str(k).startswith("_")}


def _call(index, fn, params):
    """Run one trial; return (index, list of result dicts, wall seconds)."""
    t0 = time.perf_counter()
    try:
        out = fn(**params)
        results = [out] if isinstance(out, dict) else list(out)
    except Exception as exc:  # one failed trial must not lose the others
        results = [{"status": "error", "error": f"{type(exc).__name__}: {exc}",
                    "_traceback": traceback.format_exc()}]
    return index, results, time.perf_counter() - t0


def format_run(run, keys=None, float_digits=4):
    """One progress line: ``key=value`` pairs of the public keys of ``run``."""
    keys = keys if keys is not None else list(_public(run))
    parts = []
    for k in keys:
        if k not in run:
            continue
        v = run[k]
        if isinstance(v, (float, np.floating)):
            v = f"{v:.{float_digits}g}"
        parts.append(f"{k}={v}")
    return " ".join(parts)


def run_trials(fn, trials, n_jobs=-1, progress=True, progress_keys=None, stream=None):
    """Run ``fn(**trial)`` for every trial dict, in parallel.

    Parameters
    ----------
    fn : callable
        Trial function: keyword arguments from the trial dict; returns a
        result dict or a list of result dicts.  It must be picklable by
        joblib (a module-level function) and deterministic given its
        parameters (seed everything from them).
    trials : list of dict
        Parameters of each trial.  Trials are dispatched in this order, so
        put the slowest first for a better load balance.
    n_jobs : int
        joblib convention (-1 = all cores, 1 = run in this process).
    progress : bool
        Print one line per finished run.
    progress_keys : list of str or None
        Keys shown in the progress lines (default: all public keys).
    stream : file or None
        Where progress goes (default ``sys.stdout``).

    Returns
    -------
    runs : list of dict
        One per result, in trial order: the trial's parameters merged with
        the result, plus ``trial`` (index of the trial), ``status``
        (``"ok"`` or ``"error"``) and ``trial_seconds`` (wall time of the
        whole trial).  A trial that raised gives a single run with
        ``status="error"`` and the message in ``error``.
    """
    from joblib import Parallel, delayed

    stream = stream or sys.stdout
    trials = [dict(t) for t in trials]
    n = len(trials)
    done = {}
    t_start = time.perf_counter()
    if n_jobs == 1 or n <= 1:
        outputs = (_call(i, fn, t) for i, t in enumerate(trials))
    else:
        outputs = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(_call)(i, fn, t) for i, t in enumerate(trials))
    for k, (index, results, seconds) in enumerate(outputs, start=1):
        runs = []
        for res in results:
            run = {**trials[index], "trial": index, "status": "ok", **res, "trial_seconds": seconds}
            runs.append(run)
            if progress:
                line = format_run(run, progress_keys)
                if run["status"] != "ok":
                    line += f" status=error error={run.get('error')!r}"
                print(f"[{k}/{n} trials, {time.perf_counter() - t_start:.0f}s] {line}",
                      file=stream, flush=True)
                if "_traceback" in run:
                    print(run["_traceback"], file=sys.stderr, flush=True)
        done[index] = runs
    return [run for i in range(n) for run in done[i]]


def share_fits(trials, host, guest, keys, flag="_with_supervised"):
    """Let ``host`` trials also report the ``guest`` method from the same fit.

    Every ``guest`` trial whose values of ``keys`` match those of a ``host``
    trial is dropped and that host trial gets ``flag=True`` (and the guest's
    ``_panels`` when it has none), so the trial function reports both runs
    from one fit.  Guest trials without a matching host are kept.

    Parameters
    ----------
    trials : list of dict
        Trial dicts with a ``"method"`` key.
    host, guest : str
        Methods, e.g. ``"supervised+mrf"`` and ``"supervised"``.
    keys : list of str
        Trial keys that must agree (labeled pixels, seed, fold, ...).
    flag : str
        Key set on the host trials that take over a guest.

    Returns
    -------
    list of dict
        New trial list (copies of the dicts), order kept.
    """
    trials = [dict(t) for t in trials]

    def key(t):
        return tuple(t.get(k) for k in keys)

    hosts = {key(t): t for t in trials if t.get("method") == host}
    out = []
    for t in trials:
        match = hosts.get(key(t)) if t.get("method") == guest else None
        if match is None:
            out.append(t)
            continue
        match[flag] = True
        if t.get("_panels") is not None and match.get("_panels") is None:
            match["_panels"] = t["_panels"]
    return out


def mrf_and_plain_maps(model, images):
    """Label maps of a fitted :class:`chm.mrf.MRFSegmenter` with and without smoothing.

    One pass of the wrapped estimator gives the probability maps; they are
    smoothed with the chosen weight (the MRF's prediction) and, from the same
    maps, labeled by their most probable class (the plain estimator's
    prediction, identical to ``model.estimator_.predict``).

    Returns
    -------
    dict
        ``mrf`` and ``plain`` (lists of label maps), ``proba_seconds``,
        ``smooth_seconds``, ``argmax_seconds``, ``mrf_lambda`` (the chosen
        weight) and ``mrf_cv_accuracy`` (its mean held-out accuracy, NaN when
        no cross-validation was run).
    """
    from chm.mrf import mrf_smooth

    t0 = time.perf_counter()
    probs = model.predict_proba(images)
    proba_s = time.perf_counter() - t0
    classes = np.asarray(model.classes_)
    t0 = time.perf_counter()
    smoothed = [classes[mrf_smooth(p, np.asarray(im) if model.contrast else None, model.weight_,
                                   model.contrast, model.eps)]
                for p, im in zip(probs, images)]
    smooth_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    plain = [classes[p.argmax(axis=-1)] for p in probs]
    argmax_s = time.perf_counter() - t0
    if model.cv_scores_ is None:
        cv_accuracy = float("nan")
    else:
        best = int(np.flatnonzero(model.weights_ == model.weight_)[0])
        cv_accuracy = float(model.cv_scores_[best])
    return {"mrf": smoothed, "plain": plain, "proba_seconds": proba_s,
            "smooth_seconds": smooth_s, "argmax_seconds": argmax_s,
            "mrf_lambda": float(model.weight_), "mrf_cv_accuracy": cv_accuracy}


def mrf_trial(estimator, train_x, labels, test_x, test_y, panels, *, cv, cv_images=None,
              random_state=None, plain_method=None, host_method="supervised+mrf", **extra):
    """Fit :class:`chm.mrf.MRFSegmenter` on ``estimator`` and score it, with and without the MRF.

    Parameters
    ----------
    estimator : estimator
        The plain model (unfitted), with a ``fit_time_`` attribute after fit.
    train_x, labels, test_x, test_y : lists of ndarray
        Training images and their sparse labels; test images and their truth.
    panels : list of int or None
        Test images whose label maps are kept for figures.
    cv, cv_images, random_state
        Passed to :class:`chm.mrf.MRFSegmenter` (lambda search).
    plain_method : str or None
        When given, also report the MRF's final fit (the plain model, same data
        and seed) under this method name, from the same probability maps.
    host_method : str
        Method name of the MRF run (``shared_fit`` of the plain run).
    **extra
        Keys of both runs (data sizes, ...).

    Returns
    -------
    runs : list of dict
        The MRF run (``mrf_lambda``, ``mrf_cv_accuracy``), then the plain run
        when ``plain_method`` is set. ``fit_seconds`` of the MRF run covers the
        lambda search and the final fit.
    model : chm.mrf.MRFSegmenter
        The fitted MRF (its ``estimator_`` is the plain model).
    """
    from chm.mrf import MRFSegmenter

    model = MRFSegmenter(estimator, cv=cv, n_jobs=1, cv_images=cv_images,
                         random_state=random_state)
    t0 = time.perf_counter()
    model.fit(train_x, labels)
    fit_s = time.perf_counter() - t0
    maps = mrf_and_plain_maps(model, test_x)
    runs = [trial_result(maps["mrf"], test_y, fit_s,
                         maps["proba_seconds"] + maps["smooth_seconds"], panels, **extra,
                         mrf_lambda=maps["mrf_lambda"], mrf_cv_accuracy=maps["mrf_cv_accuracy"])]
    if plain_method is not None:
        runs.append(trial_result(maps["plain"], test_y, model.estimator_.fit_time_,
                                 maps["proba_seconds"] + maps["argmax_seconds"], panels,
                                 method=plain_method, **extra,
                                 shared_fit=host_method))
    return runs, model


def mrf_note(name, source, solver, cv, cv_images, lambdas):
    """Report line of an MRF method: how lambda was chosen, and the lambdas chosen.

    ``name`` is the method's display name, ``source`` the model whose maps are
    smoothed (e.g. ``"the supervised"``), ``solver`` the graph-cut algorithm.
    """
    return (f"- {name}: Potts MRF on {source} probability maps ({solver}); lambda chosen by "
            f"{cv}-fold cross-validation over held-out labeled training pixels only "
            f"(MRFSegmenter, default grid {mrf_grid_text()}"
            + (f", each fold scored on {cv_images} random training images" if cv_images else "")
            + ")" + (f"; chosen lambdas: {', '.join(f'{x:g}' for x in lambdas)}" if lambdas else "")
            + ".")


#: Report line of the ``forest`` method of the table benchmarks.
FOREST_NOTE = ("- RF (scikit-image features): chm.baselines.ForestSegmenter with its defaults, "
               "the pixel classifier of scikit-image's trainable segmentation and of ilastik: a "
               "random forest (100 trees) on multi-scale Gaussian intensity, gradient magnitude "
               "and Hessian eigenvalues (skimage.feature.multiscale_basic_features, sigma 0.5 to "
               "16); `random_state` = draw seed; no spatial term.")


def add_mrf_cv_images_argument(parser):
    """``--mrf-cv-images N``: images scored per fold of the MRF's lambda search."""
    parser.add_argument("--mrf-cv-images", type=int, default=None, metavar="N",
                        help="MRF methods: score each cross-validation fold of lambda on N "
                             "random training images (MRFSegmenter(cv_images=N); default: all)")


_TIMED_CLASSES = {}


def with_fit_time(cls):
    """Subclass of estimator class ``cls`` whose ``fit`` records ``fit_time_``.

    ``fit_time_`` is the wall time of the last call to ``fit`` in seconds.
    The subclass takes the same parameters, so it clones like ``cls``
    (e.g. inside :class:`chm.mrf.MRFSegmenter`), and a fit of it gives the
    same model as a fit of ``cls``.  Classes that already record
    ``fit_time_`` can be used as they are; this is for those that do not.
    """
    if cls not in _TIMED_CLASSES:
        def fit(self, *args, **kwargs):
            t0 = time.perf_counter()
            result = cls.fit(self, *args, **kwargs)
            self.fit_time_ = time.perf_counter() - t0
            return result

        _TIMED_CLASSES[cls] = type(cls.__name__, (cls,), {"fit": fit, "__doc__": cls.__doc__})
    return _TIMED_CLASSES[cls]


# ---------------------------------------------------------------------------
# aggregation
# ---------------------------------------------------------------------------
def aggregate(runs, row_key, col_key, value_key, ddof=1):
    """Mean and std of ``value_key`` per (row, column) cell.

    Runs with ``status`` other than ``"ok"`` or a missing/NaN value are
    skipped.  ``row_key`` and ``col_key`` are run keys or callables of a run.

    Returns
    -------
    dict (row, col) -> (mean, std, n)
        ``std`` uses ``ddof`` (sample std by default); NaN when ``n <= ddof``.
    """
    def get(run, key):
        return key(run) if callable(key) else run.get(key)

    cells = {}
    for run in runs:
        if run.get("status", "ok") != "ok":
            continue
        v = run.get(value_key)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        cells.setdefault((get(run, row_key), get(run, col_key)), []).append(float(v))
    out = {}
    for cell, values in cells.items():
        a = np.asarray(values)
        std = float(a.std(ddof=ddof)) if a.size > ddof else float("nan")
        out[cell] = (float(a.mean()), std, int(a.size))
    return out


def format_mean_std(mean, std, n=None, scale=100.0, digits=2):
    """``"12.34 ± 0.56"`` (values times ``scale``); the mean alone when std is NaN."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    if std is None or math.isnan(std):
        return f"{scale * mean:.{digits}f}"
    return f"{scale * mean:.{digits}f} ± {scale * std:.{digits}f}"


def markdown_table(header, rows, align=None):
    """A GitHub markdown table from a header list and a list of row lists."""
    align = align or ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(str(h) for h in header) + " |",
             "| " + " | ".join(align) + " |"]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)


def mean_std_table(cells, row_order, col_order, row_label="", row_names=None, col_names=None,
                   show_n=False, scale=100.0, digits=2):
    """Markdown table of the cells of :func:`aggregate`.

    Parameters
    ----------
    cells : dict (row, col) -> (mean, std, n)
    row_order, col_order : lists of row and column keys, in display order
    row_label : str
        Header of the first column.
    row_names, col_names : dict key -> display name, optional
    show_n : bool
        Append ``(n=...)`` to each cell.
    scale, digits : display of the values (percent with 2 decimals by default)
    """
    row_names = row_names or {}
    col_names = col_names or {}
    header = [row_label] + [col_names.get(c, str(c)) for c in col_order]
    rows = []
    for r in row_order:
        line = [row_names.get(r, str(r))]
        for c in col_order:
            if (r, c) in cells:
                mean, std, n = cells[(r, c)]
                text = format_mean_std(mean, std, n, scale=scale, digits=digits)
                line.append(f"{text} (n={n})" if show_n else text)
            else:
                line.append("—")
        rows.append(line)
    return markdown_table(header, rows)


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------
def write_csv(path, runs, columns=None):
    """Write the public keys of ``runs`` to CSV.

    ``columns`` fixes the leading columns; the other public keys follow in
    order of first appearance.  Missing values are left empty.
    """
    keys = list(columns or [])
    for run in runs:
        for k in _public(run):
            if k not in keys:
                keys.append(k)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        for run in runs:
            writer.writerow({k: _csv_value(run.get(k)) for k in keys})
    return keys


def _csv_value(v):
    if v is None:
        return ""
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, np.integer):
        return int(v)
    return v


def command_line(argv, script):
    """The shell command that reproduces a run: ``python <script> <argv...>``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        script = Path(script).resolve().relative_to(Path.cwd())
    except ValueError:
        script = Path(script)
    return shlex.join(["python", str(script)] + [str(a) for a in argv])


def format_seconds(seconds):
    """``1h 02m 03s`` / ``2m 03s`` / ``4.5s``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


# ---------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------
def plot_error_curves(path, cells, x_order, series, references=None, paper=None,
                      xlabel="labeled pixels per image", ylabel="pixel error (%)", title=None,
                      scale=100.0, names=None):
    """Error vs ``x`` with std bars, one line per series.

    Parameters
    ----------
    path : str or Path
        PNG file to write.
    cells : dict (x, series) -> (mean, std, n), as from :func:`aggregate`
    x_order : list of x values (numbers)
    series : list of series keys plotted as lines
    references : dict name -> (mean, std), optional
        Drawn as horizontal lines with a shaded +-std band (e.g. a dense-label
        reference).
    paper : dict series -> dict x -> value (fractions), optional
        Published figures, drawn as hollow markers joined by dotted lines in
        the colour of the series (a name not in ``series`` gets its own).
    names : dict series key -> legend name, optional
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = names or {}
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    colors = {}
    for s in series:
        xs = [x for x in x_order if (x, s) in cells]
        if not xs:
            continue
        means = np.array([cells[(x, s)][0] for x in xs]) * scale
        stds = np.nan_to_num(np.array([cells[(x, s)][1] for x in xs]) * scale)
        line = ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=names.get(s, str(s)))
        colors[s] = line[0].get_color()
    for name, (mean, std) in (references or {}).items():
        color = ax._get_lines.get_next_color()
        ax.axhline(scale * mean, color=color, linestyle="--", label=name)
        if std is not None and not math.isnan(std):
            ax.axhspan(scale * (mean - std), scale * (mean + std), color=color, alpha=0.15)
    for s, values in (paper or {}).items():
        pts = sorted((x, v) for x, v in values.items() if v is not None)
        if not pts:
            continue
        color = colors.get(s) or ax._get_lines.get_next_color()
        ax.plot([p[0] for p in pts], [scale * p[1] for p in pts], linestyle=":", marker="s",
                markerfacecolor="none", color=color, label=f"{names.get(s, s)} (paper)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ticks = set(x_order) | {x for values in (paper or {}).values() for x in values}
    if ticks:
        ax.set_xticks(sorted(ticks))
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def footer_lines(failed, wall, n_runs, n_jobs, argv, script, describe):
    """Markdown lines closing a results file: failed trials, wall time, command.

    ``describe(run)`` names a failed run (method, size, seed, ...).
    """
    lines = []
    if failed:
        lines += [f"**{len(failed)} trial(s) failed:**", ""]
        lines += [f"- {describe(r)}: {r.get('error')}" for r in failed]
        lines.append("")
    lines += [
        f"Total wall time: {format_seconds(wall)}" + (f" ({wall:.0f} s)" if wall >= 60 else "")
        + f", {n_runs} runs, n_jobs={n_jobs}.",
        "",
        "Command:",
        "",
        "```",
        command_line(argv, script),
        "```",
        "",
    ]
    return lines


def split_dense(cells, dense_label):
    """Separate the dense reference from the per-size cells for the error plot.

    Returns ``(references, curve_cells)``: the dense cell (if any) as a
    ``{label: (mean, std)}`` reference line, and the remaining cells.
    """
    refs = {}
    if ("dense", "dense") in cells:
        mean, std, _ = cells[("dense", "dense")]
        refs[f"{dense_label} (this run)"] = (mean, std)
    return refs, {(x, m): v for (x, m), v in cells.items() if x != "dense"}


def ship_by_value(module_name):
    """Send this harness and the named benchmark module to joblib workers by value.

    Trial functions then need not be importable in the workers, whose path is
    fixed when they start (possibly before the benchmarks folder was added).
    Does nothing for ``"__main__"``, which cloudpickle ships by value anyway.
    """
    try:  # joblib's loky backend pickles with cloudpickle (vendored in older joblibs)
        import cloudpickle
    except ImportError:  # pragma: no cover
        from joblib.externals import cloudpickle
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    if module_name != "__main__":
        cloudpickle.register_pickle_by_value(sys.modules[module_name])


def trial_result(maps, truths, fit_seconds, predict_seconds, panels, **extra):
    """One run's result dict: pixel error, times, extras, and the panel maps.

    ``panels`` are test indices whose label maps are kept (under ``_maps``,
    out of the CSV) for the sample figure.
    """
    from chm.metrics import pixel_error

    out = {"pixel_error": pixel_error(maps, truths), "fit_seconds": fit_seconds,
           "predict_seconds": predict_seconds, **extra}
    if panels:
        out["_maps"] = {i: np.asarray(maps[i]).astype(np.uint8) for i in panels}
    return out


def panel_indices(n_test, k):
    """Up to ``k`` test indices spread evenly over ``n_test`` images."""
    return sorted(set(np.linspace(0, n_test - 1, min(k, n_test)).round().astype(int).tolist()))


def mrf_grid_text():
    """Short description of the MRF's default lambda grid."""
    from chm.mrf import DEFAULT_WEIGHTS

    return f"{len(DEFAULT_WEIGHTS)} values in [{DEFAULT_WEIGHTS.min():g}, {DEFAULT_WEIGHTS.max():g}]"


def data_folder(root):
    """The data folder the loaders use for ``root`` (argument, CHM_DATA, default)."""
    from chm.datasets import data_root

    return data_root(root)


def finish(text, out, runs):
    """Print the report and the output folder; exit status 1 if a trial failed."""
    print()
    print(text)
    print(f"results in {out}")
    n_failed = sum(r["status"] != "ok" for r in runs)
    if n_failed:
        print(f"{n_failed} trial(s) failed", file=sys.stderr)
        return 1
    return 0


def json_dict(parser, text, option, drop=()):
    """The JSON object ``text`` of a command-line ``option``, minus the keys ``drop``.

    Exits through ``parser.error`` when ``text`` is not a JSON object.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        parser.error(f"{option} is not valid JSON: {exc}")
    if not isinstance(value, dict):
        parser.error(f"{option} must be a JSON object")
    for key in drop:
        value.pop(key, None)
    return value


def add_feature_cache_argument(parser):
    """``--feature-cache DIR``: the folder given to :func:`feature_cache`."""
    parser.add_argument("--feature-cache", default=None, metavar="DIR",
                        help="folder caching the CHM image features shared by all trials "
                             "(default: a temporary folder removed at the end)")


@contextlib.contextmanager
def feature_cache(path=None):
    """Folder for the CHM image-feature cache (``CHM(memory=...)``) of a run.

    Image features depend only on the images, so every trial of a run (label
    draws, sizes, methods, cross-validation folds) can share them. Yields
    ``path`` when given (kept afterwards, for later runs), else a fresh
    temporary folder that is removed on exit.
    """
    if path is not None:
        Path(path).mkdir(parents=True, exist_ok=True)
        yield str(path)
        return
    tmp = tempfile.mkdtemp(prefix="chm-features-")
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
