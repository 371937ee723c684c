"""Small checks for model hyperparameters, raising InvalidParameterError (a ValueError) with the parameter's name."""
from __future__ import annotations

import numbers

from ..errors import InvalidParameterError


def positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise InvalidParameterError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def nonnegative_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise InvalidParameterError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def positive_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0 or value == float("inf"):
        raise InvalidParameterError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def nonnegative_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0 or value == float("inf"):
        raise InvalidParameterError(f"{name} must be a non-negative finite number, got {value!r}")
    return float(value)


def decay(name: str, value) -> float:
    """A multiplicative learning-rate decay per epoch: in (0, 1], 1 meaning constant."""
    checked = positive_float(name, value)
    if checked > 1:
        raise InvalidParameterError(f"{name} must be in (0, 1], got {value!r}")
    return checked


def fraction(name: str, value, *, inclusive_low: bool = False) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and (
        (0 <= value < 1) if inclusive_low else (0 < value < 1))
    if not ok:
        raise InvalidParameterError(f"{name} must be in {'[0' if inclusive_low else '(0'}, 1), got {value!r}")
    return float(value)


def choice(name: str, value, options) -> str:
    if value not in options:
        raise InvalidParameterError(f"{name} must be one of {tuple(options)}, got {value!r}")
    return value


def seed(name: str, value):
    if value is None:
        return None
    return nonnegative_int(name, value)


def threads(name: str, value) -> int:
    """0 means all cores."""
    return nonnegative_int(name, value)
