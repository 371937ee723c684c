"""numba helpers for sampling in pairwise ranking models (BPR, WARP), and mfrec's random numbers.

This is the one home of mfrec's random-number kernels: every kernel that draws imports them from
here.

Random numbers
--------------
Each thread of a Hogwild loop owns one independent random stream: a 64-bit xorshift64*
generator (Marsaglia 2003; Vigna 2016, "An experimental exploration of Marsaglia's xorshift
generators, scrambled"). Its whole state is one nonzero ``uint64``. The functions are pure: they
take the state and return ``(new_state, value)``, so a kernel keeps the state in a local variable
(a register, no false sharing between threads) and writes it back to its array when done::

    states = seed_streams(seed, n_threads)       # Python side, one stream per thread
    ...
    s = states[t]                                # inside the kernel, thread t
    s, j = rand_int(s, n_items)
    s, j = sample_negative(indptr, indices, u, n_items, s)
    states[t] = s

Streams are seeded from (seed, stream number) through splitmix64, so the same seed always gives
the same streams, and a single-thread kernel using stream 0 is reproducible bit for bit. The SVD
epoch shuffle draws from the splitmix64 generator itself (:func:`splitmix64_next`).
(Calling these functions from plain Python, e.g. in tests, wrap the state in ``np.uint64(...)``:
numba hands a uint64 back as a Python int, which it would otherwise type as int64.)

Negative sampling
-----------------
``sample_negative`` returns an item drawn uniformly from the items the user has NOT interacted
with (the complement of the user's sorted CSR row). It draws uniformly over all items and draws
again while the draw is a positive (membership by binary search in the sorted row); after
``MAX_REJECTIONS`` failed draws (users who interacted with most of the catalogue) it picks the
r-th non-positive item directly, r uniform, so it always ends in bounded time. Both paths give
exactly the uniform distribution over negatives. A user whose row holds every item has no
negative: the function returns -1 and the caller must skip that user.

All functions are stable API (the BPR and WARP kernels import them); signatures must not change.
"""
from __future__ import annotations

import numpy as np

from ._jit import kernel

#: number of uniform draws tried before falling back to direct selection of a negative
MAX_REJECTIONS = 32

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_STAR = np.uint64(0x2545F4914F6CDD1D)
_TWO_M53 = 1.0 / 9007199254740992.0  # 2**-53


@kernel
def splitmix64(x):
    """Mix the counter x + gamma with splitmix64's output function (Steele, Lea & Flood 2014).

    The one definition of splitmix64 in mfrec: it turns (seed, stream) into xorshift64* states
    (:func:`seed_streams`) and drives :func:`splitmix64_next`.

    Parameters
    ----------
    x : uint64
        The counter.

    Returns
    -------
    uint64
        A well-mixed value.
    """
    z = np.uint64(x) + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@kernel(inner=True)
def splitmix64_next(state):
    """Advance the splitmix64 generator by one step (used by the SVD epoch shuffle).

    Parameters
    ----------
    state : uint64
        The generator's state.

    Returns
    -------
    tuple of (uint64, uint64)
        (new_state, 64 random bits) = (state + gamma, splitmix64(state)), wrapping.
    """
    s = np.uint64(state)
    return s + _GOLDEN, splitmix64(s)


_MASK = 0xFFFFFFFFFFFFFFFF


def seed_streams(seed, n_streams: int) -> np.ndarray:
    """Seed ``n_streams`` independent xorshift64* streams.

    Stream t's state depends only on (seed, t), so stream 0 is the same whatever the number of
    streams.

    Parameters
    ----------
    seed : int >= 0 or None
        None draws fresh entropy (numpy's SeedSequence).
    n_streams : int
        Number of streams.

    Returns
    -------
    ndarray of uint64
        One nonzero state per stream.
    """
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0])
    base = int(splitmix64(np.uint64(int(seed) & _MASK)))
    states = np.empty(int(n_streams), dtype=np.uint64)
    for t in range(int(n_streams)):
        # splitmix64 of seed, then of (that + stream number): independent, well-spread states
        s = int(splitmix64(np.uint64((base + t) & _MASK)))
        states[t] = s if s != 0 else 0x9E3779B97F4A7C15
    return states


@kernel(inner=True)
def rand_uint(state):
    """Draw 64 random bits by one xorshift64* step: returns (new_state, uint64 value); ``state`` != 0."""
    x = np.uint64(state)
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    return x, x * _STAR


@kernel(inner=True)
def rand_float(state):
    """Draw a float64 uniform in [0, 1) from the top 53 bits of one draw: returns (new_state, value)."""
    state, r = rand_uint(state)
    return state, np.float64(r >> np.uint64(11)) * _TWO_M53


@kernel(inner=True)
def rand_int(state, n):
    """Draw an int64 uniform in [0, n), n >= 1: returns (new_state, value).

    The floor of a 53-bit float times n; the bias is below n / 2**53, i.e. nil for catalogue sizes.
    """
    state, f = rand_float(state)
    k = np.int64(f * n)
    if k >= n:  # guards the float rounding corner case
        k = n - 1
    return state, k


@kernel(inner=True)
def next_sorted_position(state, v, m, offset):
    """Draw the next of a block's positions in [0, 1): i.i.d. uniforms, produced in sorted order.

    Bentley & Saxe 1980 ("Generating sorted lists of random numbers", ACM TOMS 6(3)): the largest
    of m i.i.d. uniforms on [0, v) is v * w^(1/m), w uniform on (0, 1]. Starting from v = 1 with
    m = n, n - 1, ..., 1, the values v_(n) > v_(n-1) > ... > v_(1) are the order statistics of n
    i.i.d. uniforms on [0, 1), largest first: the same sample as n independent draws, only in
    sorted order. Each is shifted by ``offset`` modulo 1 (a uniform offset keeps the positions
    uniform and i.i.d. as a set; it starts the sweep at a random place).

    Parameters
    ----------
    state : uint64
        The xorshift64* state.
    v : float
        The previous unshifted value v_(m+1) (1.0 for the first draw).
    m : int
        How many positions remain, this one included (n for the first draw, down to 1).
    offset : float
        The block's shift, uniform in [0, 1).

    Returns
    -------
    tuple
        (new_state, v_(m), position): position = (v_(m) + offset) mod 1.
    """
    state, w = rand_float(state)
    v = v * np.exp(np.log1p(-w) / m)   # v * (1 - w)^(1/m), 1 - w in (0, 1]
    position = v + offset
    if position >= 1.0:
        position -= 1.0
    return state, v, position


@kernel(inner=True)
def contains_sorted(indices, start, stop, item):
    """Tell whether ``item`` is in the sorted slice indices[start:stop] (binary search).

    NumPy: ``item in indices[start:stop]``.
    """
    lo = start
    hi = stop
    while lo < hi:
        mid = (lo + hi) >> 1
        v = indices[mid]
        if v < item:
            lo = mid + 1
        elif v > item:
            hi = mid
        else:
            return True
    return False


@kernel(inner=True)
def nth_negative(indices, start, stop, r):
    """Return the r-th (0-based) item NOT in the sorted slice indices[start:stop], in increasing order.

    With positives p_0 < p_1 < ..., p_k - k items precede p_k without being positive, a
    non-decreasing sequence, so the answer is r + #{k : p_k - k <= r} (binary search).
    NumPy: ``np.setdiff1d(np.arange(n_items), indices[start:stop])[r]``.
    """
    lo = 0
    hi = stop - start
    while lo < hi:
        mid = (lo + hi) >> 1
        if indices[start + mid] - mid <= r:
            lo = mid + 1
        else:
            hi = mid
    return r + lo


@kernel(inner=True)
def sample_negative(indptr, indices, user, n_items, state):
    """Draw a negative of ``user``: an item uniform over those absent from its CSR row.

    Parameters
    ----------
    indptr, indices : ndarray
        The users x items CSR structure, with sorted, unique column indices per row.
    user : int
        The row.
    n_items : int
        Number of items.
    state : uint64
        The xorshift64* state.

    Returns
    -------
    tuple of (uint64, int64)
        (new_state, j), j = -1 when the row holds all ``n_items`` items (no negative exists;
        skip that user).
    """
    start = indptr[user]
    stop = indptr[user + 1]
    n_pos = stop - start
    if n_pos >= n_items:
        return state, np.int64(-1)
    for _ in range(MAX_REJECTIONS):
        state, j = rand_int(state, n_items)
        if not contains_sorted(indices, start, stop, j):
            return state, j
    # users with most of the catalogue: pick the r-th negative directly (still uniform)
    state, r = rand_int(state, n_items - n_pos)
    return state, np.int64(nth_negative(indices, start, stop, r))


@kernel(inner=True)
def row_of_entry(indptr, pos):
    """Return the row r with indptr[r] <= pos < indptr[r + 1] (binary search; empty rows are skipped).

    NumPy: ``np.searchsorted(indptr, pos, side="right") - 1``.
    """
    lo = 0
    hi = indptr.shape[0] - 1
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if indptr[mid] <= pos:
            lo = mid
        else:
            hi = mid
    return lo
