"""Temporal consistency on real clips: E_warp (k=1, k=10; shared/METRICS.md) and the flicker ratio.

For each clip (short excerpt, small size) four clips are measured against the input:

* ``input``      — the input's own E_warp (its floor: flow error, occlusions, noise);
* ``per-frame``  — Gatys optimisation of every frame on its own (:class:`OptimiseStyliser`);
* ``blend``      — the same per-frame outputs with the pipeline's flow-guided blending
                   (``--temporal-strength``, :mod:`vidstyle.temporal`);
* ``ruder``      — Ruder et al. 2016 optimisation (:class:`RuderStyliser`).
* ``multipass``   — their multi-pass algorithm over windows of 4 frames (``--passes N``, :class:`MultiPassStyliser`).

The per-frame and blend rows come out of ONE :func:`vidstyle.pipeline.run_pipeline` pass
(the per-frame outputs are recorded before blending), the Ruder row out of a second
pass. Metrics are the project's one implementation, :mod:`vidstyle.metrics`.

Usage::

    nice -n 10 python benchmarks/bench_temporal.py --size 128 --frames 16 --steps 16 \\
        --strip benchmarks/temporal_strip.png
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from vidstyle.config import OptimiseConfig, TemporalConfig
from vidstyle.flow import get_estimator
from vidstyle.media.image import load_image, save_image
from vidstyle.media.reader import open_frames
from vidstyle.metrics import TemporalMeter
from vidstyle.pipeline import run_pipeline
from vidstyle.stylise.base import Styliser
from vidstyle.stylise.ruder import OptimiseStyliser, RuderStyliser

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEFAULT_CLIPS = ("data/video/blackswan", "data/video/breakdance", "data/clips/bbb_pan.mp4",
                 "data/clips/fire2_handheld_rot180.mp4")


class Recording(Styliser):
    """Wraps a per-frame styliser and keeps a copy of every output (before the pipeline blends)."""

    def __init__(self, inner: Styliser) -> None:
        self.inner, self.outputs = inner, []
        self.temporal = inner.temporal

    def stylise(self, frames, state=None):
        out = self.inner.stylise(frames, state)
        self.outputs.append(out.cpu())
        return out

    def reset(self):
        self.inner.reset()


class Collect:
    """A writer that keeps the frames in memory (a short excerpt only)."""

    def __init__(self) -> None:
        self.frames: list[torch.Tensor] = []

    def write(self, frames, pts):
        self.frames.append(frames.cpu())


def render(path: Path, styliser: Styliser, args, temporal: TemporalConfig):
    """Run the real pipeline over an excerpt; returns (inputs, outputs, stats) as ``T×3×H×W``."""
    with open_frames(path, size=args.size, batch_size=4, frames=(args.start, args.start + args.frames)) as reader:
        inputs, sink = Collect(), Collect()
        stats = run_pipeline(_Teeing(reader, inputs), sink, styliser, flow_estimator=get_estimator("dis"),
                             temporal_cfg=temporal, progress=False)
    return torch.cat(inputs.frames), torch.cat(sink.frames), stats


class _Teeing:
    """Iterate a reader and keep a copy of its input frames."""

    def __init__(self, reader, keep: Collect) -> None:
        self.reader, self.keep = reader, keep
        self.info, self.device = reader.info, reader.device

    def __iter__(self):
        for batch in self.reader:
            self.keep.write(batch.frames, batch.pts)
            yield batch

    @property
    def stopped_early(self):
        return self.reader.stopped_early


def measure(inputs: torch.Tensor, outputs: list[torch.Tensor], ks=(1, 10)) -> dict:
    meter = TemporalMeter(len(outputs), ks, "dis", cuts=None)
    for t in range(len(inputs)):
        meter.update(inputs[t:t + 1], [o[t:t + 1] for o in outputs])
    return meter.result()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clips", nargs="*", default=list(DEFAULT_CLIPS), help="paths relative to ../shared (or absolute)")
    p.add_argument("--style", default=str(SHARED / "registry/paintings/starry_night.jpg"))
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--later-steps", type=int, default=8)
    p.add_argument("--strength", type=float, default=TemporalConfig().strength)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-ruder", action="store_true")
    p.add_argument("--passes", type=int, default=1,
                   help="> 1 also renders Ruder's multi-pass algorithm (MultiPassStyliser), column 'multipass'")
    p.add_argument("--pass-steps", type=int, default=None)
    p.add_argument("--per-frame", default="optimise",
                   help="per-frame styliser: optimise (Gatys) or fast:MODEL (a shipped feed-forward network)")
    p.add_argument("--strip", type=Path, default=None, help="PNG: input | per-frame | blend | ruder of the first clip")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    style = load_image(args.style)
    cfg = OptimiseConfig(steps=args.steps, scales=1)
    tcfg = TemporalConfig(strength=args.strength, later_steps=args.later_steps)
    from vidstyle.nets.vgg import load_vgg

    encoder = load_vgg(cfg.style_layers + cfg.content_layers)
    rows = []
    for i, clip in enumerate(args.clips):
        path = Path(clip) if Path(clip).is_absolute() else SHARED / clip
        if not path.exists():
            print(f"skip {path}: not available", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        if args.per_frame.startswith("fast:"):
            from vidstyle.stylise.feedforward import FeedForwardStyliser

            recorder = Recording(FeedForwardStyliser(args.per_frame.split(":", 1)[1]))
        else:
            recorder = Recording(OptimiseStyliser([style], cfg, encoder=encoder))
        inputs, blended, _ = render(path, recorder, args, tcfg)
        per_frame = torch.cat(recorder.outputs)
        outputs, names = [per_frame, blended], ["per-frame", "blend"]
        if not args.no_ruder:
            _, ruder, _ = render(path, RuderStyliser([style], cfg, tcfg, encoder=encoder), args, tcfg)
            outputs.append(ruder)
            names.append("ruder")
        if args.passes > 1:
            from vidstyle.stylise.multipass import MultiPassStyliser

            mcfg = TemporalConfig(later_steps=args.later_steps, passes=args.passes, pass_steps=args.pass_steps)
            mp = MultiPassStyliser([style], cfg, mcfg, get_estimator("dis"), encoder=encoder)
            _, multi, _ = render(path, mp, args, mcfg)
            outputs.append(multi)
            names.append("multipass")
        res = measure(inputs, outputs)
        row = {"clip": path.name, "frames": len(inputs), "size": list(inputs.shape[-2:][::-1]), "cuts": res["cuts"],
               "seconds": round(time.perf_counter() - t0, 1)}
        for k, w in res["warping_error"].items():
            row[f"input_k{k}"] = w["input"]["mean"]
            row[f"pairs_k{k}"] = w["pairs"]
            row[f"excluded_k{k}"] = w["excluded_at_cuts"]
            for name, o in zip(names, w["outputs"]):
                row[f"{name}_k{k}"] = o["mean"]
        for name, o in zip(names, res["flicker"]["outputs"]):
            row[f"{name}_flicker"] = o["ratio"]
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.strip is not None and i == 0:
            t = len(inputs) // 2
            tiles = [inputs[t:t + 1]] + [o[t:t + 1] for o in outputs]
            # second row: |O_t − O_{t−1}| ×4 (flicker made visible), input first
            diffs = [((x[t:t + 1] - x[t - 1:t]).abs() * 4).clamp(0, 1) for x in [inputs, *outputs]]
            strip = torch.cat([torch.cat(tiles, dim=3), torch.cat(diffs, dim=3)], dim=2)
            strip = torch.nn.functional.interpolate(strip, scale_factor=2, mode="nearest")  # tiny frames: enlarge
            save_image(strip, args.strip, force=True)
    # summary over clips
    def mean(key):
        vals = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
        return sum(vals) / len(vals) if vals else None

    names = ["per-frame", "blend"] + ([] if args.no_ruder else ["ruder"]) + (["multipass"] if args.passes > 1 else [])
    print(f"\nmachine: {platform.machine()}, torch threads {args.threads}; {len(rows)} clips, {args.frames} frames, "
          f"long side {args.size}, per-frame {args.per_frame}, Gatys {args.steps} steps (Ruder later frames {args.later_steps}), "
          f"blend strength {args.strength}")
    print("| clip | input k1 | " + " | ".join(f"{n} k1" for n in names) + " | input k10 | "
          + " | ".join(f"{n} k10" for n in names) + " | " + " | ".join(f"{n} flicker" for n in names) + " |")
    print("|" + "---|" * (3 + 3 * len(names)))
    summary = [{"clip": "**mean**", **{k: mean(k) for k in rows[0] if k != "clip"}}] if rows else []

    def cell(r: dict, key: str) -> str:
        v = r.get(key)
        return "–" if not isinstance(v, (int, float)) else f"{v:.3f}" if "flicker" in key else f"{v:.5f}"

    for r in rows + summary:
        print(f"| {r['clip']} | {cell(r, 'input_k1')} | " + " | ".join(cell(r, f'{n}_k1') for n in names)
              + f" | {cell(r, 'input_k10')} | " + " | ".join(cell(r, f'{n}_k10') for n in names) + " | "
              + " | ".join(cell(r, f'{n}_flicker') for n in names) + " |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
