"""What the server shows about a model's items.

What the server shows about a model's items: raw ids as JSON values, titles (from the item
metadata stored in the model file, when there is any), training counts, and title search.
"""
from __future__ import annotations

import numpy as np


class Catalog:
    """Items of one loaded model, ready for JSON: lists indexed by the model's dense item index."""

    def __init__(self, model) -> None:
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
        self._title_of = dict(zip(self.ids, self.titles))

    def ranked(self, raw_ids: np.ndarray, scores: np.ndarray) -> list:
        """[{"id", "score", "title"}, ...] for the raw ids and scores a model query returned."""
        title_of = self._title_of
        return [{"id": i, "score": s, "title": title_of[i]} for i, s in zip(raw_ids.tolist(), scores.tolist())]

    def entries(self, index) -> list:
        """[{"id", "title"}, ...] for dense item indices."""
        ids, titles = self.ids, self.titles
        return [{"id": ids[i], "title": titles[i]} for i in np.asarray(index).tolist()]

    def search(self, query: str, exact_index=None) -> list:
        """Search items by title, plus the item whose raw id is the query.

        Dense indices of the items whose title contains ``query`` (case-insensitive), plus the
        item of dense index ``exact_index`` (the item whose raw id is the query, if any); most
        interacted-with first.
        """
        needle = query.strip().casefold()
        hits = [i for i, title in enumerate(self._folded) if needle and needle in title]
        if exact_index is not None and exact_index not in hits:
            hits.append(exact_index)
        counts = self.counts
        return sorted(hits, key=lambda i: (-counts[i], i))
