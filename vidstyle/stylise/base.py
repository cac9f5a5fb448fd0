"""The Styliser interface every method implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch


@dataclass
class FrameState:
    """What temporal methods know about the frames before the current batch.

    Attributes:
        prev_output: ``1×3×H×W`` previous stylised frame, RGB [0, 1] (None at a shot start).
        prev_input: ``1×3×H×W`` previous input frame.
        flow: ``1×2×H×W`` flow between the current and previous frame (convention in :mod:`vidstyle.flow`).
        mask: ``1×1×H×W`` reliability of ``flow`` in [0, 1].
    """

    prev_output: torch.Tensor | None = None
    prev_input: torch.Tensor | None = None
    flow: torch.Tensor | None = None
    mask: torch.Tensor | None = None


class Styliser(ABC):
    """Turns frames into stylised frames.

    ``stylise`` takes ``N×3×H×W`` RGB in [0, 1] on the working device and returns the
    same shape and range. ``reset`` is called at shot boundaries (hard cuts).
    """

    #: True when the method uses ``state`` itself (then the pipeline does not blend on top).
    temporal: bool = False

    @abstractmethod
    def stylise(self, frames: torch.Tensor, state: FrameState | None = None) -> torch.Tensor: ...

    def reset(self) -> None:  # noqa: B027 - stateless stylisers need nothing
        """Forget temporal state (called at cuts)."""
