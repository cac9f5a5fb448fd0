"""Arbitrary style transfer (AdaIN, WCT) vs Gatys optimisation: speed, quality, temporal stability.

Three parts (each can be skipped):

* speed — seconds per frame at 640×360 and 1280×720 for AdaIN, WCT with 3 levels (relu3_1…relu1_1)
  and 4 levels (relu4_1…relu1_1), and Gatys optimisation (seconds per L-BFGS iteration measured on a
  few iterations, times the default iteration count — stated as such);
* quality — METRICS.md style distance (relu1_1…relu5_1 Grams, style resized to the output's long
  side) and content distance (relu4_2) of Gatys, WCT and AdaIN outputs at the same size for ≥ 6
  paintings, plus a contact sheet PNG (style | content | Gatys | WCT-3 | AdaIN per row);
* temporal — E_warp (k=1, DIS flow on the inputs) on DAVIS sequences, AdaIN per frame vs with the
  video pipeline's flow-guided blending (:class:`vidstyle.temporal.TemporalState`).

Reads ``../shared/data`` in place (skips a part when it is absent). Run from the repo root::

    nice -n 10 python benchmarks/bench_arbitrary.py [--append]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from results_md import LOAD_AT_IMPORT, command as command_line

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data"
STYLES = [DATA / "styles/munch_the_scream.jpg", SHARED / "registry/paintings/VincentVanGoghBridge_background.webp",
          DATA / "styles/vangogh_starry_night.jpg", DATA / "styles/picabia_udnie.jpg",
          DATA / "styles/kandinsky_composition_vii.jpg", DATA / "styles/matisse_woman_with_a_hat.jpg"]
HELD_OUT = {"munch_the_scream", "VincentVanGoghBridge_background"}
CONTENT = DATA / "content/chicago.jpg"
SEQUENCES = ["blackswan", "car-shadow", "dog"]
CACHE = Path("/tmp/vidstyle-bench-arbitrary")


def fit(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Resize and centre-crop ``1×3×H×W`` to exactly ``h×w``."""
    s = max(h / x.shape[-2], w / x.shape[-1])
    x = F.interpolate(x, size=(max(h, round(x.shape[-2] * s)), max(w, round(x.shape[-1] * s))), mode="bilinear",
                      align_corners=False, antialias=True).clamp(0, 1)
    y0, x0 = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
    return x[..., y0:y0 + h, x0:x0 + w].contiguous()


def timed(fn, repeats: int, warmup: bool = True) -> tuple[float, float]:
    """``(wall seconds, CPU seconds of this process)`` per call. CPU time is less sensitive to other jobs
    on a shared machine: on an idle 2-core machine the wall time would be about CPU time / 2."""
    if warmup:
        fn()  # allocations, oneDNN kernel selection
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats, (time.process_time() - c0) / repeats


ADAIN_DECODER: Path | None = None  # --adain-decoder: another relu4_1 decoder for AdaIN


def stylisers(styles, encoder, which=("AdaIN", "WCT-3", "WCT-4"), style_size: int = 512):
    """``{name: ArbitraryStyliser}``; a name ending in `` compiled`` gets ``compile=True``."""
    from vidstyle.stylise.arbitrary import ArbitraryStyliser

    levels = {"WCT-3": ("relu3_1", "relu2_1", "relu1_1"), "WCT-4": ("relu4_1", "relu3_1", "relu2_1", "relu1_1")}
    adain_decoders = {"relu4_1": ADAIN_DECODER} if ADAIN_DECODER else None
    out = {}
    for name in which:
        base, compile = name.removesuffix(" compiled"), name.endswith(" compiled")
        out[name] = (ArbitraryStyliser(styles, method="adain", encoder=encoder, decoders=adain_decoders,
                                       style_size=style_size, compile=compile) if base == "AdaIN" else
                     ArbitraryStyliser(styles, method="wct", levels=levels[base], encoder=encoder,
                                       style_size=style_size, compile=compile))
    return out


def bench_speed(encoder, repeats: int, gatys_iters: int) -> list[dict]:
    from vidstyle.config import OptimiseConfig
    from vidstyle.media.image import load_image
    from vidstyle.stylise.optimise import stylise_still

    content, style = load_image(CONTENT), load_image(STYLES[2])
    rows = []
    methods = stylisers([style], encoder, ("AdaIN", "AdaIN compiled", "WCT-3", "WCT-4"))
    for h, w in ((360, 640), (720, 1280)):
        frame = fit(content, h, w)
        small = h == 360
        for name, st in methods.items():
            if name.endswith("compiled") and not small:
                continue  # compiling is for long clips of moderate size (vidstyle.config.should_compile)
            wall, cpu = timed(lambda st=st, frame=frame: st.stylise(frame), repeats if small else 1,
                              warmup=small or name.endswith("compiled"))
            rows.append({"size": f"{w}×{h}", "method": name, "s_per_frame": wall, "cpu_s_per_frame": cpu,
                         "note": f"measured, {repeats if small else 1} run(s)" + (" after a warm-up" if small else "")})
            print(f"speed {w}×{h} {name}: {wall:.2f} s/frame wall, {cpu:.2f} CPU s", flush=True)
        if not small or gatys_iters <= 0:
            continue  # Gatys at 720p: minutes per iteration on this shared machine; not measured
        default = OptimiseConfig()
        cfg = OptimiseConfig(size=w, steps=gatys_iters, scales=1)
        wall, cpu = timed(lambda frame=frame, cfg=cfg: stylise_still(frame, [style], encoder, cfg), 1, warmup=False)
        rows.append({"size": f"{w}×{h}", "method": "Gatys", "s_per_frame": wall / gatys_iters * default.steps,
                     "cpu_s_per_frame": cpu / gatys_iters * default.steps,
                     "note": f"{gatys_iters} L-BFGS iterations measured ({wall / gatys_iters:.1f} s each) × "
                             f"{default.steps} (the default), 1 scale"})
        print(f"speed {w}×{h} Gatys: {wall / gatys_iters:.2f} s/iteration wall, {cpu / gatys_iters:.2f} CPU s", flush=True)
    return rows


def gatys_output(content, style, path: Path, encoder, size: int, steps: int, cached_only: bool = False
                 ) -> torch.Tensor | None:
    """Gatys result, cached on disk (it does not depend on the decoders, so it is computed once).

    With ``cached_only``, None when it was not computed before (no time for it now)."""
    from vidstyle.config import OptimiseConfig
    from vidstyle.stylise.optimise import stylise_still

    cache = CACHE / f"gatys_{path.stem}_{size}_{steps}.pt"
    if cache.is_file():
        return torch.load(cache)
    if cached_only:
        return None
    with torch.enable_grad():
        out = stylise_still(content, [style], encoder, OptimiseConfig(size=size, steps=steps, scales=1)).detach()
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, cache)
    print(f"gatys {path.name} done", flush=True)
    return out


def bench_quality(encoder, size: int, gatys_steps: int, sheet: Path, gatys_only: bool = False,
                  cached_only: bool = False) -> list[dict]:
    from vidstyle.media.image import load_image, resize_long_side, save_image
    from vidstyle.metrics import content_distance, style_distance

    content = resize_long_side(load_image(CONTENT), size)
    rows, tiles = [], []
    for path in STYLES:
        style = load_image(path)
        outs = {"Gatys": gatys_output(content, style, path, encoder, size, gatys_steps, cached_only)}
        if gatys_only:
            continue
        if outs["Gatys"] is None:
            del outs["Gatys"]
        # the style at the output's scale, as for Gatys and the style distance
        outs.update({name: st.stylise(content)
                     for name, st in stylisers([style], encoder, ("AdaIN", "WCT-3"), style_size=size).items()})
        outs["WCT"] = outs.pop("WCT-3")  # the product's default WCT levels (relu3_1 → relu1_1)
        for name, out in outs.items():
            out = out[..., :content.shape[-2], :content.shape[-1]]
            with torch.no_grad():
                sd = float(style_distance(out, style, encoder))
                cd = float(content_distance(out, content, encoder))
            rows.append({"style": path.name, "held_out": path.stem in HELD_OUT, "method": name,
                         "style_distance": sd, "content_distance": cd})
            print(f"quality {path.name} {name}: style {sd:.4g} content {cd:.4g}", flush=True)
        thumb = fit(style, *content.shape[-2:])
        gatys = outs.get("Gatys", torch.full_like(content, 0.5))  # grey: Gatys not run for this style
        tiles.append(torch.cat([thumb, content, gatys, outs["WCT"], outs["AdaIN"]], dim=-1))
    if gatys_only:
        return []
    gap = torch.ones(1, 3, 4, tiles[0].shape[-1])
    save_image(torch.cat([t for tile in tiles for t in (tile, gap)][:-1], dim=-2), sheet, force=True)
    return rows


def bench_temporal(encoder, frames: int, long_side: int, method: str) -> list[dict]:
    from vidstyle.flow import get_estimator
    from vidstyle.media.image import load_image, resize_long_side
    from vidstyle.metrics import warping_error
    from vidstyle.temporal import TemporalState

    style = load_image(STYLES[2])
    rows = []
    for seq in SEQUENCES:
        files = sorted((DATA / "video" / seq).glob("*.jpg"))[:frames]
        clip = torch.cat([resize_long_side(load_image(f), long_side) for f in files])
        st = stylisers([style], encoder, (method,))[method]
        plain = torch.cat([st.stylise(f[None]) for f in clip])
        ts = TemporalState(estimator=get_estimator("dis"))
        blended = []
        for f, p in zip(clip, plain):  # the per-frame stylisation does not depend on the state: blend on top
            obs = ts.observe(f[None])[0]
            out = ts.blend(p[None], obs)
            ts.commit(out)
            blended.append(out)
        blended = torch.cat(blended)
        a = warping_error(clip, plain, k=1)
        b = warping_error(clip, blended, k=1)
        rows.append({"sequence": seq, "method": method, "frames": len(clip), "size": f"{clip.shape[-1]}×{clip.shape[-2]}",
                     "input_e_warp": a["input_e_warp"], "per_frame_e_warp": a["e_warp"], "blended_e_warp": b["e_warp"],
                     "blend_strength": ts.cfg.strength})
        print(f"temporal {seq}: input {a['input_e_warp']:.5f} per-frame {a['e_warp']:.5f} blended {b['e_warp']:.5f}",
              flush=True)
    return rows


def markdown(results: dict, command: str) -> str:
    lines = [f"\n## Arbitrary style transfer: AdaIN / WCT with trained decoders — {results['date']}\n",
             f"`{command}` on {results['machine']} (load average {results['load']} when it started; above ~1 per "
             "core other work shared the CPU and wall times are pessimistic). Decoders from " + results["models_dir"] + ": "
             + ", ".join(f"{k} {v} steps" for k, v in results["decoder_steps"].items()) + ".\n"]
    if results.get("speed"):
        if results.get("speed_source"):
            lines += [f"Speed rows from: `{results['speed_source']}`.", ""]
        lines += ["| size | method | wall s/frame | CPU s/frame | note |", "|---|---|---|---|---|"]
        lines += [f"| {r['size']} | {r['method']} | {r['s_per_frame']:.2f} | "
                  f"{'—' if r['cpu_s_per_frame'] is None else format(r['cpu_s_per_frame'], '.2f')} | {r['note']} |"
                  for r in results["speed"]]
    if results.get("quality"):
        lines += ["", (f"Quality at long side {results['quality_size']} px (content {CONTENT.name}, Gatys "
                       f"{results['gatys_steps']} L-BFGS iterations, 1 scale); METRICS.md distances, lower = closer. "
                       "Every method sees the style at the output's long side. Held-out paintings were never seen "
                       "by the AdaIN decoder's training. AdaIN decoder: " + results.get("adain_decoder", "default")), "",
                  "| style | held out | method | style distance | content distance |", "|---|---|---|---|---|"]
        lines += [f"| {r['style']} | {'yes' if r['held_out'] else 'no'} | {r['method']} | {r['style_distance']:.4g} | "
                  f"{r['content_distance']:.4g} |" for r in results["quality"]]
        lines += ["", f"Contact sheet: `{results['sheet']}` (style | content | Gatys | WCT-3 | AdaIN; a grey Gatys tile = not computed in time)."]
    if results.get("temporal"):
        if results.get("temporal_source"):
            lines += ["", f"Temporal rows from: `{results['temporal_source']}`."]
        lines += ["", ("E_warp k=1 (DIS on inputs; METRICS.md), Starry Night, per frame vs the pipeline's flow-guided "
                       "blending (vidstyle.temporal, default strength):"), "",
                  "| sequence | method | frames | size | input | per-frame | blended |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['sequence']} | {r['method']} | {r['frames']} | {r['size']} | {r['input_e_warp']:.5f} | "
                  f"{r['per_frame_e_warp']:.5f} | {r['blended_e_warp']:.5f} (s={r['blend_strength']}) |"
                  for r in results["temporal"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="speed,quality,temporal", help="any of speed, quality, gatys (cache only), temporal")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--gatys-iters", type=int, default=2, help="iterations timed for the Gatys speed estimate")
    p.add_argument("--quality-size", type=int, default=128)
    p.add_argument("--gatys-steps", type=int, default=25)
    p.add_argument("--gatys-cached-only", action="store_true",
                   help="quality: use Gatys outputs cached by an earlier --parts gatys run, skip the others")
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--temporal-method", default="WCT-3", choices=["AdaIN", "WCT-3", "WCT-4"])
    p.add_argument("--adain-decoder", type=Path, help="relu4_1 decoder for AdaIN (default models/decoder-adain-relu4_1)")
    p.add_argument("--video-size", type=int, default=256)
    p.add_argument("--sheet", type=Path, default=ROOT / "benchmarks/arbitrary_contact_sheet.png")
    p.add_argument("--append", action="store_true", help="append a markdown table to benchmarks/RESULTS.md")
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks/bench_arbitrary.json")
    p.add_argument("--reuse", type=Path, action="append", default=[],
                   help="take the parts (speed/quality/temporal) found in an earlier run's JSON instead of re-measuring")
    args = p.parse_args()
    global ADAIN_DECODER
    ADAIN_DECODER = args.adain_decoder
    if not DATA.is_dir():
        sys.exit(f"{DATA} is absent: nothing to benchmark")

    from vidstyle.device import use_all_cores
    from vidstyle.weights import read_card
    from vidstyle.nets.decoder import default_decoder_path
    from vidstyle.nets.vgg import load_vgg
    from vidstyle.weights import models_dir

    use_all_cores()
    torch.set_grad_enabled(False)
    encoder = load_vgg(["relu5_1", "relu4_2"])
    parts = set(args.parts.split(","))
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}",
               "decoder_steps": {f"{m}-{lvl}": read_card(default_decoder_path(m, lvl))["training"]["steps"]
                                 for m, lvl in [("adain", "relu4_1")] + [("wct", f"relu{i}_1") for i in range(1, 5)]
                                 if default_decoder_path(m, lvl).is_file()}}
    for path in args.reuse:
        earlier = json.loads(path.read_text())
        for part in ("speed", "quality", "temporal"):
            if earlier.get(part):
                results[part] = earlier[part]
                results[f"{part}_source"] = f"{earlier.get('command', path)} at {earlier.get('date', '?')}"
                for key in ("quality_size", "gatys_steps", "sheet") if part == "quality" else ():
                    results[key] = earlier[key]
    if "speed" in parts:
        with torch.enable_grad():  # Gatys needs gradients; the decoders run under no_grad themselves
            results["speed"] = bench_speed(encoder, args.repeats, args.gatys_iters)
    if "gatys" in parts:
        bench_quality(encoder, args.quality_size, args.gatys_steps, args.sheet, gatys_only=True)
    if "quality" in parts:
        with torch.enable_grad():
            results["quality"] = bench_quality(encoder, args.quality_size, args.gatys_steps, args.sheet,
                                               cached_only=args.gatys_cached_only)
        results.update(quality_size=args.quality_size, gatys_steps=args.gatys_steps,
                       sheet=str(args.sheet.relative_to(ROOT)))
    if "temporal" in parts:
        results["temporal"] = bench_temporal(encoder, args.frames, args.video_size, args.temporal_method)
    results["load"] = " ".join(f"{x:.1f}" for x in LOAD_AT_IMPORT)
    results["models_dir"] = str(models_dir())
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    results["adain_decoder"] = str(args.adain_decoder or "default")
    results["command"] = command_line()
    text = markdown(results, results["command"])
    print(text)
    if args.append:
        with open(ROOT / "benchmarks/RESULTS.md", "a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
