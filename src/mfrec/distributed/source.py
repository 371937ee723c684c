"""The interactions of a cluster fit: a folder or glob of Parquet files, or a dask.dataframe.

The client only looks at the schema; partitions are read by the workers.
"""
from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

from .._optional import require
from ..errors import DataError


def as_dask_frame(source, columns: list) -> Any:
    """Return a dask.dataframe with just ``columns`` (user, item[, value]) of ``source``."""
    dd = require("dask.dataframe", "distributed", "mfrec.distributed")

    if isinstance(source, (str, Path)):
        path = str(source)
        if "://" not in path:  # local paths are checked here; remote ones by the reader
            if os.path.isdir(path):
                if not glob.glob(os.path.join(path, "**", "*.parquet"), recursive=True) and \
                        not glob.glob(os.path.join(path, "**", "*.parq"), recursive=True):
                    raise DataError(f"{path}: the folder holds no .parquet files")
            elif not glob.glob(path):
                raise DataError(f"{path}: no such file, folder or matching Parquet files")
        try:
            frame = dd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - any reader failure is a data problem for the user
            raise DataError(f"cannot read {path} as Parquet: {exc}") from None
        where = path
    elif isinstance(source, dd.DataFrame):
        frame, where = source, "the dask dataframe"
    else:
        raise DataError(f"mfrec.distributed.fit(): source must be a Parquet folder/glob or a dask.dataframe, "
                        f"got {type(source).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{where}: no column {missing[0]!r} (columns: {', '.join(map(str, frame.columns))})")
    return frame[columns], where
