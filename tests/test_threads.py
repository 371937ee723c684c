"""Tests of mfrec._threads: the kernels' parallel loop and thread settings, and one signature per kernel."""
import json
import subprocess
import sys
import threading

import pytest

from mfrec._threads import current_threads, kernel_threads, max_threads, parallel_for

#: the tests of threads side by side need two of them
needs_two_threads = pytest.mark.skipif(max_threads() < 2, reason="one kernel thread: nothing runs side by side")


def _recorder():
    ranges, lock = [], threading.Lock()

    def task(first, stop, scale):
        with lock:
            ranges.append((first, stop, scale, threading.get_ident()))
    return ranges, task


@pytest.mark.parametrize("n_tasks", [0, 1, 2, 3, 7, 64, 1001])
@pytest.mark.parametrize("threads", [1, 2, 5])
@pytest.mark.parametrize("piece", [None, 1, 3])
def test_every_task_runs_once_in_contiguous_pieces(n_tasks, threads, piece):
    ranges, task = _recorder()
    with kernel_threads(threads):
        parallel_for(task, n_tasks, 2.5, piece=piece)
    covered = sorted(t for first, stop, _, _ in ranges for t in range(first, stop))
    assert covered == list(range(n_tasks))
    assert all(first < stop and scale == 2.5 for first, stop, scale, _ in ranges)
    if min(threads, max_threads()) == 1 or n_tasks == 1:
        assert len(ranges) == (1 if n_tasks else 0)   # one call over the whole range
    elif piece is not None:
        assert all(stop - first <= piece for first, stop, _, _ in ranges)


def test_one_thread_runs_in_the_calling_thread():
    ranges, task = _recorder()
    with kernel_threads(1):
        parallel_for(task, 50, 1.0)
    assert [(f, s, t) for f, s, _, t in ranges] == [(0, 50, threading.get_ident())]


@needs_two_threads
def test_an_error_in_a_piece_is_raised_and_stops_the_loop():
    started = []

    def task(first, stop):
        started.append(first)
        if first == 0:
            raise ValueError("piece 0 failed")

    with kernel_threads(2), pytest.raises(ValueError, match="piece 0 failed"):
        parallel_for(task, 100, piece=1)
    assert len(started) < 100   # no new piece is taken after the failure


def test_kernel_threads_is_per_thread_and_restored():
    outer = current_threads()
    seen = {}

    def other():
        seen["other"] = current_threads()

    with kernel_threads(1) as n:
        assert n == 1 and current_threads() == 1
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert seen["other"] == max_threads()   # another thread's setting is its own
    assert current_threads() == outer
    with kernel_threads(0) as n:
        assert n == max_threads()
    with kernel_threads(10 ** 6) as n:
        assert n == max_threads()


@needs_two_threads
def test_two_threads_may_run_parallel_loops_at_once():
    """numba's workqueue layer refuses concurrent parallel regions; parallel_for does not."""
    import numpy as np

    from mfrec.evaluation import ranking_metrics
    rng = np.random.default_rng(0)
    import scipy.sparse as sp
    users, items = rng.random((400, 8), dtype=np.float32), rng.random((300, 8), dtype=np.float32)
    train = sp.random(400, 300, 0.05, format="csr", random_state=1)
    test = sp.random(400, 300, 0.05, format="csr", random_state=2)
    expected = ranking_metrics((users, items), train, test, k=10, threads=1)
    results = []

    def evaluate():
        results.append(ranking_metrics((users, items), train, test, k=10, threads=2))

    threads = [threading.Thread(target=evaluate) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 3


#: a small job through every model's fit, retrieval and evaluation; prints the kernels compiled
#: (or loaded from the cache) for more than one signature, and the inner kernels it called from Python
_SIGNATURES_JOB = r"""
import json
from mfrec.kernels import compiled_kernels
from mfrec.kernels._jit import PYTHON_TWINS
from mfrec.warmup import model_job
for name in ("popularity", "svd", "als", "bpr", "warp"):
    model_job(name)   # fit, recommend one user and 60 (the per-batch path), similar items, evaluate
many = {name: [str(s) for s in kernel.signatures] for name, kernel in compiled_kernels() if len(kernel.signatures) > 1}
print(json.dumps({"many": many, "twins": PYTHON_TWINS}))
"""


def test_each_kernel_is_compiled_for_one_signature_and_no_inner_kernel_from_python():
    """A second signature is a second compile on first use (Literal[int](0) counters, read-only views
    beside writable arrays, int32 beside int64 indices: see kernels/_jit.py); so is the Python twin
    of an inner kernel that a model calls from Python (it should be an outer kernel)."""
    out = subprocess.run([sys.executable, "-c", _SIGNATURES_JOB], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"many": {}, "twins": []}


@needs_two_threads
def test_a_loop_inside_a_piece_runs_in_that_thread_without_deadlock():
    """Nested loops would queue helpers behind the very pool threads that wait for them."""
    inner_threads = []

    def inner(first, stop):
        inner_threads.append(threading.get_ident())

    def outer(first, stop):
        for _ in range(first, stop):
            before = len(inner_threads)
            parallel_for(inner, 8)
            assert set(inner_threads[before:]) == {threading.get_ident()}

    def run():
        with kernel_threads(0):
            parallel_for(outer, 16, piece=1)

    _finishes_within(run, 60)
    assert len(inner_threads) == 16


def _finishes_within(fn, seconds):
    """Run fn in a daemon thread; fail (instead of hanging the suite) if it is not done in time."""
    errors = []

    def target():
        try:
            fn()
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"did not finish within {seconds} s"
    if errors:
        raise errors[0]


@needs_two_threads
def test_a_short_loop_does_not_wait_for_a_long_loop_of_another_thread():
    """Helpers of the short loop queued behind the long loop's are cancelled, not waited for."""
    import time
    started = threading.Event()

    def slow(first, stop):
        started.set()
        time.sleep(0.05 * (stop - first))

    def long_loop():
        with kernel_threads(0):
            parallel_for(slow, 40, piece=1)   # 2 s of pieces in all

    other = threading.Thread(target=long_loop)
    other.start()
    started.wait(5)
    begin = time.perf_counter()
    ranges, task = _recorder()
    with kernel_threads(0):
        parallel_for(task, 8, 1.0, piece=1)
    elapsed = time.perf_counter() - begin
    other.join()
    assert sorted(t for first, stop, _, _ in ranges for t in range(first, stop)) == list(range(8))
    assert elapsed < 0.5, f"the short loop took {elapsed:.2f} s"


@needs_two_threads
def test_a_loop_after_the_pool_has_shut_down_runs_in_the_calling_thread():
    """At interpreter exit the pool refuses new work before non-daemon threads are joined."""
    script = (
        "import threading, time\n"
        "from mfrec._threads import kernel_threads, parallel_for\n"
        "done = []\n"
        "def loop():\n"
        "    time.sleep(0.5)\n"   # the main thread has returned by now: the pool is shut down
        "    with kernel_threads(0):\n"
        "        parallel_for(lambda first, stop: done.extend(range(first, stop)), 20, piece=1)\n"
        "    print(sorted(done) == list(range(20)))\n"
        "parallel_for(lambda first, stop: None, 4, piece=1)\n"   # the pool exists
        "threading.Thread(target=loop).start()\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def _loop_in_child(queue):
    ranges, task = _recorder()
    with kernel_threads(2):
        parallel_for(task, 40, 1.0)
    queue.put(sorted(t for first, stop, _, _ in ranges for t in range(first, stop)))


@needs_two_threads
def test_a_forked_child_gets_a_pool_of_its_own():
    """The parent's pool threads do not exist in a fork: a loop there must not wait for them."""
    import multiprocessing
    ranges, task = _recorder()
    with kernel_threads(2):
        parallel_for(task, 40, 1.0)   # the parent's pool exists now
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_loop_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0, "the loop in the forked child did not finish"
    assert queue.get(timeout=5) == list(range(40))
