"""Small checks for model hyperparameters, raising InvalidParameterError (a ValueError) with the parameter's name."""
from __future__ import annotations

import math
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


def init_std(name: str, value, factors, *, allow_zero: bool = False) -> float:
    """Standard deviation of the initial factors: finite, and small enough that the initial
    scores fit in float32. With entries ~ N(0, s^2) a draw stays below 6 s in magnitude (for up to
    ~1e9 draws), so |p . q| < k (6 s)^2 must stay below the largest float32, 3.4e38."""
    checked = (nonnegative_float if allow_zero else positive_float)(name, value)
    k = factors if isinstance(factors, numbers.Integral) and factors > 0 else 1
    limit = math.sqrt(_FLOAT32_MAX / (36.0 * k))
    if checked > limit:
        raise InvalidParameterError(f"{name}={value!r} is so large that the initial scores overflow float32 "
                                    f"(with factors={k} it must be at most {limit:.3g}; typical values are 0.01-0.1)")
    return checked


_FLOAT32_MAX = 3.4028234663852886e38
