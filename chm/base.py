"""What the segmenters of the package share: parameter checks, the fit prologue,
label maps and accuracy from probability maps."""
import numpy as np
from sklearn.exceptions import NotFittedError

from . import _validation as val
from ._params import validate_params
from .metrics import pixel_error

__all__ = ["RefitMixin", "SegmenterMixin"]


class SegmenterMixin:
    """Parameter checks, the fit prologue, ``predict`` and ``score`` of a segmenter.

    The class using it declares ``_parameter_constraints`` (one entry per
    ``__init__`` parameter, see :mod:`chm._params`) and ``_fitted_attribute``
    (an attribute that exists once ``fit`` has finished), starts ``fit`` with
    :meth:`_fit_prologue` and provides ``predict_proba(images)`` (one ``(H,
    W, n_classes)`` map per image, channel ``k`` for ``classes_[k]``).
    """

    _parameter_constraints: dict = {}
    _fitted_attribute = None

    def _validate_params(self):
        """Check every parameter against ``_parameter_constraints`` (ValueError naming it)."""
        validate_params(self)

    def _check_params(self):
        """Validate the parameters; classes extend it with rules between parameters.

        Returns whatever the class's ``fit`` needs from the check (None here).
        """
        self._validate_params()

    def _fit_prologue(self, images, labels):
        """Start of every ``fit``: check the parameters, then the data.

        Sets ``classes_`` (the sorted labeled values), ``n_classes_`` and
        ``n_channels_`` (1 grey, 3 RGB).

        Parameters
        ----------
        images : list of ndarray or ndarray
            Images (H, W) or (H, W, 3); see :func:`chm._validation.check_images`.
        labels : list of ndarray or ndarray
            One label map per image, -1 for unlabeled pixels; at least two
            classes must be labeled.

        Returns
        -------
        images : list of ndarray of float32
        labels : list of ndarray of int64
        """
        self._check_params()
        images = val.check_images(images)
        labels = val.check_labels(labels, images)
        self.classes_ = val.check_sparse_labels(labels, min_classes=2)
        self.n_classes_ = len(self.classes_)
        self.n_channels_ = val.image_channels(images)
        return images, labels

    def __sklearn_is_fitted__(self):
        return self._fitted_attribute is not None and hasattr(self, self._fitted_attribute)

    def _check_fitted(self):
        """Raise :class:`sklearn.exceptions.NotFittedError` (a ValueError) before fit."""
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")

    def _check_channels(self, images):
        """Raise a ValueError unless validated ``images`` have the channels seen in fit."""
        got = val.image_channels(images)
        if got != self.n_channels_:
            kinds = {1: "grey", 3: "RGB"}
            raise ValueError(f"model was fit on {self.n_channels_}-channel images, got "
                             f"{got}-channel ones ({kinds[self.n_channels_]} vs {kinds[got]})")

    def save(self, path):
        """Write the fitted model to a model file; read it back with :func:`chm.load`.

        Same as ``chm.save(self, path)`` (:func:`chm.persistence.save`): arrays
        and JSON, no pickled code, written atomically.

        Parameters
        ----------
        path : str or path-like
        """
        from .persistence import save

        save(self, path)

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


class RefitMixin(SegmenterMixin):
    """A segmenter that predicts with ``estimator_``, a fitted clone of its ``estimator``.

    For the wrappers that refit their estimator on more labels than the
    sparse ones (:class:`chm.proposals.ProposalSegmenter`,
    :class:`chm.self_training.SelfTrainingSegmenter`).
    """

    _fitted_attribute = "estimator_"

    @property
    def receptive_field_(self):
        """The final model's ``receptive_field_`` (for tiled and distributed prediction)."""
        self._check_fitted()
        return self.estimator_.receptive_field_

    def predict_proba(self, images, tile_size=None):
        """Probability maps of the final model, ``estimator_``.

        Parameters
        ----------
        images : list of ndarray (H, W) or (H, W, 3)
        tile_size : int or None, default None
            Passed to the final model's ``predict_proba`` when given (a
            :class:`chm.CHM` then predicts large images tile by tile).

        Returns
        -------
        list of ndarray (H, W, C)
        """
        self._check_fitted()
        if tile_size is None:
            return self.estimator_.predict_proba(images)
        return self.estimator_.predict_proba(images, tile_size=tile_size)

    @staticmethod
    def _n_added(extended, labels):
        """Labeled pixels of the maps ``extended`` beyond those of ``labels``."""
        return (sum(int(np.count_nonzero(e >= 0)) for e in extended)
                - sum(int(np.count_nonzero(lab >= 0)) for lab in labels))
