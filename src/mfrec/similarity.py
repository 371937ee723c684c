"""Item-item similarity behind ``similar_items``: whitened factor cosine, shrunk by co-support.

Plain cosine of item factors is what most libraries return, and it has two faults a user sees at
once (measured in benchmarks/results/similars.md): the few directions in which popular items
vary most dominate it, so a film's companions that differ from it mainly in popularity are lost
(lower-rated sequels of popular films); and rarely rated items, whose factors are mostly
initialization noise, show up among the neighbours of popular films. The default similarity
(``similarity="shrunk"``) fixes both:

1. **Whitened cosine.** The factors are rotated and scaled so that the item factors have identity
   covariance, ``z_i = W^(1/2) y_i`` with ``W = (Y^T Y / n_items + ridge I)^(-1)``; the similarity
   is the cosine of z_i and z_j, i.e. ``y_i^T W y_j`` normalized. This is the item-item
   similarity that implicit ALS itself uses to score items, ``s_ij = y_i^T (Y^T C_u Y + lambda I)^(-1)
   y_j`` (Hu, Koren, Volinsky 2008, section 5, "Explaining recommendations"), with the
   user-independent Gram matrix in place of the user's; for the other models it is the same
   Mahalanobis cosine in their factor space. A ridge (0.3 + k / n_items times the mean
   eigenvalue) keeps directions of little variance from being blown up; it was chosen on ML-1M
   (benchmarks/results/similars.md), and its k / n part whitens less when the covariance is
   estimated from few items per dimension.
2. **Co-support shrinkage.** The similarity of i and j is multiplied by
   ``(c_ij + 1) / (c_ij + 1 + beta)``, where c_ij is the number of training users who interacted
   with both (Koren 2008, "Factorization meets the neighborhood", eq. 3: a similarity supported by
   few common users is shrunk toward zero). The +1 keeps items without co-support ordered by their
   factor similarity instead of tying them all at zero.

``similarity="cosine"`` gives the plain cosine of the item factors (biases excluded).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import scipy.sparse as sp

from .retrieval import normalize_rows, top_k, top_k_from_scores

SIMILARITIES = ("shrunk", "cosine")
#: shrinkage strength: a pair supported by beta common users keeps about half its similarity
SUPPORT_SHRINKAGE = 20.0
#: ridge added to the item-factor covariance before whitening, relative to its mean eigenvalue
WHITENING_RIDGE = 0.3
_BATCH = 256


def whitened_unit_vectors(factors: np.ndarray, ridge: float = WHITENING_RIDGE) -> np.ndarray:
    """Return the whitened unit vectors of the rows of ``factors``.

    The unit rows of ``factors @ W^(1/2)``, ``W = (F^T F / n + (ridge + k / n) * mean_eigenvalue * I)^(-1)``
    for n rows of k dimensions: their dot products are the whitened cosines of the rows.

    Parameters
    ----------
    factors : numpy.ndarray, shape (n, k)
        One factor vector per row.
    ridge : float, default 0.3
        Added to the covariance, relative to its mean eigenvalue.

    Returns
    -------
    numpy.ndarray of float32, shape (n, k)
        Unit rows.
    """
    f = np.asarray(factors, dtype=np.float64)
    n, k = f.shape
    eigenvalues, eigenvectors = np.linalg.eigh(f.T @ f / max(n, 1))
    eigenvalues = np.maximum(eigenvalues, 0.0)
    # A covariance estimated from n rows in k dimensions has eigenvalues spread by about k/n
    # (Marchenko-Pastur): with few items per dimension, whiten less.
    floor = (ridge + k / max(n, 1)) * max(float(eigenvalues.mean()), np.finfo(np.float64).tiny)
    transform = eigenvectors / np.sqrt(eigenvalues + floor)       # V diag(lambda + r)^(-1/2)
    return normalize_rows((f @ transform).astype(np.float32))


class ItemSimilarity:
    """The default similarity of one fitted model's items (see the module docstring).

    Built once from the item factors and the training matrix, queried in batches.

    Parameters
    ----------
    item_factors : numpy.ndarray, shape (n_items, k)
        The model's item factors.
    train_matrix : scipy sparse matrix, users x items
        The training interactions (stored entries count, values are ignored).
    beta : float, default SUPPORT_SHRINKAGE
        Shrinkage of the co-support: scores are multiplied by (c + 1) / (c + 1 + beta).
    ridge : float, default WHITENING_RIDGE
        Whitening ridge (see :func:`whitened_unit_vectors`).
    """

    def __init__(self, item_factors: np.ndarray, train_matrix: sp.spmatrix,
                 beta: float = SUPPORT_SHRINKAGE, ridge: float = WHITENING_RIDGE) -> None:
        self.unit = whitened_unit_vectors(item_factors, ridge)
        csr = sp.csr_matrix(train_matrix)
        # the same index arrays with every stored value 1 (no copy of the indices)
        pattern = sp.csr_matrix((np.ones(csr.nnz, dtype=np.float32), csr.indices, csr.indptr), shape=csr.shape)
        self._users_by_item = pattern.T.tocsr()        # items x users
        self._items_by_user = pattern                  # users x items
        self.beta = float(beta)

    def co_support(self, items: np.ndarray) -> np.ndarray:
        """Count the users who interacted with both item i and item j (c_ij).

        Parameters
        ----------
        items : numpy.ndarray of int
            Item indices.

        Returns
        -------
        numpy.ndarray of float32, shape (len(items), n_items)
            The co-support of each given item with every item.
        """
        counts = self._users_by_item[items] @ self._items_by_user
        return counts.toarray().astype(np.float32, copy=False)

    def scores(self, items: np.ndarray) -> np.ndarray:
        """Score the given items against all items: shrunk whitened cosines.

        Parameters
        ----------
        items : numpy.ndarray of int
            Item indices.

        Returns
        -------
        numpy.ndarray of float32, shape (len(items), n_items)
            The scores.
        """
        cosine = self.unit[items] @ self.unit.T
        support = self.co_support(items)
        return cosine * ((support + 1.0) / (support + 1.0 + self.beta))

    def top(self, items: np.ndarray, n: int,
            allowed: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
        """Find each item's n most similar items, itself excluded.

        Parameters
        ----------
        items : numpy.ndarray of int
            Item indices.
        n : int
            Neighbours per item.
        allowed : numpy.ndarray of int, optional
            Only these item indices are returned.

        Returns
        -------
        indices : numpy.ndarray of int32, shape (len(items), min(n, n_items))
            Each item's most similar items, best first, padded with -1.
        scores : numpy.ndarray of float32, same shape
            Their scores, padded with -inf.
        """
        items = np.asarray(items, dtype=np.int64)
        n_items = self.unit.shape[0]
        blocked = None
        if allowed is not None:
            blocked = np.ones(n_items, dtype=bool)
            blocked[allowed] = False
        k = min(int(n), n_items)
        out_idx = np.full((len(items), k), -1, dtype=np.int32)
        out_scores = np.full((len(items), k), -np.inf, dtype=np.float32)
        for start in range(0, len(items), _BATCH):
            batch = items[start:start + _BATCH]
            scores = self.scores(batch).astype(np.float32, copy=False)
            scores[np.arange(len(batch)), batch] = -np.inf
            if blocked is not None:
                scores[:, blocked] = -np.inf
            out_idx[start:start + len(batch)], out_scores[start:start + len(batch)] = top_k_from_scores(scores, k)
        return out_idx, out_scores


def cosine_top(item_vectors: np.ndarray, items: np.ndarray, n: int,
               allowed: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
    """Find each item's n nearest items by plain cosine (the counterpart of :meth:`ItemSimilarity.top`).

    Parameters
    ----------
    item_vectors : numpy.ndarray, shape (n_items, k)
        One vector per item.
    items : numpy.ndarray of int
        Item indices.
    n : int
        Neighbours per item.
    allowed : numpy.ndarray of int, optional
        Only these item indices are returned.

    Returns
    -------
    indices : numpy.ndarray of int32
        Each item's nearest items, itself excluded, best first, padded with -1.
    scores : numpy.ndarray of float32
        Their cosines, padded with -inf.
    """
    unit = normalize_rows(np.asarray(item_vectors, dtype=np.float32))
    return top_k(unit[items], unit, n, self_items=np.asarray(items), allowed_items=allowed)
