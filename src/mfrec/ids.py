"""IdMap: raw user/item ids <-> dense int32 indices."""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from .errors import DataError, InvalidParameterError, UnknownIdError


class IdMap:
    """A bijection between raw ids (ints or strings) and dense indices 0..n-1.

    ``raw`` holds the raw id of each index. Raw ids are either all integers (stored as int64)
    or all strings (stored as a NumPy unicode array), so maps save to ``.npz`` without pickle.

    Parameters
    ----------
    raw_ids : iterable of int or str
        The raw id of each index, in index order; no duplicates.
    kind : str, default "id"
        What the ids are ("user", "item"), used in error messages.

    Raises
    ------
    DataError
        When ``raw_ids`` holds a duplicate, a missing value, or ids neither integers nor strings.
    """

    def __init__(self, raw_ids: Iterable, *, kind: str = "id") -> None:
        raw = _as_raw_array(raw_ids, kind)
        self.kind = kind
        self.raw = raw
        self._lookup = {key: i for i, key in enumerate(raw.tolist())}
        if len(self._lookup) != len(raw):
            raise DataError(f"duplicate {kind} ids in IdMap")

    @classmethod
    def from_values(cls, values, *, kind: str = "id") -> tuple[IdMap, np.ndarray]:
        """Build a map from a column of raw ids (sorted unique) and return it with the indices.

        Parameters
        ----------
        values : array-like of int or str
            A column of raw ids, duplicates allowed.
        kind : str, default "id"
            What the ids are ("user", "item"), used in error messages.

        Returns
        -------
        idmap : IdMap
            The map of the sorted unique ids.
        indices : numpy.ndarray of int32
            The dense index of each entry of ``values``.

        Raises
        ------
        DataError
            When a value is missing or not an integer or string.
        """
        arr = _as_raw_array(values, kind, allow_duplicates=True)
        codes, uniques = pd.factorize(arr, sort=True)  # = np.unique(arr, return_inverse=True), faster
        uniques = np.asarray(uniques, dtype=arr.dtype)
        idmap = cls.__new__(cls)
        idmap.kind = kind
        idmap.raw = uniques
        idmap._lookup = {key: i for i, key in enumerate(uniques.tolist())}
        return idmap, codes.astype(np.int32)

    def __len__(self) -> int:
        return len(self.raw)

    def __eq__(self, other) -> bool:
        return isinstance(other, IdMap) and (
            other is self or (self.raw.dtype.kind == other.raw.dtype.kind and np.array_equal(self.raw, other.raw))
        )

    def __contains__(self, raw_id) -> bool:
        return _key(raw_id) in self._lookup

    def __repr__(self) -> str:
        return f"IdMap({len(self)} {self.kind}s)"

    def index(self, raw_id) -> int:
        """Return the dense index of one raw id.

        Parameters
        ----------
        raw_id : int or str
            The raw id.

        Returns
        -------
        int
            Its dense index.

        Raises
        ------
        UnknownIdError
            When the id is not in the map (the message names it).
        """
        try:
            return self._lookup[_key(raw_id)]
        except (KeyError, TypeError):
            raise UnknownIdError(f"unknown {self.kind} id {_key(raw_id)!r}") from None

    def indices(self, raw_ids, *, missing: str = "raise") -> np.ndarray:
        """Return the dense indices of many raw ids.

        Parameters
        ----------
        raw_ids : array-like of int or str
            The raw ids.
        missing : {"raise", "ignore"}, default "raise"
            "raise" names the first unknown id; "ignore" returns -1 for unknown ids.

        Returns
        -------
        numpy.ndarray of int32
            The dense index of each id (-1 for an unknown one with ``missing="ignore"``).

        Raises
        ------
        UnknownIdError
            With ``missing="raise"``, naming the first unknown id.
        """
        keys = np.asarray(raw_ids).ravel().tolist() if not isinstance(raw_ids, list) else raw_ids
        out = np.empty(len(keys), dtype=np.int32)
        lookup = self._lookup
        for pos, raw_id in enumerate(keys):
            idx = lookup.get(_key(raw_id), -1)
            if idx < 0 and missing == "raise":
                raise UnknownIdError(f"unknown {self.kind} id {_key(raw_id)!r}")
            out[pos] = idx
        return out

    def to_raw(self, indices) -> np.ndarray:
        """Return the raw ids of dense indices.

        Parameters
        ----------
        indices : array-like of int
            Dense indices.

        Returns
        -------
        numpy.ndarray
            The raw id of each index (int64 or unicode).
        """
        return self.raw[np.asarray(indices)]

    def take(self, indices) -> IdMap:
        """Return a new map holding only the given indices, in that order (renumbered 0..m-1).

        Parameters
        ----------
        indices : array-like of int
            Dense indices of this map.

        Returns
        -------
        IdMap
            The map of their raw ids.
        """
        return IdMap(self.raw[np.asarray(indices)], kind=self.kind)


def _key(raw_id):
    """Normalize a raw id so 42, np.int64(42) and 42.0 all find the same entry.

    A boolean is refused: True == 1 in Python, so it would silently stand for id 1.
    """
    if isinstance(raw_id, (bool, np.bool_)):
        raise InvalidParameterError(f"id {raw_id!r} is a boolean; ids are integers or strings")
    if isinstance(raw_id, (np.integer,)):
        return int(raw_id)
    if isinstance(raw_id, (float, np.floating)) and float(raw_id).is_integer():
        return int(raw_id)
    if isinstance(raw_id, np.str_):
        return str(raw_id)
    return raw_id


def _as_raw_array(values, kind: str, allow_duplicates: bool = False) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        arr = arr.ravel()
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(arr) & (arr == np.round(arr)) & (np.abs(arr) < 2.0 ** 63)
        if not np.all(ok):
            bad = arr[~ok][0]
            raise DataError(f"{kind} id {bad!r} is not an integer (within int64) or a string")
        return arr.astype(np.int64)
    if arr.dtype.kind in "OUS":
        if arr.dtype.kind == "O":
            if any(v is None or (isinstance(v, float) and v != v) for v in arr.tolist()):
                raise DataError(f"missing {kind} id (None/NaN) in input")
            if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in arr.tolist()):
                big = [v for v in arr.tolist() if not -2 ** 63 <= v < 2 ** 63]
                if big:
                    raise DataError(f"{kind} id {big[0]!r} does not fit in a 64-bit integer; give it as a string")
                return arr.astype(np.int64)
        return arr.astype(str)
    if arr.dtype.kind == "b":
        raise DataError(f"{kind} ids must be integers or strings, got booleans")
    raise DataError(f"{kind} ids must be integers or strings, got dtype {arr.dtype}")
