"""Benchmark of mfrec's BPR on the implicit protocol, against the BPRs of implicit and LightFM.

Protocol (benchmarks/common.py): ML-1M ratings >= 4 as positives, per-user 80/20 holdout with
seed 42, all-item ranking with training items excluded, metrics @10 from mfrec.evaluation.
Rows:

* item popularity (the baseline);
* mfrec BPR with the library defaults, and ``BPR.preset("ml-1m")`` (tuned with ``--tune``);
* implicit's BayesianPersonalizedRanking with its defaults (100 factors, lr 0.01, reg 0.01,
  100 iterations) and LightFM with loss="bpr" at its defaults (64 components, 30 epochs,
  adagrad), when importable (run with /work/anchors-venv/bin/python).

Timing: seconds per epoch of mfrec BPR and implicit's BPR with the same factors, epochs and
threads (``--timing-epochs`` epochs, ``--repeats`` fits each, mfrec and implicit alternating so
that load changes hit both; median reported), for 64 and 128 factors, with ``--threads`` threads
and with 1 thread. Both libraries check that the sampled negative is not a positive.

``--tune`` instead runs the tuning grid on a validation split carved from the TRAINING set
(per-user 20% of train, seed 7), reporting validation NDCG@10 every ``--every`` epochs; the test
set is never looked at.

Usage (from the repository root)::

    /work/anchors-venv/bin/python -m benchmarks.bench_bpr --output benchmarks/results/bpr.md
    .venv/bin/python -m benchmarks.bench_bpr --tune [--grid configs.jsonl]
    .venv/bin/python -m benchmarks.bench_bpr --quick --no-anchors      # smoke run on ML-100K
"""
from __future__ import annotations

import json
from pathlib import Path

from .common import (METRICS, Timer, alternating_fits, anchor_row, available_anchors,
                    benchmark_parser, describe_config, format_table, implicit_run_header, load_grid,
                    popularity_row, protocol_split, ranking_row, run_tuning_grid, timing_row, tuning_split)

from mfrec.evaluation import evaluate_ranking
from mfrec.models.bpr import BPR, PRESETS

#: MovieLens ids of the films whose neighbours are printed (five nearest, titles only)
FILMS = {1: "Toy Story", 260: "Star Wars", 858: "The Godfather", 1721: "Titanic"}

#: the tuning grid (--tune), each fitted once (seed 1, one thread) and scored on the validation
#: split every --every epochs. The rounds that led here are recorded in benchmarks/results/bpr.md.
TUNE_GRID = [
    dict(),                                                  # the defaults (64 f, 100 epochs)
    dict(PRESETS["ml-1m"]),                                  # the preset (128 f, 150 epochs)
    dict(PRESETS["ml-1m"], sampling="pair"),                 # LearnBPR's uniform pair sampling
    dict(PRESETS["ml-1m"], regularization=0.015),
    dict(PRESETS["ml-1m"], regularization=0.02, negative_candidates=2),   # dynamic negative sampling
]


def main(argv=None) -> int:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--every", type=int, default=10, help="with --tune: validate every N epochs")
    parser.add_argument("--repeats", type=int, default=3, help="fits per timing row (median reported)")
    parser.add_argument("--timing-epochs", type=int, default=20, help="epochs per timing fit")
    args = parser.parse_args(argv)
    split = protocol_split(args, "implicit")
    if args.tune:
        return tune(split.train, args)
    return benchmark(split, args)


# ---------------------------------------------------------------------- tuning
def tune(train, args) -> int:
    fit_train, valid = tuning_split(train)
    grid = load_grid(args.grid) if args.grid else TUNE_GRID

    def evaluate(config: dict) -> dict:
        params = {"seed": 1, "threads": 1, **config}
        if args.quick:
            params["epochs"] = min(params.get("epochs", BPR().epochs), 5)
        model = BPR(**params)
        curve = {}

        def validate(epoch, metrics, model=model, curve=curve):
            if epoch % args.every == 0 or epoch == model.epochs:
                curve[epoch] = evaluate_ranking(model, valid, k=10)["ndcg@10"]

        with Timer() as timer:
            model.fit(fit_train, callback=validate)
        best = max(curve, key=curve.get)
        return {"config": describe_config(config, empty="defaults"), "val_ndcg": curve[model.epochs],
                "best_epoch": best, "best_val_ndcg": curve[best],
                "curve": " ".join(f"{e}:{v:.4f}" for e, v in curve.items()), "fit_s": timer.seconds}

    rows = run_tuning_grid(grid, evaluate)
    rows.sort(key=lambda r: -r["val_ndcg"])
    print(format_table(rows, ["config", ("val_ndcg", "val NDCG@10 (last epoch)"), ("best_epoch", "best epoch"),
                              ("best_val_ndcg", "best val NDCG@10"), ("curve", "curve (epoch:val NDCG)"),
                              ("fit_s", "fit s (incl. validation)", ".1f")]))
    return 0


# ---------------------------------------------------------------------- benchmark
def benchmark(split, args) -> int:
    train, test = split
    out = implicit_run_header(train, test, args)
    versions = available_anchors(args, ["implicit", "lightfm"])
    have_implicit = versions.get("implicit") is not None
    have_lightfm = versions.get("lightfm") is not None

    BPR(factors=4, epochs=1, threads=args.threads).fit(train)  # numba compile / cache load, not timed

    # ------------------------------------------------------------ quality
    rows = [popularity_row(train, test)]
    default = BPR(seed=0, threads=args.threads)
    preset = BPR.preset(args.preset, seed=0, threads=args.threads)
    for label, model in [(f"mfrec BPR defaults ({_shape(default)})", default),
                         (f"mfrec BPR.preset({args.preset!r}) ({_shape(preset)})", preset)]:
        if args.quick:
            model.set_params(epochs=min(model.epochs, 5))
        with Timer() as timer:
            model.fit(train)
        rows.append(ranking_row(label, evaluate_ranking(model, test, k=10), timer.seconds))
        print(json.dumps(rows[-1]), flush=True)
    if have_implicit:
        from .anchors import implicit_bpr
        iters = 5 if args.quick else 100
        rows.append(anchor_row(f"implicit BPR, its defaults (100 f x {iters} it., lr 0.01, reg 0.01)",
                               implicit_bpr(train, iterations=iters, threads=args.threads), train, test, args.threads))
        print(json.dumps(rows[-1]), flush=True)
    if have_lightfm:
        from .anchors import lightfm_warp
        epochs = 5 if args.quick else 30
        rows.append(anchor_row(f"LightFM loss='bpr', its defaults (64 c. x {epochs} ep., adagrad)",
                               lightfm_warp(train, loss="bpr", epochs=epochs, threads=args.threads),
                               train, test, args.threads))
        print(json.dumps(rows[-1]), flush=True)
    quality = format_table(rows, ["model"] + METRICS + [("fit_s", "fit s", ".1f")])
    print(quality, flush=True)

    # ------------------------------------------------------------ time per epoch
    timing_rows = []
    epochs = 3 if args.quick else args.timing_epochs
    thread_counts = sorted({args.threads, 1}, key=lambda t: (t != args.threads, t))
    for threads in thread_counts:
        for factors in (64, 128):
            fit_anchor = (lambda rep, f=factors, t=threads: implicit_bpr(train, factors=f, iterations=epochs, threads=t)
                          ) if have_implicit else None
            times, anchor_times, _ = alternating_fits(
                lambda rep, f=factors, t=threads: BPR(factors=f, epochs=epochs, seed=rep, threads=t), train,
                args.repeats, fit_anchor)
            ours, theirs = [t / epochs for t in times], [t / epochs for t in anchor_times]
            row = timing_row(f"{factors} factors, threads={threads}, {epochs} epochs x {len(ours)} fits", ours, theirs,
                             anchor="implicit", suffix="", fmt=".3f", sep=" ")
            timing_rows.append(row)
            print(json.dumps(row), flush=True)
    timing = format_table(timing_rows, ["config", ("mfrec", "mfrec s/epoch (median)", ".3f"),
                                        ("implicit", "implicit s/epoch (median)", ".3f"),
                                        ("ratio", "mfrec / implicit", ".2f"), ("mfrec_all", "mfrec all"),
                                        ("implicit_all", "implicit all")])
    print(timing, flush=True)

    # ------------------------------------------------------------ neighbours (sanity)
    lines = []
    titles = train.item_metadata["title"] if train.item_metadata is not None else None
    for film, name in FILMS.items():
        if film not in train.item_ids:
            continue
        ids, _ = preset.similar_items(film, n=5)
        shown = [str(titles.get(i, i)) if titles is not None else str(i) for i in ids]
        lines.append(f"* {name}: " + "; ".join(shown))
    neighbours = "\n".join(lines)
    print(neighbours)

    if args.output:
        anchors_ran = [n for n in ("implicit", "lightfm") if versions.get(n) is not None]
        text = "\n\n".join([
            "## Run", *out, f"Anchors that ran: {', '.join(f'{n} {versions[n]}' for n in anchors_ran) or 'none'}",
            "### Ranking quality (test set, @10)", quality,
            "### Seconds per epoch, same factors / epochs / threads", timing,
            f"### Most similar movies (cosine of item factors, BPR.preset({args.preset!r}))", neighbours])
        Path(args.output).write_text(text + "\n")
        print(f"written to {args.output}")
    return 0


def _shape(model: BPR) -> str:
    return f"{model.factors} f x {model.epochs} ep."


if __name__ == "__main__":
    raise SystemExit(main())
