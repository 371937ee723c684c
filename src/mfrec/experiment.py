"""Glue shared by the CLI, `mfrec compare` and the benchmarks: data sets by name, models by name,
hyperparameters from "key=value" strings, and the standard evaluation protocols."""
from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .data.interactions import Interactions
from .errors import DataError, InvalidParameterError, MfrecError
from .models.base import MODEL_REGISTRY, Recommender

#: default positive threshold for implicit feedback from ratings (MovieLens: rating >= 4)
DEFAULT_THRESHOLD = 4.0


class UnknownModelError(MfrecError, ValueError):
    """A model name that mfrec does not know."""


def model_classes() -> dict[str, type]:
    """Model classes by CLI name, in a fixed order (baseline first)."""
    from . import models  # noqa: F401  (registers every model class)
    classes = {cls.name: cls for cls in MODEL_REGISTRY.values()
               if cls.__module__.startswith("mfrec.models.") and cls.name != "base"}
    order = ["popularity", "svd", "als", "bpr", "warp"]
    return {name: classes[name] for name in sorted(classes, key=lambda n: (order.index(n) if n in order else 99, n))}


def model_class(name: str) -> type:
    classes = model_classes()
    try:
        return classes[name.lower()]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r} (models: {', '.join(classes)})") from None


def parse_params(assignments, cls: type) -> dict:
    """Turn ["factors=64", "learning_rate=0.01"] into typed keyword arguments for ``cls``."""
    valid = cls._param_names()
    out = {}
    for text in assignments or ():
        key, sep, raw = text.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise InvalidParameterError(f"parameter {text!r} must look like name=value")
        if key not in valid:
            raise InvalidParameterError(f"{cls.__name__} has no parameter {key!r} (parameters: {', '.join(valid)})")
        raw = raw.strip()
        if raw.lower() in ("none", "null"):
            out[key] = None
        elif raw.lower() in ("true", "false"):
            out[key] = raw.lower() == "true"
        else:
            try:
                out[key] = ast.literal_eval(raw)
            except (ValueError, SyntaxError):
                out[key] = raw
    return out


def make_model(name: str, preset: Optional[str] = None, params: Optional[dict] = None) -> Recommender:
    cls = model_class(name)
    params = params or {}
    return cls.preset(preset, **params) if preset else cls(**params)


def load_dataset(dataset: str, *, data_dir=None, show_progress: bool = False) -> Interactions:
    """A MovieLens variant by name ("ml-1m", "1m", "100k", ...) or a ratings file path."""
    from .datasets import MOVIELENS_VARIANTS, load_movielens, read_ratings
    name = dataset.lower().removeprefix("ml-")
    if name in MOVIELENS_VARIANTS:
        return load_movielens(name, data_dir=data_dir, show_progress=show_progress)
    path = Path(os.path.expanduser(dataset))
    if path.exists():
        return read_ratings(path)
    raise DataError(f"unknown data set {dataset!r}: give a MovieLens name "
                    f"({', '.join('ml-' + v for v in MOVIELENS_VARIANTS)}) or the path of a ratings file")


def training_view(data: Interactions, feedback: str, threshold: Optional[float] = DEFAULT_THRESHOLD) -> Interactions:
    """The data a model of this feedback kind trains on: ratings, or positives (rating >= threshold)."""
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

    def apply(self, data: Interactions):
        from .data import split as splits
        if self.split == "per-user":
            return splits.per_user_split(data, test_fraction=self.test_fraction, seed=self.seed)
        if self.split == "random":
            return splits.random_split(data, test_fraction=self.test_fraction, seed=self.seed)
        if self.split == "leave-one-out":
            return splits.leave_one_out(data, by="time", seed=self.seed)
        raise InvalidParameterError(f"unknown split {self.split!r} (splits: per-user, random, leave-one-out)")


def default_protocol(feedback: str) -> Protocol:
    """The issues' reference protocols: ratings random 90/10; implicit per-user 80/20 (seed 42)."""
    return Protocol("random", 0.1) if feedback == "explicit" else Protocol("per-user", 0.2)
