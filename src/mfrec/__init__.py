"""mfrec: matrix-factorization recommenders (biased SVD, implicit ALS, BPR, WARP), fast and pure Python."""
__version__ = "0.1.0"

import logging

from .data.interactions import Interactions
from .errors import (DataError, DatasetNotAvailableError, MfrecError, ModelFileError, NotFittedError,
                     TrainingDivergedError, UnknownIdError)
from .datasets import fetch_movielens, list_datasets, load_movielens, read_ratings
from .evaluation import evaluate_ranking, evaluate_ratings, mae, ranking_metrics, rmse
from .ids import IdMap
from .models import ALS, BPR, SVD, WARP, Popularity, Recommender, StopTraining

# Diagnostics of the library (downloads, model reloads of `mfrec serve`) go to the "mfrec" logger
# and its children (logging.getLogger(__name__)); silent unless the application configures logging.
logging.getLogger("mfrec").addHandler(logging.NullHandler())

__all__ = ["__version__", "Interactions", "IdMap", "Recommender", "StopTraining", "Popularity",
           "SVD", "ALS", "BPR", "WARP",
           "MfrecError", "DataError", "UnknownIdError", "ModelFileError", "NotFittedError",
           "TrainingDivergedError", "DatasetNotAvailableError",
           "load_movielens", "fetch_movielens", "list_datasets", "read_ratings",
           "evaluate_ranking", "evaluate_ratings", "ranking_metrics", "rmse", "mae"]
