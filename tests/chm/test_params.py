"""The parameter-constraint toolkit (chm._params) and every estimator's table."""
from numbers import Integral, Real

import numpy as np
import pytest
from joblib import Memory
from sklearn.base import BaseEstimator

import features
from chm import CHM
from chm._params import (
    N_JOBS,
    VERBOSE,
    Boolean,
    HasMethods,
    Hidden,
    Interval,
    Options,
    RandomState,
    SequenceOf,
    check_param,
    validate_params,
)
from chm.baselines import ForestSegmenter
from chm.mrf import MRFSegmenter
from chm.penalties import Penalty, TotalVariation


def _estimators():
    out = [CHM(), ForestSegmenter(), MRFSegmenter(ForestSegmenter())]
    try:
        from chm.convnet import ConvNetSegmenter
    except ImportError:
        return out
    return out + [ConvNetSegmenter()]


# ----------------------------------------------------------------- Interval
@pytest.mark.parametrize("good", [0, 1, 7, np.int64(3), np.uint8(2), 10**30])
def test_integral_interval_takes_integers(good):
    assert Interval(Integral, 0, None, closed="left").is_satisfied_by(good)


@pytest.mark.parametrize("bad", [True, False, np.bool_(True), 2.5, 2.0, np.float64(2.0), "2", None,
                                 float("nan"), [1], -1])
def test_integral_interval_rejects_non_integers_and_values_below(bad):
    assert not Interval(Integral, 0, None, closed="left").is_satisfied_by(bad)


@pytest.mark.parametrize("good", [0, 0.5, np.float32(0.25), np.int64(1), 1e300])
def test_real_interval_takes_numbers(good):
    assert Interval(Real, 0, None, closed="left").is_satisfied_by(good)


@pytest.mark.parametrize("bad", [True, np.bool_(False), "0.1", None, float("nan"), np.nan,
                                 float("inf"), -1e-9, np.array(0.5), 1j])
def test_real_interval_rejects_bools_strings_nan_inf_and_values_below(bad):
    assert not Interval(Real, 0, None, closed="left").is_satisfied_by(bad)


def test_interval_bounds_follow_closed():
    values = [0, 0.5, 1]
    inside = {
        "both": [True, True, True],
        "left": [True, True, False],
        "right": [False, True, True],
        "neither": [False, True, False],
    }
    for closed, expected in inside.items():
        interval = Interval(Real, 0, 1, closed=closed)
        assert [interval.is_satisfied_by(v) for v in values] == expected, closed
    # an infinite bound is inside only when closed on that side
    assert Interval(Real, 0, None, closed="both").is_satisfied_by(float("inf"))
    assert Interval(Real, None, 0, closed="both").is_satisfied_by(float("-inf"))
    assert not Interval(Real, None, None, closed="neither").is_satisfied_by(float("inf"))
    assert Interval(Integral, None, -1, closed="right").is_satisfied_by(-5)


@pytest.mark.parametrize("interval, text", [
    (Interval(Integral, 1, None, closed="left"), "an integer >= 1"),
    (Interval(Integral, 0, None, closed="neither"), "an integer > 0"),
    (Interval(Integral, None, -1, closed="right"), "an integer <= -1"),
    (Interval(Integral, None, None, closed="neither"), "an integer"),
    (Interval(Real, 0, 1, closed="left"), "a finite number in [0, 1)"),
    (Interval(Real, 0, 1, closed="neither"), "a finite number in (0, 1)"),
    (Interval(Real, 0, None, closed="neither"), "a finite number > 0"),
    (Interval(Real, 0, None, closed="both"), "a number >= 0"),
])
def test_interval_text(interval, text):
    assert str(interval) == text


def test_interval_rejects_bad_definitions():
    with pytest.raises(ValueError, match="type must be"):
        Interval(int, 0, 1, closed="both")
    with pytest.raises(ValueError, match="closed must be"):
        Interval(Real, 0, 1, closed="open")


# ---------------------------------------------------------- other constraints
def test_options_take_only_their_strings():
    options = Options({"adam", "momentum"})
    assert options.is_satisfied_by("adam") and options.is_satisfied_by(np.str_("momentum"))
    for bad in ("Adam", "sgd", None, 1, ["adam"], {"adam": 1}):
        assert not options.is_satisfied_by(bad)
    assert str(options) == "'adam' or 'momentum'"
    with pytest.raises(ValueError, match="strings only"):
        Options({1, 2})


def test_boolean():
    for good in (True, False, np.bool_(True)):
        assert Boolean().is_satisfied_by(good)
    for bad in (0, 1, "True", None, 1.0):
        assert not Boolean().is_satisfied_by(bad)


def test_has_methods_instance_of_and_none():
    assert HasMethods("cache").is_satisfied_by(Memory(None, verbose=0))
    assert not HasMethods(["fit", "predict_proba"]).is_satisfied_by(Memory(None, verbose=0))
    check_param("penalty", TotalVariation(), [Penalty])
    with pytest.raises(ValueError, match="penalty must be a chm.penalties.Penalty, got <class"):
        check_param("penalty", TotalVariation, [Penalty])  # the class, not an instance
    with pytest.raises(ValueError, match="bank must be a features.Filter or None, got 'gaussian'"):
        check_param("bank", "gaussian", [None, features.Filter])
    with pytest.raises(ValueError, match="n must be a float, got True"):
        check_param("n", True, [float])
    assert check_param("x", None, [None]) is None


def test_random_state():
    for good in (None, 0, 2**32 - 1, np.int32(5), np.random.RandomState(0)):
        assert RandomState().is_satisfied_by(good)
    for bad in (-1, 2**32, "0", 1.0, True, np.random.default_rng(0)):
        assert not RandomState().is_satisfied_by(bad)


def test_sequence_of():
    radii = SequenceOf(Interval(Integral, 1, None, closed="left"), min_length=1)
    for good in ([1], (1, 2, 4), np.array([1, 8])):
        assert radii.is_satisfied_by(good)
    for bad in ([], (), None, 3, [0], [1, 2.5], [True], np.array([[1, 2]]), {1, 2}, "12"):
        assert not radii.is_satisfied_by(bad)
    levels = SequenceOf([Interval(Integral, 0, None, closed="left"), Options({"top_down"})],
                        sets=True)
    for good in ([], {0, "top_down"}, frozenset({1}), ("top_down",)):
        assert levels.is_satisfied_by(good)
    assert not levels.is_satisfied_by(["top-down"])
    assert str(radii) == ("a non-empty list, tuple or 1-D array whose items are each "
                          "an integer >= 1")


# --------------------------------------------------------------- check_param
def test_check_param_message_names_the_parameter_what_it_must_be_and_the_value():
    crop = [None, Interval(Integral, 3, None, closed="left")]
    assert check_param("crop", None, crop) is None and check_param("crop", 3, crop) == 3
    with pytest.raises(ValueError) as info:
        check_param("crop", 2.5, crop)
    assert str(info.value) == "crop must be an integer >= 3 or None, got 2.5"
    with pytest.raises(ValueError) as info:
        check_param("penalty", "l1", [Options({"tv", "quadratic"}), Penalty])
    assert str(info.value) == ("penalty must be 'quadratic', 'tv' or a chm.penalties.Penalty, "
                               "got 'l1'")
    with pytest.raises(ValueError) as info:
        check_param("verbose", None, VERBOSE)
    assert str(info.value) == "verbose must be True, False or an integer >= 0, got None"
    with pytest.raises(ValueError) as info:
        check_param("n_jobs", 0, N_JOBS)
    assert str(info.value) == "n_jobs must be an integer >= 1, an integer <= -1 or None, got 0"


def test_hidden_values_are_valid_but_not_named():
    solver = [Options({"adam", "momentum"}), Hidden(Options({"sgd"}))]
    assert check_param("solver", "sgd", solver) == "sgd"
    with pytest.raises(ValueError) as info:
        check_param("solver", "lbfgs", solver)
    assert str(info.value) == "solver must be 'adam' or 'momentum', got 'lbfgs'"


def test_unknown_constraint_is_a_definition_error():
    with pytest.raises(ValueError, match="unknown parameter constraint"):
        check_param("x", 1, ["integer"])


# ------------------------------------------------------------ validate_params
class _Toy(BaseEstimator):
    _parameter_constraints = {
        "a": [Interval(Integral, 1, None, closed="left")],
        "b": [Options({"x", "y"})],
        "c": "no_validation",
    }

    def __init__(self, a=1, b="x", c=None):
        self.a, self.b, self.c = a, b, c


def test_validate_params_checks_every_entry_in_order():
    validate_params(_Toy(c=object()))
    with pytest.raises(ValueError, match="^a must be an integer >= 1, got 0$"):
        validate_params(_Toy(a=0, b="z"))
    with pytest.raises(ValueError, match="^b must be 'x' or 'y', got 'z'$"):
        validate_params(_Toy(b="z"))


def test_validate_params_wants_an_entry_per_parameter():
    class Partial(_Toy):
        _parameter_constraints = {"a": _Toy._parameter_constraints["a"]}

    with pytest.raises(RuntimeError, match="Partial has no constraint for 'b'"):
        validate_params(Partial())


# ------------------------------------------------------ the estimators' tables
@pytest.mark.parametrize("est", _estimators(), ids=lambda e: type(e).__name__)
def test_every_parameter_has_an_entry_and_the_defaults_pass(est):
    table = type(est)._parameter_constraints
    assert set(table) == set(est.get_params(deep=False))
    validate_params(est)


def test_valid_edge_values_pass_the_chm_table():
    ok = dict(n_levels=np.int64(1), tv_weight=0, epochs=0, momentum=0.0, dropout=0.0, crop=None,
              tv_levels={0, "top_down"}, context_radii=np.array([1, 3]), context_cv=None,
              memory=Memory(None, verbose=0), random_state=np.random.RandomState(0), n_jobs=-1,
              verbose=True, penalty=TotalVariation(), class_weight="balanced",
              bank=features.FilterBank([features.GaussianFilter(sigmas=(1,))]))
    model = CHM(**ok)
    model._check_params()
    assert model._penalised_keys() == {0, "top_down"}
    assert CHM(memory="cache_dir", tv_levels=np.int64(0))._penalised_keys() == {0}


def test_chm_penalised_keys():
    assert CHM(n_levels=3)._penalised_keys() == {0, "top_down"}
    assert CHM(n_levels=3, tv_levels="all")._penalised_keys() == {0, 1, 2, "top_down"}
    assert CHM(n_levels=3, tv_levels=[2, np.int64(1)])._penalised_keys() == {1, 2}
    assert CHM(tv_levels=())._penalised_keys() == set()
    assert CHM(n_levels=3, tv_levels=np.array([0, 2]))._penalised_keys() == {0, 2}
    with pytest.raises(ValueError, match=r"tv_levels entries must be level indices below "
                                         r"n_levels=3 or 'top_down', got \[3\]"):
        CHM(n_levels=3, tv_levels=[0, 3])._check_params()
