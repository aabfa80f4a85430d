"""Command-line pieces shared by the table benchmarks."""
import json


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
    """``--feature-cache DIR``: the folder given to :func:`_trials.feature_cache`."""
    parser.add_argument("--feature-cache", default=None, metavar="DIR",
                        help="folder caching the CHM image features shared by all trials "
                             "(default: a temporary folder removed at the end)")


def add_mrf_cv_images_argument(parser):
    """``--mrf-cv-images N``: images scored per fold of the MRF's lambda search."""
    parser.add_argument("--mrf-cv-images", type=int, default=None, metavar="N",
                        help="MRF methods: score each cross-validation fold of lambda on N "
                             "random training images (MRFSegmenter(cv_images=N); default: all)")


def add_mrf_cv_fits_argument(parser):
    """``--mrf-cv-fits {auto,refit}``: where the folds of the MRF's lambda search get their maps."""
    parser.add_argument("--mrf-cv-fits", choices=("auto", "refit"), default="auto",
                        help="MRF methods: 'auto' retrains only the CHM's top-down classifier per "
                             "fold (CHM.fit_heldout), 'refit' fits the whole model per fold "
                             "(MRFSegmenter(cv_fits=...); default: auto)")


def data_folder(root):
    """The data folder the loaders use for ``root`` (argument, CHM_DATA, default)."""
    from chm.datasets import data_root

    return data_root(root)
