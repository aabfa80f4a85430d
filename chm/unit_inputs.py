"""The inputs of a unit on one image, assembled on demand.

A unit of the hierarchy reads, at every pixel of its level, the image
features of that level followed by its context: the maps of earlier units
sampled at the context stencil (:class:`features.ContextFilter`), each
normalised by the unit's :class:`features.FeatureNormalizer`. Stored whole for
every training image, those inputs are the largest arrays of a fit (a
476-feature bank on 164 Weizmann images would need about 10 GB per unit).
:class:`UnitInputs` stores only references to the level's features and the
border-extended context maps, and builds the rows a caller asks for: the
labeled pixels, a crop window of the penalty, or a block of rows to predict.
The values are exactly those of the whole array: the same copies, the same
float32 normalisation.
"""
import numpy as np

__all__ = ["UnitInputs", "input_rows", "input_row_range", "normalized"]


class UnitInputs:
    """Features plus sampled context of one image at one level, built on request.

    Parameters
    ----------
    features : float32 array (H, W, F)
        The image features of the unit's level (read, never modified).
    sources : list of features.context.ContextSource
        The context maps, brought to the level and extended
        (:meth:`features.ContextFilter.extend`), in the unit's context order.
    context_filter : features.ContextFilter
    normalizer : features.FeatureNormalizer or None
        Applied to every block built; ``None`` gives the raw inputs.
    """

    def __init__(self, features, sources, context_filter, normalizer=None):
        self.features = features
        self.sources = list(sources)
        self.context_filter = context_filter
        self.normalizer = normalizer

    @property
    def shape(self):
        """(H, W, D): D = F + (number of context maps) x (context features)."""
        h, w, f = self.features.shape
        return (h, w, f + len(self.sources) * self.context_filter.n_features)

    def normalized(self, normalizer):
        """The same inputs under ``normalizer``."""
        return UnitInputs(self.features, self.sources, self.context_filter, normalizer)

    def _finish(self, out):
        if self.normalizer is not None:
            self.normalizer.transform(out, copy=False)
        return out

    def _sample_context(self, rows, cols, out):
        """Write the context of the pixels ``[rows, cols]`` into ``out`` (h, w, D - F)."""
        n_ctx = self.context_filter.n_features
        for k, source in enumerate(self.sources):
            self.context_filter.sample_window(source, rows, cols, out[..., k * n_ctx:(k + 1) * n_ctx])
        return out

    def window(self, rows, cols):
        """The inputs of the pixels ``[rows, cols]`` (two slices): float32 (h, w, D)."""
        part = self.features[rows, cols]
        n_feat = part.shape[-1]
        out = np.empty(part.shape[:2] + (self.shape[-1],), np.float32)
        out[..., :n_feat] = part
        self._sample_context(rows, cols, out[..., n_feat:])
        return self._finish(out)

    def raw_row_range(self, start, stop):
        """The unnormalised inputs of the flat pixels ``start .. stop - 1``, in two parts:
        the image features (n, F), a view where the features are C-contiguous, and the
        context (n, D - F)."""
        _, w, n_feat = self.features.shape
        rows, skip = self._row_span(start, stop)
        n, n_ctx = (rows.stop - rows.start) * w, self.shape[-1] - n_feat
        context = np.empty((rows.stop - rows.start, w, n_ctx), np.float32)
        self._sample_context(rows, slice(None), context)
        features = self.features.reshape(-1, n_feat)[start:stop]
        return features, context.reshape(n, n_ctx)[skip:skip + stop - start]

    def _row_span(self, start, stop):
        """The image rows holding the flat pixels ``start .. stop - 1`` (a slice), and the
        offset of pixel ``start`` in them."""
        w = self.features.shape[1]
        first, last = start // w, -(-stop // w)
        return slice(first, last), start - first * w

    def __getitem__(self, key):
        rows, cols = key
        return self.window(rows, cols)

    def full(self):
        """All inputs: float32 (H, W, D)."""
        return self.window(slice(None), slice(None))

    def rows(self, index):
        """The inputs of the pixels of flat (row-major) indices ``index``: float32 (n, D)."""
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        h, w, n_feat = self.features.shape
        n_ctx = self.context_filter.n_features
        out = np.empty((len(index), self.shape[-1]), np.float32)
        out[:, :n_feat] = self.features.reshape(-1, n_feat)[index]
        r, c = np.divmod(index, w)
        for k, source in enumerate(self.sources):
            start = n_feat + k * n_ctx
            self.context_filter.sample_points(source, r, c, out[:, start:start + n_ctx])
        return self._finish(out)

    def row_range(self, start, stop):
        """The inputs of the flat pixels ``start .. stop - 1``: float32 (stop - start, D)."""
        rows, skip = self._row_span(start, stop)
        block = self.window(rows, slice(None)).reshape(-1, self.shape[-1])
        return block[skip:skip + stop - start]


def normalized(x, normalizer):
    """An (H, W, D) array (a normalised copy) or :class:`UnitInputs` under ``normalizer``."""
    if isinstance(x, UnitInputs):
        return x.normalized(normalizer)
    return normalizer.transform(x)


def input_rows(x, index):
    """Rows ``index`` (flat indices or a boolean mask) of an (H, W, D) array or
    :class:`UnitInputs`."""
    if isinstance(x, UnitInputs):
        return x.rows(index)
    return x.reshape(-1, x.shape[-1])[index]


def input_row_range(x, start, stop):
    """Flat rows ``start .. stop - 1`` of an (H, W, D) array or :class:`UnitInputs`."""
    if isinstance(x, UnitInputs):
        return x.row_range(start, stop)
    return x.reshape(-1, x.shape[-1])[start:stop]
