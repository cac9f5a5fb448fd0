"""Spatial control sheet: a matte (optimisation and a feed-forward model, plain / feathered / inverted) and a doodle.

Matte: an ellipse over the cat of samples/chelsea.png. Doodle: Starry Night split into two regions (sky above a
line at 62 % of its height, village below) by a crude label map, painted into a doodle with a wavy horizon.
Reports, per output, the mean absolute difference to the photo outside the matte (should be ~0) and inside.
``--mrf W`` / ``--histogram W`` add optimisation runs with the matte and that extra loss (masked to the matte),
with seconds per iteration beside the Gram-only masked run; ``--no-doodle`` skips the (slow) doodle.

Usage: python benchmarks/bench_spatial.py --size 160 --steps 40 --sheet benchmarks/spatial_sheet.png
       python benchmarks/bench_spatial.py --size 128 --steps 30 --mrf 5 --histogram 5 --no-doodle \
           --sheet benchmarks/spatial_losses_sheet.png --json benchmarks/bench_spatial_losses.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from sheet import labelled_sheet

    from vidstyle.api import stylise_image
    from vidstyle.config import OptimiseConfig, replace
    from vidstyle.media.image import load_image, resize_long_side

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--model", default="starry-night")
    ap.add_argument("--feather", type=float, default=6.0)
    ap.add_argument("--mrf", type=float, default=0.0, help="also a masked run with --loss-mrf W")
    ap.add_argument("--histogram", type=float, default=0.0, help="also a masked run with --loss-histogram W")
    ap.add_argument("--no-doodle", action="store_true")
    ap.add_argument("--sheet", default=str(ROOT / "benchmarks" / "spatial_sheet.png"))
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "bench_spatial.json"))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_spatial_"))
    content_p, style_p = ROOT / "samples" / "chelsea.png", ROOT / "samples" / "starry_night.jpg"
    w, h = Image.open(content_p).size
    yy, xx = np.mgrid[0:h, 0:w]
    ellipse = (((xx - 0.52 * w) / (0.3 * w)) ** 2 + ((yy - 0.5 * h) / (0.45 * h)) ** 2 <= 1).astype(np.uint8) * 255
    matte_p = tmp / "matte.png"
    Image.fromarray(ellipse).save(matte_p)
    cfg = OptimiseConfig(size=args.size, steps=args.steps, scales=1)
    photo = resize_long_side(load_image(content_p), args.size)
    inside = torch.nn.functional.interpolate(torch.from_numpy(ellipse / 255.0).float()[None, None], size=photo.shape[-2:],
                                             mode="area")[0, 0]
    results, tiles = [], [("photo", photo), ("matte", inside.expand(1, 3, *inside.shape))]
    extra = [(f"optimise --mask --loss-{k} {w:g}", dict(method="optimise", mask=matte_p, cfg=replace(cfg, **{f"{k}_weight": w})))
             for k, w in (("mrf", args.mrf), ("histogram", args.histogram)) if w > 0]
    runs = [("optimise --mask", dict(method="optimise", mask=matte_p)), *extra,
            (f"optimise --mask --feather {args.feather:g}", dict(method="optimise", mask=matte_p, feather=args.feather)),
            (f"{args.model} --mask --feather {args.feather:g}", dict(method="fast", model=args.model, mask=matte_p, feather=args.feather)),
            (f"{args.model} --mask --invert-mask", dict(method="fast", model=args.model, mask=matte_p, invert_mask=True))]
    for name, kw in runs:
        t0 = time.perf_counter()
        method, model, run_cfg = kw.pop("method"), kw.pop("model", None), kw.pop("cfg", cfg)
        out = stylise_image(content_p, [style_p], None, run_cfg, device="cpu", progress=False, method=method, model=model, **kw)
        diff = (out - photo).abs().mean(1)[0]
        sel = inside > 0.99 if not kw.get("invert_mask") else inside < 0.01
        far = (inside < 0.01) if not kw.get("invert_mask") else (inside > 0.99)
        seconds = time.perf_counter() - t0
        r = {"run": name, "seconds": round(seconds, 1), "mad_inside": round(float(diff[sel].mean()), 4),
             "mad_outside": round(float(diff[far].mean()), 5)}
        if method == "optimise":
            r["seconds_per_iteration"] = round(seconds / run_cfg.steps, 2)
        print(json.dumps(r), flush=True)
        results.append(r)
        tiles.append((f"{name}|in {r['mad_inside']:.3f} out {r['mad_outside']:.4f}", out))
    if args.no_doodle:
        labelled_sheet([tiles], args.sheet)
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2, default=str) + "\n")
        print(f"wrote {args.sheet} and {args.json}")
        return
    # doodle: label map of the style (sky / village) and a doodle with a wavy horizon
    sw, sh = Image.open(style_p).size
    sl = np.zeros((sh, sw, 3), np.uint8)
    sl[: int(0.62 * sh)] = (0, 0, 255)
    sl[int(0.62 * sh):] = (0, 255, 0)
    style_labels = tmp / "style_labels.png"
    Image.fromarray(sl).save(style_labels)
    dw, dh = 3 * args.size // 2, args.size
    doodle = np.zeros((dh, dw, 3), np.uint8)
    for x in range(dw):
        horizon = int(dh * (0.45 + 0.2 * math.sin(2 * math.pi * x / dw * 1.5)))
        doodle[:horizon, x] = (0, 0, 255)
        doodle[horizon:, x] = (0, 255, 0)
    doodle_p = tmp / "doodle.png"
    Image.fromarray(doodle).save(doodle_p)
    t0 = time.perf_counter()
    dcfg = OptimiseConfig(size=max(dw, dh), steps=args.steps * 2, scales=2)
    out = stylise_image(doodle_p, [style_p], None, dcfg, device="cpu", progress=False, style_masks=[style_labels], doodle=True)
    results.append({"run": "doodle", "seconds": round(time.perf_counter() - t0, 1), "steps": dcfg.steps, "scales": 2})
    print(json.dumps(results[-1]), flush=True)
    row2 = [("style labels (sky/village)", resize_long_side(torch.from_numpy(sl).permute(2, 0, 1)[None].float() / 255, args.size)),
            ("style", resize_long_side(load_image(style_p), args.size)),
            ("doodle", torch.from_numpy(doodle).permute(2, 0, 1)[None].float() / 255), ("--doodle result", out)]
    labelled_sheet([tiles, row2], args.sheet)
    Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2, default=str) + "\n")
    print(f"wrote {args.sheet} and {args.json}")


if __name__ == "__main__":
    main()
