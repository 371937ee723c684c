"""mfrec models: Popularity, SVD, ALS, BPR and WARP.

All share the contract in :mod:`mfrec.models.base`; the list of models is
:data:`mfrec.models.catalog.MODELS`; each model's maths is stated in its :mod:`mfrec.kernels` module.
"""
from .als import ALS
from .base import Recommender
from .bpr import BPR
from .popularity import Popularity
from .svd import SVD
from .training import StopTraining
from .warp import WARP

__all__ = ["Recommender", "StopTraining", "Popularity", "SVD", "ALS", "BPR", "WARP"]
