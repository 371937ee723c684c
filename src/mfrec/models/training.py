"""What happens around the epochs of a fit: the per-epoch monitor and the divergence checks.

The monitor keeps the loss history, validation metrics, callback and progress bar; the one
divergence check every model uses is here too.

A model's ``_fit`` calls ``monitor.report(epoch, **metrics)`` after each epoch and stops when it
returns True. Non-finite losses, factors or scores raise :class:`TrainingDivergedError` through
:func:`diverged` / :func:`check_finite` / :func:`scores_fit_float32`, so every model words
the error the same way: which model, which epoch, what went wrong, which hyperparameter to change.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

import numpy as np

from .._optional import require
from ..errors import TrainingDivergedError
from ..params import FLOAT32_MAX

#: callback(epoch, metrics) after every epoch; may raise StopTraining
Callback = Callable[[int, dict], None]


class StopTraining(Exception):
    """Raise from a callback to end training after the current epoch (the model stays fitted)."""


# ---------------------------------------------------------------------- initialization
_INIT_CHUNK = 1 << 20  # float64 draws per chunk of initial factors


def initial_factors(rng: np.random.Generator, n_rows: int, k: int, std: float) -> np.ndarray:
    """Draw (n_rows, k) float32 factors from Normal(0, std^2), row after row.

    Every model and mfrec.distributed draw their initial factors here, so a seed means the same
    draws. The same numbers as ``(rng.standard_normal((n_rows, k)) * std).astype(np.float32)``: a
    Generator fills arrays in order, so chunks of rows continue one stream; drawing a chunk at a
    time avoids an (n_rows, k) float64 temporary (docs/memory.md).

    Parameters
    ----------
    rng : numpy.random.Generator
        The source of the draws.
    n_rows, k : int
        The shape of the result.
    std : float
        Standard deviation of the draws.

    Returns
    -------
    ndarray of float32, shape (n_rows, k)
        The initial factors.
    """
    k = int(k)
    out = np.empty((n_rows, k), dtype=np.float32)
    step = max(1, _INIT_CHUNK // max(k, 1))
    for start in range(0, n_rows, step):
        stop = min(n_rows, start + step)
        out[start:stop] = rng.standard_normal((stop - start, k)) * float(std)
    return out


# ---------------------------------------------------------------------- divergence
def divergence_hint(model) -> str:
    """Say which hyperparameters to change after a divergence, with their current values.

    Parameters
    ----------
    model : Recommender
        The model that diverged.

    Returns
    -------
    str
        E.g. "lower learning_rate (now 0.1) or init_std (now 0.1) or raise the regularization".
    """
    named = [f"{p} (now {getattr(model, p)!r})" for p in ("learning_rate", "init_std")
             if getattr(model, p, None) is not None]
    return ("lower " + " or ".join(named) + " or raise the regularization") if named else \
        "check the training data"


def diverged(model, detail: str, *, epoch: Optional[int] = None, hint: Optional[str] = None,
             what: str = "training") -> TrainingDivergedError:
    """Build the error for a diverged fit: "<Model>: training diverged at epoch e (<detail>); <hint>".

    Parameters
    ----------
    model : Recommender or str
        The model (or its name).
    detail : str
        What went wrong, e.g. "loss = nan".
    epoch : int or None, default None
        The epoch it happened in.
    hint : str or None, default None
        What to change; None: :func:`divergence_hint`.
    what : str, default "training"
        What diverged, e.g. "fold-in".

    Returns
    -------
    TrainingDivergedError
        The error, to raise.
    """
    name = model if isinstance(model, str) else type(model).__name__
    at = "" if epoch is None else f" at epoch {epoch}"
    hint = divergence_hint(model) if hint is None else hint
    return TrainingDivergedError(f"{name}: {what} diverged{at} ({detail}); {hint}")


def check_finite(model, values: Mapping[str, Any], *, epoch: Optional[int] = None,
                 hint: Optional[str] = None, what: str = "training") -> None:
    """Raise the :func:`diverged` error when any of the named arrays or numbers holds NaN/inf.

    Parameters
    ----------
    model : Recommender or str
        The model (or its name), for the message.
    values : mapping of str to array_like
        The arrays or numbers to check, by the name the message gives them.
    epoch, hint, what
        As in :func:`diverged`.

    Raises
    ------
    TrainingDivergedError
        Naming the first array that holds NaN/inf.
    """
    for name, value in values.items():
        if not np.all(np.isfinite(value)):
            raise diverged(model, f"{name} contains NaN/inf", epoch=epoch, hint=hint, what=what)


def max_row_norm(vectors: np.ndarray) -> float:
    """Return the largest Euclidean row norm, in float64 (no overflow for float32 input)."""
    if vectors.size == 0:
        return 0.0
    v = np.asarray(vectors, dtype=np.float64)
    return float(np.sqrt(np.max(np.einsum("ij,ij->i", v, v))))


def scores_fit_float32(user_vectors: np.ndarray, item_vectors: np.ndarray) -> tuple:
    """Tell whether every score u . v fits in float32, by Cauchy-Schwarz over the largest vectors.

    |u . v| <= |u| |v|, with the largest user and item vector norms.

    Parameters
    ----------
    user_vectors, item_vectors : ndarray
        The ranking vectors, one per row.

    Returns
    -------
    tuple of (bool, float, float)
        (fits, largest user norm, largest item norm).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        user_norm, item_norm = max_row_norm(user_vectors), max_row_norm(item_vectors)
        bound = user_norm * item_norm
    return bool(np.isfinite(bound) and bound <= FLOAT32_MAX), user_norm, item_norm


# ---------------------------------------------------------------------- monitor
class TrainingMonitor:
    """Collect per-epoch metrics: loss history, validation metrics, callback, progress bar.

    It also checks the loss for divergence. With validation data, every report adds the model's
    validation metrics (:meth:`Recommender.validation_metrics`, computed on the current factors)
    before the callback sees them, so ``validation=`` means the same for every iterative model.
    """

    def __init__(self, model, callback: Optional[Callback], show_progress: bool, validation=None):
        self.model = model
        self.callback = callback
        self.validation = validation
        self.stopped = False
        self._progress = None
        if show_progress:
            require("rich", "cli", "the training progress bar (show_progress=True)")
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            self._progress = Progress(TextColumn(f"[bold]{model.name}[/bold]"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TextColumn("{task.fields[info]}"), transient=True)
            self._progress.start()
            self._task = self._progress.add_task("fit", total=model.n_epochs(), info="")

    def report(self, epoch: int, **metrics) -> bool:
        """Record one epoch's figures and pass them to the callback.

        Parameters
        ----------
        epoch : int
            The epoch just finished, from 1.
        **metrics
            Its figures (floats), e.g. ``loss``.

        Returns
        -------
        bool
            True when training should stop (the callback raised StopTraining).

        Raises
        ------
        TrainingDivergedError
            When the loss is NaN/inf.
        """
        clean = {k: float(v) for k, v in metrics.items()}
        loss = clean.get("loss")
        if loss is not None and not np.isfinite(loss):
            raise diverged(self.model, f"loss = {loss}", epoch=epoch,
                           hint="try a lower learning rate or stronger regularization")
        if self.validation is not None:
            clean.update({k: float(v) for k, v in self.model.validation_metrics(self.validation).items()})
        self.model.loss_history_.append({"epoch": epoch, **clean})
        if self._progress is not None:
            info = "  ".join(f"{k}={v:.4g}" for k, v in clean.items())
            self._progress.update(self._task, completed=epoch, info=info)
        if self.callback is not None:
            try:
                self.callback(epoch, dict(clean))
            except StopTraining:
                self.stopped = True
        return self.stopped

    def close(self) -> None:
        """Stop the progress bar, if any."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
