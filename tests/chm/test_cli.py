"""The ``chm`` command on generated image folders: train, predict, evaluate, bad input."""
import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
import zarr

import chm
from chm import cli
from chm.synthetic import make_shapes

TINY_CHM = ["--set", "n_levels=2", "--set", "epochs=2", "--set", "context_cv=null"]


def _sparse(mask, rng, fraction=0.05):
    """napari-style labels: 0 unlabeled, class k painted as k + 1 on a few pixels."""
    labels = np.zeros(mask.shape, np.uint8)
    painted = rng.rand(*mask.shape) < fraction
    labels[painted] = mask[painted] + 1
    return labels


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Three PNG images with sparse PNG labels, and the dense masks (values 1, 2)."""
    root = tmp_path_factory.mktemp("cli")
    (root / "img").mkdir()
    (root / "lab").mkdir()
    images, masks = make_shapes(n_images=3, shape=(40, 48), random_state=0)
    rng = np.random.RandomState(0)
    for i, (image, mask) in enumerate(zip(images, masks)):
        iio.imwrite(root / "img" / f"im{i}.png", np.round(image * 255).astype(np.uint8))
        iio.imwrite(root / "lab" / f"im{i}.png", _sparse(mask, rng))
    return root, [m + 1 for m in masks]


@pytest.fixture(scope="module")
def trained(data):
    root, _ = data
    model = root / "model.chm"
    code = cli.main(["train", str(root / "img"), "--labels", str(root / "lab"),
                     "--out", str(model), "--quiet"] + TINY_CHM)
    assert code == 0
    return model


def _run_error(argv, capsys):
    """Exit code and the stderr of a failing command."""
    capsys.readouterr()
    code = cli.main(argv)
    err = capsys.readouterr().err
    return code, err


def _assert_one_line_error(code, err, name):
    """Exit 2, no traceback, one message line naming ``name`` (besides progress bars)."""
    assert code == 2
    assert "Traceback" not in err
    lines = [line for line in re.split(r"[\r\n]", err) if line.strip()]
    messages = [line for line in lines if "%|" not in line]  # tqdm bars drawn before it
    assert len(messages) == 1, err
    assert messages[0].startswith("chm ") and ": error: " in messages[0]
    assert name in messages[0]


def test_console_script_declared():
    (script,) = entry_points(group="console_scripts", name="chm")
    assert script.value == "chm.cli:main"


def test_parse_value():
    assert cli.parse_value("2") == 2 and isinstance(cli.parse_value("2"), int)
    assert cli.parse_value("0.1") == 0.1
    assert cli.parse_value("true") is True and cli.parse_value("null") is None
    assert cli.parse_value("[1,2]") == [1, 2]
    assert cli.parse_value("logistic") == "logistic"
    assert cli.parse_value('"2"') == "2"


def test_train_keeps_label_values_and_options(trained):
    from chm.proposals import ProposalSegmenter

    model = chm.load(trained)  # the default method, potts: the CHM inside a ProposalSegmenter
    assert isinstance(model, ProposalSegmenter) and isinstance(model.estimator_, chm.CHM)
    np.testing.assert_array_equal(model.classes_, [1, 2])
    inner = model.estimator
    assert (inner.n_levels, inner.epochs, inner.context_cv, inner.random_state, inner.tv_weight) == \
        (2, 2, None, 0, 0.0)
    assert model.random_state == 0


def test_method_chm_trains_the_tv_model(data, tmp_path):
    root, _ = data
    model = tmp_path / "tv.chm"
    assert cli.main(["train", str(root / "img"), "--labels", str(root / "lab"), "--out", str(model),
                     "--method", "chm", "--quiet"] + TINY_CHM) == 0
    tv = chm.load(model)
    assert isinstance(tv, chm.CHM) and tv.tv_weight == chm.CHM().tv_weight > 0
    assert (tv.n_levels, tv.epochs) == (2, 2)


def test_predict_writes_label_values_and_proba(data, trained, tmp_path):
    root, truths = data
    assert cli.main(["predict", str(trained), str(root / "img"), "--out", str(tmp_path),
                     "--proba", "--quiet"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"im{i}.tif" for i in range(3)] + [f"im{i}_proba.tif" for i in range(3)])
    wrong = total = 0
    for i, truth in enumerate(truths):
        labels = tifffile.imread(tmp_path / f"im{i}.tif")
        proba = tifffile.imread(tmp_path / f"im{i}_proba.tif")
        assert labels.dtype == np.uint8 and labels.shape == (40, 48)
        assert set(np.unique(labels)) <= {1, 2}
        assert proba.dtype == np.float32 and proba.shape == (40, 48, 2)
        np.testing.assert_allclose(proba.sum(axis=-1), 1.0, atol=1e-5)
        np.testing.assert_array_equal(labels, np.array([1, 2])[proba.argmax(axis=-1)])
        wrong += int((labels != truth).sum())
        total += truth.size
    assert wrong / total < 0.1  # an easy problem, learnt from 5 % of the pixels


def test_predict_matches_the_python_api(data, trained, tmp_path):
    root, _ = data
    assert cli.main(["predict", str(trained), str(root / "img" / "im1.png"),
                     "--out", str(tmp_path), "--quiet"]) == 0
    model = chm.load(trained)
    image = iio.imread(root / "img" / "im1.png")  # uint8: the model scales it by 255
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "im1.tif"),
                                  model.predict([image])[0])


def test_large_images_tiled(data, trained, tmp_path, monkeypatch):
    root, _ = data
    seen = []
    predict_proba = chm.CHM.predict_proba

    def spy(self, images, tile_size=None):
        seen.append(tile_size)
        return predict_proba(self, images, tile_size=tile_size)

    monkeypatch.setattr(chm.CHM, "predict_proba", spy)
    monkeypatch.setattr(cli, "TILE_ABOVE", 40 * 48 - 1)  # the test images count as large
    monkeypatch.setattr(cli, "DEFAULT_TILE", 16)
    image = str(root / "img" / "im0.png")
    for extra in ([], ["--tile-size", "32"], ["--tile-size", "0"], ["--tile-size", "48"]):
        assert cli.main(["predict", str(trained), image, "--out", str(tmp_path), "--quiet"]
                        + extra) == 0
    assert seen == [16, 32, None, None]  # 48 px: one tile, predicted whole
    whole = chm.load(trained).predict([iio.imread(image)])[0]
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "im0.tif"), whole)


def _scores_from_files(root, out, classes):
    confusion = np.zeros((len(classes), len(classes)), int)
    for i in range(3):
        truth = iio.imread(root / "lab" / f"im{i}.png").astype(int)
        pred = tifffile.imread(out / f"im{i}.tif").astype(int)
        known = truth > 0
        for a, ta in enumerate(classes):
            for b, tb in enumerate(classes):
                confusion[a, b] += int(((truth == ta) & (pred == tb) & known).sum())
    return confusion


def test_evaluate_prints_error_f1_iou(data, trained, tmp_path, capsys):
    root, _ = data
    assert cli.main(["predict", str(trained), str(root / "img"), "--out", str(tmp_path),
                     "--quiet"]) == 0
    capsys.readouterr()
    assert cli.main(["evaluate", str(trained), str(root / "img"), "--labels",
                     str(root / "lab"), "--quiet"]) == 0
    out = capsys.readouterr().out
    c = _scores_from_files(root, tmp_path, [1, 2])
    total = c.sum()
    assert f"labeled pixels: {total}" in out
    error = float(re.search(r"pixel error: ([0-9.]+)", out).group(1))
    assert error == pytest.approx(1 - np.trace(c) / total, abs=5e-5)
    for k, value in enumerate([1, 2]):
        tp, fp, fn = c[k, k], c[:, k].sum() - c[k, k], c[k].sum() - c[k, k]
        row = re.search(rf"^\s+{value}\s+(\d+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)$",
                        out, re.M)
        assert row is not None, out
        pixels, precision, recall, f1, iou = (float(g) for g in row.groups())
        assert pixels == tp + fn
        assert precision == pytest.approx(tp / (tp + fp), abs=5e-5)
        assert recall == pytest.approx(tp / (tp + fn), abs=5e-5)
        assert f1 == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=5e-5)
        assert iou == pytest.approx(tp / (tp + fp + fn), abs=5e-5)


def test_scores_of_a_known_confusion():
    error, rows = cli.scores([[8, 2], [1, 9]])
    assert error == pytest.approx(3 / 20)
    assert rows[0]["f1"] == pytest.approx(16 / 19) and rows[1]["iou"] == pytest.approx(9 / 12)
    _, rows = cli.scores([[5, 0], [0, 0]])
    assert np.isnan(rows[1]["f1"])  # a class with no pixels has no F1


def test_python_m_chm_subprocess(data, trained, tmp_path):
    root, _ = data
    env = dict(os.environ, PYTHONPATH=str(Path(chm.__file__).parents[1]))
    result = subprocess.run([sys.executable, "-m", "chm", "predict", str(trained),
                             str(root / "img" / "im0.png"), "--out", str(tmp_path / "o"),
                             "--proba"], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert tifffile.imread(tmp_path / "o" / "im0_proba.tif").shape == (40, 48, 2)
    result = subprocess.run([sys.executable, "-m", "chm", "predict", str(trained),
                             str(root / "img" / "absent.png"), "--out", str(tmp_path / "o")],
                            capture_output=True, text=True, env=env, timeout=300)
    _assert_one_line_error(result.returncode, result.stderr, "absent.png")


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    """A 16-bit two-page TIFF stack with TIFF labels, classes painted 1 and 2."""
    root = tmp_path_factory.mktemp("stacks")
    images, masks = make_shapes(n_images=2, shape=(36, 40), random_state=1)
    rng = np.random.RandomState(1)
    stack = np.stack([np.round(im * 4000).astype(np.uint16) for im in images])  # dim 16-bit
    tifffile.imwrite(root / "vol.tif", stack, photometric="minisblack")
    tifffile.imwrite(root / "vol_labels.tif", np.stack([_sparse(m, rng, 0.1) for m in masks]),
                     photometric="minisblack")
    return root, stack, [m + 1 for m in masks]


def test_forest_on_16bit_stacks_writes_stacks(stacks, tmp_path):
    root, stack, truths = stacks
    model = tmp_path / "forest.chm"
    assert cli.main(["train", str(root / "vol.tif"), "--labels", str(root / "vol_labels.tif"),
                     "--out", str(model), "--method", "forest", "--set", "n_estimators=20",
                     "--quiet"]) == 0
    forest = chm.load(model)
    np.testing.assert_array_equal(forest.classes_, [1, 2])
    assert forest.n_estimators == 20
    out = tmp_path / "pred"
    assert cli.main(["predict", str(model), str(root / "vol.tif"), "--out", str(out),
                     "--proba", "--quiet"]) == 0
    labels = tifffile.imread(out / "vol.tif")
    proba = tifffile.imread(out / "vol_proba.tif")
    assert labels.shape == (2, 36, 40) and proba.shape == (2, 36, 40, 2)
    np.testing.assert_allclose(proba.sum(axis=-1), 1.0, atol=1e-5)
    for k in range(2):  # slice by slice, the pixels scaled by 65535 as the API does
        expected = forest.predict([stack[k] / np.float32(65535)])[0]
        np.testing.assert_array_equal(labels[k], expected)
        assert (labels[k] != truths[k]).mean() < 0.1


def test_potts_method_trains_a_proposal_segmenter(stacks, tmp_path, capsys):
    from chm.proposals import ProposalSegmenter

    root, stack, truths = stacks
    model = tmp_path / "potts.chm"
    assert cli.main(["train", str(root / "vol.tif"), "--labels", str(root / "vol_labels.tif"),
                     "--out", str(model), "--method", "potts", "--set", "n_levels=2",
                     "--set", "epochs=3", "--set", "context_cv=2", "--quiet"]) == 0
    potts = chm.load(model)
    assert isinstance(potts, ProposalSegmenter)
    assert potts.estimator.tv_weight == 0 and potts.estimator.n_levels == 2
    assert potts.n_proposals_[0] > 0
    np.testing.assert_array_equal(potts.classes_, [1, 2])
    out = tmp_path / "pred"
    assert cli.main(["predict", str(model), str(root / "vol.tif"), "--out", str(out),
                     "--quiet"]) == 0
    labels = tifffile.imread(out / "vol.tif")
    for k in range(2):
        np.testing.assert_array_equal(labels[k], potts.predict([stack[k] / np.float32(65535)])[0])
    code, err = _run_error(["train", str(root / "vol.tif"), "--labels",
                            str(root / "vol_labels.tif"), "--out", str(model), "--method",
                            "potts", "--set", "n_levels=0"], capsys)
    _assert_one_line_error(code, err, "n_levels")


def test_zarr_input_and_unlabeled_value(tmp_path):
    images, masks = make_shapes(n_images=2, shape=(32, 36), random_state=2)
    rng = np.random.RandomState(2)
    paths = []
    for i, (image, mask) in enumerate(zip(images, masks)):
        arr = zarr.open(str(tmp_path / f"z{i}.zarr"), mode="w", shape=image.shape,
                        dtype=np.float32)
        arr[...] = image
        lab = np.full(mask.shape, 255, np.uint8)  # 255 unlabeled, classes 0 and 1
        painted = rng.rand(*mask.shape) < 0.1
        lab[painted] = mask[painted]
        iio.imwrite(tmp_path / f"l{i}.png", lab)
        paths.append(str(tmp_path / f"z{i}.zarr"))
    model = tmp_path / "m.chm"
    assert cli.main(["train", *paths, "--labels", str(tmp_path / "l*.png"), "--out", str(model),
                     "--unlabeled", "255", "--method", "forest", "--set", "n_estimators=10",
                     "--quiet"]) == 0
    np.testing.assert_array_equal(chm.load(model).classes_, [0, 1])
    assert cli.main(["predict", str(model), paths[0], "--out", str(tmp_path / "o"),
                     "--quiet"]) == 0
    labels = tifffile.imread(tmp_path / "o" / "z0.tif")
    assert labels.shape == (32, 36) and set(np.unique(labels)) <= {0, 1}
    assert (labels != masks[0]).mean() < 0.1


def test_config_file_and_set_override(data, tmp_path):
    root, _ = data
    config = tmp_path / "forest.toml"
    config.write_text("n_estimators = 7\nmax_depth = 5\n")
    model = tmp_path / "m.chm"
    assert cli.main(["train", str(root / "img"), "--labels", str(root / "lab"), "--out",
                     str(model), "--method", "forest", "--config", str(config), "--set",
                     "max_depth=3", "--quiet"]) == 0
    forest = chm.load(model)
    assert (forest.n_estimators, forest.max_depth) == (7, 3)
    config = tmp_path / "c.json"
    config.write_text('{"n_estimators": 3, "sigma_max": 4}')
    assert cli.main(["train", str(root / "img"), "--labels", str(root / "lab"), "--out",
                     str(model), "--method", "forest", "--config", str(config), "--quiet"]) == 0
    assert (chm.load(model).n_estimators, chm.load(model).sigma_max) == (3, 4)


def test_shares_from_sets_the_class_prior(data, tmp_path, capsys):
    """--shares-from: the model predicts for the class shares of the given label files."""
    root, _ = data
    (tmp_path / "clicks").mkdir()
    clicks = np.zeros((40, 48), np.uint8)
    clicks[0, :3] = 1
    clicks[5, 7] = 2  # 3 of class 1, 1 of class 2 ...
    iio.imwrite(tmp_path / "clicks" / "a.png", clicks)
    clicks[:] = 0
    clicks[9, 9] = 2  # ... and another of class 2
    iio.imwrite(tmp_path / "clicks" / "b.png", clicks)
    model = tmp_path / "m.chm"
    base = ["train", str(root / "img"), "--labels", str(root / "lab"), "--out", str(model)]
    assert cli.main(base + ["--shares-from", str(tmp_path / "clicks"), "--quiet"] + TINY_CHM) == 0
    fitted = chm.load(model)
    assert fitted.classes_.tolist() == [1, 2]
    assert fitted.estimator_.class_prior_ == pytest.approx([0.6, 0.4])
    assert fitted.estimator_.label_prior_ != pytest.approx([0.6, 0.4])

    iio.imwrite(tmp_path / "clicks" / "b.png", np.full((40, 48), 3, np.uint8))
    code, err = _run_error(base + ["--shares-from", str(tmp_path / "clicks" / "b.png")] + TINY_CHM,
                           capsys)
    _assert_one_line_error(code, err, "label 3")
    code, err = _run_error(base + ["--shares-from", str(tmp_path / "clicks"), "--set",
                                   "class_prior=[1,1]"], capsys)
    _assert_one_line_error(code, err, "--shares-from")
    code, err = _run_error(base + ["--shares-from", str(tmp_path / "clicks"), "--method",
                                   "forest"], capsys)
    _assert_one_line_error(code, err, "--method forest")  # it has no class_prior
    iio.imwrite(tmp_path / "clicks" / "b.png", np.zeros((40, 48), np.uint8))
    code, err = _run_error(base + ["--shares-from", str(tmp_path / "clicks" / "b.png")] + TINY_CHM,
                           capsys)
    _assert_one_line_error(code, err, "no labeled pixels")
    clicks[:] = 0
    clicks[0, 0] = 1
    iio.imwrite(tmp_path / "clicks" / "a.png", clicks)
    code, err = _run_error(base + ["--shares-from", str(tmp_path / "clicks" / "a.png")] + TINY_CHM,
                           capsys)
    _assert_one_line_error(code, err, "no pixel of class 2")


# -------------------------------------------------------------- bad input
def test_missing_image_file(data, tmp_path, capsys):
    root, _ = data
    code, err = _run_error(["train", str(root / "img" / "nope.png"), "--labels",
                            str(root / "lab" / "im0.png"), "--out", str(tmp_path / "m.chm")],
                           capsys)
    _assert_one_line_error(code, err, "nope.png")
    assert not (tmp_path / "m.chm").exists()


def test_unreadable_image(data, tmp_path, capsys):
    root, _ = data
    (tmp_path / "broken.png").write_bytes(b"\x89PNG but not really")
    code, err = _run_error(["train", str(tmp_path / "broken.png"), "--labels",
                            str(root / "lab" / "im0.png"), "--out", str(tmp_path / "m.chm")],
                           capsys)
    _assert_one_line_error(code, err, str(tmp_path / "broken.png"))


def test_label_size_mismatch(data, tmp_path, capsys):
    root, _ = data
    iio.imwrite(tmp_path / "small.png", np.zeros((30, 48), np.uint8))
    code, err = _run_error(["train", str(root / "img" / "im0.png"), "--labels",
                            str(tmp_path / "small.png"), "--out", str(tmp_path / "m.chm")],
                           capsys)
    _assert_one_line_error(code, err, str(tmp_path / "small.png"))
    assert "30 x 48" in err and "40 x 48" in err


def test_image_and_label_counts_differ(data, tmp_path, capsys):
    root, _ = data
    code, err = _run_error(["train", str(root / "img"), "--labels",
                            str(root / "lab" / "im0.png"), "--out", str(tmp_path / "m.chm")],
                           capsys)
    _assert_one_line_error(code, err, "3 image files but 1 label files")


def test_label_beyond_classes_in_evaluate(data, trained, tmp_path, capsys):
    root, _ = data
    lab = iio.imread(root / "lab" / "im0.png").copy()
    lab[0, 0] = 7
    iio.imwrite(tmp_path / "bad.png", lab)
    code, err = _run_error(["evaluate", str(trained), str(root / "img" / "im0.png"),
                            "--labels", str(tmp_path / "bad.png")], capsys)
    _assert_one_line_error(code, err, str(tmp_path / "bad.png"))
    assert "label 7" in err


def test_unknown_option_and_bad_value(data, tmp_path, capsys):
    root, _ = data
    base = ["train", str(root / "img"), "--labels", str(root / "lab"), "--out",
            str(tmp_path / "m.chm")]
    code, err = _run_error(base + ["--set", "n_level=2"], capsys)
    _assert_one_line_error(code, err, "'n_level'")
    code, err = _run_error(base + ["--set", "n_levels=0"], capsys)
    _assert_one_line_error(code, err, "n_levels")
    assert not (tmp_path / "m.chm").exists()


def test_rgb_image_to_grey_model_leaves_no_partial_output(data, trained, tmp_path, capsys):
    root, _ = data
    rgb_dir = tmp_path / "in"
    rgb_dir.mkdir()
    iio.imwrite(rgb_dir / "a.png", iio.imread(root / "img" / "im0.png"))
    iio.imwrite(rgb_dir / "b.png", np.zeros((40, 48, 3), np.uint8))
    out = tmp_path / "out"
    code, err = _run_error(["predict", str(trained), str(rgb_dir), "--out", str(out),
                            "--proba"], capsys)
    _assert_one_line_error(code, err, str(rgb_dir / "b.png"))
    assert sorted(p.name for p in out.iterdir()) == ["a.tif", "a_proba.tif"]


def test_failure_inside_a_stack_removes_its_outputs(stacks, trained, tmp_path, capsys,
                                                    monkeypatch):
    root, _, _ = stacks
    calls = []

    def fail_on_second(predictor, image, path):
        calls.append(path)
        if len(calls) == 2:
            raise chm.files.FileError(path, "simulated failure")
        return np.full(image.shape + (2,), 0.5, np.float32)

    monkeypatch.setattr(cli, "_slice_proba", fail_on_second)
    out = tmp_path / "out"
    code, err = _run_error(["predict", str(trained), str(root / "vol.tif"), "--out", str(out),
                            "--proba"], capsys)
    _assert_one_line_error(code, err, "simulated failure")
    assert len(calls) == 2 and list(out.iterdir()) == []


def test_predict_refuses_colliding_outputs(data, trained, tmp_path, capsys):
    root, _ = data
    other = tmp_path / "other"
    other.mkdir()
    iio.imwrite(other / "im0.png", iio.imread(root / "img" / "im0.png"))
    code, err = _run_error(["predict", str(trained), str(root / "img" / "im0.png"),
                            str(other / "im0.png"), "--out", str(tmp_path / "out")], capsys)
    _assert_one_line_error(code, err, "im0.tif")
    assert not (tmp_path / "out").exists()


def test_missing_or_foreign_model(data, tmp_path, capsys):
    root, _ = data
    code, err = _run_error(["predict", str(tmp_path / "none.chm"), str(root / "img"),
                            "--out", str(tmp_path / "o")], capsys)
    _assert_one_line_error(code, err, "none.chm")
    (tmp_path / "junk.chm").write_bytes(b"not a model")
    code, err = _run_error(["evaluate", str(tmp_path / "junk.chm"), str(root / "img"),
                            "--labels", str(root / "lab")], capsys)
    _assert_one_line_error(code, err, "junk.chm")


def test_usage_error_exit_code(capsys):
    assert cli.main(["train"]) == 2
    assert "usage: chm train" in capsys.readouterr().err
    assert cli.main(["--help"]) == 0


# ---------------------------------------------------------------- suggest
def _read_suggestions(path):
    """Header and values of a suggestions CSV."""
    header, *lines = path.read_text().splitlines()
    values = [[float(v) for v in line.split(",")] for line in lines]
    return header.split(","), np.array(values).reshape(len(lines), -1)


def test_suggest_writes_csv_and_label_layer(data, trained, tmp_path):
    from chm.labeling import suggest_labels

    root, _ = data
    out = tmp_path / "sugg"
    assert cli.main(["suggest", str(trained), str(root / "img"), "--labels", str(root / "lab"),
                     "--n", "6", "--out", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"im{i}_suggestions.csv" for i in range(3)] + [f"im{i}_suggestions.tif" for i in range(3)])
    model = chm.load(trained)
    for i in range(3):
        header, rows = _read_suggestions(out / f"im{i}_suggestions.csv")
        assert header == ["row", "col", "uncertainty"] and rows.shape == (6, 3)
        r, c = rows[:, 0].astype(int), rows[:, 1].astype(int)
        assert r.min() >= 0 and r.max() < 40 and c.min() >= 0 and c.max() < 48
        painted = iio.imread(root / "lab" / f"im{i}.png")
        assert np.all(painted[r, c] == 0)  # never a labeled pixel (0 = unlabeled)
        gaps = np.hypot(r[:, None] - r[None], c[:, None] - c[None])
        assert gaps[np.triu_indices(6, 1)].min() >= 8
        assert np.all(np.diff(rows[:, 2]) <= 0) and np.all((rows[:, 2] >= 0) & (rows[:, 2] <= 1))
        layer = tifffile.imread(out / f"im{i}_suggestions.tif")
        assert layer.dtype == np.uint8 and layer.shape == (40, 48)
        expected_layer = np.zeros((40, 48), np.uint8)
        expected_layer[r, c] = 1
        np.testing.assert_array_equal(layer, expected_layer)
        # the same pixels as the Python API on the same image and labels
        image = iio.imread(root / "img" / f"im{i}.png")
        (expected,) = suggest_labels(model, [image], 6, labels=[painted.astype(int) - 1],
                                     random_state=0)
        np.testing.assert_array_equal(r, expected.rows)
        np.testing.assert_array_equal(c, expected.cols)
        np.testing.assert_allclose(rows[:, 2], expected.uncertainty, atol=1e-6)


def test_suggest_passes_smooth_and_label_distance(data, trained, tmp_path):
    from chm.labeling import suggest_labels

    root, _ = data
    out = tmp_path / "sugg"
    assert cli.main(["suggest", str(trained), str(root / "img" / "im0.png"), "--labels",
                     str(root / "lab" / "im0.png"), "--n", "5", "--smooth", "2",
                     "--label-distance", "4", "--out", str(out), "--quiet"]) == 0
    _, rows = _read_suggestions(out / "im0_suggestions.csv")
    painted = iio.imread(root / "lab" / "im0.png").astype(int) - 1
    (expected,) = suggest_labels(chm.load(trained), [iio.imread(root / "img" / "im0.png")], 5,
                                 labels=[painted], smooth=2, label_distance=4, random_state=0)
    np.testing.assert_array_equal(rows[:, :2].astype(int), expected.points)
    labeled = np.argwhere(painted >= 0)
    gaps = np.hypot(*(expected.points[:, None].astype(float) - labeled[None]).transpose(2, 0, 1))
    assert gaps.min() >= 4


def test_suggest_without_labels_on_a_stack(data, trained, tmp_path):
    root, _ = data
    stack = np.stack([iio.imread(root / "img" / f"im{i}.png") for i in range(2)])
    tifffile.imwrite(tmp_path / "vol.tif", stack, photometric="minisblack")
    out = tmp_path / "sugg"
    assert cli.main(["suggest", str(trained), str(tmp_path / "vol.tif"), "--n", "4",
                     "--min-distance", "5", "--measure", "entropy", "--out", str(out),
                     "--quiet"]) == 0
    header, rows = _read_suggestions(out / "vol_suggestions.csv")
    assert header == ["slice", "row", "col", "uncertainty"] and rows.shape == (8, 4)
    np.testing.assert_array_equal(rows[:, 0], [0] * 4 + [1] * 4)
    layers = tifffile.imread(out / "vol_suggestions.tif")
    assert layers.shape == (2, 40, 48) and layers.dtype == np.uint8
    for k in range(2):
        r, c = rows[rows[:, 0] == k][:, 1:3].astype(int).T
        expected_layer = np.zeros((40, 48), np.uint8)
        expected_layer[r, c] = 1
        np.testing.assert_array_equal(layers[k], expected_layer)


def test_suggest_bad_input(data, trained, tmp_path, capsys):
    root, _ = data
    base = ["suggest", str(trained), str(root / "img"), "--out", str(tmp_path / "o")]
    code, err = _run_error(base + ["--n", "0"], capsys)
    _assert_one_line_error(code, err, "--n")
    for option in ("--min-distance", "--label-distance", "--smooth"):
        code, err = _run_error(base + [option, "-1"], capsys)
        _assert_one_line_error(code, err, option)
    code, err = _run_error(base + ["--labels", str(root / "lab" / "im0.png")], capsys)
    _assert_one_line_error(code, err, "3 image files but 1 label files")
    code, err = _run_error(["suggest", str(tmp_path / "none.chm"), str(root / "img"),
                            "--out", str(tmp_path / "o")], capsys)
    _assert_one_line_error(code, err, "none.chm")
    assert not (tmp_path / "o").exists()


def test_a_wrapper_tiles_when_the_model_it_wraps_does():
    from chm.baselines import ForestSegmenter
    from chm.self_training import SelfTrainingSegmenter

    images, masks = make_shapes(n_images=3, shape=(40, 48), random_state=0)
    labels = [np.where(np.random.RandomState(i).rand(*m.shape) < 0.05, m, -1)
              for i, m in enumerate(masks)]
    forest = SelfTrainingSegmenter(ForestSegmenter(n_estimators=3, random_state=0)).fit(images, labels)
    tiny = chm.CHM(n_levels=2, epochs=1, context_cv=None, random_state=0)
    wrapped = SelfTrainingSegmenter(tiny).fit(images, labels)
    assert not cli._can_tile(forest) and cli._can_tile(wrapped)
    # MRFSegmenter's own predict_proba takes no tile_size, whatever it wraps
    from chm.mrf_segmenter import MRFSegmenter

    mrf = MRFSegmenter(tiny, weights=[0.0, 1.0], cv=2, random_state=0).fit(images, labels)
    assert cli._can_tile(mrf.estimator_) and not cli._can_tile(mrf)
