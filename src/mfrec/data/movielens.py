"""MovieLens data sets: find them on disk, or download, verify and unpack them atomically.

``load_movielens("1m")`` returns explicit :class:`~mfrec.data.interactions.Interactions` with the
declared rating scale, timestamps and item metadata (title without the year, year, genres).

Where the files are looked for, in this order (the layout under each directory is the one of
the extracted GroupLens zip, e.g. ``<dir>/ml-1m/ratings.dat``):

1. the ``data_dir`` argument (which may also name the data set's folder itself),
2. the ``MFREC_DATA_DIR`` environment variable,
3. the user cache directory, ``$XDG_CACHE_HOME/mfrec`` or ``~/.cache/mfrec``.

A zip archive already lying in one of these directories (``<dir>/ml-1m.zip``) is verified and
unpacked without network. Otherwise, with ``download=True``, the official GroupLens zip is
downloaded into ``data_dir`` (or ``$MFREC_DATA_DIR``, or the cache directory), its MD5 checked,
and it is extracted into a temporary folder beside the target and moved into place with one
``os.replace``: an interrupted download or a bad checksum never leaves a half-written data set.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from .._optional import require
from ..errors import DataError, DatasetNotAvailableError, InvalidParameterError
from .interactions import Interactions
from .locations import ENV_VAR, cache_dir, download_dir, search_dirs
from .readers import read_ratings

logger = logging.getLogger(__name__)

__all__ = ["load_movielens", "fetch_movielens", "list_datasets", "cache_dir", "VARIANTS"]

BASE_URL = "https://files.grouplens.org/datasets/movielens/"
DOWNLOAD_TIMEOUT_S = 60

# Official MD5 sums of the GroupLens archives. GroupLens publishes them beside each archive
# (<url>.md5, e.g. https://files.grouplens.org/datasets/movielens/ml-1m.zip.md5). The values
# were confirmed in public code that pins them:
#   100k, 1m, 10m, 20m, 25m: eli-osherovich/papers_with_code, datasets/movielens/dl_config.py;
#   1m, 20m, 25m also: numericalalgorithmsgroup/MLFirstSteps_Azure, ncf/verify_dataset.sh
#     (comments "From: curl -O .../ml-1m.zip.md5" etc.);
#   100k also in several other repositories (with archive size 4,924,029 bytes);
#   10m also in AmazingDD-style / FL data loaders (archive size 65,566,137 bytes).
# latest-small: no published value could be confirmed (GroupLens re-issues the "latest"
# archives), so its MD5 is read at download time from the official sidecar <url>.md5; when
# that cannot be fetched, only the size (Content-Length) and the zip's own CRCs are checked.
MD5 = {
    "100k": "0e33842e24a9c977be4e0107933c0723",
    "1m": "c4d9eecfca2ab87c1945afe126590906",
    "10m": "ce571fd55effeba0271552578f2648bd",
    "20m": "cd245b17a1ae2cc31bb14903e1204af3",
    "25m": "6b51fb2759a8657d3bfcbfc42b592ada",
    "latest-small": None,
}


@dataclass(frozen=True)
class Variant:
    """One MovieLens release: where its files are and how to parse them."""

    name: str                 # "1m"
    title: str                # "MovieLens 1M"
    archive: str              # "ml-1m.zip"
    folder: str               # top folder inside the zip, "ml-1m"
    ratings_file: str
    movies_file: str
    sep: str
    header: bool
    rating_scale: tuple
    n_ratings: int
    description: str
    extra_files: tuple = ()

    @property
    def url(self) -> str:
        return BASE_URL + self.archive

    @property
    def required_files(self) -> tuple:
        return (self.ratings_file, self.movies_file) + self.extra_files


# Counts are those of the GroupLens READMEs (movies in the catalogue; fewer are rated, e.g.
# 3,706 of ML-1M's 3,883 and 9,724 of latest-small's 9,742).
VARIANTS = {
    "100k": Variant("100k", "MovieLens 100K", "ml-100k.zip", "ml-100k", "u.data", "u.item", "\t",
                    False, (1.0, 5.0), 100_000,
                    "1-5 stars; 943 users, 1,682 movies; 1997-98",
                    extra_files=("u.genre",)),
    "1m": Variant("1m", "MovieLens 1M", "ml-1m.zip", "ml-1m", "ratings.dat", "movies.dat", "::",
                  False, (1.0, 5.0), 1_000_209,
                  "1-5 stars; 6,040 users, 3,883 movies (3,706 rated); 2000-03"),
    "10m": Variant("10m", "MovieLens 10M", "ml-10m.zip", "ml-10M100K", "ratings.dat", "movies.dat",
                   "::", False, (0.5, 5.0), 10_000_054,
                   "0.5-5 half stars; 71,567 users, 10,681 movies; to 2009"),
    "20m": Variant("20m", "MovieLens 20M", "ml-20m.zip", "ml-20m", "ratings.csv", "movies.csv", ",",
                   True, (0.5, 5.0), 20_000_263,
                   "0.5-5 half stars; 138,493 users, 27,278 movies; to 2015"),
    "25m": Variant("25m", "MovieLens 25M", "ml-25m.zip", "ml-25m", "ratings.csv", "movies.csv", ",",
                   True, (0.5, 5.0), 25_000_095,
                   "0.5-5 half stars; 162,541 users, 62,423 movies; to 2019"),
    "latest-small": Variant("latest-small", "MovieLens Latest Small", "ml-latest-small.zip",
                            "ml-latest-small", "ratings.csv", "movies.csv", ",", True, (0.5, 5.0),
                            100_836, "0.5-5 half stars; 610 users, 9,742 movies; 2018; small, "
                            "for teaching and tests"),
}


# ---------------------------------------------------------------------------- public API
def load_movielens(variant: str = "1m", data_dir=None, *, download: bool = True,
                   show_progress: bool = False) -> Interactions:
    """Load a MovieLens data set as explicit :class:`Interactions`.

    Parameters
    ----------
    variant : str
        "100k", "1m", "10m", "20m", "25m" or "latest-small" ("ml-1m", "ML-1M", "movielens-1m"
        are accepted spellings).
    data_dir : str or Path, optional
        Directory holding the extracted archive folder (``<data_dir>/ml-1m/ratings.dat``) or that
        folder itself. Searched before ``$MFREC_DATA_DIR`` and the cache directory.
    download : bool
        Download the official archive when the files are found nowhere (default True).
    show_progress : bool
        Show a progress bar while downloading.

    Returns
    -------
    Interactions
        Ratings on the data set's declared scale (1-5 for 100k/1m, 0.5-5 otherwise), Unix-second
        timestamps (NaN where the file has none: 86,287 ML-1M lines), and ``item_metadata``
        indexed by raw movie id with columns ``title`` (without the year), ``year`` (float, NaN
        if unknown) and ``genres`` ("A|B", "" when none is listed).

    Raises
    ------
    DatasetNotAvailableError
        The files are not on disk and cannot be downloaded; the message says where to put them.
    DataError
        A file on disk is malformed (the message names the file and line).
    """
    spec = _variant(variant)
    folder = _obtain(spec, data_dir, download=download, show_progress=show_progress)
    metadata = _read_movies(spec, folder)
    return read_ratings(folder / spec.ratings_file, sep=spec.sep, header=spec.header,
                        user_col=0, item_col=1, rating_col=2, timestamp_col=3,
                        rating_scale=spec.rating_scale, item_metadata=metadata)


def fetch_movielens(variant: str = "1m", data_dir=None, *, show_progress: bool = True) -> Path:
    """Make sure a data set is on disk (download, verify, unpack if needed); return its folder.

    Parameters
    ----------
    variant : str, default "1m"
        A MovieLens variant, spelled as for :func:`load_movielens`.
    data_dir : str or Path, optional
        Searched first, and where a download goes (else ``$MFREC_DATA_DIR``, else the cache).
    show_progress : bool, default True
        Show a progress bar while downloading.

    Returns
    -------
    pathlib.Path
        The folder holding the extracted files.

    Raises
    ------
    DatasetNotAvailableError
        The files are not on disk and cannot be downloaded.
    InvalidParameterError
        ``variant`` is unknown.
    """
    return _obtain(_variant(variant), data_dir, download=True, show_progress=show_progress)


def list_datasets(data_dir=None) -> list:
    """List the MovieLens variants known to mfrec.

    Parameters
    ----------
    data_dir : str or Path, optional
        Searched first for the local copies.

    Returns
    -------
    list of dict
        One dict per variant with keys name, title, description, n_ratings, rating_scale, url,
        md5 (None if not pinned) and path (the local folder where the data set was found, or None).
    """
    rows = []
    for spec in VARIANTS.values():
        found = _find_local(spec, data_dir)
        rows.append({"name": spec.name, "title": spec.title, "description": spec.description,
                     "n_ratings": spec.n_ratings, "rating_scale": spec.rating_scale, "url": spec.url,
                     "md5": MD5.get(spec.name), "path": str(found) if found else None})
    return rows


# ---------------------------------------------------------------------------- locating
def _variant(variant) -> Variant:
    key = str(variant).strip().lower()
    key = re.sub(r"^(movielens|ml)[-_ ]?", "", key)
    key = {"10m100k": "10m", "latestsmall": "latest-small", "latest_small": "latest-small",
           "small": "latest-small"}.get(key, key)
    if key not in VARIANTS:
        raise InvalidParameterError(f"unknown MovieLens variant {variant!r}; choose one of {list(VARIANTS)}")
    return VARIANTS[key]


def _complete(folder: Path, spec: Variant) -> bool:
    return all((folder / name).is_file() for name in spec.required_files)


def _find_local(spec: Variant, data_dir) -> Optional[Path]:
    for d in search_dirs(data_dir):
        if _complete(d / spec.folder, spec):
            return d / spec.folder
        if d.name.lower() == spec.folder.lower() and _complete(d, spec):
            return d
    return None


def _find_archive(spec: Variant, data_dir) -> Optional[Path]:
    for d in search_dirs(data_dir):
        if (d / spec.archive).is_file():
            return d / spec.archive
    return None


def _obtain(spec: Variant, data_dir, *, download: bool, show_progress: bool) -> Path:
    found = _find_local(spec, data_dir)
    if found is not None:
        return found
    archive = _find_archive(spec, data_dir)
    if archive is not None:  # a zip the user put there by hand: verify and unpack, no network
        return _install(spec, archive.parent, local_archive=archive, show_progress=False)
    if not download:
        raise DatasetNotAvailableError(_where_message(spec, data_dir, "download=False was given"))
    return _install(spec, download_dir(data_dir), local_archive=None, show_progress=show_progress,
                    data_dir=data_dir)


def _where_message(spec: Variant, data_dir, reason: str) -> str:
    """One line: what is missing, why, and how to point mfrec at local files."""
    dirs = search_dirs(data_dir)
    return (f"{spec.title} ('{spec.name}') is not on this machine and was not downloaded ({reason}); "
            f"to use local files set {ENV_VAR} (or --data-dir) to a folder holding {spec.folder}/ with "
            f"{', '.join(spec.required_files)} (unzipped from {spec.url}) or {spec.archive} "
            f"(searched: {', '.join(str(d) for d in dirs)})")


# ---------------------------------------------------------------------------- download + unpack
def _open_url(url: str, timeout: float):
    """Urllib's urlopen (a separate function so tests can serve archives without network)."""
    return urllib.request.urlopen(url, timeout=timeout)


def _install(spec: Variant, root: Path, *, local_archive: Optional[Path], show_progress: bool,
             data_dir=None) -> Path:
    """Get the archive (local or downloaded), verify it, extract it and move it into place.

    Extraction happens beside ``root/spec.folder``, the move is atomic, and nothing is left behind
    on any failure.
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{spec.folder}-", suffix=".partial", dir=root))
    except OSError as exc:
        raise DatasetNotAvailableError(_where_message(spec, data_dir, f"cannot write to {root}: {exc}")) from None
    try:
        if local_archive is None:
            archive = work / spec.archive
            logger.info("downloading %s to %s", spec.url, root)
            digest = _download(spec, archive, show_progress, data_dir)
        else:
            archive = local_archive
            digest = _md5_of(archive)
        expected = MD5.get(spec.name)
        if expected is None and local_archive is None:
            expected = _official_md5(spec)
        if expected is not None and digest != expected:
            raise DatasetNotAvailableError(
                f"checksum mismatch for {archive.name}: MD5 {digest}, expected {expected} (the "
                f"download is corrupt or the file changed upstream); nothing was installed in {root}")
        extracted = work / "extracted"
        _extract(archive, extracted, spec)
        final = root / spec.folder
        try:
            os.replace(extracted / spec.folder, final)  # atomic on one file system
        except OSError:
            if not _complete(final, spec):
                raise DatasetNotAvailableError(
                    f"{final} exists but is incomplete (needs {', '.join(spec.required_files)}); "
                    "remove it and try again") from None
        logger.info("installed %s in %s", spec.name, final)
        return final
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _download(spec: Variant, dest: Path, show_progress: bool, data_dir) -> str:
    """Stream ``spec.url`` to ``dest``; return its MD5. Raises DatasetNotAvailableError."""
    url = spec.url
    try:
        response = _open_url(url, DOWNLOAD_TIMEOUT_S)
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DatasetNotAvailableError(_where_message(spec, data_dir, f"download of {url} failed: {reason}")) from None
    md5 = hashlib.md5()
    written = 0
    try:
        with response:
            headers = getattr(response, "headers", None)
            total = int(headers.get("Content-Length") or 0) if headers is not None else 0
            with _progress(show_progress, spec.archive, total) as advance, open(dest, "wb") as out:
                while True:
                    block = response.read(1 << 20)
                    if not block:
                        break
                    out.write(block)
                    md5.update(block)
                    written += len(block)
                    advance(len(block))
    except (OSError, http.client.HTTPException) as exc:
        raise DatasetNotAvailableError(
            f"download of {url} was interrupted after {written:,} bytes ({exc}); nothing was installed. "
            + _where_message(spec, data_dir, "interrupted download")) from None
    if total and written != total:
        raise DatasetNotAvailableError(
            f"download of {url} is incomplete: {written:,} of {total:,} bytes; nothing was installed")
    return md5.hexdigest()


def _official_md5(spec: Variant) -> Optional[str]:
    """Return the MD5 GroupLens publishes beside the archive (<url>.md5), or None with a warning."""
    try:
        with _open_url(spec.url + ".md5", DOWNLOAD_TIMEOUT_S) as response:
            text = response.read(4096).decode("ascii", "replace")
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException):
        text = ""
    match = re.search(r"\b([0-9a-fA-F]{32})\b", text)
    if match is None:
        warnings.warn(f"could not read the official checksum {spec.url}.md5; {spec.archive} is "
                      "checked only for size and zip integrity", stacklevel=4)
        return None
    return match.group(1).lower()


def _md5_of(path: Path) -> str:
    md5 = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            md5.update(block)
    return md5.hexdigest()


def _extract(archive: Path, dest: Path, spec: Variant) -> None:
    """Unzip after checking the CRCs and that no member escapes ``dest``."""
    try:
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                parts = Path(name).parts
                if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                    raise DatasetNotAvailableError(f"{archive.name}: unsafe path {name!r} in the archive")
            bad = zf.testzip()
            if bad is not None:
                raise DatasetNotAvailableError(f"{archive.name} is corrupt (bad CRC in {bad})")
            zf.extractall(dest)
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        if isinstance(exc, DatasetNotAvailableError):
            raise
        raise DatasetNotAvailableError(f"{archive.name} is not a valid zip archive ({exc})") from None
    if not _complete(dest / spec.folder, spec):
        raise DatasetNotAvailableError(f"{archive.name} does not contain {spec.folder}/ with "
                                       f"{', '.join(spec.required_files)}")


class _progress:
    """Context manager yielding advance(n): a rich download bar, or a no-op."""

    def __init__(self, enabled: bool, label: str, total: int):
        self.enabled, self.label, self.total = enabled, label, total
        self._bar = None

    def __enter__(self):
        if not self.enabled:
            return lambda n: None
        require("rich", "cli", "the download progress bar (show_progress=True)")
        from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                                   TimeRemainingColumn, TransferSpeedColumn)
        self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
                             TransferSpeedColumn(), TimeRemainingColumn(), transient=False)
        self._bar.start()
        task = self._bar.add_task(f"downloading {self.label}", total=self.total or None)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()
        return False


# ---------------------------------------------------------------------------- movie metadata
_YEAR_RE = r"^(?P<title>.*?)\s*\((?P<year>\d{4})(?:\s*[-\u2013]\s*(?:\d{4})?)?\)\s*$"
_NO_GENRES = {"(no genres listed)", "unknown"}


def _read_movies(spec: Variant, folder: Path) -> pd.DataFrame:
    path = folder / spec.movies_file
    if spec.name == "100k":
        ids, titles, genres, dates = _read_100k_items(path, folder / "u.genre")
        fallback_years = pd.to_datetime(pd.Series(dates), format="%d-%b-%Y", errors="coerce").dt.year
        return _metadata(ids, titles, genres, fallback_years.to_numpy(dtype=np.float64))
    if spec.sep == "::":
        ids, titles, genres = _read_dat_movies(path)
    else:
        ids, titles, genres = _read_csv_movies(path)
    return _metadata(ids, titles, genres)


def _text(path: Path) -> str:
    """File text: utf-8 when valid, else latin-1 (ML-100K/1M/10M titles are latin-1)."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _movie_id(text: str, path: Path, line_no: int) -> int:
    try:
        return int(text)
    except ValueError:
        raise DataError(f"{path} line {line_no}: movie id {text!r} is not an integer") from None


def _read_dat_movies(path: Path):
    """movies.dat of ML-1M/10M: MovieID::Title::Genres."""
    ids, titles, genres = [], [], []
    for line_no, line in enumerate(_text(path).splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("::")
        if len(fields) != 3:
            raise DataError(f"{path} line {line_no}: expected 3 fields separated by '::' "
                            f"(MovieID::Title::Genres), found {len(fields)}: {line[:120]!r}")
        ids.append(_movie_id(fields[0], path, line_no))
        titles.append(fields[1])
        genres.append(fields[2])
    return ids, titles, genres


def _read_csv_movies(path: Path):
    """movies.csv of ML-20M/25M/latest: movieId,title,genres (quoted titles, utf-8)."""
    try:
        frame = pd.read_csv(path, encoding="utf-8", dtype={"title": str, "genres": str},
                            keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: cannot parse the movies file: {exc}") from None
    missing = {"movieId", "title", "genres"} - set(frame.columns)
    if missing:
        raise DataError(f"{path}: missing columns {sorted(missing)} (found {list(frame.columns)})")
    ids = pd.to_numeric(frame["movieId"], errors="coerce")
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise DataError(f"{path} line {row + 2}: movie id {frame['movieId'].iloc[row]!r} is not an integer")
    return ids.astype(np.int64).tolist(), frame["title"].tolist(), frame["genres"].tolist()


def _read_100k_items(path: Path, genre_path: Path):
    """u.item of ML-100K: id|title|release date|video date|url|19 genre flags (u.genre order)."""
    genre_names = {}
    for line in _text(genre_path).splitlines():
        if line.strip():
            name, _, index = line.rpartition("|")
            genre_names[int(index)] = name
    names = [genre_names[k] for k in sorted(genre_names)]
    ids, titles, genres, dates = [], [], [], []
    for line_no, line in enumerate(_text(path).splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != 5 + len(names):
            raise DataError(f"{path} line {line_no}: expected {5 + len(names)} fields separated by '|', "
                            f"found {len(fields)}: {line[:120]!r}")
        ids.append(_movie_id(fields[0], path, line_no))
        titles.append(fields[1])
        dates.append(fields[2])
        flags = fields[5:]
        genres.append("|".join(n for n, f in zip(names, flags) if f.strip() == "1"))
    return ids, titles, genres, dates


def _metadata(ids, titles, genres, fallback_years=None) -> pd.DataFrame:
    """DataFrame indexed by raw movie id: title without '(year)', year (float), genres 'A|B'."""
    raw = pd.Series(titles, dtype=object).astype(str).str.strip()
    parts = raw.str.extract(_YEAR_RE)
    has_year = parts["year"].notna()
    title = parts["title"].where(has_year, raw)
    year = pd.to_numeric(parts["year"], errors="coerce").to_numpy(dtype=np.float64)
    if fallback_years is not None:
        year = np.where(np.isnan(year), fallback_years, year)
    genre_strings = ["" if g.strip() in _NO_GENRES else g.strip() for g in genres]
    frame = pd.DataFrame({"title": title.to_numpy(dtype=object), "year": year,
                          "genres": genre_strings},
                         index=pd.Index(np.asarray(ids, dtype=np.int64), name="item"))
    return frame[~frame.index.duplicated(keep="last")]
