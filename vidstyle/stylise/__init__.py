"""Stylisers: optimisation (Gatys / Ruder), feed-forward networks, arbitrary-style methods.

Each implements :class:`vidstyle.stylise.base.Styliser`.
"""

from .base import FrameState, Styliser, TemporalMode

__all__ = ["FrameState", "Styliser", "TemporalMode"]
