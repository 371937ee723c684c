"""A self-contained HTML report of a comparison: one file, no network, images embedded as PNG.

Sections: the metrics table (the same rows the CLI prints), learning curves, similar items for
well-known movies side by side, a few users' liked movies next to each model's top-10, and a 2-D
map (PCA) of each model's item embeddings coloured by main genre.
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import os
from pathlib import Path
from typing import Optional

import numpy as np

from . import __version__
from ._optional import require
from .compare import Comparison
from .errors import MfrecError

#: well-known movies shown in the similar-items section: for each, title prefixes tried in turn
#: (the most-rated item with the first matching prefix is shown)
PROBE_TITLES = (("Toy Story",), ("Star Wars: Episode IV", "Star Wars"), ("Godfather, The",),
                ("Terminator, The",), ("Titanic",))
#: genres used to pick users "with a taste for" something
PROBE_GENRES = ("Sci-Fi", "Children's", "Romance")
N_SHOWN = 10


def format_value(value) -> str:
    """How a metric value is written in both the CLI table and the report."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return f"{value:.4f}" if abs(value) < 100 else f"{value:,.0f}"


# ---------------------------------------------------------------------------- choosing examples
def probe_items(comparison: Comparison, n: int = 5) -> list:
    """Raw ids of well-known movies present in training (by title), else the most popular items."""
    train = comparison.train
    counts = train.item_counts()
    meta = train.item_metadata
    found = []
    if meta is not None and "title" in meta.columns:
        titles = meta["title"].reindex(train.item_ids.raw).fillna("").astype(str).to_numpy()
        for prefixes in PROBE_TITLES:
            for prefix in prefixes:
                candidates = np.flatnonzero(np.char.startswith(titles.astype(str), prefix))
                if len(candidates):
                    found.append(int(candidates[np.argmax(counts[candidates])]))
                    break
    for idx in np.argsort(-counts, kind="stable"):
        if len(found) >= n:
            break
        if idx not in found:
            found.append(int(idx))
    return train.item_ids.to_raw(np.array(found[:n])).tolist()


def probe_users(comparison: Comparison, positives, n: int = 3) -> list:
    """Pick the example users of the report.

    Users with a clear taste for a probe genre (largest share of it among >= 20 liked items),
    or seeded random users when there are no genres. Returns (raw user id, reason) pairs.
    """
    from .evaluation.coherence import genre_matrix
    train = positives
    liked_counts = np.diff(train.matrix.indptr)
    eligible = np.flatnonzero(liked_counts >= 20)
    if len(eligible) == 0:
        eligible = np.flatnonzero(liked_counts > 0)
    genres = genre_matrix(train)
    chosen: list[tuple[int, str]] = []
    meta = train.item_metadata
    if genres is not None:
        vocab: dict[str, None] = {}  # an ordered set
        for text in meta["genres"].reindex(train.item_ids.raw).fillna("").astype(str):
            for g in text.split("|"):
                vocab.setdefault(g, None)
        names = [g for g in vocab if g and g != "(no genres listed)"]
        per_user = (train.matrix[eligible] != 0).astype(np.float32) @ genres  # liked items per genre
        share = np.asarray(per_user.todense()) / liked_counts[eligible][:, None]
        for genre in PROBE_GENRES:
            if genre in names and len(chosen) < n:
                col = names.index(genre)
                order = np.argsort(-share[:, col], kind="stable")
                user = next(int(eligible[o]) for o in order if int(eligible[o]) not in [c[0] for c in chosen])
                liked_share = share[int(np.flatnonzero(eligible == user)[0]), col]
                chosen.append((user, f"a taste for {genre} ({liked_share:.0%} of liked movies)"))
    rng = np.random.default_rng(comparison.protocol.seed)
    while len(chosen) < min(n, len(eligible)):
        user = int(rng.choice(eligible))
        if user not in [c[0] for c in chosen]:
            chosen.append((user, "a random user"))
    return [(train.user_ids.raw[u].item(), reason) for u, reason in chosen]


# ---------------------------------------------------------------------------- plots
def _pyplot():
    """matplotlib.pyplot on the file-only Agg backend (the ``report`` extra)."""
    matplotlib = require("matplotlib", "report", "the HTML report")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    _pyplot().close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(png_b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{png_b64}">'


def learning_curves_png(comparison: Comparison) -> Optional[str]:
    """Plot the loss curves of the runs with more than one recorded epoch: a base64 PNG, or None without any."""
    plt = _pyplot()
    def plotted(run):
        history = run.model.loss_history_
        return len(history) > 1 and any(key != "epoch" for key in history[0])
    runs = [r for r in comparison.runs if plotted(r)]
    if not runs:
        return None
    fig, axes = plt.subplots(1, len(runs), figsize=(4 * len(runs), 3.2), squeeze=False)
    for ax, run in zip(axes[0], runs):
        history = run.model.loss_history_
        epochs = [h["epoch"] for h in history]
        keys = [k for k in history[0] if k != "epoch"]
        for key in keys:
            values = [h.get(key, np.nan) for h in history]
            ax.plot(epochs, values, marker=".", label=key)
        ax.set_title(run.name)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def embedding_map_png(comparison: Comparison, run, min_count: int = 20) -> Optional[str]:
    """PCA of the item factors (items with >= min_count training interactions), coloured by main genre."""
    plt = _pyplot()
    model = run.model
    factors = model.item_factors_
    if factors.shape[1] < 2:
        return None
    counts = model.interactions_.item_counts()
    keep = np.flatnonzero(counts >= min_count)
    if len(keep) < 3:
        keep = np.arange(len(counts))
    x = factors[keep].astype(np.float64)
    x -= x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)   # principal axes
    xy = x @ vt[:2].T
    meta = model.interactions_.item_metadata
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    if meta is not None and "genres" in meta.columns:
        main = meta["genres"].reindex(model.item_ids_.raw[keep]).fillna("").astype(str).str.split("|").str[0]
        top = main.value_counts().index[:8].tolist()
        labels = np.where(main.isin(top), main, "other")
        for genre in top + ["other"]:
            sel = labels == genre
            if sel.any():
                ax.scatter(xy[sel, 0], xy[sel, 1], s=6, alpha=0.6, label=genre or "none")
        ax.legend(fontsize=7, markerscale=2, loc="best")
    else:
        ax.scatter(xy[:, 0], xy[:, 1], s=6, alpha=0.6)
    ax.set_title(f"{run.name}: item embeddings (PCA), {len(keep)} items")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return _png(fig)


# ---------------------------------------------------------------------------- html
def _table(header: list, rows: list, cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _titles(model, raw_ids) -> list:
    return model.interactions_.item_titles(model.item_ids_.indices(raw_ids))


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1300px;color:#222;
padding:0 1em}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.88em}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3} table.metrics td{text-align:right} table.metrics td:first-child{text-align:left}
.meta{color:#666;font-size:.9em} .grid{display:flex;flex-wrap:wrap;gap:1em} img{max-width:100%}
"""


def render_html(comparison: Comparison) -> str:
    """Render the whole report as one HTML string."""
    k = comparison.k
    rows = comparison.table_rows()
    header = list(rows[0].keys())
    metric_rows = [[format_value(r[h]) if h != "model" else r[h] for h in header] for r in rows]
    runs = comparison.runs
    parts = [f"<h1>mfrec comparison on {html.escape(comparison.dataset)}</h1>",
             f'<p class="meta">{html.escape(_describe(comparison))}</p>']
    for note in comparison.notes:
        parts.append(f'<p class="meta">Note: {html.escape(note)}</p>')
    parts.append("<h2>Metrics</h2>")
    parts.append(_table(header, metric_rows, "metrics"))
    parts.append(f'<p class="meta">Ranking metrics @{k} over all items, training items excluded; relevant = held-out '
                 f'ratings &ge; {comparison.threshold:g}. Genre coherence@{k}: share of the top-{k} similar items '
                 'sharing a genre with the query, over items with &ge; 50 training interactions. '
                 f'Franchise hit@{k} / recall@{k}: does an item&rsquo;s top-{k} hold its sequels and companions '
                 '(groups found from the titles; share of queries with one, and share of companions found). '
                 f'Obscure@{k}: share of the top-{k} similar items with fewer than 20 training interactions, over '
                 'items with &ge; 50.</p>')
    curves = learning_curves_png(comparison)
    parts.append("<h2>Learning curves</h2>")
    parts.append(_img(curves, "learning curves") if curves else
                 "<p>No model recorded a loss over more than one epoch.</p>")
    silent = [r.name for r in runs if not any(k != "epoch" for h in r.model.loss_history_ for k in h)]
    if silent:
        parts.append(f"<p class='meta'>No per-epoch figures recorded by: {html.escape(', '.join(silent))} "
                     "(e.g. ALS computes its loss only with calculate_loss=True).</p>")

    parts.append("<h2>Similar items</h2>")
    for raw in probe_items(comparison):
        first = runs[0].model
        title = _titles(first, [raw])[0]
        columns, lists = [], []
        for run in runs:
            ids, _ = run.model.similar_items(raw, n=N_SHOWN)
            columns.append(run.name)
            lists.append(_titles(run.model, ids))
        table_rows = [[i + 1] + [col[i] if i < len(col) else "" for col in lists] for i in range(N_SHOWN)]
        parts.append(f"<h3>{html.escape(title)} <span class='meta'>(id {html.escape(str(raw))})</span></h3>")
        parts.append(_table(["#"] + columns, table_rows, "similar"))

    parts.append("<h2>Recommendations for a few users</h2>")
    positives = comparison.train.to_implicit(comparison.threshold) if comparison.train.is_explicit else comparison.train
    for raw_user, reason in probe_users(comparison, positives):
        u = positives.user_ids.index(raw_user)
        liked = positives.user_items(u)
        if comparison.train.is_explicit:
            ratings = comparison.train.matrix[u, liked].toarray().ravel()
        else:
            ratings = np.ones(len(liked))
        liked = liked[np.argsort(-ratings, kind="stable")][:N_SHOWN]
        liked_titles = positives.item_titles(liked)
        columns, lists = ["liked in training"], [liked_titles]
        for run in runs:
            ids, _ = run.model.recommend(raw_user, n=N_SHOWN)
            columns.append(run.name)
            lists.append(_titles(run.model, ids))
        table_rows = [[i + 1] + [col[i] if i < len(col) else "" for col in lists] for i in range(N_SHOWN)]
        parts.append(f"<h3>User {html.escape(str(raw_user))} <span class='meta'>({html.escape(reason)}, "
                     f"{len(positives.user_items(u))} liked movies)</span></h3>")
        parts.append(_table(["#"] + columns, table_rows, "users"))

    parts.append("<h2>Item embeddings</h2><div class='grid'>")
    for run in runs:
        png = embedding_map_png(comparison, run)
        if png:
            parts.append(_img(png, f"{run.name} item embeddings"))
        else:
            parts.append(f"<p>{html.escape(run.name)}: no item embeddings to map.</p>")
    parts.append("</div>")
    body = "\n".join(parts)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
            f"<title>mfrec comparison: {html.escape(comparison.dataset)}</title><style>{CSS}</style></head>"
            f"<body>{body}</body></html>")


def _describe(comparison: Comparison) -> str:
    p = comparison.protocol
    return (f"{comparison.data} | {p.split} split, {p.test_fraction:g} held out, seed {p.seed} | "
            f"train {comparison.train.nnz:,} / test {comparison.test.nnz:,} entries | "
            f"mfrec {__version__}, {os.cpu_count()} cores, {_dt.datetime.now():%Y-%m-%d %H:%M}")


def write_report(comparison: Comparison, path) -> Path:
    """Render and write the report; an unwritable path raises MfrecError naming it."""
    path = Path(path)
    text = render_html(comparison)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise MfrecError(f"cannot write the report to {path}: {exc.strerror or exc}") from None
    return path
