"""Per-op cost of the pipeline's temporal stage (TemporalState.observe and the blend) on a batch of 4 frames.

Median wall time of each op over repeated calls, in ms per frame, at the clip's size (chaplin.mp4: 640×360) with the
blending flow at 320 px, as the pipeline runs per-frame methods. ``T=1`` in the environment for one torch thread
(on a loaded machine that is the steadier number). Usage::

    T=2 python benchmarks/bench_temporal_stages.py [CLIP]
"""
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from vidstyle.config import TemporalConfig
from vidstyle.exposure import luma
from vidstyle.flow import get_estimator, reliability_mask, warp
from vidstyle.media.reader import open_frames
from vidstyle.pipeline import flow_config_for
from vidstyle.stylise.base import TemporalMode
from vidstyle.temporal import TemporalState, matched_fraction, thumbnail_histogram

torch.set_num_threads(int(os.environ.get("T", "2")))
clip = sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parents[2] / "shared/data/clips/chaplin.mp4")
with open_frames(clip, batch_size=4, frames=(0, 9)) as r:
    fr = torch.cat([b.frames for b in r])
prev, cur = fr[0:4], fr[1:5]
est = get_estimator("dis")
fast = get_estimator("dis-fast")


def small(x, side=320):
    h, w = x.shape[-2:]
    s = side / max(h, w)
    return F.interpolate(x, size=(round(h*s), round(w*s)), mode="bilinear", align_corners=False, antialias=True)


sc, sp = small(cur), small(prev)
fl, bk = est.estimate_pair(sc, sp)
mask = reliability_mask(fl, bk)
H, W = cur.shape[-2:]


def T(name, fn, reps=15):
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    print(f"{name:34s} {statistics.median(ts)*1000/4:7.2f} ms/frame")
T("downscale 2x4 frames antialias", lambda: (small(cur), small(prev)))
T("DIS medium pair @320", lambda: est.estimate_pair(sc, sp))
T("DIS ultrafast pair @320", lambda: fast.estimate_pair(sc, sp))
T("reliability mask @320", lambda: reliability_mask(fl, bk))
T("matched_fraction @320", lambda: matched_fraction(sc, sp, fl, mask, 0.1))
g = torch.tensor([1.0, 1.0]).view(1, 2, 1, 1)
T("upsample flow+back+mask", lambda: (F.interpolate(fl, size=(H, W), mode="bilinear", align_corners=True) * g,
                                      F.interpolate(bk, size=(H, W), mode="bilinear", align_corners=True) * g,
                                      F.interpolate(mask, size=(H, W), mode="nearest")))
T("thumbnail hist", lambda: thumbnail_histogram(fr[:4]))
T("luma std/mean", lambda: (lambda y: (y.std(1), y.mean(1)))(luma(fr[:4]).flatten(1)))
fu = F.interpolate(fl, size=(H, W), mode="bilinear", align_corners=True)
mu = F.interpolate(mask, size=(H, W), mode="nearest")
T("warp full-res (blend)", lambda: warp(cur, fu))
T("lerp+clamp full-res", lambda: torch.lerp(cur, prev, 0.7 * mu).clamp_(0, 1))
st = TemporalState(flow_config_for(TemporalMode.PER_FRAME, TemporalConfig()), est)
st.observe(fr[0:4])
T("TemporalState.observe total", lambda: st.observe(fr[4:8]), reps=10)
