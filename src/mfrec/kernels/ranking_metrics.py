"""numba kernels: per-user ranking metrics from a batch of score rows, or from dot-product vectors.

:func:`ranking_metrics_batch` ranks given score rows; :func:`ranking_metrics_dot` computes the
rows itself, one BLAS product per block of users inside each parallel task. Both call the same
per-row code (:func:`_row_metrics`, the bucketed counts), and leave the rare rows it cannot count
(NaN or infinite scores, ties everywhere) to the direct counts afterwards (:func:`_finish_direct`).

The plain-Python reference twins are the per-user functions in ``mfrec.evaluation.metrics``
(precision_at_k, recall_at_k, ndcg_at_k, map_at_k, hit_rate_at_k, reciprocal_rank, auc); the
tests check that this kernel equals them. The exact definitions are documented there.

Ranking convention (shared with ``mfrec.retrieval.top_k_from_scores``): candidates are the items
that are not training items of the user; they are ordered by decreasing score, ties broken by the
lower item index. Rows are independent, so the batch runs in parallel over users
(``mfrec._threads.parallel_for``).
"""
from __future__ import annotations

import numpy as np

from .._threads import parallel_for
from ._jit import kernel
from .top_k import insert_top

#: column order of the per-user output array
METRIC_COLUMNS = ("precision", "recall", "ndcg", "ap", "hit", "rr", "auc")

_TRAIN = 1  # mark of a training item (not a candidate)
_TEST = 2   # mark of a test item that is a candidate

_NAN = 1     # out_bad: a candidate score is NaN
_DIRECT = 2  # out_bad, inside the kernels only: the row needs the direct counts (see _finish_direct)

_ROWS_PER_TASK = 16      # score rows per piece of the parallel loop, at the least
_ITEMS_PER_BUCKET = 16   # histogram buckets of the one-pass AUC: about one per 16 items ...
_MAX_BUCKETS = 4096      # ... at most this many


def ranking_metrics_batch(scores, users, train_indptr, train_indices, test_indptr, test_indices, k,
                          out_metrics, out_top, out_bad):
    """Fill per-user metrics for each score row.

    Parameters
    ----------
    scores : ndarray of float32, shape (b, n_items)
        Scores of all items for users[r].
    users : ndarray of int64, shape (b,)
        The user (row of the train/test CSR matrices) of each score row.
    train_indptr, train_indices : ndarray
        CSR structure of the training items (excluded from ranking).
    test_indptr, test_indices : ndarray
        CSR structure of the test items (test items that are also training items are ignored).
    k : int
        List length K (1 <= K <= n_items).
    out_metrics : ndarray of float64, shape (b, 7)
        Filled: columns METRIC_COLUMNS; NaN where undefined (no test item; auc without any
        negative candidate).
    out_top : ndarray of int32, shape (b, K)
        Filled: the top-K item indices, -1 where fewer than K candidates.
    out_bad : ndarray of uint8, shape (b,), zeros
        Set to 1 where a candidate score is NaN.
    """
    idcg = _ideal_dcg(k)
    parallel_for(_batch_rows, scores.shape[0], scores, users, train_indptr, train_indices, test_indptr,
                 test_indices, k, idcg, out_metrics, out_top, out_bad, piece=_ROWS_PER_TASK)
    _finish_direct(scores, users, train_indptr, train_indices, test_indptr, test_indices, k,
                   idcg, out_metrics, out_top, out_bad)


@kernel(exact=True)
def _batch_rows(first, stop, scores, users, train_indptr, train_indices, test_indptr, test_indices, k, idcg,
                out_metrics, out_top, out_bad):
    """Rank the score rows first..stop-1 of :func:`ranking_metrics_batch`."""
    scratch = _row_scratch(scores.shape[1], k)
    for r in range(first, stop):
        out_bad[r] = _row_metrics(scores[r], users[r], scratch, train_indptr, train_indices, test_indptr,
                                      test_indices, k, idcg, out_top[r], out_metrics[r])


def ranking_metrics_dot(user_vectors, item_vectors_t, users, train_indptr, train_indices, test_indptr,
                        test_indices, k, block_rows, out_metrics, out_top, out_bad):
    """Fill per-user metrics of dot-product scores, each block scored where it is ranked.

    Like :func:`ranking_metrics_batch` with ``scores = user_vectors[users] @ item_vectors_t``,
    but every task scores its own block of users (one ``np.dot``, a BLAS sgemm, per
    ``block_rows`` users) and ranks the rows while they are in cache. No score matrix of the whole
    batch is written, and the BLAS runs inside the kernel's threads: call it with the BLAS
    limited to one thread (``mfrec._threads.single_threaded_blas``), or BLAS threads and
    kernel threads compete for the cores.

    Parameters
    ----------
    user_vectors : ndarray of float32, shape (n_users, d)
        The users' ranking vectors (rows indexed by ``users``).
    item_vectors_t : ndarray of float32, shape (d, n_items), C-contiguous
        The items' ranking vectors, transposed.
    users, train_indptr, train_indices, test_indptr, test_indices, k
        As in :func:`ranking_metrics_batch`.
    block_rows : int
        Users per np.dot (``mfrec.kernels.top_k.dot_block_rows``).
    out_metrics, out_top, out_bad
        As in :func:`ranking_metrics_batch` (one output row per entry of ``users``).
    """
    n_tasks = (users.shape[0] + block_rows - 1) // block_rows
    idcg = _ideal_dcg(k)
    parallel_for(_dot_blocks, n_tasks, user_vectors, item_vectors_t, users, train_indptr, train_indices, test_indptr,
                 test_indices, k, idcg, block_rows, out_metrics, out_top, out_bad)
    direct = np.flatnonzero(out_bad == _DIRECT)
    if len(direct):  # see _finish_direct; each block is scored again by the same np.dot, one at a time
        _dot_direct_blocks(np.unique(direct // block_rows), user_vectors, item_vectors_t, users, train_indptr,
                           train_indices, test_indptr, test_indices, k, idcg, block_rows, out_metrics, out_top,
                           out_bad)


def _finish_direct(scores, users, train_indptr, train_indices, test_indptr, test_indices, k, idcg, out_metrics,
                   out_top, out_bad):
    """Compute the score rows the bucketed path left to the direct counts (out_bad == _DIRECT), if any.

    Those rows (NaN or infinite scores, all scores equal, no negative candidate) are rare, so
    their kernels (:func:`_direct_rows`, and :func:`_dot_direct_blocks` for the dot path) run
    afterwards, on one thread, and are compiled only by a job that meets one: a second of first
    use that most jobs never pay.
    """
    rows = np.flatnonzero(out_bad == _DIRECT)
    if len(rows) == 0:
        return
    metrics, top = out_metrics[rows], out_top[rows]
    bad = np.zeros(len(rows), dtype=np.uint8)
    _direct_rows(np.ascontiguousarray(scores[rows]), np.ascontiguousarray(users[rows]),
                 train_indptr, train_indices, test_indptr, test_indices, k, idcg, metrics, top, bad)
    out_metrics[rows], out_top[rows], out_bad[rows] = metrics, top, bad


@kernel(exact=True)
def _direct_rows(scores, users, train_indptr, train_indices, test_indptr, test_indices, k, idcg, out_metrics,
                 out_top, out_bad):
    """Compute each score row by the direct counts (:func:`_row_direct`); out_bad[r] = 1 where a score is NaN."""
    mark = np.empty(scores.shape[1], dtype=np.uint8)
    mark[:] = 0  # not np.zeros: see _jit.py
    top_s = np.empty(k, dtype=np.float32)
    for r in range(scores.shape[0]):
        u = users[r]
        _, n_test = _mark_row(mark, u, train_indptr, train_indices, test_indptr, test_indices)
        out_bad[r] = _row_direct(scores[r], u, mark, n_test, test_indptr, test_indices, k, idcg, top_s, out_top[r],
                                 out_metrics[r])
        _unmark_row(mark, u, train_indptr, train_indices, test_indptr, test_indices)


@kernel(exact=True)
def _dot_blocks(first, stop, user_vectors, item_vectors_t, users, train_indptr, train_indices, test_indptr,
                test_indices, k, idcg, block_rows, out_metrics, out_top, out_bad):
    """Score and rank the user blocks first..stop-1 of :func:`ranking_metrics_dot`."""
    n_rows = users.shape[0]
    n_items = item_vectors_t.shape[1]
    scratch = _row_scratch(n_items, k)
    for task in range(first, stop):
        first_row = task * block_rows
        n_block = min(n_rows, first_row + block_rows) - first_row
        scores = _score_block(user_vectors, item_vectors_t, users, first_row, n_block)
        for r in range(n_block):
            row = first_row + r
            out_bad[row] = _row_metrics(scores[r], users[row], scratch, train_indptr, train_indices,
                                        test_indptr, test_indices, k, idcg, out_top[row], out_metrics[row])


@kernel(exact=True, inner=True)
def _score_block(user_vectors, item_vectors_t, users, first_row, n_block):
    """Return the float32 scores of users[first_row:first_row + n_block] against all items: one np.dot (sgemm)."""
    d, n_items = item_vectors_t.shape
    block = np.empty((n_block, d), dtype=np.float32)
    for r in range(n_block):   # element by element: a row assignment would compile numba's
        u = users[first_row + r]   # shape-mismatch message formatting (seconds of first use)
        for f in range(d):
            block[r, f] = user_vectors[u, f]
    scores = np.empty((n_block, n_items), dtype=np.float32)
    np.dot(block, item_vectors_t, scores)
    return scores


@kernel(exact=True)
def _dot_direct_blocks(tasks, user_vectors, item_vectors_t, users, train_indptr, train_indices, test_indptr,
                       test_indices, k, idcg, block_rows, out_metrics, out_top, out_bad):
    """Count the rows of the given user blocks that :func:`_dot_blocks` left to the direct counts.

    Each block is scored again by :func:`_score_block`, the same sgemm on the same rows, so the
    scores are the fused pass's to the bit; one block in memory at a time.
    """
    n_rows = users.shape[0]
    mark = np.empty(item_vectors_t.shape[1], dtype=np.uint8)
    mark[:] = 0  # not np.zeros: see _jit.py
    top_s = np.empty(k, dtype=np.float32)
    for task in tasks:
        first_row = task * block_rows
        n_block = min(n_rows, first_row + block_rows) - first_row
        scores = _score_block(user_vectors, item_vectors_t, users, first_row, n_block)
        for r in range(n_block):
            row = first_row + r
            if out_bad[row] != _DIRECT:
                continue
            u = users[row]
            _, n_test = _mark_row(mark, u, train_indptr, train_indices, test_indptr, test_indices)
            out_bad[row] = _row_direct(scores[r], u, mark, n_test, test_indptr, test_indices, k, idcg, top_s,
                                       out_top[row], out_metrics[row])
            _unmark_row(mark, u, train_indptr, train_indices, test_indptr, test_indices)


@kernel(exact=True)
def _ideal_dcg(k):
    """Return the ideal DCG prefix sums: idcg[m] = sum_{i=1..m} 1 / log2(i + 1)."""
    idcg = np.empty(k + 1, dtype=np.float64)
    idcg[:] = 0  # not np.zeros: see _jit.py
    for i in range(1, k + 1):
        idcg[i] = idcg[i - 1] + 1.0 / np.log2(i + 1.0)
    return idcg


@kernel(exact=True, inner=True)
def _row_scratch(n_items, k):
    """Allocate the scratch memory of one task, reused by its rows (marks are reset after each row)."""
    n_buckets = max(1, min(n_items // _ITEMS_PER_BUCKET, _MAX_BUCKETS))
    mark = np.empty(n_items, dtype=np.uint8)
    mark[:] = 0  # not np.zeros: see _jit.py
    bucket = np.empty(n_items, dtype=np.int32)
    hist = np.empty(n_buckets + 1, dtype=np.int64)   # + the training items' bucket
    first = np.empty(n_buckets + 1, dtype=np.int64)
    last = np.empty(n_buckets + 1, dtype=np.int64)
    top_s = np.empty(k, dtype=np.float32)          # the scores are float32
    shared = np.empty(n_items, dtype=np.int32)      # items sharing a bucket with a test score
    return mark, bucket, hist, first, last, top_s, shared


@kernel(exact=True, inner=True)
def _row_metrics(row, u, scratch, train_indptr, train_indices, test_indptr, test_indices, k, idcg,
                 top_i, out):
    """Compute the metrics and the top-K of user u from its score row, in a few cheap passes over the items.

    Returns 0, or _DIRECT (out and top_i not written) where the row needs the direct counts:
    NaN or infinite scores, all scores equal, no test item or no negative candidate.

    Each pass over all items is either vectorized or one load and one increment per item.
    The candidates' ranks are counted with a histogram of monotone score buckets: every
    candidate in a lower bucket than a test score v is below v, every one in a higher bucket is
    above it, and only the candidates sharing v's bucket (listed in ``shared``) are compared
    with v one by one. The counts are exactly those of _row_direct (same ties), at the cost of
    one pass instead of one pass per distinct test score. hist has one bucket more than the
    scores use: the training items' (not candidates, never counted). One function, not a
    dispatcher calling a counting function: each level of calls costs numba a compile of its
    own on first use (_jit.py).
    """
    mark, bucket, hist, first, last, top_s, shared = scratch
    n_items = row.shape[0]
    n_buckets = hist.shape[0] - 1
    n_train, n_test = _mark_row(mark, u, train_indptr, train_indices, test_indptr, test_indices)
    n_cand = n_items - n_train
    lo, hi, finite = _finite_range(row)
    # scale in float64 first: a span too wide (overflow of hi - lo in float32) or too
    # narrow (an infinite scale) for float32 bucketing takes the direct path
    scale = n_buckets / (np.float64(hi) - np.float64(lo)) if finite and lo < hi else 0.0
    if not (1e-30 < scale < 1e30 and np.float64(hi) - np.float64(lo) < 1e38 and 0 < n_test < n_cand):
        _unmark_row(mark, u, train_indptr, train_indices, test_indptr, test_indices)
        return _DIRECT
    scale32 = np.float32(scale)
    top = np.int32(len(hist) - 2)
    train_bucket = np.int32(len(hist) - 1)
    # bucket of every item (vectorized), then the training items moved to their own bucket
    for j in range(n_items):
        bucket[j] = min(np.int32((row[j] - lo) * scale32), top)
    for p in range(train_indptr[u], train_indptr[u + 1]):
        bucket[train_indices[p]] = train_bucket
    # test scores, ascending, and each bucket's range [first, last) in that order
    test_s = np.empty(n_test, dtype=np.float32)
    best = -1
    best_s = row[0]
    t = 0
    for p in range(test_indptr[u], test_indptr[u + 1]):
        j = test_indices[p]
        if mark[j] == _TEST:
            s = row[j]
            test_s[t] = s
            t += 1
            if best < 0 or s > best_s or (s == best_s and j < best):
                best = j  # highest-scored test item, lowest index among ties
                best_s = s
    _heap_sort(test_s)
    hist[:] = 0
    first[:] = -1
    for t in range(n_test):
        b = _bucket(test_s[t], lo, scale32, top)
        if first[b] < 0:
            first[b] = t
        last[b] = t + 1
    first[train_bucket] = -1
    b_best = _bucket(best_s, lo, scale32, top)
    # twice_below[t] = 2 #(same-bucket candidates < test_s[t]) + #(same-bucket candidates == it)
    twice_below = np.empty(n_test, dtype=np.int64)
    twice_below[:] = 0  # not np.zeros: see _jit.py
    above_best = 0    # same-bucket candidates scored above the best test item
    tied_before = 0   # same-bucket candidates tied with it at a lower index
    # the histogram, and the items sharing a bucket with a test score listed without a branch
    # (a branch taken for a few % of the items, at random, cost more than the whole pass)
    n_shared = 0
    for j in range(n_items):
        b = bucket[j]
        hist[b] += 1
        shared[n_shared] = j
        n_shared += first[b] >= 0
    for q in range(n_shared):
        j = shared[q]
        b = bucket[j]
        s = row[j]
        for t in range(first[b], last[b]):
            v = test_s[t]
            twice_below[t] += 2 * (s < v) + (s == v)
        if b == b_best:
            above_best += s > best_s
            tied_before += (s == best_s) and j < best
    # top-K by insertion; the cheap score test first (scores are finite: -inf lets every
    # candidate in until the list is full)
    count = np.int64(0)
    thresh = -np.inf
    for j in range(n_items):
        s = row[j]
        if s > thresh and mark[j] != _TRAIN:
            count = insert_top(top_i, top_s, count, k, j, s)
            if count == k:
                thresh = top_s[k - 1]
    for pos in range(count, k):
        top_i[pos] = -1
    _top_metrics(top_i, count, mark, k, n_test, idcg, out)
    # hist -> number of candidates in lower buckets
    n_buckets = top + 1
    below = 0
    for b in range(n_buckets):
        h = hist[b]
        hist[b] = below
        below += h
    # reciprocal rank of the best test item: rank = 1 + #(cand > best_s) + #(cand == best_s before best)
    in_higher = n_cand - (hist[b_best + 1] if b_best + 1 < n_buckets else n_cand)
    out[5] = 1.0 / (1.0 + in_higher + above_best + tied_before)
    # AUC: sum over test scores v of (#cand < v + 1/2 #cand == v) counts every (test, negative)
    # pair rightly ordered (ties 1/2), plus the test-vs-test pairs, which add n_test^2 / 2
    total = 0
    for t in range(n_test):
        total += 2 * hist[_bucket(test_s[t], lo, scale32, top)] + twice_below[t]
    correct = 0.5 * (total - n_test * n_test)
    out[6] = correct / (n_test * float(n_cand - n_test))
    _unmark_row(mark, u, train_indptr, train_indices, test_indptr, test_indices)
    return 0


@kernel(exact=True, inner=True)
def _mark_row(mark, u, train_indptr, train_indices, test_indptr, test_indices):
    """Mark user u's training items _TRAIN and its other test items _TEST; return (n_train, n_test)."""
    # counters start as np.int64(0), not 0: a literal 0 would have numba compile every callee they
    # are passed to twice, once for the type Literal[int](0) (see _jit.py)
    n_train = np.int64(0)
    for p in range(train_indptr[u], train_indptr[u + 1]):
        j = train_indices[p]
        if mark[j] != _TRAIN:
            mark[j] = _TRAIN
            n_train += 1
    n_test = np.int64(0)
    for p in range(test_indptr[u], test_indptr[u + 1]):
        j = test_indices[p]
        if mark[j] == 0:
            mark[j] = _TEST
            n_test += 1
    return n_train, n_test


@kernel(exact=True, inner=True)
def _unmark_row(mark, u, train_indptr, train_indices, test_indptr, test_indices):
    """Reset the marks of :func:`_mark_row` to 0 for the next row."""
    for p in range(train_indptr[u], train_indptr[u + 1]):
        mark[train_indices[p]] = 0
    for p in range(test_indptr[u], test_indptr[u + 1]):
        mark[test_indices[p]] = 0


@kernel(exact=True, inner=True)
def _order_key(bits):
    """Map the bits of a float32 to an int32 with the same order (-0.0 just below +0.0).

    Negative floats (sign bit set) have their other bits flipped, so that a larger magnitude
    gives a smaller key; the map is its own inverse. NaNs map beyond +-inf (the caller counts them).
    """
    return np.int32(bits ^ ((bits >> np.int32(31)) & np.int32(0x7FFFFFFF)))


@kernel(exact=True, inner=True)
def _finite_range(row):
    """Return (min, max, all finite) of a float32 score row, in one branch-free pass.

    The min and max are taken over the rows' order keys (integers): LLVM vectorizes an integer
    min/max reduction, but not a float one without fast-math (about 4x faster here). NaN
    (``v != v``) is counted; with any NaN the bounds are not used (all finite is False).
    """
    bits = row.view(np.int32)
    lo = np.int32(0x7FFFFFFF)
    hi = np.int32(-0x80000000)
    n_nan = 0
    for j in range(len(row)):
        key = _order_key(bits[j])
        lo = min(lo, key)
        hi = max(hi, key)
        v = row[j]
        n_nan += v != v
    bounds = np.array([_order_key(lo), _order_key(hi)], dtype=np.int32).view(np.float32)
    lo_s, hi_s = bounds[0], bounds[1]
    return lo_s, hi_s, n_nan == 0 and lo_s > -np.inf and hi_s < np.inf


@kernel(exact=True, inner=True)
def _bucket(s, lo, scale, top):
    """Return the bucket of score s: floor((s - lo) * scale) in float32, clipped to top.

    Monotone non-decreasing in s (each rounding step is), so a lower bucket only holds lower scores.
    """
    return min(np.int32((s - lo) * scale), top)


@kernel(exact=True, inner=True)
def _top_metrics(top_i, count, mark, k, n_test, idcg, out):
    """Write precision, recall, nDCG, AP and hit of the top-K list top_i[:count] into out[0:5]."""
    hits = 0
    dcg = 0.0
    ap = 0.0
    for pos in range(count):
        if mark[top_i[pos]] == _TEST:
            hits += 1
            dcg += 1.0 / np.log2(pos + 2.0)      # rank i = pos + 1: 1 / log2(i + 1)
            ap += hits / (pos + 1.0)             # precision at rank i, summed at hits
    m = min(n_test, k)
    out[0] = hits / k                            # precision@K
    out[1] = hits / n_test                       # recall@K
    out[2] = dcg / idcg[m]                       # nDCG@K
    out[3] = ap / m                              # AP@K
    out[4] = 1.0 if hits > 0 else 0.0            # hit@K


@kernel(exact=True, inner=True)
def _row_direct(row, u, mark, n_test, test_indptr, test_indices, k, idcg, top_s, top_i, out):
    """Compute the metrics of one row by direct counts (one pass per distinct test score for the AUC).

    Handles every case (NaN/inf scores, ties everywhere, no test item). Returns 1 where a
    candidate score is NaN (metrics NaN), else 0.
    """
    n_items = len(row)
    # cand: the row with training items set to NaN, which compares false with everything, so
    # counting cand > x or cand == x counts candidates only (the -inf of the docs, in effect)
    cand = row.copy()
    for j in range(n_items):
        if mark[j] == _TRAIN:
            cand[j] = np.nan
    # ---- one pass: NaN check, top-K by insertion, best test item, candidate count
    count = np.int64(0)
    thresh = -np.inf   # the K-th score once the list is full (-inf scores enter while it is not)
    n_cand = np.int64(0)
    best = np.int64(-1)
    best_s = row[0]    # a placeholder of the row's dtype: best < 0 marks it unset
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
        if count < k or s > thresh:
            count = insert_top(top_i, top_s, count, k, j, s)
            if count == k:
                thresh = top_s[k - 1]
    for pos in range(count, k):
        top_i[pos] = -1
    if bad or n_test == 0:
        for c in range(7):
            out[c] = np.nan
        return 1 if bad else 0
    _top_metrics(top_i, count, mark, k, n_test, idcg, out)
    # ---- reciprocal rank of the best test item in the full candidate ranking:
    # rank = 1 + #(cand > best_s) + #(cand == best_s before index best)
    above, _ = _count_above_equal(cand, best_s, n_items)
    _, tied_before = _count_above_equal(cand, best_s, best)
    out[5] = 1.0 / (1.0 + above + tied_before)
    # ---- AUC over (test, negative) pairs, ties 1/2. For a test score v:
    # negatives above v = candidates above v - test items above v (same for ties), and
    # correct pairs = negatives below v + 1/2 negatives tied with v.
    n_neg = n_cand - n_test
    if n_neg == 0:
        out[6] = np.nan
        return 0
    test_s = np.empty(n_test, dtype=np.float32)
    t = 0
    for p in range(test_indptr[u], test_indptr[u + 1]):
        j = test_indices[p]
        if mark[j] == _TEST:
            test_s[t] = row[j]
            t += 1
    _heap_sort(test_s)
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
    out[6] = correct / (n_test * float(n_neg))
    return 0


@kernel(exact=True, inner=True)
def _heap_sort(a):
    """Sort a (no NaN) ascending in place: heapsort (Williams 1964), O(n log n) worst case.

    Instead of ``a.sort()``, whose quicksort numba compiles from four functions (about 1 s of
    first use); the test scores of one user are few, so speed hardly matters here.
    """
    n = len(a)
    for end in range(n, 0, -1):
        first = n // 2 - 1 if end == n else 0   # heapify once, then sift only the new root
        for start in range(first, -1, -1):
            root = start
            while 2 * root + 1 < end:           # sift a[root] down the max-heap a[:end]
                child = 2 * root + 1
                if child + 1 < end and a[child] < a[child + 1]:
                    child += 1
                if a[root] >= a[child]:
                    break
                a[root], a[child] = a[child], a[root]
                root = child
        a[0], a[end - 1] = a[end - 1], a[0]


@kernel(exact=True, inner=True)
def _count_above_equal(a, x, stop):
    """Count (#(a[:stop] > x), #(a[:stop] == x)); NaN entries count in neither.

    A branch-free loop that LLVM vectorizes: this is the hot loop of the AUC.
    """
    above = np.int64(0)
    equal = np.int64(0)
    for j in range(stop):
        v = a[j]
        above += v > x
        equal += v == x
    return above, equal
