"""The MRF methods of the table benchmarks: one fit scored with and without the MRF.

The final fit of :class:`chm.mrf.MRFSegmenter` on all labels *is* the plain
model (same data, same seed), so one trial reports both from one fit
(:func:`mrf_trial`, :func:`mrf_and_plain_maps`).
"""
import time

import numpy as np

from _trials import trial_result


def mrf_and_plain_maps(model, images):
    """Label maps of a fitted :class:`chm.mrf.MRFSegmenter` with and without smoothing.

    One pass of the wrapped estimator gives the probability maps; they are
    smoothed with the chosen weight (the MRF's prediction) and, from the same
    maps, labeled by their most probable class (the plain estimator's
    prediction, identical to ``model.estimator_.predict``).

    Returns
    -------
    dict
        ``mrf`` and ``plain`` (lists of label maps), ``proba_seconds``,
        ``smooth_seconds``, ``argmax_seconds``, ``mrf_lambda`` (the chosen
        weight) and ``mrf_cv_accuracy`` (its mean held-out accuracy, NaN when
        no cross-validation was run).
    """
    from chm.mrf import mrf_smooth

    t0 = time.perf_counter()
    probs = model.predict_proba(images)
    proba_s = time.perf_counter() - t0
    classes = np.asarray(model.classes_)
    t0 = time.perf_counter()
    smoothed = [classes[mrf_smooth(p, np.asarray(im) if model.contrast else None, model.weight_,
                                   model.contrast, model.eps)]
                for p, im in zip(probs, images)]
    smooth_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    plain = [classes[p.argmax(axis=-1)] for p in probs]
    argmax_s = time.perf_counter() - t0
    if model.cv_scores_ is None:
        cv_accuracy = float("nan")
    else:
        best = int(np.flatnonzero(model.weights_ == model.weight_)[0])
        cv_accuracy = float(model.cv_scores_[best])
    return {"mrf": smoothed, "plain": plain, "proba_seconds": proba_s,
            "smooth_seconds": smooth_s, "argmax_seconds": argmax_s,
            "mrf_lambda": float(model.weight_), "mrf_cv_accuracy": cv_accuracy}


def mrf_trial(estimator, train_x, labels, test_x, test_y, panels, *, cv, cv_images=None,
              cv_fits="auto", random_state=None, plain_method=None, host_method="supervised+mrf",
              **extra):
    """Fit :class:`chm.mrf.MRFSegmenter` on ``estimator`` and score it, with and without the MRF.

    Parameters
    ----------
    estimator : estimator
        The plain model (unfitted), with a ``fit_time_`` attribute after fit.
    train_x, labels, test_x, test_y : lists of ndarray
        Training images and their sparse labels; test images and their truth.
    panels : list of int or None
        Test images whose label maps are kept for figures.
    cv, cv_images, cv_fits, random_state
        Passed to :class:`chm.mrf.MRFSegmenter` (lambda search).
    plain_method : str or None
        When given, also report the MRF's final fit (the plain model, same data
        and seed) under this method name, from the same probability maps.
    host_method : str
        Method name of the MRF run (``shared_fit`` of the plain run).
    **extra
        Keys of both runs (data sizes, ...).

    Returns
    -------
    runs : list of dict
        The MRF run (``mrf_lambda``, ``mrf_cv_accuracy``), then the plain run
        when ``plain_method`` is set. ``fit_seconds`` of the MRF run covers the
        lambda search and the final fit; the plain run's is the final fit's
        own (``fit_time_``, which leaves out the held-out copies of
        :meth:`chm.CHM.fit_heldout`).
    model : chm.mrf.MRFSegmenter
        The fitted MRF (its ``estimator_`` is the plain model).
    """
    from chm.mrf import MRFSegmenter

    model = MRFSegmenter(estimator, cv=cv, n_jobs=1, cv_images=cv_images, cv_fits=cv_fits,
                         random_state=random_state)
    t0 = time.perf_counter()
    model.fit(train_x, labels)
    fit_s = time.perf_counter() - t0
    maps = mrf_and_plain_maps(model, test_x)
    runs = [trial_result(maps["mrf"], test_y, fit_s,
                         maps["proba_seconds"] + maps["smooth_seconds"], panels, **extra,
                         mrf_lambda=maps["mrf_lambda"], mrf_cv_accuracy=maps["mrf_cv_accuracy"])]
    if plain_method is not None:
        runs.append(trial_result(maps["plain"], test_y, model.estimator_.fit_time_,
                                 maps["proba_seconds"] + maps["argmax_seconds"], panels,
                                 method=plain_method, **extra,
                                 shared_fit=host_method))
    return runs, model


def mrf_grid_text():
    """Short description of the MRF's default lambda grid."""
    from chm.mrf import DEFAULT_WEIGHTS

    return f"{len(DEFAULT_WEIGHTS)} values in [{DEFAULT_WEIGHTS.min():g}, {DEFAULT_WEIGHTS.max():g}]"


def mrf_note(name, source, solver, cv, cv_images, lambdas, cv_fits="refit"):
    """Report line of an MRF method: how lambda was chosen, and the lambdas chosen.

    ``name`` is the method's display name, ``source`` the model whose maps are
    smoothed (e.g. ``"the supervised"``), ``solver`` the graph-cut algorithm,
    ``cv_fits`` that of :class:`chm.mrf.MRFSegmenter` (``"auto"`` on a CHM:
    only its top-down classifier is retrained per fold).
    """
    how = ("each fold's maps from the fitted CHM with its top-down classifier retrained without "
           "the fold's pixels, CHM.fit_heldout" if cv_fits == "auto"
           else "each fold's maps from a whole model fitted without the fold's pixels")
    return (f"- {name}: Potts MRF on {source} probability maps ({solver}); lambda chosen by "
            f"{cv}-fold cross-validation over held-out labeled training pixels only "
            f"(MRFSegmenter, default grid {mrf_grid_text()}; {how}"
            + (f"; each fold scored on {cv_images} random training images" if cv_images else "")
            + ")" + (f"; chosen lambdas: {', '.join(f'{x:g}' for x in lambdas)}" if lambdas else "")
            + ".")
