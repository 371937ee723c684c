"""One retrieval path for every model: score = query_vectors @ item_vectors.T, filter, top-k.

Models fold biases into their vectors (as RecTools does), e.g. for biased MF
``[mu + b_u, 1, p_u] . [1, b_i, q_i] = mu + b_u + b_i + p_u . q_i``, so this module never needs
to know which model produced the vectors.
"""
from __future__ import annotations

from typing import Iterator, Optional

import numpy as np
import scipy.sparse as sp

from .kernels.csr import csr_structure, read_only
from ._threads import single_threaded_blas
from .kernels.top_k import DOT_ROWS, dot_block_rows, row_top_k, top_k_dot, top_k_rows

#: scores held in memory at once (floats) by a batch of queries scored by NumPy before a kernel
#: (a user's score_fn in evaluation, non-float32 vectors in top_k): 16M floats = 64 MB (620
#: queries x 27k items). Blocks this large keep the switches between BLAS's threads and the
#: kernel's few (see benchmarks/results/evaluation_scale.md). float32 vectors take the fused path
#: instead (kernels.top_k.top_k_dot, kernels.ranking_metrics.ranking_metrics_dot).
SCORE_BLOCK_FLOATS = 1 << 24


def default_batch(n_items: int) -> int:
    """Return the queries per block of scores: about :data:`SCORE_BLOCK_FLOATS` scores.

    Parameters
    ----------
    n_items : int
        Scores per query.

    Returns
    -------
    int
        At least 1.
    """
    return max(1, SCORE_BLOCK_FLOATS // max(1, int(n_items)))

# the kernels' inputs are read-only (kernels.csr.read_only): one compiled signature for every call
_EMPTY_INT64 = read_only(np.zeros(0, dtype=np.int64))
_ZERO_ROW = read_only(np.zeros(1, dtype=np.int64))   # a single query reads row 0 of its one-row exclusion CSR
_EMPTY_INT32 = read_only(np.zeros(0, dtype=np.int32))


def mask_rows(scores: np.ndarray, csr: sp.csr_matrix, rows: np.ndarray) -> None:
    """Set scores[r, j] = -inf for every item j stored in csr row rows[r] (in place).

    Parameters
    ----------
    scores : numpy.ndarray, shape (len(rows), n_items)
        Modified in place.
    csr : scipy.sparse.csr_matrix
        The items to mask, one row per user.
    rows : numpy.ndarray of int
        The csr row of each scores row.
    """
    if len(rows) == 1:  # one query (a server request): plain slicing, no index arithmetic
        row = int(rows[0])
        scores[0, csr.indices[csr.indptr[row]:csr.indptr[row + 1]]] = -np.inf
        return
    starts, ends = csr.indptr[rows], csr.indptr[rows + 1]
    lengths = ends - starts
    if lengths.sum() == 0:
        return
    row_pos = np.repeat(np.arange(len(rows)), lengths)
    # positions of the stored entries of each selected row, concatenated
    offsets = np.repeat(starts - np.cumsum(np.r_[0, lengths[:-1]]), lengths) + np.arange(lengths.sum())
    scores[row_pos, csr.indices[offsets]] = -np.inf


def top_k_from_scores(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the top-k columns of each row, best first.

    Entries scored -inf are never returned: their slots hold index -1 and score -inf. Ties are
    broken by the lower item index, also at the k-th place (argpartition alone keeps an arbitrary
    subset of the items tied there).

    Parameters
    ----------
    scores : numpy.ndarray, shape (n_rows, n_cols)
        The scores.
    k : int
        Columns per row (clipped to n_cols).

    Returns
    -------
    indices : numpy.ndarray of int32, shape (n_rows, min(k, n_cols))
        Column indices, best first (-1 in empty slots).
    scores : numpy.ndarray, same shape
        Their scores.
    """
    n_rows, n_cols = scores.shape
    k = min(k, n_cols)
    if n_rows == 1:
        idx, top = _top_k_row(scores[0], k)
        return idx[None, :], top[None, :]
    if k < n_cols:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols)).copy()
    part_scores = np.take_along_axis(scores, part, axis=1)
    if k < n_cols and n_rows:
        # rows where the k-th score is tied with an item left out: redo them row by row
        kth = part_scores.min(axis=1)
        straddle = (scores == kth[:, None]).sum(axis=1) > (part_scores == kth[:, None]).sum(axis=1)
        for r in np.flatnonzero(straddle | np.isnan(kth)):
            part[r] = _k_best_lowest_index(scores[r], k)
            part_scores[r] = scores[r, part[r]]
    order = np.lexsort((part, -part_scores), axis=1) if n_rows else part
    idx = np.take_along_axis(part, order, axis=1).astype(np.int32)
    top = np.take_along_axis(part_scores, order, axis=1)
    idx[~np.isfinite(top) & (top < 0)] = -1
    return idx, top


def _k_best_lowest_index(row: np.ndarray, k: int) -> np.ndarray:
    """Return the indices of the k best entries of a row (any order).

    Ties at the k-th place are won by the lower index; NaN entries only fill what numbers leave,
    in index order.
    """
    numbers = np.flatnonzero(~np.isnan(row))
    if len(numbers) <= k:
        return np.r_[numbers, np.flatnonzero(np.isnan(row))[:k - len(numbers)]]
    kth = -np.partition(-row[numbers], k - 1)[k - 1]
    above = np.flatnonzero(row > kth)
    return np.r_[above, np.flatnonzero(row == kth)[:k - len(above)]]


def _top_k_row(row: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Run top_k_from_scores on one 1-D row (k <= len(row)).

    The same steps without the 2-D take_along_axis machinery, which costs more than the work for
    a single query.
    """
    if k < len(row):
        part = np.argpartition(-row, k - 1)[:k]
        kth = row[part].min()
        # the k-th score tied with an item left out (or NaN): the exact, slower selection
        if np.isnan(kth) or np.count_nonzero(row == kth) > np.count_nonzero(row[part] == kth):
            part = _k_best_lowest_index(row, k)
    else:
        part = np.arange(len(row))
    part_scores = row[part]
    order = np.lexsort((part, -part_scores))
    idx, top = part[order].astype(np.int32), part_scores[order]
    idx[np.isneginf(top)] = -1
    return idx, top


def top_k(query_vectors: np.ndarray, item_vectors: np.ndarray, k: int, *,
          exclude: Optional[sp.csr_matrix] = None, exclude_rows: Optional[np.ndarray] = None,
          allowed_items: Optional[np.ndarray] = None, banned_items: Optional[np.ndarray] = None,
          self_items: Optional[np.ndarray] = None,
          batch_size: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """Find the best k items for each query vector (by dot product).

    Parameters
    ----------
    query_vectors : numpy.ndarray, shape (n_queries, d)
        The queries.
    item_vectors : numpy.ndarray, shape (n_items, d)
        The items.
    k : int
        Items per query (clipped to n_items).
    exclude : scipy.sparse.csr_matrix, optional
        With ``exclude_rows``: the items of row ``exclude_rows[q]`` are removed from query q's
        list (a user's training items).
    exclude_rows : numpy.ndarray of int, optional
        For each query, its row of ``exclude``.
    allowed_items : numpy.ndarray of int, optional
        Only these item indices may be returned.
    banned_items : numpy.ndarray of int, optional
        Never returned.
    self_items : numpy.ndarray of int, optional
        For each query an item index removed from its own list (the query item in similar-items
        search).
    batch_size : int, optional
        Queries per block of scores, each scored by one NumPy product before the top-k kernel.
        By default a batch of at least 64 float32 queries is scored inside the kernel, up to 64
        queries per BLAS call (:func:`mfrec.kernels.top_k.top_k_dot`), and smaller batches or
        other dtypes in blocks of :func:`default_batch` queries.

    Returns
    -------
    indices : numpy.ndarray of int32, shape (n_queries, min(k, n_items))
        Best first, padded with -1 where fewer candidates remain.
    scores : numpy.ndarray of float32, same shape
        Padded with -inf.

    Raises
    ------
    ValueError
        When ``k`` < 1, ``exclude`` is given without ``exclude_rows`` or does not match the items,
        or an ``exclude_rows`` / ``self_items`` entry is out of range (the kernels do not check).
    """
    n_items = item_vectors.shape[0]
    n = query_vectors.shape[0]
    _check_top_k_arguments(n, n_items, k, exclude, exclude_rows, self_items)
    k = min(int(k), n_items)
    if n == 1:  # one query (a server request): the per-row kernel on its row, no thread launch
        return _top_k_one(query_vectors, item_vectors, k, exclude, exclude_rows, allowed_items, banned_items,
                          self_items)
    out_idx = np.empty((n, k), dtype=np.int32)
    out_scores = np.empty((n, k), dtype=np.float32)
    blocked = read_only(_blocked_items(n_items, allowed_items, banned_items))
    if exclude is not None:
        excl_indptr, excl_indices = csr_structure(exclude.indptr, exclude.indices)
        rows = read_only(exclude_rows, np.int64)
    else:
        excl_indptr, excl_indices = _EMPTY_INT64, _EMPTY_INT32
        rows = read_only(np.zeros(n, dtype=np.int64))
    selves = _EMPTY_INT64 if self_items is None else read_only(self_items, np.int64)
    if batch_size is None and n >= DOT_ROWS and query_vectors.dtype == np.float32 \
            and item_vectors.dtype == np.float32:
        # scored block by block inside the kernel's threads (one sgemm per block of up to 64 queries), so no
        # score matrix of the whole batch is written and BLAS threads do not compete with the kernel
        with single_threaded_blas():
            top_k_dot(read_only(query_vectors), read_only(item_vectors), rows,
                      excl_indptr, excl_indices, blocked, selves, k, dot_block_rows(n_items), out_idx, out_scores)
        return out_idx, out_scores
    for start, scores in score_blocks(query_vectors, item_vectors, batch_size):
        stop = start + len(scores)
        top_k_rows(scores, rows[start:stop], excl_indptr, excl_indices, blocked,
                   selves[start:stop] if len(selves) else selves, k, out_idx[start:stop], out_scores[start:stop])
    return out_idx, out_scores


def _blocked_items(n_items: int, allowed_items, banned_items) -> np.ndarray:
    """Return the kernels' item filter: 1 = never returned (outside allowed_items, or banned)."""
    blocked = np.zeros(n_items, dtype=np.uint8)
    if allowed_items is not None:
        blocked[:] = 1
        blocked[allowed_items] = 0
    if banned_items is not None:
        blocked[banned_items] = 1
    return blocked


def _check_top_k_arguments(n, n_items, k, exclude, exclude_rows, self_items) -> None:
    """Refuse what the kernels would read out of bounds (they run without bounds checks)."""
    if int(k) < 1:
        raise ValueError(f"top_k: k must be >= 1, got {k}")
    if exclude is not None:
        if exclude_rows is None:
            raise ValueError("top_k: exclude needs exclude_rows (the row of each query)")
        if exclude.shape[1] != n_items:
            raise ValueError(f"top_k: exclude has {exclude.shape[1]} columns for {n_items} items")
        rows = np.asarray(exclude_rows)
        if len(rows) != n or _out_of_range(rows, exclude.shape[0]):
            raise ValueError(f"top_k: exclude_rows needs one row of exclude (0..{exclude.shape[0] - 1}) per query")
    if self_items is not None:
        selves = np.asarray(self_items)
        if len(selves) != n or _out_of_range(selves, n_items):
            raise ValueError(f"top_k: self_items needs one item index (0..{n_items - 1}) per query")


def _out_of_range(indices: np.ndarray, size: int) -> bool:
    """Tell whether an index falls outside 0..size-1 (one index, a server query, without NumPy reductions)."""
    if len(indices) == 1:
        return not 0 <= int(indices[0]) < size
    return bool(len(indices)) and bool(indices.min() < 0 or indices.max() >= size)


def _top_k_one(query_vectors, item_vectors, k, exclude, exclude_rows, allowed_items, banned_items, self_items):
    """Run :func:`top_k` for one query: its score row, then one call of the kernels' per-row top-k."""
    n_items = item_vectors.shape[0]
    row = np.ascontiguousarray(item_vectors @ query_vectors[0], dtype=np.float32)  # a gemv: B is not packed
    blocked = _blocked_items(n_items, allowed_items, banned_items)
    excl_indptr, excl_indices = _EMPTY_INT64, _EMPTY_INT32
    if exclude is not None and exclude_rows is not None:  # only this query's row of the exclusion CSR
        r = int(exclude_rows[0])
        excl_indices = read_only(exclude.indices[exclude.indptr[r]:exclude.indptr[r + 1]], np.int32)
        excl_indptr = read_only(np.array([0, len(excl_indices)], dtype=np.int64))
    selves = _EMPTY_INT64 if self_items is None else read_only(self_items, np.int64)
    out_idx = np.empty((1, k), dtype=np.int32)
    out_scores = np.empty((1, k), dtype=np.float32)
    row_top_k(row, 0, _ZERO_ROW, excl_indptr, excl_indices, read_only(blocked), selves, k, blocked.copy(),
              np.empty(k, dtype=np.float32), out_idx[0], out_scores[0])
    return out_idx, out_scores


def score_blocks(query_vectors: np.ndarray, item_vectors: np.ndarray,
                 batch_size: Optional[int] = None) -> Iterator[tuple[int, np.ndarray]]:
    """Score consecutive blocks of queries against all items, one BLAS call per block.

    Parameters
    ----------
    query_vectors : numpy.ndarray, shape (n_queries, d)
        The queries.
    item_vectors : numpy.ndarray, shape (n_items, d)
        The items.
    batch_size : int, optional
        Queries per block (default :func:`default_batch`).

    Yields
    ------
    start : int
        The index of the block's first query.
    scores : numpy.ndarray of float32
        The block's query vectors @ item_vectors.T, C-contiguous.
    """
    if batch_size is None:
        batch_size = default_batch(item_vectors.shape[0])
    item_t = item_vectors.T
    for start in range(0, query_vectors.shape[0], batch_size):
        scores = query_vectors[start:start + batch_size] @ item_t
        yield start, np.ascontiguousarray(scores, dtype=np.float32)


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Scale rows to unit L2 norm (zero rows stay zero), for cosine similarity.

    Parameters
    ----------
    vectors : numpy.ndarray, shape (n, d)
        The rows.

    Returns
    -------
    numpy.ndarray of float32, shape (n, d)
        The unit rows.
    """
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)
