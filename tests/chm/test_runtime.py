import numpy as np
from threadpoolctl import threadpool_info

from chm._runtime import compute_threads, resolve_n_jobs, thread_map


def test_resolve_n_jobs():
    assert resolve_n_jobs(None) == 1
    assert resolve_n_jobs(1) == 1
    assert 1 <= resolve_n_jobs(-1) == resolve_n_jobs(10_000)


def test_compute_threads_makes_blas_single_threaded():
    with compute_threads(-1) as n:
        assert n == resolve_n_jobs(-1)
        blas = [p for p in threadpool_info() if p["user_api"] == "blas"]
        assert blas and all(p["num_threads"] == 1 for p in blas)


def test_thread_map_keeps_order():
    with compute_threads(2) as n:
        out = thread_map(lambda i: np.full(3, i) @ np.ones(3), range(40), n)
    assert out == [3.0 * i for i in range(40)]
    assert thread_map(lambda x: x * 2, [], 2) == []
    assert thread_map(lambda x: x * 2, [1, 2], 1) == [2, 4]
