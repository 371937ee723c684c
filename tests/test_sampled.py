"""Sampled-candidates evaluation (NCF's HR@k / NDCG@k): maths on hand-built cases, NCF's tie and
duplicate semantics against a line-for-line replica of NCF's evaluate.py loop."""
import heapq
import math

import numpy as np
import pytest

from mfrec.data.interactions import Interactions
from mfrec.errors import DataError
from mfrec.evaluation.sampled import evaluate_sampled, sampled_metrics, sampled_ranks
from mfrec.models.popularity import Popularity


def ranks(pos, neg, pitem=None, nitems=None, **kw):
    pitems = None if pitem is None else np.array([pitem])
    nitems = None if nitems is None else np.array([nitems])
    return int(sampled_ranks(np.array([pos]), np.array([neg]), pitems, nitems, **kw)[0])


def test_strictly_higher_scores_set_the_rank():
    assert ranks(0.5, [0.9, 0.1, 0.7, 0.2], 9, [1, 2, 3, 4]) == 2
    assert ranks(1.0, [0.9, 0.1], 9, [1, 2]) == 0


def test_ties_ncf_pessimistic_optimistic():
    # one negative ties with the positive; NCF's order puts the positive after the negatives
    args = (0.5, [0.9, 0.1, 0.5, 0.2], 9, [1, 2, 3, 4])
    assert ranks(*args, ties="ncf") == 2
    assert ranks(*args, ties="pessimistic") == 2
    assert ranks(*args, ties="optimistic") == 1


def test_a_copy_of_the_positive_among_its_negatives():
    # positive item 7 scored 0.5; negatives 3 (0.5, tie), 7 (its copy: same score), 5 (0.1)
    args = (0.5, [0.5, 0.5, 0.1], 7, [3, 7, 5])
    # collapse: candidates {3, 7, 5}; the positive sits where its copy was, after item 3
    assert ranks(*args, duplicates="collapse", ties="ncf") == 1
    assert ranks(*args, duplicates="collapse", ties="pessimistic") == 1
    assert ranks(*args, duplicates="collapse", ties="optimistic") == 0
    # keep: the copy is a competitor that always ties
    assert ranks(*args, duplicates="keep", ties="ncf") == 2
    assert ranks(*args, duplicates="keep", ties="pessimistic") == 2
    assert ranks(*args, duplicates="keep", ties="optimistic") == 0
    # under "ncf" a tied negative listed AFTER the positive's copy does not count
    assert ranks(0.5, [0.5, 0.5, 0.1], 7, [7, 3, 5], duplicates="collapse", ties="ncf") == 0


def test_repeated_negatives_count_once_when_collapsed():
    args = (0.5, [0.9, 0.9, 0.1], 9, [3, 3, 5])
    assert ranks(*args, duplicates="collapse") == 1
    assert ranks(*args, duplicates="keep") == 2


def test_metrics_of_known_ranks():
    out = sampled_metrics(np.array([0, 1, 9, 10]), k=10)
    assert out["hr@10"] == pytest.approx(3 / 4)
    assert out["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(11)) / 4)
    assert out["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 10 + 1 / 11) / 4)
    assert out["n_pairs"] == 4
    assert sampled_metrics(np.array([0, 1, 9, 10]), k=1)["hr@1"] == pytest.approx(1 / 4)


def _ncf_reference(pos_item, pos_score, neg_items, neg_scores, k):
    """NCF's evaluate.py eval_one_rating, line for line: a dict of scores keyed by item, filled
    in the order negatives + [positive], then heapq.nlargest(k, dict, key=dict.get)."""
    items = list(neg_items) + [pos_item]
    scores = list(neg_scores) + [pos_score]
    map_item_score = {}
    for item, score in zip(items, scores):
        map_item_score[item] = score
    ranklist = heapq.nlargest(k, map_item_score, key=map_item_score.get)
    hr = 1.0 if pos_item in ranklist else 0.0
    ndcg = next((math.log(2) / math.log(i + 2) for i, it in enumerate(ranklist) if it == pos_item), 0.0)
    return hr, ndcg


def test_defaults_reproduce_ncf_evaluate_exactly():
    rng = np.random.default_rng(3)
    n, m, n_items = 400, 30, 60
    item_scores = rng.integers(0, 6, size=(n, n_items)).astype(float)  # integer scores: many ties
    pos_items = rng.integers(0, n_items, size=n)
    neg_items = rng.integers(0, n_items, size=(n, m))  # repeats and copies of the positive happen
    pos_scores = item_scores[np.arange(n), pos_items]
    neg_scores = np.take_along_axis(item_scores, neg_items, axis=1)
    assert (neg_items == pos_items[:, None]).any(axis=1).sum() > 50  # the quirk is exercised
    r = sampled_ranks(pos_scores, neg_scores, pos_items, neg_items)
    ours = sampled_metrics(r, k=10)
    ref = np.array([_ncf_reference(pos_items[j], pos_scores[j], neg_items[j], neg_scores[j], 10) for j in range(n)])
    assert ours["hr@10"] == pytest.approx(ref[:, 0].mean())
    assert ours["ndcg@10"] == pytest.approx(ref[:, 1].mean())
    assert np.array_equal(r < 10, ref[:, 0] == 1)


def test_evaluate_sampled_with_a_fitted_model():
    # item popularity: item 0 seen 3 times, 1 twice, 2 once, 3 and 4 never
    inter = Interactions.from_arrays(["a", "b", "c", "a", "b", "a"], [0, 0, 0, 1, 1, 2])
    inter = Interactions(inter.matrix, inter.user_ids, inter.item_ids, kind="implicit")
    model = Popularity().fit(inter)
    out = evaluate_sampled(model, ["c", "b"], [1, 2], [[0, 2], [0, 1]], k=1)
    # c: item 1 (2) vs items 0 (3), 2 (1) -> rank 1; b: item 2 (1) vs 0 (3), 1 (2) -> rank 2
    assert out["hr@1"] == 0.0 and out["mrr"] == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert out["mean_candidates"] == 3.0


def test_bad_arguments_and_nan_scores():
    with pytest.raises(ValueError, match="ties"):
        sampled_ranks(np.zeros(1), np.zeros((1, 2)), duplicates="keep", ties="random")
    with pytest.raises(ValueError, match="duplicates"):
        sampled_ranks(np.zeros(1), np.zeros((1, 2)), duplicates="drop")
    with pytest.raises(ValueError, match="positive_items"):
        sampled_ranks(np.zeros(1), np.zeros((1, 2)))
    with pytest.raises(DataError, match="NaN"):
        sampled_ranks(np.array([np.nan]), np.zeros((1, 2)), duplicates="keep")
    with pytest.raises(ValueError, match="k must"):
        sampled_metrics(np.zeros(3), k=0)
