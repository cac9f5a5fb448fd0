"""Cost of masking the MRF and histogram losses: one loss evaluation + backward, masked vs unmasked, alternated.

Builds the optimiser's criterion (vidstyle.stylise.optimise.GatysCriterion) for samples/chelsea.png at long side
``--size`` with samples/starry_night.jpg, with and without the elliptical matte of bench_spatial.py (one region,
the whole style image), for the Gram loss alone, + MRF and + histogram, and times ``criterion(x)["total"]
.backward()`` round-robin over the configurations (``--rounds`` rounds; median per configuration), so machine
load drifts hit every configuration alike.

Usage: python benchmarks/bench_masked_losses.py --size 128 --rounds 7
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from vidstyle.config import OptimiseConfig, replace
    from vidstyle.losses_extra import downsample_masks
    from vidstyle.media.image import load_image, resize_long_side
    from vidstyle.nets.vgg import load_vgg
    from vidstyle.stylise.optimise import GatysCriterion, extra_targets, region_grams, style_grams

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--weight", type=float, default=5.0)
    args = ap.parse_args()
    torch.set_num_threads(2)
    base = OptimiseConfig(size=args.size, scales=1)
    content = resize_long_side(load_image(ROOT / "samples" / "chelsea.png"), args.size)
    style = load_image(ROOT / "samples" / "starry_night.jpg")
    h, w = content.shape[-2:]
    yy, xx = np.mgrid[0:h, 0:w]
    ellipse = (((xx - 0.52 * w) / (0.3 * w)) ** 2 + ((yy - 0.5 * h) / (0.45 * h)) ** 2 <= 1).astype(np.float32)
    matte = torch.from_numpy(ellipse)[None, None]
    encoder = load_vgg(base.style_layers + base.content_layers + base.mrf_layers + base.histogram_layers, padding="reflect")
    side = max(h, w)
    with torch.no_grad():
        content_targets = encoder(content, base.content_layers)
    criteria = {}
    for loss in ("gram", "mrf", "histogram"):
        cfg = base if loss == "gram" else replace(base, **{f"{loss}_weight": args.weight})
        for masked in (False, True):
            style_mask = [torch.ones(1, 1, *style.shape[-2:])] if masked else None
            grams = (region_grams(encoder, [style], style_mask, [1.0], cfg.style_layers, side) if masked
                     else style_grams(encoder, [style], [1.0], cfg.style_layers, side))
            extras = extra_targets(encoder, [style], cfg, side, content, style_mask)
            regions = {"region_masks": downsample_masks(matte, (h, w)), "region_weights": [1.0]} if masked else {}
            criteria[f"{loss}{' masked' if masked else ''}"] = GatysCriterion(encoder, cfg, content_targets, grams,
                                                                              **extras, **regions)
    times: dict[str, list[float]] = {k: [] for k in criteria}
    x0 = content.clone()
    for _ in range(args.rounds):
        for name, crit in criteria.items():
            x = x0.clone().requires_grad_(True)
            t0 = time.perf_counter()
            crit(x)["total"].backward()
            times[name].append(time.perf_counter() - t0)
    results = {k: round(statistics.median(v), 4) for k, v in times.items()}
    print(json.dumps({"size": [h, w], "rounds": args.rounds, "median_s": results}))


if __name__ == "__main__":
    main()
