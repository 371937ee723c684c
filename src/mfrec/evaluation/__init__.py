"""Evaluation: rating metrics, ranking metrics, sampled (NCF) metrics.

Evaluation: rating metrics (RMSE, MAE) and ranking metrics (Precision/Recall/nDCG/MAP/HitRate@K,
MRR, AUC, catalogue coverage) with exact definitions in :mod:`mfrec.evaluation.metrics`.

Use :func:`evaluate_ranking` / :func:`evaluate_ratings` for a fitted model and
:func:`ranking_metrics` for any scorer (e.g. vectors from another library).
"""
from .evaluate import evaluate_ranking, evaluate_ratings, ranking_metrics
from .sampled import evaluate_sampled, sampled_metrics, sampled_ranks
from .metrics import (auc, coverage_at_k, hit_rate_at_k, mae, map_at_k, ndcg_at_k, precision_at_k,
                      rank_candidates, recall_at_k, reciprocal_rank, rmse)

__all__ = ["evaluate_ranking", "evaluate_ratings", "ranking_metrics", "rmse", "mae", "precision_at_k",
           "recall_at_k", "ndcg_at_k", "map_at_k", "hit_rate_at_k", "reciprocal_rank", "auc",
           "coverage_at_k", "rank_candidates", "evaluate_sampled", "sampled_metrics", "sampled_ranks"]
