"""Sampled-candidates evaluation: each held-out (user, item) pair is ranked among its own negatives.

The pair is ranked among its own list of negative items only, not among the whole catalogue (the
protocol of He et al. 2017, "Neural Collaborative Filtering", for ML-1M and Pinterest: 1 positive
+ 99 sampled negatives).

For a test pair with score s of the positive, its 0-based rank r among the candidates is

    r = #{candidates c : s_c > s} + (ties: how many candidates with s_c == s count as above)

and the metrics, averaged over the test pairs, are

    HR@k   = [r < k]                               (hit ratio)
    NDCG@k = [r < k] * log(2) / log(r + 2)         (one relevant item: ideal DCG = 1)
    MRR    = 1 / (r + 1)                           (no cut-off)

Two details change the numbers and are selectable:

``duplicates`` (the positive, or a negative, listed more than once)
    * ``"collapse"`` (NCF's evaluate.py): candidates are the *distinct* item ids of
      ``negatives + [positive]``; NCF stores scores in a dict keyed by item, so a copy of the
      positive among its negatives (156 of the 6,040 ML-1M test lines) disappears and that user's
      positive is ranked among 99 items.
    * ``"keep"``: every listed negative counts, a copy of the positive too (it then ties with it).

``ties`` (candidates whose score equals the positive's)
    * ``"ncf"``: as NCF's ``heapq.nlargest(k, dict, key=dict.get)``, which is a stable sort of the
      dict in insertion order (negatives in file order, then the positive; a positive already
      among the negatives keeps the place of its first copy): a tied candidate counts as above the
      positive when it comes before it in that order. With ``duplicates="keep"`` the order is the
      list ``negatives + [positive]`` itself.
    * ``"pessimistic"``: every tied candidate counts as above (the positive ranks last among ties).
    * ``"optimistic"``: no tied candidate counts as above.

The default is NCF's: ``duplicates="collapse", ties="ncf"``. Sampled metrics can rank models
differently from full-catalogue metrics (Krichene & Rendle 2020, "On Sampled Metrics for Item
Recommendation", KDD); report both.
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError, InvalidParameterError
from ..params import Integer, Options, check
from .names import sampled_metric_names

__all__ = ["sampled_ranks", "sampled_metrics", "evaluate_sampled", "DUPLICATES", "TIES", "KRICHENE_RENDLE_NOTE"]

DUPLICATES = ("collapse", "keep")
TIES = ("ncf", "pessimistic", "optimistic")

#: one line printed next to sampled metrics
KRICHENE_RENDLE_NOTE = ("sampled metrics (1 positive among sampled negatives) can rank models differently from "
                        "full-catalogue metrics: Krichene & Rendle 2020, \"On Sampled Metrics for Item "
                        "Recommendation\", KDD")


def _check_choice(name: str, value, options) -> None:
    check(name, value, Options(*options))


def sampled_ranks(positive_scores, negative_scores, positive_items=None, negative_items=None, *,
                  duplicates: str = "collapse", ties: str = "ncf") -> np.ndarray:
    """Return the 0-based rank of each positive among its candidates (see the module docstring).

    Parameters
    ----------
    positive_scores : array-like of float, shape (n,)
        Scores of the positives.
    negative_scores : array-like of float, shape (n, m)
        Scores of their listed negatives.
    positive_items, negative_items : array-like, shapes (n,) and (n, m), optional
        Item ids of the same; needed to collapse duplicates (``duplicates="collapse"``); with
        ``"keep"`` they may be omitted.
    duplicates : {"collapse", "keep"}, default "collapse"
        How a candidate listed more than once counts (see the module docstring).
    ties : {"ncf", "pessimistic", "optimistic"}, default "ncf"
        How candidates scored like the positive count (see the module docstring).

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        The rank of each positive.

    Raises
    ------
    InvalidParameterError
        When the shapes do not match, an option is unknown, or ``"collapse"`` lacks the item ids.
    DataError
        When a score is NaN.
    """
    _check_choice("duplicates", duplicates, DUPLICATES)
    _check_choice("ties", ties, TIES)
    pos = np.asarray(positive_scores, dtype=np.float64)
    neg = np.asarray(negative_scores, dtype=np.float64)
    if pos.ndim != 1 or neg.ndim != 2 or neg.shape[0] != pos.shape[0]:
        raise InvalidParameterError("positive_scores must be (n,) and negative_scores (n, m); "
                                    f"got {pos.shape} and {neg.shape}")
    if np.isnan(pos).any() or np.isnan(neg).any():
        raise DataError("sampled evaluation: the model produced NaN scores")
    n, m = neg.shape
    counted = np.ones((n, m), dtype=bool)        # which listed negatives are candidates
    before = np.ones((n, m), dtype=bool)         # ... and come before the positive in NCF's order
    if duplicates == "collapse":
        if positive_items is None or negative_items is None:
            raise InvalidParameterError("duplicates='collapse' needs positive_items and negative_items")
        pitems = np.asarray(positive_items).reshape(n, 1)
        nitems = np.asarray(negative_items)
        if nitems.shape != (n, m):
            raise InvalidParameterError(f"negative_items must have shape {(n, m)}, got {nitems.shape}")
        # first occurrence of each id in its row: later copies are not candidates
        order = np.argsort(nitems, axis=1, kind="stable")
        sorted_ids = np.take_along_axis(nitems, order, axis=1)
        repeat = np.zeros((n, m), dtype=bool)
        repeat[:, 1:] = sorted_ids[:, 1:] == sorted_ids[:, :-1]
        first = np.ones((n, m), dtype=bool)
        np.put_along_axis(first, order, ~repeat, axis=1)
        is_pos = nitems == pitems
        counted = first & ~is_pos                  # the positive's copy merges into the positive
        # the positive takes the place of its first copy when it has one (dict insertion order)
        pos_place = np.where(is_pos.any(axis=1), np.argmax(is_pos, axis=1), m)
        before = np.arange(m)[None, :] < pos_place[:, None]
    above = (neg > pos[:, None]) & counted
    tied = (neg == pos[:, None]) & counted
    if ties == "pessimistic":
        above |= tied
    elif ties == "ncf":
        above |= tied & before
    return above.sum(axis=1).astype(np.int64)


def sampled_metrics(ranks, k: int = 10) -> dict:
    """Compute HR@k, NDCG@k and MRR (means over pairs) of 0-based ranks.

    Parameters
    ----------
    ranks : array-like of int
        0-based ranks, as :func:`sampled_ranks` returns.
    k : int, default 10
        The cut-off of HR and NDCG.

    Returns
    -------
    dict
        The metrics by name (``hr@k``, ``ndcg@k``, ``mrr``) and ``n_pairs``.

    Raises
    ------
    DataError
        When there are no ranks.
    """
    check("k", k, Integer(1))
    r = np.asarray(ranks, dtype=np.float64)
    if r.size == 0:
        raise DataError("sampled evaluation: no test pairs")
    hit = r < k
    values = (float(hit.mean()),                                                  # HR@k
              float(np.where(hit, np.log(2.0) / np.log(r + 2.0), 0.0).mean()),    # NDCG@k
              float((1.0 / (r + 1.0)).mean()))                                    # MRR
    return {**dict(zip(sampled_metric_names(k), values)), "n_pairs": int(r.size)}


def evaluate_sampled(model, users, items, negatives, k: int = 10, *, duplicates: str = "collapse",
                     ties: str = "ncf", batch_size: int = 1024) -> dict:
    """Score each (user, item) test pair against its row of ``negatives`` with a fitted model.

    Parameters
    ----------
    model : Recommender
        A fitted model.
    users, items : array-like, shape (n,)
        Raw ids (as in the model's id maps) of the n test pairs.
    negatives : array-like, shape (n, m)
        Raw item ids.
    k : int, default 10
        The cut-off of HR and NDCG.
    duplicates : {"collapse", "keep"}, default "collapse"
        How a candidate listed more than once counts (see the module docstring).
    ties : {"ncf", "pessimistic", "optimistic"}, default "ncf"
        How candidates scored like the positive count (see the module docstring).
    batch_size : int, default 1024
        Users scored at once.

    Returns
    -------
    dict
        :func:`sampled_metrics` plus ``mean_candidates`` (candidates per pair after the duplicate
        rule, positive included).

    Raises
    ------
    UnknownIdError
        When an id is unknown to the model.
    InvalidParameterError
        When the shapes do not match.
    """
    model.require_fitted()
    negatives = np.asarray(negatives)
    users = np.asarray(users)
    items = np.asarray(items)
    if negatives.ndim != 2 or negatives.shape[0] != len(users) or len(items) != len(users):
        raise InvalidParameterError("need n users, n items and (n, m) negatives; "
                                    f"got {len(users)}, {len(items)}, {negatives.shape}")
    u = model.user_ids_.indices(users)
    i = model.item_ids_.indices(items)
    neg = model.item_ids_.indices(negatives.ravel()).reshape(negatives.shape)
    pos_scores = np.empty(len(u), dtype=np.float64)
    neg_scores = np.empty(neg.shape, dtype=np.float64)
    for start in range(0, len(u), batch_size):
        sl = slice(start, start + batch_size)
        scores = np.asarray(model.score_users(u[sl]))  # (batch, n_items)
        rows = np.arange(scores.shape[0])[:, None]
        pos_scores[sl] = scores[rows[:, 0], i[sl]]
        neg_scores[sl] = scores[rows, neg[sl]]
    ranks = sampled_ranks(pos_scores, neg_scores, i, neg, duplicates=duplicates, ties=ties)
    out = sampled_metrics(ranks, k)
    if duplicates == "collapse":
        distinct = np.array([len(np.union1d(row, [p])) for row, p in zip(neg, i)])
        out["mean_candidates"] = float(distinct.mean())
    else:
        out["mean_candidates"] = float(neg.shape[1] + 1)
    return out
