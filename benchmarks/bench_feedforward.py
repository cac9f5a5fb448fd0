"""Feed-forward networks: speed against the pytorch/examples reference, and quality of the shipped models.

    python benchmarks/bench_feedforward.py speed   [--sizes 640x360,1280x720] [--batches 1,4] [--reps 3]
    python benchmarks/bench_feedforward.py lite    [--frames 40]
    python benchmarks/bench_feedforward.py card-speed [--frames 10] [--write-cards]
    python benchmarks/bench_feedforward.py quality [--frames 30] [--gatys-steps 60]
    python benchmarks/bench_feedforward.py sheet

Speed: fp32, ``torch.set_num_threads(cores)``, runs alternate between the variants
(METRICS.md: ratios of medians hold on a shared machine, absolute times drift).
``reference`` is the TransformerNet of pytorch/examples ``fast_neural_style``, re-typed
below (ConvLayer with ReflectionPad, InstanceNorm affine, UpsampleConvLayer), run eagerly.
Results are printed as JSON lines and written to ``benchmarks/feedforward_*.json``;
``quality`` also fills the model cards' ``benchmark`` fields.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
HELD_OUT = ("dog", "soapbox", "parkour")


# ----------------------------------------------------------- the reference (pytorch/examples fast_neural_style)


class ConvLayer(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride):
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        return self.conv2d(self.reflection_pad(x))


class ResidualBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)
        self.relu = nn.ReLU()

    def forward(self, x):
        residual = x
        out = self.relu(self.in1(self.conv1(x)))
        out = self.in2(self.conv2(out))
        return out + residual


class UpsampleConvLayer(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, upsample=None):
        super().__init__()
        self.upsample = upsample
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        if self.upsample:
            x = F.interpolate(x, mode="nearest", scale_factor=self.upsample)
        return self.conv2d(self.reflection_pad(x))


class ReferenceTransformerNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = ConvLayer(3, 32, kernel_size=9, stride=1)
        self.in1 = nn.InstanceNorm2d(32, affine=True)
        self.conv2 = ConvLayer(32, 64, kernel_size=3, stride=2)
        self.in2 = nn.InstanceNorm2d(64, affine=True)
        self.conv3 = ConvLayer(64, 128, kernel_size=3, stride=2)
        self.in3 = nn.InstanceNorm2d(128, affine=True)
        self.res1, self.res2, self.res3, self.res4, self.res5 = (ResidualBlock(128) for _ in range(5))
        self.deconv1 = UpsampleConvLayer(128, 64, kernel_size=3, stride=1, upsample=2)
        self.in4 = nn.InstanceNorm2d(64, affine=True)
        self.deconv2 = UpsampleConvLayer(64, 32, kernel_size=3, stride=1, upsample=2)
        self.in5 = nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = ConvLayer(32, 3, kernel_size=9, stride=1)
        self.relu = nn.ReLU()

    def forward(self, X):
        y = self.relu(self.in1(self.conv1(X)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        y = self.res5(self.res4(self.res3(self.res2(self.res1(y)))))
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


# ------------------------------------------------------------------------------------------ speed


def _time(fn, x) -> float:
    t = time.perf_counter()
    fn(x)
    return time.perf_counter() - t


def _compiled(net):
    from vidstyle.device import compile_for_inference  # inductor, weight freezing, static shapes

    return compile_for_inference(net)


def variants(names):
    from vidstyle.nets.fused import fuse_for_inference
    from vidstyle.nets.transformer import build_net

    out = {}
    for name in names:
        if name == "reference":
            out[name] = ReferenceTransformerNet().eval()
        elif name == "ours-eager":
            out[name] = build_net("full").eval()
        elif name == "ours-channels-last":
            out[name] = build_net("full").eval().to(memory_format=torch.channels_last)
        elif name == "ours-compiled":
            out[name] = _compiled(build_net("full").eval())
        elif name == "ours-fused":  # what FeedForwardStyliser runs (vidstyle.nets.fused)
            out[name] = fuse_for_inference(build_net("full").eval())
        elif name == "ours-fused-compiled":  # what FeedForwardStyliser(compile=True) runs
            out[name] = _compiled(fuse_for_inference(build_net("full").eval()))
        elif name == "ours-onnx":  # what FeedForwardStyliser(backend="onnx") runs: the fused graph in onnxruntime
            from vidstyle.nets.onnx import OnnxNet, export_onnx

            path = Path(tempfile.mkdtemp()) / "full.onnx"
            export_onnx(build_net("full").eval(), path)
            out[name] = OnnxNet(path)
        else:
            raise SystemExit(f"unknown variant {name}")
    return out


def bench_speed(args) -> list[dict]:
    from vidstyle.device import use_all_cores

    cores = use_all_cores()
    nets = variants(args.variants.split(","))
    rows = []
    for size in args.sizes.split(","):
        w, h = map(int, size.split("x"))
        for b in map(int, args.batches.split(",")):
            x = torch.rand(b, 3, h, w)
            times: dict[str, list[float]] = {n: [] for n in nets}
            first: dict[str, float] = {}
            with torch.inference_mode():
                for n, net in nets.items():  # warm-up (and compilation for the compiled variant)
                    xi = x.contiguous(memory_format=torch.channels_last) if "channels" in n else x
                    first[n] = _time(net, xi)
                for _ in range(args.reps):  # alternate variants
                    for n, net in nets.items():
                        xi = x.contiguous(memory_format=torch.channels_last) if "channels" in n else x
                        times[n].append(_time(net, xi))
            row = {"size": size, "batch": b, "cores": cores, "reps": args.reps,
                   "ms_per_frame": {n: round(1000 * statistics.median(t) / b, 1) for n, t in times.items()},
                   "first_call_s": {n: round(v, 2) for n, v in first.items()}}
            ref = row["ms_per_frame"].get("reference")
            if ref:
                row["speedup_vs_reference"] = {n: round(ref / v, 2) for n, v in row["ms_per_frame"].items()}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def bench_lite(args) -> dict:
    """Lite net at 640×360 display, 320×180 internal: per-frame ms (median), fps — plain and fused, eager and compiled."""
    from vidstyle.device import use_all_cores
    from vidstyle.nets.fused import fuse_for_inference
    from vidstyle.nets.transformer import build_net, run_at_size

    cores = use_all_cores()
    base = build_net("lite").eval()
    nets = {"eager": base, "compiled": _compiled(base), "fused": fuse_for_inference(base),
            "fused-compiled": _compiled(fuse_for_inference(base))}
    x = torch.rand(1, 3, 360, 640)
    res = {}
    for label, net in nets.items():
        with torch.inference_mode():
            t0 = time.perf_counter()
            for _ in range(5):
                run_at_size(net, x, 320)
            warm = time.perf_counter() - t0
            times = [_time(lambda y: run_at_size(net, y, 320), x) for _ in range(args.frames)]
        med = statistics.median(times)
        res[label] = {"ms_per_frame": round(1000 * med, 1), "fps": round(1 / med, 1), "frames": args.frames,
                      "warmup_s": round(warm, 2)}
    row = {"lite": "640x360 display, 320x180 internal", "cores": cores, **res}
    print(json.dumps(row), flush=True)
    return row


def bench_card_speed(args) -> dict:
    """Each shipped model through FeedForwardStyliser (default backend) at 640×360 and at the lite's real-time
    setting; the medians go into the cards' ``benchmark.speed`` with ``--write-cards``."""
    from vidstyle.device import use_all_cores
    from vidstyle.weights import update_card
    from vidstyle.stylise.feedforward import FeedForwardStyliser

    cores = use_all_cores()
    x = torch.rand(1, 3, 360, 640)
    res = {}
    for name, info in _shipped().items():
        if info.kind != "feedforward-transformer":
            continue
        internal = 320 if info.arch == "lite" else None
        st = FeedForwardStyliser(info.path, internal_size=internal, backend="auto")
        st.stylise(x)  # warm-up (onnx export on first use)
        med = statistics.median(_time(st.stylise, x) for _ in range(args.frames))
        row = {"ms_per_frame": round(1000 * med, 1), "fps": round(1 / med, 1), "frame": "640x360",
               "internal": "320x180" if internal else "640x360", "backend": st.backend, "cores": cores,
               "batch": 1, "measured": time.strftime("%Y-%m-%d", time.gmtime())}
        res[name] = row
        print(json.dumps({name: row}), flush=True)
        if args.write_cards:
            update_card(info.path, benchmark={"speed": row})
    return res


# ------------------------------------------------------------------------------------------ quality


def _shipped(folder: Path | None = None):
    from vidstyle.weights import list_models

    return {m.name: m for m in list_models(folder or ROOT / "models")}


def _read_seq(name: str, frames: int, long_side: int) -> torch.Tensor:
    from vidstyle.media.image import load_image, resize_long_side

    files = sorted((SHARED / "data" / "video" / name).glob("*.jpg"))[:frames]
    return torch.cat([resize_long_side(load_image(f), long_side) for f in files])


def bench_quality(args) -> dict:
    from vidstyle.device import use_all_cores
    from vidstyle.media.image import load_image, resize_long_side
    from vidstyle.metrics import content_distance, style_distance, warping_error
    from vidstyle.nets.transformer import load_transformer
    from vidstyle.weights import update_card
    from vidstyle.nets.vgg import load_vgg

    use_all_cores()
    models = _shipped(args.models_dir)
    wanted = [n for n in models if not args.models or n in args.models.split(",")]
    seqs = {s: _read_seq(s, args.frames, args.long_side) for s in HELD_OUT}
    results: dict = {"held_out": list(HELD_OUT), "frames": args.frames, "long_side": args.long_side, "models": {}}
    inp = {s: warping_error(x, None, k=1)["e_warp"] for s, x in seqs.items()}
    results["input_e_warp_k1"] = inp
    enc = load_vgg(("relu5_1", "relu4_2"))
    contents = [resize_long_side(load_image(SHARED / "data/content/kodak24" / f), args.style_long_side)
                for f in ("kodim05.png", "kodim15.png", "kodim23.png")]
    for name in wanted:
        net, card = load_transformer(models[name].path)
        style_img = _style_image(card)
        per = {}
        with torch.inference_mode():
            for s, x in seqs.items():
                out = torch.cat([net(x[i:i + 4]) for i in range(0, len(x), 4)])
                per[s] = warping_error(x, out, k=1)["e_warp"]
            sd, cd = [], []
            for c in contents:
                o = net(c)
                sd.append(style_distance(o, style_img, enc, size=args.style_long_side).item())
                cd.append(content_distance(o, c, enc).item())
        e = statistics.mean(per.values())
        row = {"e_warp_k1": {k: round(v, 6) for k, v in per.items()}, "e_warp_k1_mean": round(e, 6),
               "input_e_warp_k1_mean": round(statistics.mean(inp.values()), 6),
               "style_distance": statistics.mean(sd), "content_distance": statistics.mean(cd),
               "quality_size": args.style_long_side}
        results["models"][name] = row
        print(json.dumps({name: row}), flush=True)
        if args.write_cards:
            update_card(models[name].path, benchmark={
                "e_warp_k1_heldout": row["e_warp_k1_mean"], "e_warp_input_k1_heldout": row["input_e_warp_k1_mean"],
                "e_warp_setup": f"DAVIS {', '.join(HELD_OUT)}, first {args.frames} frames, long side {args.long_side}, "
                                "METRICS.md E_warp k=1 (DIS)",
                "style_distance": row["style_distance"], "content_distance": row["content_distance"],
                "quality_setup": f"kodim05/15/23 at long side {args.style_long_side}, METRICS.md distances"})
    if args.gatys_steps:
        results["gatys"] = _gatys_reference(args, models, wanted, contents, enc)
    return results


def _style_image(card):
    from vidstyle.media.image import load_image

    f = card["style"]["file"]
    for folder in (SHARED / "registry" / "paintings", ROOT / "samples"):
        if (folder / f).is_file():
            return load_image(folder / f)
    raise SystemExit(f"style image {f} not found")


def _gatys_reference(args, models, wanted, contents, enc) -> dict:
    """Gatys optimisation of the same content images at the same size, per style (the quality yardstick)."""
    from vidstyle.config import OptimiseConfig
    from vidstyle.metrics import content_distance, style_distance
    from vidstyle.weights import read_card
    from vidstyle.nets.vgg import load_vgg
    from vidstyle.stylise.optimise import stylise_still

    out = {}
    seen = set()
    cfg = OptimiseConfig(size=args.style_long_side, steps=args.gatys_steps, scales=1)
    opt_enc = load_vgg(cfg.style_layers + cfg.content_layers)
    for name in wanted:
        card = read_card(models[name].path)
        f = card["style"]["file"]
        if f in seen:
            continue
        seen.add(f)
        style = _style_image(card)
        sd, cd = [], []
        for c in contents:
            o = stylise_still(c, [style], opt_enc, cfg)
            with torch.no_grad():
                sd.append(style_distance(o, style, enc, size=args.style_long_side).item())
                cd.append(content_distance(o, c, enc).item())
        row = {"style_distance": statistics.mean(sd), "content_distance": statistics.mean(cd),
               "steps": args.gatys_steps, "images": len(contents)}
        out[f] = row
        print(json.dumps({"gatys": f, **row}), flush=True)
    return out


# ------------------------------------------------------------------------------------------ contact sheet


def contact_sheet(args) -> Path:
    """Rows: content images; columns: content | each style full | lite. Saved as benchmarks/feedforward_sheet.png."""
    from vidstyle.media.image import load_image, resize_long_side, save_image
    from vidstyle.nets.transformer import load_transformer

    models = _shipped()
    fulls = [n for n, m in sorted(models.items()) if m.arch == "full"]
    contents = [SHARED / "data/content/kodak24/kodim23.png", SHARED / "data/video/dog/00020.jpg",
                SHARED / "data/content/chicago.jpg"]
    rows = []
    for p in contents:
        x = resize_long_side(load_image(p), args.tile)
        tiles = [x]
        with torch.inference_mode():
            for n in fulls:
                for variant in (n, f"{n}-lite"):
                    if variant in models:
                        tiles.append(load_transformer(models[variant].path)[0](x))
        rows.append(torch.cat([F.pad(t, (0, 4, 0, 4), value=1.0) for t in tiles], 3))
    w = max(r.shape[3] for r in rows)
    sheet = torch.cat([F.pad(r, (0, w - r.shape[3])) for r in rows], 2)
    out = ROOT / "benchmarks" / "feedforward_sheet.png"
    save_image(sheet, out, force=True)
    print("columns:", ["content"] + [v for n in fulls for v in (n, f"{n}-lite") if v in models])
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--sizes", default="640x360,1280x720")
    s.add_argument("--batches", default="1,4")
    s.add_argument("--reps", type=int, default=3)
    s.add_argument("--variants", default="reference,ours-eager,ours-compiled,ours-fused,ours-fused-compiled,ours-onnx")
    li = sub.add_parser("lite")
    li.add_argument("--frames", type=int, default=40)
    cs = sub.add_parser("card-speed")
    cs.add_argument("--frames", type=int, default=10)
    cs.add_argument("--write-cards", action="store_true")
    q = sub.add_parser("quality")
    q.add_argument("--frames", type=int, default=30)
    q.add_argument("--long-side", type=int, default=480)
    q.add_argument("--style-long-side", type=int, default=256)
    q.add_argument("--gatys-steps", type=int, default=0)
    q.add_argument("--models", default="")
    q.add_argument("--models-dir", type=Path, default=None, help="candidates to measure (default: the repo's models/)")
    q.add_argument("--write-cards", action="store_true")
    sh = sub.add_parser("sheet")
    sh.add_argument("--tile", type=int, default=192)
    args = ap.parse_args(argv)
    if args.cmd == "speed":
        res = bench_speed(args)
    elif args.cmd == "lite":
        res = bench_lite(args)
    elif args.cmd == "quality":
        res = bench_quality(args)
    elif args.cmd == "card-speed":
        res = bench_card_speed(args)
    else:
        print(contact_sheet(args))
        return
    out = ROOT / "benchmarks" / f"feedforward_{args.cmd}.json"
    out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "argv": sys.argv,
                               "results": res}, indent=1) + "\n")


if __name__ == "__main__":
    main()
