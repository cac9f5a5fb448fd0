"""Streaming video encode with PyAV: atomic, timing-preserving, with the source's audio.

* **Atomic**: frames go to a hidden temporary file beside the target, renamed onto it
  only when everything (video and audio) was written; on any exception, including
  Ctrl-C, the temporary file is removed and the target is untouched.
* **Timing**: the output video stream uses the input's time base and each frame keeps
  its input ``pts`` (variable frame rate stays variable, same frame count). When the
  reader selected part of the clip (``info.trimmed``) all timestamps are shifted so the
  output starts at 0, audio by the same amount.
* **Audio**: every audio stream of ``info.path`` is copied packet for packet (no
  re-encoding) when the output container accepts its codec, else transcoded (AAC; Opus
  for .webm; MP3 for .avi). Audio packets are interleaved with the video as it is written.
* **Background encoding** (``threaded=True``) so encoding overlaps stylisation.
* An output path without a video extension writes a folder of PNG frames instead
  (atomically, see :class:`~vidstyle.media.sequence.ImageSequenceWriter`).

Colour: YUV outputs are converted with BT.709 (limited range) and tagged as such, so
players and our reader agree on the colours.

Odd frame sizes: 4:2:0 codecs need even dimensions, so an odd width/height is **padded**
by one pixel (replicating the last column/row) rather than cropped: no content is lost.
"""

from __future__ import annotations

import math
import os
import queue
import threading
from fractions import Fraction
from pathlib import Path
from typing import Self

import av
import numpy as np
import torch

from ..config import VideoConfig
from ..errors import MediaError
from .atomic import atomic_output, check_output
from .codecs import CODECS, PRESETS
from .frames import VideoInfo
from .sequence import ImageSequenceWriter

__all__ = ["CODECS", "CONTAINERS", "VideoWriter", "frames_to_uint8"]


#: output extension → audio codecs we copy into it unchanged, and the transcode target
CONTAINERS: dict[str, tuple[frozenset[str] | None, str]] = {
    ".mp4": (frozenset({"aac", "mp3", "opus", "flac", "alac", "ac3", "eac3"}), "aac"),
    ".mov": (frozenset({"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s24le"}), "aac"),
    ".mkv": (None, "aac"),  # None: anything the muxer supports
    ".webm": (frozenset({"opus", "vorbis"}), "libopus"),
    ".avi": (frozenset({"mp3", "ac3", "pcm_s16le"}), "libmp3lame"),
}

_SVT_PRESETS = dict(zip(PRESETS, (12, 11, 10, 9, 8, 7, 5, 4, 2, 1)))
_STOP = object()
_BT709 = 1  # AVCOL_SPC_BT709 = AVCOL_PRI_BT709 = AVCOL_TRC_BT709
_MPEG_RANGE = 1  # AVCOL_RANGE_MPEG (limited, 16–235)


def frames_to_uint8(frames: torch.Tensor) -> np.ndarray:
    """``N×3×H×W`` float [0, 1] (any device) → ``N×H×W×3`` uint8 numpy (rounded, clamped)."""
    if frames.dim() != 4 or frames.shape[1] != 3:
        raise ValueError(f"expected frames N×3×H×W, got {tuple(frames.shape)}")
    x = frames.detach().clamp(0, 1).mul(255).round_().to(torch.uint8).permute(0, 2, 3, 1)
    return np.ascontiguousarray(x.cpu().numpy())


def _encoder_options(encoder: str, crf: int, preset: str) -> dict[str, str]:
    if encoder in ("libx264", "libx265"):
        options = {"crf": str(crf), "preset": preset}
        if encoder == "libx265":
            options["x265-params"] = "log-level=error"
        return options
    if encoder == "libvpx-vp9":
        return {"crf": str(crf), "b": "0", "row-mt": "1", "deadline": "good", "cpu-used": "4"}
    if encoder == "libsvtav1":
        os.environ.setdefault("SVT_LOG", "1")  # errors only; SVT prints a page of info by default
        return {"crf": str(crf), "preset": str(_SVT_PRESETS.get(preset, 8))}
    if encoder == "prores_ks":
        return {"profile": "2"}  # 422 normal quality
    return {}


class VideoWriter:
    """Encode frames into a video file (or a PNG folder) with the input's timing and audio.

    Args:
        path: output file; the container comes from its extension (.mp4, .mkv, .mov,
            .webm, .avi). No extension (or an existing folder) → a folder of PNG frames.
        info: the reader's :class:`VideoInfo` (time base, fps, audio source, trimming).
        codec: a key of :data:`CODECS`.
        crf: quality for h264/h265/vp9/av1 (lower is better).
        preset: x264/x265 speed preset (mapped for av1).
        audio: copy the input's audio (False drops it).
        force: overwrite an existing target.
        threaded: encode in a background thread.

    Raises:
        VidstyleError: the target exists without ``force``, or its folder is missing.
        MediaError: unknown codec, or a codec the container cannot hold.

    Use as a context manager; leaving it without an exception flushes the encoder,
    finishes the audio and renames the file onto ``path``.
    """

    def __init__(self, path: str | Path, info: VideoInfo, *, codec: str = VideoConfig.codec, crf: int = VideoConfig.crf,
                 preset: str = VideoConfig.preset, audio: bool = VideoConfig.audio, force: bool = False,
                 threaded: bool = True) -> None:
        self.path = Path(path)
        self.info = info
        self.frames_written = 0
        self._error: BaseException | None = None
        self._offset: int | None = None  # pts shift (input time base); fixed by the first frame
        self._last_pts: int | None = None
        self._last_step: int | None = None
        self._closed = False
        self._seq: ImageSequenceWriter | None = None
        self._container = None
        self._audio: _AudioTracks | None = None
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        ext = self.path.suffix.lower()
        if ext not in CONTAINERS:
            if ext and not self.path.is_dir():
                raise MediaError(f"{self.path}: unsupported output extension {ext}; use one of "
                                 f"{', '.join(CONTAINERS)}, or a name without extension for a folder of PNG frames")
            self._seq = ImageSequenceWriter(self.path, force=force)
        else:
            if codec not in CODECS:
                raise MediaError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS)}")
            check_output(self.path, force)
            self._open_container(ext, codec, crf, preset, audio, force)
        if threaded:
            self._queue = queue.Queue(maxsize=2)
            self._thread = threading.Thread(target=self._run, name="vidstyle-encode", daemon=True)
            self._thread.start()

    # -- setup ----------------------------------------------------------------------------------
    def _open_container(self, ext: str, codec: str, crf: int, preset: str, audio: bool, force: bool) -> None:
        encoder, pix_fmt = CODECS[codec]
        try:
            av.codec.Codec(encoder, "w")
        except Exception:  # noqa: BLE001 — PyAV raises different types across versions
            raise MediaError(f"codec {codec} ({encoder}) is not available in this FFmpeg build") from None
        self._atomic = atomic_output(self.path, force)
        self._tmp = self._atomic.__enter__()
        try:
            self._container = av.open(str(self._tmp), "w")
            supported = self._container.supported_codecs
            canonical = av.codec.Codec(encoder, "w").canonical_name
            if canonical not in supported:
                raise MediaError(f"{self.path}: a {ext} file cannot hold {codec} video; "
                                 f"use another --codec or extension")
            fps = self.info.fps or Fraction(25)
            stream = self._container.add_stream(encoder, rate=fps, options=_encoder_options(encoder, crf, preset))
            w, h = self.info.width, self.info.height
            self._pad = (0, 0)
            if pix_fmt.startswith(("yuv420", "yuv422")):
                self._pad = (w % 2, h % 2) if pix_fmt.startswith("yuv420") else (w % 2, 0)
            stream.width, stream.height = w + self._pad[0], h + self._pad[1]
            stream.pix_fmt = pix_fmt
            if encoder == "libx265" and ext in (".mp4", ".mov"):
                stream.codec_context.codec_tag = "hvc1"  # FFmpeg's default hev1 is refused by Apple players
            self._yuv = pix_fmt.startswith("yuv")
            if self._yuv:
                # Convert with BT.709 and say so: untagged files are decoded as BT.601 by FFmpeg
                # but as BT.709 by most players for HD, which shifts the colours.
                cc = stream.codec_context
                cc.colorspace, cc.color_range, cc.color_primaries, cc.color_trc = _BT709, _MPEG_RANGE, _BT709, _BT709
            # AVI cannot store variable timestamps: there, frames go on the nearest tick of the
            # average rate (1/fps time base). Every other container keeps the input's time base.
            self._time_base = 1 / fps if ext == ".avi" else self.info.time_base
            stream.time_base = self._time_base
            stream.codec_context.time_base = self._time_base
            stream.thread_type = "AUTO"
            self._stream = stream
            if audio and self.info.has_audio and not self.info.is_sequence:
                self._audio = _AudioTracks(self.info, self._container, ext)
        except BaseException as e:
            self._abort(e)
            raise

    # -- public API -------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort(exc)

    def write(self, frames: torch.Tensor, pts: list[int]) -> None:
        """Queue ``N×3×H×W`` frames in [0, 1] with their ``pts`` (in ``info.time_base``)."""
        if self._closed:
            raise MediaError(f"{self.path}: writer is already closed")
        self._raise_pending()
        if len(pts) != frames.shape[0]:
            raise ValueError(f"got {frames.shape[0]} frames but {len(pts)} timestamps")
        if tuple(frames.shape[-2:]) != (self.info.height, self.info.width):
            raise ValueError(f"frames are {frames.shape[-1]}×{frames.shape[-2]}, "
                             f"the writer expects {self.info.width}×{self.info.height}")
        item = (frames_to_uint8(frames), [int(p) for p in pts])
        if self._queue is None:
            self._encode(*item)
            return
        while True:  # bounded queue; wake up regularly to notice a failed encoder thread
            try:
                self._queue.put(item, timeout=0.2)
                break
            except queue.Full:
                self._raise_pending()

    def close(self) -> Path:
        """Flush the encoder, finish the audio and move the file into place; returns the path."""
        if self._closed:
            return self.path
        try:
            if self._thread is not None:
                self._queue.put(_STOP)
                self._thread.join()
            self._raise_pending()
            if self.frames_written == 0:
                raise MediaError(f"{self.path}: no frames were written")
            if self._seq is not None:
                self._seq.commit()
            else:
                self._container.mux(self._stream.encode(None))
                if self._audio is not None:
                    self._audio.finish(self._end_seconds())
                self._container.close()
                self._container = None
                self._closed = True
                self._atomic.__exit__(None, None, None)
        except BaseException as e:
            self._abort(e)
            raise
        self._closed = True
        return self.path

    # -- internals ----------------------------------------------------------------------------------
    def _raise_pending(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is not None:
                continue  # keep draining so write() never blocks
            try:
                self._encode(*item)
            except BaseException as e:  # noqa: BLE001 — re-raised in the caller's thread
                self._error = e

    def _encode(self, arrays: np.ndarray, pts: list[int]) -> None:
        for array, p in zip(arrays, pts, strict=True):
            if self._seq is not None:
                self._seq.write_array(array)
                self.frames_written += 1
                continue
            if self._offset is None:
                self._offset = p if self.info.trimmed else 0
            out_pts = p - self._offset
            if self._time_base != self.info.time_base:  # AVI: onto the constant-rate grid
                out_pts = round(out_pts * self.info.time_base / self._time_base)
            if self._last_pts is not None:
                if out_pts <= self._last_pts:  # duplicate/non-monotonic input pts: encoders reject them
                    out_pts = self._last_pts + 1
                self._last_step = out_pts - self._last_pts
            self._last_pts = out_pts
            if self._pad != (0, 0):
                array = np.pad(array, ((0, self._pad[1]), (0, self._pad[0]), (0, 0)), mode="edge")
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            if self._yuv:
                frame = frame.reformat(format=self._stream.pix_fmt, dst_colorspace=_BT709, dst_color_range=_MPEG_RANGE)
            frame.pts, frame.time_base = out_pts, self._time_base
            try:
                self._container.mux(self._stream.encode(frame))
            except av.FFmpegError as e:
                raise MediaError(f"{self.path}: encoding failed at frame {self.frames_written} ({e})") from None
            self.frames_written += 1
            if self._audio is not None:
                self._audio.feed_until(float(out_pts * self._time_base + self._offset * self.info.time_base),
                                       float(self._offset * self.info.time_base), self.info.trimmed)

    def _end_seconds(self) -> float | None:
        """End of the written video in source seconds (audio is cut there when trimmed)."""
        if self._last_pts is None:
            return None
        tb = self._time_base
        step = self._last_step
        if step is None:
            step = round(1 / (self.info.fps * tb)) if self.info.fps else 0
        return float((self._last_pts + step) * tb + self._offset * self.info.time_base)

    def _abort(self, exc: BaseException | None) -> None:
        """Stop the thread, close everything and delete the temporary output."""
        if self._thread is not None and self._thread.is_alive():
            self._error = self._error or exc or RuntimeError("aborted")
            try:
                self._queue.put(_STOP, timeout=5)
            except queue.Full:
                pass
            self._thread.join(timeout=30)
        self._closed = True
        if self._seq is not None:
            self._seq.abort()
            return
        if self._audio is not None:
            self._audio.close()
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001, S110 — the file is deleted anyway
                pass
            self._container = None
        if hasattr(self, "_atomic"):
            error = exc if exc is not None else RuntimeError("aborted")
            try:
                self._atomic.__exit__(type(error), error, error.__traceback__)
            except BaseException:  # noqa: BLE001, S110 — the generator re-raises; we only want cleanup
                pass
            del self._atomic


def _close_leading_gap(packet) -> None:
    """Move a first audio packet that claims a too-long duration up against the second one.

    Some phone recorders write the audio's start offset into the duration of the first sample
    (``stts`` 8471, 1024, 1024, … for AAC) while the track's own duration counts contiguous
    frames. FFmpeg then puts the second packet 155 ms after the first, and a copy's audio grew
    from the declared 2.261 s to 2.416 s. When the declared duration agrees with ``frames ×
    frame_size`` the gap is the start offset: the first packet moves to just before the second
    (every other packet keeps its time, so the sync of the rest is untouched) and the copy's
    audio lasts exactly as long as the source declares.
    """
    stream = packet.stream
    size = stream.codec_context.frame_size or 0
    if not size or not packet.duration or packet.duration <= size * 3 // 2 or not stream.frames or not stream.duration:
        return
    if abs(stream.frames * size - stream.duration * stream.time_base * stream.codec_context.sample_rate) > size:
        return  # the track's duration counts the gap too: it is real, keep it
    shift = round((packet.duration - size) / (stream.codec_context.sample_rate * stream.time_base))
    if packet.pts is not None:
        packet.pts += shift
    packet.dts += shift
    packet.duration -= shift


class _AudioTracks:
    """The input's audio streams, copied or transcoded into the output as the video advances."""

    def __init__(self, info: VideoInfo, container, ext: str) -> None:
        self.container = container
        self.input = av.open(str(info.path))
        allowed, target = CONTAINERS[ext]
        supported = container.supported_codecs
        self.copy: dict[int, object] = {}
        self.transcode: dict[int, tuple[object, object, av.AudioResampler | None]] = {}
        in_streams = list(self.input.streams.audio)
        for s in in_streams:
            name = s.codec_context.codec.canonical_name
            if name in supported and (allowed is None or name in allowed):
                out = container.add_stream_from_template(s)
                self.copy[s.index] = out
            else:
                rate = s.codec_context.sample_rate or 48000
                if target == "libopus":
                    rate = 48000
                elif target == "libmp3lame" and rate not in (32000, 44100, 48000):
                    rate = 44100
                layout = s.codec_context.layout.name if s.codec_context.layout else "stereo"
                if s.codec_context.channels and s.codec_context.channels > 2:
                    layout = "stereo"
                out = container.add_stream(target, rate=rate, layout=layout)
                self.transcode[s.index] = (s, out, None)
        self.packets = self.input.demux(in_streams)
        self._first_seen: set[int] = set()
        self.pending = None
        self.samples: dict[int, int] = {}
        self.done = False
        self._shift, self._trimmed = 0.0, False

    def _packets(self):
        if self.pending is not None:
            packet, self.pending = self.pending, None
            yield packet
        if self.done:
            return
        while True:
            # next() rather than ``yield from``: closing this generator early must not close the demuxer.
            try:
                packet = next(self.packets)
            except (StopIteration, av.FFmpegError):  # end, or a truncated audio stream: keep what was read
                self.done = True
                return
            if packet.stream.index not in self._first_seen and packet.dts is not None:
                self._first_seen.add(packet.stream.index)
                _close_leading_gap(packet)
            yield packet

    def feed_until(self, t: float, shift: float, trimmed: bool) -> None:
        """Mux the audio before source time ``t`` (seconds); ``shift`` seconds are subtracted."""
        self._feed(t, shift, trimmed, t_start=shift, end=None)

    def finish(self, end: float | None) -> None:
        """Mux the remaining audio (up to ``end`` seconds when the video was trimmed), flush, close."""
        self._feed(math.inf, self._shift, self._trimmed, t_start=self._shift, end=end)
        for _, out, resampler in self.transcode.values():
            if resampler is not None:
                for frame in resampler.resample(None):
                    self._encode(out, frame)
            self.container.mux(out.encode(None))
        self.close()

    def close(self) -> None:
        self.input.close()

    def _feed(self, t: float, shift: float, trimmed: bool, t_start: float, end: float | None) -> None:
        self._shift, self._trimmed = shift, trimmed
        for packet in self._packets():
            if packet.dts is None:  # flush packets from the demuxer
                continue
            tb = packet.time_base
            ts = packet.pts if packet.pts is not None else packet.dts
            seconds = float(ts * tb)
            if seconds >= t:
                self.pending = packet
                return
            if trimmed and (seconds < t_start - 1e-6 or (end is not None and seconds >= end - 1e-6)):
                continue
            shift_ts = round(shift / tb) if trimmed else 0
            if packet.stream.index in self.copy:
                packet.pts = None if packet.pts is None else packet.pts - shift_ts
                packet.dts = packet.dts - shift_ts
                packet.stream = self.copy[packet.stream.index]
                self.container.mux(packet)
            else:
                self._transcode(packet, shift if trimmed else 0.0)

    def _transcode(self, packet, shift: float) -> None:
        s, out, resampler = self.transcode[packet.stream.index]
        try:
            frames = packet.decode()
        except av.FFmpegError:
            return  # skip an undecodable audio packet rather than fail the render
        for frame in frames:
            if resampler is None:
                cc = out.codec_context
                resampler = av.AudioResampler(format=cc.format.name, layout=cc.layout.name, rate=cc.sample_rate,
                                              frame_size=cc.frame_size or None)
                self.transcode[packet.stream.index] = (s, out, resampler)
                start = (float(frame.pts * frame.time_base) - shift) if frame.pts is not None else 0.0
                self.samples[out.index] = max(0, round(start * cc.sample_rate))
            frame.pts = None
            for resampled in resampler.resample(frame):
                self._encode(out, resampled)

    def _encode(self, out, frame) -> None:
        rate = out.codec_context.sample_rate
        frame.pts = self.samples.get(out.index, 0)
        frame.time_base = Fraction(1, rate)
        self.samples[out.index] = frame.pts + frame.samples
        self.container.mux(out.encode(frame))

