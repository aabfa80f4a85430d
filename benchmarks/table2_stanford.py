"""Table 2 of Javanmardi et al. 2016 on Stanford Background: pixel error vs labeled pixels.

Protocol: the 715 RGB images of Stanford Background (iccv09Data, about
240 x 320, 8 classes, see :data:`chm.datasets.STANFORD_CLASSES`), 5-fold
cross-validation over seeded random folds of 143 images
(:func:`chm.datasets.stanford_folds`, seed 0). For every fold, every size
(labeled pixels per training image) and every draw of the sparse labels (the
draw's seed is also the models' ``random_state``), each method is trained on
the sparse labels of the fold's 572 training images and scored by its pixel
error on all known pixels of the fold's 143 test images (pixels marked
unknown in the release are ignored). Cells are mean +- sample std over the
runs (folds x draws).

Methods (built by :data:`_methods.STANFORD_METHODS`; ConvNet =
:class:`chm.convnet.ConvNetSegmenter`, the paper's network, its settings
shared through ``--convnet-params``):

- ``supervised``: ConvNet with ``tv_weight=0`` (cross-entropy of the labeled
  pixels only);
- ``supervised+mrf``: the same network followed by a Potts MRF
  (:class:`chm.mrf.MRFSegmenter`, ``cv=3``, multi-class alpha-expansion), its
  smoothing weight lambda chosen by cross-validation over held-out *labeled*
  training pixels only. When ``supervised`` is run too, both come from the
  same trial (:func:`_trials.share_fits`): the MRF's final fit on all labels
  *is* the supervised model (same data, same seed), so it is fitted once and
  scored with and without the MRF (:func:`_mrf.mrf_and_plain_maps`);
- ``tv``: ConvNet with the total-variation loss (its default ``tv_weight``, or
  the one given in ``--convnet-params``);
- ``dense``: a dense-label reference, ConvNet with ``tv_weight=0`` trained with
  ``--dense-px`` random known pixels per training image (0: every known
  pixel); run once per fold and draw, not per size;
- ``chm-supervised`` and ``chm-tv``: :class:`chm.CHM` with ``tv_weight=0`` and
  with its default total-variation weight (settings: ``--chm-params``);
  ``chm-supervised+mrf``: the Potts MRF on ``chm-supervised``, with lambda
  chosen as for ``supervised+mrf`` (and shared with ``chm-supervised`` in the
  same way);
- ``forest``: the pixel classifier of scikit-image's trainable segmentation
  and ilastik (:class:`chm.baselines.ForestSegmenter`, default settings).

Trials run one after the other by default (``--n-jobs 1``): each ConvNet fit
already uses every core through torch's threads. With ``--n-jobs K`` the
trials run in K processes (joblib), each model with ``cores // K`` threads;
every process loads the images itself (about 1 GB for the 715 images). A fit
is deterministic given its seed and thread count on the CPU.

Cost. The full protocol (5 sizes x 5 draws x 5 folds, 6 methods) is about
650 ConvNet fits on 572 images each (5 per size, fold and draw for
``supervised+mrf`` and ``tv``, plus 25 dense references) and 250 CHM fits.
At the paper's network (width 64, 512 hidden units, full resolution) it
needs a GPU (``--device cuda --convnet-params '{"width": 64, "hidden": 512,
"downscale": 1}'``); on 2 cores it takes days even with the narrow CPU
network below. The REDUCED CPU protocol for 2 cores runs one fold, one draw
and three sizes with a narrow network (16 maps, 128 hidden units instead of
64 and 512) on images downscaled by 4, the settings of
``benchmarks/convnet_speed.py``, where one fit takes a few minutes::

    python benchmarks/table2_stanford.py --folds 0 --seeds 0 --sizes 10 30 50 \\
        --convnet-params '{"width":16,"hidden":128,"downscale":4,"epochs":12}'

That is 16 ConvNet fits (per size: 3 cross-validation fits of the MRF's
lambda plus its final fit, which also serves ``supervised``, and one ``tv``
fit; one dense reference) and 6 CHM fits: hours, not minutes, on 2 cores.
Add ``--methods supervised supervised+mrf tv dense`` to leave out the CHM
columns.  On 2 cores the ``supervised+mrf`` trial of one size
(3 cross-validation fits plus 8-class alpha-expansion of the 572 training
maps at every weight of the grid, then the final fit) did not finish within
36 minutes; ``--mrf-cv-images 100`` scores each fold of the lambda search
on 100 random training images instead, and the trial then takes 57 minutes
with one thread (``benchmarks/results/table2_stanford_cpu_mrf/``). The
numbers of the CPU runs come from a reduced protocol, not the paper's, and
the report states the settings used.

Outputs in ``--out``: ``table2.md`` (mean +- std in %, rows = labeled pixels,
columns = methods, next to the paper's TV column, with the settings, the
command line and the wall time), ``runs.csv`` (one line per run: fold, seed,
fit seconds, training images per second, MRF lambda, ...),
``fig3_error_vs_labeled.png`` and ``fig4_samples.png`` (image, supervised,
TV, ground truth for 4 test images of the first fold, fixed 8-colour palette,
unknown pixels black).

Usage::

    python benchmarks/table2_stanford.py                 # the full protocol (GPU)
    python benchmarks/table2_stanford.py --quick         # 10 px, seed 0, fold 0, supervised and TV
    python benchmarks/table2_stanford.py --quick --n-images 100   # folds over the first 100 images
    python benchmarks/table2_stanford.py --quick --synthetic 6    # tiny synthetic data
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning: on a machine shared with other
# jobs, spinning threads make torch several times slower. Set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

from _cli import (add_feature_cache_argument, add_mrf_cv_fits_argument, add_mrf_cv_images_argument,  # noqa: E402
                  json_dict)  # noqa: E402
from _methods import STANFORD_METHODS  # noqa: E402
from _mrf import mrf_trial  # noqa: E402
from _report import finish  # noqa: E402
from _stanford_report import write_report, write_samples  # noqa: E402
from _trials import (feature_cache, panel_indices, run_trials, share_fits,  # noqa: E402
                     ship_by_value, trial_result)

ship_by_value(__name__)

METHODS = STANFORD_METHODS.names()
CONVNET_METHODS = STANFORD_METHODS.names("convnet")
CHM_METHODS = STANFORD_METHODS.names("chm")
QUICK_METHODS = ("supervised", "tv")
#: Trial order, the slowest (MRF cross-validation) first.
ORDER = ("supervised+mrf", "chm-supervised+mrf", "dense", "chm-tv", "chm-supervised", "tv",
         "forest", "supervised")
#: Methods whose label maps at the first size, fold and seed make the sample figure.
PANEL_METHODS = ("supervised", "tv")
SIZES = (10, 20, 30, 40, 50)
SEEDS = (0, 1, 2, 3, 4)
N_FOLDS = 5
FOLDS = tuple(range(N_FOLDS))
FOLD_SEED = 0
MRF_CV = 3
N_PANELS = 4

#: ConvNet settings of ``--quick`` (explicit ``--convnet-params`` win): a
#: narrow network (16 maps, 128 hidden units instead of 64 and 512) on images
#: downscaled by 4, 4 epochs (a third of the reduced protocol's 12), so that
#: a fold runs in minutes on 2 cores. For a look at the pipeline, not for numbers.
QUICK_CONVNET = {"width": 16, "hidden": 128, "downscale": 4, "epochs": 4}

DEFAULT_OUT = _HERE / "results" / "table2_stanford"


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------
_DATA = {}


def load_data(data):
    """All images and label maps of a data spec (cached per process).

    ``data`` is ``{"synthetic": N}`` (N tiny 4-class RGB images of
    :func:`chm.synthetic.make_shapes`) or ``{"root": path or None, "n": N or
    None}`` (Stanford Background, sorted names, the first N images or all).
    """
    key = json.dumps(data, sort_keys=True, default=str)
    if key not in _DATA:
        if data.get("synthetic"):
            from chm.synthetic import make_shapes

            loaded = make_shapes(n_images=int(data["synthetic"]), shape=(32, 40), n_classes=4,
                                 color=True, n_shapes=1, random_state=0)
        else:
            from chm.datasets import load_stanford_background

            loaded = load_stanford_background(data.get("root"), n=data.get("n"))
        _DATA.clear()  # one data set per process
        _DATA[key] = loaded
    return _DATA[key]


def n_folds_for(n_images):
    """Folds of the cross-validation: 5, or one per image below 5 images."""
    return min(N_FOLDS, n_images)


def split(data, fold):
    """(train images, train labels, test images, test labels) of one fold."""
    from chm.datasets import stanford_folds

    images, labels = load_data(data)
    folds = stanford_folds(n_images=len(images), n_folds=n_folds_for(len(images)),
                           random_state=FOLD_SEED)
    train, test = folds[fold]
    return ([images[i] for i in train], [labels[i] for i in train],
            [images[i] for i in test], [labels[i] for i in test])


# ---------------------------------------------------------------------------
# one trial
# ---------------------------------------------------------------------------
def _device(model):
    return str(getattr(model, "device_", "cpu"))


def stanford_trial(method, n_labeled, fold, seed, _config, _with_supervised=False, _panels=None):
    """Fit and score one method on one fold and one draw of the sparse labels.

    Parameters
    ----------
    method : one of :data:`METHODS`
    n_labeled : int or "all"
        Labeled pixels per training image (for ``dense``: the known pixels
        kept per image, ``"all"`` for every known pixel).
    fold : int
        Fold of the cross-validation (its test part is scored).
    seed : int
        Seed of the label draw and the model's ``random_state``.
    _config : dict
        ``data`` (see :func:`load_data`), ``convnet_params`` and
        ``chm_params`` (shared parameters), ``threads`` (torch / CHM threads
        of each model), ``mrf_cv_images``, ``feature_cache``.
    _with_supervised : bool
        For ``supervised+mrf``: also report the supervised model (the MRF's
        final fit) as a ``supervised`` run.
    _panels : list of int or None
        Test images whose label maps are returned (``_maps``) for figures.

    Returns
    -------
    list of dict
        ``pixel_error``, ``fit_seconds``, ``predict_seconds``,
        ``train_images_per_s`` (training images x epochs / fit seconds, over
        all the fits of the run), data sizes and method-specific information.
    """
    from chm.datasets import sample_sparse_labels

    spec = STANFORD_METHODS[method]
    train_x, train_y, test_x, test_y = split(_config["data"], fold)
    if spec.dense and n_labeled == "all":
        labels = train_y
    else:
        labels = sample_sparse_labels(train_y, int(n_labeled), random_state=seed)
    info = {"n_train_images": len(train_x), "n_test_images": len(test_x),
            "n_train_px": int(sum(int((lab >= 0).sum()) for lab in labels))}
    model = spec.build(_config, seed)

    if spec.mrf_of:
        runs, fitted = mrf_trial(
            model, train_x, labels, test_x, test_y, _panels, cv=MRF_CV,
            cv_images=_config.get("mrf_cv_images"), cv_fits=_config.get("mrf_cv_fits", "auto"),
            random_state=seed,
            plain_method=spec.mrf_of if _with_supervised else None, host_method=method,
            **info, tv_weight=0.0)
        net = fitted.estimator_
        seen = len(train_x) * net.epochs
        runs[0]["train_images_per_s"] = (MRF_CV + 1) * seen / runs[0]["fit_seconds"]
        if _with_supervised:
            runs[1]["train_images_per_s"] = seen / net.fit_time_
        for run in runs:
            run["device"] = _device(net)
        return runs

    t0 = time.perf_counter()
    model.fit(train_x, labels)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    maps = model.predict(test_x)
    pred_s = time.perf_counter() - t0
    epochs = getattr(model, "epochs", 1)
    return [trial_result(maps, test_y, fit_s, pred_s, _panels, **info,
                         train_images_per_s=len(train_x) * epochs / fit_s,
                         tv_weight=float(getattr(model, "tv_weight", 0.0)), device=_device(model))]


# ---------------------------------------------------------------------------
# trials
# ---------------------------------------------------------------------------
def make_trials(args, config, panels):
    """Trial dicts in the order of :data:`ORDER`, the slowest (MRF cross-validation) first.

    A plain method and its MRF method share one trial (one fit).
    """
    first = (args.sizes[0], args.folds[0], args.seeds[0])
    dense_n = "all" if args.dense_px == 0 else args.dense_px
    trials = []
    for method in ORDER:
        if method not in args.methods:
            continue
        sizes = [dense_n] if STANFORD_METHODS[method].dense else args.sizes
        for size in sizes:
            for fold in args.folds:
                for seed in args.seeds:
                    t = {"method": method, "n_labeled": size, "fold": fold, "seed": seed,
                         "_config": config}
                    if (size, fold, seed) == first and method in PANEL_METHODS:
                        t["_panels"] = panels
                    trials.append(t)
    for host, guest in STANFORD_METHODS.hosts().items():
        trials = share_fits(trials, host, guest, keys=["n_labeled", "fold", "seed"])
    return trials


def _threads(n_jobs):
    cores = os.cpu_count() or 1
    if n_jobs < 0:
        n_jobs = max(1, cores + 1 + n_jobs)
    return max(1, cores // n_jobs)


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
    parser.add_argument("--folds", type=int, nargs="+", default=None,
                        help=f"folds to run (default {' '.join(map(str, FOLDS))})")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=None,
                        help="methods to run (default: all)")
    parser.add_argument("--convnet-params", default="{}",
                        help="JSON dict of ConvNetSegmenter parameters shared by the ConvNet "
                             "methods, e.g. '{\"width\": 16, \"epochs\": 12}' (random_state is "
                             "the draw seed; n_jobs defaults to cores / --n-jobs)")
    parser.add_argument("--chm-params", default="{}",
                        help="JSON dict of CHM parameters shared by the CHM methods, e.g. "
                             "'{\"epochs\": 10}' (random_state and n_jobs are set per trial)")
    parser.add_argument("--dense-px", type=int, default=1000,
                        help="labeled pixels per image of the dense reference; 0 = every known "
                             "pixel (default 1000)")
    add_mrf_cv_images_argument(parser)
    add_mrf_cv_fits_argument(parser)
    parser.add_argument("--n-jobs", type=int, default=1,
                        help="parallel trials (default 1: each ConvNet fit already uses all "
                             "cores through torch's threads; -1 = one trial per core)")
    add_feature_cache_argument(parser)
    parser.add_argument("--n-images", type=int, default=None, metavar="N",
                        help="use only the first N images (sorted names); the folds are then "
                             "made over those N (for quick looks)")
    parser.add_argument("--device", default=None,
                        help="ConvNet device: auto, cpu or cuda (default: --convnet-params' "
                             "device, else auto)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--data-root", default=None,
                        help="data folder holding iccv09Data/ (default: chm.datasets.data_root)")
    parser.add_argument("--synthetic", type=int, default=None, metavar="N",
                        help="use N tiny synthetic 4-class RGB images instead (folds over them)")
    parser.add_argument("--quick", action="store_true",
                        help="one size (10), one draw (seed 0), one fold (0), methods supervised "
                             "and tv, ConvNet settings " + json.dumps(QUICK_CONVNET)
                             + " (explicit options still win)")
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = [10] if args.quick else list(SIZES)
    if args.seeds is None:
        args.seeds = [0] if args.quick else list(SEEDS)
    if args.folds is None:
        args.folds = [0] if args.quick else list(FOLDS)
    if args.methods is None:
        args.methods = list(QUICK_METHODS if args.quick else METHODS)
    args.methods = [m for m in METHODS if m in args.methods]
    args.sizes = sorted(set(args.sizes))
    args.seeds = list(dict.fromkeys(args.seeds))
    args.folds = list(dict.fromkeys(args.folds))

    convnet_params = json_dict(parser, args.convnet_params, "--convnet-params")
    if args.quick:
        convnet_params = {**QUICK_CONVNET, **convnet_params}
    for key in ("random_state", "verbose"):
        convnet_params.pop(key, None)
    if args.device is not None:
        convnet_params["device"] = args.device
    convnet_params.setdefault("device", "auto")
    args.convnet_params = convnet_params
    args.chm_params = json_dict(parser, args.chm_params, "--chm-params",
                                drop=("random_state", "n_jobs", "verbose"))

    if args.synthetic is not None and args.synthetic < 2:
        parser.error("--synthetic needs at least 2 images")
    if args.n_images is not None and args.n_images < 2:
        parser.error("--n-images needs at least 2 images")
    if any(s < 1 for s in args.sizes) or args.dense_px < 0:
        parser.error("--sizes must be >= 1 and --dense-px >= 0")
    if any(f < 0 or f >= N_FOLDS for f in args.folds):
        parser.error(f"--folds must be in 0..{N_FOLDS - 1}")
    if args.n_jobs == 0:
        parser.error("--n-jobs must not be 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    data = ({"synthetic": args.synthetic} if args.synthetic
            else {"root": args.data_root, "n": args.n_images})
    images, _ = load_data(data)
    n_images = len(images)
    n_folds = n_folds_for(n_images)
    bad = [f for f in args.folds if f >= n_folds]
    if bad:
        raise SystemExit(f"--folds {bad}: only {n_folds} folds over {n_images} images")
    _, _, test_x, test_y = split(data, args.folds[0])
    panels = panel_indices(len(test_x), N_PANELS)
    config = {"data": data, "convnet_params": args.convnet_params,
              "chm_params": args.chm_params, "threads": _threads(args.n_jobs),
              "mrf_cv_images": args.mrf_cv_images, "mrf_cv_fits": args.mrf_cv_fits}
    trials = make_trials(args, config, panels)
    print(f"{'synthetic' if args.synthetic else 'Stanford Background'}: {n_images} images, "
          f"{n_folds} folds (running {args.folds}); sizes {args.sizes}, seeds {args.seeds}, "
          f"methods {args.methods}; {len(trials)} trials, n_jobs={args.n_jobs}, "
          f"{args.convnet_params.get('n_jobs', config['threads'])} thread(s) per ConvNet, "
          f"{config['threads']} per CHM", flush=True)
    if any(m in CONVNET_METHODS for m in args.methods):
        print(f"shared ConvNet parameters: {json.dumps(args.convnet_params)}", flush=True)
    if args.chm_params and any(m in CHM_METHODS for m in args.methods):
        print(f"shared CHM parameters: {json.dumps(args.chm_params)}", flush=True)

    with feature_cache(args.feature_cache) as cache:
        config["feature_cache"] = cache
        runs = run_trials(
            stanford_trial, trials, n_jobs=args.n_jobs,
            progress_keys=["method", "n_labeled", "fold", "seed", "pixel_error", "fit_seconds",
                           "train_images_per_s", "predict_seconds", "mrf_lambda"])
    wall = time.perf_counter() - t_start
    text = write_report(args, runs, wall, argv, out, n_images, n_folds=n_folds, script=__file__,
                        mrf_cv=MRF_CV, fold_seed=FOLD_SEED)
    if write_samples(out / "fig4_samples.png", args, runs, test_x, test_y, panels):
        print(f"samples: {out / 'fig4_samples.png'}")
    return finish(text, out, runs)


if __name__ == "__main__":
    sys.exit(main())
