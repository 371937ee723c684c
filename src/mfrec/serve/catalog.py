"""What the server shows about a model's items: raw ids as JSON values, titles (from the item
metadata stored in the model file, when there is any), training counts, and title search."""
from __future__ import annotations

import numpy as np


class Catalog:
    """Items of one loaded model, ready for JSON: lists indexed by the model's dense item index."""

    def __init__(self, model):
        inter = model.interactions_
        self.ids = model.item_ids_.raw.tolist()          # numpy ints/str -> Python ints/str
        meta = inter.item_metadata
        self.has_titles = meta is not None and "title" in meta.columns
        self.titles = inter.item_titles(np.arange(len(self.ids))) if self.has_titles else [None] * len(self.ids)
        genres = None
        if meta is not None and "genres" in meta.columns:
            genres = meta["genres"].reindex(model.item_ids_.raw).fillna("").astype(str).tolist()
        self.genres = genres
        self.counts = inter.item_counts().tolist()
        self._folded = [t.casefold() if t else "" for t in self.titles]

    def entries(self, index, scores=None) -> list:
        """[{"id", "title", "score"?}, ...] for dense item indices (and their scores)."""
        ids, titles = self.ids, self.titles
        index = index.tolist() if isinstance(index, np.ndarray) else list(index)
        if scores is None:
            return [{"id": ids[i], "title": titles[i]} for i in index]
        scores = scores.tolist() if isinstance(scores, np.ndarray) else list(scores)
        return [{"id": ids[i], "score": s, "title": titles[i]} for i, s in zip(index, scores)]

    def search(self, query: str, exact_index=None) -> list:
        """Dense indices of the items whose title contains ``query`` (case-insensitive), plus the
        item of dense index ``exact_index`` (the item whose raw id is the query, if any); most
        interacted-with first."""
        needle = query.strip().casefold()
        hits = [i for i, title in enumerate(self._folded) if needle and needle in title]
        if exact_index is not None and exact_index not in hits:
            hits.append(exact_index)
        counts = self.counts
        return sorted(hits, key=lambda i: (-counts[i], i))
