"""Thread control: single-threaded numerics, parallel work items.

BLAS and OpenMP results can depend on their thread count (a matrix product
or a k-means reduction split over threads adds in another order). So every
numeric call runs with one BLAS and one OpenMP thread, and the cores are used
by running independent work items -- images, or the trainings of one
classifier and its out-of-fold copies -- in ``n_jobs`` threads (the numba
kernels and the large numpy operations release the GIL). Results then do
not depend on ``n_jobs``.
"""
from contextlib import contextmanager

import numba
from joblib import Parallel, delayed
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
    """Run the enclosed block with one BLAS/OpenMP thread; yield the worker count."""
    with _controller(refresh=True).limit(limits=1):
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
    return Parallel(n_jobs=n, prefer="threads")(delayed(_single_threaded)(fn, item) for item in items)


def _load_malloc_trim():
    try:
        import ctypes
        import ctypes.util
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc: nothing to trim
        return None


_MALLOC_TRIM = _load_malloc_trim()


def release_freed_memory():
    """Hand the heap memory freed so far back to the operating system (glibc ``malloc_trim``).

    Between the tiles of a large prediction, the freed intermediates of one
    tile otherwise stay in the allocator's per-thread arenas and add up in
    the resident memory. A no-op where the C library has no ``malloc_trim``.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
