"""The explicit hierarchy: the plan's wiring and the unit's ensemble."""
import doctest

import numpy as np
import pytest

from chm import plan as plan_module
from chm.classifiers import make_stage
from chm.plan import TOP_DOWN, Unit, UnitSpec, build_plan


def test_docstring_examples_run():
    assert doctest.testmod(plan_module).failed == 0


def test_one_stage_wiring():
    plan = build_plan(3, 1, penalised={0, TOP_DOWN})
    assert [(s.stage, s.level, s.top_down) for s in plan] == [
        (0, 0, False), (0, 1, False), (0, 2, False), (0, 0, True)]
    # bottom-up level l reads levels 0..l-1; top-down reads every level
    assert [s.context for s in plan] == [(), (0,), (0, 1), (0, 1, 2)]
    assert [s.penalised for s in plan] == [True, False, False, True]
    assert [s.feeds_context for s in plan] == [True, True, True, False]
    assert [s.key for s in plan] == [0, 1, 2, TOP_DOWN]


def test_stages_read_the_previous_top_down_last():
    plan = build_plan(2, 3, penalised=set())
    assert len(plan) == 9 and plan.n_stages == 3
    assert [s.context for s in plan][3:6] == [(2,), (3, 2), (3, 4, 2)]
    assert [s.context for s in plan][6:] == [(5,), (6, 5), (6, 7, 5)]
    assert [s.feeds_context for s in plan] == [True] * 8 + [False]
    assert plan[8].name == "stage 3 top-down" and plan[7].name == "stage 3 level 1"


def test_later_stages_as_single_top_down_units_read_every_map_of_the_stage_before():
    plan = build_plan(3, 3, penalised={0, TOP_DOWN}, later_stages="top_down")
    assert [s.name for s in plan] == ["stage 1 level 0", "stage 1 level 1", "stage 1 level 2",
                                      "stage 1 top-down", "stage 2 top-down", "stage 3 top-down"]
    assert [s.context for s in plan][3:] == [(0, 1, 2), (0, 1, 2, 3), (4,)]
    assert [s.level for s in plan][3:] == [0, 0, 0]
    assert [s.feeds_context for s in plan] == [True] * 5 + [False]
    assert [s.penalised for s in plan] == [True, False, False, True, True, True]
    assert build_plan(3, 1, {0}, later_stages="top_down") == build_plan(3, 1, {0})
    with pytest.raises(ValueError, match="later_stages"):
        build_plan(2, 2, set(), later_stages="bottom_up")


def test_penalised_keys_apply_in_every_stage():
    plan = build_plan(2, 2, penalised={1})
    assert [s.name for s in plan if s.penalised] == ["stage 1 level 1", "stage 2 level 1"]


def test_unit_spec_is_immutable():
    spec = UnitSpec(0, 0, False, True, True)
    with pytest.raises(AttributeError):
        spec.level = 1


def test_unit_averages_its_fold_copies_only_when_asked():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((50, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    clfs = []
    for seed in range(3):
        clf = make_stage("logistic", 2)
        clf.init_params(X, y, np.random.RandomState(seed))
        clf.params_[0] += np.float32(seed)  # three different classifiers
        clfs.append(clf)
    unit = Unit(UnitSpec(0, 0, False, False, True), None, clfs[0], clfs[1:])
    np.testing.assert_array_equal(unit.predict_proba(X, average_folds=False), clfs[0].predict_proba(X))
    mean = np.mean([c.predict_proba(X) for c in clfs], axis=0)
    np.testing.assert_allclose(unit.predict_proba(X, average_folds=True), mean, rtol=1e-6, atol=1e-7)
    assert not np.allclose(mean, clfs[0].predict_proba(X))


def test_plan_step_is_the_coarsest_pixel():
    assert build_plan(4, 1, set(), downscale=2.0).step == 16
    assert build_plan(1, 1, set()).step == 1
