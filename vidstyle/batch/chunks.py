"""Chunk boundaries: fixed-size pieces of a shot that end at a nearby cut and start with a warm-up.

A chunk renders frames ``[warm_start, end)`` and keeps ``[start, end)``; the
``start - warm_start`` warm-up frames only build temporal state (previous output,
flow) so the seam between two chunks looks like the middle of one render. A chunk
that starts at a hard cut needs no warm-up: the styliser resets there anyway, and
the warm-up never reaches back across a cut for the same reason.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    """Frames ``[start, end)`` of a shot, rendered from ``warm_start`` (``warm_start <= start < end``)."""

    index: int
    start: int
    end: int
    warm_start: int

    @property
    def frames(self) -> int:
        """Frames this chunk contributes to the output."""
        return self.end - self.start

    @property
    def warmup(self) -> int:
        """Frames rendered and discarded before ``start``."""
        return self.start - self.warm_start


def chunk_bounds(n_frames: int, chunk_frames: int, warmup: int = 0, cuts: Sequence[int] = (),
                 cut_snap: int = 0) -> list[Chunk]:
    """Split ``n_frames`` frames into chunks of about ``chunk_frames``.

    Args:
        n_frames: frames in the shot (indices ``0 … n_frames-1``).
        chunk_frames: target frames per chunk (≥ 1).
        warmup: frames rendered before each chunk and discarded (``K``).
        cuts: frame indices that start a new shot (a hard cut between ``c-1`` and ``c``).
        cut_snap: a chunk end moves to the nearest cut at most this many frames from the target.

    Returns:
        Chunks covering ``[0, n_frames)`` exactly, in order. A final piece shorter than
        a quarter chunk is merged into the previous chunk rather than rendered alone.
    """
    if n_frames <= 0:
        return []
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
    cuts = sorted(c for c in set(cuts) if 0 < c < n_frames)
    ends: list[int] = []
    pos = 0
    min_len = max(1, chunk_frames // 4)
    while pos < n_frames:
        target = pos + chunk_frames
        if n_frames - target < min_len:  # the rest fits (a short tail joins this chunk)
            ends.append(n_frames)
            break
        lo = bisect.bisect_left(cuts, max(pos + min_len, target - cut_snap))
        hi = bisect.bisect_right(cuts, target + cut_snap)
        near = cuts[lo:hi]
        end = min(near, key=lambda c: (abs(c - target), c)) if near else target
        if n_frames - end < min_len:  # avoid a sliver at the end
            end = n_frames
        ends.append(end)
        pos = end
    chunks = []
    start = 0
    for i, end in enumerate(ends):
        warm = max(0, start - warmup)
        k = bisect.bisect_right(cuts, start)  # latest cut at or before start
        if k and cuts[k - 1] > warm:
            warm = cuts[k - 1]
        chunks.append(Chunk(index=i, start=start, end=end, warm_start=warm))
        start = end
    return chunks


__all__ = ["Chunk", "chunk_bounds"]
