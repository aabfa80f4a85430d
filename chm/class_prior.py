"""The class shares of the images, estimated from all their pixels (``CHM(class_prior="estimate")``).

A classifier trained on labeled pixels learns the posterior p_L(c | x) under
the class shares of the *labels*, pi_L. Random clicks have about the image's
shares, but painted strokes do not: one stroke per class per image labels
about as many horse pixels as background pixels (51 % horse on Weizmann
Horse, against 21 % of the pixels), and the model then calls too much of
each image horse. Bayes' rule moves a posterior to other priors pi
(Saerens, Latinne & Decaestecker 2002, "Adjusting the Outputs of a
Classifier to New a Priori Probabilities", eqs. 2.3-2.4)::

    p(c | x)  =  p_L(c | x) pi_c / pi_L,c  /  sum_k p_L(k | x) pi_k / pi_L,k

and the shares pi of the unlabeled pixels are estimated by their EM
algorithm: starting from pi = pi_L, adjust every pixel's
posterior with the current pi, take pi as the mean adjusted posterior over
all pixels, and repeat to convergence. :class:`chm.CHM` runs it once, on its
output maps of the training images at the end of ``fit``, and then adjusts
every prediction by ``class_prior_ / label_prior_``. Where the labels'
shares are already the images', the estimate stays close to them and the
adjustment is close to none.
"""
import numpy as np

#: Iterations and tolerance (largest change of a share) of :func:`estimate_prior`.
MAX_ITER = 100
TOL = 1e-6


def label_prior(labels, n_classes, class_weight=None):
    """The class shares the classifiers were trained under.

    Parameters
    ----------
    labels : list of int arrays
        Class index per pixel, -1 where unlabeled.
    n_classes : int
    class_weight : None or "balanced"
        ``"balanced"`` weighs every labeled class equally: the shares are
        then uniform over the labeled classes.

    Returns
    -------
    float64 array (n_classes,)
        Zero for a class without labels.
    """
    counts = np.zeros(n_classes, np.float64)
    for lab in labels:
        lab = np.asarray(lab)
        counts += np.bincount(lab[lab >= 0].ravel(), minlength=n_classes)[:n_classes]
    if class_weight == "balanced":
        counts = (counts > 0).astype(np.float64)
    return counts / counts.sum()


def given_prior(shares, n_classes):
    """Class shares given outright (``CHM(class_prior=[...])``), normalised to sum to 1.

    Parameters
    ----------
    shares : sequence of float
        One non-negative number per class, in the order of ``classes_``.
    n_classes : int

    Returns
    -------
    float64 array (n_classes,)

    Raises
    ------
    ValueError
        For a length other than ``n_classes``, or shares that do not sum to
        a positive finite number.

    Examples
    --------
    >>> given_prior([3, 1], 2).tolist()
    [0.75, 0.25]
    """
    shares = np.asarray(shares, np.float64).ravel()
    if shares.size != n_classes:
        raise ValueError(f"class_prior holds {shares.size} shares but the labels have "
                         f"{n_classes} classes")
    total = shares.sum()
    if not np.isfinite(total) or total <= 0:
        raise ValueError(f"class_prior must sum to a positive finite number, got {total}")
    return shares / total


def adjust(proba, from_prior, to_prior):
    """Posteriors moved from the priors ``from_prior`` to ``to_prior`` (eqs. 2.3-2.4).

    Parameters
    ----------
    proba : float array (..., C)
        Posteriors under ``from_prior``; rows sum to 1.
    from_prior, to_prior : array (C,)
        Class shares; a class with ``from_prior`` 0 keeps a posterior of 0.

    Returns
    -------
    float array like ``proba`` (float32 in, float32 out)
    """
    proba = np.asarray(proba)
    from_prior = np.asarray(from_prior, np.float64)
    ratio = np.divide(np.asarray(to_prior, np.float64), from_prior,
                      out=np.zeros_like(from_prior), where=from_prior > 0)
    out = proba * ratio.astype(proba.dtype)
    total = out.sum(axis=-1, keepdims=True)
    np.divide(out, total, out=out, where=total > 0)
    return out


def estimate_prior(maps, prior, max_iter=MAX_ITER, tol=TOL):
    """EM estimate of the class shares of the pixels of ``maps`` (Saerens et al. 2002).

    Parameters
    ----------
    maps : list of float arrays (H, W, C)
        Posteriors under ``prior`` of every pixel of the images.
    prior : array (C,)
        The shares the posteriors were trained under (:func:`label_prior`).
    max_iter : int
    tol : float
        Stop when no share changes by more than this.

    Returns
    -------
    float64 array (C,)
        The shares; equal to ``prior`` for no pixels.
    """
    prior = np.asarray(prior, np.float64)
    rows = [np.asarray(m, np.float64).reshape(-1, len(prior)) for m in maps]
    n = sum(len(r) for r in rows)
    pi = prior.copy()
    if n == 0:
        return pi
    for _ in range(int(max_iter)):
        new = sum(adjust(r, prior, pi).sum(axis=0) for r in rows) / n
        done = np.abs(new - pi).max() <= tol
        pi = new
        if done:
            break
    return pi
