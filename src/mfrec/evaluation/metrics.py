r"""Exact definitions of mfrec's evaluation metrics.

Rating metrics (explicit data), over n test ratings r_j with predictions p_j:

    RMSE = sqrt( (1/n) * sum_j (p_j - r_j)^2 )
    MAE  = (1/n) * sum_j |p_j - r_j|

Ranking metrics are defined per user and then averaged (arithmetic mean) over the evaluated users,
i.e. the users with at least one test item (users with no test item are skipped, not counted as 0).
For one user u:

* the *candidates* are all catalogue items except u's training items (training items are
  excluded from the ranking, as if scored -inf);
* T is u's set of test items that are candidates (a test item that is also a training item cannot
  be recommended and is ignored); |T| >= 1 for an evaluated user;
* the ranking orders the candidates by decreasing score, ties broken by the lower item index
  (the same order as ``recommend``); rel_i = 1 if the item at rank i (1-based) is in T, else 0;
* K = min(k, n_items): a k larger than the catalogue is clipped. When fewer than K candidates
  remain the list is shorter, but the precision denominator stays K.

    Precision@K = hits@K / K                          with hits@K = sum_{i=1..K} rel_i
    Recall@K    = hits@K / |T|
    HitRate@K   = 1 if hits@K > 0 else 0
    nDCG@K      = DCG@K / IDCG@K,  DCG@K = sum_{i=1..K} rel_i / log2(i + 1)   (binary gains)
                  IDCG@K = sum_{i=1..min(|T|, K)} 1 / log2(i + 1)              (all hits on top)
    AP@K        = (1 / min(|T|, K)) * sum_{i=1..K} rel_i * Precision@i;  MAP@K = mean of AP@K
    RR          = 1 / (rank of the best-ranked test item in the FULL candidate ranking); not cut
                  at K, so it is never 0. MRR = mean of RR.
    AUC         = (1 / (|T| |N|)) * sum_{t in T} sum_{n in N} ( [s_t > s_n] + 1/2 [s_t = s_n] )
                  where N = candidates \ T (the user's non-test, non-training items); tied scores
                  count 1/2. Undefined (and left out of the AUC mean) when N is empty.
    Coverage@K  = |union over evaluated users of their top-K lists| / n_items   (catalogue
                  coverage; one number for the whole evaluation, not a per-user mean)

The per-user functions below are small plain-Python/NumPy references: they document the maths and
are what the tests compare the fast numba path (:func:`mfrec.evaluation.ranking_metrics`) with.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from ..errors import DataError, InvalidParameterError

__all__ = ["rmse", "mae", "rank_candidates", "precision_at_k", "recall_at_k", "ndcg_at_k", "map_at_k",
           "hit_rate_at_k", "reciprocal_rank", "auc", "coverage_at_k"]


# ---------------------------------------------------------------------- rating metrics
def _rating_arrays(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if len(t) != len(p):
        raise DataError(f"y_true has {len(t)} values but y_pred has {len(p)}")
    if len(t) == 0:
        raise DataError("y_true and y_pred are empty: nothing to evaluate")
    for name, arr in (("y_true", t), ("y_pred", p)):
        bad = np.flatnonzero(~np.isfinite(arr))
        if len(bad):
            raise DataError(f"{name}[{int(bad[0])}] is {arr[bad[0]]} (NaN/inf not allowed)")
    return t, p


def rmse(y_true, y_pred) -> float:
    """Compute the root mean squared error: sqrt(mean((y_pred - y_true)^2)).

    Parameters
    ----------
    y_true : array-like of float
        The test ratings.
    y_pred : array-like of float
        The predictions, same length.

    Returns
    -------
    float
        The error.

    Raises
    ------
    DataError
        On unequal lengths, empty input or NaN/inf values.
    """
    t, p = _rating_arrays(y_true, y_pred)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def mae(y_true, y_pred) -> float:
    """Compute the mean absolute error: mean(|y_pred - y_true|). Same checks as :func:`rmse`.

    Parameters
    ----------
    y_true : array-like of float
        The test ratings.
    y_pred : array-like of float
        The predictions, same length.

    Returns
    -------
    float
        The error.

    Raises
    ------
    DataError
        On unequal lengths, empty input or NaN/inf values.
    """
    t, p = _rating_arrays(y_true, y_pred)
    return float(np.mean(np.abs(p - t)))


# ---------------------------------------------------------------------- ranking references
def rank_candidates(scores, exclude: Iterable[int] = ()) -> np.ndarray:
    """Rank one user's candidates: item indices by decreasing score, ties broken by the lower index.

    Parameters
    ----------
    scores : array-like of float
        One score per item index.
    exclude : iterable of int, default ()
        Items removed from the ranking (the training items).

    Returns
    -------
    numpy.ndarray of int64
        The full ranking, best first.
    """
    scores = np.asarray(scores)
    items = np.arange(len(scores))
    order = np.lexsort((items, -scores.astype(np.float64)))
    banned = set(int(i) for i in exclude)
    return np.array([i for i in order if int(i) not in banned], dtype=np.int64)


def _hits(ranked: Sequence[int], relevant, k: int) -> list:
    rel = set(int(i) for i in relevant)
    return [1 if int(i) in rel else 0 for i in list(ranked)[:k]]


def _check_relevant(relevant) -> set:
    rel = set(int(i) for i in relevant)
    if not rel:
        raise InvalidParameterError("relevant (the user's test items) is empty: the metric is undefined")
    return rel


def precision_at_k(ranked: Sequence[int], relevant, k: int) -> float:
    """Compute Precision@K = (number of the first K ranked items that are relevant) / K.

    Parameters
    ----------
    ranked : sequence of int
        Item indices, best first.
    relevant : iterable of int
        The user's test items (not empty).
    k : int
        The cut-off.

    Returns
    -------
    float
        The metric of this user.

    Raises
    ------
    InvalidParameterError
        When ``relevant`` is empty.
    """
    _check_relevant(relevant)
    return sum(_hits(ranked, relevant, k)) / k


def recall_at_k(ranked: Sequence[int], relevant, k: int) -> float:
    """Compute Recall@K = (number of the first K ranked items that are relevant) / |relevant|.

    Parameters
    ----------
    ranked : sequence of int
        Item indices, best first.
    relevant : iterable of int
        The user's test items (not empty).
    k : int
        The cut-off.

    Returns
    -------
    float
        The metric of this user.

    Raises
    ------
    InvalidParameterError
        When ``relevant`` is empty.
    """
    rel = _check_relevant(relevant)
    return sum(_hits(ranked, relevant, k)) / len(rel)


def hit_rate_at_k(ranked: Sequence[int], relevant, k: int) -> float:
    """Compute HitRate@K = 1 if any of the first K ranked items is relevant, else 0.

    Parameters
    ----------
    ranked : sequence of int
        Item indices, best first.
    relevant : iterable of int
        The user's test items (not empty).
    k : int
        The cut-off.

    Returns
    -------
    float
        The metric of this user.

    Raises
    ------
    InvalidParameterError
        When ``relevant`` is empty.
    """
    _check_relevant(relevant)
    return 1.0 if sum(_hits(ranked, relevant, k)) > 0 else 0.0


def ndcg_at_k(ranked: Sequence[int], relevant, k: int) -> float:
    """Compute nDCG@K with binary gains.

    DCG = sum_{i=1..K} rel_i / log2(i + 1) divided by the ideal
    IDCG = sum_{i=1..min(|relevant|, K)} 1 / log2(i + 1).

    Parameters
    ----------
    ranked : sequence of int
        Item indices, best first.
    relevant : iterable of int
        The user's test items (not empty).
    k : int
        The cut-off.

    Returns
    -------
    float
        The metric of this user.

    Raises
    ------
    InvalidParameterError
        When ``relevant`` is empty.
    """
    rel = _check_relevant(relevant)
    dcg = sum(h / math.log2(i + 1) for i, h in enumerate(_hits(ranked, relevant, k), start=1))
    idcg = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(rel), k) + 1))
    return dcg / idcg


def map_at_k(ranked: Sequence[int], relevant, k: int) -> float:
    """Compute the average precision at K of one user (its mean over users is MAP@K).

    AP@K = (1 / min(|relevant|, K)) * sum_{i=1..K} rel_i * Precision@i.

    Parameters
    ----------
    ranked : sequence of int
        Item indices, best first.
    relevant : iterable of int
        The user's test items (not empty).
    k : int
        The cut-off.

    Returns
    -------
    float
        The metric of this user.

    Raises
    ------
    InvalidParameterError
        When ``relevant`` is empty.
    """
    rel = _check_relevant(relevant)
    total, hits = 0.0, 0
    for i, h in enumerate(_hits(ranked, relevant, k), start=1):
        if h:
            hits += 1
            total += hits / i
    return total / min(len(rel), k)


def reciprocal_rank(ranked: Sequence[int], relevant) -> float:
    """Compute 1 / (1-based rank of the first relevant item) in ``ranked``.

    ``ranked`` is the FULL candidate ranking (not cut at K). Its mean over users is MRR.

    Parameters
    ----------
    ranked : sequence of int
        Item indices, best first.
    relevant : iterable of int
        The user's test items (not empty).

    Returns
    -------
    float
        The reciprocal rank; 0 if no relevant item is ranked.

    Raises
    ------
    InvalidParameterError
        When ``relevant`` is empty.
    """
    rel = _check_relevant(relevant)
    for i, item in enumerate(ranked, start=1):
        if int(item) in rel:
            return 1.0 / i
    return 0.0


def auc(scores, relevant, exclude: Iterable[int] = ()) -> float:
    """Compute the per-user AUC: the share of (test item t, negative item n) pairs with s_t > s_n.

    A tie counts 1/2. Candidates are all items except ``exclude`` (the training items); relevant
    items that are excluded are ignored; negatives are the candidates that are not relevant.
    O(|T| * n_items): a reference only.

    Parameters
    ----------
    scores : array-like of float
        One score per item index.
    relevant : iterable of int
        The user's test items (not empty).
    exclude : iterable of int, default ()
        Items that are not candidates.

    Returns
    -------
    float
        The AUC; NaN when there is no negative candidate.

    Raises
    ------
    InvalidParameterError
        When ``relevant`` is empty or all excluded.
    """
    scores = np.asarray(scores, dtype=np.float64)
    banned = set(int(i) for i in exclude)
    pos = [i for i in _check_relevant(relevant) if i not in banned]
    if not pos:
        raise InvalidParameterError("every relevant item is excluded: the metric is undefined")
    pos_set = set(pos)
    neg = [i for i in range(len(scores)) if i not in banned and i not in pos_set]
    if not neg:
        return float("nan")
    correct = 0.0
    for t in pos:
        for n in neg:
            correct += 1.0 if scores[t] > scores[n] else (0.5 if scores[t] == scores[n] else 0.0)
    return correct / (len(pos) * len(neg))


def coverage_at_k(top_lists: Iterable[Sequence[int]], n_items: int) -> float:
    """Compute catalogue coverage: the share of the catalogue items found in the top-K lists.

    Parameters
    ----------
    top_lists : iterable of sequence of int
        Top-K item lists; negative entries (padding) are ignored.
    n_items : int
        The catalogue size.

    Returns
    -------
    float
        The share of the ``n_items`` items that appear in at least one list.
    """
    seen: set[int] = set()
    for lst in top_lists:
        seen.update(int(i) for i in lst if int(i) >= 0)
    return len(seen) / n_items
