"""The frame types every reader, writer and source shares: :class:`VideoInfo`, :class:`FrameBatch`,
the :class:`FrameSource` protocol, :func:`even_size` and frame-range selection (:func:`select_frame`).

Kept apart from the decoders so that :mod:`.reader` (video files) and :mod:`.sequence` (image folders)
both import from here and not from each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

__all__ = ["FrameBatch", "FrameSource", "VideoInfo", "even_size", "select_frame"]


@dataclass(frozen=True)
class VideoInfo:
    """What a reader yields and where it came from.

    ``width``/``height`` are those of the yielded frames (after rotation and resize);
    ``frame_count``/``duration`` describe the selected range (the whole clip unless
    ``start``/``end``/``frames`` were given), ``source_*`` the whole input.
    """

    path: Path
    width: int
    height: int
    source_width: int  # coded size, before rotation
    source_height: int
    fps: Fraction | None  # average rate; None if unknown
    time_base: Fraction  # of FrameBatch.pts
    frame_count: int | None  # best estimate of the frames the reader yields; None if unknown
    duration: float | None  # seconds, of the selected range
    rotation: int  # display rotation applied, degrees counter-clockwise: 0, 90, 180 or 270
    has_audio: bool
    codec: str
    is_sequence: bool
    source_frame_count: int | None = None
    source_duration: float | None = None
    trimmed: bool = False  # start/end/frames selected part of the clip (the writer then trims the audio)


@dataclass
class FrameBatch:
    """A batch of consecutive frames.

    Attributes:
        frames: ``N×3×H×W`` float32 RGB in [0, 1] on the reader's device.
        pts: presentation timestamps in ``info.time_base`` (give them to the writer unchanged).
        indices: 0-based frame indices in the source.
        cuts: in-batch positions where a new shot starts, decided upstream (a transforming reader such as
            :class:`~vidstyle.stylise.geometric.GeometricReader`); the pipeline treats them as hard cuts on top
            of the ones it detects.
    """

    frames: torch.Tensor
    pts: list[int] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    cuts: list[int] = field(default_factory=list)


class FrameSource(Protocol):
    """What :class:`VideoReader` needs from a decoder (a video file or an image folder)."""

    info: VideoInfo
    stopped_early: str | None

    def frames(self) -> Iterator[tuple[int, int, np.ndarray]]:
        """Yield ``(index, pts, H×W×3 uint8 RGB)`` for the selected frames, upright and resized.

        Arrays may be views (e.g. rotated); the reader copies them into its batch.
        """


def even_size(width: int, height: int, long_side: int | None) -> tuple[int, int]:
    """``(width, height)`` scaled so that the long side is ``long_side``, both even (≥ 2).

    ``long_side=None`` returns the size unchanged (possibly odd).
    """
    if long_side is None:
        return width, height
    scale = long_side / max(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def select_frame(index: int, t: float, frames: tuple[int, int] | None, start: float | None, end: float | None) -> int:
    """-1: before the selection (skip), 0: inside (keep), 1: after it (stop decoding)."""
    if frames is not None:
        if index < frames[0]:
            return -1
        if index >= frames[1]:
            return 1
    if start is not None and t < start - 1e-6:
        return -1
    if end is not None and t >= end - 1e-6:
        return 1
    return 0
