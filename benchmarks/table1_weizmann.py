"""Table 1 of Javanmardi et al. 2016 on Weizmann Horse: pixel error vs labeled pixels.

Protocol: gray images, sorted by name; the first 164 train, the last 164 test.
For every size (labeled pixels per training image) and every draw of the
sparse labels (the draw's seed is also the models' ``random_state``), each
method is trained on the sparse labels and scored by its pixel error on all
pixels of the test images (the methods are built by
:data:`_methods.WEIZMANN_METHODS`):

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
  every training pixel labeled (or ``--dense-px`` random pixels per image),
  with the original CHM's two stages (``--dense-stages``: ``n_stages=2``,
  ``later_stages="top_down"``; with dense labels it measured 5.89 +- 0.12 %
  over 5 draws, against 6.07 % for one stage on seed 0, and at 10 px with TV
  11.44 % against 10.80 %, seed 0, so the default CHM keeps one); run once
  per seed, not per size.

Trials (size x seed x method) run in parallel (joblib), each model on one
core; every trial is deterministic given its seed.

Resuming: every finished run is appended to ``runs.jsonl`` in ``--out`` (one
JSON line each; the label maps of the sample figure go to ``maps/``), and a
run already there with the same settings (data, ``--chm-params``, ``--l2``
for ``supervised+l2``, ``--mrf-cv-images`` for ``supervised+mrf``) is not run
again. An interrupted table is finished by running the same command again;
``--fresh`` starts over. The script prints how many trials are on disk and a
line per finished trial with the elapsed time and an estimate of the time
left; the report is rebuilt from every run of the table on disk, and its
wall time adds this session's to that of the sessions whose runs it reuses.

Outputs in ``--out``: ``table1.md`` (mean +- std over the draws, in %, next to
the paper's figures, with the command line and wall time), ``runs.csv`` (one
line per run), ``fig1_error_vs_labeled.png``, ``fig2_samples.png``,
``runs.jsonl`` and ``maps/``.

Usage::

    python benchmarks/table1_weizmann.py                 # the full table (hours)
    python benchmarks/table1_weizmann.py --quick         # 10 px, seed 0, 3 methods
    python benchmarks/table1_weizmann.py --sizes 10 50 --seeds 0 1 --methods supervised tv \\
        --chm-params '{"epochs": 10}'
    python benchmarks/table1_weizmann.py --quick --synthetic 8   # tiny synthetic data
"""
import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

from _cli import (add_feature_cache_argument, add_mrf_cv_fits_argument, add_mrf_cv_images_argument,  # noqa: E402
                  json_dict)  # noqa: E402
from _methods import WEIZMANN_METHODS  # noqa: E402
from _mrf import mrf_trial  # noqa: E402
from _report import finish  # noqa: E402
from _runs import RunLog, Session  # noqa: E402
from _trials import (feature_cache, panel_indices, run_trials, share_fits,  # noqa: E402
                     ship_by_value, trial_result)
from _weizmann_report import write_report, write_samples  # noqa: E402

ship_by_value(__name__)

METHODS = WEIZMANN_METHODS.names()
QUICK_METHODS = ("supervised", "supervised+mrf", "tv")
#: Trial order, the slowest (MRF cross-validation) first.
ORDER = ("supervised+mrf", "tv+mrf", "dense", "potts+mrf", "potts-2", "potts", "tv",
         "forest", "supervised+l2", "supervised")
#: Methods whose label maps at the first size and seed make the sample figure.
PANEL_METHODS = ("supervised", "supervised+mrf", "tv")
SIZES = (10, 20, 30, 40, 50)
SEEDS = (0, 1, 2, 3, 4)
N_TRAIN = 164
N_PANELS = 5
MRF_CV = 3

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
        parameters), ``l2`` (weight decay of ``supervised+l2``),
        ``mrf_cv_images``, ``feature_cache``.
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

    spec = WEIZMANN_METHODS[method]
    train_x, train_y, test_x, test_y = load_data(_config["data"])
    if spec.dense and n_labeled == "all":
        labels = train_y
    else:
        labels = sample_sparse_labels(train_y, int(n_labeled), random_state=seed)
    n_px = int(sum(int((lab >= 0).sum()) for lab in labels))
    model = spec.build(_config, seed)

    if spec.mrf_of:
        runs, _ = mrf_trial(
            model, train_x, labels, test_x, test_y, _panels, cv=MRF_CV,
            cv_images=_config.get("mrf_cv_images"), cv_fits=_config.get("mrf_cv_fits", "auto"),
            random_state=seed,
            plain_method=spec.mrf_of if _with_supervised else None, host_method=method,
            n_train_px=n_px)
        return runs

    t0 = time.perf_counter()
    model.fit(train_x, labels)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    maps = model.predict(test_x)
    pred_s = time.perf_counter() - t0
    extra = {"n_train_px": n_px, **(spec.info(model) if spec.info else {})}
    return [trial_result(maps, test_y, fit_s, pred_s, _panels, **extra)]


# ---------------------------------------------------------------------------
# trials and the runs on disk
# ---------------------------------------------------------------------------
def run_settings(method, config):
    """What a run of ``method`` depends on besides its size and seed: data and parameters."""
    data = config["data"]
    name = f"synthetic:{int(data['synthetic'])}" if data.get("synthetic") else "weizmann_horse"
    return {"data": name, **WEIZMANN_METHODS.settings(method, config)}


def _key(method, n_labeled, seed, settings):
    return (method, n_labeled, seed, json.dumps(settings, sort_keys=True))


def run_key(run):
    """Key of a stored run: method, labeled pixels, seed and settings."""
    return _key(run["method"], run["n_labeled"], run["seed"], run["settings"])


def trial_keys(trial):
    """Keys of the runs a trial gives (two for an MRF trial that reports its plain model)."""
    methods = [trial["method"]]
    if trial.get("_with_supervised"):
        methods.append(WEIZMANN_METHODS[trial["method"]].mrf_of)
    return [_key(m, trial["n_labeled"], trial["seed"], run_settings(m, trial["_config"]))
            for m in methods]


def make_trials(args, config, panels, done=()):
    """Trial dicts of the runs not in ``done`` (run keys), in the order of :data:`ORDER`.

    A plain method and its MRF method share one trial (one fit) when both of
    their runs are to go.
    """
    first = (args.sizes[0], args.seeds[0])
    dense_n = "all" if args.dense_px == 0 else args.dense_px
    trials = []
    for method in ORDER:
        if method not in args.methods:
            continue
        cells = ([(dense_n, seed) for seed in args.seeds] if WEIZMANN_METHODS[method].dense
                 else [(size, seed) for size in args.sizes for seed in args.seeds])
        for n_labeled, seed in cells:
            t = {"method": method, "n_labeled": n_labeled, "seed": seed, "_config": config}
            if trial_keys(t)[0] in done:
                continue
            if (n_labeled, seed) == first and method in PANEL_METHODS:
                t["_panels"] = panels
            trials.append(t)
    for host, guest in WEIZMANN_METHODS.hosts().items():
        trials = share_fits(trials, host, guest, keys=["n_labeled", "seed"])
    return trials


def _store(log, session, runs):
    """Append the finished runs of a trial to the log (failed ones are run again next time)."""
    for run in runs:
        if run["status"] == "ok":
            run["settings"] = run_settings(run["method"], run["_config"])
            log.append(session.stamp(run))


def _trial_time(runs):
    """Sum of the trials' wall times, and their number (a shared fit counted once)."""
    own = [r["trial_seconds"] for r in runs if not r.get("shared_fit")]
    return float(sum(own)), len(own)


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
    parser.add_argument("--dense-stages", type=int, default=2, choices=(1, 2),
                        help="stages of the dense reference: 2 = the original CHM's schedule "
                             "(a level-0 top-down stage over every map of the first), 1 = the "
                             "default CHM (default 2)")
    parser.add_argument("--chm-params", default="{}",
                        help="JSON dict of CHM parameters shared by all methods, e.g. "
                             "'{\"epochs\": 10}' (random_state and n_jobs are set per trial)")
    add_mrf_cv_images_argument(parser)
    add_mrf_cv_fits_argument(parser)
    parser.add_argument("--n-jobs", type=int, default=-1, help="parallel trials (-1 = all cores)")
    add_feature_cache_argument(parser)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output folder; the runs already in its runs.jsonl are not run again")
    parser.add_argument("--fresh", action="store_true",
                        help="start over: remove the runs stored in --out (runs.jsonl, "
                             "maps/) first")
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
    args.chm_params = json_dict(parser, args.chm_params, "--chm-params",
                                drop=("random_state", "n_jobs", "verbose"))
    if args.synthetic is not None and args.synthetic < 2:
        parser.error("--synthetic needs at least 2 images")
    if any(s < 1 for s in args.sizes) or args.dense_px < 0:
        parser.error("--sizes must be >= 1 and --dense-px >= 0")
    return args


def _announce(args, n_train, n_test, n_trials, n_todo, n_other):
    print(f"{'synthetic' if args.synthetic else 'Weizmann Horse'}: {n_train} train / "
          f"{n_test} test images; sizes {args.sizes}, seeds {args.seeds}, "
          f"methods {args.methods}; {n_trials} trials, n_jobs={args.n_jobs}", flush=True)
    if "supervised+l2" in args.methods:
        print(f"supervised+l2 uses the fixed weight decay {args.l2:g} (--l2), not tuned", flush=True)
    if args.chm_params:
        print(f"shared CHM parameters: {json.dumps(args.chm_params)}", flush=True)
    print(f"{n_trials - n_todo} of {n_trials} trials on disk, {n_todo} to go"
          + (f" ({n_other} other runs on disk are not part of this table: other sizes, "
             f"seeds, methods or settings)" if n_other else ""), flush=True)


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    session = Session()
    log = RunLog(out, key_of=run_key)
    if args.fresh:
        log.path.unlink(missing_ok=True)
        shutil.rmtree(out / "maps", ignore_errors=True)

    data = {"synthetic": args.synthetic} if args.synthetic else {"root": args.data_root}
    train_x, train_y, test_x, test_y = load_data(data)
    panels = panel_indices(len(test_x), N_PANELS)
    config = {"data": data, "chm_params": args.chm_params, "l2": args.l2,
              "mrf_cv_images": args.mrf_cv_images, "mrf_cv_fits": args.mrf_cv_fits,
              "dense_stages": args.dense_stages, "threads": 1}
    plan = make_trials(args, config, panels)
    wanted = [key for t in plan for key in trial_keys(t)]
    stored = log.latest()
    todo = make_trials(args, config, panels, done=stored)
    _announce(args, len(train_x), len(test_x), len(plan), len(todo),
              len(set(stored) - set(wanted)))

    with feature_cache(args.feature_cache) as cache:
        config["feature_cache"] = cache
        new = run_trials(
            weizmann_trial, todo, n_jobs=args.n_jobs,
            progress_keys=["method", "n_labeled", "seed", "pixel_error", "fit_seconds",
                           "predict_seconds", "mrf_lambda"],
            on_trial=lambda runs: _store(log, session, runs))
    this_session = session.seconds() if todo else 0.0  # a session that ran nothing: not counted

    stored = log.latest()
    runs = [stored[k] for k in wanted if k in stored] + [r for r in new if r["status"] != "ok"]
    earlier, n_earlier = session.earlier_wall(runs)
    text = write_report(args, runs, this_session + earlier, argv, out, script=__file__,
                        n_train=N_TRAIN, mrf_cv=MRF_CV, sessions=n_earlier + bool(todo),
                        session_wall=this_session, trial_time=_trial_time(runs))
    if write_samples(out / "fig2_samples.png", args, runs, test_x, test_y, panels):
        print(f"samples: {out / 'fig2_samples.png'}")
    return finish(text, out, runs)


if __name__ == "__main__":
    sys.exit(main())
