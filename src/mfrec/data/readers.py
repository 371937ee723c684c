"""Fast, strict readers for rating files: CSV, TSV, "::"-separated (MovieLens), or a DataFrame.

One function, :func:`read_ratings`, turns a file of ``user, item[, rating][, timestamp]`` rows
into an :class:`~mfrec.data.interactions.Interactions`. It is built for speed and for clear
errors:

* Parsing uses pandas' C engine. A multi-character separator such as MovieLens' ``"::"`` is
  first replaced, in the raw bytes, by one byte that does not occur in the file, so the C engine
  can read it (pandas would otherwise fall back to its python engine, several times slower).
* Before parsing, one vectorized NumPy pass over the bytes counts the fields of every line, so a
  malformed or truncated line is reported with its 1-based line number and the expected count.
* Every bad value (non-numeric or NaN/inf rating, rating outside the declared scale, missing
  user or item id, bad timestamp) raises :class:`~mfrec.errors.DataError` naming the file,
  line, field and value. No pandas traceback reaches the user.

An empty timestamp field is allowed and becomes NaN (ML-1M has 86,287 such lines).
"""
from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ..errors import DataError, InvalidParameterError
from .interactions import DUPLICATE_RULES, Interactions

__all__ = ["read_ratings"]

# Column-name aliases recognised in a header (compared lower-case, without "_", "-" and spaces).
USER_ALIASES = ("user", "userid", "uid", "users", "customer", "customerid", "visitorid")
ITEM_ALIASES = ("item", "itemid", "iid", "movie", "movieid", "mid", "product", "productid", "items")
RATING_ALIASES = ("rating", "ratings", "score", "value", "stars", "weight")
TIMESTAMP_ALIASES = ("timestamp", "time", "ts", "datetime", "date", "unixtime")
_ALL_ALIASES = set(USER_ALIASES + ITEM_ALIASES + RATING_ALIASES + TIMESTAMP_ALIASES)

# Separators tried, in this order, on the first line when sep=None.
_AUTO_SEPARATORS = ("::", "\t", ",", ";", "|")
# Bytes that may stand in for a multi-character separator (chosen if absent from the file).
_STAND_INS = (b"\x1f", b"\x1e", b"\x1d", b"\x1c", b"\x01")
_DEFAULT_NAMES = ("user", "item", "rating", "timestamp")
_CHUNK = 1 << 24  # bytes per NumPy pass when counting fields (bounds temporary memory)

ColumnSpec = Union[str, int, None, bool]


def read_ratings(path, *, sep: Optional[str] = None, header: Union[str, bool] = "infer",
                 names: Optional[Sequence[str]] = None, user_col: ColumnSpec = None,
                 item_col: ColumnSpec = None, rating_col: ColumnSpec = None,
                 timestamp_col: ColumnSpec = None, rating_scale: Optional[tuple] = None,
                 duplicates: str = "last", encoding: str = "utf-8",
                 item_metadata: Optional[pd.DataFrame] = None) -> Interactions:
    r"""Read a ratings file (or DataFrame) into :class:`Interactions`.

    Parameters
    ----------
    path : str, Path or pandas.DataFrame
        A text file (optionally ``.gz``, ``.bz2`` or ``.xz`` compressed) with one interaction per
        line, a ``.parquet`` file (needs pyarrow), or a DataFrame with named columns. Errors in
        a DataFrame or parquet file name the 0-based row instead of the line.
    sep : str, optional
        Field separator, any literal string (``"::"``, ``"\t"``, ``","``, ...). ``None`` detects
        it from the first line, trying ``"::"``, tab, comma, semicolon and ``"|"`` in that order.
    header : "infer", True or False
        Whether the first line holds column names. ``"infer"`` says yes when a field of the first
        line is a known column name (user, userId, item, movieId, rating, timestamp, ...) or when
        no field of the first line is a number but one of the second line is.
    names : sequence of str, optional
        Names for the columns of a file without header (or replacing its header). Without header
        and ``names``, columns are ``user, item, rating, timestamp`` by position.
    user_col, item_col, rating_col, timestamp_col : str or int, optional
        Column name or 0-based position. ``None`` picks the column by name (aliases above) or,
        without a header, by position (0, 1, 2, 3). ``rating_col=False`` reads implicit data
        (every value 1) even if a rating column exists; ``timestamp_col=False`` ignores times.
    rating_scale : (low, high), optional
        Declared rating scale; a rating outside it is an error naming the line.
    duplicates : str
        Rule for repeated (user, item) pairs: "last" (default, the later line wins), "first",
        "mean", "max", "sum", or "error" (raise, naming both lines).
    encoding : str
        Text encoding of the file (ids may be strings); default utf-8.
    item_metadata : DataFrame, optional
        Indexed by raw item id (title, year, genres ...), attached to the result.

    Returns
    -------
    Interactions
        Explicit when a rating column is used, implicit otherwise; timestamps float64 with NaN
        where a field was empty.

    Raises
    ------
    DataError
        Missing or empty file, malformed/truncated line (file, line number, expected and found
        field counts), non-numeric/NaN/inf rating, rating outside ``rating_scale``, missing id,
        bad timestamp: every message names the file, the line and the field.
    """
    if duplicates not in DUPLICATE_RULES:
        raise InvalidParameterError(f"duplicates must be one of {DUPLICATE_RULES}, got {duplicates!r}")
    if rating_scale is not None:
        rating_scale = _check_scale(rating_scale)
    if isinstance(path, pd.DataFrame):
        frame, source = path, "DataFrame"
        row_lines = None
        labels = list(frame.columns)
        positions = _resolve_columns(labels, True, user_col, item_col, rating_col, timestamp_col, source)
        columns = {role: (labels[k] if k is not None else None) for role, k in positions.items()}
    elif str(path).lower().endswith((".parquet", ".pq")):
        source = str(path)
        frame, row_lines = _read_parquet(Path(path)), None
        labels = list(frame.columns)
        positions = _resolve_columns(labels, True, user_col, item_col, rating_col, timestamp_col, source)
        columns = {role: (labels[k] if k is not None else None) for role, k in positions.items()}
    else:
        source = str(path)
        frame, row_lines, columns = _parse_file(Path(path), sep=sep, header=header, names=names,
                                                cols=(user_col, item_col, rating_col, timestamp_col),
                                                encoding=encoding)
    return _build(frame, columns, row_lines, source, rating_scale=rating_scale,
                  duplicates=duplicates, item_metadata=item_metadata)


# ---------------------------------------------------------------------------- file -> frame
def _read_parquet(path: Path) -> pd.DataFrame:
    """Read a parquet file as a DataFrame (needs pyarrow or fastparquet, optional dependencies)."""
    if not path.is_file():
        raise DataError(f"ratings file not found: {path}")
    try:
        return pd.read_parquet(path)
    except ImportError:
        raise DataError(f"{path}: reading parquet files needs pyarrow (pip install pyarrow); "
                        "or save the ratings as CSV") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path} as parquet: {exc}") from None


def _parse_file(path: Path, *, sep, header, names, cols, encoding):
    """Parse a file into (DataFrame of raw strings/numbers, line number of each row, columns)."""
    source = str(path)
    data = _read_bytes(path)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    first, first_end = _next_line(data, 0)
    if first is None:
        raise DataError(f"{source}: the file is empty (no ratings)")
    first_text = _decode(first[0], source, encoding, first[1])
    if sep is None:
        sep = _detect_separator(first_text, source)
    elif not isinstance(sep, str) or sep == "":
        raise InvalidParameterError(f"sep must be a non-empty string, got {sep!r}")
    first_fields = _split_line(first_text, sep)

    if header == "infer":
        second, _ = _next_line(data, first_end)
        second_text = _decode(second[0], source, encoding, second[1]) if second else None
        header = _looks_like_header(first_fields, second_text, sep)
    elif header not in (True, False):
        raise InvalidParameterError(f"header must be 'infer', True or False, got {header!r}")

    n_fields = len(first_fields)
    if header:
        file_names = [f.strip().strip('"') for f in first_fields]
        body_first_line = first[1] + 1
    else:
        file_names = [_DEFAULT_NAMES[k] if k < len(_DEFAULT_NAMES) else f"field{k + 1}"
                      for k in range(n_fields)]
        body_first_line = 1
    if names is not None:
        names = [str(n) for n in names]
        if len(names) != n_fields:
            raise DataError(f"{source}: {len(names)} names given ({names}) but line {first[1]} has "
                            f"{n_fields} fields separated by {sep!r}")
        file_names = names
    if len(set(file_names)) != len(file_names):
        raise DataError(f"{source}: repeated column names {file_names}")
    user_col, item_col, rating_col, timestamp_col = cols
    columns = _resolve_columns(file_names, bool(header) or names is not None, user_col, item_col, rating_col,
                               timestamp_col, source)

    # The whole buffer is kept (no copy of the body); pandas skips the header by line count.
    data, byte_sep = _single_byte_separator(data, sep, source)
    body_start = _offset_of_line(data, body_first_line)
    if data.find(b'"', body_start) >= 0:
        row_lines = _field_counts_quoted(data[body_start:], byte_sep, n_fields, body_first_line, source,
                                         encoding, sep)
    else:
        row_lines = _field_counts_fast(data, body_start, byte_sep, n_fields, body_first_line, source, sep)
    if len(row_lines) == 0:
        raise DataError(f"{source}: the file has no ratings (only a header or blank lines)")

    usecols = sorted(k for k in columns.values() if k is not None)
    try:
        frame = pd.read_csv(io.BytesIO(data), sep=byte_sep.decode("latin-1"), header=None,
                            skiprows=body_first_line - 1,
                            names=list(range(n_fields)), usecols=usecols, engine="c",
                            encoding=encoding, keep_default_na=False, na_values=[""],
                            skip_blank_lines=True, low_memory=False)
    except UnicodeDecodeError as exc:
        raise DataError(f"{source}: cannot decode the file as {encoding} ({exc.reason} at byte "
                        f"{exc.start}); pass encoding='latin-1' or the file's encoding") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{source}: cannot parse the file: {exc}") from None
    if len(frame) != len(row_lines):  # should not happen: the field scan mirrors the C parser
        raise DataError(f"{source}: found {len(frame)} rows where {len(row_lines)} lines were counted; "
                        "the file has unusual quoting or line endings")
    frame.columns = [file_names[k] for k in usecols]
    named = {role: (file_names[k] if k is not None else None) for role, k in columns.items()}
    return frame, row_lines, named


def _read_bytes(path: Path) -> bytes:
    source = str(path)
    if not path.exists():
        raise DataError(f"ratings file not found: {source}")
    if path.is_dir():
        raise DataError(f"{source} is a directory, not a ratings file")
    openers: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
    opener = openers.get(path.suffix.lower(), open)
    try:
        with opener(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise DataError(f"cannot read {source}: {exc}") from None


def _next_line(data: bytes, start: int):
    """Find the next non-blank line at or after ``start``.

    Returns ((line bytes without EOL, 1-based line number), offset after it); (None, len) when
    there is none.
    """
    line_no = data.count(b"\n", 0, start) + 1
    pos = start
    while pos < len(data):
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end
        line = data[pos:end].rstrip(b"\r")
        if line.strip():
            return (line, line_no), min(end + 1, len(data))
        pos, line_no = end + 1, line_no + 1
    return None, len(data)


def _decode(raw: bytes, source: str, encoding: str, line_no: int) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        raise DataError(f"{source} line {line_no}: cannot decode as {encoding}; pass encoding="
                        f"'latin-1' or the file's encoding") from None
    except LookupError:
        raise InvalidParameterError(f"unknown encoding {encoding!r}") from None


def _detect_separator(line: str, source: str) -> str:
    for sep in _AUTO_SEPARATORS:
        if sep in line:
            return sep
    if len(line.split()) > 1:
        raise DataError(f"{source} line 1: fields seem separated by spaces; pass sep=' ' explicitly")
    raise DataError(f"{source}: cannot detect the field separator from the first line {line[:80]!r} "
                    "(tried '::', tab, ',', ';', '|'); pass sep=")


def _split_line(line: str, sep: str) -> list:
    if '"' in line and len(sep) == 1:
        return next(csv.reader([line], delimiter=sep))
    return line.split(sep)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _canon(name: str) -> str:
    return str(name).lower().replace("_", "").replace("-", "").replace(" ", "")


def _looks_like_header(fields: list, second_line: Optional[str], sep: str) -> bool:
    if any(_canon(f.strip().strip('"')) in _ALL_ALIASES for f in fields):
        return True
    if any(_is_number(f) for f in fields) or second_line is None:
        return False
    return any(_is_number(f) for f in _split_line(second_line, sep))


def _offset_of_line(data: bytes, line_no: int) -> int:
    """Byte offset where the 1-based line ``line_no`` starts (len(data) if past the end)."""
    pos = 0
    for _ in range(line_no - 1):
        nl = data.find(b"\n", pos)
        if nl < 0:
            return len(data)
        pos = nl + 1
    return pos


def _single_byte_separator(data: bytes, sep: str, source: str) -> tuple:
    """Return (data, one-byte separator).

    A multi-byte separator is replaced in the bytes by a byte absent from the file so pandas'
    C engine can parse it.
    """
    raw = sep.encode("utf-8")
    if len(raw) == 1:
        return data, raw
    for stand_in in _STAND_INS:
        if stand_in not in data:
            return data.replace(raw, stand_in), stand_in
    raise DataError(f"{source}: cannot handle separator {sep!r} (the file uses every stand-in byte)")


def _field_counts_fast(body: bytes, offset: int, sep: bytes, n_fields: int, first_line: int,
                       source: str, sep_text: str) -> np.ndarray:
    """Check that every non-blank line has ``n_fields`` fields; return each data row's file line.

    The line numbers are 1-based, blank lines skipped, as pandas does.

    Works on line-aligned chunks of the bytes (bounded temporary memory). In a chunk whose
    separator count is right, the separator positions reshaped to (lines, n_fields - 1) must
    all fall inside their own line; only when that fails are per-line counts computed (with a
    binary search of the newline positions among the separator positions) to name the line.
    """
    arr = np.frombuffer(body, dtype=np.uint8)
    n = len(arr)
    out, start, line_no = [], offset, first_line
    while start < n:
        stop = min(start + _CHUNK, n)
        if stop < n:  # end the chunk after a newline
            cut = body.rfind(b"\n", start, stop)
            if cut < 0:
                cut = body.find(b"\n", stop)
            stop = n if cut < 0 else cut + 1
        rows, n_lines = _check_chunk(body, arr, start, stop, sep, n_fields, line_no, source, sep_text)
        out.append(rows)
        start, line_no = stop, line_no + n_lines
    return np.concatenate(out) if out else np.empty(0, np.int64)


def _check_chunk(body, arr, a, b, sep, n_fields, first_line, source, sep_text):
    chunk = arr[a:b]
    ends = np.flatnonzero(chunk == 10)                 # each line ends at a "\n" ...
    if chunk[-1] != 10:
        ends = np.append(ends, len(chunk))             # ... or at the end of the file
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts
    # blank: empty or just "\r"; pandas' C engine skips such lines
    blank = (lengths == 0) | ((lengths == 1) & (chunk[np.maximum(ends - 1, 0)] == 13))
    rows = np.flatnonzero(~blank)
    seps = np.flatnonzero(chunk == sep[0])
    k = n_fields - 1
    ok = len(seps) == k * len(rows)
    if ok and k > 0 and len(rows):
        per_row = seps.reshape(len(rows), k)           # row r's separators, if every count is k
        ok = bool((per_row[:, 0] >= starts[rows]).all() and (per_row[:, -1] < ends[rows]).all())
    if not ok:
        counts = np.diff(np.concatenate(([0], np.searchsorted(seps, ends)))) + 1
        bad = np.flatnonzero(~blank & (counts != n_fields))
        j = int(bad[0])
        text = body[a + starts[j]:a + ends[j]].rstrip(b"\r").decode("latin-1")
        text = text.replace(sep.decode("latin-1"), sep_text)
        is_last = b == len(arr) and not (~blank[j + 1:]).any()
        _raise_field_count(source, first_line + j, n_fields, int(counts[j]), sep_text, text, last=is_last)
    return first_line + rows.astype(np.int64), len(ends)


def _field_counts_quoted(body: bytes, sep: bytes, n_fields: int, first_line: int, source: str,
                         encoding: str, sep_text: str) -> np.ndarray:
    """Run the same check for files with quoted fields, with the csv module (slower, exact)."""
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataError(f"{source}: cannot decode the file as {encoding} ({exc.reason}); pass "
                        "encoding='latin-1' or the file's encoding") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep.decode("latin-1"))
    lines = []
    start = first_line
    try:
        for row in reader:
            end_line = first_line + reader.line_num - 1
            if row:  # csv yields [] for a blank line; pandas skips those too
                if len(row) != n_fields:
                    _raise_field_count(source, start, n_fields, len(row), sep_text,
                                       sep_text.join(row), last=False)
                lines.append(start)
            start = end_line + 1
    except csv.Error as exc:
        raise DataError(f"{source} line {start}: {exc}") from None
    return np.asarray(lines, dtype=np.int64)


def _raise_field_count(source, line_no, expected, found, sep, text, last):
    hint = " (the file looks truncated)" if last and found < expected else ""
    raise DataError(f"{source} line {line_no}: expected {expected} fields separated by {sep!r}, "
                    f"found {found}{hint}: {text[:120]!r}")


# ---------------------------------------------------------------------------- columns
def _resolve_columns(file_names: list, named: bool, user_col, item_col, rating_col, timestamp_col,
                     source: str) -> dict:
    """Map the roles user/item/rating/timestamp to column positions (or names for a DataFrame)."""
    canon = [_canon(n) for n in file_names]
    labels = [str(n) for n in file_names]

    def pick(role, spec, aliases, default_pos, required):
        if spec is False:
            if required:
                raise InvalidParameterError(f"{role}_col cannot be False")
            return None
        if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
            if not 0 <= spec < len(file_names):
                raise DataError(f"{source}: {role}_col={spec} but there are only {len(file_names)} "
                                f"columns ({file_names})")
            return int(spec)
        if isinstance(spec, str):
            if spec in labels:
                return labels.index(spec)
            if _canon(spec) in canon:
                return canon.index(_canon(spec))
            raise DataError(f"{source}: no column {spec!r} for {role}_col (columns: {file_names})")
        if spec is not None:
            raise InvalidParameterError(f"{role}_col must be a column name, a position, None or False; got {spec!r}")
        for alias in aliases:
            if alias in canon:
                return canon.index(alias)
        if not named and default_pos < len(file_names):
            return default_pos
        if required:
            raise DataError(f"{source}: cannot find the {role} column among {file_names}; pass "
                            f"{role}_col=")
        return None

    roles = {
        "user": pick("user", user_col, USER_ALIASES, 0, True),
        "item": pick("item", item_col, ITEM_ALIASES, 1, True),
        "rating": pick("rating", rating_col, RATING_ALIASES, 2, False),
        "timestamp": pick("timestamp", timestamp_col, TIMESTAMP_ALIASES, 3, False),
    }
    used = [k for k in roles.values() if k is not None]
    if len(set(used)) != len(used):
        shown = {r: file_names[k] for r, k in roles.items() if k is not None}
        raise DataError(f"{source}: the same column serves two roles ({shown})")
    return roles


# ---------------------------------------------------------------------------- frame -> Interactions
def _build(frame: pd.DataFrame, columns: dict, row_lines: Optional[np.ndarray], source: str, *,
           rating_scale, duplicates, item_metadata) -> Interactions:
    """Validate every column (naming file, line, field and value) and build Interactions."""
    if len(frame) == 0:
        raise DataError(f"{source}: the data set is empty (no ratings)")
    where = _Locator(source, row_lines)
    users = _id_column(frame[columns["user"]], "user", columns["user"], where)
    items = _id_column(frame[columns["item"]], "item", columns["item"], where)
    ratings = None
    if columns["rating"] is not None:
        ratings = _numeric_column(frame[columns["rating"]], "rating", columns["rating"], where)
        _check_finite_ratings(ratings, frame[columns["rating"]], columns["rating"], where)
        if rating_scale is not None:
            low, high = rating_scale
            out = np.flatnonzero((ratings < low) | (ratings > high))
            if len(out):
                r = int(out[0])
                raise DataError(f"{where(r)}, field {columns['rating']!r}: rating {ratings[r]:g} is outside "
                                f"the declared scale [{low:g}, {high:g}]")
    timestamps = None
    if columns["timestamp"] is not None:
        timestamps = _timestamp_column(frame[columns["timestamp"]], columns["timestamp"], where)
    if duplicates == "error":
        _check_no_duplicates(users, items, where)
    return Interactions.from_arrays(users, items, ratings, timestamps, duplicates=duplicates,
                                    rating_scale=rating_scale, item_metadata=item_metadata,
                                    source=source)


class _Locator:
    """Formats 'file line N' (or 'DataFrame row N') for a 0-based row index."""

    def __init__(self, source: str, row_lines: Optional[np.ndarray]):
        self.source, self.row_lines = source, row_lines

    def __call__(self, row: int) -> str:
        if self.row_lines is None:
            return f"{self.source} row {row}"
        return f"{self.source} line {int(self.row_lines[row])}"


def _missing_mask(col: pd.Series) -> np.ndarray:
    return col.isna().to_numpy()


def _id_column(col: pd.Series, role: str, name, where: _Locator) -> np.ndarray:
    missing = _missing_mask(col)
    if missing.any():
        r = int(np.flatnonzero(missing)[0])
        raise DataError(f"{where(r)}, field {name!r}: missing {role} id")
    values = col.to_numpy()
    if values.dtype.kind in "iu":
        return values
    if values.dtype.kind == "f":  # integral floats are fine ids ("12.0"); others are an error
        with np.errstate(invalid="ignore"):
            frac = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)) | (np.abs(values) >= 2.0 ** 63))
        if len(frac):
            r = int(frac[0])
            raise DataError(f"{where(r)}, field {name!r}: {role} id {_show(values[r])} is not an integer "
                            "(within int64) or a string")
        return values.astype(np.int64)
    if values.dtype.kind == "b":
        raise DataError(f"{where(0)}, field {name!r}: {role} ids must be integers or strings, got booleans")
    strings = np.asarray(values, dtype=str)
    stripped = np.char.strip(strings)
    empty = np.flatnonzero(stripped == "")
    if len(empty):
        r = int(empty[0])
        raise DataError(f"{where(r)}, field {name!r}: missing {role} id")
    return stripped


def _numeric_column(col: pd.Series, role: str, name, where: _Locator) -> np.ndarray:
    if col.dtype.kind in "iufb":
        values = col.to_numpy(dtype=np.float64)
    else:
        values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
        raw_missing = _missing_mask(col)
        bad = np.isnan(values) & ~raw_missing
        if bad.any():
            raw = col.to_numpy()
            texts = np.char.lower(np.char.strip(np.asarray(raw[bad], dtype=str)))
            nan_words = np.isin(texts, ["nan", "-nan", "+nan"])
            if not nan_words.all():
                r = int(np.flatnonzero(bad)[np.flatnonzero(~nan_words)[0]])
                raise DataError(f"{where(r)}, field {name!r}: {role} {raw[r]!r} is not a number")
    missing = np.isnan(values) & _missing_mask(col)
    if missing.any():
        r = int(np.flatnonzero(missing)[0])
        raise DataError(f"{where(r)}, field {name!r}: missing {role} (empty field)")
    return values


def _check_finite_ratings(values: np.ndarray, col: pd.Series, name, where: _Locator) -> None:
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        r = int(bad[0])
        raise DataError(f"{where(r)}, field {name!r}: rating {values[r]} is not a finite number "
                        "(NaN/inf not allowed)")
    limit = float(np.finfo(np.float32).max)
    big = np.flatnonzero(np.abs(values) > limit)
    if len(big):
        r = int(big[0])
        raise DataError(f"{where(r)}, field {name!r}: rating {values[r]:g} is beyond the float32 range "
                        f"(|x| <= {limit:.4g}) that models compute in")


def _timestamp_column(col: pd.Series, name, where: _Locator) -> np.ndarray:
    """Return seconds since the epoch (float64), NaN where the field is empty.

    Numbers are taken as Unix seconds; text such as '2001-02-03 04:05:06' is parsed as a date (UTC).
    """
    if col.dtype.kind in "iuf":
        values = col.to_numpy(dtype=np.float64)
    else:
        values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
        raw_missing = _missing_mask(col)
        bad = np.isnan(values) & ~raw_missing
        if bad.any():
            dates = pd.to_datetime(col, errors="coerce", utc=True, format="mixed")
            parsed = ~dates.isna().to_numpy()
            numbers = ~np.isnan(values)
            if (parsed | raw_missing).all() and not numbers.any():
                return _epoch_seconds(dates)
            undated = np.flatnonzero(bad & ~parsed)
            r = int(undated[0] if len(undated) else np.flatnonzero(bad)[0])
            raise DataError(f"{where(r)}, field {name!r}: timestamp {col.iloc[r]!r} is not a number "
                            "(or the column mixes numbers and dates)" if not len(undated) else
                            f"{where(r)}, field {name!r}: timestamp {col.iloc[r]!r} is neither a "
                            "number nor a date")
    inf = np.flatnonzero(np.isinf(values))
    if len(inf):
        r = int(inf[0])
        raise DataError(f"{where(r)}, field {name!r}: timestamp {values[r]} is not finite")
    return values


def _epoch_seconds(dates: pd.Series) -> np.ndarray:
    """Return UTC dates as seconds since 1970 (NaN for NaT).

    This works also for dates outside pandas' nanosecond range (years before 1677 or after 2262),
    which the subtraction would overflow.
    """
    try:
        return (dates - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=np.float64)
    except (pd.errors.OutOfBoundsDatetime, OverflowError):
        micro = dates.dt.tz_localize(None).to_numpy().astype("datetime64[us]")
        return np.where(np.isnat(micro), np.nan, micro.astype(np.int64) / 1e6)


def _check_no_duplicates(users: np.ndarray, items: np.ndarray, where: _Locator) -> None:
    pairs = pd.DataFrame({"u": users, "i": items})
    dup = pairs.duplicated(keep="first").to_numpy()
    if dup.any():
        r = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero((pairs["u"].to_numpy() == users[r]) & (pairs["i"].to_numpy() == items[r]))[0])
        raise DataError(f"{where(r)}: duplicate rating for user {_show(users[r])}, item {_show(items[r])} (first at "
                        f"{where(first).split(' ', 1)[-1]}); pass duplicates='last' or another rule")


def _show(value) -> str:
    """Repr of a raw id without NumPy's type wrapper (42, 'u1')."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _check_scale(scale) -> tuple:
    try:
        low, high = (float(v) for v in scale)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"rating_scale must be a pair (low, high), got {scale!r}") from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise InvalidParameterError(f"rating_scale must satisfy low < high (finite), got {scale!r}")
    return (low, high)
