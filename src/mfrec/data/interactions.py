"""Interactions: the one container for user x item data that every model and split uses.

Orientation is fixed everywhere: rows are users, columns are items (CSR, sorted column indices,
one stored entry per (user, item) pair). Raw ids live in two IdMaps; values are ratings for
explicit data, or 1 / a confidence weight for implicit data. Timestamps, when present, are a
float64 array aligned with the CSR entries (NaN where a timestamp is missing).
"""
from __future__ import annotations

import numbers
from typing import Optional

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import DataError, InvalidParameterError, ModelFileError
from ..ids import IdMap
from ..params import FLOAT32_MAX

DUPLICATE_RULES = ("last", "first", "mean", "max", "sum", "error")


class Interactions:
    """Users x items interactions with raw-id maps and optional ratings, timestamps and item metadata.

    Build one with :meth:`from_dataframe`, :meth:`from_arrays`, :meth:`from_csr`, or a reader
    (``mfrec.read_ratings``, ``mfrec.load_movielens``).

    Parameters
    ----------
    matrix : scipy sparse matrix, shape (n_users, n_items)
        The values; stored as float32 CSR with sorted column indices.
    user_ids, item_ids : IdMap
        The raw ids of the rows and of the columns.
    timestamps : array-like of float, optional
        One per stored entry (CSR order); needs a matrix with sorted indices.
    item_metadata : pandas.DataFrame, optional
        Indexed by raw item id.
    kind : {"explicit", "implicit"}, default "explicit"
        Whether the values are ratings or 1 / confidences.
    rating_scale : tuple of (low, high), optional
        The declared rating scale.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix, float32, shape (n_users, n_items)
    user_ids, item_ids : IdMap
    timestamps : float64 array aligned with ``matrix.data`` or None (NaN = missing)
    item_metadata : DataFrame indexed by raw item id (columns such as title, year, genres) or None
    kind : "explicit" (values are ratings) or "implicit" (values are 1 or confidences)
    rating_scale : (low, high) of the declared rating scale, or None

    Raises
    ------
    DataError
        When the shape does not match the id maps, the timestamps do not align with the entries,
        ``kind`` is unknown, or a value is outside the float32 range.
    """

    def __init__(self, matrix, user_ids: IdMap, item_ids: IdMap, *, timestamps=None,
                 item_metadata: Optional[pd.DataFrame] = None, kind: str = "explicit",
                 rating_scale: Optional[tuple] = None) -> None:
        if sp.issparse(matrix) and matrix.dtype.kind == "f":
            _check_float32_range(np.asarray(matrix.data), "value", "matrix")
        matrix = sp.csr_matrix(matrix, dtype=np.float32)
        if matrix.shape != (len(user_ids), len(item_ids)):
            raise DataError(f"matrix shape {matrix.shape} does not match {len(user_ids)} users x {len(item_ids)} items")
        if not matrix.has_sorted_indices:
            if timestamps is not None:
                raise DataError("timestamps given with an unsorted matrix")
            matrix.sort_indices()
        if kind not in ("explicit", "implicit"):
            raise DataError(f"kind must be 'explicit' or 'implicit', got {kind!r}")
        if timestamps is not None:
            timestamps = np.asarray(timestamps, dtype=np.float64)
            if timestamps.shape != matrix.data.shape:
                raise DataError("timestamps must align with the matrix entries")
        self.matrix = matrix
        self.user_ids = user_ids
        self.item_ids = item_ids
        self.timestamps = timestamps
        self.item_metadata = item_metadata
        self.kind = kind
        self.rating_scale = tuple(rating_scale) if rating_scale is not None else None

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_arrays(cls, users, items, ratings=None, timestamps=None, *, duplicates: str = "last",
                    rating_scale: Optional[tuple] = None, item_metadata: Optional[pd.DataFrame] = None,
                    kind: Optional[str] = None, source: str = "input") -> Interactions:
        """Build from parallel arrays of raw user ids, raw item ids and optional ratings/timestamps.

        Parameters
        ----------
        users, items : array-like of int or str
            The raw user id and raw item id of each interaction.
        ratings : array-like of float, optional
            One rating per interaction. Without ratings the data are implicit (every value 1).
        timestamps : array-like of float, optional
            One time per interaction (NaN = missing; all NaN = no timestamps).
        duplicates : {"last", "first", "mean", "max", "sum", "error"}, default "last"
            What happens to repeated (user, item) pairs: "last" (the last occurrence in input
            order wins), "first", "mean", "max", "sum", or "error".
        rating_scale : tuple of (low, high), optional
            The declared rating scale; a rating outside it is an error.
        item_metadata : pandas.DataFrame, optional
            Indexed by raw item id.
        kind : {"explicit", "implicit"}, optional
            Defaults to "explicit" with ratings and "implicit" without.
        source : str, default "input"
            Where the data came from, named in error messages.

        Returns
        -------
        Interactions
            The interactions, rows in sorted raw user id order, columns in sorted raw item id order.

        Raises
        ------
        DataError
            When the arrays differ in length, are empty, hold a missing or invalid id, a
            non-finite rating or one outside ``rating_scale``, an infinite timestamp, or a
            duplicate pair with ``duplicates="error"``.
        """
        users = np.asarray(users)
        items = np.asarray(items)
        n = len(users)
        if len(items) != n:
            raise DataError(f"{source}: {n} user ids but {len(items)} item ids")
        if n == 0:
            raise DataError(f"{source}: the data set is empty (no interactions)")
        if ratings is None:
            values = np.ones(n, dtype=np.float32)
            kind = kind or "implicit"
        else:
            values = _as_float(ratings, "rating", source)
            if len(values) != n:
                raise DataError(f"{source}: {n} ids but {len(values)} ratings")
            _check_finite(values, "rating", source)
            _check_float32_range(values, "rating", source)
            kind = kind or "explicit"
        if rating_scale is not None:
            low, high = rating_scale
            out = np.flatnonzero((values < low) | (values > high))
            if len(out):
                raise DataError(f"{source}: rating {values[out[0]]:g} at row {out[0]} is outside the "
                                f"declared scale [{low:g}, {high:g}]")
        ts = None
        if timestamps is not None:
            ts = _as_float(timestamps, "timestamp", source)
            if len(ts) != n:
                raise DataError(f"{source}: {n} ids but {len(ts)} timestamps")
            if np.isinf(ts).any():
                raise DataError(f"{source}: infinite timestamp at row {int(np.flatnonzero(np.isinf(ts))[0])}")
            if np.isnan(ts).all():
                ts = None
        user_map, u = IdMap.from_values(users, kind="user")
        item_map, i = IdMap.from_values(items, kind="item")
        u, i, values, ts = _resolve_duplicates(u, i, values, ts, len(item_map), duplicates, user_map, item_map, source)
        indptr = np.zeros(len(user_map) + 1, dtype=np.int64)
        np.cumsum(np.bincount(u, minlength=len(user_map)), out=indptr[1:])
        matrix = sp.csr_matrix((values.astype(np.float32), i.astype(np.int32), indptr),
                               shape=(len(user_map), len(item_map)))
        matrix.has_sorted_indices = True
        return cls(matrix, user_map, item_map, timestamps=ts, item_metadata=item_metadata, kind=kind,
                   rating_scale=rating_scale)

    @classmethod
    def from_dataframe(cls, df: pd.DataFrame, *, user_col: str = "user", item_col: str = "item",
                       rating_col: Optional[str] = "rating", timestamp_col: Optional[str] = "timestamp",
                       **kwargs) -> Interactions:
        """Build from a DataFrame with named columns.

        Missing optional columns are allowed: without ``rating_col`` the data are implicit;
        without ``timestamp_col`` there are no times.

        Parameters
        ----------
        df : pandas.DataFrame
            One row per interaction.
        user_col, item_col : str, default "user", "item"
            The columns of raw user and item ids (required).
        rating_col : str or None, default "rating"
            The ratings column, used when present.
        timestamp_col : str or None, default "timestamp"
            The timestamps column, used when present.
        **kwargs
            Passed to :meth:`from_arrays` (``duplicates``, ``rating_scale``, ``source``...).

        Returns
        -------
        Interactions
            The interactions of the rows.

        Raises
        ------
        DataError
            When a required column is missing, or as :meth:`from_arrays`.
        """
        for col in (user_col, item_col):
            if col not in df.columns:
                raise DataError(f"DataFrame has no column {col!r} (columns: {list(df.columns)})")
        ratings = df[rating_col].to_numpy() if rating_col and rating_col in df.columns else None
        ts = df[timestamp_col].to_numpy() if timestamp_col and timestamp_col in df.columns else None
        kwargs.setdefault("source", "DataFrame")
        return cls.from_arrays(df[user_col].to_numpy(), df[item_col].to_numpy(), ratings, ts, **kwargs)

    @classmethod
    def from_csr(cls, matrix, user_ids=None, item_ids=None, *, kind: str = "implicit",
                 rating_scale=None, item_metadata=None) -> Interactions:
        """Wrap a scipy sparse users x items matrix; raw ids default to 0..n-1.

        Parameters
        ----------
        matrix : scipy sparse matrix, shape (n_users, n_items)
            Numeric values; duplicate entries are summed.
        user_ids, item_ids : array-like, optional
            Raw ids of the rows and of the columns (default 0..n-1).
        kind : {"explicit", "implicit"}, default "implicit"
            Whether the values are ratings or 1 / confidences.
        rating_scale : tuple of (low, high), optional
            The declared rating scale.
        item_metadata : pandas.DataFrame, optional
            Indexed by raw item id.

        Returns
        -------
        Interactions
            The interactions of the matrix's entries.

        Raises
        ------
        DataError
            When the matrix is not sparse, not numeric, empty, or holds a non-finite value or one
            outside the float32 range.
        """
        if not sp.issparse(matrix):
            raise DataError("from_csr needs a scipy sparse matrix")
        if matrix.dtype.kind not in "iufb":
            raise DataError(f"matrix: values must be numbers, got dtype {matrix.dtype}")
        matrix = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
        matrix.sum_duplicates()
        _check_finite(matrix.data, "value", "matrix")
        _check_float32_range(matrix.data, "value", "matrix")
        matrix = sp.csr_matrix(matrix, dtype=np.float32)
        if matrix.nnz == 0:
            raise DataError("matrix: the data set is empty (no interactions)")
        n_users, n_items = matrix.shape
        user_map = IdMap(np.arange(n_users) if user_ids is None else user_ids, kind="user")
        item_map = IdMap(np.arange(n_items) if item_ids is None else item_ids, kind="item")
        return cls(matrix, user_map, item_map, kind=kind, rating_scale=rating_scale, item_metadata=item_metadata)

    # ------------------------------------------------------------------ basic facts
    @property
    def n_users(self) -> int:
        """Number of users (rows)."""
        return self.matrix.shape[0]

    @property
    def n_items(self) -> int:
        """Number of items (columns)."""
        return self.matrix.shape[1]

    @property
    def nnz(self) -> int:
        """Number of stored interactions."""
        return self.matrix.nnz

    @property
    def shape(self) -> tuple:
        """(n_users, n_items)."""
        return self.matrix.shape

    @property
    def is_explicit(self) -> bool:
        """Whether the values are ratings."""
        return self.kind == "explicit"

    @property
    def has_timestamps(self) -> bool:
        """Whether the interactions carry timestamps."""
        return self.timestamps is not None

    def __len__(self) -> int:
        return self.nnz

    def __repr__(self) -> str:
        return (f"Interactions({self.nnz:,} {self.kind} interactions, {self.n_users:,} users x "
                f"{self.n_items:,} items{', timestamps' if self.has_timestamps else ''})")

    def to_coo(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the entries as coordinate arrays, in CSR order.

        Returns
        -------
        users : numpy.ndarray of int32
            User index of each entry.
        items : numpy.ndarray of int32
            Item index of each entry.
        values : numpy.ndarray of float32
            Value of each entry.
        """
        m = self.matrix
        users = np.repeat(np.arange(m.shape[0], dtype=np.int32), np.diff(m.indptr))
        return users, m.indices.astype(np.int32, copy=False), m.data

    def to_dataframe(self) -> pd.DataFrame:
        """Return the entries as a DataFrame of raw ids.

        Returns
        -------
        pandas.DataFrame
            Columns user, item, rating (or value for implicit data), timestamp if any.
        """
        u, i, v = self.to_coo()
        df = pd.DataFrame({"user": self.user_ids.to_raw(u), "item": self.item_ids.to_raw(i),
                           "rating" if self.is_explicit else "value": v})
        if self.has_timestamps:
            df["timestamp"] = self.timestamps
        return df

    def user_items(self, user_index: int) -> np.ndarray:
        """Return the item indices of one user.

        Parameters
        ----------
        user_index : int
            The user's dense index.

        Returns
        -------
        numpy.ndarray of int32
            Sorted item indices (a view of the CSR matrix).
        """
        m = self.matrix
        return m.indices[m.indptr[user_index]:m.indptr[user_index + 1]]

    def item_counts(self) -> np.ndarray:
        """Return the number of interactions of each item.

        Returns
        -------
        numpy.ndarray of int
            One count per item index.
        """
        return np.bincount(self.matrix.indices, minlength=self.n_items)

    def item_titles(self, item_indices) -> list:
        """Return display labels of items: 'Title (year)' from metadata when known, else the raw id.

        Parameters
        ----------
        item_indices : array-like of int
            Dense item indices.

        Returns
        -------
        list of str
            One label per index.
        """
        raw = self.item_ids.to_raw(np.asarray(item_indices))
        meta = self.item_metadata
        if meta is None or "title" not in meta.columns:
            return [str(r) for r in raw]
        titles = meta["title"].reindex(raw)
        years = meta["year"].reindex(raw) if "year" in meta.columns else pd.Series(np.nan, index=titles.index)
        labels = []
        for r, t, y in zip(raw, titles, years):
            if pd.isna(t) or str(t) == "":
                labels.append(str(r))
            else:
                has_year = isinstance(y, (int, float, np.number)) and not pd.isna(y)
                labels.append(f"{t} ({int(y)})" if has_year else str(t))
        return labels

    # ------------------------------------------------------------------ derived data
    def _with(self, matrix, timestamps, *, user_ids=None, item_ids=None, kind=None) -> Interactions:
        return Interactions(matrix, user_ids or self.user_ids, item_ids or self.item_ids,
                            timestamps=timestamps, item_metadata=self.item_metadata,
                            kind=kind or self.kind, rating_scale=self.rating_scale)

    def select(self, mask) -> Interactions:
        """Return the entries where ``mask`` is true, with the same id maps.

        Parameters
        ----------
        mask : array-like of bool
            Aligned with the CSR entries.

        Returns
        -------
        Interactions
            The selected entries (and their timestamps).
        """
        mask = np.asarray(mask, dtype=bool)
        m = self.matrix
        users = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
        indptr = np.zeros(m.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(users[mask], minlength=m.shape[0]), out=indptr[1:])
        new = sp.csr_matrix((m.data[mask], m.indices[mask], indptr), shape=m.shape)
        new.has_sorted_indices = True
        ts = self.timestamps[mask] if self.timestamps is not None else None
        return self._with(new, ts)

    def to_implicit(self, threshold: Optional[float] = 4.0, *, confidence: Optional[str] = None,
                    alpha: float = 1.0) -> Interactions:
        """Turn explicit ratings into implicit feedback: keep entries with rating >= threshold.

        Values become 1, or a confidence weight: confidence="linear" gives 1 + alpha * rating,
        confidence="log" gives 1 + alpha * log(1 + rating) (Hu, Koren, Volinsky 2008, eq. 6).
        The id maps are unchanged (rows/columns may be empty).

        Parameters
        ----------
        threshold : float or None, default 4.0
            The lowest rating kept; None keeps every entry.
        confidence : {None, "linear", "log"}, default None
            None makes every value 1.
        alpha : float, default 1.0
            The confidence scale.

        Returns
        -------
        Interactions
            Implicit interactions (no rating scale), timestamps kept.

        Raises
        ------
        DataError
            When the data are already implicit, no rating reaches the threshold, ``confidence``
            is unknown, or a confidence leaves the float32 range.
        InvalidParameterError
            When ``threshold`` or ``alpha`` is not a finite number.
        """
        if not self.is_explicit:
            raise DataError("to_implicit() needs explicit ratings; these interactions are already implicit")
        if threshold is not None and (isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, numbers.Real)
                                      or not np.isfinite(threshold)):
            raise InvalidParameterError(f"threshold must be a finite number or None, got {threshold!r}")
        if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, numbers.Real) or not np.isfinite(alpha):
            raise InvalidParameterError(f"alpha must be a finite number, got {alpha!r}")
        out = self if threshold is None else self.select(self.matrix.data >= threshold)
        if out.nnz == 0:
            raise DataError(f"no rating is >= {threshold}: the implicit data set would be empty")
        ratings = out.matrix.data.astype(np.float64)  # float64: alpha * rating may exceed float32
        if confidence is None:
            values = np.ones_like(ratings)
        elif confidence == "linear":
            values = 1.0 + alpha * ratings
        elif confidence == "log":
            values = 1.0 + alpha * np.log1p(ratings)
        else:
            raise DataError(f"confidence must be None, 'linear' or 'log', got {confidence!r}")
        values = np.asarray(values, dtype=np.float64)
        _check_float32_range(values, f"confidence (alpha={alpha})", "to_implicit()")
        m = sp.csr_matrix((values.astype(np.float32), out.matrix.indices, out.matrix.indptr), shape=out.shape)
        m.has_sorted_indices = True
        return Interactions(m, self.user_ids, self.item_ids, timestamps=out.timestamps,
                            item_metadata=self.item_metadata, kind="implicit", rating_scale=None)

    def compact(self) -> Interactions:
        """Drop users and items without any interaction (ids are renumbered).

        Returns
        -------
        Interactions
            ``self`` when nothing is dropped, else the compacted interactions.
        """
        m = self.matrix
        keep_u = np.flatnonzero(np.diff(m.indptr) > 0)
        keep_i = np.flatnonzero(np.bincount(m.indices, minlength=m.shape[1]) > 0)
        if len(keep_u) == m.shape[0] and len(keep_i) == m.shape[1]:
            return self
        new = m[keep_u][:, keep_i].tocsr()
        new.sort_indices()
        ts = None
        if self.timestamps is not None:  # carry timestamps through the same row/column selection
            t = sp.csr_matrix((np.arange(1, m.nnz + 1, dtype=np.float64), m.indices, m.indptr), shape=m.shape)
            t = t[keep_u][:, keep_i].tocsr()
            t.sort_indices()
            ts = self.timestamps[t.data.astype(np.int64) - 1]
        return self._with(new, ts, user_ids=self.user_ids.take(keep_u), item_ids=self.item_ids.take(keep_i))

    def align_to(self, reference: Interactions) -> tuple[Interactions, int]:
        """Re-express these entries in the id maps of ``reference`` (e.g. a training set).

        Entries whose user or item is unknown to ``reference`` are dropped, never mapped to a wrong
        index.

        Parameters
        ----------
        reference : Interactions
            The interactions whose id maps to use.

        Returns
        -------
        aligned : Interactions
            The entries known to ``reference``, in its id maps.
        n_dropped : int
            The number of dropped entries.
        """
        u, i, v = self.to_coo()
        new_u = reference.user_ids.indices(self.user_ids.raw, missing="ignore")[u]
        new_i = reference.item_ids.indices(self.item_ids.raw, missing="ignore")[i]
        keep = (new_u >= 0) & (new_i >= 0)
        order = np.lexsort((new_i[keep], new_u[keep]))
        uu, ii, vv = new_u[keep][order], new_i[keep][order], v[keep][order]
        indptr = np.zeros(reference.n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(uu, minlength=reference.n_users), out=indptr[1:])
        m = sp.csr_matrix((vv, ii, indptr), shape=reference.shape)
        m.has_sorted_indices = True
        ts = self.timestamps[keep][order] if self.timestamps is not None else None
        aligned = Interactions(m, reference.user_ids, reference.item_ids, timestamps=ts,
                               item_metadata=self.item_metadata, kind=self.kind, rating_scale=self.rating_scale)
        return aligned, int((~keep).sum())


    # ------------------------------------------------------------------ model files
    def to_file_arrays(self) -> tuple[dict, dict]:
        """Return these interactions as plain NumPy arrays and JSON values.

        That is the form a model file stores (:mod:`mfrec.persistence`); :meth:`from_file_arrays`
        reverses it. Stored: the CSR matrix ("train:*"), the raw ids ("ids:*") and the item
        metadata columns ("meta:*", numbers as they are, anything else as strings); not the
        timestamps.

        Returns
        -------
        arrays : dict of str to numpy.ndarray
            The arrays, by name.
        info : dict
            JSON values (shape, kind, rating scale, metadata columns).
        """
        arrays = {"train:indptr": self.matrix.indptr, "train:indices": self.matrix.indices,
                  "train:data": self.matrix.data, "ids:user": self.user_ids.raw, "ids:item": self.item_ids.raw}
        meta_cols = []
        if self.item_metadata is not None:
            aligned = self.item_metadata.reindex(self.item_ids.raw)
            for col in aligned.columns:
                values = aligned[col]
                if values.dtype.kind in "iuf":
                    arrays[f"meta:{col}"] = values.to_numpy()
                else:
                    arrays[f"meta:{col}"] = values.fillna("").astype(str).to_numpy().astype(str)
                meta_cols.append(col)
        info = {"kind": self.kind, "rating_scale": self.rating_scale, "shape": list(self.shape),
                "metadata_columns": meta_cols}
        return arrays, info

    #: the array name prefixes of :meth:`to_file_arrays`
    FILE_ARRAY_PREFIXES = ("train:", "ids:", "meta:")

    @classmethod
    def from_file_arrays(cls, arrays: dict, info) -> Interactions:
        """Rebuild the interactions :meth:`to_file_arrays` stored.

        Every array (dtype, shape, a valid CSR structure, finite values in the float32 range) and
        the info are checked first, so a damaged or crafted file fails here.

        Parameters
        ----------
        arrays : dict of str to numpy.ndarray
            The stored arrays.
        info : dict
            The stored JSON values.

        Returns
        -------
        Interactions
            The stored interactions.

        Raises
        ------
        ModelFileError
            When anything is wrong.
        """
        if not isinstance(info, dict):
            raise ModelFileError("the header has no interactions section")
        user_ids = IdMap(_stored_array(arrays, "ids:user", kinds="iuU", ndim=1), kind="user")
        item_ids = IdMap(_stored_array(arrays, "ids:item", kinds="iuU", ndim=1), kind="item")
        shape = info.get("shape")
        if shape != [len(user_ids), len(item_ids)]:
            raise ModelFileError(f"matrix shape {shape!r} does not match {len(user_ids)} user and "
                                 f"{len(item_ids)} item ids")
        matrix = _stored_csr(arrays, len(user_ids), len(item_ids))
        kind, scale = info.get("kind"), info.get("rating_scale")
        if kind not in ("explicit", "implicit"):
            raise ModelFileError(f"unknown interactions kind {kind!r}")
        if scale is not None and not (isinstance(scale, list) and len(scale) == 2
                                      and all(_is_finite_number(v) for v in scale) and scale[0] < scale[1]):
            raise ModelFileError(f"bad rating scale {scale!r}")
        meta = None
        columns = info.get("metadata_columns") or []
        if columns:
            meta = pd.DataFrame({c: _stored_array(arrays, f"meta:{c}", kinds="iufU", shape=(len(item_ids),),
                                                  finite=False)  # metadata may be missing (NaN year)
                                 for c in columns}, index=pd.Index(item_ids.raw, name="item"))
        return cls(matrix, user_ids, item_ids, item_metadata=meta, kind=kind,
                   rating_scale=None if scale is None else tuple(scale))


# ---------------------------------------------------------------------- helpers
def _as_float(values, field: str, source: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind in "iufb":
        return arr.astype(np.float64)
    try:
        return pd.to_numeric(pd.Series(arr), errors="raise").to_numpy(dtype=np.float64)
    except (ValueError, TypeError):
        series = pd.to_numeric(pd.Series(arr), errors="coerce")
        bad = int(np.flatnonzero(series.isna().to_numpy() & ~pd.isna(pd.Series(arr)).to_numpy())[0])
        raise DataError(f"{source}: {field} {arr[bad].item() if hasattr(arr[bad], 'item') else arr[bad]!r} "
                        f"at row {bad} is not a number") from None


def _check_finite(values: np.ndarray, field: str, source: str) -> None:
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise DataError(f"{source}: {field} at row {int(bad[0])} is {values[bad[0]]} (NaN/inf not allowed)")


def _check_float32_range(values: np.ndarray, field: str, source: str) -> None:
    if values.dtype.kind == "f" and len(values):  # max/min first: no temporary of the data's size
        lo, hi = np.fmin.reduce(values), np.fmax.reduce(values)  # NaN-ignoring
        if not (np.abs(lo) > FLOAT32_MAX or np.abs(hi) > FLOAT32_MAX):
            return
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(np.abs(values) > FLOAT32_MAX)
    if len(bad):
        raise DataError(f"{source}: {field} {values[bad[0]]:g} at row {int(bad[0])} is beyond the float32 range "
                        f"(|x| <= {FLOAT32_MAX:.4g}) that models compute in")


def _resolve_duplicates(u, i, values, ts, n_items, rule, user_map, item_map, source):
    """Sort entries by (user, item) and apply the duplicate rule; returns sorted arrays."""
    if rule not in DUPLICATE_RULES:
        raise DataError(f"duplicates must be one of {DUPLICATE_RULES}, got {rule!r}")
    key = u.astype(np.int64) * n_items + i
    order = np.argsort(key, kind="stable")  # stable: input order kept within a pair
    key = key[order]
    new_pair = np.empty(len(key), dtype=bool)
    new_pair[0] = True
    np.not_equal(key[1:], key[:-1], out=new_pair[1:])
    if new_pair.all():
        return u[order], i[order], values[order], (ts[order] if ts is not None else None)
    if rule == "error":
        dup = order[np.flatnonzero(~new_pair)[0]]
        raise DataError(f"{source}: duplicate rating for user {user_map.raw[u[dup]].item()!r}, item "
                        f"{item_map.raw[i[dup]].item()!r} (row {int(dup)}); pass duplicates='last' or another rule")
    starts = np.flatnonzero(new_pair)
    last = np.append(starts[1:], len(key)) - 1
    vals = values[order]
    if rule == "first":
        pick = order[starts]
        out_vals = values[pick]
    else:
        pick = order[last]
        if rule == "last":
            out_vals = values[pick]
        elif rule == "sum":
            out_vals = np.add.reduceat(vals, starts)
        elif rule == "max":
            out_vals = np.maximum.reduceat(vals, starts)
        else:  # mean
            out_vals = np.add.reduceat(vals, starts) / np.diff(np.append(starts, len(key)))
    return u[pick], i[pick], out_vals, (ts[pick] if ts is not None else None)


# ---------------------------------------------------------------------- stored arrays
def _is_finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value))


def _stored_array(arrays: dict, key: str, *, kinds: str, ndim: Optional[int] = None, shape=None,
                  finite: bool = True) -> np.ndarray:
    """Return a stored array after checking its dtype kind, ndim/shape (and finite values)."""
    if key not in arrays:
        raise ModelFileError(f"array {key!r} is missing")
    value = arrays[key]
    if value.dtype.kind not in kinds:
        raise ModelFileError(f"array {key!r} has dtype {value.dtype}")
    if (ndim is not None and value.ndim != ndim) or (shape is not None and value.shape != tuple(shape)):
        raise ModelFileError(f"array {key!r} has shape {value.shape}")
    if finite and value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        raise ModelFileError(f"array {key!r} contains NaN/inf")
    return value


def _stored_csr(arrays: dict, n_users: int, n_items: int) -> sp.csr_matrix:
    """Return the training matrix, after checking that indptr/indices/data form a valid CSR matrix."""
    indptr = _stored_array(arrays, "train:indptr", kinds="iu", shape=(n_users + 1,))
    indices = _stored_array(arrays, "train:indices", kinds="iu", ndim=1)
    data = _stored_array(arrays, "train:data", kinds="f", shape=indices.shape)
    if indptr[0] != 0 or indptr[-1] != len(indices) or np.any(np.diff(indptr) < 0):
        raise ModelFileError("train:indptr is not a valid row pointer")
    if len(indices) and (indices.min() < 0 or indices.max() >= n_items):
        raise ModelFileError(f"train:indices holds item indices outside [0, {n_items})")
    if np.any(np.abs(data) > FLOAT32_MAX):
        raise ModelFileError("train:data holds values beyond the float32 range")
    return sp.csr_matrix((data.astype(np.float32), indices.astype(np.int32), indptr.astype(np.int64)),
                         shape=(n_users, n_items))
