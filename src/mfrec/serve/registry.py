"""The models a server holds, by name, with hot reload.

Each model file is served under its stem (``als.npz`` -> ``als``). A background thread polls
the files (mtime, size, inode) every ``poll_interval`` seconds; a file whose signature changed
and then stayed the same for one more poll (so a file still being written is not read) is
loaded and warmed up off the request path, then swapped in with one reference assignment:
requests in flight finish on the model they started with, new ones get the new model. A file
that fails to load (or disappears) leaves the old model serving; the failure is kept for
``/health`` until a later version of the file loads.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from ..errors import MfrecError
from ..models.base import Recommender
from ..persistence import jsonable
from .catalog import Catalog

logger = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL = 1.0


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def file_signature(path: Path) -> Optional[tuple]:
    """Return the (mtime_ns, size, inode) of a file, or None.

    (mtime_ns, size, inode) of a file, or None when it cannot be stat'ed. An atomic rename
    always changes the inode, so a replacement is seen even with equal size and mtime.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


@dataclass(frozen=True)
class LoadedModel:
    """One loaded version of a model file; never mutated (a reload makes a new one)."""

    name: str
    path: Path
    model: Recommender
    catalog: Catalog
    signature: tuple
    loaded_at: str
    info: dict = field(default_factory=dict)


def model_info(name: str, path: Path, model: Recommender, signature: tuple, loaded_at: str) -> dict:
    """Describe what GET /models shows: class, parameters, sizes, training date."""
    inter = model.interactions_
    modified = datetime.fromtimestamp(signature[0] / 1e9, timezone.utc).isoformat(timespec="seconds")
    fit_time = getattr(model, "fit_time_", None)
    return {
        "name": name,
        "class": type(model).__name__,
        "feedback": model.feedback,
        "params": jsonable(model.get_params()),
        "n_users": int(inter.n_users),
        "n_items": int(inter.n_items),
        "n_interactions": int(inter.nnz),
        "factors": int(model.item_factors_.shape[1]),
        "rating_scale": list(inter.rating_scale) if inter.rating_scale else None,
        "has_titles": "title" in inter.item_metadata.columns if inter.item_metadata is not None else False,
        "trained_at": getattr(model, "trained_at_", None),
        "fit_time_s": round(float(fit_time), 3) if fit_time is not None else None,
        "file": str(path),
        "file_modified": modified,
        "loaded_at": loaded_at,
    }


def load_model(name: str, path: Path, loader: Callable = Recommender.load) -> LoadedModel:
    """Load, index and warm up one model file (first queries pay no lazy set-up)."""
    signature = file_signature(path)
    if signature is None:
        raise MfrecError(f"model file {path} does not exist or cannot be read")
    model = loader(path)
    catalog = Catalog(model)
    model.recommend(model.user_ids_.raw[0], n=1)    # builds the item-vector cache
    model.similar_items(model.item_ids_.raw[0], n=1)
    loaded_at = _now()
    return LoadedModel(name, Path(path), model, catalog, signature, loaded_at,
                       model_info(name, Path(path), model, signature, loaded_at))


def names_for(paths) -> dict:
    """{name: path} with each file's stem as its name; two files with one stem are an error."""
    out: dict[str, Path] = {}
    for path in map(Path, paths):
        name = path.stem
        if name in out:
            raise MfrecError(f"two model files are both named {name!r} ({out[name]} and {path}); "
                             "rename one, models are served under their file name")
        out[name] = path
    if not out:
        raise MfrecError("give at least one model file to serve")
    return out


class ModelRegistry:
    """Named models with polling hot reload; see the module docstring."""

    def __init__(self, paths, *, poll_interval: float = DEFAULT_POLL_INTERVAL,
                 loader: Callable = Recommender.load) -> None:
        self.paths = names_for(paths)
        self.poll_interval = float(poll_interval)
        self._loader = loader
        self._models = {}           # name -> LoadedModel; each entry replaced whole, never edited
        self._failures: dict[str, dict] = {}  # name -> {"error", "since", "signature"}
        self._pending: dict[str, tuple] = {}  # name -> signature seen changed once, waiting to be stable
        for name, path in self.paths.items():
            try:
                self._models[name] = load_model(name, path, loader)
            except MfrecError as exc:
                raise MfrecError(f"cannot serve {path}: {exc}") from None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()  # one check at a time (thread and tests)

    # ------------------------------------------------------------------ queries
    @property
    def names(self) -> list:
        """Names of the served models, in order."""
        return list(self.paths)

    def get(self, name: str) -> Optional[LoadedModel]:
        """Return the loaded model called ``name``, or None."""
        return self._models.get(name)

    def all(self) -> list:
        """Return every loaded model, in order."""
        return [self._models[name] for name in self.paths]

    def health(self) -> dict:
        """Describe the service for GET /health: status ok or degraded, and each model's reload state."""
        models = []
        for name in self.paths:
            entry = self._models[name]
            failure = self._failures.get(name)
            models.append({"name": name, "class": entry.info["class"], "loaded_at": entry.loaded_at,
                           "file": str(entry.path),
                           "reload_error": failure["error"] if failure else None,
                           "reload_error_since": failure["since"] if failure else None})
        status = "degraded" if self._failures else "ok"
        return {"status": status, "models": models}

    # ------------------------------------------------------------------ reload
    def check(self) -> list:
        """Reload the model files that changed.

        Look at every file once; (re)load the ones that changed and stayed stable since the
        previous check. Returns the names that were swapped in.
        """
        swapped = []
        with self._lock:
            for name, path in self.paths.items():
                if self._check_one(name, path):
                    swapped.append(name)
        return swapped

    def _check_one(self, name: str, path: Path) -> bool:
        signature = file_signature(path)
        current = self._models[name]
        failure = self._failures.get(name)
        if signature is None:
            if failure is None or failure["signature"] is not None:
                self._failures[name] = {"error": f"model file {path} is missing; still serving the model "
                                                 f"loaded at {current.loaded_at}",
                                        "since": _now(), "signature": None}
                logger.warning("model %r: %s", name, self._failures[name]["error"])
            self._pending.pop(name, None)
            return False
        if signature == current.signature:
            self._failures.pop(name, None)      # e.g. the file came back unchanged
            self._pending.pop(name, None)
            return False
        if failure is not None and failure["signature"] == signature:
            return False                         # this version already failed; wait for another
        if self._pending.get(name) != signature:
            self._pending[name] = signature      # changed: load once it stops changing
            return False
        del self._pending[name]
        try:
            entry = load_model(name, path, self._loader)
        except Exception as exc:  # noqa: BLE001  (any failure keeps the old model; reported in /health)
            message = str(exc) if isinstance(exc, MfrecError) else f"{type(exc).__name__}: {exc}"
            self._failures[name] = {"error": f"{message}; still serving the model loaded at {current.loaded_at}",
                                    "since": _now(), "signature": signature}
            logger.warning("model %r: reloading %s failed: %s; still serving the model loaded at %s",
                           name, path, message, current.loaded_at)
            return False
        self._models[name] = entry               # the swap: one reference assignment
        self._failures.pop(name, None)
        logger.info("model %r: reloaded from %s", name, path)
        return True

    def start(self) -> None:
        """Poll the files in a daemon thread until stop()."""
        if self._thread is not None or self.poll_interval <= 0:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="mfrec-model-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the reload thread (waits up to 5 s)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.check()
            except Exception:  # noqa: BLE001  (the poller must outlive any surprise)
                logger.exception("model reload check failed; polling goes on")
