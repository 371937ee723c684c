"""One retrieval path for every model: score = query_vectors @ item_vectors.T, filter, top-k.

Models fold biases into their vectors (as RecTools does), e.g. for biased MF
``[mu + b_u, 1, p_u] . [1, b_i, q_i] = mu + b_u + b_i + p_u . q_i``, so this module never needs
to know which model produced the vectors.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import scipy.sparse as sp

DEFAULT_BATCH = 1024


def mask_rows(scores: np.ndarray, csr: sp.csr_matrix, rows: np.ndarray) -> None:
    """Set scores[r, j] = -inf for every item j stored in csr row rows[r] (in place)."""
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
    """Top-k columns of each row, best first. Entries scored -inf are never returned: their slots
    hold index -1 and score -inf. Ties are broken by the lower item index."""
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
    order = np.lexsort((part, -part_scores), axis=1) if n_rows else part
    idx = np.take_along_axis(part, order, axis=1).astype(np.int32)
    top = np.take_along_axis(part_scores, order, axis=1)
    idx[~np.isfinite(top) & (top < 0)] = -1
    return idx, top


def _top_k_row(row: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """top_k_from_scores for one 1-D row (k <= len(row)): the same steps without the 2-D
    take_along_axis machinery, which costs more than the work for a single query."""
    part = np.argpartition(-row, k - 1)[:k] if k < len(row) else np.arange(len(row))
    part_scores = row[part]
    order = np.lexsort((part, -part_scores))
    idx, top = part[order].astype(np.int32), part_scores[order]
    idx[np.isneginf(top)] = -1
    return idx, top


def top_k(query_vectors: np.ndarray, item_vectors: np.ndarray, k: int, *,
          exclude: Optional[sp.csr_matrix] = None, exclude_rows: Optional[np.ndarray] = None,
          allowed_items: Optional[np.ndarray] = None, banned_items: Optional[np.ndarray] = None,
          self_items: Optional[np.ndarray] = None, batch_size: int = DEFAULT_BATCH):
    """Best k items for each query vector.

    exclude / exclude_rows: a CSR matrix and, for each query, the row whose items are removed
    (a user's training items). allowed_items: only these item indices may be returned.
    banned_items: never returned. self_items: for each query an item index removed from its own
    list (the query item in similar-items search). Returns (indices int32, scores float32) of
    shape (n_queries, min(k, n_items)), padded with -1 / -inf where fewer candidates remain.
    """
    if exclude is not None and exclude_rows is None:
        raise ValueError("top_k: exclude needs exclude_rows (the row of each query)")
    n_items = item_vectors.shape[0]
    k = min(int(k), n_items)
    n = query_vectors.shape[0]
    if n == 1:  # one query (a server request): the same steps on one row, fewer NumPy calls
        row = (query_vectors @ item_vectors.T)[0].astype(np.float32, copy=False)
        if allowed_items is not None:
            keep = row[allowed_items]
            row = np.full(n_items, -np.inf, dtype=np.float32)
            row[allowed_items] = keep
        if banned_items is not None:
            row[banned_items] = -np.inf
        if exclude is not None and exclude_rows is not None:
            r = int(exclude_rows[0])
            row[exclude.indices[exclude.indptr[r]:exclude.indptr[r + 1]]] = -np.inf
        if self_items is not None:
            row[self_items[0]] = -np.inf
        idx, top = _top_k_row(row, k)
        return idx[None, :], top[None, :]
    out_idx = np.full((n, k), -1, dtype=np.int32)
    out_scores = np.full((n, k), -np.inf, dtype=np.float32)
    blocked = np.zeros(n_items, dtype=bool)
    if allowed_items is not None:
        blocked[:] = True
        blocked[allowed_items] = False
    if banned_items is not None:
        blocked[banned_items] = True
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        scores = query_vectors[start:stop] @ item_vectors.T
        scores = scores.astype(np.float32, copy=False)
        if blocked.any():
            scores[:, blocked] = -np.inf
        if exclude is not None and exclude_rows is not None:
            mask_rows(scores, exclude, np.asarray(exclude_rows[start:stop]))
        if self_items is not None:
            scores[np.arange(stop - start), self_items[start:stop]] = -np.inf
        idx, top = top_k_from_scores(scores, k)
        out_idx[start:stop] = idx
        out_scores[start:stop] = top
    return out_idx, out_scores


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), for cosine similarity."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)
