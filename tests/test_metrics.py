"""Metric definitions (hand-computed toy cases) and the numba fast path against the references."""
import math

import numpy as np
import pytest
import scipy.sparse as sp

from mfrec.errors import DataError
from mfrec.evaluation.evaluate import ranking_metrics
from mfrec.evaluation.metrics import (auc, coverage_at_k, hit_rate_at_k, mae, map_at_k, ndcg_at_k, precision_at_k,
                                      rank_candidates, recall_at_k, reciprocal_rank, rmse)


# ---------------------------------------------------------------------- rating metrics
def test_rmse_mae_hand_computed():
    # errors: 2-1 = 1, 2-2 = 0, 5-3 = 2 -> squared 1, 0, 4 -> MSE 5/3, RMSE sqrt(5/3); MAE (1+0+2)/3 = 1
    assert rmse([1, 2, 3], [2, 2, 5]) == pytest.approx(math.sqrt(5 / 3))
    assert mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)
    assert rmse([4.0], [4.0]) == 0.0


@pytest.mark.parametrize("fn", [rmse, mae])
def test_rating_metric_checks(fn):
    with pytest.raises(DataError, match="y_true has 2 values but y_pred has 3"):
        fn([1, 2], [1, 2, 3])
    with pytest.raises(DataError, match="empty"):
        fn([], [])
    with pytest.raises(DataError, match=r"y_pred\[1\] is nan"):
        fn([1, 2], [1, float("nan")])
    with pytest.raises(DataError, match=r"y_true\[0\] is inf"):
        fn([float("inf"), 2], [1, 2])


# ---------------------------------------------------------------------- ranking references
RANKED = [3, 1, 4, 0, 2, 5]
RELEVANT = {1, 2}


def test_ranking_references_k3():
    # top-3 = [3, 1, 4], rel = [0, 1, 0]: one hit at rank 2
    assert precision_at_k(RANKED, RELEVANT, 3) == pytest.approx(1 / 3)      # 1 hit / K=3
    assert recall_at_k(RANKED, RELEVANT, 3) == pytest.approx(1 / 2)         # 1 hit / |T|=2
    assert hit_rate_at_k(RANKED, RELEVANT, 3) == 1.0
    # DCG = 1/log2(3) = 0.63093; IDCG = 1/log2(2) + 1/log2(3) = 1.63093 -> 0.38685
    assert ndcg_at_k(RANKED, RELEVANT, 3) == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert ndcg_at_k(RANKED, RELEVANT, 3) == pytest.approx(0.386853, abs=1e-6)
    # AP@3 = (P@2 = 1/2) / min(|T|=2, K=3) = 0.25
    assert map_at_k(RANKED, RELEVANT, 3) == pytest.approx(0.25)
    # first relevant item at rank 2
    assert reciprocal_rank(RANKED, RELEVANT) == pytest.approx(0.5)


def test_ranking_references_k5():
    # top-5 = [3, 1, 4, 0, 2], rel = [0, 1, 0, 0, 1]: hits at ranks 2 and 5
    assert precision_at_k(RANKED, RELEVANT, 5) == pytest.approx(2 / 5)
    assert recall_at_k(RANKED, RELEVANT, 5) == pytest.approx(1.0)
    # DCG = 1/log2(3) + 1/log2(6) = 0.63093 + 0.38685 = 1.01778; / 1.63093 = 0.62405
    assert ndcg_at_k(RANKED, RELEVANT, 5) == pytest.approx(0.624050, abs=1e-6)
    # AP@5 = (P@2 + P@5) / 2 = (1/2 + 2/5) / 2 = 0.45
    assert map_at_k(RANKED, RELEVANT, 5) == pytest.approx(0.45)


def test_ranking_references_misses_and_perfect():
    assert precision_at_k([0, 3], {1}, 2) == 0.0
    assert hit_rate_at_k([0, 3], {1}, 2) == 0.0
    assert ndcg_at_k([0, 3], {1}, 2) == 0.0
    assert map_at_k([0, 3], {1}, 2) == 0.0
    assert reciprocal_rank([0, 3], {1}) == 0.0
    # all hits on top: nDCG = 1, AP = 1 (normalised by min(|T|=3, K=2) = 2: (1/1 + 2/2) / 2)
    assert ndcg_at_k([1, 2, 0], {1, 2, 7}, 2) == pytest.approx(1.0)
    assert map_at_k([1, 2, 0], {1, 2, 7}, 2) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="empty"):
        precision_at_k([1], set(), 1)


def test_rank_candidates_ties_and_exclusion():
    # scores 1, 2, 2, 0 with item 1 excluded: item 2 (2.0), then 0 (1.0), then 3 (0.0)
    assert rank_candidates([1.0, 2.0, 2.0, 0.0], exclude=[1]).tolist() == [2, 0, 3]
    # a tie is broken by the lower index
    assert rank_candidates([5.0, 5.0, 5.0]).tolist() == [0, 1, 2]


def test_auc_hand_computed():
    # candidates = items 1..4 (item 0 excluded); positive 1 (0.5); negatives 2 (0.5), 3 (0.1), 4 (0.7)
    # pairs: tie -> 1/2, above 0.1 -> 1, below 0.7 -> 0: (0.5 + 1 + 0) / 3 = 0.5
    assert auc([0.9, 0.5, 0.5, 0.1, 0.7], {1}, exclude={0}) == pytest.approx(0.5)
    # two positives {0, 4} of [0.9, 0.5, 0.5, 0.1, 0.7], no exclusion: negatives 1, 2, 3
    # 0.9 beats all three (3), 0.7 beats all three (3): 6 / 6 = 1
    assert auc([0.9, 0.5, 0.5, 0.1, 0.7], {0, 4}) == pytest.approx(1.0)
    # no negative candidate: undefined
    assert math.isnan(auc([0.3, 0.2], {0}, exclude={1}))


def test_coverage_hand_computed():
    # items 0, 1, 2 appear out of 5 -> 3/5; -1 (padding) ignored
    assert coverage_at_k([[0, 1], [1, 2, -1]], 5) == pytest.approx(0.6)


# ---------------------------------------------------------------------- the fast path
def _csr(rows, n_users, n_items):
    data, cols, indptr = [], [], [0]
    for u in range(n_users):
        items = sorted(rows.get(u, []))
        cols += items
        data += [1.0] * len(items)
        indptr.append(len(cols))
    return sp.csr_matrix((np.array(data, dtype=np.float32), np.array(cols, dtype=np.int32), indptr),
                         shape=(n_users, n_items))


def test_fast_path_toy_by_hand():
    # 3 users x 6 items; scores shared by all users: item 5 best ... item 0 worst
    scores = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], dtype=np.float32)
    train = _csr({0: [5], 1: [0], 2: [1]}, 3, 6)
    test = _csr({0: [4, 1], 1: [2]}, 3, 6)          # user 2 has no test item: skipped
    res = ranking_metrics(lambda idx: np.tile(scores, (len(idx), 1)), train, test, k=2, per_user=True)
    # user 0: item 5 is a training item, so the ranking is 4, 3, 2, 1, 0; top-2 = [4, 3]
    #   hits 1 -> P = 1/2, R = 1/2, HR = 1, nDCG = 1 / (1 + 1/log2 3), AP = 1/min(2,2) * 1 = 0.5,
    #   RR = 1 (item 4 first); AUC: test {4, 1} vs negatives {3, 2, 0}: 4 beats all 3, 1 beats only 0 -> 4/6
    # user 1: ranking 5, 4, 3, 2, 1; top-2 = [5, 4] -> no hit; P = R = nDCG = AP = HR = 0;
    #   RR = 1/4 (item 2 at rank 4); AUC: 2 vs negatives {5, 4, 3, 1}: beats 1 only -> 1/4
    assert res["users"] == 2
    assert res["per_user"]["user"].tolist() == [0, 1]
    assert res["per_user"]["top@2"].tolist() == [[4, 3], [5, 4]]
    assert res["precision@2"] == pytest.approx((0.5 + 0) / 2)
    assert res["recall@2"] == pytest.approx((0.5 + 0) / 2)
    assert res["hit_rate@2"] == pytest.approx(0.5)
    assert res["ndcg@2"] == pytest.approx((1 / (1 + 1 / math.log2(3))) / 2)
    assert res["map@2"] == pytest.approx(0.25)
    assert res["mrr"] == pytest.approx((1 + 0.25) / 2)
    assert res["auc"] == pytest.approx((4 / 6 + 1 / 4) / 2)
    # items in some top-2 list: 3, 4, 5 -> 3/6
    assert res["coverage@2"] == pytest.approx(0.5)
    assert res["k"] == 2 and res["test_pairs_in_train"] == 0


def test_fast_path_ties_broken_by_lower_index():
    # all scores equal: ranking = item order; test item 2 of user 0 is at rank 3 (items 0, 1 first)
    # AUC: all 5 negatives tied with the positive -> 1/2
    train = _csr({}, 1, 6)
    test = _csr({0: [2]}, 1, 6)
    res = ranking_metrics(lambda idx: np.zeros((len(idx), 6), dtype=np.float32), train, test, k=3, per_user=True)
    assert res["per_user"]["top@3"].tolist() == [[0, 1, 2]]
    assert res["precision@3"] == pytest.approx(1 / 3)
    assert res["mrr"] == pytest.approx(1 / 3)
    assert res["ndcg@3"] == pytest.approx(1 / math.log2(4))     # hit at rank 3, IDCG = 1
    assert res["map@3"] == pytest.approx(1 / 3)                 # P@3 = 1/3, min(|T|, K) = 1
    assert res["auc"] == pytest.approx(0.5)


def test_fast_path_excludes_training_items():
    rng = np.random.default_rng(3)
    n_users, n_items = 20, 30
    train = _csr({u: list(rng.choice(n_items, 8, replace=False)) for u in range(n_users)}, n_users, n_items)
    test = _csr({u: [int(i) for i in rng.choice(n_items, 3, replace=False) if train[u, i] == 0] or [0]
                 for u in range(n_users)}, n_users, n_items)
    # give training items the highest scores: they must never be ranked
    def score(idx):
        out = rng.random((len(idx), n_items)).astype(np.float32)
        out += 10 * train[idx].toarray()
        return out
    res = ranking_metrics(score, train, test, k=10, per_user=True)
    for row, user in zip(res["per_user"]["top@10"], res["per_user"]["user"]):
        assert not set(row.tolist()) & set(train[user].indices.tolist())
        assert (row >= 0).all()


def test_test_items_in_train_are_ignored_and_users_without_test_items_skipped():
    train = _csr({0: [0, 1], 1: [2]}, 3, 5)
    test = _csr({0: [1, 3], 1: [2]}, 3, 5)   # user 0: item 1 is also training -> T = {3}; user 1: T empty
    res = ranking_metrics(lambda idx: np.tile(np.arange(5, dtype=np.float32), (len(idx), 1)), train, test, k=1,
                          per_user=True)
    # user 0: ranking 4, 3, 2; top-1 = [4] -> miss; RR = 1/2
    assert res["users"] == 1 and res["per_user"]["user"].tolist() == [0]
    assert res["test_pairs_in_train"] == 1
    assert res["recall@1"] == 0.0 and res["mrr"] == pytest.approx(0.5)


def test_k_larger_than_catalogue_is_clipped():
    train = _csr({0: [0]}, 1, 4)
    test = _csr({0: [1]}, 1, 4)
    res = ranking_metrics(lambda idx: np.tile(np.arange(4, dtype=np.float32), (len(idx), 1)), train, test, k=50,
                          per_user=True)
    # K = 4; candidates 3, 2, 1 (item 0 is training): the list holds 3 items and a -1 pad
    assert res["k"] == 4 and "precision@4" in res and "precision@50" not in res
    assert res["per_user"]["top@4"].tolist() == [[3, 2, 1, -1]]
    assert res["precision@4"] == pytest.approx(1 / 4)     # denominator stays K
    assert res["recall@4"] == 1.0
    assert res["coverage@4"] == pytest.approx(3 / 4)


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "10", None])
def test_k_must_be_positive_int(k):
    m = _csr({0: [0]}, 1, 3)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        ranking_metrics(lambda idx: np.zeros((len(idx), 3), np.float32), m, m, k=k)


def test_fast_path_errors():
    train = _csr({0: [0]}, 2, 3)
    test = _csr({0: [1], 1: [2]}, 2, 3)
    zeros = lambda idx: np.zeros((len(idx), 3), np.float32)  # noqa: E731
    with pytest.raises(DataError, match="no user to evaluate"):
        ranking_metrics(zeros, train, _csr({}, 2, 3))
    with pytest.raises(DataError, match="shape"):
        ranking_metrics(zeros, train, _csr({0: [1]}, 2, 4))
    with pytest.raises(ValueError, match=r"score_fn returned shape \(2, 2\)"):
        ranking_metrics(lambda idx: np.zeros((len(idx), 2)), train, test)
    def nan_for_user_1(idx):
        out = np.zeros((len(idx), 3), np.float32)
        out[idx == 1, 2] = np.nan
        return out
    with pytest.raises(ValueError, match="NaN scores for user index 1"):
        ranking_metrics(nan_for_user_1, train, test)
    with pytest.raises(ValueError, match="out of range"):
        ranking_metrics(zeros, train, test, users=[5])
    with pytest.raises(ValueError, match="batch_size"):
        ranking_metrics(zeros, train, test, batch_size=0)
    with pytest.raises(DataError, match="scipy sparse"):
        ranking_metrics(zeros, np.zeros((2, 3)), test)


def test_nan_on_training_item_is_ignored():
    train = _csr({0: [0]}, 1, 3)
    test = _csr({0: [1]}, 1, 3)
    res = ranking_metrics(lambda idx: np.array([[np.nan, 1.0, 0.0]], np.float32), train, test, k=1)
    assert res["precision@1"] == 1.0 and res["auc"] == 1.0


def _reference_per_user(scores, train, test, k):
    """Per-user metrics from the plain-Python references (for users with test items)."""
    out = []
    for u in range(train.shape[0]):
        seen = set(train[u].indices.tolist())
        rel = set(test[u].indices.tolist()) - seen
        if not rel:
            continue
        ranked = rank_candidates(scores[u], exclude=seen)
        out.append((u, [precision_at_k(ranked, rel, k), recall_at_k(ranked, rel, k), ndcg_at_k(ranked, rel, k),
                        map_at_k(ranked, rel, k), hit_rate_at_k(ranked, rel, k), reciprocal_rank(ranked, rel),
                        auc(scores[u], rel, exclude=seen)], ranked[:k]))
    return out


@pytest.mark.parametrize("seed,n_users,n_items,k,tied", [
    (0, 40, 30, 5, False), (1, 25, 50, 10, True), (2, 30, 12, 20, True), (3, 50, 60, 1, False),
    (4, 15, 8, 8, True), (5, 60, 25, 3, True),
])
def test_kernel_equals_references_on_random_data(seed, n_users, n_items, k, tied):
    rng = np.random.default_rng(seed)
    dense_train = rng.random((n_users, n_items)) < 0.25
    dense_test = rng.random((n_users, n_items)) < 0.2      # overlaps with train on purpose
    dense_train[0] = True                                  # a user with no candidate at all
    dense_train[1, :-1] = True                             # one candidate, which is a test item
    dense_test[1, -1] = True
    train, test = sp.csr_matrix(dense_train.astype(np.float32)), sp.csr_matrix(dense_test.astype(np.float32))
    if tied:   # few distinct values -> many ties
        scores = rng.integers(0, 4, size=(n_users, n_items)).astype(np.float32)
    else:
        scores = rng.standard_normal((n_users, n_items)).astype(np.float32)
    res = ranking_metrics(lambda idx: scores[idx], train, test, k=k, per_user=True, batch_size=7)
    K = min(k, n_items)
    ref = _reference_per_user(scores, train, test, K)
    per = res["per_user"]
    assert per["user"].tolist() == [u for u, _, _ in ref]
    names = [f"precision@{K}", f"recall@{K}", f"ndcg@{K}", f"map@{K}", f"hit_rate@{K}", "mrr", "auc"]
    for col, name in enumerate(names):
        expected = np.array([vals[col] for _, vals, _ in ref])
        np.testing.assert_allclose(per[name], expected, rtol=1e-9, atol=1e-12, err_msg=name)
    for row, (_, _, ranked) in zip(per[f"top@{K}"], ref):
        assert row[:len(ranked)].tolist() == list(ranked) and (row[len(ranked):] == -1).all()
    assert res[f"ndcg@{K}"] == pytest.approx(np.mean([v[2] for _, v, _ in ref]))
    assert res["auc"] == pytest.approx(np.nanmean([v[6] for _, v, _ in ref]))
    assert res[f"coverage@{K}"] == pytest.approx(coverage_at_k([r for _, _, r in ref], n_items))
    assert res["test_pairs_in_train"] == int(sum(len(set(test[u].indices) & set(train[u].indices))
                                                 for u, _, _ in ref))


def test_users_restriction_and_batching_do_not_change_results():
    rng = np.random.default_rng(11)
    train = sp.csr_matrix((rng.random((50, 40)) < 0.2).astype(np.float32))
    test = sp.csr_matrix((rng.random((50, 40)) < 0.1).astype(np.float32))
    scores = rng.standard_normal((50, 40)).astype(np.float32)
    full = ranking_metrics(lambda idx: scores[idx], train, test, k=5, per_user=True, threads=1)
    batched = ranking_metrics(lambda idx: scores[idx].astype(np.float64), train, test, k=5, per_user=True,
                              batch_size=3)
    for key in ("precision@5", "ndcg@5", "mrr", "auc", "coverage@5", "users"):
        assert full[key] == batched[key]
    some = full["per_user"]["user"][::2]
    part = ranking_metrics(lambda idx: scores[idx], train, test, k=5, users=some, per_user=True)
    assert part["users"] == len(some)
    np.testing.assert_array_equal(part["per_user"]["ndcg@5"], full["per_user"]["ndcg@5"][::2])


@pytest.mark.slow
def test_ml1m_sized_evaluation():
    """6,040 users x 3,706 items, ~1M interactions 80/20, 64 factors (synthetic, seeded)."""
    rng = np.random.default_rng(0)
    n_users, n_items, nnz = 6040, 3706, 1_000_209
    users = rng.integers(0, n_users, nnz)
    items = (n_items * rng.random(nnz) ** 3).astype(np.int64)          # skewed popularity
    is_test = rng.random(nnz) < 0.2
    ones = np.ones(nnz, np.float32)
    train = sp.csr_matrix((ones[~is_test], (users[~is_test], items[~is_test])), shape=(n_users, n_items))
    test = sp.csr_matrix((ones[is_test], (users[is_test], items[is_test])), shape=(n_users, n_items))
    U = rng.standard_normal((n_users, 64)).astype(np.float32)
    V = rng.standard_normal((n_items, 64)).astype(np.float32)
    # speed is measured in benchmarks/bench_evaluation.py, not asserted here
    res = ranking_metrics(lambda idx: U[idx] @ V.T, train, test, k=10)
    assert res["users"] > 6000 and 0.4 < res["auc"] < 0.6    # random vectors: AUC near 1/2
