"""Public data-set API: MovieLens loaders and the generic ratings reader.

>>> from mfrec.datasets import load_movielens
>>> ml = load_movielens("1m")   # looks in data_dir, $MFREC_DATA_DIR, ~/.cache/mfrec; else downloads
>>> ml.item_metadata.loc[1, "title"]
'Toy Story'
"""
from .data.movielens import VARIANTS, cache_dir, fetch_movielens, list_datasets, load_movielens
from .data.readers import read_ratings

#: Canonical MovieLens variant names accepted by load_movielens ("ml-" prefixes also work).
MOVIELENS_VARIANTS = tuple(VARIANTS)

__all__ = ["load_movielens", "fetch_movielens", "list_datasets", "read_ratings", "cache_dir",
           "MOVIELENS_VARIANTS", "VARIANTS"]
