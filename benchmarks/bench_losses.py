"""Extra losses for Gatys optimisation, each on vs off: MRF (Li & Wand 2016), histogram (Risser et al. 2017),
Laplacian (Li et al. 2017).

Same photo, style, size, seed and iterations for every configuration; reports per configuration the wall and CPU
time per L-BFGS iteration and METRICS.md's distances of the output (vidstyle.metrics: style distance with the style
image at the output's long side, normalised style error beside it, relu4_2 content distance, SSIM of luma), and
writes a labelled contact sheet (content | style | each output).

Usage: python benchmarks/bench_losses.py --size 256 --steps 80 --sheet benchmarks/losses_sheet.png --json benchmarks/bench_losses.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    import sys

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from sheet import labelled_sheet

    from vidstyle.config import STYLE_LAYERS, OptimiseConfig
    from vidstyle.media.image import load_image, resize_long_side
    from vidstyle.metrics import content_distance, normalised_style_error, ssim_luma, style_distance
    from vidstyle.nets.vgg import load_vgg
    from vidstyle.stylise.optimise import stylise_still

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--content", default=str(ROOT / "samples" / "chelsea.png"))
    ap.add_argument("--style", default=str(ROOT / "samples" / "starry_night.jpg"))
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--scales", type=int, default=1)
    ap.add_argument("--mrf", type=float, default=1.0, help="weight of the MRF loss when on")
    ap.add_argument("--histogram", type=float, default=1.0)
    ap.add_argument("--laplacian", type=float, default=10.0)
    ap.add_argument("--only", nargs="*", help="subset of configurations (names below)")
    ap.add_argument("--sheet", default=str(ROOT / "benchmarks" / "losses_sheet.png"))
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "bench_losses.json"))
    args = ap.parse_args()

    base = OptimiseConfig(size=args.size, steps=args.steps, scales=args.scales, seed=0)
    configs = {
        "gram (baseline)": base,
        f"+ mrf {args.mrf:g}": OptimiseConfig(**{**base.__dict__, "mrf_weight": args.mrf}),
        f"+ histogram {args.histogram:g}": OptimiseConfig(**{**base.__dict__, "histogram_weight": args.histogram}),
        f"+ laplacian {args.laplacian:g}": OptimiseConfig(**{**base.__dict__, "laplacian_weight": args.laplacian}),
    }
    if args.only:
        configs = {k: v for k, v in configs.items() if any(k.startswith(o) or o in k for o in args.only)}
    content = resize_long_side(load_image(args.content), args.size)
    style = load_image(args.style)
    encoder = load_vgg(STYLE_LAYERS + ("relu4_2",))
    results = []
    tiles = [("content", content), ("style", resize_long_side(style, args.size))]
    for name, cfg in configs.items():
        torch.manual_seed(0)
        t0, c0 = time.perf_counter(), time.process_time()
        out = stylise_still(content, [style], encoder, cfg)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        iters = cfg.steps * len({s for s in [cfg.size]}) if cfg.scales == 1 else None
        with torch.no_grad():
            sd = float(style_distance(out, style, encoder, size=args.size)[0])
            nse = float(normalised_style_error(out, style, encoder, size=args.size)[0])
            cd = float(content_distance(out, content, encoder)[0])
            ss = float(ssim_luma(content, out)[0])
        row = {"config": name, "steps": cfg.steps, "scales": cfg.scales, "size": list(out.shape[-2:]),
               "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "wall_s_per_iter": round(wall / cfg.steps, 3) if iters else None,
               "cpu_s_per_iter": round(cpu / cfg.steps, 3) if iters else None, "style_distance": sd,
               "normalised_style_error": round(nse, 4), "content_distance": cd, "ssim_luma": round(ss, 4)}
        print(json.dumps(row), flush=True)
        results.append(row)
        tiles.append((f"{name}|NSE {nse:.3f} SSIM {ss:.2f} {wall / cfg.steps:.2f}s/it", out))
    labelled_sheet([tiles], args.sheet)
    Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2) + "\n")
    print(f"wrote {args.sheet} and {args.json}")


if __name__ == "__main__":
    main()
