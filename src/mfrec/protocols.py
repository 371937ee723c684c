"""Evaluation protocols: how a data set becomes the training and test data of a model.

The CLI, ``mfrec compare`` and the benchmarks use these, so one command and one benchmark
evaluate the same way: :class:`Protocol` (which split, what fraction, which seed),
:func:`default_protocol` (the reference protocol of each feedback kind) and
:func:`training_view` (ratings, or positives for implicit models).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from .data.interactions import Interactions
from .errors import DataError
from .params import Options, check

if TYPE_CHECKING:
    from .data.split import Split

#: default positive threshold for implicit feedback from ratings (MovieLens: rating >= 4)
DEFAULT_THRESHOLD = 4.0

#: the splits a Protocol can apply
SPLITS = ("per-user", "random", "leave-one-out")


def training_view(data: Interactions, feedback: str, threshold: Optional[float] = DEFAULT_THRESHOLD) -> Interactions:
    """Return the data a model of this feedback kind trains on: ratings, or positives (rating >= threshold)."""
    if feedback == "explicit":
        if not data.is_explicit:
            raise DataError("this model needs explicit ratings, but the data set has none")
        return data
    return data.to_implicit(threshold=threshold) if data.is_explicit else data


@dataclass
class Protocol:
    """How data are split for evaluation."""

    split: str = "per-user"          # per-user | random | leave-one-out (by time)
    test_fraction: float = 0.2
    seed: int = 42

    def apply(self, data: Interactions) -> Split:
        """Split ``data`` by this protocol; return the :class:`~mfrec.data.split.Split`."""
        from .data import split as splits
        check("split", self.split, Options(*SPLITS))
        if self.split == "per-user":
            return splits.per_user_split(data, test_fraction=self.test_fraction, seed=self.seed)
        if self.split == "random":
            return splits.random_split(data, test_fraction=self.test_fraction, seed=self.seed)
        return splits.leave_one_out(data, by="time", seed=self.seed)


def default_protocol(feedback: str) -> Protocol:
    """Return the issues' reference protocols: ratings random 90/10; implicit per-user 80/20 (seed 42)."""
    return Protocol("random", 0.1) if feedback == "explicit" else Protocol("per-user", 0.2)
