"""Former home of the CLI's glue, kept so that old imports keep working.

Former home of the CLI's glue, now split by what each part is (kept only so that imports in
code written before the split keep working; import from the named modules instead):

- models by name, hyperparameters from "key=value" strings: :mod:`mfrec.models.catalog`;
- data sets by name: :func:`mfrec.datasets.load_dataset`;
- evaluation protocols and training views: :mod:`mfrec.protocols`.
"""
from .datasets import load_dataset
from .models.catalog import UnknownModelError, make_model, model_class, model_classes, parse_params
from .protocols import DEFAULT_THRESHOLD, Protocol, default_protocol, training_view

__all__ = ["load_dataset", "UnknownModelError", "make_model", "model_class", "model_classes", "parse_params",
           "DEFAULT_THRESHOLD", "Protocol", "default_protocol", "training_view"]
