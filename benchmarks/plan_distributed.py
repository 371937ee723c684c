"""The sizing plan of docs/distributed.md, computed (not measured): 1B interactions, 100M users,
10M items, power-law counts (n ~ rank^-1.0 for items, rank^-0.6 for users, as the synthetic set of
benchmarks/synthetic.py), k = 64 float32 factors, B blocks per side on W = B workers.

Per iteration (both half steps), factor rows sent between blocks:
    rows(B) = sum_i B (1 - (1 - 1/B)^{n_i}) + sum_u B (1 - (1 - 1/B)^{n_u})
(E[number of the B blocks of the other side that row's interactions fall in]); bytes = 4 k rows(B).
Time per iteration = max(network, compute) + scheduler, with the rates given below.

Usage: python -m benchmarks.plan_distributed
"""
import numpy as np

NNZ, USERS, ITEMS, K = 1_000_000_000, 100_000_000, 10_000_000, 64
CORE_SECONDS_PER_NNZ = 0.42e-6  # mfrec ALS, 64 factors, CG 3 steps: 9.2 s/iteration x 2 cores / 44M (issue 14)
NET_BYTES_PER_S = 1.25e9        # 10 Gbit/s per worker
CORES_PER_WORKER = 16
TASK_SECONDS = 2e-4             # Dask scheduler cost per task (order of magnitude, dask docs: ~200 us)


def counts(n_rows, exponent, total):
    w = np.arange(1, n_rows + 1, dtype=np.float64) ** -exponent
    return w * (total / w.sum())


def touched(n, blocks):
    return blocks * -np.expm1(n * np.log1p(-1.0 / blocks))


if __name__ == "__main__":
    n_i, n_u = counts(ITEMS, 1.0, NNZ), counts(USERS, 0.6, NNZ)
    print(f"heaviest item {n_i[0]:,.0f} interactions ({n_i[0] / NNZ:.1%}), heaviest user {n_u[0]:,.0f}")
    print("| B = W | item rows sent | user rows sent | GB / iteration | GB per worker | network s | "
          "compute s | tasks / iteration | scheduler s | heaviest item row s | memory / worker GB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for b in (8, 16, 32, 64, 128, 256, 512):
        items_sent, users_sent = touched(n_i, b).sum(), touched(n_u, b).sum()
        gb = 4 * K * (items_sent + users_sent) / 1e9
        per_worker = gb / b
        net = per_worker * 1e9 / NET_BYTES_PER_S
        compute = NNZ * CORE_SECONDS_PER_NNZ / (b * CORES_PER_WORKER)
        tasks = 2 * (b * b + 2 * b)
        heavy = n_i[0] * CORE_SECONDS_PER_NNZ / 2  # one row is solved on one core (item half step only)
        # in-blocks: 20 B per interaction and side; factors of both sides twice (old + new);
        # received rows of the larger half step; the id maps (8 B per id) on every worker
        memory = (40 * NNZ + 2 * 4 * K * (USERS + ITEMS) + 4 * K * max(items_sent, users_sent)) / b \
            + 8 * (USERS + ITEMS)
        print(f"| {b} | {items_sent / 1e6:,.0f}M | {users_sent / 1e6:,.0f}M | {gb:,.0f} | {per_worker:,.1f} | "
              f"{net:,.1f} | {compute:,.2f} | {tasks:,} | {tasks * TASK_SECONDS:,.1f} | {heavy:,.1f} | "
              f"{memory / 1e9:,.1f} |")
