"""mfrec: matrix-factorization recommenders (biased SVD, implicit ALS, BPR, WARP), fast and pure Python."""
__version__ = "0.1.0"

from .data.interactions import Interactions
from .errors import (DataError, DatasetNotAvailableError, MfrecError, ModelFileError, NotFittedError,
                     TrainingDivergedError, UnknownIdError)
from .datasets import fetch_movielens, list_datasets, load_movielens, read_ratings
from .evaluation import evaluate_ranking, evaluate_ratings, mae, ranking_metrics, rmse
from .ids import IdMap
from .models import ALS, BPR, SVD, WARP, Popularity, Recommender, StopTraining

__all__ = ["__version__", "Interactions", "IdMap", "Recommender", "StopTraining", "Popularity",
           "SVD", "ALS", "BPR", "WARP",
           "MfrecError", "DataError", "UnknownIdError", "ModelFileError", "NotFittedError",
           "TrainingDivergedError", "DatasetNotAvailableError",
           "load_movielens", "fetch_movielens", "list_datasets", "read_ratings",
           "evaluate_ranking", "evaluate_ratings", "ranking_metrics", "rmse", "mae"]
