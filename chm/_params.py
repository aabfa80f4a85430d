"""Parameter constraints: one table per estimator, checked once at the start of ``fit``.

Every estimator of the package declares ``_parameter_constraints``, a dict
from each ``__init__`` parameter to a list of constraints; a value is valid
when it satisfies at least one of them (the scikit-learn convention).
:func:`validate_params` checks every entry against ``get_params(deep=False)``
and raises a ``ValueError`` naming the parameter, what it must be and the
value it got.

A constraint is one of

- :class:`Interval` (integers or real numbers within bounds),
- :class:`Options` (a string among a set),
- :class:`Boolean` (``True`` or ``False``, also numpy bools),
- ``None`` (the value ``None``),
- a class (an instance of it), :class:`HasMethods` (an object with those
  methods), :class:`SequenceOf` (a list or tuple of valid items),
- :class:`RandomState` (``None``, a seed or a ``numpy.random.RandomState``),
- :class:`Hidden` (a valid value left out of the error message, such as the
  ``"deprecated"`` default of a renamed parameter).

Examples
--------
>>> from numbers import Integral
>>> check_param("n_levels", 2, [Interval(Integral, 1, None, closed="left")])
2
>>> check_param("n_levels", "2", [Interval(Integral, 1, None, closed="left")])
Traceback (most recent call last):
...
ValueError: n_levels must be an integer >= 1, got '2'
"""
import math
import sys
from numbers import Integral, Real

import numpy as np

__all__ = [
    "Boolean",
    "HasMethods",
    "Hidden",
    "Interval",
    "N_JOBS",
    "Options",
    "RandomState",
    "SequenceOf",
    "VERBOSE",
    "check_param",
    "validate_params",
]

_CLOSED = ("left", "right", "both", "neither")


def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


class Interval:
    """Numbers of one kind between two bounds.

    Parameters
    ----------
    type : {numbers.Integral, numbers.Real}
        ``Integral`` takes Python and numpy integers; ``Real`` takes those and
        Python and numpy floats. Booleans, strings and NaN are never inside.
    low, high : number or None
        Bounds; ``None`` is minus or plus infinity.
    closed : {"left", "right", "both", "neither"}
        Which bounds belong to the interval. An infinite bound belongs to it
        only when closed, so ``Interval(Real, 0, None, closed="left")`` holds
        the finite numbers >= 0.
    """

    def __init__(self, type, low, high, *, closed):
        if type not in (Integral, Real):
            raise ValueError(f"type must be numbers.Integral or numbers.Real, got {type!r}")
        if closed not in _CLOSED:
            raise ValueError(f"closed must be one of {_CLOSED}, got {closed!r}")
        self.type, self.low, self.high, self.closed = type, low, high, closed

    def is_satisfied_by(self, value):
        if _is_bool(value) or not isinstance(value, self.type):
            return False
        if not isinstance(value, Integral) and math.isnan(value):
            return False
        low = -math.inf if self.low is None else self.low
        high = math.inf if self.high is None else self.high
        above = value >= low if self.closed in ("left", "both") else value > low
        below = value <= high if self.closed in ("right", "both") else value < high
        return bool(above and below)

    def __str__(self):
        infinite_closed = ((self.low is None and self.closed in ("left", "both"))
                           or (self.high is None and self.closed in ("right", "both")))
        noun = "an integer" if self.type is Integral else (
            "a number" if infinite_closed else "a finite number")
        left_in = self.closed in ("left", "both")
        right_in = self.closed in ("right", "both")
        if self.low is not None and self.high is not None:
            left, right = "[" if left_in else "(", "]" if right_in else ")"
            return f"{noun} in {left}{self.low}, {self.high}{right}"
        if self.low is not None:
            return f"{noun} {'>=' if left_in else '>'} {self.low}"
        if self.high is not None:
            return f"{noun} {'<=' if right_in else '<'} {self.high}"
        return noun


class Options:
    """One string of a set, e.g. ``Options({"adam", "momentum"})``."""

    def __init__(self, values):
        self.values = frozenset(values)
        if not all(isinstance(v, str) for v in self.values):
            raise ValueError(f"Options holds strings only, got {sorted(map(repr, self.values))}")

    def is_satisfied_by(self, value):
        return isinstance(value, str) and value in self.values

    def parts(self):
        return [repr(v) for v in sorted(self.values)]

    def __str__(self):
        return _either(self.parts())


class Boolean:
    """``True`` or ``False`` (Python or numpy bools; not 0, 1 or strings)."""

    def is_satisfied_by(self, value):
        return _is_bool(value)

    def parts(self):
        return ["True", "False"]

    def __str__(self):
        return "True or False"


class HasMethods:
    """An object with the given methods, e.g. ``HasMethods(["fit", "predict_proba"])``."""

    def __init__(self, methods):
        self.methods = tuple([methods] if isinstance(methods, str) else methods)

    def is_satisfied_by(self, value):
        return all(callable(getattr(value, m, None)) for m in self.methods)

    def __str__(self):
        names = [f"{m!r}" for m in self.methods]
        return f"an object with the method{'s' if len(names) > 1 else ''} {_both(names)}"


class RandomState:
    """``None``, an integer seed in [0, 2**32 - 1] or a ``numpy.random.RandomState``."""

    _seed = Interval(Integral, 0, 2**32 - 1, closed="both")

    def is_satisfied_by(self, value):
        return (value is None or self._seed.is_satisfied_by(value)
                or isinstance(value, np.random.RandomState))

    def __str__(self):
        return "None, an integer in [0, 4294967295] or a numpy RandomState"


class SequenceOf:
    """A list, tuple or 1-D array whose every item satisfies ``items``.

    Parameters
    ----------
    items : constraint or list of constraints
        What each item must satisfy (any one of the list).
    min_length : int, default=0
        Fewest items.
    sets : bool, default=False
        Also take sets and frozensets (where the order does not matter).
    """

    def __init__(self, items, *, min_length=0, sets=False):
        self.items = [make_constraint(c) for c in (items if isinstance(items, list) else [items])]
        self.min_length, self.sets = min_length, sets

    def is_satisfied_by(self, value):
        kinds = (list, tuple, set, frozenset) if self.sets else (list, tuple)
        if isinstance(value, np.ndarray):
            if value.ndim != 1:
                return False
        elif not isinstance(value, kinds):
            return False
        return len(value) >= self.min_length and all(
            any(c.is_satisfied_by(item) for c in self.items) for item in value)

    def __str__(self):
        kinds = "list, tuple, set or 1-D array" if self.sets else "list, tuple or 1-D array"
        if self.min_length == 1:
            what = f"a non-empty {kinds}"
        elif self.min_length > 1:
            what = f"a {kinds} of at least {self.min_length} items"
        else:
            what = f"a {kinds}"
        return f"{what} whose items are each {_either(_parts(self.items))}"


class Hidden:
    """A constraint that is accepted but not named in error messages."""

    def __init__(self, constraint):
        self.constraint = make_constraint(constraint)

    def is_satisfied_by(self, value):
        return self.constraint.is_satisfied_by(value)

    def __str__(self):
        return str(self.constraint)


class _NoneConstraint:
    def is_satisfied_by(self, value):
        return value is None

    def __str__(self):
        return "None"


class _InstanceOf:
    def __init__(self, cls):
        self.cls = cls

    def is_satisfied_by(self, value):
        return isinstance(value, self.cls) and not (_is_bool(value) and self.cls is not bool)

    def __str__(self):
        name, module = self.cls.__qualname__, self.cls.__module__
        top = module.split(".")[0]
        if module == "builtins":
            full = name
        elif getattr(sys.modules.get(top), name, None) is self.cls:  # exported by its package
            full = f"{top}.{name}"
        else:
            full = f"{module}.{name}"
        return f"a{'n' if full[0] in 'aeiouAEIOU' else ''} {full}"


def make_constraint(constraint):
    """The constraint object of a table entry (``None`` and classes are shorthands)."""
    if constraint is None:
        return _NoneConstraint()
    if isinstance(constraint, type):
        return _InstanceOf(constraint)
    if hasattr(constraint, "is_satisfied_by"):
        return constraint
    raise ValueError(f"unknown parameter constraint {constraint!r}")


def _parts(constraints):
    """The alternatives of some constraints, as text (options listed one by one)."""
    return [p for c in constraints for p in (c.parts() if hasattr(c, "parts") else [str(c)])]


def _either(texts):
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " or " + texts[-1]


def _both(texts):
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " and " + texts[-1]


def check_param(name, value, constraints):
    """Return ``value`` if it satisfies one of ``constraints``, else raise a ValueError.

    Parameters
    ----------
    name : str
        Parameter name, for the message.
    value : object
    constraints : list
        Table entry: constraint objects, ``None`` or classes.

    Raises
    ------
    ValueError
        ``"<name> must be <what>, got <value!r>"``.
    """
    constraints = [make_constraint(c) for c in constraints]
    if any(c.is_satisfied_by(value) for c in constraints):
        return value
    # the None shorthand goes last in the message, as in "an integer >= 1 or None"
    shown = [c for c in constraints if not isinstance(c, (Hidden, _NoneConstraint))]
    shown += [c for c in constraints if isinstance(c, _NoneConstraint)]
    raise ValueError(f"{name} must be {_either(_parts(shown))}, got {value!r}")


def validate_params(estimator):
    """Check every parameter of ``estimator`` against its class's constraint table.

    Parameters
    ----------
    estimator : object
        Has ``get_params(deep=False)``; its class has ``_parameter_constraints``
        (the string ``"no_validation"`` as an entry skips that parameter).

    Raises
    ------
    ValueError
        For the first parameter, in ``get_params`` order, whose value
        satisfies none of its constraints.
    RuntimeError
        If a parameter has no entry in the table (a defect of the class).
    """
    table = type(estimator)._parameter_constraints
    for name, value in estimator.get_params(deep=False).items():
        if name not in table:
            raise RuntimeError(f"{type(estimator).__name__} has no constraint for {name!r}")
        if table[name] != "no_validation":
            check_param(name, value, table[name])


#: ``n_jobs`` of joblib: None, or a nonzero integer (-1 = all cores).
N_JOBS = [None, Interval(Integral, 1, None, closed="left"),
          Interval(Integral, None, -1, closed="right")]

#: ``verbose``: False/True or a level >= 0.
VERBOSE = [Boolean(), Interval(Integral, 0, None, closed="left")]
