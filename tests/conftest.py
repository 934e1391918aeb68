"""Shared fixtures: the real-data folder beside the project and small synthetic inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

#: ``../shared/data`` beside the project root (present for developers and CI, not for users).
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the real public recordings; skips the test when the folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real-data folder {SHARED_DATA} is absent (only in the development checkout)")
    return SHARED_DATA
