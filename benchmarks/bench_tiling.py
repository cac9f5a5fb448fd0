"""4K without running out of memory: tiled inference with shared instance-norm statistics (vidstyle.nets.tiling).

For the shipped feed-forward net (``fast``, starry-night, full Johnson width), the magenta generator and AdaIN /
WCT (``--methods adain,wct``: content statistics shared instead of instance-norm statistics), on a
content frame that is a mosaic of DAVIS frames at their native 854×480 (so a 4K frame has real 4K detail and
regions that differ — what makes per-tile statistics disagree):

* peak RSS of one frame at 1920×1080 and 3840×2160, tiled (the default auto policy / ``--tile``) and untiled —
  each case in its own subprocess (``ru_maxrss`` of that process);
* tiled vs untiled max/mean |Δ| (on [0, 1]) and seam visibility: the mean |horizontal/vertical step| on the
  seam lines (mid-overlap of neighbouring tiles) divided by the same statistic over all other lines
  (1.0 = no seam), for shared statistics (ours) and, as the control, every tile with its own statistics;
* a crop PNG across a seam intersection: untiled | tiled, shared statistics | tiled, per-tile statistics.

    nice -n 5 python benchmarks/bench_tiling.py --append
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT.parent / "shared" / "data"
STYLE = DATA / "styles" / "vangogh_starry_night.jpg"
TMP = Path("/tmp/vidstyle-bench-tiling")
SEQS = ("dog", "camel", "cows", "goat", "blackswan", "bmx-trees", "breakdance", "car-shadow", "drift-chicane",
        "drift-straight")


def mosaic(height: int, width: int) -> torch.Tensor:
    """``1×3×H×W`` in [0, 1]: DAVIS frames at native resolution, tiled row by row (one sequence per cell)."""
    from PIL import Image

    out = np.zeros((height, width, 3), np.uint8)
    k = 0
    for y in range(0, height, 480):
        for x in range(0, width, 854):
            img = np.asarray(Image.open(DATA / "video" / SEQS[k % len(SEQS)] / "00010.jpg").convert("RGB"))
            k += 1
            h, w = min(480, height - y), min(854, width - x)
            out[y:y + h, x:x + w] = img[:h, :w]
    return torch.from_numpy(out).permute(2, 0, 1)[None].float() / 255


def build(method: str, tile: int | None):
    if method in ("adain", "wct"):
        from vidstyle.stylise.arbitrary import ArbitraryStyliser

        return ArbitraryStyliser([STYLE], method=method, tile=tile)
    if method == "fast":
        from vidstyle.stylise.feedforward import FeedForwardStyliser

        return FeedForwardStyliser("starry-night", backend="torch", tile=tile)
    from vidstyle.stylise.magenta import MagentaStyliser

    return MagentaStyliser([STYLE], backend="torch", tile=tile)


def child(method: str, height: int, tile: int | None, variant: str, suffix: str = "") -> None:
    """One case in this process; prints JSON, saves the output as float16 .npy."""
    torch.set_num_threads(2)
    width = height * 16 // 9
    styliser = build(method, tile)
    x = mosaic(height, width)
    t0 = time.perf_counter()
    with torch.inference_mode():
        if variant == "per-tile":
            y = per_tile(styliser, x, tile or 1024)
        else:
            y = styliser.stylise(x)
    seconds = time.perf_counter() - t0
    out = TMP / f"{method}-{height}-{variant}{suffix}.npy"
    np.save(out, y[0].numpy().astype(np.float16))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "rss_gb": rss / 1e9, "out": str(out)}))


def per_tile(styliser, x: torch.Tensor, tile: int) -> torch.Tensor:
    """The control: the same tiles, halo and feathering, but every tile normalised by its own statistics."""
    from vidstyle.config import TILE_HALO, TILE_HALO_VGG, TILE_OVERLAP
    from vidstyle.nets.tiling import context_box, feather_window, tile_boxes

    halo = TILE_HALO_VGG if hasattr(styliser, "decoders") else TILE_HALO  # AdaIN/WCT: VGG encoder + decoder
    h, w = x.shape[-2:]
    out, weight = torch.zeros_like(x), torch.zeros(1, 1, h, w)
    saved = styliser.tile
    styliser.tile = 0  # each crop untiled, i.e. with its own statistics
    for y0, y1, x0, x1 in tile_boxes(h, w, tile, TILE_OVERLAP):
        cy0, cy1, cx0, cx1 = context_box((y0, y1, x0, x1), h, w, halo)
        win = feather_window(y1 - y0, x1 - x0, TILE_OVERLAP, y0 > 0, y1 < h, x0 > 0, x1 < w)
        y = styliser.stylise(x[..., cy0:cy1, cx0:cx1])[..., y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0]
        out[..., y0:y1, x0:x1] += y * win
        weight[..., y0:y1, x0:x1] += win
    styliser.tile = saved
    return out / weight


def run_case(method: str, height: int, tile: int | None, variant: str, stats: int | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", method, str(height), "auto" if tile is None else str(tile), variant,
           "default" if stats is None else str(stats)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["killed"])[-1], "returncode": proc.returncode}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def seam_lines(length: int, tile: int) -> list[int]:
    """Mid-overlap positions between neighbouring tiles along one axis (where a seam would be)."""
    from vidstyle.config import TILE_OVERLAP
    from vidstyle.nets.tiling import tile_starts

    starts = tile_starts(length, tile, TILE_OVERLAP)
    return [(b + a + tile) // 2 for a, b in zip(starts[:-1], starts[1:])]


def seam_ratio(img: np.ndarray, tile: int) -> float:
    """Mean |step| across the seam lines / mean |step| across every other line (both axes); ``img`` is 3×H×W."""
    img = img.astype(np.float32)
    dx = np.abs(np.diff(img, axis=2)).mean(axis=(0, 1))  # step between column c and c+1
    dy = np.abs(np.diff(img, axis=1)).mean(axis=(0, 2))
    sx = [c - 1 for c in seam_lines(img.shape[2], tile)]
    sy = [r - 1 for r in seam_lines(img.shape[1], tile)]
    seam = np.concatenate([dx[sx], dy[sy]]) if sx or sy else np.array([np.nan])
    rest = np.concatenate([np.delete(dx, sx), np.delete(dy, sy)])
    return float(seam.mean() / rest.mean())


def tile_jump(out: np.ndarray, ref: np.ndarray, tile: int) -> float:
    """How differently neighbouring tiles came out: the mean signed difference to the untiled output over each
    tile's own core (overlaps left out), then the mean |jump| of it between neighbouring tiles (per channel,
    on [0, 1]). Shared statistics shift every tile alike (jump ≈ 0); per-tile statistics do not."""
    from vidstyle.config import TILE_OVERLAP
    from vidstyle.nets.tiling import tile_span

    d = out.astype(np.float32) - ref.astype(np.float32)
    (ys, sy), (xs, sx) = (tile_span(n, tile, TILE_OVERLAP) for n in d.shape[1:])
    o = TILE_OVERLAP
    means = np.array([[d[:, y + o:y + sy - o, x + o:x + sx - o].mean(axis=(1, 2)) for x in xs] for y in ys])
    jumps = [np.abs(means[i, j] - means[i, j + 1]).mean() for i in range(len(ys)) for j in range(len(xs) - 1)]
    jumps += [np.abs(means[i, j] - means[i + 1, j]).mean() for i in range(len(ys) - 1) for j in range(len(xs))]
    return float(np.mean(jumps)) if jumps else float("nan")


def crop_strip(images: list[np.ndarray], tile: int, path: Path, side: int = 192) -> None:
    from PIL import Image

    h, w = images[0].shape[1:]
    cy = (seam_lines(h, tile) or [h // 2])[0]
    cx = (seam_lines(w, tile) or [w // 2])[0]
    y0, x0 = max(0, cy - side // 2), max(0, cx - side // 2)
    crops = [np.clip(im[:, y0:y0 + side, x0:x0 + side].astype(np.float32), 0, 1) for im in images]
    gap = np.ones((3, side, 6), np.float32)
    strip = np.concatenate([c for im in crops for c in (im, gap)][:-1], axis=2)
    Image.fromarray((strip.transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)).resize(
        (strip.shape[2] * 2, side * 2), Image.NEAREST).save(path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=5, metavar=("METHOD", "HEIGHT", "TILE", "VARIANT", "STATS"))
    parser.add_argument("--methods", default="magenta,fast")
    parser.add_argument("--heights", default="1080,2160")
    parser.add_argument("--tile", type=int, default=1024, help="tile side of the tiled cases")
    parser.add_argument("--untiled-4k", default="magenta,fast", help="methods also run untiled at 2160p")
    parser.add_argument("--stats-side", type=int, default=None, help="override TILE_STATS_SIDE")
    parser.add_argument("--append", action="store_true")
    args = parser.parse_args()
    if args.child:
        method, height, tile, variant, stats = args.child
        if stats != "default":
            import vidstyle.config

            vidstyle.config.TILE_STATS_SIDE = int(stats)
        child(method, int(height), None if tile == "auto" else int(tile), variant,
              "" if stats == "default" else f"-s{stats}")
        return
    TMP.mkdir(parents=True, exist_ok=True)
    rows, lines = [], []
    for method in args.methods.split(","):
        for height in map(int, args.heights.split(",")):
            res = {}
            for variant, tile in (("untiled", 0), ("tiled", args.tile), ("per-tile", args.tile)):
                if variant == "untiled" and height > 1080 and method not in args.untiled_4k.split(","):
                    continue
                res[variant] = run_case(method, height, tile, variant, args.stats_side)
                print(method, height, variant, res[variant], flush=True)
            outs = {k: np.load(v["out"]) for k, v in res.items() if "out" in v}
            ref = outs.get("untiled")
            for variant, r in res.items():
                row = {"method": method, "size": f"{height * 16 // 9}×{height}", "variant": variant, **r}
                if variant in outs:
                    row["seam_ratio"] = seam_ratio(outs[variant], args.tile)
                    if ref is not None and variant != "untiled":
                        d = np.abs(outs[variant].astype(np.float32) - ref.astype(np.float32))
                        row["max_d"], row["mean_d"] = float(d.max()), float(d.mean())
                        row["jump"] = tile_jump(outs[variant], ref, args.tile)
                rows.append(row)
            if len(outs) == 3 or ("tiled" in outs and "per-tile" in outs):
                order = [k for k in ("untiled", "tiled", "per-tile") if k in outs]
                png = HERE / f"tiling_seam_{method}_{height}p{'' if args.stats_side is None else f'_s{args.stats_side}'}.png"
                crop_strip([outs[k] for k in order], args.tile, png)
                lines.append(f"- `{png.name}`: a 192 px crop around the first seam intersection, ×2 nearest: "
                             f"{' | '.join(order)}.")
    (HERE / "bench_tiling.json").write_text(json.dumps(rows, indent=1))
    table = ["| method | size | variant | peak RSS GB | s/frame | seam ratio | max abs diff vs untiled | "
             "mean abs diff vs untiled | tile-to-tile jump |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            table.append(f"| {r['method']} | {r['size']} | {r['variant']} | failed: {r['error']} | | | | | |")
            continue
        fmt = lambda k, f, r=r: f.format(r[k]) if k in r else "–"  # noqa: E731
        table.append(f"| {r['method']} | {r['size']} | {r['variant']} | {r['rss_gb']:.2f} | {r['seconds']:.1f} | "
                     f"{fmt('seam_ratio', '{:.3f}')} | {fmt('max_d', '{:.4f}')} | {fmt('mean_d', '{:.4f}')} | "
                     f"{fmt('jump', '{:.4f}')} |")
    print("\n".join(table + lines))
    if args.append:
        from results_md import append_section

        from vidstyle.config import TILE_STATS_SIDE

        append_section("4K: tiled inference with shared instance-norm statistics",
                       f"Tiles of at most {args.tile} px (+64 px halo, 16 px feathered overlap), statistics from one "
                       f"pass at long side {args.stats_side or TILE_STATS_SIDE}; `per-tile` is the control (same tiles, each with its own statistics). "
                       "Content: a mosaic of DAVIS frames at native 854×480. One frame per case, each case in its "
                       "own process; the machine was shared with other agents (times are under load).",
                       "\n".join(table + [""] + lines))


if __name__ == "__main__":
    main()
