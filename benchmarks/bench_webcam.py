"""Live mode benchmark: achieved fps, dropped frames, latency (capture → sink) of ``vidstyle webcam``'s loop.

Headless, file source played at its native rate (25 fps for the default clips), a
lite feed-forward model: the first trained ``arch=lite`` model in ``models/`` if
there is one, otherwise a randomly initialised lite net (same architecture and
cost; the output is just not a painting) — the script prints which.

    python benchmarks/bench_webcam.py                      # all configurations, 20 s each
    python benchmarks/bench_webcam.py --seconds 10 --only 640 --threads 1
    python benchmarks/bench_webcam.py --record /tmp/live.mp4   # also record 10 s at 640×360, save a frame PNG

Numbers follow shared/METRICS.md: torch threads = cores like ``vidstyle webcam`` (or ``--threads``), the first
5 rendered frames are warm-up and excluded. A file source paced at 25 fps caps the
achieved fps at 25; ``capacity fps`` = 1000 / (median wall time per frame; with ``--pipelined``, of the
slower stage) is what the loop could sustain with a faster source on the machine as loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

# As `vidstyle webcam` does: OpenMP workers sleep instead of spinning while they wait (read by libgomp when
# torch loads, hence before the import). Set OMP_WAIT_POLICY=ACTIVE to measure the spinning default.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
WARMUP = 5
COLUMNS = ("stylise_ms", "smooth_ms", "upsample_ms", "output_ms", "infer_cpu_ms", "render_cpu_ms", "idle_2core_fps")


#: ``--precision``: as ``vidstyle webcam --precision`` (default: LiveConfig.precision, auto = bf16 where native).
PRECISION = "auto"


def lite_styliser(device: str = "cpu"):
    """(styliser, description): a trained lite model from models/ if present, else a random-init lite net."""
    from vidstyle.weights import list_models, write_card
    from vidstyle.nets.transformer import build_net
    from vidstyle.stylise.feedforward import FeedForwardStyliser
    from vidstyle.weights import save_safetensors

    from vidstyle.commands.webcam import live_precision

    precision = live_precision(PRECISION)
    trained = [m for m in list_models() if m.arch == "lite"]
    if trained:
        st = FeedForwardStyliser(trained[0].path, device=device, precision=precision)
        return st, f"trained lite model {trained[0].name} ({st.precision})"
    torch.manual_seed(0)
    net = build_net("lite")
    path = Path(tempfile.mkdtemp()) / "random-lite.safetensors"
    sha = save_safetensors(net.state_dict(), path, metadata=net.spec.to_metadata())
    write_card(path, {"name": "random-lite", "arch": "lite", "weights": {"sha256": sha}})
    st = FeedForwardStyliser(path, device=device, precision=precision)
    return st, f"random-init lite net (no trained lite model in models/ yet; {st.precision})"


def pick_clip(wanted: str) -> Path:
    path = SHARED / "data" / "clips" / wanted
    if path.exists():
        return path
    fallback = SHARED / "registry" / "clips" / "bikes.mp4"
    print(f"({path} absent; using {fallback})", file=sys.stderr)
    return fallback


#: ``--style PAINTING``: benchmark the style-embedding network (any painting) instead of a lite model.
STYLE: Path | None = None
#: ``--smooth-flow-side``: LiveConfig.smooth_flow_max_side (None: its default).
SMOOTH_FLOW_SIDE: int | None = None
#: ``--generator``: as ``vidstyle webcam --generator`` (None: the default any-style lite net when installed).
GENERATOR: str | None = None


def run_config(name: str, clip: Path, size, internal, seconds: float, smooth: bool, record: Path | None = None,
               pipelined: bool = False):
    from vidstyle.config import LiveConfig
    from vidstyle.live import LiveLoop
    from vidstyle.media.live import RecordSink, open_source

    if STYLE is not None:  # exactly what `vidstyle webcam --style STYLE [--generator G]` builds
        from vidstyle.commands.webcam import load_live_styles

        stylisers, names = load_live_styles([STYLE], "cpu", GENERATOR, PRECISION)
        styliser, model = stylisers[0], f"any-style generator, {names[0]} ({stylisers[0].precision})"
    else:
        styliser, model = lite_styliser()
    side = {} if SMOOTH_FLOW_SIDE is None else {"smooth_flow_max_side": SMOOTH_FLOW_SIDE or None}  # 0: full size
    cfg = LiveConfig(size=size, internal_size=internal, smooth=smooth, **side)
    source = open_source(str(clip), loop=True)
    recorder = RecordSink(record, size, fps=source.fps or 25, force=True, preset=cfg.record_preset,
                          crf=cfg.record_crf) if record else None
    loop = LiveLoop([styliser], ["lite"], size=size, internal_size=internal, cfg=cfg)
    loop.warm_up()
    load_before = os.getloadavg()[0]
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    stats = loop.run(source, recorder=recorder, duration=seconds, pipelined=pipelined)
    cpu_s, wall_s = time.process_time() - cpu_before, time.perf_counter() - wall_before
    load_after = os.getloadavg()[0]
    r = stats.report(WARMUP)
    stage1 = r.get("input_ms", 0.0) + r.get("stylise_ms", 0.0)
    stage2 = sum(r.get(f"{k}_ms", 0.0) for k in ("smooth", "upsample", "output"))
    per_frame = max(stage1, stage2) if pipelined else stage1 + stage2  # pipelined stages overlap
    r.update(name=name, clip=clip.name, size=f"{size[0]}x{size[1]}", internal=f"{internal[0]}x{internal[1]}",
             smooth=smooth, pipelined=pipelined, threads=torch.get_num_threads(),
             omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"), seconds=seconds, model=model,
             load_before=load_before, load_after=load_after, capacity_fps=1000 / per_frame if per_frame else float("nan"),
             # CPU time of the whole process (capture/decode, inference, smoothing, encoding) per rendered frame,
             # and the share of the 2 cores it got: on a loaded machine the wall-clock numbers mostly measure the load.
             cpu_ms_per_frame=1000 * cpu_s / max(stats.frames, 1), cpu_share=cpu_s / wall_s,
             # Idle-machine upper-bound estimate: CPU times grow little with the load. All the process's CPU work
             # shared over the 2 cores; with 1 torch thread also the inference thread's own CPU time per frame.
             idle_2core_fps=min(1000 / r.get("infer_cpu_ms", float("nan")) if torch.get_num_threads() == 1 else float("inf"),
                                2000 * max(stats.frames, 1) / (1000 * cpu_s)))
    if recorder is not None:
        r["recorded_frames"] = recorder.frames
    return r


def frame_png(video: Path, png: Path, at: float = 5.0) -> None:
    """Save the frame nearest ``at`` seconds of ``video`` as a PNG (to look at the recording)."""
    import av

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        best = None
        for frame in container.decode(stream):
            t = float(frame.pts * frame.time_base)
            if best is None or abs(t - at) < best[0]:
                best = (abs(t - at), frame)
            if t > at:
                break
        best[1].to_image().save(png)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores, as vidstyle webcam)")
    parser.add_argument("--only", choices=["640", "720", "720full", "full", "small"], default=None)
    parser.add_argument("--no-smooth", action="store_true")
    parser.add_argument("--pipelined", action="store_true", help="stylise on a worker thread while rendering")
    parser.add_argument("--record", type=Path, default=None, help="record 10 s at 640×360 here and save a frame PNG")
    parser.add_argument("--json", type=Path, default=None, help="append result lines (JSON) to this file")
    parser.add_argument("--style", type=Path, default=None,
                        help="run the style-embedding network (--method magenta) with this painting instead of a lite model")
    parser.add_argument("--generator", default=None,
                        help="with --style: as `vidstyle webcam --generator` (magenta = the teacher's own generator)")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                        help="as `vidstyle webcam --precision` (auto: bf16 where the CPU has it natively)")
    parser.add_argument("--smooth-flow-side", type=int, default=None,
                        help="long side of the smoothing flow's frames (LiveConfig.smooth_flow_max_side; 0: the internal size; "
                             "default: LiveConfig's default)")
    args = parser.parse_args()
    global STYLE, GENERATOR, PRECISION, SMOOTH_FLOW_SIDE
    STYLE, GENERATOR, PRECISION = args.style, args.generator, args.precision
    if args.smooth_flow_side is not None:
        SMOOTH_FLOW_SIDE = args.smooth_flow_side

    from vidstyle.live import set_live_threads

    threads = set_live_threads(args.threads)
    print(f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {threads} thread(s), load avg {os.getloadavg()}")
    configs = {
        "640": ("640×360 display, 320×180 internal", "chaplin.mp4", (640, 360), (320, 180)),
        "full": ("640×360 display, 640×360 internal", "chaplin.mp4", (640, 360), (640, 360)),
        "small": ("640×360 display, 256×144 internal", "chaplin.mp4", (640, 360), (256, 144)),
        "720": ("1280×720 display, 320×180 internal", "bbb_pan.mp4", (1280, 720), (320, 180)),
        "720full": ("1280×720 display, 640×360 internal", "bbb_pan.mp4", (1280, 720), (640, 360)),  # issue #19's live target
    }
    keys = [args.only] if args.only else ["640", "720"]
    results = []
    if args.record is None or args.only:
        for key in keys:
            name, clip, size, internal = configs[key]
            results.append(run_config(name, pick_clip(clip), size, internal, args.seconds, not args.no_smooth,
                                      pipelined=args.pipelined))
    if args.record is not None:
        name, clip, size, internal = configs["640"]
        r = run_config(name + ", --record", pick_clip(clip), size, internal, 10.0, not args.no_smooth, args.record)
        png = args.record.with_suffix(".png")
        frame_png(args.record, png)
        r["png"] = str(png)
        results.append(r)
    for r in results:
        print(json.dumps(r))
        r = {k: r.get(k, float("nan")) for k in COLUMNS} | r  # a stalled run may lack per-stage numbers
        print(f"| {r['name']} | {'pipelined' if r['pipelined'] else 'serial'} | {r['omp_wait_policy']} | "
              f"{r['smooth']} | {r['threads']} | {r['fps']:.1f} | {r['capacity_fps']:.1f} | "
              f"{100 * r['drop_rate']:.0f}% ({int(r['dropped'])}/{int(r['captured'])}) | "
              f"{r['latency_median_ms']:.0f} | {r['latency_p95_ms']:.0f} | {r['stylise_ms']:.0f} | "
              f"{r.get('smooth_ms', 0):.0f} | {r['upsample_ms']:.0f} | {r['output_ms']:.0f} | "
              f"{r['cpu_ms_per_frame']:.0f} | {r['cpu_share']:.2f} | {r['infer_cpu_ms']:.0f} | {r['render_cpu_ms']:.0f} | "
              f"{r['idle_2core_fps']:.0f} | {r['load_before']:.1f}→{r['load_after']:.1f} |")
    if args.json:
        with args.json.open("a") as f:
            for r in results:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
