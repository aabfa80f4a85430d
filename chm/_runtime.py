"""Thread control for the numeric kernels (numba and BLAS)."""
from contextlib import contextmanager

import numba
from threadpoolctl import threadpool_limits


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
    """Run the enclosed block with ``n_jobs`` numba and BLAS threads."""
    n = resolve_n_jobs(n_jobs)
    old = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield n
    finally:
        numba.set_num_threads(old)
