"""Thread control: single-threaded numerics, parallel work items.

BLAS and OpenMP results can depend on their thread count (a matrix product
or a k-means reduction split over threads adds in another order). So every
numeric call runs with one BLAS and one OpenMP thread, and the cores are used
by running independent work items -- images, or the trainings of one
classifier and its out-of-fold copies -- in ``n_jobs`` threads (the numba
kernels and the large numpy operations release the GIL). Results then do
not depend on ``n_jobs``.
"""
import ctypes
import ctypes.util
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numba
from threadpoolctl import ThreadpoolController

_CONTROLLER = None


def _controller(refresh=False):
    """The ThreadpoolController of the loaded BLAS/OpenMP libraries.

    Its library scan costs milliseconds, so it is made anew once per
    :func:`compute_threads` block (libraries loaded since are found), not
    once per work item.
    """
    global _CONTROLLER
    if refresh or _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def resolve_n_jobs(n_jobs):
    """joblib-style ``n_jobs`` (None = 1, -1 = all cores) to a positive count."""
    cores = numba.config.NUMBA_NUM_THREADS
    if n_jobs is None:
        return 1
    n_jobs = int(n_jobs)
    if n_jobs < 0:
        return max(1, cores + 1 + n_jobs)
    return max(1, min(n_jobs, cores))


@contextmanager
def compute_threads(n_jobs):
    """Run the enclosed block with one BLAS/OpenMP thread and a retained heap
    (:func:`retained_heap`); yield the worker count."""
    with _controller(refresh=True).limit(limits=1), retained_heap():
        yield resolve_n_jobs(n_jobs)


def _single_threaded(fn, item):
    # OpenMP's thread count is a per-thread setting: set it in the worker too
    with _controller().limit(limits=1, user_api="openmp"):
        return fn(item)


def thread_map(fn, items, n_jobs):
    """``[fn(item) for item in items]`` in up to ``n_jobs`` threads, in order.

    Call it inside :func:`compute_threads`, which keeps BLAS single-threaded.
    """
    items = list(items)
    n = min(resolve_n_jobs(n_jobs), len(items))
    if n <= 1:
        return [_single_threaded(fn, item) for item in items]
    # a plain executor: about 0.5 ms a call, where a joblib Parallel of threads took 12 ms
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda item: _single_threaded(fn, item), items))


def _glibc_function(name, argtypes=None):
    """The C library's function ``name`` (ctypes), or ``None`` where it has none (not glibc)."""
    try:
        fn = getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError, TypeError):
        return None
    if argtypes is not None:
        fn.argtypes, fn.restype = [getattr(ctypes, t) for t in argtypes], ctypes.c_int
    return fn


_MALLOC_TRIM = _glibc_function("malloc_trim")
_MALLOPT = _glibc_function("mallopt", ["c_int", "c_int"])
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8  # glibc's mallopt parameters
KEEP_FREE_BYTES = 1 << 30  # free heap kept between calls, for the next one; more is handed back
# Inside: blocks up to 1 GiB come from the heap, and up to 2 GiB of free heap top stays.
_RETAINED = {_M_MMAP_THRESHOLD: 1 << 30, _M_TRIM_THRESHOLD: (1 << 31) - 1, _M_ARENA_MAX: 1}
# After: large blocks mapped again from 32 MiB (the ceiling of glibc's dynamic threshold),
# and the free heap top trimmed above KEEP_FREE_BYTES.
_SETTLED = {_M_MMAP_THRESHOLD: 32 << 20, _M_TRIM_THRESHOLD: KEEP_FREE_BYTES,
            _M_ARENA_MAX: 8 * (os.cpu_count() or 1)}  # glibc's default arena limit
_heap_lock = threading.Lock()
_heap_depth = 0


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                 "uordblks", "fordblks", "keepcost")]


_MALLINFO2 = _glibc_function("mallinfo2")
if _MALLINFO2 is not None:
    _MALLINFO2.argtypes, _MALLINFO2.restype = [], _MallInfo2


def free_heap_bytes():
    """Bytes the allocator holds free (glibc >= 2.33 ``mallinfo2``), or ``None`` if unknown."""
    return None if _MALLINFO2 is None else int(_MALLINFO2().fordblks)


@contextmanager
def retained_heap():
    """Keep freed memory in the process heap for the enclosed block.

    With glibc's defaults, every array larger than the mmap threshold is a
    fresh mapping, unmapped when freed, so each of the many large temporaries
    of a prediction is handed fresh pages, which the kernel zeroes and maps on
    first touch (page faults). In a virtual machine those faults cost a fifth
    to a quarter of the prediction time (``benchmarks/predict_speed.py``, 8
    images of 512 x 512 on one core: 97,000 faults, 0.7 to 1.7 s of system
    time in 5.1 to 6.9 s).

    Inside the block, blocks of up to 1 GiB are taken from the heap and freed
    memory stays there to be reused, and all threads share one arena (by
    default each worker thread gets its own, whose free memory the others
    cannot reuse). On leaving the outermost block, blocks from 32 MiB (the
    ceiling of glibc's own dynamic threshold) are mapped again, threads may
    again have arenas of their own (glibc's default limit), and the free
    memory is handed back (:func:`release_freed_memory`) when it is more than
    :data:`KEEP_FREE_BYTES` or cannot be measured; up to that much stays for
    the next call, which then starts without faults. A no-op where the C
    library is not glibc.
    """
    global _heap_depth
    if _MALLOPT is None:
        yield
        return
    with _heap_lock:
        _heap_depth += 1
        if _heap_depth == 1:
            for param, value in _RETAINED.items():
                _MALLOPT(param, value)
    try:
        yield
    finally:
        with _heap_lock:
            _heap_depth -= 1
            if _heap_depth == 0:
                for param, value in _SETTLED.items():
                    _MALLOPT(param, value)
                free = free_heap_bytes()
                if free is None or free > KEEP_FREE_BYTES:
                    release_freed_memory()


def release_freed_memory():
    """Hand the heap memory freed so far back to the operating system (glibc ``malloc_trim``).

    Between the tiles of a large prediction, the freed intermediates of one
    tile otherwise stay in the allocator's per-thread arenas and add up in
    the resident memory. A no-op where the C library has no ``malloc_trim``.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
