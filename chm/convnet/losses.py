"""Loss terms of the ConvNet segmenter, written with PyTorch.

The unsupervised term is the total variation of the predicted probability map
(paper eqs. 8 and 15): at every pixel whose 3x3 neighbourhood lies inside the
map, the absolute responses of the two Sobel kernels are added, channel by
channel. ``tv_loss_torch(prob, reduction="sum")`` is the same number as
:func:`chm.penalties.tv_value`, and its autograd gradient is the subgradient of
:func:`chm.penalties.tv_subgradient` (``sign(0) = 0``, which is what the
gradient of :func:`torch.abs` uses).
"""
import numpy as np
import torch
import torch.nn.functional as F

# Correlation kernels of eq. 8; SOBEL_Y is the transpose of SOBEL_X.
SOBEL_X = ((-1.0, -2.0, -1.0), (0.0, 0.0, 0.0), (1.0, 2.0, 1.0))
SOBEL_Y = tuple(zip(*SOBEL_X))

_REDUCTIONS = ("sum", "mean", "none")


def _sobel_kernels(dtype, device):
    """Both Sobel kernels as a ``(2, 1, 3, 3)`` weight for :func:`F.conv2d`."""
    return torch.tensor((SOBEL_X, SOBEL_Y), dtype=dtype, device=device).unsqueeze(1)


def tv_loss_torch(prob, reduction="sum"):
    """Total variation of probability maps (paper eqs. 8 and 15).

    ``E_U = sum_c sum_(i,j) |(S_x * f_c)(i, j)| + |(S_y * f_c)(i, j)|``, where
    ``*`` is correlation with the Sobel kernels ``SOBEL_X`` and ``SOBEL_Y`` and
    ``(i, j)`` runs over the pixels with a full 3x3 neighbourhood (a "valid"
    boundary: the outermost rows and columns are no centres).

    Parameters
    ----------
    prob : torch.Tensor
        Maps of shape ``(N, C, H, W)``, ``(C, H, W)`` or ``(H, W)``; a 3-D
        tensor is read as channels first. Floating point.
    reduction : {"sum", "mean", "none"}, default="sum"
        ``"sum"``: the raw sum over images, channels and valid pixels, equal to
        :func:`chm.penalties.tv_value` of each map summed. ``"mean"``: that sum
        divided by the number of valid pixel positions ``N (H - 2) (W - 2)``,
        i.e. the per-pixel total variation (summed over channels) averaged over
        pixels and images, so its scale does not depend on the image size.
        ``"none"``: the raw sum of each image, shape ``(N,)`` (``()`` for a
        single map).

    Returns
    -------
    torch.Tensor
        Scalar (``"sum"``, ``"mean"``) or per-image sums (``"none"``); zero when
        a map has fewer than 3 rows or columns.
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if not torch.is_tensor(prob):
        raise TypeError(f"prob must be a torch.Tensor, got {type(prob).__name__}")
    if prob.dim() not in (2, 3, 4):
        raise ValueError(f"prob must have shape (N, C, H, W), (C, H, W) or (H, W); got {tuple(prob.shape)}")
    if not prob.is_floating_point():
        raise TypeError(f"prob must be floating point, got {prob.dtype}")
    single = prob.dim() < 4
    x = prob
    while x.dim() < 4:
        x = x.unsqueeze(0)
    n, c, h, w = x.shape
    if h < 3 or w < 3:
        per_image = x.sum(dim=(1, 2, 3)) * 0.0
        n_valid = 0
    else:
        responses = F.conv2d(x.reshape(n * c, 1, h, w), _sobel_kernels(x.dtype, x.device))
        per_image = responses.abs().reshape(n, -1).sum(dim=1)
        n_valid = n * (h - 2) * (w - 2)
    if reduction == "none":
        return per_image[0] if single else per_image
    total = per_image.sum()
    if reduction == "sum":
        return total
    return total / n_valid if n_valid else total


def interpolated_nll(log_prob, weights):
    """Mean negative log of bilinearly interpolated class probabilities.

    The supervised term of the loss: a labeled pixel whose probability is the
    bilinear interpolation ``p = sum_k w_k p_k`` of the probabilities ``p_k``
    of the true class at the (up to) four surrounding pixels of the network's
    output grid contributes ``-log p``. It is computed in log space,
    ``-logsumexp_k(log w_k + log p_k)``, so that confident predictions do not
    underflow. With one weight equal to 1 it is the usual cross-entropy.

    Parameters
    ----------
    log_prob : torch.Tensor
        ``(M, K)`` log-probabilities of the true class at the ``K`` corners of
        each of the ``M`` labeled pixels.
    weights : torch.Tensor
        ``(M, K)`` non-negative interpolation weights, each row summing to 1.

    Returns
    -------
    torch.Tensor
        Scalar mean over the ``M`` pixels (zero when ``M == 0``).
    """
    if log_prob.shape[0] == 0:
        return log_prob.sum() * 0.0
    return -torch.logsumexp(log_prob + torch.log(weights), dim=1).mean()


class _PenaltyFunction(torch.autograd.Function):
    """E_U of one map by a :class:`chm.penalties.Penalty` (numpy), with its gradient."""

    @staticmethod
    def forward(ctx, prob, penalty, guide):
        p = prob.detach().cpu().numpy().astype(np.float32)
        two = p.shape[0] == 2
        fmap = p[1] if two else np.ascontiguousarray(np.moveaxis(p, 0, -1))
        value, grad = (penalty.value_and_gradient(fmap) if guide is None
                       else penalty.value_and_gradient(fmap, guide))
        full = np.zeros_like(p)
        if two:
            full[1] = grad
        else:
            full[:] = np.moveaxis(grad, -1, 0)
        ctx.save_for_backward(torch.from_numpy(full).to(device=prob.device, dtype=prob.dtype))
        return prob.new_tensor(float(value))

    @staticmethod
    def backward(ctx, grad_output):
        (grad,) = ctx.saved_tensors
        return grad_output * grad, None, None


def penalty_loss_torch(prob, penalty, guide=None):
    """E_U of one probability map (C, H, W) by any :class:`chm.penalties.Penalty`.

    The map the penalty sees follows the CHM trainer
    (:func:`chm.classifiers.sgd.penalty_map`): the positive-class map (H, W)
    for two classes, else the (H, W, C) map. The value and gradient are the
    penalty's own (numpy, on the CPU); autograd chains the gradient into the
    network, so the ConvNet trains with any penalty, guided or not.

    Parameters
    ----------
    prob : torch.Tensor of shape (C, H, W)
        Softmax map of one image or crop.
    penalty : chm.penalties.Penalty
    guide : ndarray of shape (H, W, G) or None
        The penalty's guide of the same window (:meth:`Penalty.guide`).

    Returns
    -------
    torch.Tensor
        Scalar, differentiable with respect to ``prob``.
    """
    if not torch.is_tensor(prob) or prob.dim() != 3:
        raise ValueError(f"prob must be a (C, H, W) tensor, got {getattr(prob, 'shape', prob)!r}")
    return _PenaltyFunction.apply(prob, penalty, guide)
