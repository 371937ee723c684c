"""numba kernel: top-k items of each score row, excluded items removed, rows in parallel.

The reference is the NumPy path ``mfrec.retrieval.top_k_from_scores`` after masking (excluded
items set to -inf): items ordered by decreasing score, ties broken by the lower item index,
items scored -inf never returned (their slots hold index -1 and score -inf). NaN scores, which
no fitted model produces, rank after every number here.

One pass per row: a candidate enters the sorted top list only if it beats the current k-th
score, so the cost is one comparison per item plus O(k) per insertion.
"""
from __future__ import annotations

import numpy as np

from .._threads import parallel_for
from ._jit import kernel

#: rows handled by one task of the parallel loop (scratch memory is allocated once per task)
ROWS_PER_TASK = 16
#: the most queries scored per np.dot by the fused kernels (top_k_dot, ranking_metrics_dot): enough
#: rows for the sgemm to be efficient ...
DOT_ROWS = 64
#: ... and at most this many scores per task (8 MB of float32), so that a catalogue of millions of
#: items does not make each thread hold 64 full rows
DOT_BLOCK_FLOATS = 1 << 21


def dot_block_rows(n_items: int) -> int:
    """Return the queries per np.dot of the fused kernels for a catalogue of ``n_items``: 1 to DOT_ROWS."""
    return max(1, min(DOT_ROWS, DOT_BLOCK_FLOATS // max(1, int(n_items))))

_FREE = 0
_EXCLUDED = 1


@kernel(exact=True, inner=True)
def insert_top(top_i, top_s, count, k, j, s):
    """Insert item j with score s into the descending list top_s[:count] (capacity k).

    Items arrive in increasing index, so an equal score never displaces an earlier item.
    Returns the new count.
    """
    if count < k:
        pos = count
        count += 1
    elif s > top_s[k - 1]:
        pos = k - 1
    else:
        return count
    while pos > 0 and top_s[pos - 1] < s:
        top_s[pos] = top_s[pos - 1]
        top_i[pos] = top_i[pos - 1]
        pos -= 1
    top_s[pos] = s
    top_i[pos] = j
    return count


def top_k_rows(scores, rows, excl_indptr, excl_indices, blocked, self_items, k, out_idx, out_scores):
    """Fill out_idx / out_scores with the top-k items of each score row.

    Parameters
    ----------
    scores : ndarray of float32, shape (b, n_items)
        The score rows.
    rows : ndarray of int64, shape (b,)
        The row of the exclusion CSR for each score row (ignored when excl_indptr is empty).
    excl_indptr, excl_indices : ndarray
        CSR structure (int64 indptr, int32 indices) of per-row excluded items; an empty indptr
        means no per-row exclusion.
    blocked : ndarray of uint8, shape (n_items,)
        1 = never returned (allowed/banned filters).
    self_items : ndarray of int64, shape (b,)
        The item removed from each row's own list, or an empty array.
    k : int
        1 <= k <= n_items.
    out_idx : ndarray of int32, shape (b, k)
        Filled: the top-k items, -1 where fewer than k candidates remain.
    out_scores : ndarray of float32, shape (b, k)
        Filled: their scores, -inf in the padded slots.
    """
    parallel_for(_top_k_rows_range, scores.shape[0], scores, rows, excl_indptr, excl_indices, blocked, self_items, k,
                 out_idx, out_scores, piece=ROWS_PER_TASK)


@kernel(exact=True)
def _top_k_rows_range(first, stop, scores, rows, excl_indptr, excl_indices, blocked, self_items, k, out_idx,
                      out_scores):
    """Rank the score rows first..stop-1 of :func:`top_k_rows`."""
    mark = blocked.copy()
    top_s = np.empty(k, dtype=np.float32)
    for r in range(first, stop):
        row_top_k(scores[r], r, rows, excl_indptr, excl_indices, blocked, self_items, k, mark, top_s,
                       out_idx[r], out_scores[r])


def top_k_dot(query_vectors, item_vectors, rows, excl_indptr, excl_indices, blocked, self_items, k,
              block_rows, out_idx, out_scores):
    """Fill out_idx / out_scores with the top-k items of each query, scoring each block where it is ranked.

    Like :func:`top_k_rows` with ``scores = query_vectors @ item_vectors.T``, but every
    task scores its own block of ``block_rows`` queries (one ``np.dot``, a BLAS sgemm) and ranks the
    rows while they are in cache. Call it with the BLAS limited to one thread
    (``mfrec._threads.single_threaded_blas``): the BLAS runs inside the kernel's threads.

    Parameters
    ----------
    query_vectors : ndarray of float32, shape (b, d), C-contiguous
        The queries.
    item_vectors : ndarray of float32, shape (n_items, d), C-contiguous
        The items' vectors (multiplied transposed, without a copy: a copy of a large catalogue
        cost more than the product of a small batch).
    rows, excl_indptr, excl_indices, blocked, self_items, k
        As in :func:`top_k_rows`.
    block_rows : int
        Queries per np.dot (:func:`dot_block_rows`).
    out_idx, out_scores
        As in :func:`top_k_rows`.
    """
    n_tasks = (query_vectors.shape[0] + block_rows - 1) // block_rows
    parallel_for(_top_k_dot_blocks, n_tasks, query_vectors, item_vectors, rows, excl_indptr, excl_indices, blocked,
                 self_items, k, block_rows, out_idx, out_scores)


@kernel(exact=True)
def _top_k_dot_blocks(first, stop, query_vectors, item_vectors, rows, excl_indptr, excl_indices, blocked, self_items,
                      k, block_rows, out_idx, out_scores):
    """Score and rank the query blocks first..stop-1 of :func:`top_k_dot`."""
    n_rows = query_vectors.shape[0]
    n_items = item_vectors.shape[0]
    mark = blocked.copy()
    top_s = np.empty(k, dtype=np.float32)
    for task in range(first, stop):
        first_row = task * block_rows
        n_block = min(n_rows, first_row + block_rows) - first_row
        scores = np.empty((n_block, n_items), dtype=np.float32)
        np.dot(query_vectors[first_row:first_row + n_block], item_vectors.T, scores)
        for b in range(n_block):
            r = first_row + b
            row_top_k(scores[b], r, rows, excl_indptr, excl_indices, blocked, self_items, k, mark, top_s,
                       out_idx[r], out_scores[r])


@kernel(exact=True)
def row_top_k(row, r, rows, excl_indptr, excl_indices, blocked, self_items, k, mark, top_s, top_i, out_s):
    """Fill top_i / out_s with the top-k of score row ``row`` (query r); ``mark`` is the task's copy of blocked.

    The per-row step of :func:`top_k_rows` and :func:`top_k_dot`, also called alone for a single
    query (``mfrec.retrieval.top_k``). ``mark`` is restored to ``blocked`` on return.
    """
    n_items = row.shape[0]
    has_excl = len(excl_indptr) > 0
    has_self = len(self_items) > 0
    u = np.int64(0)
    if has_excl:
        u = rows[r]
        for p in range(excl_indptr[u], excl_indptr[u + 1]):
            mark[excl_indices[p]] = _EXCLUDED
    if has_self:
        mark[self_items[r]] = _EXCLUDED
    count = np.int64(0)            # not a literal 0, which numba would specialize insert_top for
    thresh = np.float32(-np.inf)  # the k-th score once the list is full; -inf never enters
    for j in range(n_items):
        s = row[j]
        if s > thresh and mark[j] == _FREE:  # the cheap test first: most items fail it
            count = insert_top(top_i, top_s, count, k, j, s)
            if count == k:
                thresh = top_s[k - 1]
    if count < k:  # NaN-scored items (never > thresh) fill the free slots, in index order
        for j in range(n_items):
            if count == k:
                break
            if mark[j] == _FREE and row[j] != row[j]:
                top_i[count] = j
                top_s[count] = row[j]
                count += 1
    for pos in range(count):
        out_s[pos] = top_s[pos]
    for pos in range(count, k):
        top_i[pos] = -1
        out_s[pos] = -np.inf
    # restore the shared marks for the next row of this task
    if has_excl:
        for p in range(excl_indptr[u], excl_indptr[u + 1]):
            mark[excl_indices[p]] = blocked[excl_indices[p]]
    if has_self:
        mark[self_items[r]] = blocked[self_items[r]]
