"""Streaming pipeline speed and memory: per-stage ms/frame, end-to-end fps, peak RSS.

Runs :func:`vidstyle.pipeline.run_pipeline` (decode → DIS flow → stylise → blend →
H.264 encode) on real clips at 640×360 and 1280×720, after a 5-frame warm-up pass with
the same objects. ``decode``/``encode`` in the pipeline are the time the loop *waited*
for the reader/writer threads; their standalone costs are measured too (reader alone,
writer alone), to show how much the threads hide.

Stylisers: ``identity`` (pipeline overhead only), ``wct`` (arbitrary style with the
installed WCT decoders, relu2_1 + relu1_1), ``fast:NAME`` (a shipped feed-forward model).

Memory: peak RSS of a child process rendering a synthetic 640×360 clip of N and 10·N
frames (identity styliser, flow and blending on) — it must not grow with the length.

Usage::

    nice -n 10 python benchmarks/bench_pipeline.py --frames 100 --stylisers identity wct
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from vidstyle.config import TemporalConfig
from vidstyle.flow import get_estimator
from vidstyle.media.reader import open_frames
from vidstyle.media.writer import VideoWriter
from vidstyle.pipeline import run_pipeline
from vidstyle.stylise.base import Styliser

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
STYLE = SHARED / "registry/paintings/starry_night.jpg"
CLIPS = {"640x360": (SHARED / "data/clips/chaplin.mp4", None), "1280x720": (SHARED / "data/clips/bbb_pan.mp4", None)}


class Identity(Styliser):
    def stylise(self, frames, state=None):
        return frames


def make_styliser(name: str) -> Styliser:
    if name == "identity":
        return Identity()
    if name == "wct":
        from vidstyle.stylise.arbitrary import ArbitraryStyliser

        return ArbitraryStyliser([STYLE], method="wct", levels=("relu2_1", "relu1_1"))
    if name.startswith("magenta:"):
        from vidstyle.stylise.magenta import MagentaStyliser

        return MagentaStyliser([name.split(":", 1)[1]])
    if name.startswith("fast:"):
        from vidstyle.stylise.feedforward import FeedForwardStyliser

        return FeedForwardStyliser(name.split(":", 1)[1])
    raise SystemExit(f"unknown styliser {name}")


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM; unlike ru_maxrss it is not inherited across fork+exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(clip: Path, styliser: Styliser, frames: int | None, out: Path, flow: bool = True) -> dict:
    """Render the first ``frames`` frames (None: all) through the pipeline; stats as a flat dict."""
    with open_frames(clip, batch_size=4, frames=(0, frames) if frames else None) as reader, \
            VideoWriter(out, reader.info, preset="medium", force=True) as writer:
        stats = run_pipeline(reader, writer, styliser, flow_estimator=get_estimator("dis") if flow else None,
                             temporal_cfg=TemporalConfig(), progress=False)
    return {"frames": stats.processed, "fps": stats.fps, **{f"{k}_ms": v for k, v in stats.stage_ms.items()}}


def standalone(clip: Path, frames: int, out: Path) -> tuple[float, float]:
    """(decode ms/frame with the reader alone, encode ms/frame with a synchronous writer alone)."""
    kept = []
    t = time.perf_counter()
    with open_frames(clip, batch_size=4, frames=(0, frames)) as reader:
        info = reader.info
        for batch in reader:
            kept.append((batch.frames, batch.pts))
    decode = (time.perf_counter() - t) * 1000 / frames
    t = time.perf_counter()
    with VideoWriter(out, info, force=True, threaded=False) as writer:
        for f, pts in kept:
            writer.write(f, pts)
    encode = (time.perf_counter() - t) * 1000 / frames
    return decode, encode


def make_long_clip(path: Path, frames: int) -> Path:
    """A synthetic 640×360 clip with audio (made in the parent, so the child's memory is the pipeline's)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from clips import make_clip

    return make_clip(path, n_frames=frames, size=(640, 360), motion=(1, 0), audio=True)


def child_rss(clip: Path) -> None:
    """Child process: render ``clip`` (identity styliser, flow + blend on) and print its peak RSS (MB)."""
    with tempfile.TemporaryDirectory() as tmp:
        base = peak_rss_mb()
        stats = run(clip, Identity(), None, Path(tmp) / "out.mp4")
        print(json.dumps({"frames": stats["frames"], "peak_rss_mb": peak_rss_mb(), "rss_before_mb": base}))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--stylisers", nargs="*", default=["identity", "wct"])
    p.add_argument("--sizes", nargs="*", default=list(CLIPS))
    p.add_argument("--rss-frames", type=int, default=40, help="N for the N vs 10·N memory test (0 skips it)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: on the shared, overloaded 2-core machine 2 threads were 5-20x slower)")
    p.add_argument("--child-rss", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.child_rss:
        child_rss(args.child_rss)
        return
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mp4"
        for size in args.sizes:
            clip = CLIPS[size][0]
            if not clip.exists():
                print(f"skip {clip}: not available")
                continue
            decode, encode = standalone(clip, min(args.frames, 48), out)
            for name in args.stylisers:
                styliser = make_styliser(name)
                run(clip, styliser, 5, out)  # warm-up: allocator, DIS, encoder, first-shape costs
                r = run(clip, styliser, args.frames, out)
                r.update(size=size, clip=clip.name, styliser=name, decode_alone_ms=decode, encode_alone_ms=encode,
                         peak_rss_mb=peak_rss_mb())
                rows.append(r)
                print(json.dumps(r), flush=True)
    print("\n| size | clip | styliser | frames | decode wait | flow | stylise | blend | encode wait | end-to-end fps |"
          " decode alone | encode alone | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']} | {r['clip']} | {r['styliser']} | {r['frames']} | {r['decode_ms']:.1f} | {r['flow_ms']:.1f} | "
              f"{r['stylise_ms']:.1f} | {r['blend_ms']:.1f} | {r['encode_ms']:.1f} | {r['fps']:.2f} | "
              f"{r['decode_alone_ms']:.1f} | {r['encode_alone_ms']:.1f} | {r['peak_rss_mb']:.0f} |")
    if args.rss_frames:
        print("\n| synthetic 640×360 clip | frames rendered | peak RSS MB | RSS before rendering MB |\n|---|---|---|---|")
        with tempfile.TemporaryDirectory() as tmp:
            for n in (args.rss_frames, 10 * args.rss_frames):
                clip = make_long_clip(Path(tmp) / f"long{n}.mp4", n)
                res = subprocess.run([sys.executable, __file__, "--child-rss", str(clip), "--threads", str(args.threads)],
                                     capture_output=True, text=True, check=True)
                r = json.loads(res.stdout.strip().splitlines()[-1])
                print(f"| {n} frames | {r['frames']} | {r['peak_rss_mb']:.0f} | {r['rss_before_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
