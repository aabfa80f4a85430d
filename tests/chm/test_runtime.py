import resource

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from chm import _runtime
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


glibc_only = pytest.mark.skipif(_runtime._MALLOPT is None or _runtime._MALLINFO2 is None,
                                reason="the heap is only tuned under glibc >= 2.33")


def _resident_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _touch(n_bytes):
    a = np.empty(n_bytes // 8)
    a[:] = 1.0  # every page written
    return float(a[-1])


@glibc_only
def test_retained_heap_reuses_freed_blocks_without_page_faults():
    with _runtime.retained_heap():
        _touch(64 << 20)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        _touch(64 << 20)  # the same size again: taken from the freed heap
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    # a fresh 64 MiB mapping faults once per page: 16384 times, or 32 with 2 MiB huge pages
    assert faults < 16, faults


@glibc_only
def test_retained_heap_hands_back_above_the_kept_amount(monkeypatch):
    monkeypatch.setattr(_runtime, "KEEP_FREE_BYTES", 0)
    with _runtime.retained_heap():
        with _runtime.retained_heap():  # nested: only the outermost exit hands back
            _touch(256 << 20)
        held = _resident_bytes()
        _touch(8 << 20)
    after = _resident_bytes()
    assert held - after > (128 << 20), (held, after)
