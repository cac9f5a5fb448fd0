"""Fades to black: does the stylised output follow the input's brightness? (issue #20)

For the last 30 frames of ``../shared/data/clips/plane_field_mp3audio.mp4`` (a fade to black, when
present) and a synthetic 30-frame fade of a tests/clips.py texture to 4/255, renders each method with
``TemporalConfig.exposure`` off and on (``vidstyle.exposure.follow_exposure``) and reports the mean
brightness (0–255, mean of RGB) of input and output per frame, plus the cuts the pipeline declared.
Writes ``benchmarks/exposure_strip.png`` (committed at half size): for each clip, rows input, then per method off / on, at
6 frames of the fade.

    python benchmarks/bench_exposure.py [--size 320] [--methods fast,lite,adain]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from vidstyle.config import TemporalConfig, VideoConfig  # noqa: E402
from vidstyle.media.image import save_image  # noqa: E402
from vidstyle.media.reader import open_frames  # noqa: E402
from vidstyle.pipeline import stylise_video  # noqa: E402

PLANE = ROOT.parent / "shared" / "data" / "clips" / "plane_field_mp3audio.mp4"
STYLE = ROOT.parent / "shared" / "registry" / "paintings" / "starry_night.jpg"
METHODS = {"fast": dict(method="fast", model="starry-night"), "lite": dict(method="fast", model="starry-night-lite"),
           "adain": dict(method="adain", styles=[STYLE])}


def synthetic_fade(path: Path, n: int = 30, size: tuple[int, int] = (320, 180), end: float = 4 / 255) -> Path:
    """A moving texture (tests/clips.py) whose brightness falls geometrically to ``end`` of its mean."""
    import av
    from clips import make_frames

    frames = make_frames(n, size, motion=(2, 1))
    mean = float(np.mean(frames[0])) / 255
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = size[0], size[1], "bgr0"
        for t, f in enumerate(frames):
            gain = (end / mean) ** (t / (n - 1))
            img = np.clip(f.astype(np.float32) * gain + 0.5, 0, 255).astype(np.uint8)
            c.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        c.mux(s.encode(None))
    return path


def frames_of(path: Path, first: int | None = None, size: int | None = None) -> torch.Tensor:
    with open_frames(path, size=size, frames=(first, 10 ** 9) if first is not None else None, batch_size=64) as r:
        return torch.cat([b.frames for b in r])


def brightness(frames: torch.Tensor) -> list[float]:
    return [round(float(f.mean()) * 255, 1) for f in frames]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--methods", default="fast,lite,adain")
    args = ap.parse_args()
    torch.set_num_threads(2)
    tmp = Path(tempfile.mkdtemp())
    clips = [("synthetic fade", synthetic_fade(tmp / "fade.mkv"), None)]
    if PLANE.exists():
        with open_frames(PLANE, prefetch=0) as r:
            total = r.info.frame_count
        clips.insert(0, ("plane_field last 30", PLANE, (total - 30, total)))
    rows = []
    for label, clip, rng in clips:
        inp = frames_of(clip, rng[0] if rng else None, args.size)
        print(f"{label}: input  {brightness(inp)}", flush=True)
        picks = np.linspace(0, len(inp) - 1, 6).round().astype(int).tolist()
        rows.append(torch.cat([inp[i] for i in picks], -1))
        for name in args.methods.split(","):
            for on in (False, True):
                out = tmp / f"{label[:5]}-{name}-{on}.mkv"
                stats = stylise_video(clip, out, **METHODS[name], video=VideoConfig(size=args.size, codec="ffv1"),
                                      temporal=replace(TemporalConfig(), exposure=on), frames=rng, device="cpu",
                                      force=True, progress=False)
                got = frames_of(out)
                b_in, b_out = brightness(inp), brightness(got)
                print(f"{label}: {name:5s} exposure {'on ' if on else 'off'} cuts {stats.cuts:2d}  "
                      f"last frame in {b_in[-1]} out {b_out[-1]}  first in {b_in[0]} out {b_out[0]}  "
                      f"per frame {b_out}", flush=True)
                rows.append(torch.cat([got[i] for i in picks], -1))
    width = max(r.shape[-1] for r in rows)
    strip = torch.cat([torch.nn.functional.pad(r, (0, width - r.shape[-1])) for r in rows], -2)
    save_image(strip[None], ROOT / "benchmarks" / "exposure_strip.png", force=True)
    print("wrote benchmarks/exposure_strip.png")


if __name__ == "__main__":
    main()
