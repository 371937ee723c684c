"""Where data sets live on this machine.

This is the one resolution every reader, the NCF protocol, the CLI and the benchmarks use.

Search order: the ``data_dir`` argument (``--data-dir``), then ``$MFREC_DATA_DIR``, then the user
cache folder (``$XDG_CACHE_HOME/mfrec``, else ``~/.cache/mfrec``). Downloads go to the first of
those that is given (the cache folder when neither the argument nor the variable is set).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

#: the environment variable naming a folder of local data sets
ENV_VAR = "MFREC_DATA_DIR"


def cache_dir() -> Path:
    """Return the user cache directory: ``$XDG_CACHE_HOME/mfrec``, else ``~/.cache/mfrec``.

    Returns
    -------
    pathlib.Path
        The folder (not created here).
    """
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "mfrec"


def env_data_dir() -> Optional[Path]:
    """``$MFREC_DATA_DIR`` as a path, or None when it is not set (or empty)."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else None


def search_dirs(data_dir=None) -> list:
    """Return the folders searched for a data set, in order, without repeats."""
    dirs = [] if data_dir is None else [Path(data_dir).expanduser()]
    env = env_data_dir()
    if env is not None:
        dirs.append(env)
    dirs.append(cache_dir())
    return list(dict.fromkeys(dirs))


def download_dir(data_dir=None) -> Path:
    """Where a download goes: data_dir, else $MFREC_DATA_DIR, else the cache directory."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = env_data_dir()
    return env if env is not None else cache_dir()
