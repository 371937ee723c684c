"""Evaluation and batch recommendation at ML-20M scale against the bare BLAS scoring (issue 14).

Random 64-d float32 factors for 138k users x 27k items and a seeded random power-law training /
test CSR (~44M stored entries in all, 80/20), then, side by side in one process:

* ``blas``: the bare matrix product user_factors[users] @ item_factors.T of every evaluated user,
  in blocks, result discarded: the anchor every other row is divided by;
* ``ranking_metrics (vectors)``: mfrec's evaluation of a model (what ``evaluate_ranking`` runs once
  the test set is aligned: ``ranking_metrics((U, V), ...)``, scores computed by blocks of 64
  users inside the kernel, training items excluded, top-K and all metrics);
* ``ranking_metrics (score_fn)``: the same metrics from a user's scorer ``lambda idx: U[idx] @ V.T``
  (batches of scores through memory, then the kernel);
* ``recommend batch``: ``mfrec.retrieval.top_k`` (what ``model.recommend(list_of_users)`` runs),
  seen items excluded, n = 10, for the same users.

Usage (from the repository root)::

    python -m benchmarks.bench_evaluation_scale [--events 44000000] [--users 0] [--write]

``--users N`` evaluates only the first N users with a test item (0 = all). ``--write`` records the
run in benchmarks/results/evaluation_scale.md.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from mfrec._threads import current_threads
import numpy as np
import scipy.sparse as sp

from .common import machine_info_markdown, results_markdown, write_results

from mfrec.evaluation import ranking_metrics
from mfrec.retrieval import top_k

USERS_PER_EVENT = 138_000 / 44_000_000
ITEMS_PER_EVENT = 27_000 / 44_000_000


def power_law_split(events: int, seed: int = 0):
    """(train, test) users x items CSR matrices from ``events`` power-law (user, item) draws
    (exponents 0.6 for users, 1.0 for items, ranks shuffled onto ids); duplicates merged; each
    stored pair goes to the test side with probability 0.2."""
    rng = np.random.default_rng(seed)
    n_users, n_items = round(events * USERS_PER_EVENT), round(events * ITEMS_PER_EVENT)

    def cdf(n, a):
        w = np.arange(1, n + 1, dtype=np.float64) ** -a
        c = np.cumsum(w[rng.permutation(n)])
        return c / c[-1]

    ucdf, icdf = cdf(n_users, 0.6), cdf(n_items, 1.0)
    users = np.searchsorted(ucdf, rng.random(events), side="right").astype(np.int32)
    items = np.searchsorted(icdf, rng.random(events), side="right").astype(np.int32)
    both = sp.csr_matrix((np.ones(events, dtype=np.float32), (users, items)), shape=(n_users, n_items))
    del users, items
    both.sum_duplicates()
    is_test = rng.random(both.nnz) < 0.2
    test, train = both.copy(), both
    test.data = is_test.astype(np.float32)
    train.data = (~is_test).astype(np.float32)
    test.eliminate_zeros()
    train.eliminate_zeros()
    return train, test


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=44_000_000)
    parser.add_argument("--users", type=int, default=0)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="timed rounds (blas, evaluation, recommend)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    out = []

    def say(line=""):
        print(line, flush=True)
        out.append(line)

    t0 = time.perf_counter()
    train, test = power_law_split(args.events)
    n_users, n_items = train.shape
    rng = np.random.default_rng(1)
    U = rng.standard_normal((n_users, args.factors)).astype(np.float32)
    V = rng.standard_normal((n_items, args.factors)).astype(np.float32)
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    if args.users:
        users = users[:args.users]
    say(f"data: {n_users:,} users x {n_items:,} items, train {train.nnz:,}, test {test.nnz:,} stored pairs "
        f"(built in {time.perf_counter() - t0:.0f} s); {len(users):,} users evaluated; {args.factors} factors; "
        f"kernel threads {current_threads()}")

    block = 1 << 24
    per_block = max(1, block // n_items)

    def blas():
        for start in range(0, len(users), per_block):
            U[users[start:start + per_block]] @ V.T

    score = lambda idx: U[idx] @ V.T  # noqa: E731
    sel = {"users": users} if args.users else {}

    def evaluate():
        return ranking_metrics((U, V), train, test, 10, **sel)

    def evaluate_score_fn():
        return ranking_metrics(score, train, test, 10, **sel)

    def recommend():
        return top_k(U[users], V, 10, exclude=train, exclude_rows=users)

    # warm-up (compilation or cache load), small
    ranking_metrics(score, train, test, 10, users=users[:50])
    ranking_metrics((U, V), train, test, 10, users=users[:50])
    top_k(U[users[:50]], V, 10, exclude=train, exclude_rows=users[:50])
    rows = []
    for r in range(args.repeats):
        b = seconds(blas)
        e = seconds(evaluate)
        f = seconds(evaluate_score_fn)
        t = seconds(recommend)
        rows.append((b, e, t, f))
        say(f"round {r + 1}: blas {b:.2f} s, ranking_metrics (vectors) {e:.2f} s ({e / b:.2f}x), "
            f"ranking_metrics (score_fn) {f:.2f} s ({f / b:.2f}x), recommend batch {t:.2f} s ({t / b:.2f}x)")
    best = [min(x[i] for x in rows) for i in range(4)]
    say("")
    say("| what | seconds (best of rounds) | ratio to bare BLAS |")
    say("|---|---|---|")
    say(f"| bare BLAS scoring `U[users] @ V.T` | {best[0]:.2f} | 1.00x |")
    say(f"| `ranking_metrics((U, V), ...)` (= `evaluate_ranking` after alignment), k=10 | {best[1]:.2f} | "
        f"{best[1] / best[0]:.2f}x |")
    say(f"| `ranking_metrics(score_fn, ...)`, k=10 | {best[3]:.2f} | {best[3] / best[0]:.2f}x |")
    say(f"| batch recommend (`top_k`, seen excluded), n=10 | {best[2]:.2f} | {best[2] / best[0]:.2f}x |")
    res = evaluate()
    say("")
    say("metrics (random factors, a sanity check only): " +
        ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in res.items()))
    if args.write:
        path = Path(__file__).resolve().parent / "results" / "evaluation_scale.md"
        write_results(path, results_markdown("Evaluation and batch recommendation at scale", out,
                                             [f"Machine: {machine_info_markdown()}"]))


if __name__ == "__main__":
    main()
