"""Time mfrec's ranking evaluation at ML-1M size: all 3,706 items scored for all 6,040 users,
training items excluded, metrics @10. Random 64-d vectors (the scorer's cost, not a model's).

Usage: MFREC_DATA_DIR=../shared/data python -m benchmarks.bench_evaluation [factors]
"""
import sys
import time

from mfrec._threads import current_threads
import numpy as np

from mfrec.data import random_split
from mfrec.datasets import load_movielens
from mfrec.evaluation import ranking_metrics


def main() -> None:
    factors = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    train, test = random_split(load_movielens("1m"), test_fraction=0.2, seed=0)
    rng = np.random.default_rng(0)
    U = rng.standard_normal((train.n_users, factors)).astype(np.float32)
    V = rng.standard_normal((train.n_items, factors)).astype(np.float32)

    def score(idx):
        return U[idx] @ V.T

    print(f"{train.n_users} users x {train.n_items} items, train {train.nnz:,}, test {test.nnz:,}, "
          f"factors {factors}, kernel threads {current_threads()}")
    start = time.perf_counter()
    ranking_metrics(score, train.matrix, test.matrix, 10)
    print(f"first call (compile or cache load included): {time.perf_counter() - start:.2f} s")
    wall, cpu = [], []
    for _ in range(5):
        t, c = time.perf_counter(), time.process_time()
        result = ranking_metrics(score, train.matrix, test.matrix, 10)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    print(f"warm calls: wall median {np.median(wall):.3f} s, CPU (all threads) median {np.median(cpu):.3f} s")
    print({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()})


if __name__ == "__main__":
    main()
