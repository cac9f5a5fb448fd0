"""Do texture-network samples tile? 2×2 tilings of samples and their wrap-around seam statistics.

For each model, one sample (seed 1) is drawn with the network's own padding and with the other padding (the
same weights: padding modules hold no parameters), and, for a tileable network, also at a side that is no
multiple of the noise pyramid's (resampled with wrap-around by ``TextureNet.sample``). Seam ratio
(``vidstyle.metrics.wrap_seam_ratio``) = mean absolute RGB difference across the wrap-around seams divided by the
mean absolute difference between interior neighbours: ≈ 1 means the seam looks like any other pixel step, ≫ 1 a
visible seam. Writes a sheet of the 2×2 tilings and a JSON file.

Usage: python benchmarks/bench_tileable.py --model kandinsky-texture --model starry-night-texture --size 256 \
           --sheet benchmarks/tileable_sheet.png --json benchmarks/bench_tileable.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def tile2x2(x: torch.Tensor) -> torch.Tensor:
    return x.repeat(1, 1, 2, 2)


def main() -> None:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from sheet import labelled_sheet

    from vidstyle.metrics import wrap_seam_ratio
    from vidstyle.nets.texture import with_padding
    from vidstyle.train.texture import load_texture_net

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", help="texture network(s); repeat")
    ap.add_argument("--size", type=int, default=256, help="side of each sample (the tiling is twice that)")
    ap.add_argument("--odd-size", type=int, default=250, help="a side that is no multiple of 16, for tileable nets")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sheet", default=str(ROOT / "benchmarks" / "tileable_sheet.png"))
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "bench_tileable.json"))
    args = ap.parse_args()
    results, rows = [], []
    for model in args.model or ["kandinsky-texture", "starry-night-texture"]:
        net, _ = load_texture_net(model)
        runs = [(net, args.size, "trained"), (with_padding(net, not net.spec.tileable), args.size, "swapped")]
        if net.spec.tileable:
            runs.append((net, args.odd_size, "trained"))
        row = []
        for n, size, which in runs:
            with torch.inference_mode():
                x = n.sample(1, size, size, seed=args.seed)
            padding = "circular" if n.spec.tileable else "reflect"
            r = {"model": model, "padding": padding, "trained_with": "circular" if net.spec.tileable else "reflect",
                 "size": size, **{k: round(v, 4) for k, v in wrap_seam_ratio(x).items()}}
            print(json.dumps(r), flush=True)
            results.append(r)
            label = f"{model} {size}px, {padding} padding{' (as trained)' if which == 'trained' else ' (not trained so)'}"
            row.append((f"{label}|2x2 tiled: seam ratio {r['seam_ratio']:.2f}", tile2x2(x)))
        rows.append(row)
    labelled_sheet(rows, args.sheet)
    Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2) + "\n")
    print(f"wrote {args.sheet} and {args.json}")


if __name__ == "__main__":
    main()
