"""Public data-set API: MovieLens loaders and the generic ratings reader.

>>> from mfrec.datasets import load_movielens
>>> ml = load_movielens("1m")   # looks in data_dir, $MFREC_DATA_DIR, ~/.cache/mfrec; else downloads
>>> ml.item_metadata.loc[1, "title"]
'Toy Story'
"""
import os
from pathlib import Path

from .data.interactions import Interactions
from .data.movielens import VARIANTS, cache_dir, fetch_movielens, list_datasets, load_movielens
from .data.readers import read_ratings
from .errors import DataError

#: Canonical MovieLens variant names accepted by load_movielens ("ml-" prefixes also work).
MOVIELENS_VARIANTS = tuple(VARIANTS)

__all__ = ["load_movielens", "fetch_movielens", "list_datasets", "read_ratings", "cache_dir", "load_dataset",
           "MOVIELENS_VARIANTS", "VARIANTS"]


def load_dataset(dataset: str, *, data_dir=None, show_progress: bool = False) -> Interactions:
    """Load a MovieLens variant by name ("ml-1m", "1m", "100k", ...) or a ratings file by path.

    Parameters
    ----------
    dataset : str
        A MovieLens name, or the path of a ratings file (read by :func:`read_ratings`).
    data_dir : str or Path, optional
        Where to look for MovieLens files first (see :func:`load_movielens`).
    show_progress : bool, default False
        Show a progress bar while downloading.

    Returns
    -------
    Interactions
        The ratings.

    Raises
    ------
    DataError
        When ``dataset`` is neither a MovieLens name nor an existing file, or the file is malformed.
    DatasetNotAvailableError
        When a MovieLens data set is not on disk and cannot be downloaded.
    """
    name = dataset.lower().removeprefix("ml-")
    if name in MOVIELENS_VARIANTS:
        return load_movielens(name, data_dir=data_dir, show_progress=show_progress)
    path = Path(os.path.expanduser(dataset))
    if path.exists():
        return read_ratings(path)
    raise DataError(f"unknown data set {dataset!r}: give a MovieLens name "
                    f"({', '.join('ml-' + v for v in MOVIELENS_VARIANTS)}) or the path of a ratings file")
