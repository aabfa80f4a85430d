"""The ``chm`` command: train, predict, evaluate and suggest labels on folders of image files.

For users of ilastik, Weka, Labkit and scikit-image: images are PNG, JPEG,
TIFF or zarr files (:mod:`chm.files`), label files are integer images as
painted in napari or ilastik, where 0 marks an unlabeled pixel and 1..K the
classes. The values stay the user's: a model trained on labels 1 and 2
predicts label images of 1s and 2s.

Usage::

    chm train IMAGE... --labels LABEL... --out MODEL [--method potts|chm|forest]
              [--unlabeled V] [--config FILE.toml|FILE.json] [--set KEY=VALUE ...]
              [--shares-from LABEL...] [--quiet]
    chm predict MODEL IMAGE... --out DIR [--proba] [--tile-size N] [--scheduler ADDRESS]
              [--quiet]
    chm evaluate MODEL IMAGE... --labels LABEL... [--unlabeled V] [--quiet]
    chm suggest MODEL IMAGE... --out DIR [--n N] [--labels LABEL...] [--unlabeled V]
              [--min-distance D] [--measure margin|entropy|least_confident] [--seed S]
              [--quiet]

IMAGE and LABEL are files, folders or glob patterns; images and label files
pair up by position, folders and patterns in natural name order. A
multi-page TIFF or 3-D array is a stack of 2-D slices, each segmented on
its own. Bad input ends the command with a one-line message naming the file
and exit status 2.
"""
import argparse
import inspect
import json
import sys
from pathlib import Path

import numpy as np

from . import files

__all__ = ["main", "build_parser", "parse_value", "TILE_ABOVE", "DEFAULT_TILE"]

TILE_ABOVE = 2048 * 2048
"""Images with more pixels than this are predicted in tiles unless --tile-size 0."""
DEFAULT_TILE = 1536
"""Tile side (pixels) of automatic tiling."""
EXIT_BAD_INPUT = 2


class UsageError(ValueError):
    """A problem with the command line itself (not a file)."""


# ---------------------------------------------------------------- helpers
def _progress(iterable, quiet, **kwargs):
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=quiet, file=sys.stderr, leave=False, **kwargs)


def _say(quiet, message):
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def parse_value(text):
    """A ``--set`` value: JSON when it parses (``2``, ``0.1``, ``true``, ``null``,
    ``[1, 2]``, ``"x"``), else the text itself.

    Examples
    --------
    >>> parse_value("2"), parse_value("0.1"), parse_value("null"), parse_value("ldnn")
    (2, 0.1, None, 'ldnn')
    >>> parse_value("[1, 2]"), parse_value("true")
    ([1, 2], True)
    """
    try:
        return json.loads(text)
    except ValueError:
        return text


def _read_config(path):
    path = Path(path)
    if not path.is_file():
        raise files.FileError(path, "no such file")
    try:
        if path.suffix.lower() == ".toml":
            try:
                import tomllib
            except ImportError:  # Python 3.10
                raise files.FileError(path, "reading TOML needs Python 3.11 or later; "
                                            "use a .json config") from None

            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        elif path.suffix.lower() == ".json":
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        else:
            raise files.FileError(path, "config file must end in .toml or .json")
    except (ValueError, OSError) as exc:
        if isinstance(exc, files.FileError):
            raise
        raise files.FileError(path, f"cannot read config ({exc})") from None
    if not isinstance(data, dict):
        raise files.FileError(path, "config must map option names to values")
    return data


def _options(args):
    """Estimator options from --config then --set (the later wins)."""
    options = dict(_read_config(args.config)) if args.config else {}
    for item in args.set or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item!r}: expected KEY=VALUE")
        options[key.strip()] = parse_value(value)
    return options


def _make_estimator(method, options, quiet):
    from . import CHM
    from .baselines import ForestSegmenter

    cls = {"chm": CHM, "potts": CHM, "forest": ForestSegmenter}[method]
    valid = cls().get_params(deep=False)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise UsageError(f"unknown option {unknown[0]!r} for --method {method}; options: "
                         + ", ".join(sorted(valid)))
    params = dict(options)
    params.setdefault("random_state", 0)
    if "verbose" in valid:
        params.setdefault("verbose", 0 if quiet else 1)
    if method == "potts":
        from .proposals import ProposalSegmenter

        params.setdefault("tv_weight", 0.0)  # the Potts term is the spatial penalty
        model = ProposalSegmenter(cls(**params), random_state=params["random_state"])
        model.estimator._check_params()
    else:
        model = cls(**params)
    model._check_params()  # the checks fit starts with, before any image is read
    return model


def _pairs(images, labels):
    image_paths = files.expand_paths(images)
    label_paths = files.expand_paths(labels)
    if len(image_paths) != len(label_paths):
        raise UsageError(f"{len(image_paths)} image files but {len(label_paths)} label files; "
                         "images and labels pair up by position")
    return list(zip(image_paths, label_paths))


def _describe(stack):
    n, h, w = stack.shape[:3]
    return f"{n} slices of {h} x {w}" if n > 1 else f"{h} x {w}"


def _read_pair(image_path, label_path, unlabeled):
    """Image stack and label stack (-1 = unlabeled) of one pair, checked against each other."""
    image = files.read_image(image_path)
    labels = files.read_labels(label_path)
    if labels.shape != image.shape[:3]:
        raise files.FileError(label_path, f"label image is {_describe(labels)} pixels but its "
                                          f"image {image_path} is {_describe(image)}")
    bad = (labels < 0) & (labels != unlabeled)
    if bad.any():
        raise files.FileError(label_path, f"holds the negative label {labels[bad].min()}; "
                                          f"classes are >= 0 and unlabeled pixels are "
                                          f"{unlabeled} (--unlabeled)")
    return image, np.where(labels == unlabeled, -1, labels)


def _channels(stack):
    """1 or 3: channels of a stack read by :func:`files.read_image`."""
    return 3 if stack.ndim == 4 else 1


_KIND = {1: "grey", 3: "RGB"}


def _load_model(path):
    from . import load

    path = Path(path)
    if not path.exists():
        raise files.FileError(path, "no such file")
    try:
        model = load(path)
    except Exception as exc:  # a corrupt or foreign file fails in many ways
        raise files.FileError(path, f"cannot read a chm model ({_error_text(exc)})") \
            from None
    if not hasattr(model, "classes_"):
        raise files.FileError(path, "holds a model that is not fitted")
    return model


def _check_model_channels(model, stack, path):
    want = getattr(model, "n_channels_", None)
    got = _channels(stack)
    if want is not None and got != want:
        raise files.FileError(path, f"is a {_KIND[got]} image but the model was trained on "
                                    f"{_KIND[want]} images")


def _can_tile(model):
    """Whether ``model.predict_proba`` takes ``tile_size`` and, for a wrapper, so does the
    model it wraps (``estimator_``), which it passes the tiles on to."""
    if "tile_size" not in inspect.signature(model.predict_proba).parameters:
        return False
    inner = getattr(model, "estimator_", None)
    return inner is None or _can_tile(inner)


def _tiling(model, image, tile_size):
    """``predict_proba`` keyword arguments for one slice: tiles when asked or when large."""
    h, w = image.shape[:2]
    if tile_size is None:
        tile_size = DEFAULT_TILE if h * w > TILE_ABOVE else 0
    if not tile_size or max(h, w) <= tile_size or not _can_tile(model):
        return {}
    return {"tile_size": int(tile_size)}


class _Predictor:
    """Probabilities of one slice: in-process (tiled when large) or on a dask cluster."""

    def __init__(self, model, tile_size, scheduler, quiet=True):
        self.model = model
        self.tile_size = tile_size
        self.client = None
        if tile_size and not scheduler and not _can_tile(model):
            _say(quiet, f"note: a {type(model).__name__} predicts whole images; --tile-size "
                        "is used with --scheduler only")
        if scheduler:
            from dask.distributed import Client

            try:
                self.client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as exc:
                raise UsageError(f"--scheduler {scheduler}: cannot reach the dask scheduler "
                                 f"({_error_text(exc)})") from None

    def __call__(self, image):
        if self.client is not None:
            from . import scale_out

            lazy = scale_out.predict_proba(self.model, image,
                                           tile_size=self.tile_size or DEFAULT_TILE)
            return self.client.compute(lazy, sync=True)
        return self.model.predict_proba([image], **_tiling(self.model, image,
                                                           self.tile_size))[0]

    def close(self):
        if self.client is not None:
            self.client.close()


# --------------------------------------------------------------- commands
def _label_shares(paths, classes, unlabeled):
    """Class shares of the labeled pixels of label files (``--shares-from``).

    One share per value of ``classes`` (the training labels' values, sorted:
    the order of ``CHM.classes_``); a value the training labels lack is an
    error, as is a class with no pixel in the files (its share would be 0).
    """
    counts = dict.fromkeys(classes, 0)
    paths = files.expand_paths(paths)
    for path in paths:
        labels = files.read_labels(path)
        values, n = np.unique(labels[labels != unlabeled], return_counts=True)
        for value, k in zip(values.tolist(), n.tolist()):
            if value not in counts:
                raise files.FileError(path, f"holds the label {value}, which no training label "
                                            f"file has (classes {', '.join(map(str, classes))})")
            counts[value] += k
    total = sum(counts.values())
    if total == 0:
        raise UsageError(f"--shares-from: no labeled pixels in {len(paths)} label files (every "
                         f"pixel is {unlabeled}, the unlabeled value)")
    missing = [str(c) for c in classes if counts[c] == 0]
    if missing:  # a share of 0 would keep the class out of every prediction
        raise UsageError(f"--shares-from: no pixel of class {', '.join(missing)} in "
                         f"{len(paths)} label files; label more pixels at random")
    return [counts[c] / total for c in classes]


def _train(args):
    quiet = args.quiet
    options = _options(args)
    has_prior = args.method in ("chm", "potts")
    if args.shares_from and (not has_prior or "class_prior" in options):
        raise UsageError(f"--shares-from sets class_prior of --method {args.method}; "
                         + ("--set/--config set it too" if has_prior
                            else "this method has none: use --method potts or chm"))
    model = _make_estimator(args.method, options, quiet)
    pairs = _pairs(args.images, args.labels)
    images, labels, first = [], [], None
    for image_path, label_path in _progress(pairs, quiet, desc="reading", unit="image"):
        image, lab = _read_pair(image_path, label_path, args.unlabeled)
        if first is None:
            first = (image_path, _channels(image))
        elif _channels(image) != first[1]:
            raise files.FileError(image_path, f"is a {_KIND[_channels(image)]} image but "
                                              f"{first[0]} is {_KIND[first[1]]}; all images "
                                              "must be alike")
        images.extend(image)
        labels.extend(lab)
    if not any((lab >= 0).any() for lab in labels):
        raise UsageError(f"no labeled pixels in the label files (every pixel is "
                         f"{args.unlabeled}, the unlabeled value)")
    if args.shares_from:
        from ._validation import check_sparse_labels

        classes = check_sparse_labels(labels).tolist()  # the order of classes_
        chm_model = model.estimator if args.method == "potts" else model
        chm_model.set_params(class_prior=_label_shares(args.shares_from, classes, args.unlabeled))
        _say(quiet, "class shares from --shares-from: " + ", ".join(
            f"{c}: {share:.3f}" for c, share in zip(classes, chm_model.class_prior)))
    _say(quiet, f"training {args.method} on {len(images)} images")
    model.fit(images, labels)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from . import save

    save(model, out)
    classes = ", ".join(str(c) for c in model.classes_)
    _say(quiet, f"saved {out} (classes {classes})")
    return 0


def _outputs(inputs, out_dir, proba):
    """Output paths per input; refuses two inputs writing one file or writing over an input."""
    seen = {}
    inputs_resolved = {p.resolve() for p in inputs}
    plan = []
    for path in inputs:
        stem = files.output_stem(path)
        label_out = out_dir / f"{stem}.tif"
        proba_out = out_dir / f"{stem}_proba.tif" if proba else None
        for target in filter(None, (label_out, proba_out)):
            if target.resolve() in inputs_resolved:
                raise files.FileError(path, f"its result {target} would overwrite an input")
            if target in seen:
                raise files.FileError(path, f"its result {target} would overwrite that of "
                                            f"{seen[target]}; give the inputs distinct names")
            seen[target] = path
        plan.append((path, label_out, proba_out))
    return plan


def _predict(args):
    quiet = args.quiet
    model = _load_model(args.model)
    if "verbose" in model.get_params():  # the tile bars follow --quiet, not the training run
        model.set_params(verbose=0 if quiet else 1)
    if args.tile_size is not None and args.tile_size < 0:
        raise UsageError(f"--tile-size must be >= 0, got {args.tile_size}")
    inputs = files.expand_paths(args.images)
    out_dir = Path(args.out)
    plan = _outputs(inputs, out_dir, args.proba)
    out_dir.mkdir(parents=True, exist_ok=True)
    classes = np.asarray(model.classes_)
    dtype = files.label_dtype(int(classes.max()), min(0, int(classes.min())))
    predictor = _Predictor(model, args.tile_size, args.scheduler, quiet)
    try:
        for path, label_out, proba_out in _progress(plan, quiet, desc="predicting",
                                                    unit="image"):
            stack = files.read_image(path)
            _check_model_channels(model, stack, path)
            n_pixels = stack.shape[0] * stack.shape[1] * stack.shape[2]
            label_writer = files.TiffStackWriter(
                label_out, dtype, bigtiff=files.needs_bigtiff(n_pixels, dtype))
            proba_writer = files.TiffStackWriter(
                proba_out, np.float32,
                bigtiff=files.needs_bigtiff(n_pixels * len(classes), np.float32)) \
                if proba_out else None
            with label_writer:
                if proba_writer is None:
                    for image in stack:
                        label_writer.write(classes[_slice_proba(predictor, image, path)
                                                   .argmax(axis=-1)])
                else:
                    with proba_writer:
                        for image in stack:
                            proba = _slice_proba(predictor, image, path)
                            label_writer.write(classes[proba.argmax(axis=-1)])
                            proba_writer.write(proba)
    finally:
        predictor.close()
    _say(quiet, f"wrote {len(plan)} label images to {out_dir}")
    return 0


def _slice_proba(predictor, image, path):
    try:
        return np.asarray(predictor(image), np.float32)
    except ValueError as exc:
        raise files.FileError(path, exc) from None


def confusion_matrix(predicted, truth, n_classes):
    """Counts ``M[i, j]`` of pixels of true class index ``i`` predicted as ``j``.

    ``truth`` holds class indices, ``-1`` where unlabeled (left out).
    """
    known = truth >= 0
    flat = truth[known] * n_classes + predicted[known]
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _ratio(num, den):
    return num / den if den else float("nan")


def scores(confusion):
    """Pixel error and per-class precision, recall, F1 and IoU of a confusion matrix.

    Returns
    -------
    error : float
    per_class : list of dict
        Keys ``pixels`` (true pixels of the class), ``precision``,
        ``recall``, ``f1``, ``iou``; NaN where a ratio has no pixels.
    """
    confusion = np.asarray(confusion, np.int64)
    total = int(confusion.sum())
    error = _ratio(total - int(np.trace(confusion)), total)
    per_class = []
    for k in range(confusion.shape[0]):
        tp = int(confusion[k, k])
        fn = int(confusion[k].sum()) - tp
        fp = int(confusion[:, k].sum()) - tp
        per_class.append({"pixels": tp + fn, "precision": _ratio(tp, tp + fp),
                          "recall": _ratio(tp, tp + fn), "f1": _ratio(2 * tp, 2 * tp + fp + fn),
                          "iou": _ratio(tp, tp + fp + fn)})
    return error, per_class


def _number(value):
    return "     -" if np.isnan(value) else f"{value:6.4f}"


def format_scores(classes, error, per_class, n_images, n_pixels):
    """The table ``chm evaluate`` prints."""
    lines = [f"images: {n_images}, labeled pixels: {n_pixels}",
             f"pixel error: {error:.4f}", "",
             f"{'class':>8} {'pixels':>10} {'precision':>9} {'recall':>9} {'F1':>9} {'IoU':>9}"]
    for value, row in zip(classes, per_class):
        lines.append(f"{value!s:>8} {row['pixels']:>10d} {_number(row['precision']):>9} "
                     f"{_number(row['recall']):>9} {_number(row['f1']):>9} "
                     f"{_number(row['iou']):>9}")
    f1 = [r["f1"] for r in per_class if not np.isnan(r["f1"])]
    iou = [r["iou"] for r in per_class if not np.isnan(r["iou"])]
    lines.append(f"{'mean':>8} {'':>10} {'':>9} {'':>9} "
                 f"{_number(np.mean(f1) if f1 else np.nan):>9} "
                 f"{_number(np.mean(iou) if iou else np.nan):>9}")
    return "\n".join(lines)


def _evaluate(args):
    quiet = args.quiet
    model = _load_model(args.model)
    pairs = _pairs(args.images, args.labels)
    classes = np.asarray(model.classes_)
    n = len(classes)
    confusion = np.zeros((n, n), np.int64)
    predictor = _Predictor(model, None, None)
    for image_path, label_path in _progress(pairs, quiet, desc="evaluating", unit="image"):
        image, lab = _read_pair(image_path, label_path, args.unlabeled)
        _check_model_channels(model, image, image_path)
        known = lab[lab >= 0]
        unknown = np.setdiff1d(np.unique(known), classes)
        if unknown.size:
            raise files.FileError(label_path, f"holds the label {unknown[0]}, which the model "
                                              "does not know (its classes: "
                                              + ", ".join(str(c) for c in classes) + ")")
        for im, truth in zip(image, lab):
            if not (truth >= 0).any():
                continue
            predicted = _slice_proba(predictor, im, image_path).argmax(axis=-1)
            index = np.where(truth >= 0, np.searchsorted(classes, truth), -1)
            confusion += confusion_matrix(predicted, index, n)
    total = int(confusion.sum())
    if total == 0:
        raise UsageError(f"no labeled pixels to evaluate (every pixel is {args.unlabeled}, "
                         "the unlabeled value)")
    error, per_class = scores(confusion)
    print(format_scores(classes, error, per_class, len(pairs), total))
    return 0


def _suggest_outputs(inputs, out_dir):
    """CSV and TIFF paths per image; refuses collisions and writing over an input."""
    inputs_resolved = {p.resolve() for p in inputs}
    seen, plan = {}, []
    for path in inputs:
        stem = files.output_stem(path)
        targets = (out_dir / f"{stem}_suggestions.csv", out_dir / f"{stem}_suggestions.tif")
        for target in targets:
            if target.resolve() in inputs_resolved:
                raise files.FileError(path, f"its result {target} would overwrite an input")
            if target in seen:
                raise files.FileError(path, f"its result {target} would overwrite that of "
                                            f"{seen[target]}; give the inputs distinct names")
            seen[target] = path
        plan.append(targets)
    return plan


def _write_suggestions(path, suggestions):
    """Write suggestions as CSV, most uncertain first: columns ``row,col,uncertainty``,
    with a leading ``slice`` column when there is more than one slice.

    Written to a temporary file moved onto ``path``, like every result.
    """
    stacked = len(suggestions) > 1
    lines = [("slice," if stacked else "") + "row,col,uncertainty"]
    for index, found in enumerate(suggestions):
        for r, c, u in zip(found.rows, found.cols, found.uncertainty):
            lines.append((f"{index}," if stacked else "") + f"{r},{c},{u:.6f}")
    with files._replacing(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write("\n".join(lines) + "\n")


def _suggest(args):
    from . import labeling

    quiet = args.quiet
    if args.n < 1:
        raise UsageError(f"--n must be >= 1, got {args.n}")
    for option in ("min_distance", "label_distance", "smooth"):
        value = getattr(args, option)
        if value is not None and not value >= 0:
            raise UsageError(f"--{option.replace('_', '-')} must be >= 0, got {value}")
    if not 0 <= args.seed < 2 ** 32:
        raise UsageError(f"--seed must be in [0, 4294967295], got {args.seed}")
    model = _load_model(args.model)
    if "verbose" in model.get_params():
        model.set_params(verbose=0 if quiet else 1)
    if args.labels:
        pairs = _pairs(args.images, args.labels)
    else:
        pairs = [(path, None) for path in files.expand_paths(args.images)]
    out_dir = Path(args.out)
    plan = _suggest_outputs([image for image, _ in pairs], out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    predictor = _Predictor(model, None, None)
    for (image_path, label_path), (csv_out, tif_out) in _progress(
            list(zip(pairs, plan)), quiet, desc="suggesting", unit="image"):
        if label_path is None:
            stack, known = files.read_image(image_path), None
        else:
            stack, known = _read_pair(image_path, label_path, args.unlabeled)
        _check_model_channels(model, stack, image_path)
        proba = [_slice_proba(predictor, image, image_path) for image in stack]
        found = labeling.suggest_from_proba(
            proba, args.n, labels=None if known is None else list(known),
            min_distance=args.min_distance, measure=args.measure, smooth=args.smooth,
            label_distance=args.label_distance, random_state=args.seed)
        layers = np.stack([labeling.suggestion_layer(f, stack.shape[1:3]) for f in found])
        files.write_labels(tif_out, layers if len(layers) > 1 else layers[0], dtype=np.uint8)
        _write_suggestions(csv_out, found)
    _say(quiet, f"wrote suggestions for {len(plan)} images to {out_dir}")
    return 0


# ----------------------------------------------------------------- parser
def build_parser():
    """The ``argparse`` parser of the ``chm`` command."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="chm", description="Semantic segmentation from sparse labels: train a model on "
        "images with painted labels, predict label images, evaluate, suggest pixels to label.")
    parser.add_argument("--version", action="version", version=f"chm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def labels_options(p):
        p.add_argument("--labels", nargs="+", required=True, metavar="LABEL",
                       help="label files, folders or glob patterns, paired with the images by "
                            "position: integer images, one class value per pixel")
        p.add_argument("--unlabeled", type=int, default=0, metavar="V",
                       help="label value of unlabeled pixels (default 0, as napari and ilastik "
                            "paint)")

    def quiet_option(p):
        p.add_argument("--quiet", action="store_true", help="no progress output")

    def model_and_images(p):
        p.add_argument("model", metavar="MODEL", help="model file written by chm train")
        p.add_argument("images", nargs="+", metavar="IMAGE",
                       help="image files, folders or glob patterns")

    train = sub.add_parser("train", help="train a model on images and sparse labels",
                           description="Train a model on images and their painted labels and "
                           "save it. Label value V (--unlabeled) marks unlabeled pixels; every "
                           "other value is a class, and predictions use the same values.")
    train.add_argument("images", nargs="+", metavar="IMAGE",
                       help="image files (PNG, JPEG, TIFF, zarr), folders or glob patterns")
    labels_options(train)
    train.add_argument("--out", required=True, metavar="MODEL", help="model file to write")
    train.add_argument("--method", choices=("potts", "chm", "forest"), default="potts",
                       help="potts (default): contextual hierarchical model trained with the "
                            "Potts penalty by graph-cut proposals, its weight (0 included) "
                            "chosen on held-out labeled pixels; chm: the same model with a TV "
                            "penalty (tv_weight 0.1) instead; forest: random forest on "
                            "multi-scale features (ilastik style)")
    train.add_argument("--config", metavar="FILE",
                       help="estimator options from a .toml or .json file (a flat table)")
    train.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="estimator option, VALUE parsed as JSON when it can be (2, 0.1, "
                            "true, null, [1,2]) else taken as text; repeatable, wins over "
                            "--config; random_state defaults to 0")
    train.add_argument("--shares-from", nargs="+", metavar="LABEL",
                       help="label files of pixels labeled at random (such as the first "
                            "clicks, before any suggested pixel): predictions are made for "
                            "their class shares (class_prior). Pixels labeled where chm "
                            "suggest pointed are not a random sample, and the shares the "
                            "model would estimate from them are biased")
    quiet_option(train)
    train.set_defaults(run=_train)

    predict = sub.add_parser("predict", help="write label images (and probabilities)",
                             description="Predict every image: DIR/<name>.tif holds the label "
                             "image (the training label values), DIR/<name>_proba.tif with "
                             "--proba the float32 class probabilities (H, W, classes). Stacks "
                             "are predicted slice by slice and written as stacks.")
    model_and_images(predict)
    predict.add_argument("--out", required=True, metavar="DIR", help="output folder")
    predict.add_argument("--proba", action="store_true",
                         help="also write the class probabilities")
    predict.add_argument("--tile-size", type=int, default=None, metavar="N",
                         help=f"predict in N x N tiles (default: {DEFAULT_TILE} for images over "
                              f"{TILE_ABOVE} pixels; 0: never tile)")
    predict.add_argument("--scheduler", metavar="ADDRESS",
                         help="predict in tiles on the dask cluster at ADDRESS "
                              "(e.g. tcp://host:8786)")
    quiet_option(predict)
    predict.set_defaults(run=_predict)

    evaluate = sub.add_parser("evaluate", help="pixel error, F1 and IoU on labeled pixels",
                              description="Predict the images and score the prediction on the "
                              "labeled pixels of the label files: pixel error, and per class "
                              "precision, recall, F1 and IoU.")
    model_and_images(evaluate)
    labels_options(evaluate)
    quiet_option(evaluate)
    evaluate.set_defaults(run=_evaluate)

    suggest = sub.add_parser("suggest", help="pixels to label next (most uncertain, spread out)",
                             description="Suggest, per image, the unlabeled pixels the model "
                             "is least sure of, at least --min-distance apart: "
                             "DIR/<name>_suggestions.csv lists them (row, col, uncertainty; "
                             "a leading slice column for stacks), most uncertain first, and "
                             "DIR/<name>_suggestions.tif is a uint8 label layer, 1 at each "
                             "suggested pixel and 0 elsewhere.")
    model_and_images(suggest)
    suggest.add_argument("--out", required=True, metavar="DIR", help="output folder")
    suggest.add_argument("--n", type=int, default=20, metavar="N",
                         help="suggestions per image (per slice of a stack; default 20)")
    suggest.add_argument("--labels", nargs="+", metavar="LABEL",
                         help="the current label files, paired with the images by position: "
                              "their labeled pixels are never suggested")
    suggest.add_argument("--unlabeled", type=int, default=0, metavar="V",
                         help="label value of unlabeled pixels (default 0)")
    suggest.add_argument("--min-distance", type=float, default=8.0, metavar="D",
                         help="smallest distance in pixels between two suggestions "
                              "(default 8)")
    suggest.add_argument("--label-distance", type=float, default=None, metavar="D",
                         help="smallest distance in pixels between a suggestion and a labeled "
                              "pixel (default: --min-distance)")
    suggest.add_argument("--smooth", type=float, default=0.0, metavar="SIGMA",
                         help="rank pixels by the uncertainty smoothed by a Gaussian of SIGMA "
                              "px, preferring broad unsure regions to thin boundaries "
                              "(default 0: the raw uncertainty)")
    suggest.add_argument("--measure", choices=("margin", "entropy", "least_confident"),
                         default="margin", help="uncertainty measure (default margin: one "
                                                "minus the gap between the top two classes)")
    suggest.add_argument("--seed", type=int, default=0, metavar="S",
                         help="seed breaking ties between equally uncertain pixels (default 0)")
    quiet_option(suggest)
    suggest.set_defaults(run=_suggest)
    return parser


def _error_text(exc):
    """Type and first line of an exception from a library, for a one-line message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _one_line(exc):
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv=None):
    """Run the ``chm`` command.

    Parameters
    ----------
    argv : list of str or None
        Arguments after the program name; ``None`` reads ``sys.argv``.

    Returns
    -------
    int
        Exit status: 0 on success, 2 for bad input (a message naming the
        problem on stderr), 130 when interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    try:
        return args.run(args)
    except (ValueError, TypeError, OSError) as exc:
        print(f"chm {args.command}: error: {_one_line(exc)}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("chm: interrupted", file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
