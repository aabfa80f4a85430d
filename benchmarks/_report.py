"""Reports of the table benchmarks: markdown tables, CSV files, footers.

- :func:`aggregate` and :func:`mean_std_table` turn runs into a markdown table
  of mean +- std of a value, rows and columns chosen by run keys;
- :func:`markdown_table`, :func:`write_csv` and :func:`command_line` write
  the reports; :func:`footer_lines` closes a results file (failed trials,
  wall time, command) and :func:`finish` prints it.

Figures are in :mod:`_figures`.
"""
import csv
import math
import shlex
import sys
from pathlib import Path

import numpy as np

from _progress import format_seconds

#: Report line of the ``forest`` method of the table benchmarks.
FOREST_NOTE = ("- RF (scikit-image features): chm.baselines.ForestSegmenter with its defaults, "
               "the pixel classifier of scikit-image's trainable segmentation and of ilastik: a "
               "random forest (100 trees) on multi-scale Gaussian intensity, gradient magnitude "
               "and Hessian eigenvalues (skimage.feature.multiscale_basic_features, sigma 0.5 to "
               "16); `random_state` = draw seed; no spatial term.")


def public(run):
    """The keys of ``run`` not starting with ``_`` (those are private: maps, tracebacks)."""
    return {k: v for k, v in run.items() if not str(k).startswith("_")}


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


def write_csv(path, runs, columns=None, exclude=()):
    """Write the public keys of ``runs`` to CSV.

    ``columns`` fixes the leading columns; the other public keys (but those
    in ``exclude``) follow in order of first appearance.  Missing values are
    left empty.  Returns the columns written.
    """
    keys = list(columns or [])
    for run in runs:
        for k in public(run):
            if k not in keys and k not in exclude:
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


def _duration(seconds):
    return format_seconds(seconds) + (f" ({seconds:.0f} s)" if seconds >= 60 else "")


def footer_lines(failed, wall, n_runs, n_jobs, argv, script, describe, *, sessions=1,
                 session_wall=None, trial_time=None):
    """Markdown lines closing a results file: failed trials, wall time, command.

    Parameters
    ----------
    failed : list of dict
        Failed runs; ``describe(run)`` names one (method, size, seed, ...).
    wall : float
        Wall time of the table in seconds (over all its sessions).
    n_runs, n_jobs : int
        Runs in the table; parallel trials of this session.
    argv, script
        The command line (see :func:`command_line`).
    sessions : int
        Sessions that ran the table's trials; when more than one,
        ``session_wall`` (this session's wall time) is given beside ``wall``.
    trial_time : (float, int) or None
        Sum of the trials' own wall times and the number of trials, shown
        on a line of its own.
    """
    lines = []
    if failed:
        lines += [f"**{len(failed)} trial(s) failed:**", ""]
        lines += [f"- {describe(r)}: {r.get('error')}" for r in failed]
        lines.append("")
    total = f"Total wall time: {_duration(wall)}"
    if sessions > 1:
        total += (f" over {sessions} sessions (this one: "
                  f"{format_seconds(session_wall)}; an earlier one counts up to its last "
                  f"stored trial)")
    lines.append(total + f", {n_runs} runs, n_jobs={n_jobs}.")
    if trial_time is not None:
        seconds, n_trials = trial_time
        lines += ["", f"Trial time: {_duration(seconds)} summed over the {n_trials} trials' "
                      f"own wall times."]
    lines += [
        "",
        "Command:",
        "",
        "```",
        command_line(argv, script),
        "```",
        "",
    ]
    return lines


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
