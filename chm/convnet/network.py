"""The paper's patch-classifier ConvNet and its dense (fully convolutional) form.

The network classifies the centre pixel of a square input patch: four blocks of
3x3 convolution (``width`` maps, no padding), ReLU, 2x2 max-pooling with stride 2
and local response normalisation (LRN), then a fully connected layer of
``hidden`` units with ReLU, and a linear layer whose softmax gives the class
probabilities. The patch side ``P`` is the receptive field of one output unit:
with a ``fc_size x fc_size`` map entering the fully connected layer,
``P = 16 fc_size + 30`` (62 for the default ``fc_size=2``), and every pooling
window of the patch network falls inside the feature map (no row or column is
dropped).

:meth:`PatchNet.forward_dense` evaluates the same weights on every pixel of a
whole image in one pass, at full output resolution (the "a trous" trick, which
gives the same values as shift-and-stitch): each pooling keeps stride 1 and the
layers after it are dilated by the stride they have lost, so block ``l``
(``l = 1..4``) uses dilation ``2**(l-1)`` in its convolution and pooling, and the
fully connected layer becomes a ``fc_size x fc_size`` convolution with dilation
16. LRN mixes channels at one position only, so it is applied unchanged. The
output at pixel ``(i, j)`` is the patch network's output on the ``P x P`` window
of the padded image whose top-left corner is ``(i, j)``; with the padding of
:func:`pad_image` (``P // 2 - 1`` rows/columns before, ``P // 2`` after) that
window is the patch "centred" on pixel ``(i, j)`` of the unpadded image (rows
``i - P/2 + 1 .. i + P/2``; an even-sized patch has no exact centre).
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

N_BLOCKS = 4
# Local response normalisation across channels (AlexNet settings):
# b_c = a_c / (k + alpha / n * sum_{|c' - c| <= n // 2} a_c'^2) ** beta.
LRN_SIZE = 5
LRN_ALPHA = 1e-4
LRN_BETA = 0.75
LRN_K = 2.0
#: Activations are clipped to 2**60 before the LRN so that their squares stay
#: finite in float32; the LRN output of an activation that large is below 1e-5
#: (it falls like ``a ** (1 - 2 * LRN_BETA)``), so nothing the network
#: computes on ordinary inputs changes.
LRN_INPUT_MAX = 2.0 ** 60

PADDING_MODES = ("reflect", "zero")


def patch_size_for(fc_size=2):
    """Side of the input patch (receptive field) for a given fully connected input map.

    Parameters
    ----------
    fc_size : int, default=2
        Side of the feature map entering the fully connected layer.

    Returns
    -------
    int
        ``P`` such that the four conv (3x3, no padding) + pool (2x2, stride 2)
        blocks turn a ``P x P`` patch into an ``fc_size x fc_size`` map.
    """
    size = int(fc_size)
    for _ in range(N_BLOCKS):
        size = 2 * size + 2
    return size


def pad_widths(patch_size):
    """Rows (or columns) added before and after the image by :func:`pad_image`.

    Parameters
    ----------
    patch_size : int
        Side ``P`` of the network's input patch (even).

    Returns
    -------
    tuple of int
        ``(P // 2 - 1, P // 2)``, which add up to ``P - 1``.
    """
    return patch_size // 2 - 1, patch_size // 2


def pad_image(image, patch_size, mode="reflect"):
    """Pad a channels-first image so that the dense output has its height and width.

    Parameters
    ----------
    image : ndarray of shape (C, H, W)
        Image, already normalised.
    patch_size : int
        Side ``P`` of the network's input patch.
    mode : {"reflect", "zero"}, default="reflect"
        ``"reflect"``: mirror without repeating the edge pixel
        (:func:`numpy.pad` ``mode="reflect"``, which also handles paddings
        wider than the image). ``"zero"``: zeros, i.e. the mean colour of the
        training images once they are normalised.

    Returns
    -------
    ndarray of shape (C, H + P - 1, W + P - 1)
        The padded image, ``P // 2 - 1`` rows/columns before and ``P // 2``
        after.
    """
    if mode not in PADDING_MODES:
        raise ValueError(f"padding must be one of {PADDING_MODES}, got {mode!r}")
    before, after = pad_widths(patch_size)
    widths = ((0, 0), (before, after), (before, after))
    if mode == "zero":
        return np.pad(image, widths, mode="constant")
    return np.pad(image, widths, mode="reflect")


def extract_patches(padded, coords, patch_size):
    """Patches of a padded image for the patch network.

    Parameters
    ----------
    padded : ndarray of shape (C, H + P - 1, W + P - 1)
        Output of :func:`pad_image`.
    coords : array-like of shape (M, 2)
        Pixel positions ``(i, j)`` in the unpadded image.
    patch_size : int
        Side ``P``.

    Returns
    -------
    ndarray of shape (M, C, P, P)
        The window whose top-left corner is ``(i, j)`` in the padded image,
        i.e. the patch the dense output at ``(i, j)`` is computed from.
    """
    coords = np.asarray(coords, dtype=np.int64).reshape(-1, 2)
    return np.stack([padded[:, i:i + patch_size, j:j + patch_size] for i, j in coords])


class PatchNet(nn.Module):
    """Patch classifier of the paper with a dense, fully convolutional evaluation.

    Parameters
    ----------
    n_classes : int
        Number of output classes.
    in_channels : int, default=3
        Channels of the input image (3 for RGB, 1 for grey).
    width : int, default=64
        Feature maps of every convolution (64 in the paper).
    hidden : int, default=512
        Units of the fully connected layer (512 in the paper).
    fc_size : int, default=2
        Side of the feature map entering the fully connected layer; fixes the
        patch size ``P = 16 fc_size + 30``.

    Attributes
    ----------
    convs : torch.nn.ModuleList
        The four 3x3 convolutions.
    fc : torch.nn.Linear
        Fully connected layer, ``width * fc_size**2 -> hidden``.
    out : torch.nn.Linear
        Output layer, ``hidden -> n_classes`` (logits; softmax gives the
        probabilities).
    patch_size : int
        Side ``P`` of the input patch (receptive field).
    """

    def __init__(self, n_classes, in_channels=3, width=64, hidden=512, fc_size=2):
        super().__init__()
        self.n_classes = int(n_classes)
        self.in_channels = int(in_channels)
        self.width = int(width)
        self.hidden = int(hidden)
        self.fc_size = int(fc_size)
        self.patch_size = patch_size_for(self.fc_size)
        channels = [self.in_channels] + [self.width] * N_BLOCKS
        self.convs = nn.ModuleList(
            nn.Conv2d(channels[k], channels[k + 1], kernel_size=3) for k in range(N_BLOCKS)
        )
        self.fc = nn.Linear(self.width * self.fc_size ** 2, self.hidden)
        self.out = nn.Linear(self.hidden, self.n_classes)
        index = torch.arange(self.width)
        band = ((index[:, None] - index[None, :]).abs() <= LRN_SIZE // 2).float() * (LRN_ALPHA / LRN_SIZE)
        self.register_buffer("lrn_band", band[:, :, None, None], persistent=False)
        self.reset_parameters()

    def reset_parameters(self):
        """He (Kaiming normal) initialisation of the ReLU layers, zero biases.

        The output layer starts from small weights (Xavier/Glorot normal) so
        that the first predictions are close to uniform.
        """
        for layer in list(self.convs) + [self.fc]:
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
        nn.init.xavier_normal_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def _lrn(self, x):
        """Local response normalisation across channels, at each position separately.

        Same values as :func:`torch.nn.functional.local_response_norm` (zero
        channels beyond the ends), with the windowed sum of squares done as a
        1x1 convolution by a banded matrix, which is faster on the CPU.
        Activations are first clipped to ``LRN_INPUT_MAX`` (squares of larger
        ones would overflow float32, and the band's zeros would turn them
        into NaN).
        """
        band = self.lrn_band.to(dtype=x.dtype)
        x = x.clamp(max=LRN_INPUT_MAX)
        return x * torch.pow(F.conv2d(x * x, band) + LRN_K, -LRN_BETA)

    def forward_patches(self, patches):
        """Logits of the centre pixel of each patch (the network as trained in the paper).

        Parameters
        ----------
        patches : torch.Tensor of shape (M, in_channels, P, P)

        Returns
        -------
        torch.Tensor of shape (M, n_classes)
        """
        p = self.patch_size
        if patches.dim() != 4 or patches.shape[2] != p or patches.shape[3] != p:
            raise ValueError(f"patches must have shape (M, {self.in_channels}, {p}, {p}), got {tuple(patches.shape)}")
        x = patches
        for conv in self.convs:
            x = self._lrn(F.max_pool2d(F.relu(conv(x)), kernel_size=2, stride=2))
        x = F.relu(self.fc(x.flatten(1)))
        return self.out(x)

    def forward(self, patches):
        """Same as :meth:`forward_patches`."""
        return self.forward_patches(patches)

    def forward_dense(self, padded):
        """Logits at every pixel, in one fully convolutional pass.

        Parameters
        ----------
        padded : torch.Tensor of shape (N, in_channels, H + P - 1, W + P - 1)
            Images padded as by :func:`pad_image`.

        Returns
        -------
        torch.Tensor of shape (N, n_classes, H, W)
            ``out[n, :, i, j]`` equals :meth:`forward_patches` of the ``P x P``
            window of ``padded[n]`` with top-left corner ``(i, j)``.
        """
        p = self.patch_size
        if padded.dim() != 4 or padded.shape[2] < p or padded.shape[3] < p:
            raise ValueError(f"padded images must have shape (N, {self.in_channels}, >= {p}, >= {p}), "
                             f"got {tuple(padded.shape)}")
        x = padded
        dilation = 1
        for conv in self.convs:
            x = F.relu(F.conv2d(x, conv.weight, conv.bias, dilation=dilation))
            x = self._lrn(F.max_pool2d(x, kernel_size=2, stride=1, dilation=dilation))
            dilation *= 2
        fc_weight = self.fc.weight.reshape(self.hidden, self.width, self.fc_size, self.fc_size)
        x = F.relu(F.conv2d(x, fc_weight, self.fc.bias, dilation=dilation))
        out_weight = self.out.weight.reshape(self.n_classes, self.hidden, 1, 1)
        return F.conv2d(x, out_weight, self.out.bias)
