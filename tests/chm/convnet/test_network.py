"""The dense (a trous) evaluation equals the patch network, pixel by pixel."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from chm.convnet.network import (  # noqa: E402
    PatchNet,
    extract_patches,
    pad_image,
    pad_widths,
    patch_size_for,
)

pytestmark = pytest.mark.convnet

# corners, edges and the interior of a 15 x 21 image
PIXELS = [(0, 0), (0, 20), (14, 0), (14, 20), (1, 7), (7, 1), (13, 19), (7, 10), (3, 16)]


def test_patch_size_is_the_receptive_field():
    assert patch_size_for(2) == 62
    assert patch_size_for(1) == 46
    assert sum(pad_widths(62)) == 61


@pytest.mark.parametrize("padding", ["reflect", "zero"])
@pytest.mark.parametrize("fc_size", [1, 2])
def test_dense_equals_patches_float64(padding, fc_size):
    torch.manual_seed(0)
    net = PatchNet(n_classes=3, in_channels=3, width=6, hidden=10, fc_size=fc_size).double()
    image = np.random.default_rng(0).normal(size=(3, 15, 21))
    padded = pad_image(image, net.patch_size, padding)
    assert padded.shape == (3, 15 + net.patch_size - 1, 21 + net.patch_size - 1)
    with torch.no_grad():
        dense = net.forward_dense(torch.from_numpy(padded)[None])[0]
        patches = torch.from_numpy(extract_patches(padded, PIXELS, net.patch_size))
        patchwise = net.forward_patches(patches)
    assert dense.shape == (3, 15, 21)
    for k, (i, j) in enumerate(PIXELS):
        np.testing.assert_allclose(dense[:, i, j].numpy(), patchwise[k].numpy(), rtol=1e-10, atol=1e-12)


def test_dense_equals_patches_float32_probabilities():
    torch.manual_seed(1)
    net = PatchNet(n_classes=4, in_channels=1, width=8, hidden=16)
    image = np.random.default_rng(1).random((1, 9, 12)).astype(np.float32)
    padded = pad_image(image, net.patch_size)
    pixels = [(0, 0), (8, 11), (4, 6), (0, 11)]
    with torch.no_grad():
        dense = torch.softmax(net.forward_dense(torch.from_numpy(padded)[None]), dim=1)[0]
        patchwise = torch.softmax(
            net.forward_patches(torch.from_numpy(extract_patches(padded, pixels, net.patch_size))), dim=1)
    for k, (i, j) in enumerate(pixels):
        np.testing.assert_allclose(dense[:, i, j].numpy(), patchwise[k].numpy(), atol=1e-5)


def test_lrn_matches_torch():
    net = PatchNet(n_classes=2, width=9, hidden=4)
    x = torch.rand(2, 9, 4, 5) * 10
    expected = torch.nn.functional.local_response_norm(x, 5, alpha=1e-4, beta=0.75, k=2.0)
    torch.testing.assert_close(net._lrn(x), expected)


def test_reflect_padding_handles_images_smaller_than_the_patch():
    image = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    padded = pad_image(image, 62, "reflect")
    assert padded.shape == (1, 63, 64)
    before, _ = pad_widths(62)
    np.testing.assert_array_equal(padded[:, before:before + 2, before:before + 3], image)
    with pytest.raises(ValueError, match="padding"):
        pad_image(image, 62, "edge")


def test_bad_shapes():
    net = PatchNet(n_classes=2, width=4, hidden=4)
    with pytest.raises(ValueError, match="patches"):
        net.forward_patches(torch.zeros(1, 3, 30, 30))
    with pytest.raises(ValueError, match="padded"):
        net.forward_dense(torch.zeros(1, 3, 30, 80))
