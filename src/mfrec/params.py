"""Hyperparameters and arguments declared as data: one constraint table, one generic check.

A model lists the valid values of each ``__init__`` parameter once, in its
``_parameter_constraints`` table (the idea of scikit-learn's ``_param_validation``, written
here for mfrec)::

    _parameter_constraints = {
        "factors": Integer(1),                       # a positive integer
        "learning_rate": Real(0, None, closed="neither"),
        "shuffle": Options("users", "ratings"),
        "seed": [None, Integer(0)],                  # a list: any of these
    }

From that table :func:`validate` checks the values (raising InvalidParameterError, a ValueError,
naming the parameter), :func:`describe` prints the valid range (``mfrec models``) and
:func:`invalid_values` lists values that must be refused (the generated tests). Split and
evaluation functions check their arguments with the same constraints.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from .errors import InvalidParameterError

#: the largest finite float32 (numpy.finfo(numpy.float32).max)
FLOAT32_MAX = 3.4028234663852886e38


class Constraint:
    """One kind of valid value.

    ``params``: all values being checked (for bounds that name another parameter, e.g.
    ``k_os_rank <= k_os``).
    """

    def is_satisfied_by(self, value, params: Mapping) -> bool:
        """Whether ``value`` is valid, given all the values being checked (``params``)."""
        raise NotImplementedError

    def describe(self, params: Mapping) -> str:
        """Say what a valid value is, e.g. "a positive integer"."""
        raise NotImplementedError

    def invalid_examples(self, params: Mapping) -> list:
        """Values this constraint refuses (not necessarily refused by the other alternatives)."""
        raise NotImplementedError

    def error(self, name: str, value, params: Mapping) -> Optional[str]:
        """Return a more specific message than "must be <describe>", or None."""
        return None


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _bound(bound, params: Mapping):
    """Return a numeric bound, or the value of the parameter it names."""
    return params.get(bound) if isinstance(bound, str) else bound


class Integer(Constraint):
    """An integer (not a bool) in [low, high]; ``high`` may name another parameter."""

    def __init__(self, low: Optional[int] = None, high: Union[int, str, None] = None) -> None:
        self.low, self.high = low, high

    def is_satisfied_by(self, value, params) -> bool:
        """Whether ``value`` is an integer in range."""
        if not _is_int(value):
            return False
        high = _bound(self.high, params)
        return (self.low is None or value >= self.low) and (not _is_int(high) or value <= high)

    def describe(self, params) -> str:
        """Say what a valid value is, e.g. "a positive integer"."""
        if self.high is None:
            if self.low == 1:
                return "a positive integer"
            if self.low == 0:
                return "a non-negative integer"
            return "an integer" if self.low is None else f"an integer >= {self.low}"
        high = f"{self.high} = {_bound(self.high, params)}" if isinstance(self.high, str) else self.high
        return f"an integer between {self.low} and {high}"

    def invalid_examples(self, params) -> list:
        """Return values this constraint refuses."""
        out = [2.5, True, "1"]
        if self.low is not None:
            out.append(self.low - 1)
        high = _bound(self.high, params)
        if _is_int(high):
            out.append(high + 1)
        return out


class Real(Constraint):
    """A finite real number (not a bool) between low and high.

    ``closed`` says which ends are included: "left", "right", "both" or "neither". None =
    unbounded on that side.
    """

    def __init__(self, low: Optional[float] = None, high: Optional[float] = None, *, closed: str = "both") -> None:
        if closed not in ("left", "right", "both", "neither"):
            raise ValueError(f"closed must be 'left', 'right', 'both' or 'neither', got {closed!r}")
        self.low, self.high, self.closed = low, high, closed

    def is_satisfied_by(self, value, params) -> bool:
        """Whether ``value`` is a finite number in range."""
        if not _is_real(value) or not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (value == self.low and self.closed in ("right", "neither"))):
            return False
        if self.high is not None and (value > self.high or (value == self.high and self.closed in ("left", "neither"))):
            return False
        return True

    def describe(self, params) -> str:
        """Say what a valid value is, e.g. "a number in (0, 1]"."""
        if self.high is None and self.low == 0:
            return "a positive finite number" if self.closed in ("right", "neither") else \
                "a non-negative finite number"
        if self.low is None and self.high is None:
            return "a finite number"
        left = "(" if self.low is None or self.closed in ("right", "neither") else "["
        right = ")" if self.high is None or self.closed in ("left", "neither") else "]"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"a number in {left}{low}, {high}{right}"

    def invalid_examples(self, params) -> list:
        """Return values this constraint refuses."""
        out = [float("nan"), float("inf"), True, "0.1"]
        if self.low is not None:
            out.append(self.low - 1.0)
            if self.closed in ("right", "neither"):
                out.append(self.low)
        if self.high is not None:
            out.append(self.high + 0.5)
            if self.closed in ("left", "neither"):
                out.append(self.high)
        return out


class ScoreSafeStd(Real):
    """The standard deviation of the initial factors: finite, and small enough for float32 scores.

    The initial scores must fit in float32. With entries ~ N(0, s^2) a draw stays below 6 s in magnitude (for up to
    ~1e9 draws), so |p . q| < k (6 s)^2 must stay below the largest float32, 3.4e38, i.e.
    s <= sqrt(3.4e38 / (36 k)) with k the ``factors`` parameter.
    """

    def __init__(self, *, allow_zero: bool = False, factors: str = "factors") -> None:
        super().__init__(0, None, closed="left" if allow_zero else "neither")
        self.factors = factors

    def limit(self, params: Mapping) -> float:
        """Return the largest valid standard deviation for the ``factors`` value in ``params``."""
        k = params.get(self.factors, 1)
        k = k if _is_int(k) and k > 0 else 1
        return math.sqrt(FLOAT32_MAX / (36.0 * k))

    def is_satisfied_by(self, value, params) -> bool:
        """Whether ``value`` is valid and at most :meth:`limit`."""
        return super().is_satisfied_by(value, params) and value <= self.limit(params)

    def describe(self, params) -> str:
        """Say what a valid value is."""
        return f"{super().describe(params)} <= sqrt(3.4e38 / (36 {self.factors}))"

    def error(self, name, value, params) -> Optional[str]:
        """Return the overflow message for a finite value above the limit, else None."""
        if Real.is_satisfied_by(self, value, params):  # finite and in range: too large
            k = params.get(self.factors, 1)
            k = k if _is_int(k) and k > 0 else 1
            return (f"{name}={value!r} is so large that the initial scores overflow float32 "
                    f"(with {self.factors}={k} it must be at most {self.limit(params):.3g}; "
                    "typical values are 0.01-0.1)")
        return None

    def invalid_examples(self, params) -> list:
        """Return values this constraint refuses (1e30 among them)."""
        return super().invalid_examples(params) + [1e30]


class Options(Constraint):
    """One of the given values (strings, usually)."""

    def __init__(self, *options) -> None:
        self.options = tuple(options)

    def is_satisfied_by(self, value, params) -> bool:
        """Whether ``value`` is one of the options (a string equal to one, for string options)."""
        return isinstance(value, str) and value in self.options if all(isinstance(o, str) for o in self.options) \
            else value in self.options

    def describe(self, params) -> str:
        """Say what a valid value is: one of the options."""
        return f"one of {self.options}"

    def invalid_examples(self, params) -> list:
        """Return values this constraint refuses."""
        return ["not-an-option", 3]


class Boolean(Constraint):
    """True or False (NumPy bools too)."""

    def is_satisfied_by(self, value, params) -> bool:
        """Whether ``value`` is a bool or a NumPy bool."""
        import numpy as np
        return isinstance(value, (bool, np.bool_))

    def describe(self, params) -> str:
        """Say what a valid value is: "True or False"."""
        return "True or False"

    def invalid_examples(self, params) -> list:
        """Return values this constraint refuses."""
        return ["yes", 1, None]


#: a table entry: a constraint, None (the value None), or a list of those (any of them)
Entry = Union[Constraint, None, Sequence]


def _alternatives(entry: Entry) -> list:
    return list(entry) if isinstance(entry, (list, tuple)) else [entry]


def _satisfies(alternative, value, params) -> bool:
    return value is None if alternative is None else alternative.is_satisfied_by(value, params)


def describe(entry: Entry, params: Mapping = {}) -> str:
    """Return the valid values of one table entry, in words, e.g. "None or a positive integer"."""
    return " or ".join("None" if a is None else a.describe(params) for a in _alternatives(entry))


def check(name: str, value, entry: Entry, params: Optional[Mapping] = None) -> Any:
    """Return ``value`` if it satisfies ``entry``, else raise InvalidParameterError naming ``name``."""
    params = {} if params is None else params
    alternatives = _alternatives(entry)
    if any(_satisfies(a, value, params) for a in alternatives):
        return value
    for alternative in alternatives:
        specific = None if alternative is None else alternative.error(name, value, params)
        if specific:
            raise InvalidParameterError(specific)
    raise InvalidParameterError(f"{name} must be {describe(entry, params)}, got {value!r}")


def validate(constraints: Mapping[str, Entry], values: Mapping[str, Any]) -> None:
    """Check every value against its table entry, in the table's order (the first error raised)."""
    for name, entry in constraints.items():
        if name in values:
            check(name, values[name], entry, values)


def invalid_values(entry: Entry, params: Mapping = {}) -> list:
    """Values that ``entry`` refuses: the examples of each alternative that no alternative accepts."""
    out = []
    for alternative in _alternatives(entry):
        if alternative is None:
            continue
        for value in alternative.invalid_examples(params):
            if not any(_satisfies(a, value, params) for a in _alternatives(entry)):
                out.append(value)
    if not any(a is None for a in _alternatives(entry)):
        out.append(None)
    unique: dict[str, object] = {}
    for value in out:
        unique.setdefault(repr(value), value)
    return list(unique.values())


def constraint_rows(constraints: Mapping[str, Entry], params: Mapping) -> Iterable[tuple]:
    """(name, current value, valid values in words) for each parameter of a table."""
    for name, entry in constraints.items():
        yield name, params.get(name), describe(entry, params)
