"""Model files (chm.persistence): round trips of every estimator, and files that must not load."""
import copy
import hashlib
import inspect
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import warnings
import zipfile
from fractions import Fraction

import joblib
import numpy as np
import pytest

import chm
import features
from chm import _object_tree as object_tree
from chm import persistence
from chm.baselines import ForestSegmenter
from chm.classifiers import STAGES
from chm.mrf_segmenter import MRFSegmenter
from chm.penalties import Penalty
from chm.synthetic import make_shapes


def sparse_labels(masks, fraction=0.1, seed=0):
    rng = np.random.RandomState(seed)
    return [np.where(rng.rand(*m.shape) < fraction, m, -1) for m in masks]


def small_chm(**kw):
    return chm.CHM(**dict(dict(n_levels=2, epochs=2, context_cv=2, random_state=0), **kw))


@pytest.fixture(scope="module")
def gray():
    images, masks = make_shapes(n_images=3, shape=(24, 28), random_state=0)
    return images, sparse_labels(masks)


@pytest.fixture(scope="module")
def rgb():
    images, masks = make_shapes(n_images=3, shape=(24, 28), n_classes=3, color=True, random_state=1)
    return images, sparse_labels(masks, fraction=0.2)


@pytest.fixture(scope="module")
def chm_model(gray):
    return small_chm().fit(*gray)


@pytest.fixture(scope="module")
def forest(gray):
    return ForestSegmenter(n_estimators=4, random_state=0).fit(*gray)


@pytest.fixture(scope="module")
def saved_chm(chm_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "model.chm"
    chm_model.save(path)
    return path


def same(a, b):
    """Whether two values hold the same types, bits and structure (recursively)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (np.ndarray, np.generic)):
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.names:  # field by field: padding bytes between fields carry nothing
            return all(same(a[name], b[name]) for name in a.dtype.names)
        return a.tobytes() == b.tobytes()
    if type(a).__module__.startswith("torch") and hasattr(a, "detach"):
        return same(a.detach().cpu().numpy(), b.detach().cpu().numpy())
    if isinstance(a, float):
        return repr(a) == repr(b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, np.random.RandomState):
        return same(a.get_state(), b.get_state())
    if a is None or isinstance(a, (bool, int, str)) or type(a).__module__ == "torch":
        return a == b
    return same(a.__getstate__(), b.__getstate__())


def assert_round_trip(model, loaded, images):
    assert type(loaded) is type(model) and loaded is not model
    assert same(loaded.get_params(deep=False), model.get_params(deep=False))
    assert same(loaded.__getstate__(), model.__getstate__())
    for p, q in zip(model.predict_proba(images), loaded.predict_proba(images)):
        assert np.array_equal(p, q) and p.dtype == q.dtype
    for p, q in zip(model.predict(images), loaded.predict(images)):
        assert np.array_equal(p, q)


def rezip(src, dst, replace=None, drop=()):
    """Copy the archive ``src`` to ``dst``, with some members' bytes replaced or dropped."""
    replace = replace or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in zin.namelist():
            if name not in drop:
                zout.writestr(name, replace.get(name, zin.read(name)))
        for name, data in replace.items():
            if name not in zin.namelist():
                zout.writestr(name, data)


def read_manifest(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("manifest.json"))


def with_manifest(src, dst, manifest, recompute_checksum=True):
    """Write ``src`` to ``dst`` with another manifest (its checksum made valid again)."""
    if recompute_checksum:
        meta = {k: v for k, v in manifest.items() if k != "checksum"}
        manifest = dict(meta, checksum=persistence._checksum(meta))
    rezip(src, dst, {"manifest.json": json.dumps(manifest).encode()})


def assert_rejected(path, match=None):
    with pytest.raises(ValueError) as info:
        chm.load(path)
    assert str(path) in str(info.value)
    if match is not None:
        assert match in str(info.value), str(info.value)
    return info.value


# ================================================================ round trips
def test_chm_round_trip(tmp_path, gray, chm_model):
    path = tmp_path / "model.chm"
    chm_model.save(path)
    loaded = chm.load(path)
    assert_round_trip(chm_model, loaded, gray[0])
    assert loaded.plan_ == chm_model.plan_                       # frozen dataclasses rebuilt
    # objects shared inside the model stay shared
    assert [u.spec is s for u, s in zip(loaded.units_, loaded.plan_.units)] == \
        [u.spec is s for u, s in zip(chm_model.units_, chm_model.plan_.units)]
    assert loaded.score(*gray) == chm_model.score(*gray)


def test_chm_round_trip_of_other_options(tmp_path, rgb):
    """RGB, three classes, two stages, logistic stages, quadratic penalty, a colour bank passed
    as a parameter, a RandomState seed and a joblib.Memory."""
    images, labels = rgb
    model = small_chm(n_stages=2, classifier="logistic", penalty="quadratic",
                      bank=features.default_bank(color=True), memory=joblib.Memory(tmp_path / "cache", verbose=0),
                      random_state=np.random.RandomState(3)).fit(images, labels)
    path = tmp_path / "rgb.chm"
    chm.save(model, path)
    loaded = chm.load(path)
    # the memory is stored as its location, everything else as it was
    assert loaded.memory == str(tmp_path / "cache")
    loaded.memory = model.memory
    assert_round_trip(model, loaded, images)
    assert isinstance(loaded.penalty_, chm.penalties.QuadraticVariation)


def test_forest_round_trip(tmp_path, gray, forest):
    path = tmp_path / "forest.chm"
    forest.save(path)
    loaded = chm.load(path)
    assert_round_trip(forest, loaded, gray[0])
    # sklearn's tree nodes are a structured array; they go through the file as one
    nodes = forest.forest_.estimators_[0].tree_.__getstate__()["nodes"]
    assert nodes.dtype.names is not None
    structured = [e for e in read_manifest(path)["arrays"] if isinstance(e["dtype"], list)]
    assert len(structured) == len(forest.forest_.estimators_)


def test_mrf_round_trip(tmp_path, gray):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the chosen weight may be the grid's largest
        model = MRFSegmenter(small_chm(n_levels=1, epochs=1), weights=[0.0, 0.5], cv=2,
                             random_state=0).fit(*gray)
    path = tmp_path / "mrf.chm"
    model.save(path)
    loaded = chm.load(path)
    assert_round_trip(model, loaded, gray[0])
    assert loaded.weight_ == model.weight_ and same(loaded.cv_scores_, model.cv_scores_)
    assert type(loaded.estimator) is chm.CHM and not hasattr(loaded.estimator, "units_")


@pytest.mark.convnet
def test_convnet_round_trip(tmp_path, gray):
    torch = pytest.importorskip("torch")
    from chm.convnet import ConvNetSegmenter, load

    model = ConvNetSegmenter(width=4, hidden=8, downscale=1, epochs=1, batch_images=2, device="cpu",
                             n_jobs=1, random_state=0).fit(*gray)
    path = tmp_path / "convnet.chm"
    model.save(path)
    loaded = chm.load(path)
    assert_round_trip(model, loaded, gray[0])
    assert not loaded.module_.training and loaded.device_.type == "cpu"
    assert loaded.history_ == model.history_
    # the subpackage's load reads the same files
    for p, q in zip(model.predict_proba(gray[0]), load(path).predict_proba(gray[0])):
        assert np.array_equal(p, q)
    ForestSegmenter(n_estimators=1).fit(*gray).save(tmp_path / "forest.chm")
    with pytest.raises(ValueError, match="not a ConvNetSegmenter"):
        load(tmp_path / "forest.chm")
    if not torch.cuda.is_available():
        # a model whose device parameter is unavailable here loads only with a device given
        model.device = "cuda"
        model.save(tmp_path / "gpu.chm")
        with pytest.raises(ValueError, match="device='cpu'"):
            chm.load(tmp_path / "gpu.chm")
        moved = load(tmp_path / "gpu.chm", device="cpu")
        assert moved.device == "cpu" and next(moved.module_.parameters()).device.type == "cpu"
        for p, q in zip(loaded.predict_proba(gray[0]), moved.predict_proba(gray[0])):
            assert np.array_equal(p, q)


def test_old_load_names_read_the_new_files(saved_chm, gray, chm_model):
    from chm.estimator import load

    loaded = load(saved_chm)
    for p, q in zip(chm_model.predict_proba(gray[0]), loaded.predict_proba(gray[0])):
        assert np.array_equal(p, q)


def test_values_of_every_allowed_kind_round_trip(tmp_path, forest):
    normalizer = features.FeatureNormalizer().fit(np.arange(6.0).reshape(3, 2))
    shared = np.arange(5, dtype=np.uint16)
    structured = np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8", (2,)), ("c", "u1")])
    structured["b"] = [[1.5, np.nan], [-0.0, np.inf], [2.0, 3.0]]
    values = {
        "floats": [0.1, -0.0, float("nan"), float("inf"), -float("inf"), 1e308, 5e-324],
        "ints": [0, -1, 2 ** 70, True, False, None],
        "text": ["", "ünïcödé", "$type"],
        "tuple": (1, (2.5, "x"), []),
        "other keys": {1: "one", (2, "two"): 2.0, None: [], 3.5: True, False: "f"},
        "tag-like dict": {"type": "ndarray", "array": 0},
        "scalars": [np.float32(0.1), np.float64(np.nan), np.int8(-3), np.uint64(2 ** 64 - 1),
                    np.bool_(True), np.float16(1.5), np.complex64(1 - 2j),
                    np.datetime64("2020-01-02"), np.str_("s"), structured[1]],
        "arrays": [np.float32([[1, 2], [3, 4]]).T, np.zeros((0, 3)), np.array(7, np.int16),
                   structured, np.array(["ab", "c"]), np.array([1 + 2j]), shared, shared],
        "objects": [normalizer, normalizer],
    }
    forest.notes_ = values
    try:
        chm.save(forest, tmp_path / "zoo.chm")
    finally:
        del forest.notes_
    notes = chm.load(tmp_path / "zoo.chm").notes_
    assert same(notes, values)
    assert notes["arrays"][6] is notes["arrays"][7]
    assert notes["objects"][0] is notes["objects"][1]
    assert not notes["arrays"][0].flags.c_contiguous   # Fortran order kept


def test_file_holds_arrays_and_json(saved_chm, chm_model):
    with zipfile.ZipFile(saved_chm) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"),
                              parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
        assert sorted(names) == sorted(["manifest.json"] + [e["name"] for e in manifest["arrays"]])
        for entry in manifest["arrays"]:
            array = np.load(io.BytesIO(archive.read(entry["name"])), allow_pickle=False)
            assert list(array.shape) == entry["shape"]
    assert manifest["format"] == "chm-model" and manifest["format_version"] == persistence.FORMAT_VERSION
    assert manifest["package_version"] == chm.__version__
    assert manifest["estimator"] == "chm.estimator.CHM"
    assert len(manifest["checksum"]) == 64
    state = manifest["tree"]["state"]["items"]
    assert state["n_levels"] == chm_model.n_levels and state["tv_weight"] == chm_model.tv_weight


def test_importing_and_loading_a_chm_model_does_not_import_torch(saved_chm):
    code = (f"import sys, chm; m = chm.load({str(saved_chm)!r}); "
            "assert type(m).__name__ == 'CHM'; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ================================================================ saving
def test_save_rejects_types_outside_the_allow_list(tmp_path, forest):
    path = tmp_path / "model.chm"
    forest.extra_ = {"ratio": Fraction(1, 3)}
    try:
        with pytest.raises(TypeError, match=r"ForestSegmenter\.extra_\['ratio'\].*fractions\.Fraction"):
            chm.save(forest, path)
        forest.extra_ = [np.array([object()])]
        with pytest.raises(TypeError, match="dtype object"):
            chm.save(forest, path)
        forest.extra_ = lambda x: x
        with pytest.raises(TypeError, match="builtins.function"):
            chm.save(forest, path)
    finally:
        del forest.extra_
    assert os.listdir(tmp_path) == []
    with pytest.raises(TypeError, match="builtins.dict"):
        chm.save({"forest": forest}, path)


def test_save_rejects_a_filter_outside_the_allow_list(tmp_path, chm_model):
    class Doubled(features.GaussianFilter):
        pass

    model = copy.deepcopy(chm_model)
    model.bank = features.FilterBank([Doubled((1,))])
    with pytest.raises(TypeError, match=r"CHM\.bank\.filters\[0\].*Doubled"):
        model.save(tmp_path / "model.chm")


def test_save_needs_a_fitted_model(tmp_path):
    with pytest.raises(ValueError, match="not fitted"):
        small_chm().save(tmp_path / "x.chm")
    with pytest.raises(ValueError, match="not fitted"):
        chm.save(MRFSegmenter(small_chm()), tmp_path / "x.chm")
    assert os.listdir(tmp_path) == []


def test_save_is_atomic(tmp_path, forest, chm_model):
    path = tmp_path / "model.chm"
    chm_model.save(path)
    before = path.read_bytes()
    forest.extra_ = Fraction(1, 2)
    try:
        with pytest.raises(TypeError):
            forest.save(path)
    finally:
        del forest.extra_
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["model.chm"]
    forest.save(path)                              # replaces the file, leaves no temporary
    assert os.listdir(tmp_path) == ["model.chm"]
    assert isinstance(chm.load(path), ForestSegmenter)


# ================================================================ files that must not load
class WritesAFile:
    """Unpickling this calls ``open(path, "w")``, creating the file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def test_a_malicious_pickle_is_not_unpickled(tmp_path):
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(WritesAFile(probe))).close()
    assert probe.exists()                          # the payload works when unpickled
    marker = tmp_path / "marker"
    path = tmp_path / "model.chm"
    path.write_bytes(pickle.dumps(WritesAFile(marker)))
    assert_rejected(path, "not a zip archive")
    # nor inside a zip (the layout of torch.save files)
    with zipfile.ZipFile(tmp_path / "archive.chm", "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(WritesAFile(marker)))
    assert_rejected(tmp_path / "archive.chm", "without manifest.json")
    assert not marker.exists()


@pytest.mark.parametrize("keep", [lambda n: 0, lambda n: 10, lambda n: n // 2, lambda n: n - 1,
                                  lambda n: n - 30], ids=["empty", "10 bytes", "half", "n-1", "n-30"])
def test_truncated_files(tmp_path, saved_chm, keep):
    data = saved_chm.read_bytes()
    path = tmp_path / "cut.chm"
    path.write_bytes(data[:keep(len(data))])
    assert_rejected(path)


def test_garbage(tmp_path):
    path = tmp_path / "garbage.chm"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    assert_rejected(path, "not a zip archive")
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4 + b"PK\x05\x06" + bytes(18))
    assert_rejected(path)


def array_member(path, index=-1):
    """Name and bytes of an array member of the file, and where its data starts in them."""
    name = read_manifest(path)["arrays"][index]["name"]
    with zipfile.ZipFile(path) as archive:
        data = archive.read(name)
    buffer = io.BytesIO(data)
    np.lib.format.read_magic(buffer)
    np.lib.format.read_array_header_1_0(buffer)
    return name, data, buffer.tell()


def test_a_flipped_bit_in_array_data(tmp_path, saved_chm):
    name, data, start = array_member(saved_chm)
    flipped = bytearray(data)
    flipped[(start + len(data)) // 2] ^= 0x10
    path = tmp_path / "flipped.chm"
    rezip(saved_chm, path, {name: bytes(flipped)})   # a consistent zip: only the checksum sees it
    assert_rejected(path, f"checksum mismatch in {name}")


def test_a_flipped_bit_in_the_raw_file(tmp_path, saved_chm):
    """Flips in the stored (deflated) bytes, where the zip layer sees them first."""
    data = saved_chm.read_bytes()
    with zipfile.ZipFile(saved_chm) as archive:
        infos = [archive.getinfo(n) for n in ("manifest.json", array_member(saved_chm, 0)[0])]
    for info in infos:
        flipped = bytearray(data)
        name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
        offset = info.header_offset + 30 + name_length + extra_length
        flipped[offset + info.compress_size // 2] ^= 0x04
        path = tmp_path / "flipped.chm"
        path.write_bytes(bytes(flipped))
        assert_rejected(path)


def test_a_flipped_bit_in_the_manifest(tmp_path, saved_chm):
    with zipfile.ZipFile(saved_chm) as archive:
        text = archive.read("manifest.json")
    at = text.index(b'"n_levels": 2') + len(b'"n_levels": ')
    flipped = bytearray(text)
    flipped[at] ^= 0x01                              # n_levels 2 -> 3, still valid JSON
    path = tmp_path / "flipped.chm"
    rezip(saved_chm, path, {"manifest.json": bytes(flipped)})
    assert json.loads(bytes(flipped))["tree"]["state"]["items"]["n_levels"] == 3
    assert_rejected(path, "checksum mismatch")


def test_a_newer_format_version(tmp_path, saved_chm):
    manifest = read_manifest(saved_chm)
    manifest["format_version"] = persistence.FORMAT_VERSION + 1
    path = tmp_path / "newer.chm"
    with_manifest(saved_chm, path, manifest)
    assert_rejected(path, "newer chm")
    with_manifest(saved_chm, path, manifest, recompute_checksum=False)
    assert_rejected(path, "newer chm")


def test_an_array_header_claiming_more_data_than_the_file_holds(tmp_path, saved_chm):
    name, data, start = array_member(saved_chm)
    header = io.BytesIO()
    fields = np.lib.format.header_data_from_array_1_0(np.zeros(1))
    np.lib.format.write_array_header_1_0(header, dict(fields, shape=(10 ** 12,)))
    crafted = header.getvalue() + data[start:start + 64]
    manifest = read_manifest(saved_chm)
    entry = next(e for e in manifest["arrays"] if e["name"] == name)
    entry.update(shape=[10 ** 12], dtype="<f8", sha256=hashlib.sha256(crafted).hexdigest())
    path = tmp_path / "huge.chm"
    rezip(saved_chm, tmp_path / "step.chm", {name: crafted})
    with_manifest(tmp_path / "step.chm", path, manifest)
    assert_rejected(path, "does not match the shape in its header")


def test_foreign_archives(tmp_path):
    path = tmp_path / "plain.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hello")
    assert_rejected(path, "without manifest.json")
    np.savez(tmp_path / "arrays.npz", a=np.arange(3), b=np.ones((2, 2)))
    assert_rejected(tmp_path / "arrays.npz", "without manifest.json")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps({"format": "something-else", "version": 1}))
    assert_rejected(path, "not a chm-model manifest")


def test_members_must_match_the_manifest(tmp_path, saved_chm):
    path = tmp_path / "extra.chm"
    rezip(saved_chm, path, {"arrays/extra.npy": b"\x93NUMPY"})
    assert_rejected(path, "do not match its manifest")
    name = array_member(saved_chm)[0]
    rezip(saved_chm, path, drop=(name,))
    assert_rejected(path, "do not match its manifest")


@pytest.mark.parametrize("node", [
    {"type": "object", "class": "subprocess.Popen", "id": 10 ** 6, "state": {"type": "dict", "items": {}}},
    {"type": "codec", "class": "builtins.eval", "id": 10 ** 6, "data": "open('x', 'w')"},
    {"type": "codec", "class": "chm.plan.Unit", "id": 10 ** 6, "data": None},
    {"type": "scalar", "dtype": "|O", "value": 1},
])
def test_classes_outside_the_allow_list_are_not_built(tmp_path, saved_chm, node, monkeypatch):
    monkeypatch.chdir(tmp_path)
    manifest = read_manifest(saved_chm)
    manifest["tree"]["state"]["items"]["penalty_"] = node
    path = tmp_path / "crafted.chm"
    with_manifest(saved_chm, path, manifest)
    error = assert_rejected(path)
    if "class" in node:
        assert node["class"] in str(error)
    assert not (tmp_path / "x").exists()


def test_the_root_must_be_an_estimator(tmp_path, saved_chm):
    manifest = read_manifest(saved_chm)
    manifest["tree"] = {"type": "dict", "items": {}}
    path = tmp_path / "root.chm"
    with_manifest(saved_chm, path, manifest)
    assert_rejected(path, "root is not one of the estimators")


# ================================================================ the allow-list
def test_allow_list_names_the_classes_it_means():
    for name in sorted(persistence.ALLOWED_CLASSES | set(object_tree.CODECS)):
        module = name.rpartition(".")[0]
        if module.startswith(("chm.convnet", "torch")):
            pytest.importorskip("torch")
        assert object_tree.qualified_name(object_tree.resolve_class(name)) == name


def concrete_subclasses(base):
    found = set()
    for cls in base.__subclasses__():
        found |= concrete_subclasses(cls)
        if not inspect.isabstract(cls) and not cls.__name__.startswith("_") \
                and cls.__module__.split(".")[0] in ("chm", "features"):
            found.add(object_tree.qualified_name(cls))
    return found


def test_allow_list_covers_every_filter_stage_and_penalty():
    expected = (concrete_subclasses(features.Filter) | concrete_subclasses(Penalty)
                | {object_tree.qualified_name(cls) for cls in STAGES.values()})
    assert expected <= persistence.ALLOWED_CLASSES, expected - persistence.ALLOWED_CLASSES


@pytest.mark.parametrize("bank", ["chm", "learned"])
def test_models_with_the_chm_bank_or_learned_filters_round_trip(gray, tmp_path, bank):
    images, labels = gray
    if bank == "chm":
        filt = features.chm_bank(scale=0.5)
    else:
        filt = features.FilterBank([features.GaussianFilter((1,)),
                                    features.LearnedFilters(n_filters=4, patch_size=3,
                                                            n_patches=300, random_state=0)])
    model = small_chm(bank=filt, context_cv=None).fit(images, labels)
    model.save(tmp_path / "m.chm")
    back = chm.load(tmp_path / "m.chm")
    for a, b in zip(model.predict_proba(images), back.predict_proba(images)):
        np.testing.assert_array_equal(a, b)
    if bank == "learned":
        np.testing.assert_array_equal(back.bank_.filters[1].filters_, model.bank_.filters[1].filters_)
