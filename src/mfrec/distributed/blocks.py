"""Worker-side pieces of the cluster ALS: functions the client submits as Dask tasks.

Blocking follows Spark MLlib's ALS (``ml/recommendation/ALS.scala``: ``InBlock``/``OutBlock``):
a user with dense index u lives in user block ``u % n_user_blocks`` at local row
``u // n_user_blocks`` (items likewise). The *in-block* of a user block is the CSR of its users'
interactions whose column indices point into the concatenation of the item rows it needs, block
by block; ``needed[j]`` (the local indices in item block j that this block's users touch) is the
matching *out-block* request: in a half step, item block j sends only those rows, never the whole
item side. Everything here runs on workers; nothing holds the whole matrix.

Every function is pure (inputs are never modified), so Dask may rerun any of them after losing a
worker and get the same bytes back.
"""
from __future__ import annotations

import threading
from typing import Any, Optional

import numpy as np
import scipy.sparse as sp

from .._threads import kernel_threads
from ..errors import DataError
from ..ids import _as_raw_array
from ..kernels import als as kernels
from ..models.als import ALS, _Side
from ..models.training import initial_factors as draw_factors

# a worker with several threads runs one solve at a time, each with all of that worker's threads
# (mfrec._threads.parallel_for): solves side by side, each asking for every thread, would queue on
# the one kernel thread pool and gain nothing
_KERNEL_LOCK = threading.Lock()


# ---------------------------------------------------------------------- id maps
def partition_ids(frame, user_col: str, item_col: str, where: str) -> tuple:
    """(sorted unique raw user ids, sorted unique raw item ids) of one partition."""
    if len(frame) == 0:
        return None, None
    users = _raw_ids(frame[user_col], "user", where)
    items = _raw_ids(frame[item_col], "item", where)
    return np.unique(users), np.unique(items)


def merge_ids(kind: str, *parts) -> Optional[np.ndarray]:
    """Sorted union of sorted id arrays (a node of the id-map tree reduction); None when all are."""
    arrays = [a for a in parts if a is not None]
    if not arrays:
        return None
    kinds = {"int" if a.dtype.kind in "iu" else "str" for a in arrays}
    if len(kinds) > 1:
        raise DataError(f"{kind} ids are integers in some partitions and strings in others; "
                        f"use one type for the {kind} column")
    return np.unique(np.concatenate(arrays))


def _raw_ids(column, kind: str, where: str) -> np.ndarray:
    try:
        return _as_raw_array(column.to_numpy(), kind)
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from None


# ---------------------------------------------------------------------- shuffle into blocks
def split_partition(frame, user_ids, item_ids, user_col: str, item_col: str, value_col, n_user_blocks: int,
                    n_item_blocks: int, where: str) -> tuple:
    """Cut one partition's interactions into pieces per user block and per item block.

    One partition's interactions as dense indices, cut into pieces per user block and per item
    block: ``(user_pieces, item_pieces)``, piece = (row index, column index, value) with rows being
    users in user pieces and items in item pieces.
    """
    users = np.searchsorted(user_ids, _raw_ids(frame[user_col], "user", where)).astype(np.int64)
    items = np.searchsorted(item_ids, _raw_ids(frame[item_col], "item", where)).astype(np.int64)
    if value_col is None:
        values = np.ones(len(frame), dtype=np.float32)
    else:
        try:
            raw = np.asarray(frame[value_col].to_numpy(), dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{where}: column {value_col!r} is not numeric") from None
        bad = np.flatnonzero(~(raw > 0) | ~np.isfinite(raw))
        if len(bad):
            raise DataError(f"{where}: row {int(bad[0])} has {value_col} = {float(raw[bad[0]])!r}; ALS needs positive "
                            f"finite values (counts or confidences), {len(bad)} such rows")
        values = raw.astype(np.float32)
    return (_cut(users, items, values, n_user_blocks), _cut(items, users, values, n_item_blocks))


def _cut(rows, cols, values, n_blocks: int) -> list:
    """[(rows, cols, values) of the entries whose row is in block b] for b in range(n_blocks)."""
    block = (rows % n_blocks).astype(np.int16 if n_blocks < 2 ** 15 else np.int64)
    order = np.argsort(block, kind="stable")  # radix sort on 16-bit keys
    bounds = np.concatenate([[0], np.cumsum(np.bincount(block, minlength=n_blocks))])
    return [(rows[order[a:b]], cols[order[a:b]], values[order[a:b]]) for a, b in zip(bounds[:-1], bounds[1:])]


def pick(obj, *path) -> Any:
    """obj[path[0]][path[1]]...: one piece of a task's tuple result."""
    for key in path:
        obj = obj[key]
    return obj


class InBlock:
    """One block of one side, ready for its half steps.

    side: mfrec.models.als._Side (CSR with confidences and lambdas, columns renumbered into the
        received rows); needed: per other block, the sorted local indices of the rows to receive;
    other_global: dense index (on the other side) of each received row, in receiving order;
    values: the summed raw interaction values aligned with the CSR entries (for interactions_).
    """

    def __init__(self, block, n_blocks, n_rows, side, needed, other_global, values) -> None:
        self.block, self.n_blocks, self.n_rows = block, n_blocks, n_rows
        self.side, self.needed, self.other_global, self.values = side, needed, other_global, values

    @property
    def rows_global(self) -> np.ndarray:
        """Global row index of each of the block's rows (block b holds rows b, b + n_blocks, ...)."""
        return self.block + self.n_blocks * np.arange(self.n_rows, dtype=np.int64)

    @property
    def nbytes(self) -> int:
        """Bytes held by the block's arrays."""
        s = self.side
        return int(sum(a.nbytes for a in (s.indptr, s.indices, s.conf, s.conf32, s.reg, s.reg32, self.other_global,
                                          self.values)) + sum(a.nbytes for a in self.needed))

    def __sizeof__(self) -> int:  # lets Dask's memory accounting see the arrays
        return self.nbytes


def n_block_rows(block: int, n_blocks: int, n_total: int) -> int:
    """How many of 0..n_total-1 are == block (mod n_blocks)."""
    return max(0, (n_total - block + n_blocks - 1) // n_blocks)


def build_in_block(block: int, n_blocks: int, n_total: int, n_other: int, n_other_blocks: int, params: dict,
                   *pieces) -> InBlock:
    """Assemble the in-block of ``block`` from its pieces of every partition (see :func:`split_partition`).

    Repeated (row, column) pairs add up their values. Entries of a row are ordered by the global
    column index, as in the single-machine CSR, so each row's sums run in the same order.
    """
    model = ALS(**params)
    rows = np.concatenate([p[0] for p in pieces]) if pieces else np.empty(0, np.int64)
    cols = np.concatenate([p[1] for p in pieces]) if pieces else np.empty(0, np.int64)
    vals = np.concatenate([p[2] for p in pieces]) if pieces else np.empty(0, np.float32)
    n_rows = n_block_rows(block, n_blocks, n_total)
    # CSR over global columns: repeated pairs summed, columns sorted within each row
    csr = sp.csr_matrix((vals, (rows // n_blocks, cols)), shape=(n_rows, n_other), dtype=np.float32)
    csr.sum_duplicates()
    indptr, cols, vals = csr.indptr.astype(np.int64), csr.indices.astype(np.int64), csr.data
    other_block, other_local = cols % n_other_blocks, cols // n_other_blocks
    needed, renumbered, offset = [], np.empty(len(cols), dtype=np.int64), 0
    for j in range(n_other_blocks):
        mask = other_block == j
        present = np.zeros(n_block_rows(j, n_other_blocks, n_other), dtype=bool)
        present[other_local[mask]] = True
        wanted = np.flatnonzero(present)  # sorted local rows of block j this block needs
        position = np.cumsum(present) - 1  # local row -> place among the wanted rows
        renumbered[mask] = offset + position[other_local[mask]]
        needed.append(wanted)
        offset += len(wanted)
    other_global = np.concatenate([w * n_other_blocks + j for j, w in enumerate(needed)]).astype(np.int64)
    counts = np.diff(indptr)
    conf = sp.csr_matrix((model._confidences(vals), renumbered.astype(np.int32), indptr),
                         shape=(n_rows, max(offset, 1)))
    side = _Side(conf, model._row_regularization(counts, n_other))
    return InBlock(block, n_blocks, n_rows, side, needed, other_global, vals)


def block_entries(in_block: InBlock) -> tuple:
    """(global rows, global columns, values) of a block's entries: its part of interactions_."""
    s = in_block.side
    rows = np.repeat(in_block.rows_global, np.diff(s.indptr))
    return rows, in_block.other_global[s.indices], in_block.values


def needed_rows(in_block: InBlock, other_block: int) -> np.ndarray:
    """Return the out-block request of ``in_block`` toward one block of the other side."""
    return in_block.needed[other_block]


def n_rows_of(in_block: InBlock) -> int:
    """Return the number of rows of an in-block."""
    return in_block.n_rows


# ---------------------------------------------------------------------- factors
def initial_factors(params: dict, seed, n_users: int, n_items: int, n_user_blocks: int, n_item_blocks: int) -> tuple:
    """Return the single-machine ALS's initial factors cut into blocks.

    The single-machine ALS's initial factors (same generator, same global order), cut into
    blocks: (list of user blocks, list of item blocks). Holds n_users x k + n_items x k floats once.
    """
    X, Y = ALS(**params)._initial_factors(n_users, n_items, seed)
    return ([np.ascontiguousarray(X[b::n_user_blocks]) for b in range(n_user_blocks)],
            [np.ascontiguousarray(Y[b::n_item_blocks]) for b in range(n_item_blocks)])


def initial_block_factors(params: dict, seed, side: int, block: int, n_rows: int) -> np.ndarray:
    """Draw the initial factors of one block from its own generator (init="blocks").

    init="blocks": Normal(0, init_std^2) factors of one block from its own generator, seeded with
    (seed, side, block) as Spark seeds each block; no task holds a whole side (not the local draws).
    """
    rng = np.random.default_rng([int(seed), side, block])
    k = int(params["factors"])
    return draw_factors(rng, n_rows, k, params["init_std"])


def block_gram(factors: np.ndarray) -> np.ndarray:
    """F^T F of one factor block (float64), a term of the Gram reduction."""
    return kernels.gram(factors, 1.0)


def sum_grams(scale: float, *grams) -> np.ndarray:
    """Scale * (sum of block Grams) = alpha0 Y^T Y of the whole side, summed in block order."""
    total = grams[0].copy()
    for g in grams[1:]:
        total += g
    return total * scale


def take_rows(factors: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Return the rows one block sends to one block of the other side (Spark's out-block send)."""
    return np.ascontiguousarray(factors[rows])


def solve_block(params: dict, threads: int, n_grams: int, in_block: InBlock, factors: np.ndarray, *rest) -> np.ndarray:
    """Solve the new factors of one block.

    New factors of one block: the single-machine ALS's row solves (``ALS._solve_rows``) against
    the received rows of the other side and its Gram term.

    rest = n_grams partial Grams of the other side (summed here, times alpha0: the whole side's
    alpha0 Y^T Y), then the rows received from each block of the other side, in block order.
    """
    model = ALS(**params)
    k = factors.shape[1]
    gram = sum_grams(float(model.unobserved_weight), *rest[:n_grams])
    received = rest[n_grams:]
    other = np.concatenate(received) if received else np.empty((0, k), dtype=np.float32)
    if len(other) == 0:  # a block with no interactions: keep a valid (1, k) array for the kernels
        other = np.zeros((1, k), dtype=np.float32)
    out = factors.copy()  # a task never modifies its inputs (Dask may share or rerun them)
    with _KERNEL_LOCK, kernel_threads(_worker_threads(threads)):
        model._solve_rows(in_block.side, out, other, gram, model.solver == "cholesky")
    return out


def _worker_threads(threads: int) -> int:
    """Kernel threads for one solve: ``threads``, or 0 = this worker's thread count."""
    if threads > 0:
        return threads
    try:
        from distributed import get_worker
        return max(1, int(get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):
        return 1
