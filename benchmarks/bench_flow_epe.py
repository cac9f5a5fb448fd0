"""End-point error and time per pair of each flow backend against ground truth.

Datasets (skipped when absent; ``data/`` is never copied into the repo):

* ``../shared/data/flow/sintel/<seq>/`` — MPI-Sintel clean, GT ``flow/frame_XXXX.flo`` for frame
  XXXX → XXXX+1, ``occlusions/`` and ``invalid/`` masks (nonzero = occluded / invalid).
* ``../shared/data/flow/flyingchairs/`` — ``NNNNNNN-img0.ppm``, ``-img1.ppm``, ``-gt.flo``.
* ``../shared/registry/flow/middlebury2014_motorcycle_stereo/`` — rectified stereo pair and
  disparity ``d`` (``+inf`` invalid): the left image is the right one sampled at ``x − d``,
  so ``estimate(left, right) = (−d, 0)``. Downscaled by ``--stereo-scale`` for speed
  (flow scales with the image).

EPE "all" is over valid GT pixels; "noc" also drops occluded pixels (Sintel only).
RAFT rows appear only when its weights are in the torch hub cache (or ``--raft-weights``).

Usage::

    python benchmarks/bench_flow_epe.py [--methods dis,dis-fast,deepflow] [--repeats 3] [--append]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from results_md import append_section

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def load_rgb(path: Path) -> torch.Tensor:
    """Any image → ``1×3×H×W`` float [0, 1]."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(path)
    return torch.from_numpy(img[..., ::-1].copy()).permute(2, 0, 1).unsqueeze(0).float() / 255


def load_mask(path: Path) -> torch.Tensor:
    """Grey/colour PNG → ``1×1×H×W`` bool (nonzero = set)."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img.ndim == 3:
        img = img.max(-1)
    return torch.from_numpy(img > 0)[None, None]


def sintel_pairs(root: Path = SHARED / "data/flow/sintel"):
    """Yield ``(name, a, b, gt, valid, non_occluded)`` for every Sintel GT flow."""
    from vidstyle.flow.flo import read_flo, valid_flo

    for seq in sorted(p for p in root.glob("*") if p.is_dir()):
        for flo in sorted((seq / "flow").glob("frame_*.flo")):
            n = int(flo.stem.split("_")[1])
            a = load_rgb(seq / "clean" / f"frame_{n:04d}.png")
            b = load_rgb(seq / "clean" / f"frame_{n + 1:04d}.png")
            gt = read_flo(flo)
            valid = valid_flo(gt)
            inv = seq / "invalid" / flo.with_suffix(".png").name
            if inv.exists():
                valid = valid & ~load_mask(inv)
            occ = seq / "occlusions" / flo.with_suffix(".png").name
            noc = valid & ~load_mask(occ) if occ.exists() else None
            yield f"sintel/{seq.name}/{n}", a, b, gt, valid, noc


def chairs_pairs(root: Path = SHARED / "data/flow/flyingchairs"):
    from vidstyle.flow.flo import read_flo, valid_flo

    for flo in sorted(root.glob("*-gt.flo")):
        stem = flo.name[: -len("-gt.flo")]
        gt = read_flo(flo)
        yield f"chairs/{stem}", load_rgb(root / f"{stem}-img0.ppm"), load_rgb(root / f"{stem}-img1.ppm"), gt, \
            valid_flo(gt), None


def stereo_pair(root: Path = SHARED / "registry/flow/middlebury2014_motorcycle_stereo", scale: float = 0.5):
    """Left, right and GT flow ``(−d, 0)`` downscaled by ``scale`` (disparity scaled too)."""
    if not root.exists():
        return
    disp = torch.from_numpy(np.load(root / "motorcycle_disp.npz")["arr_0"])[None, None]
    left, right = load_rgb(root / "motorcycle_left.png"), load_rgb(root / "motorcycle_right.png")
    gt = torch.cat([-disp, torch.zeros_like(disp)], 1)
    if scale != 1.0:
        h, w = (round(s * scale) for s in left.shape[-2:])
        left = F.interpolate(left, size=(h, w), mode="area")
        right = F.interpolate(right, size=(h, w), mode="area")
        # nearest keeps +inf markers from spreading; the flow scales with the image
        gt = F.interpolate(gt, size=(h, w), mode="nearest") * scale
    from vidstyle.flow.flo import valid_flo

    yield "middlebury/motorcycle", left, right, gt, valid_flo(gt), None


def all_pairs(stereo_scale: float):
    pairs = []
    if (SHARED / "data/flow/sintel").exists():
        pairs += list(sintel_pairs())
    if (SHARED / "data/flow/flyingchairs").exists():
        pairs += list(chairs_pairs())
    pairs += list(stereo_pair(scale=stereo_scale))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default="dis,dis-fast,deepflow,raft-small,raft-large")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per pair (median reported)")
    parser.add_argument("--stereo-scale", type=float, default=0.5)
    parser.add_argument("--raft-weights", default=None)
    parser.add_argument("--append", action="store_true", help="append a section to benchmarks/RESULTS.md")
    args = parser.parse_args()

    from vidstyle.device import use_all_cores
    from vidstyle.errors import WeightsError
    from vidstyle.flow import get_estimator
    from vidstyle.flow.flo import endpoint_error

    use_all_cores()
    pairs = all_pairs(args.stereo_scale)
    if not pairs:
        sys.exit("no ground-truth flow found under ../shared")
    rows, notes = [], []
    for method in args.methods.split(","):
        try:
            est = get_estimator(method, weights=args.raft_weights if method.startswith("raft") else None)
        except WeightsError as e:
            notes.append(f"{method}: not measured — {e}")
            print(notes[-1], flush=True)
            continue
        est.estimate(pairs[0][1], pairs[0][2])  # warm-up
        for name, a, b, gt, valid, noc in pairs:
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                flow = est.estimate(a, b)
                times.append(time.perf_counter() - t0)
            epe_all = endpoint_error(flow, gt, valid)
            epe_noc = endpoint_error(flow, gt, noc) if noc is not None else None
            rows.append((method, name, f"{a.shape[-1]}×{a.shape[-2]}", epe_all, epe_noc, statistics.median(times)))
            print(f"{method:10s} {name:26s} EPE all {epe_all:7.3f} noc {epe_noc if epe_noc is not None else float('nan'):7.3f}"
                  f"  {statistics.median(times) * 1e3:8.1f} ms", flush=True)

    lines = ["| method | pair | size | EPE all (px) | EPE non-occluded (px) | ms/pair |", "|---|---|---|---|---|---|"]
    for m, n, s, ea, en, t in rows:
        lines.append(f"| {m} | {n} | {s} | {ea:.3f} | {'' if en is None else f'{en:.3f}'} | {t * 1e3:.0f} |")
    summary = ["", "| method | mean EPE Sintel (all / noc) | mean EPE FlyingChairs | EPE Middlebury stereo | mean ms/pair |",
               "|---|---|---|---|---|"]
    for m in dict.fromkeys(r[0] for r in rows):
        mine = [r for r in rows if r[0] == m]
        sin = [r for r in mine if r[1].startswith("sintel")]
        ch = [r for r in mine if r[1].startswith("chairs")]
        mb = [r for r in mine if r[1].startswith("middlebury")]
        f = lambda xs: f"{statistics.mean(xs):.3f}" if xs else "–"
        summary.append(f"| {m} | {f([r[3] for r in sin])} / {f([r[4] for r in sin])} | {f([r[3] for r in ch])} | "
                       f"{f([r[3] for r in mb])} | {statistics.mean(r[5] for r in mine) * 1e3:.0f} |")
    text = "\n".join(lines + summary + [""] + [f"- {n}" for n in notes])
    print(text)
    if args.append:
        append_section("Optical flow end-point error (vidstyle.flow)",
                       f"torch {torch.__version__}. Median of {args.repeats} timed runs per pair after one warm-up; "
                       f"Middlebury stereo at {args.stereo_scale}× (GT flow = (−disparity, 0) scaled). EPE all = valid "
                       "GT pixels; non-occluded = Sintel's occlusion mask removed too.", text)

if __name__ == "__main__":
    main()
