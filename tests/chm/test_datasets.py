"""Tests of the dataset loaders, sparse-label sampling and folds."""
import os

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

import chm.datasets as datasets
from chm.datasets import (
    SIFT_FLOW_N_CLASSES,
    STANFORD_CLASSES,
    data_root,
    load_sift_flow,
    load_stanford_background,
    load_weizmann_horse,
    sample_sparse_labels,
    stanford_folds,
)

SIFT_SUB = "spatial_envelope_256x256_static_8outdoorcategories"


# ---------------------------------------------------------------------------
# locating the data
# ---------------------------------------------------------------------------
@pytest.fixture
def no_default_data(tmp_path, monkeypatch):
    """Point the default data folder and CHM_DATA at empty places."""
    monkeypatch.setattr(datasets, "PROJECT_ROOT", tmp_path / "project")
    monkeypatch.delenv("CHM_DATA", raising=False)
    return tmp_path / "shared" / "data"


def test_data_root_precedence(tmp_path, monkeypatch, no_default_data):
    assert data_root(tmp_path / "given") == tmp_path / "given"
    assert data_root() == no_default_data
    env = tmp_path / "env"
    env.mkdir()
    monkeypatch.setenv("CHM_DATA", str(env))
    assert data_root() == env
    assert data_root(str(tmp_path)) == tmp_path


def test_wrong_root_names_every_place(tmp_path):
    wrong = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as info:
        load_weizmann_horse(root=wrong)
    message = str(info.value)
    assert str(wrong / "weizmann_horse_db") in message and str(wrong) in message
    with pytest.raises(FileNotFoundError, match="iccv09Data"):
        load_stanford_background(root=wrong)


def test_search_names_env_and_default(tmp_path, monkeypatch, no_default_data):
    env = tmp_path / "env"
    monkeypatch.setenv("CHM_DATA", str(env))
    with pytest.raises(FileNotFoundError) as info:
        load_stanford_background()
    message = str(info.value)
    assert str(env / "iccv09Data") in message
    assert str(no_default_data / "iccv09Data") in message
    assert "CHM_DATA" in message


def test_invalid_n(tmp_path):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        load_weizmann_horse(root=tmp_path, n=0)


# ---------------------------------------------------------------------------
# Weizmann Horse
# ---------------------------------------------------------------------------
@pytest.mark.data
def test_weizmann_horse_real(weizmann_root):
    folder = weizmann_root / "weizmann_horse_db"
    names = sorted(os.listdir(folder / "gray"))
    assert len(names) == 328 and names[0] == "horse001.jpg" and names[-1] == "horse328.jpg"
    images, masks = load_weizmann_horse(weizmann_root)
    assert len(images) == len(masks) == 328
    for image, mask in zip(images, masks):
        assert image.dtype == np.float32 and image.ndim == 2
        assert image.shape == mask.shape
        assert 0.0 <= image.min() and image.max() <= 1.0
        assert set(np.unique(mask)) == {0, 1}
    # sorted by name: the first image is horse001.jpg
    with Image.open(folder / "gray" / "horse001.jpg") as img:
        assert images[0].shape == (img.size[1], img.size[0])


@pytest.mark.data
def test_weizmann_horse_color_real(weizmann_root):
    images, masks = load_weizmann_horse(weizmann_root, color=True, n=3)
    gray, gray_masks = load_weizmann_horse(weizmann_root, n=3)
    assert len(images) == 3
    for image, mask, g, gm in zip(images, masks, gray, gray_masks):
        assert image.dtype == np.float32 and image.shape == mask.shape + (3,)
        assert 0.0 <= image.min() and image.max() <= 1.0
        np.testing.assert_array_equal(mask, gm)
        assert g.shape == mask.shape


def _write_jpg(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, quality=95)


def test_weizmann_horse_synthetic(tmp_path):
    db = tmp_path / "weizmann_horse_db"
    rng = np.random.default_rng(0)
    for k, (h, w) in enumerate([(20, 30), (24, 18)], start=1):
        name = f"horse{k:03d}.jpg"
        _write_jpg(db / "gray" / name, rng.integers(0, 256, (h, w), dtype=np.uint8))
        _write_jpg(db / "rgb" / name, rng.integers(0, 256, (2 * h, 2 * w, 3), dtype=np.uint8))
        mask = np.zeros((h, w), np.uint8)
        mask[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 255
        _write_jpg(db / "figure_ground" / name, mask)
    images, masks = load_weizmann_horse(tmp_path)
    assert [im.shape for im in images] == [(20, 30), (24, 18)]
    assert masks[0].dtype == np.uint8 and masks[0][10, 15] == 1 and masks[0][0, 0] == 0
    color, _ = load_weizmann_horse(db, color=True, n=1)  # the dataset folder itself
    assert len(color) == 1 and color[0].shape == (20, 30, 3)


# ---------------------------------------------------------------------------
# Stanford Background
# ---------------------------------------------------------------------------
def test_stanford_classes():
    assert len(STANFORD_CLASSES) == 8
    assert STANFORD_CLASSES[0] == "sky" and STANFORD_CLASSES[-1] == "foreground object"


@pytest.mark.data
def test_stanford_background_real(stanford_root):
    folder = stanford_root / "iccv09Data"
    jpgs = sorted(p.stem for p in (folder / "images").glob("*.jpg"))
    regions = sorted(p.name[: -len(".regions.txt")] for p in (folder / "labels").glob("*.regions.txt"))
    assert len(jpgs) == 715 and jpgs == regions
    images, labels = load_stanford_background(stanford_root, n=6)
    assert len(images) == len(labels) == 6
    for image, label in zip(images, labels):
        assert image.dtype == np.float32 and image.ndim == 3 and image.shape[2] == 3
        assert 0.0 <= image.min() and image.max() <= 1.0
        assert label.dtype == np.int64 and label.shape == image.shape[:2]
        assert label.min() >= -1 and label.max() <= 7
    # sorted by name: the first label map is the first listed file
    first = np.loadtxt(folder / "labels" / f"{jpgs[0]}.regions.txt", dtype=np.int64)
    np.testing.assert_array_equal(labels[0], np.where(first < 0, -1, first))


def test_stanford_synthetic(tmp_path):
    folder = tmp_path / "iccv09Data"
    rng = np.random.default_rng(0)
    label = rng.integers(-3, 8, (4, 6))
    _write_jpg(folder / "images" / "0000002.jpg", rng.integers(0, 256, (4, 6, 3), dtype=np.uint8))
    _write_jpg(folder / "images" / "0000001.jpg", rng.integers(0, 256, (4, 6, 3), dtype=np.uint8))
    (folder / "labels").mkdir()
    for name in ("0000001", "0000002"):
        text = "\n".join(" ".join(str(v) for v in row) for row in label) + "\n"
        (folder / "labels" / f"{name}.regions.txt").write_text(text)
    images, labels = load_stanford_background(tmp_path)
    assert len(images) == 2 and images[0].shape == (4, 6, 3)
    np.testing.assert_array_equal(labels[0], np.where(label < 0, -1, label))
    # a label file that does not match its image's size
    (folder / "labels" / "0000001.regions.txt").write_text("1 2 3\n4 5 6\n")
    with pytest.raises(ValueError, match="expected 4 x 6 = 24 integers"):
        load_stanford_background(tmp_path)
    (folder / "labels" / "0000001.regions.txt").unlink()
    with pytest.raises(FileNotFoundError, match="no label file"):
        load_stanford_background(tmp_path)


# ---------------------------------------------------------------------------
# sparse labels
# ---------------------------------------------------------------------------
def _dense_masks():
    rng = np.random.default_rng(3)
    masks = [rng.integers(0, 3, (10, 12)), rng.integers(0, 2, (8, 9))]
    masks[0][:4] = -1  # unknown pixels
    masks.append(np.full((5, 5), -1))
    masks[2][0, :3] = [1, 0, 1]  # only three known pixels
    return masks


def test_sample_sparse_labels_counts_and_subset():
    masks = _dense_masks()
    sparse = sample_sparse_labels(masks, 5, random_state=0)
    assert len(sparse) == 3
    for mask, s in zip(masks, sparse):
        assert s.dtype == np.int64 and s.shape == mask.shape
        kept = s >= 0
        np.testing.assert_array_equal(s[kept], mask[kept])  # subset of the original labels
        assert np.all(mask[kept] >= 0)  # never an unknown pixel
    assert (sparse[0] >= 0).sum() == 5 and (sparse[1] >= 0).sum() == 5
    assert (sparse[2] >= 0).sum() == 3  # fewer known pixels than asked: all kept
    assert np.all(sparse[0][:4] == -1)


def test_sample_sparse_labels_determinism():
    masks = _dense_masks()
    a = sample_sparse_labels(masks, 7, random_state=42)
    b = sample_sparse_labels(masks, 7, random_state=42)
    c = sample_sparse_labels(masks, 7, random_state=43)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, z) for x, z in zip(a, c))
    rs = np.random.RandomState(5)
    assert len(sample_sparse_labels(masks, 2, random_state=rs)) == 3


def test_sample_sparse_labels_all_and_none():
    masks = _dense_masks()
    everything = sample_sparse_labels(masks, 10_000, random_state=0)
    for mask, s in zip(masks, everything):
        np.testing.assert_array_equal(s, mask)
    nothing = sample_sparse_labels(masks, 0, random_state=0)
    assert all(np.all(s == -1) for s in nothing)
    # uint8 masks (as loaded from Weizmann) are accepted
    out = sample_sparse_labels(np.ones((2, 4, 4), np.uint8), 3, random_state=0)
    assert [int((s == 1).sum()) for s in out] == [3, 3]
    with pytest.raises(ValueError, match="n_per_image"):
        sample_sparse_labels(masks, -1)
    with pytest.raises(ValueError, match="n_per_image"):
        sample_sparse_labels(masks, 2.5)


# ---------------------------------------------------------------------------
# folds
# ---------------------------------------------------------------------------
def test_stanford_folds_partition():
    folds = stanford_folds()
    assert len(folds) == 5
    tests = [test for _, test in folds]
    assert all(len(test) == 143 for test in tests)
    np.testing.assert_array_equal(np.sort(np.concatenate(tests)), np.arange(715))
    for train, test in folds:
        assert len(train) == 572 and not np.intersect1d(train, test).size
        np.testing.assert_array_equal(np.union1d(train, test), np.arange(715))
    again = stanford_folds(random_state=0)
    other = stanford_folds(random_state=1)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again))
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(folds, other))
    # not simply consecutive blocks
    assert not np.array_equal(tests[0], np.arange(143))
    with pytest.raises(ValueError, match="n_folds"):
        stanford_folds(n_images=3, n_folds=5)


# ---------------------------------------------------------------------------
# SIFT Flow (synthetic files in the original release layout)
# ---------------------------------------------------------------------------
def _write_sift_flow(root, names, size=(16, 20)):
    rng = np.random.default_rng(0)
    expected = {}
    for k, name in enumerate(names):
        image = rng.integers(0, 256, size + (3,), dtype=np.uint8)
        _write_jpg(root / "Images" / SIFT_SUB / f"{name}.jpg", image)
        S = rng.integers(0, SIFT_FLOW_N_CLASSES + 1, size)
        S[0, 0], S[0, 1] = 0, SIFT_FLOW_N_CLASSES  # unlabeled and the last class
        label_dir = root / "SemanticLabels" / SIFT_SUB
        label_dir.mkdir(parents=True, exist_ok=True)
        stored = S.astype(np.uint8) if k % 2 == 0 else S.astype(np.float64)
        savemat(label_dir / f"{name}.mat", {"S": stored, "names": np.array(["sky"], dtype=object)})
        expected[name] = S.astype(np.int64) - 1
    return expected


def test_sift_flow_round_trip(tmp_path):
    names = ["tallbuilding_a1", "coast_b2", "street_c3"]
    expected = _write_sift_flow(tmp_path / "SiftFlowDataset", names)
    images, labels, got = load_sift_flow(tmp_path)  # parent of SiftFlowDataset/
    assert got == sorted(names)
    for image, label, name in zip(images, labels, got):
        assert image.dtype == np.float32 and image.shape == (16, 20, 3)
        assert 0.0 <= image.min() and image.max() <= 1.0
        assert label.dtype == np.int64
        np.testing.assert_array_equal(label, expected[name])
        assert label[0, 0] == -1 and label[0, 1] == SIFT_FLOW_N_CLASSES - 1
    assert SIFT_FLOW_N_CLASSES == 33


def test_sift_flow_split_file(tmp_path):
    names = ["tallbuilding_a1", "coast_b2", "street_c3"]
    expected = _write_sift_flow(tmp_path, names)
    split = tmp_path / "test.txt"
    split.write_text("street_c3.jpg\n\ncoast_b2\n")
    images, labels, got = load_sift_flow(tmp_path, split=split)
    assert got == ["street_c3", "coast_b2"] and len(images) == 2
    np.testing.assert_array_equal(labels[0], expected["street_c3"])
    split.write_text("missing_z9\n")
    with pytest.raises(FileNotFoundError, match="missing_z9"):
        load_sift_flow(tmp_path, split=split)


def test_sift_flow_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="SIFT Flow not found") as info:
        load_sift_flow(tmp_path)
    assert str(tmp_path / "Images" / SIFT_SUB) in str(info.value)
    _write_sift_flow(tmp_path, ["coast_b2"])
    savemat(tmp_path / "SemanticLabels" / SIFT_SUB / "coast_b2.mat", {"S": np.full((16, 20), 40.0)})
    with pytest.raises(ValueError, match="integers 0-33"):
        load_sift_flow(tmp_path)
    savemat(tmp_path / "SemanticLabels" / SIFT_SUB / "coast_b2.mat", {"S": np.zeros((4, 4))})
    with pytest.raises(ValueError, match="shape"):
        load_sift_flow(tmp_path)


# ---------------------------------------------------------------------------
# broken files: a ValueError naming the file
# ---------------------------------------------------------------------------
def _stanford_folder(tmp_path, regions):
    """One 2x3 Stanford image whose label file holds ``regions`` (str or bytes)."""
    folder = tmp_path / "iccv09Data"
    _write_jpg(folder / "images" / "0000001.jpg", np.zeros((2, 3, 3), np.uint8))
    label_path = folder / "labels" / "0000001.regions.txt"
    label_path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(regions, bytes):
        label_path.write_bytes(regions)
    else:
        label_path.write_text(regions)
    return label_path


@pytest.mark.parametrize("token", ["x", "1.5", "2e1", "--1", "3,"])
def test_stanford_non_integer_label_names_the_file(tmp_path, token):
    label_path = _stanford_folder(tmp_path, f"0 1 2\n3 {token} 5\n")
    with pytest.raises(ValueError, match=r"not an integer") as info:
        load_stanford_background(tmp_path)
    assert str(label_path) in str(info.value) and repr(token) in str(info.value)


def test_stanford_binary_label_file_names_the_file(tmp_path):
    label_path = _stanford_folder(tmp_path, bytes(range(256)))
    with pytest.raises(ValueError, match="not a text file") as info:
        load_stanford_background(tmp_path)
    assert str(label_path) in str(info.value)


def test_stanford_labels_above_7_are_rejected(tmp_path):
    label_path = _stanford_folder(tmp_path, "0 1 2\n3 8 5\n")
    with pytest.raises(ValueError, match=r"labels must be 0-7 .*found 8") as info:
        load_stanford_background(tmp_path)
    assert str(label_path) in str(info.value)
    # every negative value means unknown, as the release documents
    _stanford_folder(tmp_path, "-1 -7 7\n0 1 2\n")
    _, labels = load_stanford_background(tmp_path)
    np.testing.assert_array_equal(labels[0], [[-1, -1, 7], [0, 1, 2]])


def _truncated_jpg(path, shape):
    _write_jpg(path, np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:300])


def _weizmann_folder(tmp_path):
    db = tmp_path / "weizmann_horse_db"
    for sub in ("gray", "rgb", "figure_ground"):
        _write_jpg(db / sub / "horse001.jpg", np.zeros((20, 30), np.uint8))
    return db


@pytest.mark.parametrize("sub, color", [("gray", False), ("rgb", True), ("figure_ground", False)])
def test_weizmann_truncated_jpeg_names_the_file(tmp_path, sub, color):
    db = _weizmann_folder(tmp_path)
    _truncated_jpg(db / sub / "horse001.jpg", (40, 50))
    with pytest.raises(ValueError, match="cannot read the image") as info:
        load_weizmann_horse(tmp_path, color=color)
    assert str(db / sub / "horse001.jpg") in str(info.value)


def test_stanford_and_sift_flow_truncated_jpeg_names_the_file(tmp_path):
    label_path = _stanford_folder(tmp_path, "0 1 2\n3 4 5\n")
    image_path = label_path.parent.parent / "images" / "0000001.jpg"
    _truncated_jpg(image_path, (40, 50, 3))
    with pytest.raises(ValueError, match="cannot read the image") as info:
        load_stanford_background(tmp_path)
    assert str(image_path) in str(info.value)
    _write_sift_flow(tmp_path / "sift", ["coast_b2"])
    image_path = tmp_path / "sift" / "Images" / SIFT_SUB / "coast_b2.jpg"
    _truncated_jpg(image_path, (16, 20, 3))
    with pytest.raises(ValueError, match="cannot read the image") as info:
        load_sift_flow(tmp_path / "sift")
    assert str(image_path) in str(info.value)


@pytest.mark.parametrize("content", [b"garbage", b"MATLAB 5.0 MAT-file" + bytes(200), None])
def test_sift_flow_corrupt_mat_names_the_file(tmp_path, content):
    _write_sift_flow(tmp_path, ["coast_b2"])
    mat_path = tmp_path / "SemanticLabels" / SIFT_SUB / "coast_b2.mat"
    if content is None:  # a real file cut short
        content = mat_path.read_bytes()[:200]
    mat_path.write_bytes(content)
    with pytest.raises(ValueError, match="cannot read the .mat file") as info:
        load_sift_flow(tmp_path)
    assert str(mat_path) in str(info.value)


def test_sift_flow_non_numeric_labels(tmp_path):
    _write_sift_flow(tmp_path, ["coast_b2"])
    savemat(tmp_path / "SemanticLabels" / SIFT_SUB / "coast_b2.mat",
            {"S": np.full((16, 20), "a", dtype=object)})
    with pytest.raises(ValueError, match="integers 0-33"):
        load_sift_flow(tmp_path)
