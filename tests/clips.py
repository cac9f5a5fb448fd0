"""Synthetic test clips with exactly known motion, timing, audio and rotation.

Every agent's tests use this module (``from clips import make_clip, analytic_flow``;
``tests/`` is on ``sys.path`` under pytest's rootdir-based ``rootdir/conftest``
discovery). Clips are tiny so tests stay fast on a loaded 2-core machine.

Content model
-------------
A smooth random colour texture ``canvas`` (seeded, so identical in every run) is
viewed through a ``W×H`` window that moves by ``-motion`` pixels per frame, so the
*content* moves by ``+motion = (dx, dy)`` pixels per frame (integer, so no
interpolation)::

    frame_t(p) = canvas(p + origin - t·motion)

With vidstyle's flow convention (``warp(b, flow) ≈ a``, i.e. ``a(p) = b(p + flow(p))``)
the exact flow is therefore constant: ``estimate(frame_t, frame_{t+1}) = +motion`` and
``estimate(frame_{t+1}, frame_t) = -motion``. Pixels whose target ``p + flow`` leaves
the frame have no correspondence (see :func:`analytic_valid`).

``cut_at=k`` makes frames ``k, k+1, …`` show an unrelated texture (a hard cut); the
motion continues in the same way after the cut.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

__all__ = [
    "VFR_DURATIONS_MS",
    "analytic_flow",
    "analytic_valid",
    "clip_pts",
    "make_clip",
    "make_frames",
]

# Irregular frame durations (ms) cycled for ``vfr=True`` clips.
VFR_DURATIONS_MS = (40, 40, 80, 20, 60, 40, 100, 20)

_VIDEO_EXTS = {".mp4", ".mkv", ".mov", ".webm", ".avi"}
# name -> (ffmpeg encoder, pix_fmt, options)
_ENCODERS = {
    "h264": ("libx264", "yuv420p", {"crf": "12", "preset": "veryfast"}),
    "h265": ("libx265", "yuv420p", {"crf": "12", "preset": "ultrafast", "x265-params": "log-level=error"}),
    "vp9": ("libvpx-vp9", "yuv420p", {"crf": "20", "b": "0", "deadline": "realtime", "cpu-used": "8"}),
    "mpeg4": ("mpeg4", "yuv420p", {"qscale": "2"}),
    "ffv1": ("ffv1", "bgr0", {}),  # lossless RGB: frames decode bit-exactly
}


def _texture(width: int, height: int, seed: int) -> np.ndarray:
    """A smooth, strongly textured ``height×width×3`` uint8 image (good for flow and codecs)."""
    rng = np.random.default_rng(seed)
    # Sum of a few random low-frequency waves per channel plus fine blocky noise:
    # enough texture for flow estimators, smooth enough that H.264 keeps it.
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.zeros((height, width, 3), np.float32)
    for c in range(3):
        for _ in range(4):
            fx, fy = rng.uniform(0.02, 0.2, size=2) * rng.choice([-1, 1], size=2)
            phase = rng.uniform(0, 2 * np.pi)
            img[..., c] += np.sin(2 * np.pi * (fx * x + fy * y) / 2 + phase)
    img = (img - img.min()) / (img.max() - img.min())
    blocks = rng.uniform(0, 1, size=(height // 4 + 1, width // 4 + 1, 3)).astype(np.float32)
    blocks = np.repeat(np.repeat(blocks, 4, axis=0), 4, axis=1)[:height, :width]
    img = 0.7 * img + 0.3 * blocks
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)


def make_frames(
    n_frames: int = 12,
    size: tuple[int, int] = (64, 48),
    motion: tuple[int, int] = (2, 1),
    cut_at: int | None = None,
    seed: int = 0,
) -> list[np.ndarray]:
    """The raw (never encoded) frames of a synthetic clip.

    Args:
        n_frames: number of frames.
        size: ``(width, height)`` in pixels.
        motion: integer content motion ``(dx, dy)`` in pixels per frame (right, down).
        cut_at: first frame index of the unrelated texture after a hard cut, or None.
        seed: texture seed (the post-cut texture uses ``seed + 1``).

    Returns:
        ``n_frames`` arrays of shape ``H×W×3``, uint8 RGB.
    """
    width, height = size
    dx, dy = int(motion[0]), int(motion[1])
    pad_x, pad_y = abs(dx) * n_frames + 1, abs(dy) * n_frames + 1
    canvases = [_texture(width + 2 * pad_x, height + 2 * pad_y, seed + k) for k in range(2)]
    frames = []
    for t in range(n_frames):
        canvas = canvases[1] if cut_at is not None and t >= cut_at else canvases[0]
        x0, y0 = pad_x - t * dx, pad_y - t * dy
        frames.append(np.ascontiguousarray(canvas[y0 : y0 + height, x0 : x0 + width]))
    return frames


def clip_pts(n_frames: int, fps: int = 25, vfr: bool = False) -> tuple[list[int], Fraction]:
    """Presentation timestamps and time base used by :func:`make_clip`.

    Constant rate: ``pts = 0, 1, 2, …`` in ``1/fps``. VFR: cumulative
    :data:`VFR_DURATIONS_MS` in ``1/1000``.
    """
    if not vfr:
        return list(range(n_frames)), Fraction(1, fps)
    pts, t = [], 0
    for i in range(n_frames):
        pts.append(t)
        t += VFR_DURATIONS_MS[i % len(VFR_DURATIONS_MS)]
    return pts, Fraction(1, 1000)


def make_clip(
    path: str | Path,
    *,
    n_frames: int = 12,
    size: tuple[int, int] = (64, 48),
    fps: int = 25,
    audio: bool = False,
    vfr: bool = False,
    rotation: int = 0,
    motion: tuple[int, int] = (2, 1),
    cut_at: int | None = None,
    codec: str = "h264",
    seed: int = 0,
) -> Path:
    """Write a synthetic clip and return its path.

    Args:
        path: output file (``.mp4``/``.mkv``/``.mov``/``.webm``/``.avi``), or a path
            without a video extension to write an image-sequence folder of
            ``00000.png, 00001.png, …`` (DAVIS layout; ``audio``/``vfr``/``rotation`` ignored).
        n_frames: number of video frames.
        size: ``(width, height)`` of the coded frames (even numbers for yuv420p codecs).
        fps: frame rate (constant-rate clips) / nominal rate (VFR clips).
        audio: add a mono 440 Hz sine AAC track (48 kHz) as long as the video.
        vfr: irregular timestamps (see :func:`clip_pts`).
        rotation: display rotation in degrees counter-clockwise (0, 90, 180, 270) written as
            display-matrix side data; the coded frames are the same as without it.
        motion: content motion per frame, ``(dx, dy)`` integer pixels.
        cut_at: frame index where the content switches to an unrelated texture.
        codec: ``h264`` (default), ``h265``, ``vp9``, ``mpeg4`` or ``ffv1`` (lossless).
        seed: texture seed.

    Returns:
        ``Path(path)``.
    """
    path = Path(path)
    frames = make_frames(n_frames, size, motion, cut_at, seed)
    if path.suffix.lower() not in _VIDEO_EXTS:
        path.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(frames):
            av.VideoFrame.from_ndarray(frame, format="rgb24").to_image().save(path / f"{i:05d}.png")
        return path

    encoder, pix_fmt, options = _ENCODERS[codec]
    pts, time_base = clip_pts(n_frames, fps, vfr)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(encoder, rate=fps, options=dict(options))
        stream.width, stream.height = size
        stream.pix_fmt = pix_fmt
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        if rotation:
            stream.set_display_rotation(rotation)
        a_stream = None
        if audio:
            a_stream = container.add_stream("aac", rate=48000, layout="mono")
        for frame_pts, array in zip(pts, frames, strict=True):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts, frame.time_base = frame_pts, time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if a_stream is not None:
            last = VFR_DURATIONS_MS[(n_frames - 1) % len(VFR_DURATIONS_MS)] / 1000 if vfr else 1 / fps
            _write_sine(container, a_stream, float(pts[-1] * time_base) + last)
    return path


def _write_sine(container: av.container.OutputContainer, stream, duration: float, rate: int = 48000) -> None:
    """Encode ``duration`` seconds of a 440 Hz sine into ``stream`` (mono fltp)."""
    n = round(duration * rate)
    samples = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / rate)).astype(np.float32)
    chunk = 1024
    for start in range(0, n, chunk):
        block = samples[start : start + chunk][None, :]
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.pts, frame.time_base = start, Fraction(1, rate)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def analytic_flow(
    size: tuple[int, int] = (64, 48),
    motion: tuple[int, int] = (2, 1),
    *,
    backward: bool = False,
    n: int = 1,
) -> torch.Tensor:
    """The exact flow between consecutive frames of a :func:`make_clip` clip.

    Args:
        size: ``(width, height)`` of the frames.
        motion: the clip's ``motion``.
        backward: False → ``estimate(frame_t, frame_{t+1})`` (= ``+motion``);
            True → ``estimate(frame_{t+1}, frame_t)`` (= ``-motion``).
        n: batch size.

    Returns:
        ``n×2×H×W`` float32 flow in pixels (channel 0 = x, 1 = y), constant.
        Not meaningful across a hard cut.
    """
    width, height = size
    sign = -1.0 if backward else 1.0
    flow = torch.empty(n, 2, height, width, dtype=torch.float32)
    flow[:, 0] = sign * motion[0]
    flow[:, 1] = sign * motion[1]
    return flow


def analytic_valid(
    size: tuple[int, int] = (64, 48),
    motion: tuple[int, int] = (2, 1),
    *,
    backward: bool = False,
    n: int = 1,
) -> torch.Tensor:
    """Where :func:`analytic_flow` has a correspondence: ``p + flow(p)`` lies inside the frame.

    Returns:
        ``n×1×H×W`` float32 mask, 1 = valid, 0 = the content there is not visible in the
        other frame (it entered through the border).
    """
    flow = analytic_flow(size, motion, backward=backward, n=1)[0]
    width, height = size
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    tx, ty = xs + flow[0], ys + flow[1]
    valid = (tx >= 0) & (tx <= width - 1) & (ty >= 0) & (ty <= height - 1)
    return valid.float()[None, None].expand(n, 1, height, width).clone()
