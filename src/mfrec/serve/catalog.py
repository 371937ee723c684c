"""What the server shows about a model's items.

What the server shows about a model's items: raw ids as JSON values, titles (from the item
metadata stored in the model file, when there is any), training counts, and title search.
"""
from __future__ import annotations

import json
import math

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
        self._fragments: dict = {}   # raw id -> '{"id":..,"title":..,"score":' (filled on first use)

    def ranked_json(self, raw_ids: np.ndarray, scores: np.ndarray) -> str:
        """Return the JSON text ``[{"id", "title", "score"}, ...]`` of a model query's raw ids and scores.

        Each item's fragment is encoded once, then reused: json.dumps of a list of dicts per
        request cost more than the recommendation it carried (a hot path of the server).

        Parameters
        ----------
        raw_ids : ndarray
            The items' raw ids, as the model returned them.
        scores : ndarray
            Their scores.

        Returns
        -------
        str
            A JSON array.

        Raises
        ------
        ValueError
            For a score that is not a finite number (not valid JSON).
        """
        fragments = self._fragments
        parts = []
        for raw, score in zip(raw_ids.tolist(), scores.tolist()):
            if not math.isfinite(score):
                raise ValueError(f"score {score} of item {raw!r} is not a finite number")
            fragment = fragments.get(raw)
            if fragment is None:
                fragment = fragments[raw] = ('{"id":' + json.dumps(raw) + ',"title":'
                                             + json.dumps(self._title_of[raw], ensure_ascii=False) + ',"score":')
            parts.append(fragment + repr(score) + "}")
        return "[" + ",".join(parts) + "]"

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
