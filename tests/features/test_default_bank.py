import doctest
import importlib

import numpy as np
import pytest

import features
from features import default_bank, extract_features
from features.base import luminance


def test_default_bank_gray(rng):
    bank = default_bank()
    assert 60 <= bank.n_features <= 120
    assert len(set(bank.names)) == bank.n_features
    image = rng.random((40, 33)).astype(np.float32)
    out = bank(image)
    assert out.shape == (40, 33, bank.n_features) and out.dtype == np.float32
    assert np.isfinite(out).all()
    kinds = {name.split("_")[0] for name in bank.names}
    assert kinds == {"int", "gauss", "dog", "log", "gmag", "hess", "st", "gabor", "hog", "haar"}
    assert sum(n.startswith("gabor") for n in bank.names) >= 18


def test_default_bank_rgb(rng):
    rgb = rng.random((30, 41, 3)).astype(np.float32)
    gray_bank, colour_bank = default_bank(), default_bank(color=True)
    colour = colour_bank(rgb)
    assert colour.shape == (30, 41, gray_bank.n_features + 9)
    assert colour_bank.names[-9:] == [f"lab_{c}_s{s}" for s in (1, 3, 8) for c in "Lab"]
    # the colour bank is the gray bank on the luminance, plus colour channels
    np.testing.assert_array_equal(colour[..., :gray_bank.n_features], gray_bank(luminance(rgb)))
    np.testing.assert_array_equal(gray_bank(rgb), gray_bank(luminance(rgb)))
    with pytest.raises(ValueError, match="RGB"):
        colour_bank(rgb[..., 0])


def test_extract_features_picks_bank_from_input(rng):
    gray = rng.random((20, 24)).astype(np.float32)
    rgb = rng.random((20, 24, 3)).astype(np.float32)
    np.testing.assert_array_equal(extract_features(gray), default_bank()(gray))
    assert extract_features(rgb).shape[-1] == default_bank(color=True).n_features
    own = features.FilterBank([features.GaussianFilter((1,))])
    assert extract_features(rgb, own).shape == (20, 24, 1)
    with pytest.raises(ValueError):
        extract_features(np.zeros((4, 4, 4)))


def test_translation_moves_features(rng):
    # Away from the borders, features of a shifted image are the shifted features.
    image = rng.random((100, 100)).astype(np.float32)
    shifted = np.roll(image, (3, -2), axis=(0, 1))
    a, b = default_bank()(image), default_bank()(shifted)
    inner = (slice(48, 52), slice(48, 52))  # farther than any kernel reaches from the border
    np.testing.assert_allclose(np.roll(a, (3, -2), axis=(0, 1))[inner], b[inner], rtol=1e-3, atol=1e-4)


@pytest.mark.data
def test_default_bank_on_weizmann_horse(weizmann_root):
    from PIL import Image

    path = weizmann_root / "weizmann_horse_db"
    gray = np.asarray(Image.open(path / "gray" / "horse001.jpg"), np.float32) / 255
    rgb = np.asarray(Image.open(path / "rgb" / "horse001.jpg").convert("RGB"))[:240, :320]  # uint8: rescaled
    for image, bank in ((gray, default_bank()), (rgb, default_bank(color=True))):
        out = bank(image)
        assert out.shape == image.shape[:2] + (bank.n_features,)
        assert np.isfinite(out).all()
        assert (out.std(axis=(0, 1)) > 0).all()  # no dead feature on a real image


@pytest.mark.parametrize(
    "module", ["base", "intensity", "scale_space", "texture", "color", "context", "normalize", "__init__"]
)
def test_docstring_examples(module):
    name = "features" if module == "__init__" else f"features.{module}"
    result = doctest.testmod(importlib.import_module(name), extraglobs={"np": np}, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
