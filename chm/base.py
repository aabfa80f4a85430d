"""What the segmenters of the package share: label maps and accuracy from probability maps."""
from . import _validation as val
from .metrics import pixel_error

__all__ = ["SegmenterMixin"]


class SegmenterMixin:
    """``predict`` and ``score`` of a segmenter, from its ``predict_proba``.

    The class using it provides ``predict_proba(images)`` (one ``(H, W,
    n_classes)`` map per image, channel ``k`` for ``classes_[k]``), the fitted
    attributes ``classes_`` and ``n_channels_`` and ``_check_fitted()``,
    which raises a ``ValueError`` saying the model is not fitted.
    """

    def _check_channels(self, images):
        """Raise a ValueError unless validated ``images`` have the channels seen in fit."""
        got = val.image_channels(images)
        if got != self.n_channels_:
            kinds = {1: "grey", 3: "RGB"}
            raise ValueError(f"model was fit on {self.n_channels_}-channel images, got "
                             f"{got}-channel ones ({kinds[self.n_channels_]} vs {kinds[got]})")

    def predict(self, images):
        """Most probable class of every pixel.

        Parameters
        ----------
        images : list of ndarray or ndarray
            Images like those of ``fit``.

        Returns
        -------
        list of ndarray of int64, shape (H, W)
            Label maps with values in ``classes_``.
        """
        return [self.classes_[p.argmax(axis=-1)] for p in self.predict_proba(images)]

    def score(self, images, labels):
        """Accuracy on the labeled pixels (label >= 0) of ``labels``.

        Parameters
        ----------
        images : list of ndarray or ndarray
            Images like those of ``fit``.
        labels : list of ndarray or ndarray
            Label maps, -1 for pixels left out of the score.

        Returns
        -------
        float
            Fraction of labeled pixels whose predicted label is right.

        Raises
        ------
        ValueError
            If the model is not fitted, no pixel is labeled, or a label is not
            among ``classes_``.
        """
        self._check_fitted()
        images = val.check_images(images)
        labels = val.check_labels(labels, images)
        val.check_labels_in_classes(labels, self.classes_)
        if not any((lab >= 0).any() for lab in labels):
            raise ValueError("no labeled pixels to score")
        return 1.0 - pixel_error(self.predict(images), labels)
