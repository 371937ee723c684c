"""Exceptions raised by mfrec for user mistakes.

Every error a user can cause is one of these, with a message that names the file, line,
field or id at fault. The CLI prints them without a traceback.
"""


class MfrecError(Exception):
    """Base class of all mfrec errors caused by input or usage."""


class DataError(MfrecError, ValueError):
    """Malformed, missing or inconsistent input data (files, frames, arrays)."""


class UnknownIdError(MfrecError, KeyError):
    """A user or item id that the data set or model does not know."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""


class ModelFileError(MfrecError, ValueError):
    """A model file that is missing, corrupted, or not an mfrec model of the expected class."""


class NotFittedError(MfrecError, RuntimeError):
    """A model method that needs a fitted model was called before fit()."""


class TrainingDivergedError(MfrecError, FloatingPointError):
    """Training diverged; the model is left as it was before fit().

    Training produced NaN/inf, an exploding loss or overflowing scores; the model is left as it
    was before fit() (unfitted, or its previous fit).
    """


class DatasetNotAvailableError(MfrecError, OSError):
    """A data set is not on disk and cannot be downloaded."""


class InvalidParameterError(MfrecError, ValueError):
    """A hyperparameter, argument or option with a wrong type or value (the message names it)."""


class InsufficientMemoryError(MfrecError, MemoryError):
    """A fit would need more memory than the machine has; refused before allocating."""


class MissingExtraError(MfrecError, ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""
