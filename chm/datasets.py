"""Dataset loaders, sparse-label sampling and evaluation folds.

The datasets live outside the project.  The data folder is, in order of
precedence, the ``root`` argument of a loader, the environment variable
``CHM_DATA``, or ``<project root>/../shared/data``; it holds one sub-folder
per dataset:

- ``weizmann_horse_db/`` -- Weizmann Horse database: ``gray/``, ``rgb/`` and
  ``figure_ground/`` (masks stored as JPEG), files ``horse001.jpg`` ...;
- ``iccv09Data/`` -- Stanford Background dataset: ``images/*.jpg`` and
  ``labels/*.regions.txt``.

SIFT Flow is read from its original release layout by :func:`load_sift_flow`.
"""
import numbers
import os
from pathlib import Path
import re
import warnings

import numpy as np
from PIL import Image
from sklearn.model_selection import KFold
from sklearn.utils import check_random_state

from ._validation import check_label_maps

__all__ = [
    "STANFORD_CLASSES",
    "SIFT_FLOW_N_CLASSES",
    "data_root",
    "load_weizmann_horse",
    "load_stanford_background",
    "load_sift_flow",
    "sample_sparse_labels",
    "stanford_folds",
]

#: Project root: the folder holding the ``chm`` package.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Class names of the Stanford Background dataset, in label order 0-7.
STANFORD_CLASSES = (
    "sky",
    "tree",
    "road",
    "grass",
    "water",
    "building",
    "mountain",
    "foreground object",
)

#: Number of semantic classes of SIFT Flow (labels 0-32 after the shift).
SIFT_FLOW_N_CLASSES = 33

_SIFT_FLOW_SUBDIR = "spatial_envelope_256x256_static_8outdoorcategories"
_SPLIT_EXTENSIONS = {".jpg", ".jpeg", ".png", ".mat"}


# ---------------------------------------------------------------------------
# locating the data
# ---------------------------------------------------------------------------
def _search_roots(root=None):
    """Data folders to search, in order of precedence."""
    if root is not None:
        return [Path(root).expanduser()]
    roots = []
    env = os.environ.get("CHM_DATA")
    if env:
        roots.append(Path(env).expanduser())
    default = PROJECT_ROOT.parent / "shared" / "data"
    if default not in roots:
        roots.append(default)
    return roots


def data_root(root=None):
    """Folder holding the datasets.

    Parameters
    ----------
    root : str or Path, optional
        Explicit data folder; returned as is when given.

    Returns
    -------
    root : Path
        ``root`` if given; otherwise the first existing folder among the
        environment variable ``CHM_DATA`` and ``<project root>/../shared/data``
        (the first of them when neither exists).
    """
    roots = _search_roots(root)
    for candidate in roots:
        if candidate.is_dir():
            return candidate
    return roots[0]


def _find_dataset(name, root, required):
    """Locate the folder of dataset ``name`` holding the ``required`` sub-folders.

    A search root is accepted either as the data folder (holding ``name``)
    or as the dataset folder itself.

    Raises
    ------
    FileNotFoundError
        Naming every folder looked at.
    """
    looked = []
    for base in _search_roots(root):
        for candidate in (base / name, base):
            if candidate in looked:
                continue
            looked.append(candidate)
            if all((candidate / sub).is_dir() for sub in required):
                return candidate
    places = "\n  ".join(str(p) for p in looked)
    raise FileNotFoundError(
        f"dataset {name!r} (with sub-folders {', '.join(required)}) not found; "
        f"looked in:\n  {places}\npass root=... or set the environment variable CHM_DATA"
    )


def _check_n(n):
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer or None, got {n!r}")
    return int(n)


# Errors about the file itself, not its content: passed on unchanged by the readers.
_ACCESS_ERRORS = (FileNotFoundError, PermissionError)


def _read_pixels(path, mode, size=None):
    """uint8 pixels of an image file converted to ``mode`` ("L" or "RGB"), resized to ``size``.

    Raises
    ------
    ValueError
        Naming the file, when it cannot be decoded (corrupt, truncated, not
        an image).
    """
    try:
        with Image.open(path) as img:
            img = img.convert(mode)
            if size is not None and img.size != size:
                img = img.resize(size, Image.Resampling.BILINEAR)
            return np.asarray(img)
    except _ACCESS_ERRORS:
        raise
    except Exception as exc:  # PIL reports bad content as OSError, SyntaxError, ValueError...
        raise ValueError(f"{path}: cannot read the image ({type(exc).__name__}: {exc})") from exc


def _read_gray(path):
    return _read_pixels(path, "L").astype(np.float32) / np.float32(255.0)


def _read_rgb(path, size=None):
    return _read_pixels(path, "RGB", size).astype(np.float32) / np.float32(255.0)


# ---------------------------------------------------------------------------
# Weizmann Horse
# ---------------------------------------------------------------------------
def load_weizmann_horse(root=None, color=False, n=None):
    """Load the Weizmann Horse database.

    Parameters
    ----------
    root : str or Path, optional
        Data folder holding ``weizmann_horse_db/`` (or that folder itself);
        default: see :func:`data_root`.
    color : bool, default=False
        Load the RGB images instead of the gray ones.  The RGB files of the
        release come at other resolutions than the gray images and masks;
        they are resized (bilinear) to the mask's size so that images and
        masks agree pixel for pixel.
    n : int, optional
        Load only the first ``n`` images (in sorted order).

    Returns
    -------
    images : list of ndarray, float32 in [0, 1]
        (H, W) gray images, or (H, W, 3) when ``color`` is True; sorted by
        file name (``horse001.jpg``, ``horse002.jpg``, ...).
    masks : list of ndarray, uint8
        (H, W) figure-ground masks: 1 horse, 0 background (the JPEG masks
        thresholded at 128).

    Raises
    ------
    FileNotFoundError
        If the dataset is not found (naming every place looked at), or an
        image has no mask.
    ValueError
        Naming the file, if an image or a mask cannot be decoded (corrupt or
        truncated JPEG), or a gray image and its mask differ in size.
    """
    n = _check_n(n)
    image_dir = "rgb" if color else "gray"
    folder = _find_dataset("weizmann_horse_db", root, (image_dir, "figure_ground"))
    names = sorted(p.name for p in (folder / image_dir).glob("*.jpg"))
    if not names:
        raise FileNotFoundError(f"no .jpg images in {folder / image_dir}")
    if n is not None:
        names = names[:n]
    images, masks = [], []
    for name in names:
        mask_path = folder / "figure_ground" / name
        if not mask_path.is_file():
            raise FileNotFoundError(f"no mask {mask_path} for image {folder / image_dir / name}")
        mask = (_read_pixels(mask_path, "L") >= 128).astype(np.uint8)
        if color:
            image = _read_rgb(folder / image_dir / name, size=(mask.shape[1], mask.shape[0]))
        else:
            image = _read_gray(folder / image_dir / name)
            if image.shape != mask.shape:
                raise ValueError(
                    f"image {folder / image_dir / name} has shape {image.shape} but its mask "
                    f"{mask_path} {mask.shape}"
                )
        images.append(image)
        masks.append(mask)
    return images, masks


# ---------------------------------------------------------------------------
# Stanford Background
# ---------------------------------------------------------------------------
def _first_non_integer(text):
    """``(position, token)`` of the first whitespace-separated token of ``text`` that is
    not a decimal integer, or None."""
    for position, token in enumerate(text.split()):
        if not re.fullmatch(r"[+-]?\d+", token):
            return position, token
    return None


def _read_regions(path, shape):
    """Parse a ``*.regions.txt`` whitespace integer matrix of the given shape.

    Labels 0-7 are kept, negative ones (unknown) become -1.

    Raises
    ------
    ValueError
        Naming the file, if it is not ASCII text, holds a token that is not
        an integer, has another number of values than ``shape`` holds, or a
        label above 7.
    """
    try:
        text = Path(path).read_bytes().decode("ascii")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path}: not a text file of integers (byte {exc.start} is not ASCII)"
        ) from None
    with warnings.catch_warnings():
        # a parse failure stops early with a DeprecationWarning or raises a
        # ValueError, by numpy version; both are reported below
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            values = np.fromstring(text, dtype=np.int64, sep=" ")
        except ValueError:
            values = None
    if values is None or values.size != shape[0] * shape[1]:
        bad = _first_non_integer(text)
        if bad is not None:
            raise ValueError(f"{path}: value {bad[0] + 1} is {bad[1][:20]!r}, not an integer")
    if values is None:
        raise ValueError(f"{path}: cannot read a matrix of integers")
    if values.size != shape[0] * shape[1]:
        raise ValueError(
            f"{path}: expected {shape[0]} x {shape[1]} = {shape[0] * shape[1]} integers "
            f"(the image size), read {values.size}"
        )
    top = len(STANFORD_CLASSES) - 1
    if values.size and values.max() > top:
        raise ValueError(
            f"{path}: labels must be 0-{top} (negative: unknown), found {int(values.max())}"
        )
    labels = values.reshape(shape)
    labels[labels < 0] = -1
    return labels


def load_stanford_background(root=None, n=None):
    """Load the Stanford Background dataset (Gould et al., ICCV 2009).

    Parameters
    ----------
    root : str or Path, optional
        Data folder holding ``iccv09Data/`` (or that folder itself);
        default: see :func:`data_root`.
    n : int, optional
        Load only the first ``n`` images (in sorted order).

    Returns
    -------
    images : list of ndarray of shape (H, W, 3), float32 in [0, 1]
        Sorted by file name.
    labels : list of ndarray of shape (H, W), int64
        Semantic classes 0-7 (see :data:`STANFORD_CLASSES`); -1 where the
        release marks the pixel unknown (any negative value).

    Raises
    ------
    FileNotFoundError
        If the dataset is not found (naming every place looked at), or an
        image has no label file.
    ValueError
        Naming the file, if an image cannot be decoded, or a label file is
        not a text matrix of integers, does not match its image's size or
        holds a label above 7.
    """
    n = _check_n(n)
    folder = _find_dataset("iccv09Data", root, ("images", "labels"))
    paths = sorted((folder / "images").glob("*.jpg"))
    if not paths:
        raise FileNotFoundError(f"no .jpg images in {folder / 'images'}")
    if n is not None:
        paths = paths[:n]
    images, labels = [], []
    for path in paths:
        label_path = folder / "labels" / f"{path.stem}.regions.txt"
        if not label_path.is_file():
            raise FileNotFoundError(f"no label file {label_path} for image {path}")
        image = _read_rgb(path)
        images.append(image)
        labels.append(_read_regions(label_path, image.shape[:2]))
    return images, labels


def stanford_folds(n_images=715, n_folds=5, random_state=0):
    """Seeded random folds for cross-validation on Stanford Background.

    Parameters
    ----------
    n_images : int, default=715
        Number of images (715 = 5 x 143).
    n_folds : int, default=5
        Number of folds.
    random_state : int, RandomState instance or None, default=0
        Seed of the shuffle.

    Returns
    -------
    folds : list of (train_idx, test_idx)
        Sorted int64 index arrays; the test parts partition
        ``range(n_images)`` into folds whose sizes differ by at most one.
    """
    if n_folds < 2 or n_folds > n_images:
        raise ValueError(f"need 2 <= n_folds <= n_images, got n_folds={n_folds}, n_images={n_images}")
    kfold = KFold(n_splits=n_folds, shuffle=True, random_state=random_state)
    return [
        (np.sort(train).astype(np.int64), np.sort(test).astype(np.int64))
        for train, test in kfold.split(np.arange(n_images))
    ]


# ---------------------------------------------------------------------------
# SIFT Flow
# ---------------------------------------------------------------------------
def _read_split(split):
    """Image names listed in a split file (one per line, extension optional)."""
    names = []
    for line in Path(split).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name = Path(line).name
        stem, ext = os.path.splitext(name)
        names.append(stem if ext.lower() in _SPLIT_EXTENSIONS else name)
    if not names:
        raise ValueError(f"split file {split} lists no image")
    return names


def load_sift_flow(root, split=None):
    """Load SIFT Flow from its original release layout.

    Parameters
    ----------
    root : str or Path
        Folder holding ``Images/`` and ``SemanticLabels/`` (or its parent,
        holding ``SiftFlowDataset/``).  The images are read from
        ``Images/spatial_envelope_256x256_static_8outdoorcategories/*.jpg``
        and the labels from the ``.mat`` files of the same name under
        ``SemanticLabels/spatial_envelope_256x256_static_8outdoorcategories/``
        (variable ``S``: 0 unlabeled, 1-33 the classes).
    split : str or Path, optional
        Split-list file: one image name per line, with or without
        extension (blank lines and lines starting with ``#`` are skipped).
        Restricts the images to those listed, in the listed order.  By
        default every image is loaded, sorted by name.

    Returns
    -------
    images : list of ndarray of shape (H, W, 3), float32 in [0, 1]
    labels : list of ndarray of shape (H, W), int64
        ``S - 1``: classes 0-32 (:data:`SIFT_FLOW_N_CLASSES`), -1 unlabeled.
    names : list of str
        Image names without extension.

    Raises
    ------
    FileNotFoundError
        If the release folders, a listed image or a label file are missing.
    ValueError
        Naming the file, if an image or a label file cannot be read
        (corrupt, truncated), a label file lacks ``S``, or ``S`` does not
        match its image or holds values other than the integers 0-33.
    """
    from scipy.io import loadmat

    base = Path(root).expanduser()
    looked = []
    for candidate in (base, base / "SiftFlowDataset"):
        image_dir = candidate / "Images" / _SIFT_FLOW_SUBDIR
        label_dir = candidate / "SemanticLabels" / _SIFT_FLOW_SUBDIR
        looked += [image_dir, label_dir]
        if image_dir.is_dir() and label_dir.is_dir():
            break
    else:
        places = "\n  ".join(str(p) for p in looked)
        raise FileNotFoundError(f"SIFT Flow not found; looked for:\n  {places}")

    if split is None:
        names = sorted(p.stem for p in image_dir.glob("*.jpg"))
        if not names:
            raise FileNotFoundError(f"no .jpg images in {image_dir}")
    else:
        names = _read_split(split)

    images, labels = [], []
    for name in names:
        image_path = image_dir / f"{name}.jpg"
        label_path = label_dir / f"{name}.mat"
        if not image_path.is_file():
            raise FileNotFoundError(f"no image {image_path}")
        if not label_path.is_file():
            raise FileNotFoundError(f"no label file {label_path} for image {image_path}")
        image = _read_rgb(image_path)
        try:
            mat = loadmat(label_path)
        except _ACCESS_ERRORS:
            raise
        except Exception as exc:  # scipy reports bad content as ValueError, MatReadError...
            raise ValueError(
                f"{label_path}: cannot read the .mat file ({type(exc).__name__}: {exc})"
            ) from exc
        if "S" not in mat:
            raise ValueError(f"{label_path} holds no variable 'S'")
        S = np.asarray(mat["S"])
        if S.shape != image.shape[:2]:
            raise ValueError(f"{label_path}: S has shape {S.shape} but the image {image.shape[:2]}")
        if S.dtype.kind not in "biuf" or not np.array_equal(S, np.round(S)) or S.min() < 0 \
                or S.max() > SIFT_FLOW_N_CLASSES:
            raise ValueError(
                f"{label_path}: S must hold integers 0-{SIFT_FLOW_N_CLASSES} (0 unlabeled)"
            )
        images.append(image)
        labels.append(S.astype(np.int64) - 1)
    return images, labels, list(names)


# ---------------------------------------------------------------------------
# sparse labels
# ---------------------------------------------------------------------------
def sample_sparse_labels(masks, n_per_image, random_state=None):
    """Keep a few random labeled pixels per image; mark the rest unlabeled.

    Parameters
    ----------
    masks : list of array_like of shape (H, W), or ndarray (N, H, W)
        Dense label maps; negative values (-1) mark unknown pixels, which
        are never sampled.
    n_per_image : int
        Number of labeled pixels kept per image, drawn without replacement
        among its known pixels (all of them when it has fewer).
    random_state : int, RandomState instance or None
        Seed; the same seed gives the same pixels.

    Returns
    -------
    sparse : list of ndarray of shape (H, W), int64
        The original label at the kept pixels, -1 elsewhere.
    """
    if (
        isinstance(n_per_image, bool)
        or not isinstance(n_per_image, numbers.Integral)
        or n_per_image < 0
    ):
        raise ValueError(f"n_per_image must be a non-negative integer, got {n_per_image!r}")
    rng = check_random_state(random_state)
    out = []
    for labels in check_label_maps(masks):
        flat = labels.ravel()
        known = np.flatnonzero(flat >= 0)
        if known.size > n_per_image:
            keep = rng.choice(known, size=int(n_per_image), replace=False)
        else:
            keep = known
        sparse = np.full(labels.shape, -1, np.int64)
        sparse.ravel()[keep] = flat[keep]
        out.append(sparse)
    return out
