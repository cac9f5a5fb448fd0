"""Throughput of ``vidstyle eval`` (frames/s) at 640×360 and 1280×720.

Runs the real command path (:func:`vidstyle.commands.eval.evaluate_files`: decode of both
clips, E_warp at k = 1 and 10 with DIS flow — 4 flow fields per frame —, reliability masks,
flicker, SSIM) on ``../shared/data/clips/chaplin.mp4`` (640×360, 241 frames), decoded at
long side 640 and 1280 (upscaled). The clip is evaluated against itself: the cost does not
depend on the stylised content. Per METRICS.md: 10 warm-up frames (k = 10 starts at frame
10), then the median time per frame over the next ``--frames`` frames.

``--vgg-frames N`` also times the VGG-19 style + content distances (``--style``) on N frames
at 640×360 (every frame measured).

Usage::

    python benchmarks/bench_eval.py [--frames 100] [--vgg-frames 10] [--append]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from results_md import append_section

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
WARMUP = 10


def time_eval(clip: Path, size: int, frames: int, style: Path | None = None) -> tuple[float, float, float, int]:
    """Median and mean wall seconds per frame after the warm-up, mean CPU seconds per frame, frames timed."""
    from vidstyle.commands.eval import evaluate_files

    stamps: list[tuple[float, float]] = []
    evaluate_files([clip], clip, style=style, ks=(1, 10), size=size, frames=WARMUP + frames, device="cpu",
                   progress=False, vgg=style is not None,
                   tick=lambda t: stamps.append((time.perf_counter(), time.process_time())))
    steps = [b[0] - a[0] for a, b in zip(stamps[WARMUP - 1 :], stamps[WARMUP:])]
    cpu = (stamps[-1][1] - stamps[WARMUP - 1][1]) / len(steps)
    return statistics.median(steps), statistics.mean(steps), cpu, len(steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=SHARED / "data/clips/chaplin.mp4")
    parser.add_argument("--frames", type=int, default=100, help="timed frames after the warm-up")
    parser.add_argument("--vgg-frames", type=int, default=10, help="timed frames with --style (0 skips)")
    parser.add_argument("--sizes", default="640,1280", help="long sides to measure (640 → 640×360, 1280 → 1280×720)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: all cores, as METRICS.md; 1 is faster on an overloaded machine)")
    parser.add_argument("--append", action="store_true", help="append a section to benchmarks/RESULTS.md")
    args = parser.parse_args()
    if not args.clip.exists():
        sys.exit(f"{args.clip} not found")

    from vidstyle.device import use_all_cores

    use_all_cores()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for size in (int(v) for v in args.sizes.split(",")):
        label = f"{size}×{round(size * 9 / 16)}"  # chaplin.mp4 is 16:9
        med, mean, cpu, n = time_eval(args.clip, size, args.frames)
        rows.append((label, "E_warp k=1,10 + flicker + SSIM", n, med, mean, cpu))
        print(rows[-1], flush=True)
    if args.vgg_frames:
        style = SHARED / "registry/paintings/starry_night.jpg"
        med, mean, cpu, n = time_eval(args.clip, 640, args.vgg_frames, style=style)
        rows.append(("640×360", "… + VGG-19 style/content distance", n, med, mean, cpu))
        print(rows[-1], flush=True)

    lines = [("| size | measured | torch threads | frames timed | median ms/frame | mean ms/frame | CPU ms/frame | "
              "frames/s (median) |"), "|---|---|---|---|---|---|---|---|"]
    for label, what, n, med, mean, cpu in rows:
        lines.append(f"| {label} | {what} | {torch.get_num_threads()} | {n} | {med * 1e3:.0f} | {mean * 1e3:.0f} | "
                     f"{cpu * 1e3:.0f} | {1 / med:.2f} |")
    text = "\n".join(lines)
    print(text)
    if args.append:
        append_section("`vidstyle eval` throughput (vidstyle.metrics)",
                       f"torch {torch.__version__}, {torch.get_num_threads()} torch threads. chaplin.mp4 evaluated "
                       "against itself through `evaluate_files` (decode of both clips, DIS MEDIUM flow forward + "
                       f"backward for k = 1 and k = 10, masks, warps, flicker, SSIM); {WARMUP} warm-up frames, then "
                       "per-frame wall time.", text)

if __name__ == "__main__":
    main()
