"""mfrec models: all share the contract in :mod:`mfrec.models.base`."""
from .base import MODEL_REGISTRY, Recommender, StopTraining
from .popularity import Popularity

__all__ = ["MODEL_REGISTRY", "Recommender", "StopTraining", "Popularity"]
