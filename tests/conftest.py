"""Shared fixtures: where ../shared lives, and skips with a clear reason when it does not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LIVEDET_SHARED", REPO_ROOT.parent / "shared"))
VTEST = SHARED / "media" / "vtest.avi"
VOC = SHARED / "data" / "voc2007"


@pytest.fixture(scope="session")
def vtest_path() -> Path:
    if not VTEST.is_file():
        pytest.skip(f"sample video not found at {VTEST} (set LIVEDET_SHARED to the shared folder)")
    return VTEST


@pytest.fixture(scope="session")
def voc_root() -> Path:
    if not (VOC / "annotations" / "instances_val.json").is_file():
        pytest.skip(f"VOC2007 data not found under {VOC} (set LIVEDET_SHARED to the shared folder)")
    return VOC
