"""Per-style nets distilled from the magenta teacher, and the temporally fine-tuned teacher (issue 15).

    python benchmarks/bench_multistyle.py perstyle --candidates DIR [--frames 20] [--long-side 320]
    python benchmarks/bench_multistyle.py sheet    --candidates DIR
    python benchmarks/bench_multistyle.py temporal --generator models/magenta-temporal.safetensors [--paintings 3]
    python benchmarks/bench_multistyle.py temporal-sheet --generator models/magenta-temporal.safetensors
    python benchmarks/bench_multistyle.py table --rows film=DIR/ms-film.safetensors,cin=… [--style-swap]
    python benchmarks/bench_multistyle.py table-sheet --rows film=…,cin=…
    python benchmarks/bench_multistyle.py speed --rows film=…,lite=…
    python benchmarks/bench_multistyle.py gatys [--candidates DIR]   # per-style nets vs Gatys 40+40 at 384 px

``table`` (the multi-style seed's comparison on our metrics): rows = each ``--rows`` generator (trained by
``vidstyle train-multistyle``), the teacher, the shipped per-style Johnson net (on its own painting only) and
optionally ``style-swap``; paintings = the two held-out ones and the four with a per-style net (training
paintings), reported separately. Columns: normalised style error (+ per layer), raw style distance, content
distance, SSIM, E_warp k=1 per frame and after the pipeline's flow-guided blending. ``speed``: ms/frame of each
generator as ``MagentaStyliser`` runs it (onnxruntime fp32 and int8, eager torch) at 640×360 and 320×180.

``perstyle``: for each of the four shipped per-style nets, three rows — the shipped (old) net, the candidate
distilled net of the same name in ``--candidates``, and the teacher (magenta generator at the painting's
``resize`` embedding, per frame, no blending). ``temporal``: the teacher vs a fine-tuned generator over held-out
and training paintings. Every number comes from :mod:`vidstyle.metrics` (METRICS.md):

* E_warp k=1 on the held-out DAVIS sequences (dog, soapbox, parkour; first ``--frames`` frames, long side
  ``--long-side``; DIS flow on the inputs), with the input's own value;
* style distance (raw) and normalised style error (+ per layer) vs the painting, content distance (relu4_2) and
  SSIM on kodim05/15/23 at long side ``--quality-side`` (the style image resized to the same long side).

Results: JSON lines on stdout and ``benchmarks/multistyle_<part>.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
HELD_OUT = ("dog", "soapbox", "parkour")
PERSTYLE = ("starry-night", "cafe-terrace", "night-cafe", "church-auvers")
PHOTOS = ("kodim05.png", "kodim15.png", "kodim23.png")


def _read_seq(name: str, frames: int, long_side: int) -> torch.Tensor:
    from vidstyle.media.image import load_image, resize_long_side

    files = sorted((SHARED / "data" / "video" / name).glob("*.jpg"))[:frames]
    return torch.cat([resize_long_side(load_image(f), long_side) for f in files])


def _painting(file: str) -> Path:
    for folder in (SHARED / "registry" / "paintings", SHARED / "data" / "styles", ROOT / "samples"):
        if (folder / file).is_file():
            return folder / file
    raise SystemExit(f"painting {file} not found")


class Setup:
    """Held-out clips, photos and the VGG encoder, loaded once."""

    def __init__(self, args) -> None:
        from vidstyle.media.image import load_image, resize_long_side
        from vidstyle.metrics import warping_error
        from vidstyle.nets.vgg import load_vgg

        self.args = args
        clips = HELD_OUT if args.frames >= 2 else ()  # frames < 2: quality only
        self.seqs = {s: _read_seq(s, args.frames, args.long_side) for s in clips}
        self.input_e = {s: warping_error(x, None, k=1)["e_warp"] for s, x in self.seqs.items()}
        self.photos = [resize_long_side(load_image(SHARED / "data/content/kodak24" / f), args.quality_side)
                       for f in PHOTOS[:args.photos]]
        self.enc = load_vgg(("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1", "relu4_2"))
        with torch.inference_mode():
            self.photo_feats = [self.enc(c, ("relu4_2",))["relu4_2"] for c in self.photos]

    @torch.inference_mode()
    def measure(self, fn, style: torch.Tensor, temporal: bool = True) -> dict:
        """``fn``: ``N×3×H×W`` → stylised. Quality on the photos vs ``style``; E_warp on the held-out clips."""
        from vidstyle.metrics import (CONTENT_LAYER, content_distance_from_features,
                                      normalised_style_error_per_layer, ssim_luma, style_distance_from_features,
                                      style_grams, warping_error)

        row: dict = {}
        if temporal:
            per = {}
            for s, x in self.seqs.items():
                out = torch.cat([fn(x[i:i + 4]) for i in range(0, len(x), 4)]).clamp(0, 1)
                per[s] = warping_error(x, out, k=1)["e_warp"]
            row["e_warp_k1"] = {k: round(v, 6) for k, v in per.items()}
            row["e_warp_k1_mean"] = round(statistics.mean(per.values()), 6)
            row["input_e_warp_k1_mean"] = round(statistics.mean(self.input_e.values()), 6)
        grams = style_grams(style, self.enc, self.args.quality_side)
        sd, nse, cd, ss, layers = [], [], [], [], {}
        for c, fc in zip(self.photos, self.photo_feats):
            o = fn(c).clamp(0, 1)
            feats = self.enc(o, tuple(grams) + (CONTENT_LAYER,))  # one VGG pass serves every metric
            sd.append(style_distance_from_features(feats, grams).item())
            per_layer = normalised_style_error_per_layer(feats, grams)
            nse.append(torch.stack(list(per_layer.values())).mean().item())
            for k, v in per_layer.items():
                layers.setdefault(k, []).append(v.item())
            cd.append(content_distance_from_features(feats[CONTENT_LAYER], fc).item())
            ss.append(ssim_luma(c, o).mean().item())
        row.update(style_distance=statistics.mean(sd), normalised_style_error=round(statistics.mean(nse), 4),
                   normalised_style_error_per_layer={k: round(statistics.mean(v), 4) for k, v in layers.items()},
                   content_distance=statistics.mean(cd), ssim=round(statistics.mean(ss), 4),
                   quality_size=self.args.quality_side)
        return row


def _teacher(generator=None):
    from vidstyle.train.teacher import style_embedding, teacher_networks

    pred, gen = teacher_networks("cpu", transformer=generator)
    return pred, gen, style_embedding


def bench_perstyle(args) -> dict:
    from vidstyle.media.image import load_image
    from vidstyle.nets.transformer import load_transformer
    from vidstyle.weights import read_card

    torch.set_num_threads(args.threads)
    setup = Setup(args)
    pred, gen, embed = _teacher()
    res: dict = {"held_out": list(HELD_OUT), "frames": args.frames, "long_side": args.long_side,
                 "quality_photos": list(PHOTOS[:args.photos]), "input_e_warp_k1": setup.input_e, "styles": {}}
    for name in (args.models.split(",") if args.models else PERSTYLE):
        card = read_card(ROOT / "models" / f"{name}.safetensors")
        path = _painting(card["style"]["file"])
        style = load_image(path)
        z = embed(pred, path)
        rows = {}
        old, _ = load_transformer(ROOT / "models" / f"{name}.safetensors")
        rows["old"] = setup.measure(old, style)
        cand = args.candidates / f"{name}.safetensors"
        if cand.is_file():
            new, _ = load_transformer(cand)
            rows["new"] = setup.measure(new, style)
        rows["teacher"] = setup.measure(lambda x: gen(x, z), style)
        res["styles"][name] = rows
        print(json.dumps({name: rows}), flush=True)
    return res


def contact_sheet(args) -> Path:
    """Rows: style × photo; columns: content | old net | new net | teacher."""
    from vidstyle.media.image import load_image, resize_long_side, save_image
    from vidstyle.nets.transformer import load_transformer
    from vidstyle.weights import read_card

    pred, gen, embed = _teacher()
    photos = [SHARED / "data/content/kodak24/kodim23.png", SHARED / "data/video/dog/00020.jpg",
              SHARED / "data/content/kodak24/kodim15.png"][:args.photos]
    rows = []
    for name in (args.models.split(",") if args.models else PERSTYLE):
        card = read_card(ROOT / "models" / f"{name}.safetensors")
        path = _painting(card["style"]["file"])
        z = embed(pred, path)
        old, _ = load_transformer(ROOT / "models" / f"{name}.safetensors")
        cand = args.candidates / f"{name}.safetensors"
        new = load_transformer(cand)[0] if cand.is_file() else None
        thumb = resize_long_side(load_image(path), args.tile)
        for p in photos:
            x = resize_long_side(load_image(p), args.tile)
            with torch.inference_mode():
                tiles = [x, old(x)] + ([new(x)] if new is not None else []) + [gen(x, z).clamp(0, 1)]
            tiles = [F.interpolate(t, size=tiles[0].shape[-2:]) for t in tiles]
            th = F.interpolate(thumb, size=tiles[0].shape[-2:], mode="bilinear", antialias=True)
            rows.append(torch.cat([F.pad(t, (0, 4, 0, 4), value=1.0) for t in [th] + tiles], 3))
    w = max(r.shape[3] for r in rows)
    sheet = torch.cat([F.pad(r, (0, w - r.shape[3]), value=1.0) for r in rows], 2)
    out = args.out or ROOT / "benchmarks" / "multistyle_perstyle_sheet.png"
    save_image(sheet, out, force=True)
    print("rows: style x photo", args.models or list(PERSTYLE), "columns: painting | content | old | new | teacher")
    return out


def temporal_sheet(args) -> Path:
    """Rows: painting × photo; columns: painting | content | teacher | fine-tuned generator."""
    from vidstyle.nets.magenta import fuse_magenta, load_generator_weights

    return _generator_sheet(args.paintings.split(","), {"tuned": fuse_magenta(load_generator_weights(args.generator))},
                            args.tile, args.out or ROOT / "benchmarks" / "multistyle_temporal_sheet.png")


def _generator_sheet(paintings: list[str], gens: dict, tile: int, out: Path) -> Path:
    """Rows: painting × (kodim23, DAVIS dog frame 20); columns: painting | content | teacher | each of ``gens``."""
    from vidstyle.media.image import load_image, resize_long_side, save_image

    pred, teacher, embed = _teacher()
    photos = [SHARED / "data/content/kodak24/kodim23.png", SHARED / "data/video/dog/00020.jpg"]
    rows = []
    for name in paintings:
        path = _painting(name)
        z = embed(pred, path)
        thumb = resize_long_side(load_image(path), tile)
        for p in photos:
            x = resize_long_side(load_image(p), tile)
            with torch.inference_mode():
                tiles = [x, teacher(x, z)] + [g(x, z) for g in gens.values()]
            th = F.interpolate(thumb, size=x.shape[-2:], mode="bilinear", antialias=True)
            rows.append(torch.cat([F.pad(t.clamp(0, 1), (0, 4, 0, 4), value=1.0) for t in [th] + tiles], 3))
    w = max(r.shape[3] for r in rows)
    sheet = torch.cat([F.pad(r, (0, w - r.shape[3]), value=1.0) for r in rows], 2)
    save_image(sheet, out, force=True)
    print("columns: painting | content | teacher |", " | ".join(gens))
    return out


def bench_temporal(args) -> dict:
    """Teacher vs fine-tuned generator over paintings (held-out and training reported separately)."""
    from vidstyle.media.image import load_image
    from vidstyle.nets.magenta import fuse_magenta, load_generator_weights
    from vidstyle.train.teacher import HELD_OUT_PAINTINGS, list_paintings

    torch.set_num_threads(args.threads)
    setup = Setup(args)
    pred, teacher, embed = _teacher()
    tuned = fuse_magenta(load_generator_weights(args.generator))
    folders = [SHARED / "data" / "styles", SHARED / "registry" / "paintings"]
    train = list_paintings(folders)
    held = [p for p in list_paintings(folders, held_out=()) if p.stem in HELD_OUT_PAINTINGS]
    if args.paintings:  # evenly spaced over the sorted list (both folders represented)
        step = len(train) / args.paintings
        train = [train[int(i * step)] for i in range(args.paintings)]
    res: dict = {"generator": str(args.generator), "held_out": list(HELD_OUT), "frames": args.frames,
                 "long_side": args.long_side, "input_e_warp_k1": setup.input_e, "paintings": {}}
    for group, paths in (("held_out", held), ("training", train)):
        for p in paths:
            z = embed(pred, p)
            style = load_image(p)
            rows = {"group": group, "photos": list(PHOTOS[:args.photos]), "teacher": setup.measure(lambda x: teacher(x, z), style),
                    "tuned": setup.measure(lambda x: tuned(x, z), style)}
            res["paintings"][p.name] = rows
            print(json.dumps({p.name: rows}), flush=True)
    summary = {}
    for group in ("held_out", "training"):
        rows = [r for r in res["paintings"].values() if r["group"] == group]
        if not rows:
            continue
        s = {}
        for who in ("teacher", "tuned"):
            s[who] = {"e_warp_k1_mean": statistics.mean(r[who]["e_warp_k1_mean"] for r in rows),
                      "normalised_style_error": statistics.mean(r[who]["normalised_style_error"] for r in rows),
                      "style_distance": statistics.mean(r[who]["style_distance"] for r in rows),
                      "content_distance": statistics.mean(r[who]["content_distance"] for r in rows),
                      "ssim": statistics.mean(r[who]["ssim"] for r in rows)}
        s["e_warp_ratio"] = s["tuned"]["e_warp_k1_mean"] / s["teacher"]["e_warp_k1_mean"]
        s["style_error_ratio"] = s["tuned"]["normalised_style_error"] / s["teacher"]["normalised_style_error"]
        s["paintings"] = len(rows)
        summary[group] = s
    res["summary"] = summary
    print(json.dumps({"summary": summary}), flush=True)
    return res


#: The table's paintings: held out of every any-style training, then the four with a shipped per-style net.
TABLE_PAINTINGS = (("munch_the_scream.jpg", "held_out", None),
                   ("VincentVanGoghBridge_background.webp", "held_out", None),
                   ("starry_night.jpg", "training", "starry-night"),
                   ("Gogh4_background.webp", "training", "cafe-terrace"),
                   ("Van_Gogh_The_Night_Cafe_background.webp", "training", "night-cafe"),
                   ("Eglise_dAuvers-sur-Oise_background.webp", "training", "church-auvers"))


def _rows(spec: str) -> dict[str, Path]:
    out = {}
    for item in filter(None, spec.split(",")):
        name, _, path = item.partition("=")
        out[name] = Path(path)
    return out


def _generator(path: Path):
    from vidstyle.nets.magenta import load_generator_weights
    from vidstyle.stylise.magenta import _fast_form

    return _fast_form(load_generator_weights(path))


def _embedding(gen, path: Path, z: torch.Tensor) -> torch.Tensor:
    """The embedding ``gen`` expects for the painting: the teacher's ``z``, or its own Gram encoder's (``--encoder gram``)."""
    if getattr(gen, "style_encoder", None) is None:
        return z
    from vidstyle.media.image import load_image
    from vidstyle.nets.multistyle import GRAM_LAYERS, STAT_LAYERS, GramPredictor
    from vidstyle.nets.vgg import load_vgg
    from vidstyle.stylise.magenta import style_views
    from vidstyle.train.teacher import STYLE_VIEW

    with torch.inference_mode():
        return GramPredictor(load_vgg(GRAM_LAYERS + STAT_LAYERS), gen.style_encoder)(
            style_views(load_image(path), STYLE_VIEW)).mean(0, keepdim=True)


def _blended(setup: "Setup", fn) -> dict:
    """E_warp k=1 of ``fn`` per frame and after the pipeline's flow-guided blending (TemporalState, DIS)."""
    from vidstyle.flow import get_estimator
    from vidstyle.metrics import warping_error
    from vidstyle.temporal import TemporalState

    plain_e, blend_e = {}, {}
    for s, x in setup.seqs.items():
        plain = torch.cat([fn(x[i:i + 4]) for i in range(0, len(x), 4)]).clamp(0, 1)
        ts = TemporalState(estimator=get_estimator("dis"))
        out = []
        for f, p in zip(x, plain):
            obs = ts.observe(f[None])[0]
            o = ts.blend(p[None], obs)
            ts.commit(o)
            out.append(o)
        plain_e[s] = warping_error(x, plain, k=1)["e_warp"]
        blend_e[s] = warping_error(x, torch.cat(out), k=1)["e_warp"]
    return {"e_warp_k1": round(statistics.mean(plain_e.values()), 6),
            "e_warp_k1_blend": round(statistics.mean(blend_e.values()), 6),
            "e_warp_k1_per_seq": {k: round(v, 6) for k, v in plain_e.items()}}


def bench_table(args) -> dict:
    from vidstyle.media.image import load_image
    from vidstyle.nets.transformer import load_transformer

    torch.set_num_threads(args.threads)
    setup = Setup(args)
    pred, teacher, embed = _teacher()
    gens = {name: _generator(p) for name, p in _rows(args.rows).items()}
    res: dict = {"held_out_sequences": list(HELD_OUT), "frames": args.frames, "long_side": args.long_side,
                 "quality_photos": list(PHOTOS[:args.photos]), "input_e_warp_k1": setup.input_e,
                 "rows": {k: str(v) for k, v in _rows(args.rows).items()}, "paintings": {}}
    paintings = [p for p in TABLE_PAINTINGS if not args.paintings or p[0] in args.paintings.split(",")]
    for file, group, perstyle in paintings:
        path = _painting(file)
        style, z = load_image(path), embed(pred, path)
        cells: dict = {"group": group}
        fns = {"teacher": lambda x: teacher(x, z)}
        fns.update({name: (lambda g, zg: (lambda x: g(x, zg)))(g, _embedding(g, path, z)) for name, g in gens.items()})
        if perstyle:
            fns["per-style johnson"] = load_transformer(ROOT / "models" / f"{perstyle}.safetensors")[0]
        if args.style_swap:
            from vidstyle.methods import build_styliser

            swap, _ = build_styliser("style-swap", [path])
            fns["style-swap"] = lambda x: swap.stylise(x)
        for name, fn in fns.items():
            t0 = time.perf_counter()
            with torch.inference_mode():
                row = setup.measure(fn, style, temporal=False)
                row.update(_blended(setup, fn))
            row["seconds"] = round(time.perf_counter() - t0, 1)
            cells[name] = row
            print(json.dumps({"painting": file, "row": name, **{k: row[k] for k in (
                "normalised_style_error", "style_distance", "content_distance", "ssim", "e_warp_k1",
                "e_warp_k1_blend")}}), flush=True)
        res["paintings"][file] = cells
    summary: dict = {}
    for group in ("held_out", "training"):
        cells = [c for c in res["paintings"].values() if c["group"] == group]
        names = sorted({k for c in cells for k in c if k != "group"})
        for name in names:
            rows = [c[name] for c in cells if name in c]
            summary.setdefault(group, {})[name] = {
                k: statistics.mean(r[k] for r in rows) for k in (
                    "normalised_style_error", "style_distance", "content_distance", "ssim", "e_warp_k1",
                    "e_warp_k1_blend")} | {"paintings": len(rows)}
    res["summary"] = summary
    print(json.dumps({"summary": summary}), flush=True)
    return res


def bench_speed(args) -> dict:
    """ms/frame (median of ``--repeats``) of each generator in ``MagentaStyliser``, both backends, both sizes."""
    from vidstyle.stylise.magenta import MagentaStyliser

    torch.set_num_threads(args.threads)
    style = [_painting("munch_the_scream.jpg")]
    rows = {"teacher": None, **_rows(args.rows)}
    res: dict = {}
    for name, path in rows.items():
        for backend, precision in (("onnx", "fp32"), ("onnx", "int8"), ("torch", "fp32")):
            st = MagentaStyliser(style, transformer=path, backend=backend, precision=precision)
            backend = f"{backend}-{st.precision}"
            for w, h in ((640, 360), (320, 180)):
                x = torch.rand(1, 3, h, w)
                for _ in range(3):
                    st.stylise(x)
                ts = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    st.stylise(x)
                    ts.append(time.perf_counter() - t0)
                ms = 1000 * statistics.median(ts)
                res.setdefault(name, {})[f"{backend} {w}x{h}"] = round(ms, 2)
                print(json.dumps({"row": name, "backend": backend, "size": f"{w}x{h}", "ms": round(ms, 2)}), flush=True)
    return res


def bench_gatys(args) -> dict:
    """Per-style nets (shipped and ``--candidates``) against Gatys et al. (``--steps`` at half size, then at full
    size: 40+40 at 384 px by default) on their own painting, all measured at ``--quality-side``."""
    from vidstyle.api import stylise_image
    from vidstyle.config import OptimiseConfig
    from vidstyle.media.image import load_image
    from vidstyle.nets.transformer import load_transformer
    from vidstyle.weights import read_card

    torch.set_num_threads(args.threads)
    args.frames = 0  # no clips here
    setup = Setup(args)
    cfg = OptimiseConfig(size=args.quality_side, steps=args.steps, coarse_steps=args.steps, scales=2)
    res: dict = {"quality_side": args.quality_side, "gatys": {"steps": f"{args.steps}+{args.steps}", "scales": 2},
                 "photos": list(PHOTOS[:args.photos]), "styles": {}}
    for name in (args.models.split(",") if args.models else PERSTYLE):
        card = read_card(ROOT / "models" / f"{name}.safetensors")
        path = _painting(card["style"]["file"])
        style = load_image(path)
        t0 = time.perf_counter()  # optimisation needs autograd: render before measure()'s inference mode
        done = []
        for c, photo in zip(setup.photos, PHOTOS):
            cached = args.cache / f"{name}-{Path(photo).stem}-{args.quality_side}-{args.steps}.png" if args.cache else None
            if cached is not None and cached.is_file():  # a previous run's render of the same settings
                done.append((c, load_image(cached)))
                continue
            out = stylise_image(c, [path], cfg=cfg, device="cpu", progress=False)
            if cached is not None:
                from vidstyle.media.image import save_image

                cached.parent.mkdir(parents=True, exist_ok=True)
                save_image(out, cached, force=True)
                out = load_image(cached)  # every run measures the same 8-bit render
            done.append((c, out))
        seconds = (time.perf_counter() - t0) / len(done)

        def gatys(x, done=done):
            return next(o for c, o in done if c.shape == x.shape and torch.equal(c, x))

        rows = {"gatys": setup.measure(gatys, style, temporal=False),
                "shipped": setup.measure(load_transformer(ROOT / "models" / f"{name}.safetensors")[0], style,
                                         temporal=False)}
        if args.candidates and (args.candidates / f"{name}.safetensors").is_file():
            rows["candidate"] = setup.measure(load_transformer(args.candidates / f"{name}.safetensors")[0], style,
                                              temporal=False)
        rows["gatys"]["seconds_per_image"] = round(seconds, 1)
        for k in rows:
            rows[k]["ratio_to_gatys"] = round(rows[k]["normalised_style_error"] / rows["gatys"]["normalised_style_error"], 3)
        res["styles"][name] = rows
        print(json.dumps({name: {k: (v["normalised_style_error"], v["ratio_to_gatys"]) for k, v in rows.items()}}),
              flush=True)
    return res


def update_cards(args, res: dict) -> None:
    """``--update-cards``: write what ``table`` / ``speed`` measured into each ``--rows`` generator's card."""
    from vidstyle.weights import update_card

    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    command = "python " + " ".join(sys.argv)
    for name, path in _rows(args.rows).items():
        if args.cmd == "speed":
            bench = {"speed": {"ms_per_frame": res[name], "threads": args.threads, "date": when, "command": command}}
        else:
            groups = {g: {k: v for k, v in rows[name].items()} for g, rows in res["summary"].items() if name in rows}
            bench = {"e_warp": {g: {"k1": v["e_warp_k1"], "k1_blended": v["e_warp_k1_blend"]} for g, v in groups.items()},
                     "quality": {g: {k: v[k] for k in ("normalised_style_error", "style_distance", "content_distance",
                                                       "ssim", "paintings")} for g, v in groups.items()},
                     "e_warp_clips": list(HELD_OUT), "date": when, "command": command}
        update_card(path, benchmark=bench)
        print(f"updated {path.with_suffix('.json')}", file=sys.stderr)


def table_sheet(args) -> Path:
    """Rows: held-out painting × photo; columns: painting | content | teacher | each --rows generator."""
    gens = {name: _generator(p) for name, p in _rows(args.rows).items()}
    return _generator_sheet(args.paintings.split(","), gens, args.tile,
                            args.out or ROOT / "benchmarks" / "multistyle_table_sheet.png")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for n in ("perstyle", "temporal", "table"):
        p = sub.add_parser(n)
        p.add_argument("--frames", type=int, default=20)
        p.add_argument("--long-side", type=int, default=320)
        p.add_argument("--quality-side", type=int, default=256)
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--photos", type=int, default=3, help="first N of kodim05/15/23 for the quality metrics")
    sub.choices["perstyle"].add_argument("--candidates", type=Path, required=True)
    sub.choices["perstyle"].add_argument("--models", default="")
    sub.choices["temporal"].add_argument("--generator", type=Path, default=ROOT / "models/magenta-temporal.safetensors")
    sub.choices["temporal"].add_argument("--paintings", type=int, default=0, help="N training paintings, evenly spaced (0 = all)")
    sub.choices["table"].add_argument("--rows", default="", help="NAME=generator.safetensors,… (train-multistyle outputs)")
    sub.choices["table"].add_argument("--paintings", default="", help="subset of TABLE_PAINTINGS files (comma-separated)")
    sub.choices["table"].add_argument("--style-swap", action="store_true", help="also the style-swap method (slow)")
    sub.choices["table"].add_argument("--update-cards", action="store_true", help="write the numbers into the --rows cards")
    gp = sub.add_parser("gatys")
    gp.add_argument("--candidates", type=Path, default=None)
    gp.add_argument("--models", default="")
    gp.add_argument("--steps", type=int, default=40)
    gp.add_argument("--quality-side", type=int, default=384)
    gp.add_argument("--photos", type=int, default=2)
    gp.add_argument("--threads", type=int, default=2)
    gp.add_argument("--long-side", type=int, default=320)
    gp.add_argument("--cache", type=Path, default=None, help="folder keeping the Gatys renders (PNG) for later runs")
    sp = sub.add_parser("speed")
    sp.add_argument("--rows", default="")
    sp.add_argument("--repeats", type=int, default=15)
    sp.add_argument("--threads", type=int, default=2)
    sp.add_argument("--update-cards", action="store_true", help="write the numbers into the --rows cards")
    tsh = sub.add_parser("table-sheet")
    tsh.add_argument("--rows", default="")
    tsh.add_argument("--paintings", default="munch_the_scream.jpg,VincentVanGoghBridge_background.webp")
    tsh.add_argument("--tile", type=int, default=224)
    tsh.add_argument("--out", type=Path, default=None)
    sh = sub.add_parser("sheet")
    sh.add_argument("--candidates", type=Path, required=True)
    sh.add_argument("--tile", type=int, default=192)
    sh.add_argument("--photos", type=int, default=2)
    sh.add_argument("--out", type=Path, default=None)
    sh.add_argument("--models", default="")
    ts = sub.add_parser("temporal-sheet")
    ts.add_argument("--generator", type=Path, default=ROOT / "models/magenta-temporal.safetensors")
    ts.add_argument("--paintings", default="munch_the_scream.jpg,VincentVanGoghBridge_background.webp,picabia_udnie.jpg")
    ts.add_argument("--tile", type=int, default=224)
    ts.add_argument("--out", type=Path, default=None)
    for p in sub.choices.values():
        p.add_argument("--json", type=Path, default=None, help="where to write the results (default benchmarks/multistyle_PART.json)")
    args = ap.parse_args(argv)
    if args.cmd == "temporal-sheet":
        torch.set_num_threads(2)
        print(temporal_sheet(args))
        return
    if args.cmd == "sheet":
        torch.set_num_threads(2)
        print(contact_sheet(args))
        return
    if args.cmd == "table-sheet":
        torch.set_num_threads(2)
        print(table_sheet(args))
        return
    res = {"perstyle": bench_perstyle, "temporal": bench_temporal, "table": bench_table,
           "speed": bench_speed, "gatys": bench_gatys}[args.cmd](args)
    if getattr(args, "update_cards", False):
        update_cards(args, res)
    out = args.json or ROOT / "benchmarks" / f"multistyle_{args.cmd}.json"
    out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "argv": sys.argv,
                               "results": res}, indent=1) + "\n")


if __name__ == "__main__":
    main()
