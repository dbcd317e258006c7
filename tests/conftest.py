from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: The shared development footage beside the checkout (never committed); ANICURATE_FOOTAGE overrides it.
SHARED_FOOTAGE = Path(os.environ.get("ANICURATE_FOOTAGE", REPO.parent / "shared" / "footage"))


@pytest.fixture(scope="session")
def shared_footage() -> Path:
    if not SHARED_FOOTAGE.is_dir():
        pytest.skip(f"shared footage folder {SHARED_FOOTAGE} is absent")
    return SHARED_FOOTAGE
