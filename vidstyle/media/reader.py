"""Streaming video decode with PyAV: batches of frames as tensors, in constant memory.

Decoding runs in a background thread that keeps at most ``prefetch`` batches
ready, so decoding overlaps the stylisation of the previous batch. Frames come
out upright (the container's display rotation is applied, which PyAV does not do
by itself), optionally resized, as ``N×3×H×W`` float32 RGB in [0, 1] on the
requested device, with their presentation timestamps so that a
:class:`~vidstyle.media.writer.VideoWriter` can reproduce the original timing
(variable frame rate stays variable).

>>> with open_frames("clip.mp4", size=512, batch_size=4) as reader:  # doctest: +SKIP
...     for batch in reader:
...         out = stylise(batch.frames)            # N×3×H×W, [0, 1]
...         writer.write(out, batch.pts)
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Self

import av
import numpy as np
import torch

from ..errors import MediaError
from .frames import FrameBatch, FrameSource, VideoInfo, even_size, select_frame

__all__ = ["FrameBatch", "VideoInfo", "VideoReader", "even_size", "open_frames"]


def _rotation_k(degrees: float | None) -> int:
    """Display rotation (counter-clockwise degrees, any sign) → quarter turns 0..3."""
    if not degrees:
        return 0
    return round(degrees / 90.0) % 4


class _VideoFileSource:
    """Decode a video file with PyAV (probe at construction, decode afresh per iteration)."""

    def __init__(self, path: Path, size: int | None, start: float | None, end: float | None,
                 frames: tuple[int, int] | None) -> None:
        self.path, self.size, self.start, self.end, self.sel = path, size, start, end, frames
        self.stopped_early: str | None = None
        try:
            container = av.open(str(path))
        except av.FFmpegError as e:
            raise MediaError(f"{path}: cannot read it as a video ({_reason(e)}); "
                             "is it a video file, and complete (not truncated)?") from None
        with container:
            stream = _video_stream(container, path)
            first = self._first_frame(container, stream)
            self._k = _rotation_k(first.rotation)
            self._coded = (first.width, first.height)
            self.info = self._make_info(container, stream, first)

    def _first_frame(self, container, stream) -> av.VideoFrame:
        try:
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                return frame
        except av.FFmpegError as e:
            raise MediaError(f"{self.path}: cannot decode its {stream.codec_context.name} video ({_reason(e)}); "
                             "is the file corrupt?") from None
        raise MediaError(f"{self.path}: the video stream contains no frames")

    def _make_info(self, container, stream, first: av.VideoFrame) -> VideoInfo:
        tb = Fraction(stream.time_base) if stream.time_base else Fraction(1, 1000)
        fps = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = Fraction(fps) if fps else None
        if stream.duration:
            duration = float(stream.duration * tb)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = None
        # Only mp4/mov keep an exact per-frame index; other muxers' counts are estimates (AVI's is
        # in time-base ticks for variable-rate streams).
        self._exact_count = (stream.frames or None) if "mp4" in container.format.name else None
        count = stream.frames or (round(duration * fps) if duration and fps else None)
        self._t0 = stream.start_time if stream.start_time is not None else (first.pts or 0)
        self._tb = tb
        w, h = self._coded
        rw, rh = (h, w) if self._k % 2 else (w, h)
        out_w, out_h = even_size(rw, rh, self.size)
        self._decode_size = (out_h, out_w) if self._k % 2 else (out_w, out_h)  # before rotation
        sel_count, sel_duration = count, duration
        if self.sel is not None:
            first_i, last_i = self.sel
            sel_count = max(0, (min(last_i, count) if count is not None else last_i) - first_i)
            sel_duration = sel_count / fps if fps else None
        if self.start is not None or self.end is not None:
            lo = self.start or 0.0
            hi = self.end if self.end is not None else duration
            if hi is not None and duration is not None:
                hi = min(hi, duration)
            sel_duration = max(0.0, hi - lo) if hi is not None else None
            if sel_duration is not None and fps:
                est = round(sel_duration * fps)
                sel_count = est if sel_count is None else min(sel_count, est)
        return VideoInfo(
            path=self.path, width=out_w, height=out_h, source_width=w, source_height=h, fps=fps, time_base=tb,
            frame_count=sel_count, duration=sel_duration, rotation=self._k * 90,
            has_audio=bool(container.streams.audio), codec=stream.codec_context.name, is_sequence=False,
            source_frame_count=count, source_duration=duration,
            trimmed=self.sel is not None or self.start is not None or self.end is not None,
        )

    def _to_array(self, frame: av.VideoFrame) -> np.ndarray:
        """One decoded frame → ``H×W×3`` uint8 RGB, resized and upright (possibly a view)."""
        w, h = self._decode_size
        # swscale resizes (antialiased when shrinking with AREA) and converts with the frame's
        # own colourspace/range in one pass. Packed rgb24, not planar gbrp: FFmpeg 8's
        # unscaled yuv420p→gbrp path leaves the last columns black when the width is not a
        # multiple of 16 (e.g. 854).
        shrink = w * h < frame.width * frame.height
        array = frame.to_ndarray(format="rgb24", width=w, height=h, interpolation="AREA" if shrink else "BICUBIC",
                                 src_color_range=frame.color_range or None)
        if self._k:
            array = np.rot90(array, self._k)  # counter-clockwise, like the display matrix
        return array

    def frames(self) -> Iterator[tuple[int, int, np.ndarray]]:
        self.stopped_early = None
        index, ended = -1, False
        prev_pts: int | None = None
        with av.open(str(self.path)) as container:
            stream = _video_stream(container, self.path)
            stream.thread_type = "AUTO"  # frame + slice threads
            step = round(1 / (self.info.fps * self._tb)) if self.info.fps else 1
            try:
                for frame in container.decode(stream):
                    index += 1
                    pts = frame.pts
                    if pts is None:  # some raw/AVI streams: extrapolate from the previous frame
                        pts = 0 if prev_pts is None else prev_pts + step
                    prev_pts = pts
                    where = select_frame(index, float((pts - self._t0) * self._tb), self.sel, self.start, self.end)
                    if where < 0:
                        continue
                    if where > 0:
                        break
                    yield index, pts, self._to_array(frame)
                else:
                    ended = True
            except av.FFmpegError as e:
                self.stopped_early = (f"{self.path}: decoding stopped at frame {index + 1} ({_reason(e)}); "
                                      "the file is probably truncated or corrupt")
                return
        if not ended or self.info.trimmed:
            return
        got, exact, estimate = index + 1, self._exact_count, self.info.source_frame_count
        if exact and got < exact:
            # The container index promised more frames than the demuxer delivered: truncated file.
            self.stopped_early = (f"{self.path}: the stream ended after {got} of {exact} frames; "
                                  "the file is probably truncated")
        elif not exact and estimate and got < 0.9 * estimate - 1 and not self._reached_end(prev_pts):
            # No index (e.g. Matroska): compare with the duration in the header, loosely (VFR). A
            # variable-rate AVI counts time-base ticks as frames (tree.avi: 444 "frames", 68 real ones),
            # so a stream whose last frame reaches the header's duration is complete whatever the count.
            self.stopped_early = (f"{self.path}: the stream ended after {got} frames but its header promises "
                                  f"about {estimate}; the file is probably truncated")


    def frames_at(self, indices: list[int]) -> Iterator[tuple[int, int, np.ndarray]]:
        """Yield ``(index, pts, H×W×3 uint8)`` for a few frames far apart (a preview), seeking to each instead of
        decoding the whole clip: index ``i`` is the first frame at or after ``i / fps`` (exact for constant-rate
        clips). Indices come out sorted; consecutive ones are decoded without a new seek."""
        fps = self.info.fps
        if not fps:
            raise MediaError(f"{self.path}: its frame rate is unknown, so frames cannot be found by index")
        step = 1 / (fps * self._tb)  # one frame in time-base ticks
        with av.open(str(self.path)) as container:
            stream = _video_stream(container, self.path)
            stream.thread_type = "AUTO"
            frames = None
            last = None  # pts of the last decoded frame
            for index in sorted(set(indices)):
                target = self._t0 + index * step
                if frames is None or last is None or target < last or target - last > 2 * fps * step:
                    container.seek(int(target), stream=stream, backward=True, any_frame=False)
                    frames = container.decode(stream)
                try:
                    for frame in frames:
                        if frame.pts is None:
                            continue
                        last = frame.pts
                        if frame.pts >= target - step / 2:
                            yield index, frame.pts, self._to_array(frame)
                            break
                    else:
                        return  # past the end of the stream
                except av.FFmpegError as e:
                    raise MediaError(f"{self.path}: cannot decode frame {index} ({_reason(e)})") from None

    def _reached_end(self, last_pts: int | None) -> bool:
        """The last decoded frame lies within 10 % (or one frame) of the header's duration."""
        duration = self.info.source_duration
        if last_pts is None or not duration:
            return False
        step = float(1 / self.info.fps) if self.info.fps else 0.0
        return float((last_pts - self._t0) * self._tb) + step >= 0.9 * duration - step


def _reason(e: BaseException) -> str:
    """FFmpeg's message without the file name PyAV appends."""
    msg = getattr(e, "strerror", None) or str(e)
    return str(msg).split(":")[0].strip() if msg else type(e).__name__


def _video_stream(container, path: Path):
    """The first real video stream (not cover art)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            if stream.codec_context is None:
                raise MediaError(f"{path}: unsupported video codec; this FFmpeg build cannot decode it")
            return stream
    if container.streams.audio:
        raise MediaError(f"{path}: has no video stream (audio only)")
    raise MediaError(f"{path}: not a video file (FFmpeg found no video stream in it)")


_END = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class VideoReader:
    """Iterate over a video file or an image-sequence folder in batches of frames.

    Args:
        path: a video file, or a folder of ``.jpg``/``.png`` frames (sorted by name).
        size: long side of the yielded frames (aspect kept, both sides even); None keeps the size.
        batch_size: frames per :class:`FrameBatch` (the last one may be smaller).
        start, end: select frames with ``start <= t < end`` (seconds from the first frame).
        frames: select frames by 0-based index, ``[first, last)``. Frames before a selection
            are decoded but not converted (no seeking), so indices stay exact, even for VFR.
        device: where the batches are delivered; with CUDA, frames are staged in pinned
            memory and copied asynchronously.
        prefetch: batches decoded ahead in a background thread; 0 decodes synchronously.
        fps: frame rate of an image-sequence folder (default 25; ignored for video files).

    Raises:
        MediaError: missing file, not a video, no video stream, no frames, unsupported codec.

    After iterating, ``stopped_early`` holds a message when a truncated or corrupt
    stream ended decoding before its end (everything decodable was yielded).
    """

    def __init__(self, path: str | Path, *, size: int | None = None, batch_size: int = 4,
                 start: float | None = None, end: float | None = None, frames: tuple[int, int] | None = None,
                 device: str | torch.device = "cpu", prefetch: int = 2, fps: float | None = None) -> None:
        path = Path(path)
        self.device = torch.device(device)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if size is not None and size < 2:
            raise MediaError(f"size must be at least 2 pixels, got {size}")
        if start is not None and end is not None and end <= start:
            raise MediaError(f"--end ({end}) must be after --start ({start})")
        if frames is not None and (frames[0] < 0 or frames[1] <= frames[0]):
            raise MediaError(f"frame range {frames} is empty; give [first, last) with last > first >= 0")
        if not path.exists():
            raise MediaError(f"{path}: file not found")
        if path.is_dir():
            from .sequence import ImageSequenceSource

            self._source: FrameSource = ImageSequenceSource(path, size, start, end, frames, fps=fps or 25)
        else:
            self._source = _VideoFileSource(path, size, start, end, frames)
        self.info: VideoInfo = self._source.info
        length = self.info.source_duration
        if start is not None and length is not None and start >= length:
            raise MediaError(f"{path}: --start {start:g} s is past the end of the clip (its duration is {length:.2f} s)")
        self.batch_size = batch_size
        self.prefetch = prefetch
        self._threads: list[tuple[threading.Thread, threading.Event, queue.Queue]] = []

    @property
    def stopped_early(self) -> str | None:
        """Why decoding ended before the end of the stream (truncated/corrupt input), else None."""
        return self._source.stopped_early

    def read_at(self, indices: list[int]) -> FrameBatch:
        """The frames at these 0-based source indices (sorted, duplicates dropped) as one batch, decoding only what
        is needed: a video file seeks to each (:meth:`_VideoFileSource.frames_at`), a folder reads those files.
        Indices past the end are left out (``batch.indices`` says which came back)."""
        wanted = sorted(set(int(i) for i in indices))
        source = self._source
        if hasattr(source, "frames_at"):
            items = list(source.frames_at(wanted))
        else:  # an image folder: a one-frame selection reads one file
            from .sequence import ImageSequenceSource

            assert isinstance(source, ImageSequenceSource)
            n = len(source.files)
            items = [next(ImageSequenceSource(self.info.path, source.size, None, None, (i, i + 1),
                                              fps=float(self.info.fps or 25)).frames()) for i in wanted if i < n]
        if not items:
            raise MediaError(f"{self.info.path}: none of the frames {wanted} exist")
        batch = torch.empty((len(items), 3, self.info.height, self.info.width), dtype=torch.float32)
        for k, (_, _, array) in enumerate(items):
            self._fill(batch, k, array)
        return FrameBatch(batch.to(self.device), [p for _, p, _ in items], [i for i, _, _ in items])

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop background decoding (safe to call twice)."""
        for thread, stop, q in self._threads:
            stop.set()
            _drain(q)
            thread.join(timeout=10)
        self._threads.clear()

    def __iter__(self) -> Iterator[FrameBatch]:
        if self.prefetch <= 0:
            for batch, pts, indices in self._batches(threading.Event()):
                yield self._finish(batch, pts, indices)
            return
        stop = threading.Event()
        q: queue.Queue = queue.Queue(maxsize=self.prefetch)
        thread = threading.Thread(target=self._produce, args=(q, stop), name="vidstyle-decode", daemon=True)
        self._threads.append((thread, stop, q))
        thread.start()
        try:
            while True:
                item = q.get()
                if item is _END:
                    break
                if isinstance(item, _Failure):
                    raise item.error
                staged, pts, indices = item
                yield self._finish(staged, pts, indices)
        finally:
            stop.set()
            _drain(q)
            thread.join(timeout=10)
            self._threads = [t for t in self._threads if t[0] is not thread]

    def _batches(self, stop: threading.Event) -> Iterator[tuple[torch.Tensor, list[int], list[int]]]:
        """Group frames into ``N×3×H×W`` CPU tensors (runs in the decode thread)."""
        batch, pts, indices = None, [], []
        for index, frame_pts, array in self._source.frames():
            if stop.is_set():
                return
            if batch is None:
                batch = self._new_batch()
            self._fill(batch, len(pts), array)
            pts.append(frame_pts)
            indices.append(index)
            if len(pts) == self.batch_size:
                yield batch, pts, indices
                batch, pts, indices = None, [], []
        if pts:
            yield batch[: len(pts)], pts, indices

    def _new_batch(self) -> torch.Tensor:
        # CUDA: uint8 in pinned memory (4× less to copy, asynchronously), converted on the
        # GPU. CPU: float32 filled in place, so each frame is touched once (stacking and
        # torch permute/convert passes cost several times the decode itself).
        cuda = self.device.type == "cuda"
        return torch.empty((self.batch_size, 3, self.info.height, self.info.width),
                           dtype=torch.uint8 if cuda else torch.float32, pin_memory=cuda)

    @staticmethod
    def _fill(batch: torch.Tensor, i: int, array: np.ndarray) -> None:
        """Write one ``H×W×3`` uint8 frame into ``batch[i]`` as CHW (``x / 255`` for float)."""
        target = batch[i].numpy()
        chw = array.transpose(2, 0, 1)
        if target.dtype == np.float32:
            np.divide(chw, np.float32(255.0), out=target)  # bit-identical to torch's x.float() / 255
        else:
            target[...] = chw

    def _finish(self, staged: torch.Tensor, pts: list[int], indices: list[int]) -> FrameBatch:
        if self.device.type != "cpu":
            staged = staged.to(self.device, non_blocking=True)
        if staged.dtype == torch.uint8:
            staged = staged.float().div_(255.0)
        return FrameBatch(staged, pts, indices)

    def _produce(self, q: queue.Queue, stop: threading.Event) -> None:
        try:
            for batch, pts, indices in self._batches(stop):
                if not _put(q, (batch, pts, indices), stop):
                    return
        except BaseException as e:  # noqa: BLE001 — re-raised in the consumer thread
            _put(q, _Failure(e), stop)
            return
        _put(q, _END, stop)


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    """Put unless the consumer went away; False when stopped."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _drain(q: queue.Queue) -> None:
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass


def open_frames(path: str | Path, **kw) -> VideoReader:
    """Open a video file or an image-sequence folder; see :class:`VideoReader` for the options."""
    return VideoReader(path, **kw)
