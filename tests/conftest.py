"""Shared fixtures: where the real datasets live, and tiny synthetic images."""
import os
from pathlib import Path

import numpy as np
import pytest

DATA_ROOT = Path(os.environ.get("CHM_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def require_dataset(name):
    """Return the dataset folder, or skip the test with the reason it is missing."""
    path = DATA_ROOT / name
    if not path.is_dir():
        pytest.skip(f"dataset {name!r} not found at {path} (set CHM_DATA)")
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def weizmann_root():
    """Folder holding weizmann_horse_db/ (skips when absent)."""
    require_dataset("weizmann_horse_db")
    return DATA_ROOT


@pytest.fixture
def stanford_root():
    """Folder holding iccv09Data/ (skips when absent)."""
    require_dataset("iccv09Data")
    return DATA_ROOT
