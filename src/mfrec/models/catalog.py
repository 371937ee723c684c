"""The models mfrec ships, in one list: CLI names, import paths, building a model from strings.

:data:`MODELS` is the only list of models. The CLI (help texts, ``mfrec models``), ``mfrec
compare``'s default set and model files (the allow-list of classes that :func:`load_class`
imports) all read it. Nothing registers itself at import time.
"""
from __future__ import annotations

import ast
import importlib
from typing import TYPE_CHECKING, Optional

from ..errors import InvalidParameterError, MfrecError

if TYPE_CHECKING:
    from .base import Recommender

#: CLI name -> import path ("module:Class") of every model, baseline first (the display order)
MODELS: dict[str, str] = {
    "popularity": "mfrec.models.popularity:Popularity",
    "svd": "mfrec.models.svd:SVD",
    "als": "mfrec.models.als:ALS",
    "bpr": "mfrec.models.bpr:BPR",
    "warp": "mfrec.models.warp:WARP",
}


class UnknownModelError(MfrecError, ValueError):
    """A model name that mfrec does not know."""


def names_text(last: str = "or") -> str:
    """Return the model names for help texts: "popularity, svd, als, bpr or warp".

    Parameters
    ----------
    last : str, default "or"
        The word before the last name.

    Returns
    -------
    str
        The names of :data:`MODELS`, in order.
    """
    names = list(MODELS)
    return f"{', '.join(names[:-1])} {last} {names[-1]}"


def _import(path: str) -> type[Recommender]:
    module, _, qualname = path.partition(":")
    return getattr(importlib.import_module(module), qualname)


def model_classes() -> dict[str, type[Recommender]]:
    """Import the model classes, by CLI name, in the order of :data:`MODELS`.

    Returns
    -------
    dict of str to type
        CLI name -> model class.
    """
    return {name: _import(path) for name, path in MODELS.items()}


def model_class(name: str) -> type[Recommender]:
    """Return the class of a model given by its CLI name (any case).

    Parameters
    ----------
    name : str
        A key of :data:`MODELS`, e.g. "als".

    Returns
    -------
    type
        The model class.

    Raises
    ------
    UnknownModelError
        When no model has that name.
    """
    path = MODELS.get(name.lower()) if isinstance(name, str) else None
    if path is None:
        raise UnknownModelError(f"unknown model {name!r} (models: {', '.join(MODELS)})")
    return _import(path)


def class_path(cls: type) -> str:
    """Return the import path a model file names its class by, e.g. "mfrec.models.svd:SVD"."""
    return f"{cls.__module__}:{cls.__qualname__}"


def load_class(path) -> Optional[type[Recommender]]:
    """Return the model class a model file names, if it is on the allow-list :data:`MODELS`.

    Files written before import paths were stored name the bare class ("SVD"): accepted too.
    Only allow-listed modules are ever imported, so a crafted file cannot import arbitrary code.

    Parameters
    ----------
    path : object
        The class path read from the file ("module:Class" or a bare class name).

    Returns
    -------
    type or None
        The model class, or None when ``path`` is not allow-listed.
    """
    if not isinstance(path, str):
        return None
    allowed = set(MODELS.values())
    if path not in allowed:
        by_class_name = {p.partition(":")[2]: p for p in allowed}
        path = by_class_name.get(path)
        if path is None:
            return None
    return _import(path)


def parse_params(assignments, cls: type[Recommender]) -> dict:
    """Turn ["factors=64", "learning_rate=0.01"] into typed keyword arguments for ``cls``.

    Values are Python literals; "none"/"null" and "true"/"false" in any case; anything else a
    string. A dash in a name counts as an underscore.

    Parameters
    ----------
    assignments : iterable of str or None
        The "name=value" strings.
    cls : type
        The model class whose parameters they set.

    Returns
    -------
    dict
        Parameter name -> value.

    Raises
    ------
    InvalidParameterError
        For a string without "=" or a name that is not a parameter of ``cls``.
    """
    valid = cls.param_names()
    out: dict[str, object] = {}
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


def make_model(name: str, preset: Optional[str] = None, params: Optional[dict] = None):
    """Build an unfitted model by CLI name, from a preset and/or hyperparameters.

    Parameters
    ----------
    name : str
        The model's CLI name.
    preset : str or None, default None
        A key of the class's ``PRESETS``.
    params : dict or None, default None
        Hyperparameters (over the preset's, when one is given).

    Returns
    -------
    Recommender
        The unfitted model.

    Raises
    ------
    UnknownModelError
        For an unknown model name.
    InvalidParameterError
        For an unknown preset.
    """
    cls = model_class(name)
    params = params or {}
    return cls.preset(preset, **params) if preset else cls(**params)
