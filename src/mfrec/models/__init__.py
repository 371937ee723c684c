"""mfrec models: all share the contract in :mod:`mfrec.models.base`."""
from .als import ALS
from .base import MODEL_REGISTRY, Recommender, StopTraining
from .bpr import BPR
from .popularity import Popularity
from .svd import SVD
from .warp import WARP

__all__ = ["MODEL_REGISTRY", "Recommender", "StopTraining", "Popularity", "SVD", "ALS", "BPR", "WARP"]
