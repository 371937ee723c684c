"""Benchmark of mfrec.distributed (ALS on a Dask LocalCluster) against the single-machine ALS.

Data sets:

* ML-1M, the implicit protocol (ratings >= 4, per-user 80/20 split, seed 42); the training set
  is written to Parquet files and read by the workers; NDCG@10 on the test set for both models
  and the share of items whose 10 most similar items (cosine) are the same set;
* a seeded synthetic power-law set (benchmarks/synthetic.py; ML-20M's 138k x 27k shape), of
  ``--synthetic-events`` rows (default 44M; 0 skips it), fewer iterations.

For each: the local ALS (all cores) against a LocalCluster of 1 worker x 2 threads and of
2 workers x 1 thread (worker processes), fits alternating so machine load hits all alike. The
distributed time is the whole ``mfrec.distributed.fit`` from the Parquet files (reading,
id maps, blocks, iterations, gathering the model); the local time is ``ALS.fit`` on an
``Interactions`` already in memory (the time to read and build it is reported beside).

Traffic per iteration: factor rows the blocks send each other (counted by the fit:
``model.distributed_info_``), the formula of docs/distributed.md
E[rows] = sum_i B (1 - (1 - 1/B)^{n_i}) + sum_u B (1 - (1 - 1/B)^{n_u}) (B blocks per side,
n_i / n_u interactions of item i / user u), and the bytes Dask moved between worker processes
(each worker's ``transfer_outgoing_bytes_total``, read after every iteration of the timed fits,
from the end of iteration 1 to the end of the last, divided by the iterations in between).

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.bench_distributed --output benchmarks/results/distributed.md
    .venv/bin/python -m benchmarks.bench_distributed --synthetic-events 5000000 --repeats 1
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .common import (format_table, implicit_protocol, machine_info_markdown, results_markdown,
                    write_results)
from .synthetic import shape_for, write_power_law

from mfrec import ALS, Interactions, evaluate_ranking
from mfrec import distributed as mdist

CLUSTERS = [(1, 2), (2, 1)]  # (worker processes, threads per worker)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None, help="MovieLens folder (default $MFREC_DATA_DIR)")
    p.add_argument("--factors", type=int, default=64)
    p.add_argument("--iterations", type=int, default=15, help="ALS iterations on ML-1M")
    p.add_argument("--repeats", type=int, default=3, help="timed fits per configuration on ML-1M")
    p.add_argument("--synthetic-events", type=int, default=44_000_000, help="rows of the synthetic set (0: skip)")
    p.add_argument("--synthetic-iterations", type=int, default=3)
    p.add_argument("--synthetic-repeats", type=int, default=1)
    p.add_argument("--skip-ml1m", action="store_true")
    p.add_argument("--workdir", default=None, help="folder for the Parquet files (default: a temporary one)")
    p.add_argument("--output", default=None, help="write the results Markdown here")
    return p.parse_args()


def write_frame(frame: pd.DataFrame, folder: Path, files: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for f, idx in enumerate(np.array_split(np.arange(len(frame)), files)):
        frame.iloc[idx].to_parquet(folder / f"part-{f:03d}.parquet", index=False)
    return folder


def read_local(folder: Path) -> tuple:
    """The Parquet files as one in-memory Interactions (repeats summed), and the seconds it took."""
    start = time.perf_counter()
    frame = pd.concat([pd.read_parquet(f) for f in sorted(folder.glob("*.parquet"))], ignore_index=True)
    inter = Interactions.from_arrays(frame["user"].to_numpy(), frame["item"].to_numpy(), duplicates="sum",
                                     kind="implicit")
    return inter, time.perf_counter() - start


def expected_rows(inter: Interactions, blocks: int) -> float:
    """Formula: factor rows sent per iteration when users and items are hashed into ``blocks``."""
    m = inter.matrix
    n_items = np.bincount(m.indices, minlength=m.shape[1])
    n_users = np.diff(m.indptr)
    touched = lambda n: blocks * (1.0 - (1.0 - 1.0 / blocks) ** n)  # noqa: E731 - E[# blocks touched]
    return float(touched(n_items).sum() + touched(n_users).sum())


class TrafficMeter:
    """Callback that reads the workers' outgoing transfer counters after every iteration."""

    def __init__(self, client):
        self.client, self.samples = client, []

    def __call__(self, epoch, metrics):
        sent = self.client.run(lambda dask_worker: dask_worker.transfer_outgoing_bytes_total)
        self.samples.append((time.perf_counter(), sum(sent.values())))

    def bytes_per_iteration(self) -> float:
        (_, first), (_, last) = self.samples[0], self.samples[-1]
        return (last - first) / max(1, len(self.samples) - 1)


def warm_up(client, params: dict) -> None:
    """One tiny fit so the workers have imported mfrec and loaded the numba kernels."""
    import dask.dataframe as dd
    rng = np.random.default_rng(0)
    tiny = pd.DataFrame({"user": rng.integers(0, 50, 500), "item": rng.integers(0, 30, 500)})
    mdist.fit(ALS(**{**params, "iterations": 1}), dd.from_pandas(tiny, npartitions=2), client=client)


def similar_agreement(a: ALS, b: ALS) -> float:
    items = list(a.item_ids_.raw)
    ours, theirs = a.similar_items(items, n=10), b.similar_items(items, n=10)
    return float(np.mean([set(x[0].tolist()) == set(y[0].tolist()) for x, y in zip(ours, theirs)]))


def run_case(label: str, folder: Path, params: dict, repeats: int, test=None) -> list:
    from distributed import Client, LocalCluster

    out = [f"## {label}", ""]
    inter, read_s = read_local(folder)
    n_files = len(list(folder.glob("*.parquet")))
    out.append(f"{inter.nnz:,} distinct (user, item) pairs ({inter.n_users:,} users x {inter.n_items:,} items) in "
               f"{n_files} Parquet files; ALS {params}. Local read + Interactions: {read_s:.1f} s.")
    print(out[-1], flush=True)
    local_times, rows, traffic, models = [], [], [], {}
    ALS(**{**params, "iterations": 1}).fit(inter)  # numba compile/load outside the timings
    for workers, threads in CLUSTERS:
        name = f"{workers} worker{'s' if workers > 1 else ''} x {threads} thread{'s' if threads > 1 else ''}"
        with LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            warm_up(client, params)
            times, iter_times = [], []
            for r in range(repeats):
                start = time.perf_counter()
                ALS(**params).fit(inter)
                local_times.append(time.perf_counter() - start)
                meter = TrafficMeter(client)
                start = time.perf_counter()
                model = mdist.fit(ALS(**params), folder, client=client, callback=meter)
                times.append(time.perf_counter() - start)
                iter_times += list(np.diff([t for t, _ in meter.samples]))
                print(f"  {name} repeat {r + 1}: local {local_times[-1]:.2f} s, distributed {times[-1]:.2f} s",
                      flush=True)
            models[name] = model
            info = model.distributed_info_
            planned = info["item_rows_sent_per_iteration"] + info["user_rows_sent_per_iteration"]
            traffic.append({"cluster": name, "blocks": info["user_blocks"], "planned_rows": planned,
                            "formula_rows": expected_rows(inter, info["user_blocks"]),
                            "planned_mb": info["factor_bytes_sent_per_iteration"] / 1e6,
                            "gram_mb": info["gram_bytes_per_iteration"] / 1e6,
                            "network_mb": meter.bytes_per_iteration() / 1e6 if params["iterations"] > 1 else None})
            rows.append({"cluster": name, "dist_s": statistics.median(times), "dist_min": min(times),
                         "per_iter": statistics.median(iter_times) if iter_times else None})
    local_med = statistics.median(local_times)
    local_row = {"cluster": "local ALS (ALS.fit, 2 threads)", "dist_s": local_med, "dist_min": min(local_times),
                 "ratio": 1.0, "per_iter": local_med / params["iterations"]}
    for row in rows:
        row["ratio"] = row["dist_s"] / local_med
    out += ["", f"Fit seconds (median of {repeats}, alternating with the local fit; per iteration: median "
                "time between iteration callbacks):", "",
            format_table([local_row] + rows, [("cluster", "configuration"), ("dist_s", "fit s (median)", ".2f"),
                                              ("dist_min", "fit s (min)", ".2f"),
                                              ("ratio", "/ local fit", ".2f"), ("per_iter", "s / iteration", ".3f")]),
            "", "Factor rows sent between blocks per iteration (users to item blocks + items to user blocks): "
                "counted by the fit, by the formula, and bytes Dask moved between worker processes:", "",
            format_table(traffic, [("cluster", "configuration"), ("blocks", "blocks/side", "d"),
                                   ("planned_rows", "rows sent (counted)", ",d"),
                                   ("formula_rows", "rows (formula)", ",.0f"),
                                   ("planned_mb", "factor MB (counted x 4k)", ".2f"),
                                   ("gram_mb", "Gram MB", ".3f"),
                                   ("network_mb", "MB between processes (measured)", ".2f")])]
    ref = ALS(**params).fit(inter)
    scale = float(np.abs(ref.item_factors_).max())
    diffs = {name: float(np.abs(m.item_factors_ - ref.item_factors_).max()) for name, m in models.items()}
    out += ["", f"Largest |item factor difference| from the local fit (same seed; largest |factor| {scale:.3g}): "
            + ", ".join(f"{k}: {v:.2e}" for k, v in diffs.items()) + "."]
    if test is not None:
        scores = [{"model": "local ALS", "ndcg": evaluate_ranking(ref, test, k=10)["ndcg@10"], "agree": 1.0}]
        for name, m in models.items():
            scores.append({"model": f"distributed, {name}", "ndcg": evaluate_ranking(m, test, k=10)["ndcg@10"],
                           "agree": similar_agreement(m, ref)})
        out += ["", format_table(scores, [("model", "model"), ("ndcg", "NDCG@10", ".4f"),
                                          ("agree", "items with the same top-10 similar set", ".4f")])]
    print("\n".join(out[2:]), flush=True)
    return out + [""]


def main():
    args = parse_args()
    header = [f"Machine: {machine_info_markdown()}"]
    print(header[0], flush=True)
    out = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp = Path(tmp)
        if not args.skip_ml1m:
            split = implicit_protocol(data_dir=args.data_dir)
            coo = split.train.matrix.tocoo()
            frame = pd.DataFrame({"user": split.train.user_ids.to_raw(coo.row),
                                  "item": split.train.item_ids.to_raw(coo.col)}).sample(frac=1.0, random_state=0)
            folder = write_frame(frame, tmp / "ml1m", files=4)
            params = dict(factors=args.factors, iterations=args.iterations, seed=0, threads=0)
            out += run_case("ML-1M (implicit protocol, training set)", folder, params, args.repeats, split.test)
        if args.synthetic_events > 0:
            n_users, n_items = shape_for(args.synthetic_events)
            start = time.perf_counter()
            folder = write_power_law(tmp / "synthetic", args.synthetic_events, seed=0, files=8)
            print(f"generated {args.synthetic_events:,} events in {time.perf_counter() - start:.1f} s", flush=True)
            params = dict(factors=args.factors, iterations=args.synthetic_iterations, seed=0, threads=0)
            out += run_case(f"Synthetic power law, {args.synthetic_events:,} events ({n_users:,} users x "
                            f"{n_items:,} items, seed 0)", folder, params, args.synthetic_repeats)
    header.append(f"Machine load after the run: {machine_info_markdown().split('; ')[2]}")
    if args.output:
        write_results(args.output, results_markdown("mfrec.distributed: ALS on a Dask LocalCluster", out, header),
                      notes_marker="<!-- notes -->")


if __name__ == "__main__":
    main()
