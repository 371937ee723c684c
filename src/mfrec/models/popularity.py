"""Item popularity: the baseline every recommender must beat."""
from __future__ import annotations

import numpy as np

from .base import Recommender


class Popularity(Recommender):
    """Recommend the items with the most interactions in training, the baseline to beat.

    The same list for everyone, minus each user's seen items. Works on explicit or implicit data:
    a rating of any value counts as one interaction. Score ``score(u, i)`` = number of training
    users who interacted with i. Similar items are the most popular other items (a baseline has
    no notion of similarity). Fold-in needs no solve. There are no hyperparameters.

    Attributes
    ----------
    item_biases_ : ndarray of float32
        The training interaction count of each item (the score); the factors have 0 columns.
    """

    feedback = "any"
    name = "popularity"
    _bias_names = ("item_biases_",)
    iterative = False  # one pass: fit(validation=...) is refused

    def __init__(self):
        pass

    def _fit(self, interactions, validation, monitor):
        counts = interactions.item_counts().astype(np.float32)
        self.item_biases_ = counts
        self.item_factors_ = np.zeros((interactions.n_items, 0), dtype=np.float32)
        self.user_factors_ = np.zeros((interactions.n_users, 0), dtype=np.float32)
        monitor.report(1)

    def n_epochs(self) -> int:
        """Return the number of passes of a fit, for progress bars.

        Returns
        -------
        int
            1: the fit is one pass over the data.
        """
        return 1

    def _similarity_vectors(self, which):
        n = self.item_factors_.shape[0] if which == "item" else self.user_factors_.shape[0]
        if which == "item":
            scores = self.item_biases_
        else:  # users: the most active users
            scores = np.diff(self.interactions_.matrix.indptr).astype(np.float32)
        return np.ones((n, 1), dtype=np.float32), scores[:, None].astype(np.float32)

    def _fold_in(self, item_index, values):
        return np.zeros(0, dtype=np.float32), None
