"""Embedding export for the TensorBoard Embedding Projector (projector.tensorflow.org).

For a fitted model, ``export_projector`` writes into one folder:

- ``items.tsv``: one item vector per line, tab-separated (no header), the model's item factors;
- ``items_metadata.tsv``: a header line then one line per item: id, title, year, genres, popularity
  (number of training interactions), in the same order;
- ``users.tsv`` / ``users_metadata.tsv``: the same for users (id, interactions);
- ``projector_config.pbtxt``: the projector's config naming both tensors and their metadata.

Load the folder in the standalone projector ("Load" -> the TSV files) or point TensorBoard's
log dir at it. Values are written with 9 significant digits, which round-trips float32 exactly.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .errors import MfrecError


def _write_vectors(path: Path, vectors: np.ndarray) -> None:
    np.savetxt(path, vectors, delimiter="\t", fmt="%.9g")


def _clean(value) -> str:
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    return text.replace("\t", " ").replace("\n", " ")


def export_projector(model, out_dir, name: str | None = None) -> dict:
    """Write the model's item and user vectors with metadata and a projector config.

    Parameters
    ----------
    model : Recommender
        A fitted factor model.
    out_dir : str or Path
        The folder to write (created when missing).
    name : str, optional
        The tensors' name in the config (default: the model's name).

    Returns
    -------
    dict of str to pathlib.Path
        The written files under "items", "items_metadata", "users", "users_metadata" and "config".

    Raises
    ------
    MfrecError
        When the model has zero factors, or the folder or a file cannot be written.
    NotFittedError
        When the model is not fitted.
    """
    model.require_fitted()
    items, users = model.item_factors_, model.user_factors_
    if items.shape[1] == 0:
        raise MfrecError(f"{model.name} has no embeddings to export (zero factors)")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MfrecError(f"cannot create export folder {out}: {exc.strerror or exc}") from None
    name = name or model.name
    inter = model.interactions_
    meta = inter.item_metadata
    raw_items = model.item_ids_.raw
    item_meta = pd.DataFrame({"id": raw_items})
    for col in ("title", "year", "genres"):
        item_meta[col] = meta[col].reindex(raw_items).to_numpy() if meta is not None and col in meta.columns else ""
    item_meta["popularity"] = inter.item_counts()
    user_meta = pd.DataFrame({"id": model.user_ids_.raw, "interactions": np.diff(inter.matrix.indptr)})
    paths = {"items": out / "items.tsv", "items_metadata": out / "items_metadata.tsv",
             "users": out / "users.tsv", "users_metadata": out / "users_metadata.tsv",
             "config": out / "projector_config.pbtxt"}
    try:
        _write_vectors(paths["items"], items)
        _write_vectors(paths["users"], users)
        for key, frame in (("items_metadata", item_meta), ("users_metadata", user_meta)):
            with open(paths[key], "w", encoding="utf-8") as fh:
                fh.write("\t".join(frame.columns) + "\n")
                for row in frame.itertuples(index=False):
                    fh.write("\t".join(_clean(v) for v in row) + "\n")
        paths["config"].write_text(
            "".join(f'embeddings {{\n  tensor_name: "{name} {kind}"\n  tensor_path: "{kind}.tsv"\n'
                    f'  metadata_path: "{kind}_metadata.tsv"\n}}\n' for kind in ("items", "users")),
            encoding="utf-8")
    except OSError as exc:
        raise MfrecError(f"cannot write the export to {out}: {exc.strerror or exc}") from None
    return paths


def read_projector_vectors(path) -> np.ndarray:
    """Read a vectors TSV written by export_projector back into a float32 array.

    Parameters
    ----------
    path : str or Path
        An ``items.tsv`` or ``users.tsv`` file.

    Returns
    -------
    numpy.ndarray of float32, shape (n, k)
        One row per line.
    """
    return np.loadtxt(path, delimiter="\t", dtype=np.float32, ndmin=2)
