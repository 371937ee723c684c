"""Similar-items coherence: whether a model puts items of the same genre next to each other.

Similar-items coherence: does a model put items of the same genre next to each other?

Definition (documented for reports): for every query item q with at least ``min_count``
training interactions and at least one genre, take the model's top-K similar items N_K(q)
(``model.similar_items``, the query itself excluded). Then

    coherence@K(q) = |{j in N_K(q) : genres(j) ∩ genres(q) ≠ ∅}| / |N_K(q)|
    coherence@K    = mean over the query items of coherence@K(q)

The chance level is the same share for neighbours drawn uniformly from all other items:
    chance(q) = |{j ≠ q : genres(j) ∩ genres(q) ≠ ∅}| / (n_items - 1), averaged over the queries.
Items without genres (MovieLens writes "(no genres listed)") never share a genre.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import scipy.sparse as sp

NO_GENRE = {"", "(no genres listed)", "unknown"}


def genre_matrix(interactions) -> Optional[sp.csr_matrix]:
    """Items x genres 0/1 matrix in the interactions' item order, or None without genre metadata."""
    meta = interactions.item_metadata
    if meta is None or "genres" not in meta.columns:
        return None
    genres = meta["genres"].reindex(interactions.item_ids.raw).fillna("").astype(str).tolist()
    vocab: dict = {}
    rows, cols = [], []
    for row, text in enumerate(genres):
        for genre in text.split("|"):
            genre = genre.strip()
            if genre and genre not in NO_GENRE:
                rows.append(row)
                cols.append(vocab.setdefault(genre, len(vocab)))
    if not vocab:
        return None
    return sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                         shape=(len(genres), len(vocab)))


def genre_coherence(model, k: int = 10, min_count: int = 50, *, neighbours=None) -> Optional[dict]:
    """Measure coherence@k of a model's similar items.

    coherence@k, its chance level and the number of query items (see the module docstring),
    or None when the model's data carry no genres. ``neighbours(item_indices, k)`` replaces the
    model's ``similar_items`` (see :mod:`mfrec.evaluation.similar_items`).
    """
    from .similar_items import model_neighbours
    inter = model.interactions_
    genres = genre_matrix(inter)
    if genres is None:
        return None
    has_genre = np.asarray(genres.sum(axis=1)).ravel() > 0
    queries = np.flatnonzero((inter.item_counts() >= min_count) & has_genre)
    if len(queries) == 0:
        return None
    top = (neighbours or model_neighbours(model))(queries, k)
    shares = np.empty(len(queries))
    for pos, (q, row) in enumerate(zip(queries, top)):
        shared = (genres[row[row >= 0]] @ genres[q].T).toarray().ravel() > 0
        shares[pos] = shared.mean() if len(shared) else 0.0
    # chance: share of all other items that share a genre with q
    overlap = (genres[queries] @ genres.T).toarray() > 0          # (queries, items)
    chance = (overlap.sum(axis=1) - 1) / (inter.n_items - 1)       # minus q itself
    return {f"coherence@{k}": float(shares.mean()), "chance": float(chance.mean()), "items": int(len(queries))}
