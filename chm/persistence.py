"""Model files: fitted estimators stored as arrays plus plain JSON, never as code.

:func:`save` writes a fitted :class:`~chm.CHM`,
:class:`~chm.baselines.ForestSegmenter`,
:class:`~chm.mrf_segmenter.MRFSegmenter` or
:class:`~chm.convnet.ConvNetSegmenter` to one file; :func:`load` reads it
back. Nothing in the file is ever unpickled or executed: loading builds only
the classes of an explicit allow-list (:data:`ALLOWED_CLASSES`) and fills
them with numbers, strings and numpy arrays.

File format (``"chm-model"``, format version 1)
-----------------------------------------------
A zip archive holding

- ``arrays/<k>.npy``: every numpy array of the model, in the ``.npy`` format,
  read with ``np.load(allow_pickle=False)`` (any dtype but ``object``,
  structured dtypes included);
- ``manifest.json``: ``format`` (``"chm-model"``), ``format_version`` (int),
  ``package_version`` (the chm that wrote it), ``estimator`` (qualified class
  name), ``arrays`` (name, dtype, shape and SHA-256 of each array member),
  ``tree`` (the model as JSON nodes, see :mod:`chm._object_tree`) and
  ``checksum``: the SHA-256 of the rest of the manifest as canonical JSON
  (sorted keys, no spaces), which covers every array's bytes through their
  own SHA-256.

The checksums catch damaged and edited files; they are not a signature
(anyone can write a file that passes them), which is why loading builds
nothing but the allow-listed classes.

What is not stored as it was: a ``joblib.Memory`` in a ``memory`` parameter
comes back as its location (a folder name, or None; caching does not change
results). A ConvNet's network is put, on loading, on the device its
``device`` parameter names on the loading machine (``"auto"``: CUDA when
available), or on the ``device`` passed to :func:`load`.

Examples
--------
>>> import chm                                             # doctest: +SKIP
>>> model = chm.CHM(random_state=0).fit(images, labels)   # doctest: +SKIP
>>> chm.save(model, "model.chm")                          # doctest: +SKIP
>>> chm.load("model.chm").predict(images)                 # doctest: +SKIP
"""
import hashlib
import hmac
import io
import json
import math
import os
import secrets
import struct
import zipfile
import zlib

import numpy as np

from . import __version__
from ._object_tree import (ALLOWED_CLASSES, ESTIMATORS, InvalidModel, TreeReader, TreeWriter,
                           qualified_name)

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "ESTIMATORS", "ALLOWED_CLASSES", "save", "load"]

FORMAT_NAME = "chm-model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def _dtype_descr(dtype):
    """The ``.npy`` header's description of ``dtype``, as JSON data."""
    return json.loads(json.dumps(np.lib.format.dtype_to_descr(dtype)))


def _npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _checksum(meta):
    """SHA-256 (hex) of the manifest without its checksum, as canonical JSON."""
    text = json.dumps(meta, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_fitted(model):
    check = getattr(model, "_check_fitted", None)
    if callable(check):
        check()
    else:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(model)


def save(model, path):
    """Write a fitted estimator to a model file.

    The file holds arrays and JSON only (see :mod:`chm.persistence`); it is
    written to a temporary file in the same folder and renamed into place,
    so ``path`` never holds a partly written model.

    Parameters
    ----------
    model : CHM, ForestSegmenter, MRFSegmenter or ConvNetSegmenter
        A fitted estimator of the package. A ``joblib.Memory`` in its
        ``memory`` parameter is stored as its location (a str, or None).
    path : str or path-like
        Where to write; an existing file is replaced.

    Raises
    ------
    TypeError
        If ``model`` is not one of the estimators above, or holds an object
        of a type model files do not store (the message names the type and
        where it sits in the model); nothing is written then.
    ValueError
        If ``model`` is not fitted.

    Examples
    --------
    >>> chm.save(model, "horse.chm")   # doctest: +SKIP
    """
    name = qualified_name(type(model))
    if name not in ESTIMATORS:
        raise TypeError(f"chm.save writes the package's estimators "
                        f"({', '.join(sorted(ESTIMATORS))}), got {name}")
    _check_fitted(model)
    writer = TreeWriter()
    tree = writer.encode(model, type(model).__name__)
    path = os.fspath(path)
    folder, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{base}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                entries = []
                for k, array in enumerate(writer.arrays):
                    data = _npy_bytes(array)
                    entries.append({"name": f"arrays/{k}.npy", "dtype": _dtype_descr(array.dtype),
                                    "shape": list(array.shape),
                                    "sha256": hashlib.sha256(data).hexdigest()})
                    archive.writestr(entries[-1]["name"], data)
                meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
                        "package_version": __version__, "estimator": name,
                        "arrays": entries, "tree": tree}
                manifest = dict(meta, checksum=_checksum(meta))
                archive.writestr(MANIFEST, json.dumps(manifest, indent=1, allow_nan=False))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ------------------------------------------------------------------ reading
def _reject_constant(name):
    raise InvalidModel(f"manifest holds the non-JSON constant {name}")


def _read_manifest(archive):
    names = archive.namelist()
    if len(set(names)) != len(names):
        raise InvalidModel("the archive has duplicate members")
    if MANIFEST not in names:
        raise InvalidModel("not a file written by chm.save (a zip archive without manifest.json)")
    for info in archive.infolist():
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or info.flag_bits & 1:
            raise InvalidModel(f"member {info.filename!r} is stored in a way chm.save never writes")
    manifest = json.loads(archive.read(MANIFEST).decode("utf-8"), parse_constant=_reject_constant)
    if type(manifest) is not dict or manifest.get("format") != FORMAT_NAME:
        raise InvalidModel("not a file written by chm.save (its manifest is not a chm-model manifest)")
    version = manifest.get("format_version")
    if type(version) is not int or version < 1:
        raise InvalidModel(f"bad format version {version!r}")
    if version > FORMAT_VERSION:
        raise InvalidModel(f"it was written by a newer chm (format version {version}, "
                           f"package {manifest.get('package_version')!r}); this chm reads "
                           f"format versions up to {FORMAT_VERSION}: upgrade chm to load it")
    meta = {k: v for k, v in manifest.items() if k != "checksum"}
    checksum = manifest.get("checksum")
    if type(checksum) is not str or not hmac.compare_digest(checksum, _checksum(meta)):
        raise InvalidModel("checksum mismatch: the manifest was modified or corrupted")
    entries = manifest["arrays"]
    if type(entries) is not list or any(type(e) is not dict for e in entries):
        raise InvalidModel("bad array list")
    expected = {MANIFEST} | {e["name"] for e in entries}
    if len(expected) != len(entries) + 1 or expected != set(names):
        raise InvalidModel("the archive's members do not match its manifest")
    return manifest


_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0}


def _read_array(archive, entry):
    name = entry["name"]
    data = archive.read(name)
    if not hmac.compare_digest(hashlib.sha256(data).hexdigest(), str(entry["sha256"])):
        raise InvalidModel(f"checksum mismatch in {name}: the array data was modified or corrupted")
    buffer = io.BytesIO(data)
    read_header = _NPY_HEADERS.get(np.lib.format.read_magic(buffer))
    if read_header is None:
        raise InvalidModel(f"{name} is not in a .npy version chm.save writes")
    shape, _, dtype = read_header(buffer)
    if math.prod(shape) * dtype.itemsize != len(data) - buffer.tell():  # before numpy allocates
        raise InvalidModel(f"{name}: the data does not match the shape in its header")
    buffer.seek(0)
    array = np.load(buffer, allow_pickle=False)
    if type(array) is not np.ndarray or list(array.shape) != entry["shape"] \
            or _dtype_descr(array.dtype) != entry["dtype"]:
        raise InvalidModel(f"{name} does not match its description in the manifest")
    return array


# Errors that reading a damaged or foreign file can raise (zipfile, zlib, json, numpy).
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, struct.error, LookupError,
                ValueError, TypeError, NotImplementedError, RuntimeError, OverflowError)
# Errors that rebuilding the objects from a consistent file can raise.
_BUILD_ERRORS = (LookupError, ValueError, TypeError, AttributeError, RuntimeError, OverflowError)


def load(path, *, device=None):
    """Read a model written by :func:`save`.

    Only numbers, strings, numpy arrays and the allow-listed classes of
    :mod:`chm.persistence` are built; nothing in the file is unpickled or
    executed.

    Parameters
    ----------
    path : str or path-like
    device : str or None, default=None
        For ConvNet models only: the device their networks are put on,
        which also becomes their ``device`` parameter (e.g. ``"cpu"`` for a
        model trained with ``device="cuda"``, on a machine without a GPU).
        None puts them where their ``device`` parameter says on this
        machine.

    Returns
    -------
    estimator
        The fitted model, predicting exactly as the saved one did (on the
        same device).

    Raises
    ------
    ValueError
        Naming ``path``, if the file is not a chm model file (truncated,
        garbage, a pickle, some other zip or ``.npz``), was modified after
        it was written (checksum mismatch), was written by a newer chm, or
        names a class outside the allow-list.
    OSError
        If the file cannot be opened.
    ImportError
        If the model needs an optional dependency that is missing (PyTorch
        for a ConvNet).

    Examples
    --------
    >>> model = chm.load("horse.chm")   # doctest: +SKIP
    """
    shown = os.fspath(path)
    with open(path, "rb") as fh:
        try:
            if not zipfile.is_zipfile(fh):
                raise InvalidModel("not a chm model file (not a zip archive: truncated, or "
                                   "another kind of file)")
            with zipfile.ZipFile(fh) as archive:
                manifest = _read_manifest(archive)
                arrays = [_read_array(archive, entry) for entry in manifest["arrays"]]
        except InvalidModel as exc:
            raise ValueError(f"cannot load {shown}: {exc}") from None
        except _READ_ERRORS as exc:
            raise ValueError(f"cannot load {shown}: not a readable chm model file "
                             f"({type(exc).__name__}: {exc})") from exc
    tree = manifest.get("tree")
    try:
        root = tree.get("class") if type(tree) is dict and tree.get("type") == "object" else None
        if root not in ESTIMATORS or root != manifest.get("estimator"):
            raise InvalidModel(f"its root is not one of the estimators {sorted(ESTIMATORS)}")
        return TreeReader(arrays, device).decode(tree)
    except InvalidModel as exc:
        raise ValueError(f"cannot load {shown}: {exc}") from None
    except ImportError as exc:  # e.g. a ConvNet model without torch installed
        raise ImportError(f"cannot load {shown}: {exc}") from exc
    except _BUILD_ERRORS as exc:
        raise ValueError(f"cannot load {shown}: the model cannot be rebuilt in this environment "
                         f"({type(exc).__name__}: {exc})") from exc
