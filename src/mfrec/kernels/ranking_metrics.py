"""numba kernel: per-user ranking metrics from a batch of score rows.

The plain-Python reference twins are the per-user functions in ``mfrec.evaluation.metrics``
(precision_at_k, recall_at_k, ndcg_at_k, map_at_k, hit_rate_at_k, reciprocal_rank, auc); the
tests check that this kernel equals them. The exact definitions are documented there.

Ranking convention (shared with ``mfrec.retrieval.top_k_from_scores``): candidates are the items
that are not training items of the user; they are ordered by decreasing score, ties broken by the
lower item index. Rows are independent, so the batch runs in parallel over users (prange).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

#: column order of the per-user output array
METRIC_COLUMNS = ("precision", "recall", "ndcg", "ap", "hit", "rr", "auc")

_TRAIN = 1  # mark of a training item (not a candidate)
_TEST = 2   # mark of a test item that is a candidate


@njit(cache=True, nogil=True, parallel=True)
def ranking_metrics_batch(scores, users, train_indptr, train_indices, test_indptr, test_indices, k,
                          out_metrics, out_top, out_bad):
    """Fill per-user metrics for each score row.

    scores      (b, n_items) float32: scores of all items for users[r]
    users       (b,) int64: the user (row of the train/test CSR matrices) of each score row
    train_*     CSR structure of the training items (excluded from ranking)
    test_*      CSR structure of the test items (test items that are also training items are ignored)
    k           list length K (1 <= K <= n_items)
    out_metrics (b, 7) float64, columns METRIC_COLUMNS; NaN where undefined (no test item; auc
                without any negative candidate)
    out_top     (b, K) int32: the top-K item indices, -1 where fewer than K candidates
    out_bad     (b,) uint8: set to 1 where a candidate score is NaN
    """
    n_rows, n_items = scores.shape
    # ideal DCG prefix sums: idcg[m] = sum_{i=1..m} 1 / log2(i + 1)
    idcg = np.zeros(k + 1)
    for i in range(1, k + 1):
        idcg[i] = idcg[i - 1] + 1.0 / np.log2(i + 1.0)
    for r in prange(n_rows):
        u = users[r]
        row = scores[r]
        mark = np.zeros(n_items, dtype=np.uint8)
        # cand: the row with training items set to NaN, which compares false with everything, so
        # counting cand > x or cand == x counts candidates only (the -inf of the docs, in effect)
        cand = row.copy()
        for p in range(train_indptr[u], train_indptr[u + 1]):
            j = train_indices[p]
            mark[j] = _TRAIN
            cand[j] = np.nan
        n_test = 0
        for p in range(test_indptr[u], test_indptr[u + 1]):
            j = test_indices[p]
            if mark[j] == 0:
                mark[j] = _TEST
                n_test += 1
        # ---- one pass: NaN check, top-K by insertion, best test item, candidate count
        top_i = out_top[r]
        top_s = np.empty(k, dtype=np.float64)
        count = 0
        n_cand = 0
        best = -1
        best_s = -np.inf
        bad = False
        for j in range(n_items):
            if mark[j] == _TRAIN:
                continue
            s = row[j]
            if s != s:
                bad = True
                break
            n_cand += 1
            if mark[j] == _TEST and (best < 0 or s > best_s):
                best = j  # highest-scored test item, lowest index among ties (j ascends)
                best_s = s
            # items arrive in increasing index, so an equal score never displaces an earlier item
            if count < k:
                pos = count
                count += 1
            elif s > top_s[k - 1]:
                pos = k - 1
            else:
                continue
            while pos > 0 and top_s[pos - 1] < s:
                top_s[pos] = top_s[pos - 1]
                top_i[pos] = top_i[pos - 1]
                pos -= 1
            top_s[pos] = s
            top_i[pos] = j
        for pos in range(count, k):
            top_i[pos] = -1
        if bad or n_test == 0:
            out_bad[r] = 1 if bad else 0
            for c in range(7):
                out_metrics[r, c] = np.nan
            continue
        # ---- metrics of the top-K list
        hits = 0
        dcg = 0.0
        ap = 0.0
        for pos in range(count):
            if mark[top_i[pos]] == _TEST:
                hits += 1
                dcg += 1.0 / np.log2(pos + 2.0)      # rank i = pos + 1: 1 / log2(i + 1)
                ap += hits / (pos + 1.0)             # precision at rank i, summed at hits
        m = min(n_test, k)
        out_metrics[r, 0] = hits / k                 # precision@K
        out_metrics[r, 1] = hits / n_test            # recall@K
        out_metrics[r, 2] = dcg / idcg[m]            # nDCG@K
        out_metrics[r, 3] = ap / m                   # AP@K
        out_metrics[r, 4] = 1.0 if hits > 0 else 0.0  # hit@K
        # ---- reciprocal rank of the best test item in the full candidate ranking:
        # rank = 1 + #(cand > best_s) + #(cand == best_s before index best)
        above, _ = _count_above_equal(cand, best_s, n_items)
        _, tied_before = _count_above_equal(cand, best_s, best)
        out_metrics[r, 5] = 1.0 / (1.0 + above + tied_before)
        # ---- AUC over (test, negative) pairs, ties 1/2. For a test score v:
        # negatives above v = candidates above v - test items above v (same for ties), and
        # correct pairs = negatives below v + 1/2 negatives tied with v.
        n_neg = n_cand - n_test
        if n_neg == 0:
            out_metrics[r, 6] = np.nan
            continue
        test_s = np.empty(n_test, dtype=cand.dtype)
        t = 0
        for p in range(test_indptr[u], test_indptr[u + 1]):
            j = test_indices[p]
            if mark[j] == _TEST:
                test_s[t] = row[j]
                t += 1
        test_s.sort()
        correct = 0.0
        q = 0
        while q < n_test:
            v = test_s[q]
            q_end = q + 1                            # test_s[q:q_end] == v (sorted runs)
            while q_end < n_test and test_s[q_end] == v:
                q_end += 1
            cand_above, cand_tied = _count_above_equal(cand, v, n_items)
            neg_above = cand_above - (n_test - q_end)
            neg_tied = cand_tied - (q_end - q)
            neg_below = n_neg - neg_above - neg_tied
            correct += (q_end - q) * (neg_below + 0.5 * neg_tied)
            q = q_end
        out_metrics[r, 6] = correct / (n_test * float(n_neg))


@njit(cache=True, nogil=True)
def _count_above_equal(a, x, stop):
    """(#(a[:stop] > x), #(a[:stop] == x)); NaN entries count in neither. A branch-free loop
    that LLVM vectorizes: this is the hot loop of the AUC."""
    above = np.int64(0)
    equal = np.int64(0)
    for j in range(stop):
        v = a[j]
        above += v > x
        equal += v == x
    return above, equal
