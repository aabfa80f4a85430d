"""Context features: a probability map sampled at a star stencil around each pixel.

In a contextual hierarchical model the class-probability maps of earlier
levels become inputs of later ones; sampling them at offsets out to a few
tens of pixels tells each pixel what its surroundings look like.
"""
import numpy as np
from scipy import ndimage as ndi

from .base import Filter, check_count, check_mode, check_positive, pad, peak_abs
from .intensity import stencil_offsets


def _box_size(radius):
    """Averaging window side for samples at ``radius``: ``2 * (radius // 2) + 1``."""
    return 2 * (int(radius) // 2) + 1


class ContextFilter(Filter):
    """Sample a probability map (H, W) or (H, W, C) at a stencil of offsets.

    Parameters
    ----------
    radii : sequence of int
        Ring radii of the stencil; each ring has ``n_directions`` offsets
        (see :func:`features.intensity.stencil_offsets`), plus the centre.
    n_directions : int
    n_channels : int
        Channels C of the maps this filter takes (a 2-D map counts as one).
        Fixed here so the feature count is known before any map is seen.
    mode : {'edge', 'reflect'}
        Border handling: replicate the border value, or mirror.
    average : bool
        If True, a sample at radius ``r`` is the mean of the (border-extended)
        map over the ``(2*(r//2)+1)``-wide square around the sampled point
        (the centre is not averaged). Far samples then summarise a
        neighbourhood instead of one noisy pixel, and a shift of a few pixels
        changes them little. Off by default, as in the CHM papers.
    prefix : str
        Start of the feature names (use distinct prefixes for maps of
        different levels in one bank).

    Returns
    -------
    Calling the filter gives float32 ``(H, W, C * n_offsets)``, channel-major:
    all offsets of channel 0, then channel 1, ...

    Examples
    --------
    >>> f = ContextFilter(radii=(1, 2, 4, 8, 16))
    >>> f.n_features, f.names[:2]
    (41, ['ctx0_+0_+0', 'ctx0_+0_+1'])
    >>> f(np.random.rand(20, 30)).shape
    (20, 30, 41)
    >>> ContextFilter(radii=(2,), n_channels=3)(np.random.rand(20, 30, 3)).shape
    (20, 30, 27)
    """

    def __init__(self, radii=(1, 2, 4, 8, 16), n_directions=8, n_channels=1, mode="edge",
                 average=False, prefix="ctx"):
        self.radii = check_positive(radii, "radii", integer=True)
        self.n_directions = check_count(n_directions, "n_directions", high=360)
        self.n_channels = check_count(n_channels, "n_channels")
        self.mode = check_mode(mode)
        self.average = bool(average)
        self.prefix = str(prefix)
        seen, offsets, rings = set(), [], []
        for r in (0,) + self.radii:
            ring_offsets = [(0, 0)] if r == 0 else stencil_offsets([r], self.n_directions, centre=False)
            for dy, dx in ring_offsets:
                if (dy, dx) not in seen:
                    seen.add((dy, dx))
                    offsets.append((int(dy), int(dx)))
                    rings.append(r)
        self._offsets = np.array(offsets, dtype=np.int64)
        self._rings = np.array(rings, dtype=np.int64)

    @property
    def offsets(self):
        """ndarray (n_offsets, 2): the ``(dy, dx)`` offsets, in feature order."""
        return self._offsets.copy()

    @property
    def names(self):
        return [
            f"{self.prefix}{c}_{dy:+d}_{dx:+d}"
            for c in range(self.n_channels)
            for dy, dx in self._offsets
        ]

    def validate(self, image):
        maps = np.asarray(image)
        if maps.dtype.kind not in "fiub":
            raise ValueError(f"expected a numeric probability map, got dtype {maps.dtype}")
        maps = maps.astype(np.float32, copy=False)
        if maps.ndim == 2:
            maps = maps[..., None]
        if maps.ndim != 3:
            raise ValueError(f"expected a probability map (H, W) or (H, W, C), got shape {maps.shape}")
        if maps.shape[2] != self.n_channels:
            raise ValueError(
                f"this ContextFilter takes {self.n_channels} channel(s), got a map of shape "
                f"{maps.shape}; build it with n_channels={maps.shape[2]}"
            )
        if maps.shape[0] == 0 or maps.shape[1] == 0:
            raise ValueError(f"empty map of shape {maps.shape}")
        peak_abs(maps, "probability map")
        return maps

    def extend(self, maps):
        """The map extended for sampling: what :meth:`sample_window` and
        :meth:`sample_points` read.

        Parameters
        ----------
        maps : array (H, W) or (H, W, C)
            A probability map, as for calling the filter.

        Returns
        -------
        ContextSource
            The border-extended (and, with ``average``, box-averaged) map.
        """
        maps = self.validate(maps)
        sizes = np.array([_box_size(r) if self.average and r > 0 else 1 for r in self._rings])
        # Extend the map first, then average: far samples then see the same
        # extension whether or not they are averaged.
        width = int(np.abs(self._offsets).max()) + int(sizes.max()) // 2
        sources = {}
        for c in range(maps.shape[2]):
            padded = pad(maps[..., c], width, self.mode)
            for size in np.unique(sizes):
                sources[c, int(size)] = (padded if size == 1 else
                                         ndi.uniform_filter(padded, int(size), mode="nearest"))
        return ContextSource(maps.shape[:2], width, sources, sizes)

    def sample_window(self, source, rows, cols, out):
        """Write the features of the pixels ``[rows, cols]`` (two slices) into ``out``,
        a float32 ``(h, w, n_features)`` array or view; return ``out``.

        Equal to ``filter(map)[rows, cols]``, without computing the rest.
        """
        r0, r1, _ = rows.indices(source.shape[0])
        c0, c1, _ = cols.indices(source.shape[1])
        n, w = len(self._offsets), source.width
        for c in range(self.n_channels):
            for i, (dy, dx) in enumerate(self._offsets):
                src = source.planes[c, int(source.sizes[i])]
                out[..., c * n + i] = src[w + dy + r0:w + dy + r1, w + dx + c0:w + dx + c1]
        return out

    def sample_points(self, source, rows, cols, out):
        """Write the features of the pixels ``(rows[k], cols[k])`` (index arrays) into
        ``out``, a float32 ``(n, n_features)`` array or view; return ``out``."""
        n, w = len(self._offsets), source.width
        for c in range(self.n_channels):
            for i, (dy, dx) in enumerate(self._offsets):
                src = source.planes[c, int(source.sizes[i])]
                out[:, c * n + i] = src[rows + (w + dy), cols + (w + dx)]
        return out

    def _planes(self, maps, memo):
        h, w, n_channels = maps.shape
        source = self.extend(maps)
        out = np.empty((h, w, n_channels * len(self._offsets)), np.float32)
        self.sample_window(source, slice(None), slice(None), out)
        return np.ascontiguousarray(np.moveaxis(out, -1, 0))

    def _fill(self, maps, memo, out):
        self.sample_window(self.extend(maps), slice(None), slice(None), out)


class ContextSource:
    """A probability map extended at its borders for :class:`ContextFilter` sampling.

    Attributes
    ----------
    shape : tuple
        (H, W) of the map.
    width : int
        Pixels of extension on every side.
    planes : dict
        ``(channel, box size) -> (H + 2 width, W + 2 width)`` float32 arrays.
    sizes : ndarray of int
        The box size of each stencil offset (1: not averaged).
    """

    def __init__(self, shape, width, planes, sizes):
        self.shape, self.width, self.planes, self.sizes = tuple(shape), int(width), planes, sizes
