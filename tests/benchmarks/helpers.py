"""Importing the benchmark scripts (``benchmarks/`` is a folder of scripts, not a package)."""
import importlib
import sys
from contextlib import contextmanager
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@contextmanager
def benchmark_module(name):
    """The module ``benchmarks/<name>.py``, importable (with its siblings) while in use."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))
