"""Shared fixtures. Tests run single-threaded: CI and dev machines have 2 shared cores."""

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def default_config() -> dict:
    """The embedded default config.yaml as a dict (a fresh copy per test)."""
    with open(REPO / "config.yaml") as fh:
        return yaml.safe_load(fh)
