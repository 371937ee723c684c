"""The anchor libraries' own figures: every installed anchor (Surprise, implicit, LightFM) fitted
on the protocol splits of :mod:`benchmarks.common`, scored by mfrec's metric code, printed as
Markdown tables (``--tuned`` adds the tuned settings the issues quote, ``--grid-als`` a grid of
implicit ALS). Run from the repository root: ``python -m benchmarks.bench_anchors [--quick]``.
"""
from __future__ import annotations

import argparse
import itertools

from mfrec.evaluation.names import per_user_metric_names

from . import anchors, common
from .anchors import anchor_versions, evaluate_vectors, implicit_als, lightfm_warp, run_anchor, surprise_svd

#: settings run by ``python -m benchmarks.bench_anchors``: the anchors' documented defaults named in the
#: issues (#3-#6), and with --tuned the tuned settings the issues quote.
DEFAULT_RUNS = [
    ("surprise_svd", "Surprise SVD defaults (100 factors, 20 epochs)", {}),
    ("implicit_als", "implicit ALS 64 factors, 15 it. (reg 0.01, alpha 1)", {"factors": 64, "iterations": 15}),
    ("implicit_bpr", "implicit BPR defaults (100 factors, lr 0.01, reg 0.01, 100 it.)", {}),
    ("lightfm_warp", "LightFM WARP 64 comp., 30 epochs, lr 0.05",
     {"no_components": 64, "epochs": 30, "learning_rate": 0.05}),
    ("lightfm_bpr", "LightFM BPR 64 comp., 30 epochs, lr 0.05",
     {"no_components": 64, "epochs": 30, "learning_rate": 0.05, "loss": "bpr"}),
]
TUNED_RUNS = [
    ("surprise_svd", "Surprise SVD tuned (200 factors, 60 epochs, lr 0.005, reg 0.05)",
     {"n_factors": 200, "n_epochs": 60, "lr_all": 0.005, "reg_all": 0.05}),
    ("lightfm_warp", "LightFM WARP tuned (128 comp., 60 epochs, lr 0.02)",
     {"no_components": 128, "epochs": 60, "learning_rate": 0.02}),
]
_RANKING_COLUMNS = per_user_metric_names(10) + ["coverage@10"]


def main(argv=None) -> None:
    """Fit every installed anchor on the protocol splits and print Markdown tables."""
    parser = common.add_common_args(argparse.ArgumentParser(description=main.__doc__))
    parser.add_argument("--tuned", action="store_true", help="also run the tuned settings quoted in the issues")
    parser.add_argument("--grid-als", action="store_true",
                        help="also grid implicit ALS over factors x regularization x alpha (scored on the test split)")
    parser.add_argument("--grid-factors", type=int, nargs="+", default=list(ALS_GRID["factors"]))
    parser.add_argument("--grid-regularization", type=float, nargs="+", default=list(ALS_GRID["regularization"]))
    parser.add_argument("--grid-alpha", type=float, nargs="+", default=list(ALS_GRID["alpha"]))
    parser.add_argument("--only", nargs="*", default=None,
                        help="adapters to run, e.g. implicit_als lightfm_warp (default: all)")
    args = parser.parse_args(argv)
    dataset = common.dataset_for(args)
    runs = DEFAULT_RUNS + (TUNED_RUNS if args.tuned else [])
    if args.only:
        runs = [r for r in runs if r[0] in args.only]
    if args.quick:  # smoke run: fewer epochs
        runs = [(name, label + " [quick: 1/5 epochs]", _quick(name, params)) for name, label, params in runs]

    print(f"machine: {common.machine_info_markdown()}")
    print(f"anchors: {anchor_versions()}")
    print(f"dataset: ml-{dataset}, seed {args.seed}, threads {args.threads}\n")
    explicit_rows, ranking_rows = [], []
    explicit_runs = [r for r in runs if r[0] == "surprise_svd"]
    if explicit_runs:
        split = common.explicit_protocol(args.seed, dataset=dataset, data_dir=args.data_dir)
        print(f"explicit protocol: {split!r}")
        for _, label, params in explicit_runs:
            out = run_anchor(surprise_svd, split.train, split.test, **params)
            if out is not None:
                explicit_rows.append({"anchor": label, **out})
                print(f"  {label}: {out}", flush=True)
    implicit_runs = [r for r in runs if r[0] != "surprise_svd"]
    if implicit_runs:
        split = common.implicit_protocol(args.seed, dataset=dataset, data_dir=args.data_dir)
        print(f"implicit protocol: {split!r}")
        for name, label, params in implicit_runs:
            params = dict(params, threads=args.threads)
            fn = lightfm_warp if name.startswith("lightfm") else getattr(anchors, name)
            out = run_anchor(fn, split.train, **params)
            if out is None:
                continue
            users, items, fit_time = out
            metrics = evaluate_vectors(users, items, split.train, split.test, k=10)
            ranking_rows.append({"anchor": label, "fit_time": fit_time, **metrics})
            print(f"  {label}: fit {fit_time:.2f} s, ndcg@10 {metrics['ndcg@10']:.4f}", flush=True)
    if args.grid_als:
        split = common.implicit_protocol(args.seed, dataset=dataset, data_dir=args.data_dir)
        grid = {"factors": args.grid_factors, "regularization": args.grid_regularization, "alpha": args.grid_alpha}
        ranking_rows += als_grid(split, threads=args.threads, iterations=3 if args.quick else 15, grid=grid)
    if explicit_rows:
        print("\nExplicit protocol (RMSE/MAE clipped to the rating scale, Surprise's default):\n")
        columns = ["anchor", ("rmse", "RMSE"), ("mae", "MAE"), ("rmse_unclipped", "RMSE unclipped"),
                   ("fit_time", "fit (s)", ".1f")]
        print(common.format_table(explicit_rows, columns))
    if ranking_rows:
        print("\nImplicit protocol (all items ranked, training items excluded):\n")
        print(common.format_table(ranking_rows, ["anchor"] + _RANKING_COLUMNS + [("fit_time", "fit (s)", ".1f")]))
    print(f"\nfinished: {common.machine_info_markdown()}")


#: implicit ALS grid (--grid-als): factors x regularization x alpha, 15 iterations
ALS_GRID = {"factors": (64, 128), "regularization": (0.1, 1.0, 5.0, 20.0, 50.0), "alpha": (1.0, 3.0, 10.0)}


def als_grid(split, threads: int = 0, iterations: int = 15, grid: dict = ALS_GRID) -> list:
    """implicit ALS over a grid, every point scored on the test split (so the best point is an
    optimistic, test-tuned anchor: a conservative bar for mfrec). Returns table rows, best first."""
    rows = []
    for factors, reg, alpha in itertools.product(grid["factors"], grid["regularization"], grid["alpha"]):
        out = run_anchor(implicit_als, split.train, factors=factors, regularization=reg, alpha=alpha,
                         iterations=iterations, threads=threads)
        if out is None:
            return rows
        users, items, fit_time = out
        metrics = evaluate_vectors(users, items, split.train, split.test, k=10)
        label = f"implicit ALS grid: {factors} factors, reg {reg:g}, alpha {alpha:g}, {iterations} it."
        rows.append({"anchor": label, "fit_time": fit_time, **metrics})
        print(f"  {label}: fit {fit_time:.2f} s, ndcg@10 {metrics['ndcg@10']:.4f}", flush=True)
    return sorted(rows, key=lambda r: -r["ndcg@10"])


#: the epoch-count parameter of each adapter and the library's default for it
_EPOCH_KEYS = {"surprise_svd": ("n_epochs", 20), "implicit_als": ("iterations", 15),
               "implicit_bpr": ("iterations", 100), "lightfm_warp": ("epochs", 30), "lightfm_bpr": ("epochs", 30)}


def _quick(name: str, params: dict) -> dict:
    """``--quick``: a fifth of the epochs (at least 1)."""
    key, default = _EPOCH_KEYS[name]
    return dict(params, **{key: max(1, params.get(key, default) // 5)})


if __name__ == "__main__":
    main()
