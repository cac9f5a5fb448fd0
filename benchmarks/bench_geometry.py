"""Geometric style transfer (arXiv:2007.05471): regressor accuracy, contact sheets, E_warp of a shot.

Parts (``--parts accuracy,sheet,ewarp``):

* ``accuracy``: on the held-out bank (BSDS500-test crops, stylised with the held-out paintings
  munch_the_scream / VincentVanGoghBridge_background, never trained on), mean point error in pixels at 240 px —
  4 corners for affine pairs, a 10×10 grid for TPS pairs — of: identity (no warp), the trained regressor, the
  direct correlation optimisation (no network) and the regressor refined by it.
* ``sheet``: contact sheets like the seed's figure (content | geometric style | texture style | texture-only |
  geometry-only | geometric + texture), one per transform kind; texture by the style-embedding network
  (``magenta``) so that the sheet fits our CPU budget.
* ``ewarp``: E_warp (METRICS.md, k = 1) of a held-out DAVIS shot stylised by magenta through the pipeline, with
  and without geometry; the geometric output is measured against the geometry-only clip (its own input), and
  the same wrapper without the flow composition shows what composing it buys.

    nice -n 5 python benchmarks/bench_geometry.py --parts accuracy,sheet,ewarp --append
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

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


def sheet(kind: str, estimator: str) -> str:
    from PIL import Image, ImageDraw

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
        warped, params = stylise_geometric(content, geo, est, geometry_only=True)
        with torch.inference_mode():
            both = mag.stylise(warped)
        rows.append([content, geo, tex, tex_only, warped, both])
        print(kind, content_p.name, geo_p.name, params.numpy().round(3).tolist(), flush=True)

    def fit(x: torch.Tensor) -> Image.Image:
        im = Image.fromarray((x[0].clamp(0, 1) * 255).byte().permute(1, 2, 0).numpy())
        im.thumbnail((cell, cell))
        canvas = Image.new("RGB", (cell, cell), "white")
        canvas.paste(im, ((cell - im.width) // 2, (cell - im.height) // 2))
        return canvas

    sheet_im = Image.new("RGB", (cell * 6, 18 + cell * len(rows)), "white")
    draw = ImageDraw.Draw(sheet_im)
    for j, h in enumerate(header):
        draw.text((j * cell + 4, 3), h, fill="black")
    for i, row in enumerate(rows):
        for j, x in enumerate(row):
            sheet_im.paste(fit(x), (j * cell, 18 + i * cell))
    path = OUT / f"geometry_sheet_{kind}.png"
    sheet_im.save(path)
    return path.name


def ewarp(frames_n: int, estimator: str) -> tuple[str, dict]:
    from vidstyle.flow import get_estimator
    from vidstyle.media.image import load_image, resize_long_side
    from vidstyle.media.reader import FrameBatch
    from vidstyle.metrics import warping_error
    from vidstyle.pipeline import run_pipeline
    from vidstyle.stylise import geometric
    from vidstyle.stylise.geometric import GeometricStyliser, GeometryEstimator
    from vidstyle.stylise.magenta import MagentaStyliser

    seq = sorted((SHARED / "data/video/dog").glob("*.jpg"))[:frames_n]
    frames = torch.cat([resize_long_side(load_image(p), 320) for p in seq])
    style = _load(STYLES / "munch_the_scream.jpg")

    class Writer:
        def __init__(self):
            self.frames = []

        def write(self, x, pts):
            self.frames.append(x.cpu())

    def run(styliser) -> torch.Tensor:
        reader = [FrameBatch(frames[i:i + 4], list(range(i, min(i + 4, len(frames))))) for i in range(0, len(frames), 4)]
        w = Writer()
        run_pipeline(reader, w, styliser, flow_estimator=get_estimator("dis"), progress=False)
        return torch.cat(w.frames)

    est = GeometryEstimator("affine", estimator)
    plain = run(MagentaStyliser([style], backend="torch"))
    geo_only = run(GeometricStyliser(None, style, est))
    geo = run(GeometricStyliser(MagentaStyliser([style], backend="torch"), style, est))
    original = geometric.compose_flow
    geometric.compose_flow = lambda flow, mask, params, kind: (flow, mask if mask is not None else torch.ones_like(flow[:, :1]))
    try:
        naive = run(GeometricStyliser(MagentaStyliser([style], backend="torch"), style, est))
    finally:
        geometric.compose_flow = original
    res = {
        "magenta, no geometry (vs input)": warping_error(frames, plain),
        "magenta + affine geometry, flow composed with the warp (vs geometry-only clip)": warping_error(geo_only, geo),
        "magenta + affine geometry, input flow used unchanged (vs geometry-only clip)": warping_error(geo_only, naive),
    }
    lines = ["| clip | E_warp (k=1) | its input's E_warp | ratio | pairs |", "|---|---:|---:|---:|---:|"]
    for name, r in res.items():
        lines.append(f"| {name} | {r['e_warp']:.5f} | {r['input_e_warp']:.5f} | {r['ratio']:.2f} | {r['pairs']} |")
    return "\n".join(lines), {k: {kk: v[kk] for kk in ("e_warp", "input_e_warp", "ratio", "pairs")} for k, v in res.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="accuracy,sheet,ewarp")
    ap.add_argument("--n-opt", type=int, default=12, help="held-out pairs per kind for the (slower) optimisation")
    ap.add_argument("--estimator", default="network+optimise", help="for the sheet and the E_warp shot")
    ap.add_argument("--frames", type=int, default=24)
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
    if "ewarp" in parts:
        table, data["ewarp"] = ewarp(args.frames, args.estimator)
        body += [f"### E_warp of a geometric-style shot (DAVIS dog, first {args.frames} frames, 320 px, magenta)", "", table, ""]
    (OUT / "bench_geometry.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    print("\n".join(body))
    if args.append:
        append_section("Geometric style transfer (arXiv:2007.05471)", "Numbers below; discussion in the text after them.",
                       "\n".join(body))


if __name__ == "__main__":
    main()
