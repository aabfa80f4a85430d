"""Runtime helpers of the ConvNet backend: device choice, thread and seed control, resampling.

- :func:`resolve_device`: turn the ``device`` parameter into a :class:`torch.device`;
- ``_torch_threads``, ``_seeded``: context managers setting torch's intra-op
  threads, and seeding torch with deterministic kernels;
- ``_bilinear_sources``, ``_channel_stats``, ``_standardise``: bilinear
  resampling sources and weights, per-channel normalisation statistics and
  the normalisation itself.
"""
from contextlib import contextmanager

import numpy as np
import torch

__all__ = ["resolve_device"]


def resolve_device(device):
    """Turn the ``device`` parameter into a :class:`torch.device`.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"} or str
        ``"auto"`` picks ``"cuda"`` when :func:`torch.cuda.is_available` and
        ``"cpu"`` otherwise; any other value is passed to :class:`torch.device`
        (e.g. ``"cuda:1"``).

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If the string names no device, or CUDA is asked for but not available.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available; use 'cpu' or 'auto'")
    return dev


@contextmanager
def _torch_threads(n_jobs):
    """Run the enclosed block with ``n_jobs`` intra-op threads (None: unchanged)."""
    if n_jobs is None:
        yield
        return
    from chm._runtime import resolve_n_jobs

    old = torch.get_num_threads()
    torch.set_num_threads(resolve_n_jobs(n_jobs))
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextmanager
def _seeded(seed, device):
    """Seed torch inside a forked RNG state and ask for deterministic kernels."""
    devices = [device.index or 0] if device.type == "cuda" else []
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was_deterministic, warn_only=was_warn_only)


def _bilinear_sources(rows, size_in, size_out):
    """Source cells and weights of bilinear resizing, as :func:`F.interpolate` computes them.

    ``F.interpolate(mode="bilinear", align_corners=False)`` from ``size_in``
    to ``size_out`` samples output index ``d`` at ``s = (d + 0.5) size_in /
    size_out - 0.5`` (clamped at 0) between cells ``floor(s)`` and the next one
    (clamped at ``size_in - 1``).

    Returns
    -------
    lo, hi : ndarray of int64
        The two source cells.
    frac : ndarray of float64
        Weight of ``hi`` (``lo`` gets ``1 - frac``).
    """
    src = (rows + 0.5) * (size_in / size_out) - 0.5
    src = np.maximum(src, 0.0)
    lo = np.floor(src).astype(np.int64)
    lo = np.minimum(lo, size_in - 1)
    hi = np.minimum(lo + 1, size_in - 1)
    return lo, hi, src - lo


#: Normalised inputs are clipped to +-2**60: the training pixels lie within
#: +-sqrt(n_pixels) of 0, and the first convolution of such values stays
#: finite in float32 (see also ``network.LRN_INPUT_MAX``).
INPUT_MAX = 2.0 ** 60
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _standardise(x, mean, std):
    """``(x - mean) / std`` per channel (last axis) as float32, clipped to ``+-INPUT_MAX``.

    float32 arithmetic where it cannot overflow (the usual case), float64
    otherwise, so that any finite image gives finite inputs.
    """
    peak = max(float(np.max(x)), -float(np.min(x))) if x.size else 0.0
    spread = peak + float(np.max(np.abs(mean)))  # bounds |x - mean|
    if spread <= _FLOAT32_MAX and spread / float(np.min(std)) <= INPUT_MAX:
        return (x - mean) / std
    out = (x.astype(np.float64) - mean) / std
    return np.clip(out, -INPUT_MAX, INPUT_MAX).astype(np.float32)


def _channel_stats(images, n_channels):
    """Per-channel mean and standard deviation of all pixels (two passes, float64 sums)."""
    count = sum(im.shape[0] * im.shape[1] for im in images)
    total = np.zeros(n_channels)
    for im in images:
        total += im.reshape(-1, n_channels).sum(axis=0, dtype=np.float64)
    mean = total / count
    squares = np.zeros(n_channels)
    for im in images:
        squares += ((im.reshape(-1, n_channels) - mean) ** 2).sum(axis=0)
    std = np.sqrt(squares / count)
    return mean.astype(np.float32), np.maximum(std, 1e-6).astype(np.float32)
