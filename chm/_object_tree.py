"""The object tree of a model file: allow-listed objects as JSON nodes and numpy arrays.

:class:`TreeWriter` turns a model into JSON data plus a list of arrays;
:class:`TreeReader` builds it back, creating instances of the classes of
:data:`ALLOWED_CLASSES` only. :mod:`chm.persistence` puts both in a file.

Nodes
-----
``null``, ``true``/``false``, integers, finite floats, strings and lists
stand for themselves; every JSON object is a tagged node:

- ``{"type": "float", "value": "nan"}`` (or ``"inf"``, ``"-inf"``): a
  non-finite float;
- ``{"type": "tuple", "items": [...]}``: a tuple;
- ``{"type": "dict", "items": {...}}``: a dict with str keys, and
  ``{"type": "dict", "pairs": [[key, value], ...]}`` one with other keys;
- ``{"type": "ndarray", "array": k}``: the ``k``-th array;
- ``{"type": "scalar", "dtype": "<f4", "value": 0.5}``: a numpy scalar of a
  bool, integer or float dtype (``{"type": "scalar", "array": k}``, a 0-d
  array, for other dtypes);
- ``{"type": "object", "class": name, "id": n, "state": node}``: an
  instance of an allow-listed class;
- ``{"type": "codec", "class": name, "id": n, "data": node}``: an instance of
  a class with its own encoding (:data:`CODECS`);
- ``{"type": "ref", "id": n}``: the object of node ``n`` again.

An object's state is its ``__getstate__()`` (its ``__dict__`` unless the
class defines one); it is rebuilt with ``cls.__new__(cls)`` and
``__setstate__`` where the class has one, else attribute by attribute with
``object.__setattr__`` (which also suits frozen dataclasses). Objects shared
inside a model stay shared, and an array met twice is stored once.

Classes with their own encoding: scikit-learn's tree structure ``Tree``
(constructor arguments, node and value arrays), the ConvNet's ``PatchNet``
(constructor arguments, ``state_dict`` as arrays), ``torch.device`` (its
name) and ``numpy.random.RandomState`` (its state). A ``joblib.Memory`` (the
``memory`` parameter of :class:`chm.CHM`) is stored as its location, a str
or None, and comes back as that: caching does not change results. A
ConvNet's network goes, once loaded, on the device its ``device`` parameter
names on the loading machine, or on the device given to the reader.
"""
import importlib
import math
import reprlib

import numpy as np

__all__ = ["ESTIMATORS", "ALLOWED_CLASSES", "CODECS", "InvalidModel", "TreeReader", "TreeWriter",
           "qualified_name", "resolve_class"]


class InvalidModel(ValueError):
    """A model file that cannot be read; the message says why (``load`` adds the path)."""


#: Classes a model file may have at its root.
ESTIMATORS = frozenset({
    "chm.estimator.CHM",
    "chm.baselines.ForestSegmenter",
    "chm.mrf_segmenter.MRFSegmenter",
    "chm.self_training.SelfTrainingSegmenter",
    "chm.proposals.ProposalSegmenter",
    "chm.convnet.estimator.ConvNetSegmenter",
})

#: Classes stored by their state (``__getstate__`` / ``__dict__``).
ALLOWED_CLASSES = ESTIMATORS | frozenset({
    "chm.plan.Plan",
    "chm.plan.UnitSpec",
    "chm.plan.Unit",
    "chm.classifiers.ldnn.LDNNStage",
    "chm.classifiers.logistic.LogisticStage",
    "chm.penalties.TotalVariation",
    "chm.penalties.QuadraticVariation",
    "chm._edge_penalties.EdgeAwareTV",
    "chm._edge_penalties.CurvilinearTV",
    "chm._dense_penalty.DenseBilateral",
    "chm.penalty_search.PenaltyTrial",
    "chm.training_length.EpochChoice",
    "features.normalize.FeatureNormalizer",
    "features.base.FilterBank",
    "features.color.LabColor",
    "features.context.ContextFilter",
    "features.intensity.IntensityStencil",
    "features.scale_space.GaussianFilter",
    "features.scale_space.DoGFilter",
    "features.scale_space.LoGFilter",
    "features.scale_space.GradientMagnitude",
    "features.scale_space.HessianEigenvalues",
    "features.scale_space.StructureTensorEigenvalues",
    "features.texture.GaborFilter",
    "features.texture.HOGCells",
    "features.texture.HaarBoxes",
    "features.learned.LearnedFilters",
    "features.chm_bank.HaarRectangles",
    "features.chm_bank.HOGBlocks",
    "features.chm_bank.EdgeWindow",
    "features.chm_bank.GaborQuadrature",
    "features.chm_bank.DenseSIFT",
    "features.chm_bank.CrossStencil",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.tree._classes.DecisionTreeClassifier",
})

_JSON_SCALARS = frozenset("?bBhHiIlLqQefd")  # numpy scalars written as JSON numbers


def qualified_name(cls):
    """``module.QualName`` of a class, the name model files know it by."""
    return f"{cls.__module__}.{cls.__qualname__}"


# ------------------------------------------------------------------ codecs
def _encode_tree(tree):
    _, (n_features, n_classes, n_outputs), state = tree.__reduce__()
    return {"n_features": int(n_features), "n_classes": np.asarray(n_classes),
            "n_outputs": int(n_outputs), "state": state}


def _decode_tree(data):
    from sklearn.tree._tree import Tree

    tree = Tree(int(data["n_features"]), np.asarray(data["n_classes"], dtype=np.intp),
                int(data["n_outputs"]))
    tree.__setstate__(data["state"])
    return tree


def _encode_patchnet(module):
    return {"n_classes": module.n_classes, "in_channels": module.in_channels,
            "width": module.width, "hidden": module.hidden, "fc_size": module.fc_size,
            "training": bool(module.training),
            "state_dict": {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}}


def _decode_patchnet(data):
    import torch

    from chm.convnet.network import PatchNet

    module = PatchNet(int(data["n_classes"]), int(data["in_channels"]), width=int(data["width"]),
                      hidden=int(data["hidden"]), fc_size=int(data["fc_size"]))
    state = {k: torch.from_numpy(np.array(v)) for k, v in data["state_dict"].items()}
    module.load_state_dict(state, strict=True)
    return module.train(bool(data["training"]))


def _decode_device(name):
    import torch

    return torch.device(str(name))


def _decode_random_state(state):
    rng = np.random.RandomState()
    rng.set_state(state)
    return rng


#: Types with their own encoding: qualified name -> (encode, decode).
CODECS = {
    "sklearn.tree._tree.Tree": (_encode_tree, _decode_tree),
    "chm.convnet.network.PatchNet": (_encode_patchnet, _decode_patchnet),
    "torch.device": (str, _decode_device),
    "numpy.random.mtrand.RandomState": (lambda rng: rng.get_state(), _decode_random_state),
}

#: Types stored as a plain value that stands in for them (not rebuilt).
SUBSTITUTES = {
    "joblib.memory.Memory": lambda memory: None if memory.location is None else str(memory.location),
}


def _place_convnet(model, device):
    """Put a loaded ConvNet's network on its device (``device`` overrides the parameter)."""
    from chm.convnet import resolve_device

    if device is not None:
        model.device = device
    if "module_" in vars(model):
        try:
            model.device_ = resolve_device(model.device)
        except ValueError as exc:
            raise InvalidModel(f"{exc} (load(path, device='cpu') puts the network on the "
                               f"CPU)") from None
        model.module_ = model.module_.to(model.device_)


_AFTER_LOAD = {"chm.convnet.estimator.ConvNetSegmenter": _place_convnet}


# ------------------------------------------------------------------ writing
class TreeWriter:
    """Turns an object tree into JSON nodes, collecting its arrays.

    Attributes
    ----------
    arrays : list of ndarray
        The arrays met so far; node ``{"type": "ndarray", "array": k}`` is
        ``arrays[k]``.
    """

    def __init__(self):
        self.arrays = []
        self._array_index = {}   # id(array) -> index in self.arrays
        self._object_id = {}     # id(object) -> node id
        self._alive = []         # keeps memoised objects alive, so ids stay unique
        self._open = set()       # ids of the containers being encoded (cycle check)

    def encode(self, value, where):
        """The JSON node of ``value``.

        Parameters
        ----------
        value : object
            Built of the types listed in this module's docstring.
        where : str
            Its place in the model (e.g. ``"CHM.units_[0].classifier"``),
            for error messages.

        Raises
        ------
        TypeError
            Naming ``where`` and the type, for a value of a type model files
            do not hold.
        """
        kind = type(value)
        if value is None or kind in (bool, int, str):
            return value
        if kind is float:
            return value if math.isfinite(value) else {"type": "float", "value": repr(value)}
        if kind is np.ndarray:
            return {"type": "ndarray", "array": self._array(value, where)}
        if isinstance(value, np.generic):
            return self._scalar(value, where)
        if kind in (list, tuple, dict):
            if id(value) in self._open:
                raise TypeError(f"cannot save {where}: the {kind.__name__} contains itself")
            self._open.add(id(value))
            try:
                return self._container(value, where)
            finally:
                self._open.discard(id(value))
        name = qualified_name(kind)
        if name in SUBSTITUTES:
            return self.encode(SUBSTITUTES[name](value), where)
        if name in CODECS or name in ALLOWED_CLASSES:
            return self._object(value, name, where)
        raise TypeError(f"cannot save {where}: objects of type {name} are not allowed in chm model "
                        f"files (see chm.persistence.ALLOWED_CLASSES)")

    def _array(self, array, where):
        if array.dtype.hasobject:
            raise TypeError(f"cannot save {where}: arrays of dtype {array.dtype} hold Python "
                            f"objects, which chm model files do not store")
        if not str(array.dtype).isascii():
            raise TypeError(f"cannot save {where}: the field names of dtype {array.dtype} "
                            f"are not ASCII")
        if id(array) not in self._array_index:
            self._array_index[id(array)] = len(self.arrays)
            self.arrays.append(array)
        return self._array_index[id(array)]

    def _scalar(self, value, where):
        if value.dtype.char in _JSON_SCALARS:
            return {"type": "scalar", "dtype": value.dtype.str,
                    "value": self.encode(value.item(), where)}
        return {"type": "scalar", "array": self._array(np.asarray(value), where)}

    def _container(self, value, where):
        if type(value) is list:
            return [self.encode(v, f"{where}[{k}]") for k, v in enumerate(value)]
        if type(value) is tuple:
            items = [self.encode(v, f"{where}[{k}]") for k, v in enumerate(value)]
            return {"type": "tuple", "items": items}
        if all(type(k) is str for k in value):
            items = {k: self.encode(v, f"{where}[{k!r}]") for k, v in value.items()}
            return {"type": "dict", "items": items}
        pairs = [[self.encode(k, f"{where} key {k!r}"), self.encode(v, f"{where}[{k!r}]")]
                 for k, v in value.items()]
        return {"type": "dict", "pairs": pairs}

    def _object(self, value, name, where):
        if id(value) in self._object_id:
            return {"type": "ref", "id": self._object_id[id(value)]}
        node_id = self._object_id[id(value)] = len(self._object_id)
        self._alive.append(value)
        if name in CODECS:
            data = CODECS[name][0](value)
            return {"type": "codec", "class": name, "id": node_id, "data": self.encode(data, where)}
        state = value.__getstate__()
        if isinstance(state, dict) and all(type(k) is str for k in state):
            items = {k: self.encode(v, f"{where}.{k}") for k, v in state.items()}
            state = {"type": "dict", "items": items}
        else:
            state = self.encode(state, f"{where} (state)")
        return {"type": "object", "class": name, "id": node_id, "state": state}


# ------------------------------------------------------------------ reading
def resolve_class(name):
    """The allow-listed class ``name``; InvalidModel for any other name."""
    if not isinstance(name, str) or (name not in ALLOWED_CLASSES and name not in CODECS):
        raise InvalidModel(f"it names the class {reprlib.repr(name)}, which chm model files may not hold")
    module, _, attr = name.rpartition(".")
    cls = getattr(importlib.import_module(module), attr, None)
    if not isinstance(cls, type) or qualified_name(cls) != name:
        raise InvalidModel(f"class {name} is not defined in this environment")
    return cls


class TreeReader:
    """Rebuilds the object tree from JSON nodes and the file's arrays.

    Parameters
    ----------
    arrays : list of ndarray
        The arrays the nodes refer to, by index.
    device : str or None
        Device for ConvNet networks (None: their ``device`` parameter).
    """

    def __init__(self, arrays, device):
        self.arrays = arrays
        self.device = device
        self.objects = {}

    def decode(self, node):
        """The value of a JSON node; :class:`InvalidModel` for a malformed one."""
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is list:
            return [self.decode(n) for n in node]
        if type(node) is not dict:
            raise InvalidModel(f"unexpected node {reprlib.repr(node)}")
        kind = node.get("type")
        if kind == "float":
            if node["value"] not in ("nan", "inf", "-inf"):
                raise InvalidModel(f"bad float node {reprlib.repr(node)}")
            return float(node["value"])
        if kind == "tuple":
            return tuple(self.decode(n) for n in self._list(node["items"]))
        if kind == "dict":
            if "items" in node:
                items = node["items"]
                if type(items) is not dict:
                    raise InvalidModel("bad dict node")
                return {k: self.decode(v) for k, v in items.items()}
            return {self.decode(k): self.decode(v) for k, v in self._pairs(node["pairs"])}
        if kind == "ndarray":
            return self._array(node["array"])
        if kind == "scalar":
            return self._scalar(node)
        if kind in ("object", "codec"):
            return self._object(node, kind)
        if kind == "ref":
            return self.objects[self._int(node["id"])]
        raise InvalidModel(f"unknown node type {reprlib.repr(kind)}")

    @staticmethod
    def _list(value):
        if type(value) is not list:
            raise InvalidModel(f"expected a list, got {reprlib.repr(value)}")
        return value

    def _pairs(self, value):
        pairs = self._list(value)
        if any(type(p) is not list or len(p) != 2 for p in pairs):
            raise InvalidModel("bad dict pairs")
        return pairs

    @staticmethod
    def _int(value):
        if type(value) is not int:
            raise InvalidModel(f"expected an integer, got {reprlib.repr(value)}")
        return value

    def _array(self, index):
        index = self._int(index)
        if not 0 <= index < len(self.arrays):
            raise InvalidModel(f"array index {index} out of range")
        return self.arrays[index]

    def _scalar(self, node):
        if "array" in node:
            array = self._array(node["array"])
            if array.ndim != 0:
                raise InvalidModel("scalar array is not 0-d")
            return array[()]
        dtype = np.dtype(node["dtype"])
        value = self.decode(node["value"])
        if dtype.char not in _JSON_SCALARS or type(value) not in (bool, int, float):
            raise InvalidModel(f"bad scalar node {reprlib.repr(node)}")
        return np.array(value, dtype=dtype)[()]

    def _object(self, node, kind):
        name = node["class"]
        cls = resolve_class(name)
        node_id = self._int(node["id"])
        if kind == "codec":
            if name not in CODECS:
                raise InvalidModel(f"class {name} has no codec")
            obj = CODECS[name][1](self.decode(node["data"]))
            self.objects[node_id] = obj
            return obj
        if name not in ALLOWED_CLASSES:
            raise InvalidModel(f"class {name} is stored by a codec, not by its state")
        obj = cls.__new__(cls)
        self.objects[node_id] = obj
        state = self.decode(node["state"])
        if hasattr(cls, "__setstate__"):
            obj.__setstate__(state)
        elif state is not None:
            if type(state) is not dict:
                raise InvalidModel(f"state of {name} is not a dict")
            for key, value in state.items():
                object.__setattr__(obj, key, value)
        if name in _AFTER_LOAD:
            _AFTER_LOAD[name](obj, self.device)
        return obj
