"""Shared fixtures: paths to ../shared (skip cleanly when absent) and isolation of the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SAMPLES = ROOT / "samples"


@pytest.fixture(autouse=True)
def _deterministic(monkeypatch):
    torch.manual_seed(0)
    monkeypatch.setenv("NO_COLOR", "1")


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test when it is not there (e.g. data/ is absent)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path
