"""The names of the evaluation metrics.

The names of the evaluation metrics: the keys of every result dict, table and benchmark row
come from here.

Full-catalogue ranking metrics (:func:`mfrec.evaluation.ranking_metrics`) are spelled
``precision@K``, ``recall@K``, ``ndcg@K``, ``map@K``, ``hit_rate@K``, ``mrr``, ``auc`` and
``coverage@K``. The sampled protocol (:mod:`mfrec.evaluation.sampled`, NCF's) reports ``hr@K``,
``ndcg@K`` and ``mrr``: HR is that protocol's own name for the hit rate of one held-out item.
"""
from __future__ import annotations

#: the per-user ranking metrics, in the order of the kernel's columns (METRIC_COLUMNS)
_PER_USER = ("precision@{k}", "recall@{k}", "ndcg@{k}", "map@{k}", "hit_rate@{k}", "mrr", "auc")
#: the order tables and benchmarks show them in: the headline NDCG first, catalogue coverage last
_TABLE = ("ndcg@{k}", "precision@{k}", "recall@{k}", "map@{k}", "hit_rate@{k}", "mrr", "auc", "coverage@{k}")
_SAMPLED = ("hr@{k}", "ndcg@{k}", "mrr")


def per_user_metric_names(k: int) -> list:
    """Return the per-user ranking metrics averaged by ranking_metrics, in the kernel's column order."""
    return [name.format(k=k) for name in _PER_USER]


def table_metric_names(k: int) -> list:
    """Return the ranking metrics of a comparison table or benchmark row, headline first."""
    return [name.format(k=k) for name in _TABLE]


def sampled_metric_names(k: int) -> list:
    """Return the metrics of the sampled (NCF) protocol."""
    return [name.format(k=k) for name in _SAMPLED]
