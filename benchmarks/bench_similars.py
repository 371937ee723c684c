"""Benchmark of similar items: genre coherence, franchise check and obscure-neighbour share of
mfrec's four models at their defaults, next to the anchors' item factors, in one run.

Data (benchmarks/common.py protocols, ML-1M): the implicit models (mfrec ALS/BPR/WARP, implicit's
ALS and BPR, LightFM's WARP) train on the implicit protocol's training set (ratings >= 4,
per-user 80/20, seed 42); the rating models (mfrec SVD, Surprise's SVD) on the explicit
protocol's training set (random 90/10, seed 42). Each model's similar items are what its library
gives a user: mfrec's ``similar_items`` (default similarity, :mod:`mfrec.similarity`: whitened
cosine shrunk by co-support); implicit's ``similar_items`` (cosine of its item factors, for BPR
including the bias column it keeps there); cosine of LightFM's item embeddings and of Surprise's
q_i (neither library has a similar-items call). Two extra rows per model separate training from
lookup: mfrec's factors under plain cosine, and each anchor's factors under mfrec's similarity. The
measures are defined in :mod:`mfrec.evaluation.similar_items` (obscure share: neighbours with < 20
training interactions, over query items with >= 50); the franchise groups are those of the model's training data.

Usage (from the repository root)::

    /work/anchors-venv/bin/python -m benchmarks.bench_similars --output benchmarks/results/similars.md
    .venv/bin/python -m benchmarks.bench_similars --no-anchors --models als bpr
"""
from __future__ import annotations


from .common import (Timer, available_anchors, benchmark_parser, format_table, machine_info_markdown,
                    protocol_split, results_markdown, similar_movies, write_results)

from mfrec.evaluation import evaluate_ranking
from mfrec.evaluation.similar_items import cosine_neighbours, model_neighbours, similar_items_quality
from mfrec.similarity import ItemSimilarity
from mfrec.models import ALS, BPR, SVD, WARP

K = 10
#: hand-written notes below this line in the results file survive a re-run
NOTES_MARKER = "<!-- notes: kept when the benchmark is re-run -->"
MFREC_MODELS = {"svd": SVD, "als": ALS, "bpr": BPR, "warp": WARP}
COLUMNS = ["model", ("data", "trained on"), (f"franchise_hit_rate@{K}", "franchise hit@10"),
           (f"franchise_recall@{K}", "franchise recall@10"), (f"obscure@{K}", "obscure@10"),
           (f"coherence@{K}", "genre coherence@10"), ("top3", "top-3 axes' share"), ("quality", "NDCG@10 / RMSE"),
           ("fit_s", "fit (s)", ".1f")]


def anchor_runs(versions: dict, threads: int, seed: int) -> list:
    """(label, protocol, fit function, item-vector selector) of every installed anchor."""
    from . import anchors
    runs = []
    if versions.get("implicit"):
        runs.append(("implicit ALS (64 f, 15 it.)", "implicit",
                     lambda tr: anchors.implicit_als(tr, factors=64, iterations=15, threads=threads, seed=seed),
                     lambda items: items))
        runs.append(("implicit BPR (defaults)", "implicit",
                     lambda tr: anchors.implicit_bpr(tr, threads=threads, seed=seed), lambda items: items))
    if versions.get("lightfm"):
        # the adapter folds the biases in as [v, 1, b_i]: similarity uses the embeddings v
        runs.append(("LightFM WARP (64 f, 30 ep.)", "implicit",
                     lambda tr: anchors.lightfm_warp(tr, no_components=64, epochs=30, threads=threads, seed=seed),
                     lambda items: items[:, :-2]))
    if versions.get("surprise"):
        runs.append(("Surprise SVD (defaults)", "explicit",
                     lambda tr: anchors.surprise_svd_vectors(tr, random_state=seed), lambda items: items))
    return runs


def main(argv=None) -> int:
    parser = benchmark_parser(__doc__, grid=False)
    parser.add_argument("--models", nargs="*", default=list(MFREC_MODELS), help="mfrec models to run")
    args = parser.parse_args(argv)
    splits = {name: protocol_split(args, name) for name in ("explicit", "implicit")}
    out = [f"Machine: {machine_info_markdown()}",
           f"Data: implicit {splits['implicit']!r}; explicit {splits['explicit']!r}"]
    print("\n".join(out), flush=True)
    versions = available_anchors(args, ["implicit", "lightfm", "surprise"])
    rows, examples = [], []
    for name in args.models:
        cls = MFREC_MODELS[name]
        protocol = "explicit" if cls.feedback == "explicit" else "implicit"
        train, test = splits[protocol]
        model = cls(seed=args.seed, threads=args.threads) if "threads" in cls.param_names() else cls(seed=args.seed)
        with Timer() as timer:
            model.fit(train)
        row = {"model": f"mfrec {name} (defaults)", "data": protocol, "fit_s": timer.seconds,
               "top3": top_variance_share(model.item_factors_), **similar_items_quality(model, k=K)}
        row["quality"] = _quality(model, test, protocol)
        rows.append(row)
        examples.append((f"mfrec {name}", model))
        print(rows[-1], flush=True)
        # the same factors under plain cosine: what the default similarity adds
        rows.append({"model": f"mfrec {name}, plain cosine", "data": protocol, "fit_s": None, "quality": "",
                     **similar_items_quality(model, k=K, neighbours=model_neighbours(model, "cosine"))})
        print(rows[-1], flush=True)
    for label, protocol, fit, select in anchor_runs(versions, args.threads, args.seed):
        train, test = splits[protocol]
        users, items, fit_s = fit(train)
        host = _VectorHost(train)
        row = {"model": label, "data": protocol, "fit_s": fit_s, "top3": top_variance_share(select(items)),
               **similar_items_quality(host, k=K, neighbours=cosine_neighbours(select(items)))}
        row["quality"] = _anchor_quality(users, items, train, test, protocol)
        rows.append(row)
        print(rows[-1], flush=True)
        # the anchor's factors under mfrec's default similarity: how much comes from the lookup
        shrunk = ItemSimilarity(select(items), train.matrix)
        def shrunk_neighbours(idx, k, shrunk=shrunk):
            return shrunk.top(idx, k)[0]
        rows.append({"model": f"{label}, mfrec similarity", "data": protocol, "fit_s": None, "quality": "",
                     **similar_items_quality(host, k=K, neighbours=shrunk_neighbours)})
        print(rows[-1], flush=True)
    groups = next((r for r in rows if "franchise_groups" in r), {})
    out += ["", f"Franchise groups in the implicit training data: {groups.get('franchise_groups')} groups, "
            f"{groups.get('franchise_pairs')} pairs (items with >= 20 training interactions); "
            "obscure = neighbours with < 20 training interactions, over items with >= 50.", "",
            format_table(rows, COLUMNS)]
    print("\n".join(out[-3:]), flush=True)
    for label, model in examples:
        out += ["", f"### {label}: 10 most similar movies", "", similar_movies(model)]
    out += ["", f"Finished: {machine_info_markdown()}"]
    if args.output:
        write_results(args.output, results_markdown("Similar items benchmark (ML-1M, defaults)", out),
                      notes_marker=NOTES_MARKER)
    return 0


def top_variance_share(item_vectors, top: int = 3) -> float:
    """Share of the item factors' second moment along its ``top`` leading directions: how much a
    few axes dominate the geometry (and hence a plain cosine)."""
    import numpy as np
    v = np.asarray(item_vectors, dtype=np.float64)
    eigenvalues = np.linalg.eigvalsh(v.T @ v)
    return float(eigenvalues[-top:].sum() / eigenvalues.sum())


class _VectorHost:
    """What the measures need of a model when the neighbours come from another library's vectors."""

    def __init__(self, train):
        self.interactions_ = train
        self.item_ids_ = train.item_ids


def _quality(model, test, protocol: str) -> str:
    if protocol == "explicit":
        from mfrec.evaluation import evaluate_ratings
        return f"RMSE {evaluate_ratings(model, test)['rmse']:.4f}"
    return f"NDCG {evaluate_ranking(model, test, k=K)['ndcg@10']:.4f}"


def _anchor_quality(users, items, train, test, protocol: str) -> str:
    if protocol == "explicit":
        return "-"
    from .anchors import evaluate_vectors
    return f"NDCG {evaluate_vectors(users, items, train, test, k=K)['ndcg@10']:.4f}"


if __name__ == "__main__":
    raise SystemExit(main())
