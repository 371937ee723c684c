"""Model files: one ``.npz`` archive of arrays plus a JSON header. Loading never unpickles.

This module is the one owner of the model file: :func:`save_model` writes what a fitted model
holds, :func:`load_model` checks and restores it, and the archive functions below do the atomic
write and the checked read.

Layout: ``__header__`` is a uint8 array holding UTF-8 JSON::

    {"format": "mfrec-model", "format_version": 1, "model_class": "mfrec.models.als:ALS",
     "mfrec_version": "...", "params": {...}, "attributes": {...scalars...},
     "loss_history": [...], "interactions": {"kind": ..., "rating_scale": ..., "shape": [...],
     "metadata_columns": [...]}}

Every other entry is a NumPy array (raw ids are int64 or unicode arrays, never objects):
``fitted:<name>`` for the model's fitted arrays and the training interactions' arrays
(``train:*``, ``ids:*``, ``meta:*``, see ``Interactions.to_file_arrays``). ``model_class`` is an
import path resolved against the allow-list :data:`mfrec.models.catalog.MODELS` (files of older
versions name the bare class, "ALS": accepted too).
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from .errors import InvalidParameterError, ModelFileError

if TYPE_CHECKING:
    from .models.base import Recommender

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

    Parameters
    ----------
    path : str or Path
        The model file (``.npz`` added when missing, see :func:`target_path`).
    header : dict
        Plain JSON values; ``format`` and ``format_version`` are added.
    arrays : dict of str to numpy.ndarray
        Plain (non-object) arrays.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ModelFileError
        When the header is not plain JSON, an array has object dtype, or the file cannot be written.
    """
    path = target_path(path)
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, **header}
    try:
        text = json.dumps(header, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"cannot write model file {path}: the header is not plain JSON ({exc})") from None
    payload: dict[str, Any] = {HEADER_KEY: np.frombuffer(text.encode("utf-8"), dtype=np.uint8)}
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
    """Return the file a model is saved to: ``.npz`` added when missing; a folder is refused.

    Parameters
    ----------
    path : str or Path
        The path given by the user.

    Returns
    -------
    pathlib.Path
        The file to write.

    Raises
    ------
    ModelFileError
        When the path is a folder or its folder does not exist.
    """
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
    """Raise ``error`` (an MfrecError) unless a new file can be created in ``folder``.

    Tried for real (a temporary file, removed at once): permission bits say nothing for root or a
    read-only mount.

    Parameters
    ----------
    folder : str or Path
        The folder to check.
    what : str
        What would be written, named in the message.
    error : type, default ModelFileError
        The MfrecError subclass raised.

    Raises
    ------
    MfrecError
        ``error``, when ``folder`` is not a writable folder.
    """
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
    """Return the process umask, read without changing it where Linux allows.

    os.umask sets it, which would race with other threads creating files.
    """
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
    """Read and check a model archive.

    Parameters
    ----------
    path : str or Path
        The model file.

    Returns
    -------
    header : dict
        The JSON header.
    arrays : dict of str to numpy.ndarray
        The stored arrays.

    Raises
    ------
    ModelFileError
        When the file is missing, not a model archive, or damaged.
    """
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


# ---------------------------------------------------------------------- models
#: the fitted scalars every model file may hold (a model adds its ``_extra_scalars``)
BASE_SCALARS = ("global_mean_", "fit_time_", "trained_at_")


def save_model(model, path) -> Path:
    """Write a fitted model to ``path`` (.npz added if missing).

    Parameters
    ----------
    model : Recommender
        A fitted model.
    path : str or Path
        The model file.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    NotFittedError
        When the model is not fitted.
    ModelFileError
        When the file cannot be written.
    """
    from .models.catalog import class_path
    model.require_fitted()
    inter = model.interactions_
    arrays = {f"fitted:{k}": v for k, v in model.fitted_arrays().items()}
    train_arrays, info = inter.to_file_arrays()
    arrays.update(train_arrays)
    scalars = {k: getattr(model, k, None) for k in (*BASE_SCALARS, *model._extra_scalars)}
    header = {
        "model_class": class_path(type(model)),
        "mfrec_version": _version(),
        "params": jsonable_params(model.get_params()),
        "attributes": {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in scalars.items()},
        "loss_history": jsonable(model.loss_history_),
        "interactions": info,
    }
    return write_archive(path, header, arrays)


def load_model(path, expected: Optional[type] = None) -> Recommender:
    """Load the model saved in ``path``.

    Nothing in the file is trusted: the class must be on the allow-list, every array's shape,
    dtype, finiteness and index range is checked, and only the class's own fitted arrays and
    scalars are restored, so a damaged or crafted file fails here with a ModelFileError, never
    later.

    Parameters
    ----------
    path : str or Path
        The model file.
    expected : type, optional
        A model class: a file holding another class is refused.

    Returns
    -------
    Recommender
        The fitted model.

    Raises
    ------
    ModelFileError
        When the file is missing, damaged, crafted, or holds another class than ``expected``.
    """
    from .models.catalog import load_class
    header, arrays = read_archive(path)
    class_name = header.get("model_class")
    model_cls = load_class(class_name)
    if model_cls is None:
        raise ModelFileError(f"{path}: unknown model class {class_name!r}")
    if expected is not None and model_cls is not expected:
        raise ModelFileError(f"{path} holds a {model_cls.__name__} model, not a {expected.__name__}")
    try:
        return _model_from_archive(model_cls, header, arrays)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ModelFileError(f"{path}: the model file is incomplete or corrupted "
                             f"({type(exc).__name__}: {exc})") from None


def _model_from_archive(cls: type[Recommender], header: dict, arrays: dict):
    from .data.interactions import Interactions
    params = header.get("params")
    if not isinstance(params, dict) or not set(params) <= set(cls.param_names()):
        raise ModelFileError(f"the parameters {params!r} are not those of {cls.__name__}")
    model = cls(**params)
    try:
        model.check_params()
    except InvalidParameterError as exc:
        raise ModelFileError(f"bad hyperparameter in the file: {exc}") from None
    model.interactions_ = Interactions.from_file_arrays(arrays, header.get("interactions"))
    model.user_ids_, model.item_ids_ = model.interactions_.user_ids, model.interactions_.item_ids
    allowed_arrays = set(fitted_array_names(cls))
    for key, value in arrays.items():
        if key.startswith("fitted:"):
            name = key[len("fitted:"):]
            if name not in allowed_arrays:
                raise ModelFileError(f"unexpected array {key!r} for {cls.__name__}")
            if value.dtype != np.float32:
                raise ModelFileError(f"array {key!r} has dtype {value.dtype}, expected float32")
            if not np.all(np.isfinite(value)):
                raise ModelFileError(f"array {key!r} contains NaN/inf")
            setattr(model, name, value)
        elif not key.startswith(Interactions.FILE_ARRAY_PREFIXES):
            raise ModelFileError(f"unexpected array {key!r}")
    _restore_scalars(model, header.get("attributes", {}))
    history = header.get("loss_history", [])
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise ModelFileError("the loss history is not a list of records")
    model.loss_history_ = history
    model._item_vectors_cache = None
    model._check_loaded()
    return model


def fitted_array_names(cls: type[Recommender]) -> tuple:
    """Return the fitted arrays a model file of class ``cls`` may hold (the allow-list of load).

    Returns
    -------
    tuple of str
        The array names.
    """
    return ("user_factors_", "item_factors_") + tuple(cls._bias_names) + tuple(cls._extra_arrays)


def _restore_scalars(model, attributes) -> None:
    cls = type(model)
    allowed = {*BASE_SCALARS, *cls._extra_scalars}
    if not isinstance(attributes, dict):
        raise ModelFileError("the header's attributes are not a mapping")
    for key, value in attributes.items():
        if key not in allowed:
            raise ModelFileError(f"unexpected attribute {key!r} for {cls.__name__}")
        if value is None:
            continue
        if key == "trained_at_":  # an ISO date string (shown by mfrec serve)
            if not isinstance(value, str) or len(value) > 40:
                raise ModelFileError(f"attribute {key!r} = {value!r} is not a date")
            setattr(model, key, value)
            continue
        if key == "global_mean_" and cls.feedback != "explicit":
            raise ModelFileError(f"unexpected attribute {key!r} for {cls.__name__}")
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)):
            raise ModelFileError(f"attribute {key!r} = {value!r} is not a finite number")
        setattr(model, key, value)


def jsonable(obj: Any) -> Any:
    """Convert ``obj`` to plain JSON values: dict keys as strings, tuples as lists, NumPy scalars as Python ones.

    Parameters
    ----------
    obj : object
        Nested dicts, lists, tuples and scalars.

    Returns
    -------
    object
        The same structure in plain JSON values.
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj


def jsonable_params(params: dict) -> dict:
    """Convert hyperparameters to plain JSON values: NumPy scalars become Python ones.

    Parameters
    ----------
    params : dict
        The hyperparameters.

    Returns
    -------
    dict
        The same keys, plain values.

    Raises
    ------
    InvalidParameterError
        When a value is not None, a number, a bool or a string.
    """
    out = {}
    for key, value in params.items():
        if isinstance(value, (np.bool_, np.integer, np.floating, np.str_)):
            value = value.item()
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise InvalidParameterError(f"cannot save parameter {key}={value!r}: model files hold numbers, strings, "
                                        "booleans or None")
        out[key] = value
    return out


def _version() -> str:
    from . import __version__
    return __version__
