"""Shared fixtures. Tests run single-threaded: CI and dev machines have 2 shared cores."""

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def default_config() -> dict:
    """The default config.yaml as the code sees it (a fresh copy per test): validated, with the schema's
    defaults filled in (``load_config``, as the Snakefile's ``validate``); code has no defaults of its own."""
    from dwsynapse.config import load_config

    return load_config(REPO / "config.yaml")
