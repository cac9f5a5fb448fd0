"""Keyframe-guided stylisation (vidstyle.keyframes): propagation along an exact flow, blending, cuts, errors, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vidstyle.config import ConfigError, KeyframeConfig, TemporalConfig
from vidstyle.errors import VidstyleError
from vidstyle.flow import FlowEstimator
from vidstyle.keyframes import (
    close_mask,
    composite,
    distance_weights,
    match_fill,
    parse_keyframe_images,
    parse_keyframes,
    run_keyframed,
)
from vidstyle.media.reader import open_frames
from vidstyle.media.spool import Spool
from vidstyle.stylise.base import Styliser, TemporalMode

from clips import make_clip, make_frames

SIZE = (48, 32)  # width, height
MOTION = (2, 1)
GREY = 0.5
TOL = 1.5 / 255  # uint8 spool and PNG keyframe: the carried keyframe is exact to rounding


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


class ExactFlow(FlowEstimator):
    """The exact flow of a :func:`make_clip` clip: each frame is found among the clip's frames, and
    ``estimate(I_i, I_j) = (j − i)·motion`` (the content moves by ``motion`` per frame, across a cut too)."""

    name = "exact"

    def __init__(self, frames: list[np.ndarray], motion=MOTION) -> None:
        self.frames = torch.stack([torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in frames])
        self.motion = motion

    def _index(self, x: torch.Tensor) -> int:
        return int((self.frames - x).abs().flatten(1).amax(1).argmin())

    def estimate(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        flow = torch.empty(a.shape[0], 2, *a.shape[-2:])
        for n in range(a.shape[0]):
            k = self._index(b[n]) - self._index(a[n])
            flow[n, 0], flow[n, 1] = k * self.motion[0], k * self.motion[1]
        return flow


class ZeroFlow(FlowEstimator):
    name = "zero"

    def estimate(self, a, b):
        return torch.zeros(a.shape[0], 2, *a.shape[-2:])


class Grey(Styliser):
    """The fill: a constant grey frame (so carried pixels and filled ones are told apart)."""

    def __init__(self) -> None:
        self.calls = 0

    def stylise(self, frames, state=None):
        self.calls += len(frames)
        return torch.full_like(frames, GREY)


class Collect:
    """A writer that keeps what it is given."""

    def __init__(self) -> None:
        self.frames: list[torch.Tensor] = []
        self.pts: list[int] = []

    def write(self, frames, pts):
        self.frames.extend(frames.cpu())
        self.pts.extend(pts)


def painting(seed: int) -> np.ndarray:
    """A ``H×W×3`` uint8 'painted keyframe' unrelated to the clip's content."""
    rng = np.random.default_rng(100 + seed)
    small = rng.uniform(0, 255, size=(SIZE[1] // 4, SIZE[0] // 4, 3))
    return np.repeat(np.repeat(small, 4, 0), 4, 1).astype(np.uint8)


def save(array: np.ndarray, path: Path) -> Path:
    Image.fromarray(array).save(path)
    return path


def render(folder: Path, flow: FlowEstimator, cfg: KeyframeConfig, keyframe_styliser=None):
    writer = Collect()
    with open_frames(folder, batch_size=3) as reader:
        stats = run_keyframed(reader, writer, Grey(), cfg, flow_estimator=flow, keyframe_styliser=keyframe_styliser,
                              temporal_cfg=TemporalConfig(), progress=False)
    return stats, writer


def shifted(key: np.ndarray, dx: int, dy: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``key`` moved by (dx, dy) px as ``3×H×W`` [0, 1], and where it is defined (``H×W`` bool), the edge
    within the feather width left out."""
    h, w = key.shape[:2]
    out = torch.zeros(3, h, w)
    src = torch.from_numpy(key).permute(2, 0, 1).float() / 255
    ys, xs = slice(max(dy, 0), h + min(dy, 0)), slice(max(dx, 0), w + min(dx, 0))
    out[:, ys, xs] = src[:, max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    margin = 3  # feather radius 2, plus one
    ys_in = slice(max(dy, 0) + margin, h + min(dy, 0) - margin)
    xs_in = slice(max(dx, 0) + margin, w + min(dx, 0) - margin)
    interior = torch.zeros(h, w, dtype=torch.bool)
    interior[ys_in, xs_in] = True
    return out, interior


@pytest.mark.parametrize("memory_mb", [256, 0])  # spool in RAM, and on disk
def test_painted_keyframe_is_carried_along_the_exact_flow(tmp_path, memory_mb):
    frames = make_frames(8, SIZE, MOTION)
    folder = make_clip(tmp_path / "clip", n_frames=8, size=SIZE, motion=MOTION)
    key = painting(0)
    cfg = KeyframeConfig(images=((0, save(key, tmp_path / "k0.png")),), memory_mb=memory_mb, fill_match=False)
    stats, out = render(folder, ExactFlow(frames), cfg)
    assert len(out.frames) == 8 and stats.cuts == 0
    assert torch.allclose(out.frames[0], torch.from_numpy(key).permute(2, 0, 1).float() / 255, atol=TOL)
    for t in range(1, 8):
        expected, interior = shifted(key, t * MOTION[0], t * MOTION[1])
        got = out.frames[t]
        assert interior.sum() > 50
        assert (got - expected)[:, interior].abs().max() <= TOL, t
        # what entered through the left and top borders was never in the keyframe: the fill shows there
        entered = torch.zeros_like(interior)
        entered[:, :t * MOTION[0]] = True
        entered[:t * MOTION[1], :] = True
        assert ((got - GREY)[:, entered].abs() <= TOL).all(), t


def test_forward_and_backward_blend_by_distance(tmp_path):
    folder = make_clip(tmp_path / "still", n_frames=9, size=SIZE, motion=(0, 0))
    white = save(np.full((SIZE[1], SIZE[0], 3), 255, np.uint8), tmp_path / "white.png")
    black = save(np.zeros((SIZE[1], SIZE[0], 3), np.uint8), tmp_path / "black.png")
    _, out = render(folder, ZeroFlow(), KeyframeConfig(images=((0, white), (8, black))))
    for t, frame in enumerate(out.frames):
        # linear in time: the forward (white) keyframe weighs (8 − t)/8, the backward (black) one t/8
        assert frame.sub(1 - t / 8).abs().max() <= TOL, t


def test_distance_weights_and_composite():
    assert distance_weights(3, 5) == (5 / 8, 3 / 8)
    assert distance_weights(None, 2) == (0.0, 1.0) and distance_weights(4, None) == (1.0, 0.0)
    assert distance_weights(None, None) == (0.0, 0.0)
    fill, a, b = torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.5)
    reliable, lost = torch.ones(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)
    # where one side lost the pixel, the other carries it in full
    assert torch.allclose(composite(fill, (a, lost, 1), (b, reliable, 3)), b)
    assert torch.allclose(composite(fill, (a, reliable, 1), (b, reliable, 3)), torch.full_like(a, 0.875))
    assert torch.allclose(composite(fill, (a, lost, 1), (b, lost, 3)), fill)
    assert torch.equal(composite(fill, None, None), fill)


def test_fill_takes_the_carried_palette_nearby():
    fill = torch.rand(1, 3, 32, 48) * 0.2  # dark strokes
    carried = torch.full_like(fill, 0.7)
    alpha = torch.ones(1, 1, 32, 48)
    alpha[..., 12:20, 20:28] = 0  # a hole, filled by another method
    matched = match_fill(fill, carried, alpha)
    hole = matched[..., 12:20, 20:28]
    assert (hole.mean() - 0.7).abs() < 0.05 < (fill[..., 12:20, 20:28].mean() - 0.7).abs()
    # the strokes (deviations from the local mean) are kept
    assert torch.allclose(hole - hole.mean(), fill[..., 12:20, 20:28] - fill[..., 12:20, 20:28].mean(), atol=0.05)
    assert torch.equal(match_fill(fill, carried, torch.zeros_like(alpha)), fill)  # nothing carried: unchanged


def test_closing_ignores_specks_but_keeps_regions():
    mask = torch.ones(1, 1, 16, 16)
    mask[..., 5, 5] = 0  # a speck
    mask[..., :, :3] = 0  # a strip along the border (content that entered)
    mask[..., 9:15, 8:14] = 0  # a real occlusion
    closed = close_mask(mask, 1)
    assert closed[..., 5, 5] == 1
    assert torch.equal(closed[..., :, :3], mask[..., :, :3]) and torch.equal(closed[..., 9:15, 8:14], mask[..., 9:15, 8:14])
    assert closed.sum() == mask.sum() + 1


def test_a_cut_ends_a_keyframes_reach(tmp_path):
    n, cut = 12, 6
    frames = make_frames(n, SIZE, MOTION, cut_at=cut)
    folder = make_clip(tmp_path / "cut", n_frames=n, size=SIZE, motion=MOTION, cut_at=cut)
    k0, k11 = painting(0), painting(1)
    cfg = KeyframeConfig(images=((0, save(k0, tmp_path / "k0.png")), (11, save(k11, tmp_path / "k11.png"))),
                         fill_match=False)
    stats, out = render(folder, ExactFlow(frames), cfg)
    assert stats.cuts == 1
    for t in range(1, cut):  # only the keyframe before the cut reaches these (no blend with k11)
        expected, interior = shifted(k0, t * MOTION[0], t * MOTION[1])
        assert (out.frames[t] - expected)[:, interior].abs().max() <= TOL, t
    for t in range(cut, n - 1):  # only k11 reaches these, carried backward
        d = n - 1 - t
        expected, interior = shifted(k11, -d * MOTION[0], -d * MOTION[1])
        assert (out.frames[t] - expected)[:, interior].abs().max() <= TOL, t
        # what left through the right/bottom borders before frame 11 is filled
        assert ((out.frames[t][:, :, SIZE[0] - d * MOTION[0]:] - GREY).abs() <= TOL).all(), t

    # every:N also makes each shot's first frame a keyframe
    invert = Inverting()
    _, out = render(folder, ExactFlow(frames), KeyframeConfig(every=100), keyframe_styliser=invert)
    assert invert.calls == 2
    assert (out.frames[cut] - (1 - torch.from_numpy(frames[cut]).permute(2, 0, 1).float() / 255)).abs().max() <= TOL

    # a single keyframe before the cut: everything after it is the fill alone
    _, out = render(folder, ExactFlow(frames), KeyframeConfig(images=cfg.images[:1], fill_match=False))
    for t in range(cut, n):
        assert (out.frames[t] - GREY).abs().max() <= TOL, t


class Inverting(Styliser):
    """A keyframe method: the inverted frame; counts calls and resets."""

    def __init__(self):
        self.calls = self.resets = 0

    def stylise(self, frames, state=None):
        self.calls += len(frames)
        return 1 - frames

    def reset(self):
        self.resets += 1


def test_generated_keyframes_use_the_keyframe_method(tmp_path):
    frames = make_frames(7, SIZE, MOTION)
    folder = make_clip(tmp_path / "clip", n_frames=7, size=SIZE, motion=MOTION)
    invert = Inverting()
    _, out = render(folder, ExactFlow(frames), KeyframeConfig(every=3), keyframe_styliser=invert)
    assert invert.calls == 3 and invert.resets == 3  # frames 0, 3, 6, each on its own
    for t in (0, 3, 6):
        expected = 1 - torch.from_numpy(frames[t]).permute(2, 0, 1).float() / 255
        assert (out.frames[t] - expected).abs().max() <= TOL


def test_sequential_keyframe_method_starts_from_the_previous_keyframe(tmp_path):
    class Recorder(Styliser):
        temporal_mode = TemporalMode.SEQUENTIAL

        def __init__(self):
            self.states = []

        def stylise(self, frames, state=None):
            self.states.append(state)
            return 1 - frames

    frames = make_frames(7, SIZE, MOTION)
    folder = make_clip(tmp_path / "clip", n_frames=7, size=SIZE, motion=MOTION)
    recorder = Recorder()
    render(folder, ExactFlow(frames), KeyframeConfig(frames=(0, 3)), keyframe_styliser=recorder)
    first, second = recorder.states
    assert first is None  # a shot's first keyframe has nothing before it
    key0 = (255 - frames[0]).astype(np.uint8)
    expected, interior = shifted(key0, 3 * MOTION[0], 3 * MOTION[1])
    assert (second.prev_output[0] - expected)[:, interior].abs().max() <= TOL
    assert torch.equal(second.flow, torch.zeros_like(second.flow))
    assert second.mask[0, 0][interior].min() == 1 and second.mask[0, 0, :, :3 * MOTION[0]].max() == 0


def test_spool_spills_to_disk_and_cleans_up(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    with Spool(a.nbytes, tmp_path) as spool:
        spool.put(0, "x", a)
        spool.put(1, "x", a + 1)  # over the budget: on disk
        assert spool.disk_bytes == a.nbytes and list(tmp_path.iterdir())
        assert np.array_equal(spool.get(0, "x"), a) and np.array_equal(spool.get(1, "x"), a + 1)
        spool.drop(1, "x")
        assert spool.get(1, "x") is None
    assert not list(tmp_path.iterdir())


def test_specs_parse_and_validate(tmp_path):
    assert parse_keyframes("48, 0,96") == ((0, 48, 96), None)
    assert parse_keyframes("every:24") == ((), 24)
    for bad in ("0,x", "every:0", "-3"):
        with pytest.raises(VidstyleError, match="--keyframes"):
            parse_keyframes(bad)
    img = save(painting(0), tmp_path / "k.png")
    assert parse_keyframe_images(f"5:{img}") == ((5, img),)
    with pytest.raises(VidstyleError, match="not found"):
        parse_keyframe_images("5:nope.png")
    with pytest.raises(VidstyleError, match="FRAME:IMAGE"):
        parse_keyframe_images(str(img))
    with pytest.raises(ConfigError, match="keyframes.every"):
        KeyframeConfig(every=0)
    with pytest.raises(ConfigError, match="keyframes.method"):
        KeyframeConfig(method="nope")
    assert not KeyframeConfig().active and KeyframeConfig(frames=(0,)).active


def test_keyframe_past_the_end_is_an_error(tmp_path):
    folder = make_clip(tmp_path / "clip", n_frames=4, size=SIZE, motion=MOTION)
    img = save(painting(0), tmp_path / "k.png")
    with pytest.raises(VidstyleError, match="keyframe 9 is past the last frame"):
        render(folder, ZeroFlow(), KeyframeConfig(images=((9, img),)))


def test_cli_keyframe_image_of_the_wrong_size(tmp_path, cli):
    clip = make_clip(tmp_path / "clip.mp4", n_frames=4, size=(64, 48))
    small = save(np.zeros((20, 30, 3), np.uint8), tmp_path / "small.png")
    code, _, err = cli("run", clip, "--keyframe-images", f"0:{small}", "-o", tmp_path / "out.mp4", "--quiet")
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "30×20" in lines[0] and "64×48" in lines[0], err
    assert not (tmp_path / "out.mp4").exists()


def test_cli_end_to_end(tmp_path, cli, small_vgg):
    clip = make_clip(tmp_path / "clip.mp4", n_frames=6, size=(48, 32))
    style = Path(__file__).resolve().parents[1] / "samples" / "starry_night.jpg"
    out = tmp_path / "frames"  # a PNG folder: lossless
    painted = save(painting(0), tmp_path / "k5.png")
    code, stdout, err = cli("run", clip, "--style", style, "--keyframes", "0", "--keyframe-images",
                            f"5:{painted}", "--keyframe-method", "optimise", "--method", "optimise", "--steps", "1",
                            "-o", out)
    assert code == 0, err
    assert "keyframes frames 0 by" in err and "painted 5" in err and "fill:" in err
    assert "wrote 6 frames" in stdout
    written = sorted(out.glob("*.png"))
    assert len(written) == 6
    assert np.array_equal(np.asarray(Image.open(written[5]).convert("RGB")), painting(0))  # the painted keyframe
