"""Geometric style transfer (arXiv:2007.05471): regressor accuracy, contact sheets, E_warp of a shot.

Parts (``--parts accuracy,sheet,gatys,video``):

* ``accuracy``: on the held-out bank (BSDS500-test crops, stylised with the held-out paintings
  munch_the_scream / VincentVanGoghBridge_background, never trained on), mean point error in pixels at 240 px —
  4 corners for affine pairs, a 10×10 grid for TPS pairs — of: identity (no warp), the trained regressor, the
  direct correlation optimisation (no network) and the regressor refined by it.
* ``sheet``: contact sheets like the seed's figure (content | geometric style | texture style | texture-only |
  geometry-only | geometric + texture), one per transform kind; texture by the style-embedding network
  (``magenta``) so that the sheet fits our CPU budget.
* ``gatys``: the same sheet with the issue's texture transfer — Gatys et al. coarse to fine on the warped content
  (:func:`vidstyle.stylise.geometric.stylise_geometric`), small and few steps for the CPU.
* ``video``: E_warp (METRICS.md, k = 1 and 10) of DAVIS shots through the pipeline: the method without geometry
  (against its input), and with geometry (against the warped input clip, its own input) warped before the
  pipeline (what ``vidstyle run --geometry-style`` does; cover and reflection fills), warped after stylisation,
  and warped inside a per-frame styliser blended along the unwarped flow (the earlier wrapper's behaviour).

    nice -n 5 python benchmarks/bench_geometry.py --parts video --append
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from results_md import append_section  # noqa: E402

from vidstyle.nets.geometry import point_error_px  # noqa: E402

SHARED = ROOT.parent / "shared"
BANK = Path.home() / ".cache" / "vidstyle" / "geometry" / "bank_heldout.pt"
OUT = ROOT / "benchmarks"
PAINTINGS = SHARED / "registry" / "paintings"
STYLES = SHARED / "data" / "styles"


def accuracy(n_opt: int) -> tuple[str, dict]:
    from vidstyle.nets.geometry import optimise_params
    from vidstyle.stylise.geometric import load_regressor
    from vidstyle.train.geometry import Bank

    bank = Bank(BANK)
    res: dict = {"pairs": len(bank)}
    rows = []
    for kind in ("affine", "tps"):
        idx = torch.tensor([i for i, k in enumerate(bank.kind) if k == kind])
        truth = bank.theta[kind][idx]
        methods: dict[str, torch.Tensor] = {"identity (no warp)": torch.zeros_like(truth)}
        net = None
        try:
            net = load_regressor(kind)
            with torch.no_grad():
                methods["regressor (network)"] = net(bank.corr[idx])
        except Exception as e:  # noqa: BLE001
            print(f"{kind}: no regressor ({e})", flush=True)
        sub = idx[:n_opt]
        t0 = time.perf_counter()
        opt = torch.cat([optimise_params(bank.fa[bank.crop[i]].unsqueeze(0), bank.fb[i].unsqueeze(0), kind) for i in sub])
        t_opt = (time.perf_counter() - t0) / len(sub)
        both = None
        if net is not None:
            t0 = time.perf_counter()
            with torch.no_grad():
                init = net(bank.corr[sub])
            both = torch.cat([optimise_params(bank.fa[bank.crop[i]].unsqueeze(0), bank.fb[i].unsqueeze(0), kind,
                                              init=init[j:j + 1]) for j, i in enumerate(sub)])
            t_both = (time.perf_counter() - t0) / len(sub)
        for name, pred in methods.items():
            err = point_error_px(pred, truth, kind)
            err_sub = err[: len(sub)]
            rows.append((kind, name, len(idx), float(err.mean()), float(err.median()), float(err_sub.mean()), None))
        err = point_error_px(opt, truth[: len(sub)], kind)
        rows.append((kind, "direct optimisation (no network)", len(sub), None, float(err.median()), float(err.mean()), t_opt))
        if both is not None:
            err = point_error_px(both, truth[: len(sub)], kind)
            rows.append((kind, "regressor + optimisation", len(sub), None, float(err.median()), float(err.mean()), t_both))
        res[kind] = [dict(zip(("kind", "method", "pairs", "mean_all", "median", "mean_subset", "s_per_pair"), r)) for r in rows if r[0] == kind]
        print(json.dumps(res[kind]), flush=True)
    lines = ["| kind | method | pairs | mean px (all pairs of the kind) | mean px (first "
             f"{n_opt}) | median px | s / pair |", "|---|---|---:|---:|---:|---:|---:|"]
    for kind, name, n, mean_all, med, mean_sub, t in rows:
        lines.append(f"| {kind} | {name} | {n} | {'' if mean_all is None else f'{mean_all:.1f}'} | {mean_sub:.1f} | "
                     f"{med:.1f} | {'' if t is None else f'{t:.1f}'} |")
    return "\n".join(lines), res


def _load(path: Path, side: int = 256) -> torch.Tensor:
    from vidstyle.media.image import load_image, resize_long_side

    return resize_long_side(load_image(path), side)


SHEET_ROWS = [  # content, geometric style, texture style
    (SHARED / "registry/photos/chelsea.png", STYLES / "munch_the_scream.jpg", STYLES / "munch_the_scream.jpg"),
    (SHARED / "registry/photos/astronaut.png", PAINTINGS / "VincentVanGoghBridge_background.webp",
     PAINTINGS / "VincentVanGoghBridge_background.webp"),
    (SHARED / "data/content/tubingen.jpg", STYLES / "munch_the_scream.jpg", PAINTINGS / "starry_night.jpg"),
    (SHARED / "data/content/golden_gate.jpg", PAINTINGS / "VincentVanGoghBridge_background.webp",
     PAINTINGS / "VincentVanGoghBridge_background.webp"),
    (SHARED / "registry/photos/coffee.png", PAINTINGS / "PortraitOfPereTanguy_background.webp",
     PAINTINGS / "PortraitOfPereTanguy_background.webp"),
    (SHARED / "data/content/bsds500/test/100007.jpg", PAINTINGS / "Eglise_dAuvers-sur-Oise_background.webp",
     PAINTINGS / "Eglise_dAuvers-sur-Oise_background.webp"),
]


def _draw_sheet(rows: list[list[torch.Tensor]], header: list[str], cell: int):
    from PIL import Image, ImageDraw

    def fit(x: torch.Tensor) -> Image.Image:
        im = Image.fromarray((x[0].clamp(0, 1) * 255).byte().permute(1, 2, 0).numpy())
        im.thumbnail((cell, cell))
        canvas = Image.new("RGB", (cell, cell), "white")
        canvas.paste(im, ((cell - im.width) // 2, (cell - im.height) // 2))
        return canvas

    sheet_im = Image.new("RGB", (cell * len(header), 18 + cell * len(rows)), "white")
    draw = ImageDraw.Draw(sheet_im)
    for j, h in enumerate(header):
        draw.text((j * cell + 4, 3), h, fill="black")
    for i, row in enumerate(rows):
        for j, x in enumerate(row):
            sheet_im.paste(fit(x), (j * cell, 18 + i * cell))
    return sheet_im


def sheet(kind: str, estimator: str) -> str:
    from vidstyle.stylise.geometric import GeometryEstimator, stylise_geometric
    from vidstyle.stylise.magenta import MagentaStyliser

    est = GeometryEstimator(kind, estimator)
    cell = 200
    header = ["content", "geometric style", "texture style", "texture only", "geometry only", "geometric + texture"]
    rows = []
    for content_p, geo_p, tex_p in SHEET_ROWS:
        content, geo, tex = _load(content_p), _load(geo_p), _load(tex_p)
        mag = MagentaStyliser([tex], backend="torch")
        with torch.inference_mode():
            tex_only = mag.stylise(content)
        warped, plan = stylise_geometric(content, geo, est, geometry_only=True)
        with torch.inference_mode():
            both = mag.stylise(warped)
        rows.append([content, geo, tex, tex_only, warped, both])
        print(kind, content_p.name, geo_p.name, plan.params.numpy().round(3).tolist(), plan.zoom, flush=True)

    sheet_im = _draw_sheet(rows, header, cell)
    path = OUT / f"geometry_sheet_{kind}.png"
    sheet_im.save(path)
    return path.name


def gatys_sheet(kind: str, estimator: str, size: int, steps: int) -> str:
    """The seed's figure with its texture transfer: Gatys coarse to fine (1/8 → 1, ×2 per level, each level from the
    previous one), on the content (texture only) and on the warped content (geometric + texture); and, from the
    same Θ, a sheet of the border fills (reflection | border | zeros | cover)."""
    from vidstyle.config import OptimiseConfig
    from vidstyle.nets.vgg import load_vgg
    from vidstyle.stylise.geometric import (
        GeometryEstimator,
        gatys_coarse_to_fine,
        geometric_pyramid,
        plan_warp,
        stylise_geometric,
    )

    est = GeometryEstimator(kind, estimator)
    cfg = OptimiseConfig(size=size, steps=steps, coarse_steps=steps)
    encoder = load_vgg(cfg.style_layers + cfg.content_layers, cfg.vgg_source)
    rows, notes, fills = [], [], []
    for content_p, geo_p, tex_p in SHEET_ROWS:
        t0 = time.perf_counter()
        content, geo, tex = _load(content_p, size), _load(geo_p), _load(tex_p)
        warped, plan = stylise_geometric(content, geo, est, geometry_only=True)
        fills.append([content, geo, *[plan_warp(plan.params, kind, b).apply(content)
                                      for b in ("reflection", "border", "zeros")], warped])
        tex_only = gatys_coarse_to_fine(content, [tex], encoder, cfg)
        both = gatys_coarse_to_fine(warped, [tex], encoder, cfg)
        rows.append([content, geo, tex, tex_only, warped, both])
        notes.append(f"{content_p.stem} / {geo_p.stem}: zoom ×{plan.zoom:.2f}, Θ {plan.params.numpy().round(3).tolist()}")
        print(kind, notes[-1], f"{time.perf_counter() - t0:.0f} s", flush=True)
    header = ["content", "geometric style", "texture style", "texture only (Gatys)", "geometry only",
              "geometric + texture (Gatys)"]
    name = f"geometry_sheet_gatys_{kind}.png"
    _draw_sheet(rows, header, 200).save(OUT / name)
    fill_name = f"geometry_border_fill_{kind}.png"
    _draw_sheet(fills, ["content", "geometric style", "reflection", "border (replicate)", "zeros", "cover (default)"],
                200).save(OUT / fill_name)
    levels = "→".join(map(str, geometric_pyramid(size)))
    return (f"Gatys sheet ({kind}, long side {size}, levels {levels} px, {steps} L-BFGS steps per level): "
            f"![{name}]({name}), border fills: ![{fill_name}]({fill_name})\n\n" + "\n".join(f"* {n}" for n in notes))


class _Collect:
    """A writer that keeps the frames (CPU)."""

    def __init__(self) -> None:
        self.frames: list[torch.Tensor] = []

    def write(self, x: torch.Tensor, pts) -> None:
        self.frames.append(x.cpu())

    def clip(self) -> torch.Tensor:
        return torch.cat(self.frames)


def _batches(frames: torch.Tensor, n: int = 4) -> list:
    from vidstyle.media.frames import FrameBatch

    return [FrameBatch(frames[i:i + n], list(range(i, min(i + n, len(frames)))), list(range(i, min(i + n, len(frames)))))
            for i in range(0, len(frames), n)]


def video(clips: list[str], frames_n: int, side: int, methods: list[str], geo_style: Path, kind: str,
          max_zoom: float = 1.3, variants: str = "all") -> tuple[str, dict]:
    """E_warp (k = 1, 10) of geometric shots: the input-warp design (what ``vidstyle run --geometry-style`` does)
    against the same method without geometry, warping after stylisation, and the old wrapper's behaviour (warp
    inside a per-frame styliser, blended by the pipeline along the *unwarped* clip's flow)."""
    from vidstyle.flow import get_estimator
    from vidstyle.media.reader import open_frames
    from vidstyle.methods import build_styliser
    from vidstyle.metrics import warping_error
    from vidstyle.nets.geometry import uncovered
    from vidstyle.pipeline import run_pipeline
    from vidstyle.stylise.base import Styliser
    from vidstyle.stylise.geometric import GeometricReader, GeometricWarp, GeometryEstimator, load_style, plan_warp

    style = load_style(geo_style)
    tex_style = STYLES / "munch_the_scream.jpg"
    est = GeometryEstimator(kind)

    class WarpInside(Styliser):  # the earlier GeometricStyliser as the pipeline ran it (per-frame, blended outside)
        def __init__(self, inner, warp):
            self.inner, self.w = inner, warp

        def stylise(self, frames, state=None):
            with torch.inference_mode():
                return self.inner.stylise(self.w.apply(frames))

    def run(batches, styliser) -> torch.Tensor:
        w = _Collect()
        styliser.reset()
        run_pipeline(batches, w, styliser, flow_estimator=get_estimator("dis"), progress=False)
        return w.clip()

    def ew(inp, out) -> dict:
        r = {k: warping_error(inp, out, k=k) for k in (1, 10)}
        return {f"k{k}": {kk: v[kk] for kk in ("e_warp", "input_e_warp", "ratio", "pairs", "excluded_at_cuts")}
                for k, v in r.items()}

    data: dict = {}
    lines = ["| clip | method | variant | measured against | E_warp k=1 | its input k=1 | ratio k=1 | E_warp k=10 | "
             "its input k=10 | ratio k=10 |", "|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for clip in clips:
        with open_frames(SHARED / "data/video" / clip, size=side, frames=(0, frames_n)) as reader:
            raw = torch.cat([b.frames for b in reader])
        t0 = time.perf_counter()
        geo = GeometricReader(_batches(raw), style, est, flow_estimator=get_estimator("dis"), max_zoom=max_zoom)
        warped = torch.cat([b.frames for b in geo])
        est_s = time.perf_counter() - t0
        first, plan = geo.warps[0]
        refl = plan_warp(plan.params, kind, "reflection")
        warped_refl = refl.apply(raw)
        info = {"shots": len(geo.warps), "params": plan.params.numpy().round(3).tolist(), "zoom": plan.zoom,
                "uncovered_at_zoom_1": uncovered(plan.params, kind), "estimate_and_warp_s": round(est_s, 1),
                "size": list(raw.shape[-2:])}
        print(clip, info, flush=True)
        data[clip] = {"info": info}
        for method in methods:
            model = "starry-night" if method == "fast" else None
            sty, text = build_styliser(method, [] if model else [tex_style], model, backend="torch")
            cover = f"cover, zoom ≤ {max_zoom:g}"
            plain = run(_batches(raw), sty)
            rows = {"no geometry": (raw, plain, "input"),
                    f"input warped before the pipeline ({cover})": (warped, run(_batches(warped), sty), "warped input")}
            if variants == "zoom":  # control: the cover zoom alone, no geometric transform
                zoomed = GeometricWarp(torch.zeros_like(plan.params), kind, plan.zoom, plan.padding).apply(raw)
                rows[f"zoom ×{plan.zoom:.2f} only, no transform (control)"] = (zoomed, run(_batches(zoomed), sty),
                                                                            "zoomed input")
            if variants == "all":
                rows["input warped before the pipeline (reflection fill)"] = (
                    warped_refl, run(_batches(warped_refl), sty), "warped input (reflection)")
            if variants != "zoom":
                rows[f"warp after stylisation ({cover})"] = (warped, plan.apply(plain), "warped input")
            if variants == "all":
                rows["old wrapper (warp inside, blended along the unwarped flow)"] = (
                    warped, run(_batches(raw), WarpInside(sty, plan)), "warped input")
            data[clip][method] = {}
            for name, (inp, out, against) in rows.items():
                r = ew(inp, out)
                data[clip][method][name] = r
                lines.append(f"| {clip} | {method} | {name} | {against} | {r['k1']['e_warp']:.5f} | "
                             f"{r['k1']['input_e_warp']:.5f} | {r['k1']['ratio']:.2f} | {r['k10']['e_warp']:.5f} | "
                             f"{r['k10']['input_e_warp']:.5f} | {r['k10']['ratio']:.2f} |")
                print(lines[-1], flush=True)
    return "\n".join(lines), data


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="accuracy,sheet,video")
    ap.add_argument("--n-opt", type=int, default=12, help="held-out pairs per kind for the (slower) optimisation")
    ap.add_argument("--estimator", default="network+optimise", help="for the sheet and the E_warp shot")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--clips", default="dog,blackswan")
    ap.add_argument("--gatys-kinds", default="affine,tps")
    ap.add_argument("--gatys-estimator", default="auto")
    ap.add_argument("--gatys-size", type=int, default=256)
    ap.add_argument("--gatys-steps", type=int, default=40)
    ap.add_argument("--side", type=int, default=480)
    ap.add_argument("--methods", default="magenta,fast")
    ap.add_argument("--kind", default="affine")
    ap.add_argument("--max-zoom", type=float, default=1.3, help="cover fill's zoom cap for the video part")
    ap.add_argument("--variants", default="all", help="all; few (no reflection / old-wrapper rows); zoom (the zoom-only control instead of warp-after)")
    ap.add_argument("--geometry-style", type=Path, default=STYLES / "munch_the_scream.jpg")
    ap.add_argument("--append", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(2)
    parts = args.parts.split(",")
    body, data = [], {}
    if "accuracy" in parts:
        table, data["accuracy"] = accuracy(args.n_opt)
        body += ["### Regressor accuracy on held-out synthetic pairs", "", table, ""]
    if "sheet" in parts:
        names = [sheet(k, args.estimator) for k in ("affine", "tps")]
        data["sheets"] = names
        body += ["### Contact sheets", "", *[f"![{n}]({n})" for n in names], ""]
    if "gatys" in parts:
        for kind in args.gatys_kinds.split(","):
            body += [f"### Gatys sheet, {kind}", "", gatys_sheet(kind, args.gatys_estimator, args.gatys_size,
                                                                   args.gatys_steps), ""]
            print("\n".join(body[-3:]), flush=True)
    if "video" in parts:
        table, data["video"] = video(args.clips.split(","), args.frames, args.side, args.methods.split(","),
                                     args.geometry_style, args.kind, args.max_zoom, args.variants)
        body += [f"### E_warp of geometric shots (DAVIS {args.clips}, frames 0–{args.frames - 1}, long side "
                 f"{args.side} px, {args.kind}, geometric style {args.geometry_style.name}, cover zoom ≤ {args.max_zoom:g})",
                 "", table, ""]
    (OUT / f"bench_geometry_{'_'.join(parts)}.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    print("\n".join(body))
    if args.append:
        append_section("Geometric style transfer (arXiv:2007.05471)", "Numbers below; discussion in the text after them.",
                       "\n".join(body))


if __name__ == "__main__":
    main()
