"""The Styliser interface every method implements, and what the pipeline hands it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum

import torch


class TemporalMode(str, Enum):
    """How a styliser deals with time; the pipeline picks its loop from it (:func:`vidstyle.pipeline.run_pipeline`).

    * ``PER_FRAME``: frames are independent; the pipeline stylises whole batches and blends the warped
      previous output in where the flow is reliable.
    * ``SEQUENTIAL``: the styliser uses the previous output and the flow itself; the pipeline calls it one
      frame at a time with a complete :class:`FrameState` and blends nothing.
    * ``SELF_CONSISTENT``: the styliser makes a window of frames consistent itself (e.g. multi-pass); the
      pipeline hands it the window (split at cuts) with every frame's :class:`FrameState` in
      ``state.window`` — the flows it already estimated — and neither blends nor re-estimates.
    """

    PER_FRAME = "per-frame"
    SEQUENTIAL = "sequential"
    SELF_CONSISTENT = "self-consistent"


@dataclass
class FrameState:
    """What temporal methods know about the frame before the current one.

    Attributes:
        prev_output: ``1×3×H×W`` previous stylised frame, RGB [0, 1] (None at a shot start).
        prev_input: ``1×3×H×W`` previous input frame.
        flow: ``1×2×H×W`` flow between the current and previous frame, ``warp(prev, flow) ≈ current``
            (convention in :mod:`vidstyle.flow`); None at a shot start or without flow.
        mask: ``1×1×H×W`` reliability of ``flow`` in [0, 1].
        back_flow: ``1×2×H×W`` the other direction, ``warp(current, back_flow) ≈ prev`` (estimated for the mask).
        window: ``SELF_CONSISTENT`` stylisers only: one state per frame of the window, each relative to the frame
            before it (``window[0]`` to the last frame before the window; its ``flow`` is None at a shot start).
    """

    prev_output: torch.Tensor | None = None
    prev_input: torch.Tensor | None = None
    flow: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    back_flow: torch.Tensor | None = None
    window: tuple[FrameState, ...] = ()


class Styliser(ABC):
    """Turns frames into stylised frames.

    ``stylise`` takes ``N×3×H×W`` RGB in [0, 1] on the working device and returns the
    same shape and range. ``reset`` is called at shot boundaries (hard cuts).
    """

    #: How the pipeline drives this styliser (see :class:`TemporalMode`).
    temporal_mode: TemporalMode = TemporalMode.PER_FRAME

    @abstractmethod
    def stylise(self, frames: torch.Tensor, state: FrameState | None = None) -> torch.Tensor: ...

    def reset(self) -> None:  # noqa: B027 - stateless stylisers need nothing
        """Forget temporal state (called at cuts)."""


class StrengthBlend(Styliser):
    """``strength · styliser(x) + (1 − strength) · x``: how much of a per-frame method's stylisation is applied,
    for methods with no style space of their own to interpolate in."""

    temporal_mode = TemporalMode.PER_FRAME

    def __init__(self, inner: Styliser, strength: float) -> None:
        self.inner, self.strength = inner, float(strength)

    def stylise(self, frames: torch.Tensor, state: FrameState | None = None) -> torch.Tensor:
        out = self.inner.stylise(frames, state)
        return torch.lerp(frames.to(out.device, out.dtype), out, self.strength)

    def reset(self) -> None:
        self.inner.reset()


__all__ = ["FrameState", "StrengthBlend", "Styliser", "TemporalMode"]
