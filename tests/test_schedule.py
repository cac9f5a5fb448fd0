"""Strength and style over time: strength 0 is the frame, 1 the normal output, curves change them per frame
(pixel methods and the style-embedding network), style curves cross-fade, and the pipeline applies them by source
frame index (so chunks of a batch render agree with a whole render)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch

from vidstyle.config import OptimiseConfig, TemporalConfig, VideoConfig
from vidstyle.errors import VidstyleError
from vidstyle.methods import apply_strength, build_styliser
from vidstyle.schedule import ScheduledStyliser, TemporalSchedule
from vidstyle.stylise.base import NATIVE_FADE, Styliser, TemporalMode
from vidstyle.stylise.registry import BuildRequest, MethodSpec, get_method, register_method, unregister_method

from clips import make_clip


class Tint(Styliser):
    """A per-frame 'method' with no style space: ``0.2 · frame + 0.8 · the style's mean colour``."""

    def __init__(self, style: torch.Tensor) -> None:
        self.colour = style.float().mean((-2, -1), keepdim=True)

    def stylise(self, frames, state=None):
        return 0.2 * frames + 0.8 * self.colour.to(frames)


def _style(colour: tuple[float, float, float]) -> torch.Tensor:
    return torch.tensor(colour).view(1, 3, 1, 1).expand(1, 3, 16, 16).clone()


def _load(style) -> torch.Tensor:
    if isinstance(style, torch.Tensor):
        return style
    from vidstyle.media.image import load_image

    return load_image(style)


@pytest.fixture
def tint():
    def build(request: BuildRequest):
        return Tint(sum(_load(s) for s in request.styles) / len(request.styles)), "tint: test method"

    register_method(MethodSpec(name="tint-test", builder=build, description="test"))
    yield "tint-test"
    unregister_method("tint-test")


_PAIR: list = []


def _small_magenta(styles, **kw):
    """The style-embedding styliser with one small random predictor/generator pair (the same for every call)."""
    pytest.importorskip("onnx")
    from test_magenta import _small_pair

    from vidstyle.stylise.magenta import MagentaStyliser

    if not _PAIR:
        torch.manual_seed(1)
        _PAIR.extend(_small_pair())
    predictor, generator = _PAIR
    return MagentaStyliser(styles, predictor=predictor, transformer=generator, backend="torch", **kw)


RED, BLUE = _style((0.9, 0.1, 0.1)), _style((0.1, 0.2, 0.9))


# ---------------------------------------------------------------- strength 0 and 1


def test_strength_zero_is_the_frame_and_one_the_normal_output_pixel_method(tint):
    frames = torch.rand(2, 3, 16, 16)
    normal = Tint(RED).stylise(frames)
    zero, text = build_styliser(tint, [RED], optimise=OptimiseConfig(strength=0.0))
    assert torch.equal(zero.stylise(frames), frames) and "strength 0 (pixel blend" in text
    one, _ = build_styliser(tint, [RED], optimise=OptimiseConfig(strength=1.0))
    torch.testing.assert_close(one.stylise(frames), normal)
    half, _ = build_styliser(tint, [RED], optimise=OptimiseConfig(strength=0.5))
    torch.testing.assert_close(half.stylise(frames), 0.5 * frames + 0.5 * normal)


def test_strength_zero_is_the_frame_and_one_the_normal_output_native_method():
    frames = torch.rand(1, 3, 24, 32)
    spec = get_method("magenta")
    normal = _small_magenta([RED]).stylise(frames)
    outs = {}
    for s in (0.0, 0.1, 0.5, 1.0):
        styliser, text = apply_strength(_small_magenta([RED]), "magenta", spec, OptimiseConfig(strength=s),
                                        BuildRequest(styles=[RED]))
        outs[s] = styliser.stylise(frames)
    assert torch.equal(outs[0.0], frames)
    torch.testing.assert_close(outs[1.0], normal)
    # in between: the embedding moved toward the frame's own, pixels untouched (above NATIVE_FADE) …
    native_half = _small_magenta([RED], strength=0.5).stylise(frames)
    torch.testing.assert_close(outs[0.5], native_half, atol=1e-6, rtol=0)
    assert not torch.allclose(native_half, normal)
    # … and below it the pixels carry on toward the frame: 0.1 = 0.4 of the native rendering at 0.1
    native_low = _small_magenta([RED], strength=0.1).stylise(frames)
    w = 0.1 / NATIVE_FADE
    torch.testing.assert_close(outs[0.1], w * native_low + (1 - w) * frames, atol=1e-6, rtol=0)


# ---------------------------------------------------------------- curves per frame


def test_strength_curve_changes_per_frame_and_counts_without_set_frames(tint):
    frames = torch.rand(6, 3, 8, 8)
    normal = Tint(RED).stylise(frames)
    styliser, text = build_styliser(tint, [RED], optimise=OptimiseConfig(strength="0:0, 4:1"))
    assert isinstance(styliser, ScheduledStyliser) and "curve '0:0, 4:1'" in text
    out = torch.cat([styliser.stylise(frames[:3]), styliser.stylise(frames[3:])])  # frames 0-2, then 3-5
    for i, s in enumerate([0, 0.25, 0.5, 0.75, 1, 1]):
        torch.testing.assert_close(out[i], s * normal[i] + (1 - s) * frames[i])
    styliser.set_frames([4, 0])  # the pipeline says which source frames these are
    out = styliser.stylise(frames[:2])
    torch.testing.assert_close(out[0], normal[0])
    torch.testing.assert_close(out[1], frames[1])


def test_native_strength_curve_uses_the_embedding_per_frame():
    frames = torch.rand(3, 3, 20, 28)
    spec = get_method("magenta")
    styliser, _ = apply_strength(_small_magenta([RED]), "magenta", spec, OptimiseConfig(strength="0:0, 2:1"),
                                 BuildRequest(styles=[RED]), fps=25)
    out = styliser.stylise(frames)
    assert torch.equal(out[0], frames[0])
    torch.testing.assert_close(out[2:], _small_magenta([RED]).stylise(frames[2:]))
    # strength 0 skipped the network, so frame 1 was the first it saw: its content embedding comes from there
    middle = _small_magenta([RED], strength=0.5)
    torch.testing.assert_close(out[1:2], middle.stylise(frames[1:2]), atol=1e-6, rtol=0)  # above NATIVE_FADE


def test_curves_need_a_per_frame_method(small_vgg):
    with pytest.raises(VidstyleError, match="a --strength curve is not available with --method optimise-temporal"):
        build_styliser("optimise-temporal", [RED], optimise=OptimiseConfig(steps=1, scales=1, strength="0:0, 5:1"))


def _read(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]).astype(np.float32) / 255


@pytest.mark.parametrize("selection", [None, (4, 9)])
def test_pipeline_applies_the_curve_by_source_frame(tint, tmp_path, selection):
    from vidstyle.pipeline import stylise_video

    clip = make_clip(tmp_path / "in.mkv", n_frames=10, size=(32, 24), codec="ffv1")
    style = tmp_path / "red.png"
    from vidstyle.media.image import save_image

    save_image(RED, style)
    out = tmp_path / "out.mkv"
    stylise_video(clip, out, styles=[style], method=tint, optimise=OptimiseConfig(strength="0:0, 8:1"),
                  temporal=TemporalConfig(enabled=False), video=VideoConfig(codec="ffv1", batch_size=3),
                  device="cpu", progress=False, frames=selection)
    src, got = _read(clip), _read(out)
    first = selection[0] if selection else 0
    src = src[first:first + len(got)]
    full = 0.2 * src + 0.8 * np.asarray(_load(style)).mean((2, 3)).reshape(1, 1, 1, 3)
    for k in range(len(got)):
        s = min(1.0, (first + k) / 8)
        np.testing.assert_allclose(got[k], s * full[k] + (1 - s) * src[k], atol=1.5 / 255)


def test_temporal_strength_curve_scales_the_blend():
    from vidstyle.temporal import blend

    sched = TemporalSchedule(TemporalConfig(strength="0:0, 10:0.8"), fps=25)
    assert sched.peak == 0.8 and sched.cfg.strength == 0.8 and sched.curve is not None
    stylised, warped, mask = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), torch.rand(1, 1, 8, 8)
    at_peak = blend(stylised, warped, mask, 0.8)
    for index, s in [(0, 0.0), (5, 0.4), (10, 0.8), (20, 0.8)]:
        torch.testing.assert_close(sched.apply(stylised, at_peak, index), blend(stylised, warped, mask, s))
    constant = TemporalSchedule(TemporalConfig(strength=0.5))
    assert constant.curve is None and constant.apply(stylised, at_peak, 3) is at_peak


# ---------------------------------------------------------------- style transitions


def test_style_curve_pixel_blend_for_methods_without_a_style_space(tint):
    frames = torch.rand(3, 3, 8, 8)
    red, blue = Tint(RED).stylise(frames), Tint(BLUE).stylise(frames)
    styliser, text = build_styliser(tint, [RED, BLUE], optimise=OptimiseConfig(style_curve="0:0, 2:1"))
    assert "pixel blend of one render per style" in text
    out = styliser.stylise(frames)
    torch.testing.assert_close(out[0], red[0])  # at a key: the single-style output
    torch.testing.assert_close(out[1], 0.5 * red[1] + 0.5 * blue[1])  # halfway: between
    torch.testing.assert_close(out[2], blue[2])


def test_style_curve_in_embedding_space():
    frames = torch.rand(3, 3, 20, 28)
    spec = get_method("magenta")
    names = ["red", "blue"]
    request = BuildRequest(styles=[RED, BLUE])
    cfg = OptimiseConfig(style_curve=f"0:{names[0]}, 2:{names[1]}")
    with pytest.raises(VidstyleError, match="not one of the styles style0, style1"):
        apply_strength(_small_magenta([RED, BLUE]), "magenta", spec, cfg, request)
    styliser, text = apply_strength(_small_magenta([RED, BLUE]), "magenta", spec,
                                    OptimiseConfig(style_curve="0:0, 2:1"), request)
    assert "in the method's own space" in text
    out = styliser.stylise(frames)
    only_red, only_blue = _small_magenta([RED]), _small_magenta([BLUE])
    torch.testing.assert_close(out[0], only_red.stylise(frames[:1])[0])
    torch.testing.assert_close(out[2], only_blue.stylise(frames[2:])[0])
    mixed = _small_magenta([RED, BLUE], style_weights=[0.5, 0.5])
    torch.testing.assert_close(out[1], mixed.stylise(frames[1:2])[0], atol=1e-6, rtol=0)
    a, b = only_red.stylise(frames[1:2]), only_blue.stylise(frames[1:2])
    d_ab = float((a - b).abs().mean())
    assert float((out[1] - a).abs().mean()) < d_ab and float((out[1] - b).abs().mean()) < d_ab


def test_style_curve_needs_two_styles(tint):
    with pytest.raises(VidstyleError, match="give two or more --style"):
        build_styliser(tint, [RED], optimise=OptimiseConfig(style_curve="0:0, 5:0"))


def test_image_command_refuses_a_curve(tmp_path):
    from vidstyle.api import stylise_image

    with pytest.raises(VidstyleError, match="for an image give --strength as a number"):
        stylise_image(torch.rand(1, 3, 8, 8), [RED], cfg=OptimiseConfig(strength="0:0, 5:1"), method="fast")


def test_scheduled_styliser_is_per_frame():
    assert ScheduledStyliser(Tint(RED), None, None, 25).temporal_mode is TemporalMode.PER_FRAME
