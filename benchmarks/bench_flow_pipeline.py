"""The pipeline's own flow: cost against quality, for choosing ``--flow`` and ``TemporalConfig.flow_max_side``.

The pipeline estimates flow between consecutive input frames (forward and backward, for the
reliability mask and the cut test) and blends the warped previous output into each new one.
Estimating it on a downscaled pair is cheaper; this measures what that costs in temporal
stability, on the frames that matter: each DAVIS sequence is stylised once per frame with the
style-embedding network (cached), then blended by :class:`vidstyle.temporal.TemporalState` under
each configuration, and the blended clip's E_warp (METRICS.md: DIS MEDIUM at full size on the
*inputs*) is compared with the full-size baseline. DIS MEDIUM at full size is also the baseline's own
flow, which favours it (its output was blended along exactly the flow the metric warps with);
``--metric-flow deepflow`` measures with an estimator none of the configurations uses.
``observe`` ms/frame is the wall time of :meth:`TemporalState.observe` (flow both ways, mask, cut
statistics) on the same frames.

Usage (from the repo root)::

    nice -n 5 python benchmarks/bench_flow_pipeline.py --frames 40 --append
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from results_md import append_section

from vidstyle.config import TemporalConfig
from vidstyle.flow import get_estimator
from vidstyle.media.image import load_image
from vidstyle.metrics import TemporalMeter
from vidstyle.temporal import TemporalState

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
STYLE = DATA / "styles/munch_the_scream.jpg"
SEQUENCES = ["dog", "soapbox", "parkour", "blackswan"]
CONFIGS = [("dis", None), ("dis", 480), ("dis", 320), ("dis-fast", None), ("dis-fast", 480), ("dis-fast", 320)]
CACHE = Path("/tmp/vidstyle-bench-flow")


def fit(x: torch.Tensor, long_side: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    s = long_side / max(h, w)
    size = (round(h * s) // 2 * 2, round(w * s) // 2 * 2)
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def stylised(seq: str, frames: int, long_side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(clip, per-frame magenta output)``, cached on disk."""
    path = CACHE / f"{seq}_{frames}_{long_side}_{STYLE.stem}.pt"
    if path.exists():
        return torch.load(path)
    from vidstyle.stylise.magenta import MagentaStyliser

    files = sorted((DATA / "video" / seq).glob("*.jpg"))[:frames]
    clip = torch.cat([fit(load_image(f), long_side) for f in files])
    st = MagentaStyliser([STYLE], backend="torch")
    with torch.inference_mode():
        out = torch.cat([st.stylise(f[None]) for f in clip])
    CACHE.mkdir(parents=True, exist_ok=True)
    torch.save((clip, out), path)
    return clip, out


def blend_clip(clip: torch.Tensor, plain: torch.Tensor, flow: str, side: int | None) -> tuple[torch.Tensor, float]:
    ts = TemporalState(TemporalConfig(flow_max_side=side), get_estimator(flow))
    outs, seconds = [], 0.0
    for f, p in zip(clip, plain):
        start = time.perf_counter()
        obs = ts.observe(f[None])[0]
        seconds += time.perf_counter() - start
        out = ts.blend(p[None], obs)
        ts.commit(out)
        outs.append(out)
    return torch.cat(outs), 1000 * seconds / len(clip)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--size", type=int, default=640, help="long side of the frames (DAVIS 854×480 → 640×360)")
    p.add_argument("--sequences", nargs="*", default=SEQUENCES)
    p.add_argument("--metric-flow", default="dis", help="the metric's estimator on the inputs (METRICS.md: dis)")
    p.add_argument("--configs", nargs="*", default=[f"{f}@{s or 'full'}" for f, s in CONFIGS],
                   help="FLOW@SIDE (SIDE: a long side or full), e.g. dis@full dis@320")
    p.add_argument("--append", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = p.parse_args()
    torch.set_num_threads(2)
    configs = [(c.split("@")[0], None if c.split("@")[1] == "full" else int(c.split("@")[1])) for c in args.configs]
    if ("dis", None) not in configs:
        configs.insert(0, ("dis", None))  # the baseline every ratio is taken against
    rows = []
    for seq in args.sequences:
        clip, plain = stylised(seq, args.frames, args.size)
        outputs, times = [plain], [0.0]
        for flow, side in configs:
            blended, ms = blend_clip(clip, plain, flow, side)
            outputs.append(blended)
            times.append(ms)
        # one metric pass for every output: the metric's flows are estimated once per sequence
        meter = TemporalMeter(len(outputs), (1, 10), args.metric_flow, cuts=[])
        for t in range(len(clip)):
            meter.update(clip[t:t + 1], [o[t:t + 1] for o in outputs])
        res = meter.result()["warping_error"]
        names = ["no blending"] + [f"{f} @ {s or 'full'}" for f, s in configs]
        for i, name in enumerate(names):
            rows.append({"sequence": seq, "config": name, "observe_ms": times[i],
                         "k1": res[1]["outputs"][i]["mean"], "k10": res[10]["outputs"][i]["mean"]})
            print(json.dumps(rows[-1]), flush=True)
    size = f"{clip.shape[-1]}×{clip.shape[-2]}"
    # ratio of each configuration's E_warp to the full-size DIS baseline, per sequence, then the mean
    table = ["| config | observe ms/frame (mean) | E_warp k=1 / baseline | E_warp k=10 / baseline |",
             "|---|---|---|---|"]
    for name in ["no blending"] + [f"{f} @ {s or 'full'}" for f, s in configs]:
        ms, r1, r10 = [], [], []
        for seq in args.sequences:
            row = next(r for r in rows if r["sequence"] == seq and r["config"] == name)
            ref = next(r for r in rows if r["sequence"] == seq and r["config"] == "dis @ full")
            ms.append(row["observe_ms"])
            r1.append(row["k1"] / ref["k1"])
            r10.append(row["k10"] / ref["k10"])
        n = len(args.sequences)
        table.append(f"| {name} | {sum(ms) / n:.1f} | {sum(r1) / n:.3f} | {sum(r10) / n:.3f} |")
    detail = ["| sequence | config | observe ms | E_warp k=1 | E_warp k=10 |", "|---|---|---|---|---|"]
    detail += [f"| {r['sequence']} | {r['config']} | {r['observe_ms']:.1f} | {r['k1']:.5f} | {r['k10']:.5f} |"
               for r in rows]
    text = "\n".join(table) + "\n\nPer sequence:\n\n" + "\n".join(detail)
    print(text)
    if args.append:
        append_section("Pipeline flow: downscaled estimation vs E_warp", (
            f"{len(args.sequences)} DAVIS sequences × {args.frames} frames at {size}, {STYLE.name} by the magenta "
            "method per frame, then flow-guided blending (strength 0.7) under each flow configuration; E_warp by "
            f"METRICS.md on the inputs with the `{args.metric_flow}` estimator at full size)."), text)


if __name__ == "__main__":
    main()
