"""Decode and encode speed of vidstyle.media (ms per frame) at 640×360 and 1280×720.

Decode = :class:`~vidstyle.media.reader.VideoReader` (PyAV decode + RGB conversion + float
tensor batches). Encode = :class:`~vidstyle.media.writer.VideoWriter` (uint8 conversion +
RGB→YUV + encoder + mux), synchronous so the number is the full cost per frame.

Inputs are ``../shared/data/clips/chaplin.mp4`` (640×360) and ``bbb_pan.mp4`` (1280×720)
when present, otherwise synthetic clips of the same sizes (tests/clips.py).

    python benchmarks/bench_media.py [--frames 48] [--append]

``--append`` adds the results to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from vidstyle.media.reader import open_frames
from vidstyle.media.writer import VideoWriter

CLIPS = {"640x360": "chaplin.mp4", "1280x720": "bbb_pan.mp4"}


def _source(label: str, tmp: Path, frames: int) -> Path:
    path = ROOT.parent / "shared" / "data" / "clips" / CLIPS[label]
    if path.exists():
        return path
    from clips import make_clip

    w, h = (int(v) for v in label.split("x"))
    return make_clip(tmp / f"{label}.mp4", n_frames=frames, size=(w, h))


def bench_decode(path: Path, frames: int, batch_size: int = 4) -> tuple[float, list[torch.Tensor], object, list]:
    """ms/frame to decode the first ``frames`` frames; also returns them for the encode benchmark."""
    kept, pts = [], []
    t0 = time.perf_counter()
    with open_frames(path, frames=(0, frames), batch_size=batch_size) as reader:
        for batch in reader:
            kept.append(batch.frames)
            pts.extend(batch.pts)
    elapsed = time.perf_counter() - t0
    return 1000 * elapsed / len(pts), kept, reader.info, pts


def bench_pyav_decode(path: Path, frames: int) -> float:
    """Baseline: ms/frame for PyAV alone (decode + rgb24 ndarray), no tensors."""
    import av

    t0 = time.perf_counter()
    n = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            frame.to_ndarray(format="rgb24")
            n += 1
            if n == frames:
                break
    return 1000 * (time.perf_counter() - t0) / n


def bench_encode(out: Path, batches: list[torch.Tensor], info, pts: list[int], preset: str) -> float:
    n = sum(b.shape[0] for b in batches)
    t0 = time.perf_counter()
    with VideoWriter(out, info, codec="h264", crf=18, preset=preset, audio=False, force=True, threaded=False) as w:
        i = 0
        for batch in batches:
            w.write(batch, pts[i : i + batch.shape[0]])
            i += batch.shape[0]
    return 1000 * (time.perf_counter() - t0) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--append", action="store_true", help="append the results to benchmarks/RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for label in CLIPS:
            src = _source(label, tmp, args.frames)
            bench_decode(src, 4)  # warm-up (file cache, codec init)
            decode_ms, batches, info, pts = bench_decode(src, args.frames)
            row = {"size": f"{info.width}×{info.height}", "clip": src.name, "frames": len(pts), "decode": decode_ms,
                   "pyav": bench_pyav_decode(src, args.frames)}
            for preset in ("medium", "veryfast"):
                row[preset] = bench_encode(tmp / f"out_{label}.mp4", batches, info, pts, preset)
            rows.append(row)
            print(f"{row['size']:>10} {row['clip']:>14}: decode {decode_ms:6.1f} ms/frame (PyAV alone "
                  f"{row['pyav']:.1f}), encode h264 crf18 "
                  f"medium {row['medium']:6.1f} ms/frame, veryfast {row['veryfast']:6.1f} ms/frame", flush=True)
            del batches
    if args.append:
        lines = [
            "",
            f"## Media decode/encode (vidstyle.media) — {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
            "",
            (f"`{' '.join(['python', *sys.argv])}` on {platform.machine()}, {os.cpu_count()} CPU cores "
             f"shared with other jobs (load average {os.getloadavg()[0]:.1f} at the end, so numbers are "
             "pessimistic and noisy), PyAV "
             f"{__import__('av').__version__}, torch {torch.__version__}. Decode = VideoReader (PyAV decode, "
             "thread_type AUTO, RGB, float tensors, batch 4); encode = VideoWriter synchronous "
             "(uint8 → yuv420p → libx264 crf 18 → mp4). 'PyAV alone' = decode + rgb24 ndarray, the floor for "
             "decode; the rest is the HWC uint8 → CHW float32 conversion (numpy, in the decode thread)."),
            "",
            ("| size | clip | frames | decode ms/frame | PyAV alone ms/frame | encode medium ms/frame "
             "| encode veryfast ms/frame |"),
            "|---|---|---|---|---|---|---|",
            *[f"| {r['size']} | {r['clip']} | {r['frames']} | {r['decode']:.1f} | {r['pyav']:.1f} | {r['medium']:.1f} | "
              f"{r['veryfast']:.1f} |" for r in rows],
            "",
        ]
        results = ROOT / "benchmarks" / "RESULTS.md"
        with results.open("a") as f:
            f.write("\n".join(lines))


if __name__ == "__main__":
    main()
