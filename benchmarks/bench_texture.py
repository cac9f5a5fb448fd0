"""Texture networks (Ulyanov et al. 2016) vs texture synthesis by optimisation (`vidstyle texture`), side by side.

For each size, runs both CLIs as subprocesses (peak RSS and CPU time of each from wait4 in a small launcher; wall time
includes Python start-up and, for optimisation, loading VGG-19), times the synthesis itself in-process
(network: median of 3 forward passes; optimisation: its process's wall time), and scores every output with METRICS.md's
style distance and normalised style error (vidstyle.metrics) against the texture image resized to the
output's size and to the network's training style size. Writes a labelled sheet.

Usage: python benchmarks/bench_texture.py --model starry-night-texture --texture samples/starry_night.jpg \
           --sizes 256 512 --steps 50 --sheet benchmarks/texture_sheet.png --json benchmarks/bench_texture.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


#: A small launcher: forks, runs the command, and reports the command's ru_maxrss. The benchmark cannot take wait4's
#: ru_maxrss of its own children: Linux carries the parent's peak RSS over fork+exec into the child's, so every
#: child of this process (which holds VGG-19) reported at least this process's peak (a bare `python -c pass` child
#: of a 400 MB parent: 909 MB). The launcher is small, so its child's figure is the command's own.
_LAUNCH = """import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write(f'LAUNCHED {os.waitstatus_to_exitcode(status)} {usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}\\n')
"""


def child(args: list[str]) -> dict:
    """Run ``python -m vidstyle *args``; its wall time, CPU time and peak RSS (ru_maxrss, through :data:`_LAUNCH`)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _LAUNCH, sys.executable, "-m", "vidstyle", *args], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    wall = time.perf_counter() - t0
    err = proc.stderr.decode()
    report = [line.split() for line in err.splitlines() if line.startswith("LAUNCHED ")]
    if not report or report[-1][1] != "0":
        raise SystemExit(f"vidstyle {' '.join(args)} failed: {err.strip().splitlines()[-1:]}")
    _, _, maxrss_kb, cpu = report[-1]
    return {"wall_s": round(wall, 2), "cpu_s": round(float(cpu), 2), "peak_rss_mb": round(int(maxrss_kb) / 1024, 1)}


def main() -> None:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from sheet import labelled_sheet

    from vidstyle.config import STYLE_LAYERS
    from vidstyle.media.image import load_image
    from vidstyle.metrics import normalised_style_error, style_distance
    from vidstyle.nets.vgg import load_vgg
    from vidstyle.train.texture import load_texture_net

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", help="texture network(s); repeat")
    ap.add_argument("--texture", action="append", help="its texture image (same order as --model)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--steps", type=int, default=50, help="optimisation L-BFGS iterations (finest scale)")
    ap.add_argument("--scales", type=int, default=1)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="network samples shown on the sheet")
    ap.add_argument("--sheet", default=str(ROOT / "benchmarks" / "texture_sheet.png"))
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "bench_texture.json"))
    args = ap.parse_args()
    models = args.model or ["starry-night-texture"]
    textures = args.texture or [str(ROOT / "samples" / "starry_night.jpg")]
    encoder = load_vgg(STYLE_LAYERS)
    results, rows = [], []
    tmp = Path(tempfile.mkdtemp(prefix="bench_texture_"))
    for model, texture in zip(models, textures):
        net, card = load_texture_net(model)
        train_style = int(card["training"]["style_size"])
        style = load_image(texture)
        for size in args.sizes:
            row_tiles = []
            opt_png, net_png = tmp / f"opt_{size}.png", tmp / f"net_{size}.png"
            opt_child = child(["texture", texture, "-o", str(opt_png), "--size", str(size),
                               "--steps", str(args.steps), "--scales", str(args.scales), "--quiet", "--force"])
            net_child = child(["texture", "--model", model, "-o", str(net_png), "--size", str(size),
                               "--seed", "1", "--force"])
            opt = load_image(opt_png)
            opt_s = opt_child["wall_s"]  # the whole process: optimisation dominates it
            times = []
            samples = {}
            with torch.inference_mode():
                for seed in [1, *args.seeds][:3]:
                    t0 = time.perf_counter()
                    samples[seed] = net.sample(1, size, size, seed=seed)
                    times.append(time.perf_counter() - t0)
            net_s = statistics.median(times)
            for kind, img, synth_s, proc in (("optimisation", opt, opt_s, opt_child), ("network", samples[1], net_s, net_child)):
                with torch.no_grad():
                    r = {"model": model, "texture": Path(texture).name, "size": size, "method": kind,
                         "synthesis_s": round(synth_s, 3), **{f"process_{k}": v for k, v in proc.items()},
                         "style_distance@size": float(style_distance(img, style, encoder, size=size)[0]),
                         "nse@size": round(float(normalised_style_error(img, style, encoder, size=size)[0]), 4),
                         f"style_distance@{train_style}": float(style_distance(img, style, encoder, size=train_style)[0]),
                         f"nse@{train_style}": round(float(normalised_style_error(img, style, encoder, size=train_style)[0]), 4)}
                print(json.dumps(r), flush=True)
                results.append(r)
                row_tiles.append((f"{kind} {size}px|{synth_s:.2f}s NSE {r['nse@size']:.3f}/{r[f'nse@{train_style}']:.3f}", img))
            for seed in args.seeds:
                if seed != 1:
                    row_tiles.append((f"network seed {seed}", samples.get(seed, net.sample(1, size, size, seed=seed))))
            rows.append(row_tiles)
    labelled_sheet(rows, args.sheet)
    Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2) + "\n")
    print(f"wrote {args.sheet} and {args.json}")


if __name__ == "__main__":
    main()
