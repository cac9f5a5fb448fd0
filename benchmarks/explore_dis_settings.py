"""DIS settings for the blending flow: E_warp of the blended magenta clip against DIS MEDIUM at full size, and observe ms.

Ad-hoc (2026-12-03): `python benchmarks/explore_dis_settings.py FRAMES CONFIG...`, CONFIG = NAME@SIDE where NAME is a
registered estimator or `dis:fs=..:ps=..:st=..:gd=..:vr=..` (finest scale, patch size, stride, gradient-descent and
variational iterations on top of MEDIUM). Uses bench_flow_pipeline.py's cached stylised clips and blending loop.
"""
import json, sys, time
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
import cv2, torch
import bench_flow_pipeline as b
from vidstyle.flow import get_estimator
from vidstyle.flow.opencv import OpenCVFlow
from vidstyle.metrics import TemporalMeter

def make(spec):
    if ":" not in spec:
        return get_estimator(spec)
    kv = dict(p.split("=") for p in spec.split(":")[1:])
    def mk():
        d = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        d.setFinestScale(int(kv.get("fs", 1))); d.setPatchSize(int(kv.get("ps", 8))); d.setPatchStride(int(kv.get("st", 3)))
        d.setGradientDescentIterations(int(kv.get("gd", 25))); d.setVariationalRefinementIterations(int(kv.get("vr", 5)))
        return d
    return OpenCVFlow(spec, mk)

b.get_estimator = make
configs = [c.rsplit("@", 1) for c in sys.argv[2:]]
configs = [(f, None if s == "full" else int(s)) for f, s in configs]
frames = int(sys.argv[1])
torch.set_num_threads(2)
rows = []
for seq in ["dog", "soapbox", "parkour"]:
    clip, plain = b.stylised(seq, frames, 640)
    outs, times = [plain], [0.0]
    for f, s in [("dis", None)] + configs:
        o, ms = b.blend_clip(clip, plain, f, s); outs.append(o); times.append(ms)
    meter = TemporalMeter(len(outs), (1,), "dis", cuts=[])
    for t in range(len(clip)):
        meter.update(clip[t:t+1], [o[t:t+1] for o in outs])
    res = meter.result()["warping_error"][1]["outputs"]
    names = ["none", "dis@full"] + [f"{f}@{s}" for f, s in configs]
    for i, n in enumerate(names):
        rows.append((seq, n, times[i], res[i]["mean"]))
        print(seq, n, f"{times[i]:.1f}", f"{res[i]['mean']:.6f}", flush=True)
print("\nmean ratio to dis@full:")
for n in ["none", "dis@full"] + [f"{f}@{s}" for f, s in configs]:
    r = [x[3] / next(y[3] for y in rows if y[0] == x[0] and y[1] == "dis@full") for x in rows if x[1] == n]
    ms = [x[2] for x in rows if x[1] == n]
    print(f"{n:45s} ratio {sum(r)/len(r):.3f}  observe {sum(ms)/len(ms):.1f} ms")
