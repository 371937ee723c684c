"""Benchmark of mfrec's implicit ALS on the implicit protocol, against the implicit library's ALS.

Protocol (benchmarks/common.py): ML-1M ratings >= 4 as positives, per-user 80/20 holdout with
seed 42, all-item ranking with training items excluded, metrics @10 from mfrec.evaluation.
Rows:

* item popularity (the baseline);
* mfrec ALS with the library defaults (64 factors x 15 iterations, HKV 2008 weighting);
* mfrec ``ALS.preset("ml-1m")``: the tuned preset (chosen with ``--tune``, see below);
* implicit's ALS with the same factors / iterations / threads as each mfrec row (its defaults
  otherwise: regularization 0.01, alpha 1), when implicit is importable (run with
  /work/anchors-venv/bin/python), for the fit-time comparison in the same run, and implicit's ALS
  tuned on the same validation split (``--tune-implicit``; IMPLICIT_TUNED).

Fit times are the median of ``--repeats`` fits (mfrec and implicit alternate, so a change in the
machine's load hits both). It also prints the 10 most similar movies (cosine of the preset
model's item factors) for five well-known films.

``--tune`` instead runs the tuning grid on a validation split carved from the TRAINING set
(per-user 20% of train, seed 7); the test set is never looked at. ``--tune-implicit`` does the
same for implicit's ALS (IMPLICIT_GRID).

Usage (from the repository root)::

    /work/anchors-venv/bin/python benchmarks/bench_als.py --output benchmarks/results/als.md
    .venv/bin/python benchmarks/bench_als.py --tune
    .venv/bin/python benchmarks/bench_als.py --quick --no-anchors      # smoke run on ML-100K
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (Timer, add_common_args, dataset_for, format_table, implicit_protocol,  # noqa: E402
                    machine_info_markdown)

from mfrec.data.split import per_user_split  # noqa: E402
from mfrec.evaluation import evaluate_ranking  # noqa: E402
from mfrec.models.als import PRESETS, ALS  # noqa: E402
from mfrec.models.popularity import Popularity  # noqa: E402

#: MovieLens ids of the films whose neighbours are printed
FILMS = {1: "Toy Story", 260: "Star Wars", 858: "The Godfather", 1240: "The Terminator", 1721: "Titanic"}

METRICS = ["ndcg@10", "precision@10", "recall@10", "map@10", "hit_rate@10", "mrr", "auc", "coverage@10"]

#: the tuning grid (--tune): every entry fitted once (seed 0) and scored on the validation split.
#: These are the coarse-to-fine rounds that chose the defaults and the preset (results in
#: benchmarks/results/als.md); "freq" = regularization_scaling="frequency".
_FREQ = dict(regularization_scaling="frequency")
TUNE_GRID = (
    # round 1: HKV weighting (alpha0 = 1, constant lambda) vs unobserved weight + frequency scaling
    [dict(factors=64, regularization=r, alpha=a) for r in (0.1, 1.0, 10.0, 50.0) for a in (1.0, 5.0)]
    + [dict(factors=64, regularization=r, alpha=1.0, unobserved_weight=w, **_FREQ)
       for w in (0.05, 0.2, 0.5) for r in (1e-3, 3e-3, 1e-2)]
    # round 2: stronger regularization
    + [dict(factors=64, regularization=r, alpha=a) for r in (100.0, 200.0) for a in (5.0, 10.0)]
    + [dict(factors=64, regularization=r, alpha=a, unobserved_weight=w, **_FREQ)
       for w in (0.2, 0.5, 1.0) for r in (0.03, 0.1) for a in (1.0, 3.0)]
    # round 3: 128 factors around the best of rounds 1-2
    + [dict(factors=128, regularization=100.0, alpha=10.0), dict(factors=128, regularization=50.0, alpha=5.0)]
    + [dict(factors=128, regularization=r, alpha=a, unobserved_weight=w, **_FREQ)
       for w, r, a in [(0.5, 0.01, 1.0), (0.5, 0.005, 1.0), (0.2, 0.03, 3.0), (0.2, 0.01, 1.0), (0.2, 0.02, 3.0),
                       (0.1, 0.03, 3.0), (0.1, 0.05, 5.0), (0.3, 0.02, 2.0)]]
    # round 4: finer, more iterations / CG steps, 256 factors
    + [dict(factors=128, regularization=r, alpha=a) for r, a in [(150.0, 15.0), (100.0, 15.0), (70.0, 10.0)]]
    + [dict(factors=128, regularization=r, alpha=a, unobserved_weight=w, **_FREQ)
       for w, r, a in [(0.3, 0.015, 2.0), (0.3, 0.02, 3.0), (0.4, 0.015, 1.5)]]
    + [dict(factors=128, regularization=0.02, alpha=2.0, unobserved_weight=0.3, iterations=25, **_FREQ),
       dict(factors=128, regularization=0.02, alpha=2.0, unobserved_weight=0.3, cg_steps=6, **_FREQ),
       dict(factors=256, regularization=0.02, alpha=2.0, unobserved_weight=0.3, **_FREQ),
       dict(factors=256, regularization=100.0, alpha=10.0)]
    # round 5: the best region at 64 factors (for the defaults), 128 with another seed, 192 factors
    + [dict(factors=64, regularization=r, alpha=a, unobserved_weight=w, **_FREQ)
       for w, r, a in [(0.4, 0.015, 1.5), (0.5, 0.01, 1.5), (0.3, 0.02, 2.0), (0.4, 0.01, 1.0)]]
    + [dict(factors=64, regularization=100.0, alpha=10.0), dict(factors=64, regularization=50.0, alpha=10.0),
       dict(factors=128, regularization=0.015, alpha=1.5, unobserved_weight=0.4, seed=1, **_FREQ),
       dict(factors=128, regularization=0.012, alpha=1.5, unobserved_weight=0.5, **_FREQ),
       dict(factors=192, regularization=0.015, alpha=1.5, unobserved_weight=0.4, **_FREQ)]
    # round 6: neighbours of the chosen defaults (exponent nu, alpha, lambda, log confidence)
    + [dict(factors=64, regularization=0.57, regularization_exponent=0.5, alpha=1.5, unobserved_weight=0.4, **_FREQ),
       dict(factors=64, regularization=0.1, regularization_exponent=0.75, alpha=1.5, unobserved_weight=0.4, **_FREQ),
       dict(factors=64, regularization=0.015, alpha=2.0, unobserved_weight=0.4, **_FREQ),
       dict(factors=64, regularization=0.02, alpha=1.5, unobserved_weight=0.4, **_FREQ),
       dict(factors=64, regularization=0.015, alpha=1.5, unobserved_weight=0.4, confidence="log", **_FREQ)]
)
#: the HKV-weighted configurations in TUNE_GRID are tuned with alpha0 = 1 and constant lambda
_HKV = dict(unobserved_weight=1.0, regularization_scaling="none")

#: implicit's ALS tuned on the same validation split (--tune-implicit). implicit weights observed
#: cells by alpha * value and unobserved cells by 1 with a constant lambda: mfrec's HKV setting
#: with c = alpha (so implicit alpha = 1 + mfrec alpha on binary data).
IMPLICIT_GRID = [dict(factors=f, regularization=r, alpha=a) for f in (64, 128)
                 for r in (10.0, 50.0, 100.0, 150.0) for a in (6.0, 11.0, 16.0)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument("--tune", action="store_true", help="run the tuning grid on a validation split of train")
    parser.add_argument("--grid", help="with --tune: a JSON-lines file of configurations instead of TUNE_GRID")
    parser.add_argument("--tune-implicit", action="store_true",
                        help="tune implicit's ALS (IMPLICIT_GRID) on the same validation split")
    parser.add_argument("--preset", default="ml-1m", help="tuned preset to benchmark (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="fits per timed row (median reported)")
    parser.add_argument("--output", help="also write the results as Markdown to this file")
    args = parser.parse_args(argv)
    split = implicit_protocol(args.seed, dataset=dataset_for(args), data_dir=args.data_dir)
    if args.tune:
        return tune(split.train, args)
    if args.tune_implicit:
        return tune_implicit(split.train, args)
    return benchmark(split, args)


# ---------------------------------------------------------------------- tuning
def tune(train, args) -> int:
    fit_train, valid = per_user_split(train, test_fraction=0.2, seed=7)
    print(f"tuning on {fit_train} / validation {valid} (carved from the training set, seed 7)", flush=True)
    grid = TUNE_GRID
    if args.grid:
        grid = [json.loads(line) for line in Path(args.grid).read_text().splitlines() if line.strip()]
    rows = []
    for config in grid:
        base = {} if config.get("regularization_scaling") == "frequency" else _HKV
        params = {"seed": 0, "threads": args.threads, **base, **config}
        if args.quick:
            params["iterations"] = min(params.get("iterations", 15), 3)
        with Timer() as timer:
            model = ALS(**params).fit(fit_train)
        scores = evaluate_ranking(model, valid, k=10)
        rows.append({"config": _describe(config), "val_ndcg": scores["ndcg@10"], "val_recall": scores["recall@10"],
                     "fit_s": timer.seconds})
        print(json.dumps(rows[-1]), flush=True)
    _write_tuning(rows, args)
    return 0


def tune_implicit(train, args) -> int:
    from anchors import evaluate_vectors
    fit_train, valid = per_user_split(train, test_fraction=0.2, seed=7)
    print(f"tuning implicit ALS on {fit_train} / validation {valid} (seed 7)", flush=True)
    rows = []
    for config in IMPLICIT_GRID:
        users, items, seconds = _implicit(fit_train, iterations=15, threads=args.threads, **config)
        scores = evaluate_vectors(users, items, fit_train, valid, k=10, threads=args.threads)
        rows.append({"config": _describe(config), "val_ndcg": scores["ndcg@10"], "val_recall": scores["recall@10"],
                     "fit_s": seconds})
        print(json.dumps(rows[-1]), flush=True)
    _write_tuning(rows, args)
    return 0


def _write_tuning(rows: list, args) -> None:
    rows = sorted(rows, key=lambda r: -r["val_ndcg"])
    table = format_table(rows, ["config", ("val_ndcg", "val NDCG@10"), ("val_recall", "val recall@10"),
                                ("fit_s", "fit s", ".1f")])
    print(table)
    if args.output:
        command = "python " + " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:])
        Path(args.output).write_text(f"Command: `{command}` (interpreter: {sys.executable})\n\n"
                                     f"Machine: {machine_info_markdown()}\n\n{table}\n")
        print(f"wrote {args.output}")


def _describe(config: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items())


# ---------------------------------------------------------------------- benchmark
def benchmark(split, args) -> int:
    train, test = split
    out = [f"Machine: {machine_info_markdown()}",
           f"Data: {'ML-100K (--quick, not a recorded result)' if args.quick else 'ML-1M'} ratings >= 4, "
           f"per-user 80/20 split seed {args.seed}: train {train.nnz:,} positives "
           f"({train.n_users:,} users x {train.n_items:,} items), test {test.nnz:,}; threads={args.threads}"]
    print("\n".join(out), flush=True)

    have_implicit = False
    if not args.no_anchors:
        from anchors import anchor_versions
        have_implicit = anchor_versions().get("implicit") is not None
        if not have_implicit:
            print("[anchor skipped] implicit is not installed in this environment")

    compile_rows = compile_times()
    out += ["", "### numba first-call cost (fresh processes)", "",
            format_table(compile_rows, ["case", ("seconds", "seconds", ".2f")])]
    print(out[-1], flush=True)
    ALS(factors=4, iterations=1, threads=args.threads).fit(train)  # numba compile / cache load, not timed

    rows, timing_rows = [], []
    pop = Popularity()
    with Timer() as timer:
        pop.fit(train)
    rows.append(_row("popularity", evaluate_ranking(pop, test, k=10), timer.seconds))

    default = ALS(seed=0, threads=args.threads)
    preset = ALS.preset(args.preset, seed=0, threads=args.threads)
    runs = [("mfrec ALS defaults (64 f x 15 it.)", default, args.threads),
            (f"mfrec ALS.preset({args.preset!r}) ({preset.factors} f x {preset.iterations} it.)", preset, args.threads)]
    if args.threads != 1:  # single-thread timing too (less sensitive to other processes on the machine)
        runs.append((None, ALS(seed=0, threads=1), 1))
    for label, model, threads in runs:
        if args.quick:
            model.set_params(iterations=min(model.iterations, 3))
        times, anchor_times = [], []
        anchor_vectors = None
        for _ in range(max(1, args.repeats)):
            with Timer() as timer:
                model.fit(train)
            times.append(timer.seconds)
            if have_implicit:  # same factors, iterations and threads, implicit's other defaults
                anchor_vectors = _implicit(train, factors=model.factors, iterations=model.iterations, threads=threads)
                anchor_times.append(anchor_vectors[2])
        timing = {"config": f"{model.factors} factors x {model.iterations} it., threads={threads}",
                  "mfrec_s": statistics.median(times), "mfrec_all": ", ".join(f"{t:.2f}" for t in times)}
        if have_implicit:
            timing.update(implicit_s=statistics.median(anchor_times),
                          implicit_all=", ".join(f"{t:.2f}" for t in anchor_times),
                          ratio=statistics.median(times) / statistics.median(anchor_times))
        timing_rows.append(timing)
        if label is not None:  # a timing-only run adds no metrics row
            rows.append(_row(label, evaluate_ranking(model, test, k=10), statistics.median(times)))
            if have_implicit:
                from anchors import evaluate_vectors
                anchor_label = f"implicit ALS, its defaults at {model.factors} f x {model.iterations} it."
                rows.append(_row(anchor_label, evaluate_vectors(*anchor_vectors[:2], train, test, k=10,
                                                                threads=threads), statistics.median(anchor_times)))
        print(timing if label is None else (rows[-1], timing), flush=True)
    preset_model = preset

    if have_implicit:
        from anchors import evaluate_vectors
        for label, params in _implicit_tuned(preset):
            u, v, seconds = _implicit(train, **params, threads=args.threads)
            rows.append(_row(label, evaluate_vectors(u, v, train, test, k=10, threads=args.threads), seconds))
            print(rows[-1], flush=True)

    out += ["", "### Test ranking metrics (@10, all items, training items excluded)", "",
            format_table(rows, ["model"] + METRICS + [("fit_s", "fit s", ".2f")])]
    columns = ["config", ("mfrec_s", "mfrec fit s (median)", ".2f"), ("mfrec_all", "mfrec fits")]
    if have_implicit:
        columns += [("implicit_s", "implicit fit s (median)", ".2f"), ("implicit_all", "implicit fits"),
                    ("ratio", "mfrec / implicit", ".2f")]
    out += ["", "### Fit time, same factors / iterations / threads (0 = all cores), same run, "
            f"median of {max(1, args.repeats)} alternating fits", "",
            format_table(timing_rows, columns)]
    out.append(f"\nAnchors that ran: {'implicit (ALS)' if have_implicit else 'none'}")
    print("\n".join(out[-5:]), flush=True)

    out += ["", f"### 10 most similar movies (cosine of item factors, ALS.preset({args.preset!r}))", ""]
    out.append(similar_movies(preset_model))
    print(out[-1], flush=True)

    if args.output:
        command = "python " + " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:])
        text = [f"# ALS benchmark ({'quick' if args.quick else 'implicit protocol'})", "",
                f"Command: `{command}` (interpreter: {sys.executable})", "",
                f"Preset `{args.preset}`: `{json.dumps(PRESETS.get(args.preset))}`", "", *out, ""]
        Path(args.output).write_text("\n".join(text))
        print(f"wrote {args.output}")
    return 0


def _row(label: str, scores: dict, seconds: float) -> dict:
    return {"model": label, **{m: scores.get(m) for m in METRICS}, "fit_s": seconds}


def _implicit(train, **params):
    from anchors import implicit_als
    return implicit_als(train, **params)


#: implicit's best settings on the validation split (--tune-implicit, see benchmarks/results/als.md)
IMPLICIT_TUNED = [dict(factors=128, iterations=15, regularization=100.0, alpha=11.0),
                  dict(factors=64, iterations=15, regularization=100.0, alpha=11.0)]


def _implicit_tuned(preset: ALS) -> list:
    """implicit's ALS with the settings that won its own tuning on the same validation split.

    implicit's objective weights observed cells by alpha * value and unobserved cells by 1, with a
    constant lambda; it has no unobserved weight nor frequency scaling, so mfrec's preset cannot be
    run in implicit. Its grid (IMPLICIT_GRID) covered factors, regularization and alpha."""
    return [(f"implicit ALS tuned ({p['factors']} f x {p['iterations']} it., reg {p['regularization']:g}, "
             f"alpha {p['alpha']:g})", p) for p in IMPLICIT_TUNED]


def similar_movies(model, n: int = 10) -> str:
    inter = model.interactions_
    lines = []
    for movie, name in FILMS.items():
        if movie not in inter.item_ids:
            lines.append(f"- {name} ({movie}): not in the training data")
            continue
        ids, scores = model.similar_items(movie, n=n)
        titles = inter.item_titles(inter.item_ids.indices(list(ids)))
        query = inter.item_titles(inter.item_ids.indices([movie]))[0]
        lines.append(f"**{query}** ({movie}): " + "; ".join(f"{t} ({s:.2f})" for t, s in zip(titles, scores)))
    return "\n\n".join(lines)


COMPILE_SNIPPET = textwrap.dedent("""
    import time
    start = time.perf_counter()
    from mfrec.data.interactions import Interactions
    from mfrec.models.als import ALS
    data = Interactions.from_arrays([0, 0, 1, 2, 2], [0, 1, 1, 2, 0])
    imported = time.perf_counter()
    ALS(factors=2, iterations=1, seed=0).fit(data)
    cg = time.perf_counter()
    ALS(factors=2, iterations=1, seed=0, solver="cholesky", calculate_loss=True).fit(data).recommend_new_user([0])
    print(imported - start, cg - imported, time.perf_counter() - cg)
""")


def compile_times() -> list:
    """Seconds for tiny first fits in fresh interpreters: with an empty numba cache (compilation)
    and with the cache the first run filled."""
    rows = []
    with tempfile.TemporaryDirectory() as cold:
        for case in ("empty numba cache (compile)", "cache filled by the previous run"):
            result = subprocess.run([sys.executable, "-c", COMPILE_SNIPPET], capture_output=True, text=True,
                                    env={**os.environ, "NUMBA_CACHE_DIR": cold}, check=True)
            import_s, cg_s, rest_s = map(float, result.stdout.split())
            rows.append({"case": f"first fit (CG solver), {case}", "seconds": cg_s})
            rows.append({"case": f"then Cholesky solver + loss + fold-in, {case}", "seconds": rest_s})
    rows.append({"case": "import mfrec.models.als (last run)", "seconds": import_s})
    return rows


if __name__ == "__main__":
    sys.exit(main())
