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
import zipfile
from pathlib import Path

import numpy as np

from .errors import ModelFileError

FORMAT = "mfrec-model"
FORMAT_VERSION = 1
HEADER_KEY = "__header__"


def write_archive(path, header: dict, arrays: dict) -> Path:
    """Write header + arrays atomically (temporary file, then rename)."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, **header}
    payload = {HEADER_KEY: np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)}
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        if arr.dtype.kind == "O":
            raise TypeError(f"array {name!r} has object dtype; models must store plain arrays")
        payload[name] = arr
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **payload)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ModelFileError(f"cannot write model file {path}: {exc.strerror or exc}") from None
    return path


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
