"""Keyframe-guided stylisation against the fast per-frame path and Ruder et al. optimisation, on DAVIS clips.

For each clip (the first ``--frames`` frames at long side ``--size``) three renders through the public API
(:func:`vidstyle.pipeline.stylise_video`, PNG frames, so no codec error enters the numbers):

* ``fast``       — ``--method magenta`` with the pipeline's flow-guided temporal blending (the fast path);
* ``keyframed``  — keyframes every ``--every`` frames (and the last frame) optimised with ``--method optimise``
                   (``--steps``), the rest carried along the flow, magenta filling (:mod:`vidstyle.keyframes`);
* ``keyframed-nomatch`` — the same keyframes (taken as painted images) without :func:`vidstyle.keyframes.match_fill`;
* ``ruder``      — ``--method optimise-temporal`` (``--steps`` on the first frame, ``--steps // 2`` later) on the
                   first ``--slice`` frames only (it costs as much as a keyframe per frame).

Measured (shared/METRICS.md, :mod:`vidstyle.metrics`): E_warp at k = 1 and 10 on the input's DIS flow (over the
whole clip, and over the slice where Ruder ran), style distance and normalised style error of the non-keyframe
frames (a) to the style image and (b) to the keyframes' own mean Grams — how much of the keyframes' look reaches
the frames between them — and wall seconds per frame.

Usage::

    nice -n 5 python benchmarks/bench_keyframes.py --frames 48 --size 256 --steps 60 --slice 16 --append \\
        --strip benchmarks/keyframes_strip.png
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vidstyle.config import KeyframeConfig, OptimiseConfig, TemporalConfig, VideoConfig
from vidstyle.media.image import load_image, save_image
from vidstyle.metrics import (
    TemporalMeter,
    gram_matrix,
    normalised_style_error_per_layer,
    style_distance_from_features,
    style_grams,
)
from vidstyle.pipeline import stylise_video

SHARED = Path(__file__).resolve().parents[2] / "shared"
LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def frames_of(folder: Path) -> torch.Tensor:
    """A PNG folder → ``N×3×H×W`` [0, 1]."""
    return torch.cat([load_image(p) for p in sorted(folder.glob("*.png"))])


def render(clip: Path, out: Path, style: Path, method: str, n: int, size: int, steps: int,
           keyframes: KeyframeConfig = KeyframeConfig()):
    stats = stylise_video(clip, out, styles=[style], method=method, video=VideoConfig(size=size, batch_size=4),
                          optimise=OptimiseConfig(steps=steps), temporal=TemporalConfig(later_steps=max(1, steps // 2)),
                          frames=(0, n), progress=False, force=True, keyframes=keyframes)
    return stats, frames_of(out)


def e_warp(inputs: torch.Tensor, outputs: list[torch.Tensor]) -> dict:
    meter = TemporalMeter(len(outputs), (1, 10), "dis", cuts=None)
    for t in range(len(inputs)):
        meter.update(inputs[t:t + 1], [o[t:t + 1] for o in outputs])
    return meter.result()


def features(frames: torch.Tensor, encoder) -> list[dict]:
    """VGG features of each frame (computed once, measured against several targets)."""
    with torch.no_grad():
        return [encoder(f[None], LAYERS) for f in frames]


def style_numbers(frame_features: list[dict], targets: dict) -> dict:
    """Mean over the frames of the raw style distance and the normalised style error (with its per-layer means)."""
    raw, nse, per = [], [], {k: [] for k in LAYERS}
    with torch.no_grad():
        for feats in frame_features:
            raw.append(float(style_distance_from_features(feats, targets)))
            layers = normalised_style_error_per_layer(feats, targets)
            nse.append(float(torch.stack(list(layers.values())).mean()))
            for k, v in layers.items():
                per[k].append(float(v))
    return {"style_distance": statistics.mean(raw), "normalised_style_error": statistics.mean(nse),
            "per_layer": {k: round(statistics.mean(v), 4) for k, v in per.items()}}


def _warp_row(result: dict, i: int) -> tuple[float | None, float | None]:
    """(E_warp k=1, k=10) of output ``i`` (0 = the input) from a TemporalMeter result."""
    def get(k):
        w = result["warping_error"][k]
        return (w["input"] if i == 0 else w["outputs"][i - 1])["mean"]
    return get(1), get(10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clips", nargs="+", default=["data/video/blackswan", "data/video/soapbox"])
    p.add_argument("--style", type=Path, default=SHARED / "data/styles/vangogh_starry_night.jpg")
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--every", type=int, default=16)
    p.add_argument("--slice", type=int, default=16, help="frames Ruder renders (0: skip it)")
    p.add_argument("--keyframe-method", default="optimise",
                   help="optimise: each keyframe on its own; optimise-temporal: from the previous keyframe carried")
    p.add_argument("--strip", type=Path, default=None)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--append", action="store_true", help="append the results to benchmarks/RESULTS.md")
    p.add_argument("--rows", type=Path, nargs="+", default=None,
                   help="JSON files of rows measured earlier by this script (same other arguments): only report them")
    args = p.parse_args()

    from vidstyle.device import use_all_cores
    from vidstyle.nets.vgg import load_vgg

    use_all_cores()
    encoder = load_vgg(LAYERS)
    style = load_image(args.style)
    rows, strips = [], []
    if args.rows is not None:  # rows measured earlier by this script (its --json, or the JSON it printed per clip)
        rows = [row for path in args.rows for row in json.loads(path.read_text())]
    for clip_name in ([] if args.rows is not None else args.clips):
        clip = SHARED / clip_name
        n = args.frames
        key_frames = tuple(sorted({*range(0, n, args.every), n - 1}))
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            from vidstyle.media.reader import open_frames

            with open_frames(clip, size=args.size, frames=(0, n)) as reader:
                inputs = torch.cat([b.frames for b in reader])
            runs = {}
            runs["fast"] = render(clip, tmp_path / "fast", args.style, "magenta", n, args.size, args.steps)
            runs["keyframed"] = render(clip, tmp_path / "key", args.style, "magenta", n, args.size, args.steps,
                                       KeyframeConfig(frames=key_frames, method=args.keyframe_method))
            # the same keyframes (the first render's, as painted images) without the fill's palette matching
            saved = sorted((tmp_path / "key").glob("*.png"))
            runs["keyframed-nomatch"] = render(clip, tmp_path / "key-nomatch", args.style, "magenta", n, args.size,
                                               args.steps, KeyframeConfig(images=tuple((t, saved[t]) for t in key_frames),
                                                                          fill_match=False))
            if args.slice:
                runs["ruder"] = render(clip, tmp_path / "ruder", args.style, "optimise-temporal", args.slice,
                                       args.size, args.steps)
        outs = {k: v[1] for k, v in runs.items()}
        grams_style = style_grams(style, encoder, args.size, LAYERS)
        keys = outs["keyframed"][list(key_frames)]
        with torch.no_grad():
            kfeats = encoder(keys, LAYERS)
        grams_keys = {k: gram_matrix(f).mean(0, keepdim=True) for k, f in kfeats.items()}
        between = [t for t in range(n) if t not in key_frames]
        full_names = ["fast", "keyframed", "keyframed-nomatch"]
        full = e_warp(inputs, [outs[k] for k in full_names])
        sl = e_warp(inputs[:args.slice], [outs[k][:args.slice] for k in runs]) if args.slice else None
        row = {"clip": clip_name, "frames": n, "size": list(inputs.shape[-2:][::-1]), "keyframes": list(key_frames),
               "input_e_warp": _warp_row(full, 0), "methods": {}}
        for i, name in enumerate(runs):
            stats, frames = runs[name]
            idx = [t for t in between if t < len(frames)]
            feats = features(frames[idx], encoder)
            m = {"seconds_per_frame": stats.seconds / max(stats.frames, 1),
                 "stage_ms": {k: round(v, 1) for k, v in stats.stage_ms.items()},
                 "to_style": style_numbers(feats, grams_style),
                 "to_keyframes": style_numbers(feats, grams_keys)}
            if name in full_names:
                m["e_warp_full"] = _warp_row(full, full_names.index(name) + 1)
            if sl is not None:
                m["e_warp_slice"] = _warp_row(sl, i + 1)
            row["methods"][name] = m
        if sl is not None:
            row["input_e_warp_slice"] = _warp_row(sl, 0)
        rows.append(row)
        print(json.dumps(row, indent=1), flush=True)
        # strip: columns spread over the slice (or the clip), rows input / fast / keyframed / ruder
        span = args.slice or n
        cols = sorted({round(j * (span - 1) / 5) for j in range(6)})
        tiles = [torch.cat([inputs[c:c + 1] for c in cols], 3)]
        for name in runs:
            tiles.append(torch.cat([outs[name][c:c + 1] for c in cols], 3))
        strips.append(torch.cat(tiles, 2))
        if args.strip is not None:  # after every clip, so an interrupted run keeps what it measured
            save_image(torch.cat(strips, 2), args.strip, force=True)
        if args.json is not None:
            args.json.write_text(json.dumps(rows, indent=1))
    if args.append:
        from results_md import append_section

        def f(x):
            return "–" if x is None else f"{x:.3g}"

        lines = ["| clip | method | s/frame | E_warp k=1 (clip) | k=10 (clip) | E_warp k=1 (slice) | k=10 (slice) | "
                 "norm. style err → style | raw → style | norm. style err → keyframes | raw → keyframes |",
                 "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            ie, isl = r["input_e_warp"], r.get("input_e_warp_slice", (None, None))
            lines.append(f"| {Path(r['clip']).name} | input | – | {f(ie[0])} | {f(ie[1])} | {f(isl[0])} | "
                         f"{f(isl[1])} | – | – | – | – |")
            for name, m in r["methods"].items():
                ef, es = m.get("e_warp_full", (None, None)), m.get("e_warp_slice", (None, None))
                lines.append(f"| {Path(r['clip']).name} | {name} | {m['seconds_per_frame']:.2f} | {f(ef[0])} | "
                             f"{f(ef[1])} | {f(es[0])} | {f(es[1])} | {m['to_style']['normalised_style_error']:.3f} | "
                             f"{m['to_style']['style_distance']:.4g} | {m['to_keyframes']['normalised_style_error']:.3f}"
                             f" | {m['to_keyframes']['style_distance']:.4g} |")
        intro = (f"Keyframe-guided stylisation (`--keyframes`, vidstyle.keyframes) on the first {args.frames} frames "
                 f"of each clip at long side {args.size}, style {args.style.name}: keyframes "
                 f"{rows[0]['keyframes']} stylised by `{args.keyframe_method}` ({args.steps} L-BFGS steps) and carried along the DIS flow, "
                 "magenta filling; `keyframed-nomatch`: the same keyframes without the fill's palette matching; "
                 "`fast` = magenta + temporal blending" + (
                     f"; `ruder` = optimise-temporal ({args.steps} steps, then {max(1, args.steps // 2)}) on the first "
                     f"{args.slice} frames only (the slice columns compare all methods on those frames). " if args.slice
                     else " (no Ruder run). ") +
                 "Style numbers are means over the non-keyframe frames, against the style image (at the output's "
                 "long side) and against the mean Grams of the keyframes; E_warp per METRICS.md on the input's "
                 "DIS flow. The machine was shared with other agents: wall times are under load.")
        append_section(f"Keyframe-guided stylisation vs fast path vs Ruder (keyframes by {args.keyframe_method})",
                       intro, "\n".join(lines))


if __name__ == "__main__":
    main()
