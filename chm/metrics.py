"""Segmentation metrics over lists of label maps."""
import numpy as np


def pixel_error(predictions, truths):
    """Fraction of wrongly labeled pixels, pooled over all images.

    Pixels whose truth is negative (unknown) are ignored.

    Parameters
    ----------
    predictions, truths : lists of int arrays (H, W)

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> pixel_error([np.array([[0, 1]])], [np.array([[0, 0]])])
    0.5
    """
    wrong = total = 0
    if len(predictions) != len(truths):
        raise ValueError(f"{len(predictions)} predictions for {len(truths)} truths")
    for p, t in zip(predictions, truths):
        p, t = np.asarray(p), np.asarray(t)
        if p.shape != t.shape:
            raise ValueError(f"prediction shape {p.shape} != truth shape {t.shape}")
        known = t >= 0
        wrong += int((p[known] != t[known]).sum())
        total += int(known.sum())
    if total == 0:
        raise ValueError("no known pixels to score")
    return wrong / total
