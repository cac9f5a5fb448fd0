"""Stylisers: optimisation (Gatys / Ruder), feed-forward networks, arbitrary-style methods.

Each implements :class:`vidstyle.stylise.base.Styliser`. The package imports nothing heavy itself (the CLI's
``--help`` reads :mod:`vidstyle.stylise.registry` without torch); the names below are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import FrameState, Styliser, TemporalMode

__all__ = ["FrameState", "Styliser", "TemporalMode"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module(".base", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
