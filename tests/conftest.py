from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


@pytest.fixture
def small() -> Path:
    return FIXTURES / "small"


@pytest.fixture
def degenerate() -> Path:
    return FIXTURES / "degenerate"
