r"""NCF's ML-1M evaluation files (He et al. 2017, "Neural Collaborative Filtering", WWW).

Readers for the ``.rating`` / ``.negative`` formats and a builder of the training file from
``ratings.dat``.

Formats (tab-separated, as in github.com/hexiangnan/neural_collaborative_filtering, ``Data/``):

* ``ml-1m.test.rating`` / ``ml-1m.train.rating``: ``user \t item \t rating \t timestamp``, one
  rating per line, ids are NCF's dense ids (0-based).
* ``ml-1m.test.negative``: ``(user,item) \t neg_1 \t ... \t neg_99``: the test pair of the same
  line of ``.test.rating`` and its sampled negatives.

NCF's ids for ML-1M: user = MovieLens UserID - 1; item = the order in which each MovieID first
appears in ``ratings.dat`` (0, 1, 2, ...). NCF's training file is every rating of ``ratings.dat``
except each user's test pair; every rating counts as a positive, whatever its value.

Every malformed line raises :class:`~mfrec.errors.DataError` naming the file, the line number and
the field.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import DataError

__all__ = ["NcfRatings", "read_ncf_ratings", "read_ncf_negatives", "read_movielens_dat",
           "ncf_ids", "build_ncf_training", "write_ncf_ratings", "TEST_RATING", "TEST_NEGATIVE", "N_NEGATIVES"]

TEST_RATING = "ml-1m.test.rating"
TEST_NEGATIVE = "ml-1m.test.negative"
#: negatives per test pair in NCF's files
N_NEGATIVES = 99


@dataclass(frozen=True)
class NcfRatings:
    """Parallel arrays of one ``.rating`` file (or of ratings.dat in NCF ids).

    ``timestamps`` is float64 with NaN where the field is empty (ML-1M's shared copy lacks 86,287
    timestamps).
    """

    users: np.ndarray      # int64
    items: np.ndarray      # int64
    ratings: np.ndarray    # float64
    timestamps: np.ndarray  # float64, NaN = missing

    def __len__(self) -> int:
        return len(self.users)


def _lines(path: Path):
    """(line number, text) of every line of a text file, without the line end."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with open(path, encoding="utf-8", errors="strict", newline="") as handle:
        try:
            for number, line in enumerate(handle, start=1):
                yield number, line.rstrip("\r\n")
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _int_field(text: str, path, number: int, field: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise DataError(f"{path}, line {number}: {field} {text!r} is not an integer") from None
    if value < 0:
        raise DataError(f"{path}, line {number}: {field} {value} is negative")
    return value


def _float_field(text: str, path, number: int, field: str, *, allow_empty: bool = False) -> float:
    if allow_empty and text.strip() == "":
        return float("nan")
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{path}, line {number}: {field} {text!r} is not a number") from None
    if not np.isfinite(value):
        raise DataError(f"{path}, line {number}: {field} {text!r} is not finite")
    return value


def _fast_read(path, sep: str) -> Optional[NcfRatings]:
    """Parse the 4-field file with pandas' C reader (about 20x faster than the line loop).

    Returns None when anything looks off; the caller then runs the exact line-by-line reader,
    which names the bad line.
    """
    import io

    import pandas as pd
    try:
        text = Path(path).read_bytes()
        if sep != "\t":
            text = text.replace(sep.encode(), b"\t")
        frame = pd.read_csv(io.BytesIO(text), sep="\t", header=None, names=["u", "i", "r", "t"],
                            dtype={"u": np.int64, "i": np.int64, "r": np.float64, "t": np.float64},
                            skip_blank_lines=True, engine="c")
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError):
        return None
    if frame.empty or text.count(b"\t") != 3 * len(frame):  # a line with a missing or extra field
        return None
    if frame.isna()[["u", "i", "r"]].any().any():
        return None
    u, i, r, t = (frame[c].to_numpy() for c in "uirt")
    if (u < 0).any() or (i < 0).any() or not np.isfinite(r).all() or np.isinf(t).any():
        return None
    return NcfRatings(u, i, r, t)


def read_ncf_ratings(path) -> NcfRatings:
    r"""Read a ``.rating`` file: ``user \t item \t rating \t timestamp`` per line.

    An empty timestamp field is read as missing. Raises DataError (file, line, field) on a bad line.
    """
    return _read_four_fields(path, "\t", "tab-separated", ("user", "item", "rating", "timestamp"))


def _read_four_fields(path, sep: str, sep_name: str, names: tuple) -> NcfRatings:
    """Read ``user sep item sep rating sep timestamp`` lines (field ``names`` for messages).

    The fast pandas path when the file is clean, else line by line to name the bad line and field.
    """
    fast = _fast_read(path, sep) if Path(path).is_file() else None
    if fast is not None:
        return fast
    users, items, ratings, stamps = [], [], [], []
    for number, line in _lines(path):
        if line == "":
            continue
        fields = line.split(sep)
        if len(fields) != 4:
            raise DataError(f"{path}, line {number}: expected 4 {sep_name} fields "
                            f"({', '.join(names)}), found {len(fields)}: {line[:80]!r}")
        users.append(_int_field(fields[0], path, number, names[0]))
        items.append(_int_field(fields[1], path, number, names[1]))
        ratings.append(_float_field(fields[2], path, number, names[2]))
        stamps.append(_float_field(fields[3], path, number, names[3], allow_empty=True))
    if not users:
        raise DataError(f"{path}: no ratings in the file")
    return NcfRatings(np.array(users, dtype=np.int64), np.array(items, dtype=np.int64),
                      np.array(ratings, dtype=np.float64), np.array(stamps, dtype=np.float64))


def read_ncf_negatives(path, *, n_negatives: Optional[int] = N_NEGATIVES) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Read a ``.negative`` file: ``(user,item) \t neg ...`` per line.

    Returns ``(users, items, negatives)``: int64 arrays of the test pairs and an int64 array
    (lines x n_negatives). With ``n_negatives=None`` any count is accepted but every line must
    have the same. Raises DataError (file, line, field) on a bad line.
    """
    users, items, rows = [], [], []
    width = n_negatives
    for number, line in _lines(path):
        if line == "":
            continue
        fields = line.split("\t")
        head = fields[0]
        if not (head.startswith("(") and head.endswith(")") and head.count(",") == 1):
            raise DataError(f"{path}, line {number}: first field {head[:40]!r} is not '(user,item)'")
        user_text, item_text = head[1:-1].split(",")
        users.append(_int_field(user_text.strip(), path, number, "user"))
        items.append(_int_field(item_text.strip(), path, number, "item"))
        negs = [f for f in fields[1:] if f != ""]  # tolerate a trailing tab
        if width is None:
            width = len(negs)
        if len(negs) != width:
            raise DataError(f"{path}, line {number}: expected {width} negative item ids, found {len(negs)}")
        rows.append([_int_field(f, path, number, f"negative {j + 1}") for j, f in enumerate(negs)])
    if not users:
        raise DataError(f"{path}: no test pairs in the file")
    return (np.array(users, dtype=np.int64), np.array(items, dtype=np.int64),
            np.array(rows, dtype=np.int64).reshape(len(rows), width or 0))


def read_movielens_dat(path) -> NcfRatings:
    """Read the ``UserID::MovieID::Rating::Timestamp`` lines of ML-1M's ratings.dat.

    Raw MovieLens ids, in file order; an empty timestamp is read as missing. Raises DataError
    (file, line, field).
    """
    return _read_four_fields(path, "::", "'::'-separated", ("UserID", "MovieID", "Rating", "Timestamp"))


def ncf_ids(ml: NcfRatings) -> tuple[NcfRatings, np.ndarray]:
    """ratings.dat in NCF's ids: user = UserID - 1, item = order of the MovieID's first appearance.

    Returns ``(ratings in NCF ids, movie_ids)`` where ``movie_ids[ncf_item]`` is the MovieID.
    """
    movie_ids, first = np.unique(ml.items, return_index=True)
    order = np.argsort(first, kind="stable")          # MovieIDs in order of first appearance
    ncf_of_sorted = np.empty(len(movie_ids), dtype=np.int64)
    ncf_of_sorted[order] = np.arange(len(movie_ids))
    items = ncf_of_sorted[np.searchsorted(movie_ids, ml.items)]
    if ml.users.min() < 1:
        raise DataError(f"ratings.dat: UserID {ml.users.min()} < 1 cannot map to NCF's UserID - 1")
    return NcfRatings(ml.users - 1, items, ml.ratings, ml.timestamps), movie_ids[order]


def build_ncf_training(ratings_dat, test_rating) -> tuple[NcfRatings, np.ndarray]:
    """NCF's training ratings rebuilt from ``ratings.dat`` and the official ``.test.rating``.

    Each test line must match one rating of that user and item with the same value (and the same
    timestamp where ratings.dat has one), else DataError names the test line. The training set is
    every other rating, in ratings.dat's order. Returns ``(train, movie_ids)``.
    """
    ml, movie_ids = ncf_ids(read_movielens_dat(ratings_dat))
    test = read_ncf_ratings(test_rating)
    n_items = len(movie_ids)
    key = ml.users * n_items + ml.items
    order = np.argsort(key, kind="stable")
    test_key = test.users * n_items + test.items
    pos = np.searchsorted(key[order], test_key)
    pos = np.minimum(pos, len(order) - 1)
    found = (key[order][pos] == test_key) & (test.items < n_items)
    bad = np.flatnonzero(~found)
    if len(bad):
        j = int(bad[0])
        raise DataError(f"{test_rating}, line {j + 1}: test pair (user {test.users[j]}, item {test.items[j]}) "
                        f"is not a rating of {ratings_dat} in NCF's ids")
    rows = order[pos]
    same_rating = ml.ratings[rows] == test.ratings
    ts_ml, ts_test = ml.timestamps[rows], test.timestamps
    same_time = np.isnan(ts_ml) | np.isnan(ts_test) | (ts_ml == ts_test)
    bad = np.flatnonzero(~(same_rating & same_time))
    if len(bad):
        j = int(bad[0])
        raise DataError(f"{test_rating}, line {j + 1}: test pair (user {test.users[j]}, item {test.items[j]}) "
                        f"has rating {test.ratings[j]:g} / timestamp {ts_test[j]:.0f}, but {ratings_dat} "
                        f"line {rows[j] + 1} has {ml.ratings[rows[j]]:g} / {ts_ml[j]:.0f}")
    if len(np.unique(test.users)) != len(test.users):
        raise DataError(f"{test_rating}: a user has more than one test line (NCF holds out one per user)")
    keep = np.ones(len(ml), dtype=bool)
    keep[rows] = False
    train = NcfRatings(ml.users[keep], ml.items[keep], ml.ratings[keep], ml.timestamps[keep])
    return train, movie_ids


def write_ncf_ratings(ratings: NcfRatings, path) -> Path:
    """Write a ``.rating`` file (missing timestamps as an empty field), atomically.

    A temporary file in the same folder is renamed into place, so no half-written file is ever left.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise DataError(f"cannot write {path}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            for u, i, r, t in zip(ratings.users.tolist(), ratings.items.tolist(), ratings.ratings.tolist(),
                                  ratings.timestamps.tolist()):
                stamp = "" if t != t else str(int(t))
                rating = str(int(r)) if float(r).is_integer() else repr(r)
                out.write(f"{u}\t{i}\t{rating}\t{stamp}\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
