"""The explicit hierarchy: a plan of units, and the learned state of each unit.

A CHM (Seyedhosseini & Tasdizen, PAMI 2015) is a sequence of classifiers
("units"). Within stage ``s``, the bottom-up unit of level ``l`` reads the
image features of level ``l`` plus, as context, the outputs of levels
``0..l-1`` of the same stage; the top-down unit reads the level-0 features
plus the outputs of every level of the stage. Every unit of stage ``s > 0``
also reads the top-down output of stage ``s - 1``. The last top-down unit's
output is the model's output.

:func:`build_plan` writes that wiring down once, as a tuple of
:class:`UnitSpec` in training order, so that fitting and prediction walk the
same plan, and tests can assert the wiring on the plan itself.

Examples
--------
>>> plan = build_plan(n_levels=2, n_stages=1, penalised={0, "top_down"})
>>> [spec.name for spec in plan.units]
['stage 1 level 0', 'stage 1 level 1', 'stage 1 top-down']
>>> plan.units[2].context
(0, 1)
>>> [spec.penalised for spec in plan.units]
[True, False, True]
"""
from dataclasses import dataclass, field

import numpy as np

from .hierarchy import grid_step

__all__ = ["TOP_DOWN", "UnitSpec", "Plan", "Unit", "build_plan"]

TOP_DOWN = "top_down"


@dataclass(frozen=True)
class UnitSpec:
    """Where a unit sits in the hierarchy and what it reads.

    Parameters
    ----------
    stage : int
        Stage index, from 0.
    level : int
        Pyramid level whose image features (and resolution) the unit uses;
        0 for top-down units.
    top_down : bool
        Whether it is the stage's top-down unit.
    penalised : bool
        Whether it trains with the spatial penalty E_U (eq. 1).
    feeds_context : bool
        Whether its output is context for a later unit (then it gets
        out-of-fold copies, see ``CHM(context_cv=...)``).
    context : tuple of int
        Indices, in the plan, of the units whose outputs it reads as
        context, in the order their context features are stacked.
    """

    stage: int
    level: int
    top_down: bool
    penalised: bool
    feeds_context: bool
    context: tuple = ()

    @property
    def key(self):
        """The level index, or ``"top_down"`` (the keys of ``CHM(tv_levels=...)``)."""
        return TOP_DOWN if self.top_down else self.level

    @property
    def name(self):
        """Readable name, e.g. ``"stage 1 level 0"`` or ``"stage 2 top-down"``."""
        where = "top-down" if self.top_down else f"level {self.level}"
        return f"stage {self.stage + 1} {where}"


@dataclass(frozen=True)
class Plan:
    """The units of a hierarchy in training order, and the structure they assume.

    Parameters
    ----------
    n_levels, n_stages : int
        Pyramid levels and stages.
    downscale : float
        Working resolution = input size / downscale.
    units : tuple of UnitSpec
        The units; the last one's output is the model's output.
    """

    n_levels: int
    n_stages: int
    downscale: float
    units: tuple

    @property
    def step(self):
        """Input pixels of the coarsest level (:func:`chm.hierarchy.grid_step`)."""
        return grid_step(self.downscale, self.n_levels)

    def __len__(self):
        return len(self.units)

    def __iter__(self):
        return iter(self.units)

    def __getitem__(self, index):
        return self.units[index]


LATER_STAGES = ("hierarchy", "top_down")


def build_plan(n_levels, n_stages, penalised, downscale=1.0, later_stages="hierarchy"):
    """The units of a CHM with ``n_levels`` levels and ``n_stages`` stages.

    Parameters
    ----------
    n_levels, n_stages : int
        At least 1 each.
    penalised : set
        Keys (level indices and/or ``"top_down"``) of the units that train
        with the spatial penalty, in every stage.
    downscale : float, default 1.0
        Working resolution = input size / downscale.
    later_stages : {"hierarchy", "top_down"}, default "hierarchy"
        What every stage after the first is. ``"hierarchy"``: a whole
        bottom-up and top-down pass, each unit also reading the previous
        stage's output. ``"top_down"`` (the original CHM's schedule): a single
        top-down unit at level 0 that reads the outputs of *every* unit of the
        previous stage, bottom-up levels included.

    Returns
    -------
    Plan

    Examples
    --------
    >>> plan = build_plan(2, 2, set(), later_stages="top_down")
    >>> [spec.name for spec in plan.units]
    ['stage 1 level 0', 'stage 1 level 1', 'stage 1 top-down', 'stage 2 top-down']
    >>> plan.units[3].context
    (0, 1, 2)
    """
    if later_stages not in LATER_STAGES:
        raise ValueError(f"later_stages must be one of {LATER_STAGES}, got {later_stages!r}")
    units = []
    previous = None  # index of the previous stage's top-down unit
    for s in range(n_stages):
        first = len(units)
        if previous is not None and later_stages == "top_down":
            units.append(UnitSpec(stage=s, level=0, top_down=True, penalised=TOP_DOWN in penalised,
                                  feeds_context=s + 1 < n_stages,
                                  context=tuple(range(previous_first, previous + 1))))
            previous_first = previous = len(units) - 1
            continue
        extra = () if previous is None else (previous,)
        for lev in range(n_levels + 1):
            top = lev == n_levels
            level = 0 if top else lev
            own = tuple(range(first, first + (n_levels if top else lev)))
            units.append(UnitSpec(stage=s, level=level, top_down=top,
                                  penalised=(TOP_DOWN if top else lev) in penalised,
                                  feeds_context=not top or s + 1 < n_stages,
                                  context=own + extra))
        previous_first, previous = first, len(units) - 1
    return Plan(n_levels=int(n_levels), n_stages=int(n_stages), downscale=float(downscale),
                units=tuple(units))


@dataclass
class Unit:
    """The learned state of one unit of the plan.

    Parameters
    ----------
    spec : UnitSpec
        Its place in the plan.
    normalizer : features.FeatureNormalizer
        Per-feature normalisation of its inputs, fit on training pixels.
    classifier : chm.classifiers.base.StageClassifier
        The stage classifier trained on every training image.
    fold_classifiers : list of StageClassifier
        Copies trained on all but one fold of the images (empty unless the
        unit feeds context and ``context_cv`` is set); they gave the
        out-of-fold context during training.
    """

    spec: UnitSpec
    normalizer: object
    classifier: object
    fold_classifiers: list = field(default_factory=list)

    def predict_proba(self, rows, average_folds=True):
        """Class probabilities (n, C) of normalised feature rows.

        With ``average_folds`` the mean of the classifier's and its fold
        copies' probabilities (a bagged ensemble), else the classifier's.
        """
        P = self.classifier.predict_proba(rows)
        extra = self.fold_classifiers if average_folds else ()
        for clf in extra:
            P = P + clf.predict_proba(rows)
        if extra:
            P /= np.float32(len(extra) + 1)
        return P
