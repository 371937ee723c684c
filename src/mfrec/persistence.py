"""Model files: one ``.npz`` archive of arrays plus a JSON header. Loading never unpickles.

Layout: ``__header__`` is a uint8 array holding UTF-8 JSON::

    {"format": "mfrec-model", "format_version": 1, "model_class": "ALS",
     "mfrec_version": "...", "params": {...}, "attributes": {...scalars...},
     "loss_history": [...]}

Every other entry is a NumPy array (raw ids are int64 or unicode arrays, never objects).
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .errors import ModelFileError

FORMAT = "mfrec-model"
FORMAT_VERSION = 1
HEADER_KEY = "__header__"


def write_archive(path, header: dict, arrays: dict) -> Path:
    """Write header + arrays so that ``path`` is either the complete new file or untouched.

    The archive goes to a uniquely named temporary file in the target folder (so concurrent
    writers never share one), is flushed and fsync'ed, then renamed over ``path`` (atomic on
    POSIX: readers see the old file or the new one, never a mix) and the folder is fsync'ed so
    the rename survives a crash. On any failure, Ctrl-C included, the temporary file is removed
    and the original error is raised (an OSError as a ModelFileError naming the path).
    """
    path = target_path(path)
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, **header}
    try:
        text = json.dumps(header, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"cannot write model file {path}: the header is not plain JSON ({exc})") from None
    payload = {HEADER_KEY: np.frombuffer(text.encode("utf-8"), dtype=np.uint8)}
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        if arr.dtype.kind == "O":
            raise ModelFileError(f"array {name!r} has object dtype; models must store plain arrays")
        payload[name] = arr
    folder = path.parent
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise ModelFileError(f"cannot write model file {path}: {exc.strerror or exc}") from None
    tmp = Path(tmp_name)
    done = False
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give a model file the usual mode
        os.replace(tmp, path)
        done = True
        _fsync_dir(folder)
    except OSError as exc:
        raise ModelFileError(f"cannot write model file {path}: {exc.strerror or exc}") from None
    finally:
        if not done:
            _remove_quietly(tmp)
    return path


def target_path(path) -> Path:
    """The file a model is saved to: ``.npz`` added when missing; a folder is refused."""
    text = os.fspath(path)
    if text.endswith(("/", os.sep)) or Path(text).is_dir():
        raise ModelFileError(f"cannot write model file {text}: it is a folder; give a file name such as "
                             f"{Path(text) / 'model.npz'}")
    path = Path(text)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
        if path.is_dir():
            raise ModelFileError(f"cannot write model file {path}: it is a folder")
    if not path.parent.is_dir():
        raise ModelFileError(f"cannot write model file {path}: folder {path.parent} does not exist")
    return path


def check_writable_folder(folder, what: str, error: type = ModelFileError) -> None:
    """Raise ``error`` (an MfrecError) unless a new file can be created in ``folder``. Tried for
    real (a temporary file, removed at once): permission bits say nothing for root or a read-only
    mount."""
    folder = Path(folder)
    if not folder.is_dir():
        raise error(f"cannot write {what}: {folder} is not a folder")
    try:
        fd, name = tempfile.mkstemp(prefix=".mfrec-write-test.", dir=folder)
    except OSError as exc:
        raise error(f"cannot write {what}: {folder} is not writable ({exc.strerror or exc})") from None
    os.close(fd)
    _remove_quietly(Path(name))


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (os.umask sets it, which
    would race with other threads creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """Persist a rename (best effort: some file systems cannot open folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    """Cleanup that never raises over the error being handled."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def read_archive(path) -> tuple[dict, dict]:
    """Read and check a model archive; returns (header, arrays)."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if HEADER_KEY not in npz.files:
                raise ModelFileError(f"{path} is not an mfrec model file (no header)")
            arrays = {name: npz[name] for name in npz.files}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise ModelFileError(f"{path} is not a readable mfrec model file ({type(exc).__name__}: {exc})") from None
    try:
        header = json.loads(arrays.pop(HEADER_KEY).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelFileError(f"{path}: the model header is corrupted") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not an mfrec model file (format {header.get('format')!r})"
                             if isinstance(header, dict) else f"{path}: the model header is corrupted")
    if header.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path} has model format version {header.get('format_version')!r}; "
                             f"this mfrec reads version {FORMAT_VERSION}")
    return header, arrays
