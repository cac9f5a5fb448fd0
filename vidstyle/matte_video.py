"""Mattes for video: ``vidstyle run clip.mp4 --mask matte.mp4`` and batch jobs' ``mask = "roto/{input_stem}_matte.mp4"``.

A matte is frame-aligned with its clip — frame ``i`` of the matte belongs to frame ``i`` of the clip — and is a
video file (its luminance: white = stylise), an image-sequence folder (each file's alpha channel when it has
one, else its luminance, as :func:`vidstyle.matte.load_matte`) or a single still image (the same matte for
every frame). It is streamed beside the clip (:class:`MatteSource` decodes it as the clip's frames arrive;
nothing is loaded whole) and composited per frame with :func:`vidstyle.matte.composite` after the pipeline's
temporal blend: ``out = m·stylised + (1 − m)·input``. The stylised layer itself stays temporally consistent
(the pipeline blends and remembers the *uncomposited* output), so pixels outside the matte are the input's own
and the boundary moves only with the matte.

The pipeline is not changed for this: :class:`MatteCompositor` wraps its reader (remembering each batch's
input frames and their mattes) and its writer (compositing what is written, matched by timestamp — warm-up
frames a batch chunk discards are simply never written).
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from .config import IMAGE_SUFFIXES
from .errors import VidstyleError
from .matte import check_aspect, load_matte, prepare_matte
from .media.spool import Spool

__all__ = ["MatteCompositor", "MatteSource", "matte_frame_count", "open_matte", "validate_matte"]


def _kind(path: Path) -> str:
    if path.is_dir():
        return "folder"
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return "still"
    return "video"


def _source_size(path: Path, what: str) -> tuple[int, int]:
    """``(height, width)`` of a matte, upright."""
    from .media.reader import open_frames
    from .media.sequence import list_frames

    kind = _kind(path)
    if kind == "still":
        return tuple(load_matte(path).shape[-2:])  # type: ignore[return-value]
    if kind == "folder":
        return tuple(load_matte(list_frames(path)[0]).shape[-2:])  # type: ignore[return-value]
    with open_frames(path, prefetch=0) as reader:
        return reader.info.height, reader.info.width


def matte_frame_count(path: str | Path, exact: bool = True) -> int | None:
    """Frames in a matte: None for a still image (it fits any clip); a folder's image count; a video's exact
    count by decoding it at a small size (``exact``), else its container's estimate."""
    from .media.reader import open_frames
    from .media.sequence import list_frames

    path = Path(path)
    kind = _kind(path)
    if kind == "still":
        return None
    if kind == "folder":
        return len(list_frames(path))
    if not exact:
        with open_frames(path, prefetch=0) as reader:
            return reader.info.source_frame_count
    n = 0
    with open_frames(path, size=64, batch_size=16, prefetch=0) as reader:
        for batch in reader:
            n += len(batch.pts)
    return n


def validate_matte(path: str | Path, frame_hw: tuple[int, int], frames: int | None, what: str) -> None:
    """Check a matte against its clip before any work: it exists, has the clip's aspect ratio, and (unless it is
    a still) exactly ``frames`` frames (None: not checked). One-line :class:`VidstyleError` otherwise."""
    path = Path(path)
    if not path.exists():
        raise VidstyleError(f"{what} {path}: file not found")
    check_aspect(_source_size(path, what), frame_hw, f"{what} {path}")
    if frames is not None:
        n = matte_frame_count(path, exact=_kind(path) != "video")
        if n is not None and n != frames:
            raise VidstyleError(f"{what} {path} has {n} frames but the clip has {frames}: a matte must be "
                                "frame-aligned with its clip (one matte frame per clip frame)")


class MatteSource:
    """Mattes of a clip's frames by 0-based index, streamed: ``for_indices([i, …])`` → ``N×1×H×W`` in [0, 1]
    at the clip's frame size, inverted and feathered as asked. Indices must increase from call to call (the
    order a reader yields them); a video matte is decoded once, front to back."""

    def __init__(self, path: str | Path, frame_hw: tuple[int, int], invert: bool = False, feather_px: float = 0.0,
                 what: str = "--mask") -> None:
        self.path, self.frame_hw, self.invert, self.feather_px = Path(path), tuple(frame_hw), invert, feather_px
        self.what = f"{what} {self.path}"
        if not self.path.exists():
            raise VidstyleError(f"{self.what}: file not found")
        self.kind = _kind(self.path)
        self._still: torch.Tensor | None = None
        self._files: list[Path] = []
        self._frames: Iterator[tuple[int, torch.Tensor]] | None = None
        self._reader: Any = None
        if self.kind == "still":
            self._still = self._prepare(load_matte(self.path))
        elif self.kind == "folder":
            from .media.sequence import list_frames

            self._files = list_frames(self.path)

    def _prepare(self, raw: torch.Tensor) -> torch.Tensor:
        return prepare_matte(raw, self.frame_hw, self.invert, self.feather_px, what=self.what,  # type: ignore[arg-type]
                             allow_empty=True)

    def _video_frames(self) -> Iterator[tuple[int, torch.Tensor]]:
        from .media.reader import open_frames

        self._reader = open_frames(self.path, batch_size=1, prefetch=2)
        for batch in self._reader:
            rgb = batch.frames  # 1×3×h×w in [0, 1]
            luma = (0.299 * rgb[:, :1] + 0.587 * rgb[:, 1:2] + 0.114 * rgb[:, 2:3])  # as PIL's "L"
            yield batch.indices[0], luma

    def _one(self, index: int) -> torch.Tensor:
        if self._still is not None:
            return self._still
        if self.kind == "folder":
            if index >= len(self._files):
                raise VidstyleError(f"{self.what} has only {len(self._files)} frames; the clip has more")
            return self._prepare(load_matte(self._files[index]))
        if self._frames is None:
            self._frames = self._video_frames()
        for i, luma in self._frames:
            if i == index:
                return self._prepare(luma)
            if i > index:
                break
        raise VidstyleError(f"{self.what} ends before frame {index} of the clip: a matte must have one frame per "
                            "clip frame")

    def for_indices(self, indices: list[int]) -> torch.Tensor:
        """``N×1×H×W`` mattes of the clip frames ``indices`` (increasing)."""
        return torch.cat([self._one(i) for i in indices])

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()


class _Reader:
    """The pipeline's reader, remembering each batch's input frames and mattes for :class:`_Writer`."""

    def __init__(self, inner: Any, owner: MatteCompositor) -> None:
        self._inner, self._owner = inner, owner

    def __getattr__(self, name: str) -> Any:  # info, device, stopped_early, close …
        return getattr(self._inner, name)

    def __iter__(self) -> Iterator[Any]:
        for batch in self._inner:
            mattes = self._owner.source.for_indices(list(batch.indices))
            self._owner.hold(dict(zip(batch.indices, mattes.split(1))))
            for k, pts in enumerate(batch.pts):
                self._owner.remember(pts, batch.frames[k:k + 1], mattes[k:k + 1])
            yield batch


class _Writer:
    """The pipeline's writer, compositing each written frame with its input frame and matte."""

    def __init__(self, inner: Any, owner: MatteCompositor) -> None:
        self._inner, self._owner = inner, owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def write(self, frames: torch.Tensor, pts: list[int]) -> Any:
        out = torch.cat([self._owner.composite(frames[k:k + 1], p) for k, p in enumerate(pts)])
        return self._inner.write(out, pts)


class MatteCompositor:
    """Composite a pipeline's output with its input through a :class:`MatteSource`: wrap the reader and the
    writer given to :func:`vidstyle.pipeline.run_pipeline` with :meth:`reader` and :meth:`writer`.

    Each input frame and its matte wait here until the frame is written. The streaming pipeline writes a batch
    soon after reading it, so they stay in RAM; a multi-pass render (keyframes: every frame is read before the
    first is written) passes a :class:`~vidstyle.media.spool.Spool`, and they wait there instead — the frame as
    uint8 (the writer quantises to 8 bits anyway: at most one level of difference outside the matte), the matte
    as float16 — so memory stays bounded by the spool's budget, not the clip's length.
    """

    def __init__(self, source: MatteSource, spool: Spool | None = None) -> None:
        self.source, self.spool = source, spool
        self.pending: collections.deque[tuple[int, Any, Any]] = collections.deque()
        self._count = 0
        # the mattes of the last HELD_BATCHES batches read, by frame index: the pipeline reads batch k+1 (its flow
        # runs ahead on a worker thread, vidstyle.pipeline.observed_batches) while batch k is stylised
        self.current: dict[int, torch.Tensor] = {}
        self._held: collections.deque[list[int]] = collections.deque()

    #: Batches whose mattes :meth:`matte_at` still answers for (the one being stylised and the one read ahead).
    HELD_BATCHES = 2

    def hold(self, mattes: dict[int, torch.Tensor]) -> None:
        """Remember a newly read batch's mattes (``{frame index: 1×1×H×W}``), forgetting the oldest beyond
        :data:`HELD_BATCHES` batches."""
        self.current.update(mattes)
        self._held.append(list(mattes))
        while len(self._held) > self.HELD_BATCHES:
            for index in self._held.popleft():
                if index not in mattes:
                    self.current.pop(index, None)

    def matte_at(self, index: int) -> torch.Tensor | None:
        """``1×1×H×W`` matte of source frame ``index`` of a batch being stylised (for masked losses), or None."""
        return self.current.get(index)

    def reader(self, reader: Any) -> _Reader:
        return _Reader(reader, self)

    def writer(self, writer: Any) -> _Writer:
        return _Writer(writer, self)

    def remember(self, pts: int, frame: torch.Tensor, matte: torch.Tensor) -> None:
        """Keep input ``frame`` (``1×3×H×W`` [0, 1]) and its ``matte`` (``1×1×H×W``) until ``pts`` is written."""
        if self.spool is None:
            self.pending.append((pts, frame, matte))
            return
        key, self._count = self._count, self._count + 1
        self.spool.put(key, "matte_input", (frame[0].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy())
        self.spool.put(key, "matte", matte[0].to(torch.float16).cpu().numpy())
        self.pending.append((pts, key, None))

    def _take(self) -> tuple[torch.Tensor, torch.Tensor]:
        _, frame, matte = self.pending.popleft()
        if self.spool is None:
            return frame, matte
        arrays = [self.spool.get(frame, name) for name in ("matte_input", "matte")]
        for name in ("matte_input", "matte"):
            self.spool.drop(frame, name)
        assert arrays[0] is not None and arrays[1] is not None
        return torch.from_numpy(arrays[0])[None].float() / 255, torch.from_numpy(arrays[1])[None].float()

    def composite(self, stylised: torch.Tensor, pts: int) -> torch.Tensor:
        """``1×3×H×W`` stylised frame of timestamp ``pts`` → composited with its input frame and matte."""
        from .matte import composite

        while self.pending and self.pending[0][0] != pts:  # frames never written (warm-up) go
            self._take()
        if not self.pending:
            raise RuntimeError(f"no input frame with pts {pts} to composite")
        original, matte = self._take()
        original = original.to(stylised.device, stylised.dtype)
        return composite(stylised, original, matte.to(stylised.device, stylised.dtype)).clamp_(0, 1)

    def close(self) -> None:
        self.source.close()


def open_matte(path: str | Path, info: Any, invert: bool = False, feather_px: float = 0.0,
               what: str = "--mask", spool: Spool | None = None) -> MatteCompositor:
    """Validate a matte against a clip's :class:`~vidstyle.media.reader.VideoInfo` (aspect ratio; frame count when
    both containers know theirs — a shorter matte is also caught while streaming) and return its compositor
    (``spool``: where the frames wait to be written, for multi-pass renders; :class:`MatteCompositor`)."""
    path = Path(path)
    if not path.exists():
        raise VidstyleError(f"{what} {path}: file not found")
    clip_frames = info.source_frame_count if not info.is_sequence else info.source_frame_count or info.frame_count
    if _kind(path) == "video":
        n = matte_frame_count(path, exact=False)
        if n is not None and clip_frames is not None and n != clip_frames:
            raise VidstyleError(f"{what} {path} has {n} frames but {info.path.name} has {clip_frames}: a matte must "
                                "be frame-aligned with its clip (one matte frame per clip frame)")
        validate_matte(path, (info.height, info.width), None, what)
    else:
        validate_matte(path, (info.height, info.width), clip_frames, what)
    return MatteCompositor(MatteSource(path, (info.height, info.width), invert, feather_px, what), spool)
