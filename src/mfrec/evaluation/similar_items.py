"""Quality of similar items: the measures ``mfrec compare``, the report and the benchmarks show.

Three measures of a model's ``similar_items`` lists (top-K, the query itself excluded), each
documented in its own module:

* genre coherence@K (:mod:`mfrec.evaluation.coherence`): share of neighbours sharing a genre;
* franchise hit rate@K and recall@K (:mod:`mfrec.evaluation.franchise`): does the list hold the
  query's sequels and companions, found from the catalogue's titles;
* obscure-neighbour share@K (:func:`obscure_share`): share of neighbours that are rarely
  interacted with.

Every measure takes an optional ``neighbours(item_indices, k)`` function returning an (n, k)
array of item indices (-1 where a list is shorter), so that vectors from another library can be
measured the same way (:func:`cosine_neighbours`); by default the model's own ``similar_items``.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ..retrieval import normalize_rows, top_k

#: an obscure neighbour has fewer training interactions than this
RARE_COUNT = 20
#: the obscure share is averaged over query items with at least this many training interactions
QUERY_MIN_COUNT = 50

Neighbours = Callable[[np.ndarray, int], np.ndarray]


def model_neighbours(model, similarity: Optional[str] = None) -> Neighbours:
    """Make a neighbours function from a fitted model's ``similar_items``.

    ``neighbours(item_indices, k)`` from a fitted model's ``similar_items`` (with its default
    similarity, or the one named).
    """
    options = {} if similarity is None else {"similarity": similarity}

    def neighbours(item_index: np.ndarray, k: int) -> np.ndarray:
        out = np.full((len(item_index), k), -1, dtype=np.int64)
        lists = model.similar_items(model.item_ids_.to_raw(np.asarray(item_index)), n=k, **options)
        for row, (ids, _) in enumerate(lists):
            found = model.item_ids_.indices(ids)
            out[row, :len(found)] = found
        return out
    return neighbours


def cosine_neighbours(item_vectors: np.ndarray) -> Neighbours:
    """Make a neighbours function of plain cosine similarity.

    ``neighbours(item_indices, k)``: the k items of highest cosine similarity of
    ``item_vectors`` rows (the query excluded), e.g. another library's item factors.
    """
    unit = normalize_rows(np.asarray(item_vectors, dtype=np.float32))

    def neighbours(item_index: np.ndarray, k: int) -> np.ndarray:
        idx, _ = top_k(unit[item_index], unit, k, self_items=np.asarray(item_index))
        return idx.astype(np.int64)
    return neighbours


def obscure_share(model, k: int = 10, *, rare: int = RARE_COUNT, min_count: int = QUERY_MIN_COUNT,
                  neighbours: Optional[Neighbours] = None) -> Optional[dict]:
    """Measure the obscure-neighbour share@k of a model's similar items.

    Obscure-neighbour share@k: for every query item with >= ``min_count`` training
    interactions, the fraction of its k nearest items that have fewer than ``rare`` training
    interactions; averaged over the queries. None when no item qualifies as a query.

        obscure@K = mean_q |{j in N_K(q) : n_j < rare}| / |N_K(q)|
    """
    counts = model.interactions_.item_counts()
    queries = np.flatnonzero(counts >= min_count)
    if len(queries) == 0:
        return None
    top = (neighbours or model_neighbours(model))(queries, k)
    valid = top >= 0
    rare_hits = valid & (counts[np.where(valid, top, 0)] < rare)
    per_query = rare_hits.sum(axis=1) / np.maximum(valid.sum(axis=1), 1)
    return {f"obscure@{k}": float(per_query.mean()), "items": int(len(queries))}


def similar_items_quality(model, k: int = 10, *, neighbours: Optional[Neighbours] = None) -> dict:
    """Measure the similar-items quality of one model.

    All three measures of one model (keys ``coherence@K``, ``franchise_hit_rate@K``,
    ``franchise_recall@K``, ``obscure@K``; a measure whose data are missing, e.g. no genres or
    titles, is left out), plus ``franchise_groups`` / ``franchise_pairs``.
    """
    from .coherence import genre_coherence
    from .franchise import franchise_check
    neighbours = neighbours or model_neighbours(model)
    out: dict = {}
    coherence = genre_coherence(model, k=k, neighbours=neighbours)
    if coherence is not None:
        out[f"coherence@{k}"] = coherence[f"coherence@{k}"]
        out["coherence_chance"] = coherence["chance"]
    franchise = franchise_check(model, k=k, neighbours=neighbours)
    if franchise is not None:
        out[f"franchise_hit_rate@{k}"] = franchise[f"franchise_hit_rate@{k}"]
        out[f"franchise_recall@{k}"] = franchise[f"franchise_recall@{k}"]
        out["franchise_groups"] = franchise["groups"]
        out["franchise_pairs"] = franchise["pairs"]
    obscure = obscure_share(model, k=k, neighbours=neighbours)
    if obscure is not None:
        out[f"obscure@{k}"] = obscure[f"obscure@{k}"]
    return out
