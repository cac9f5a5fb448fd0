"""The method registry, the auto policy, and the pipeline's loop per temporal mode."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from vidstyle.config import OptimiseConfig, TemporalConfig
from vidstyle.errors import VidstyleError
from vidstyle.flow import FlowEstimator, get_estimator
from vidstyle.media.reader import open_frames
from vidstyle.methods import build_styliser, method_choices
from vidstyle.pipeline import run_pipeline
from vidstyle.stylise.base import FrameState, Styliser, TemporalMode
from vidstyle.stylise.registry import (
    BuildRequest,
    MethodSpec,
    Need,
    get_method,
    list_methods,
    register_method,
    unregister_method,
)

from clips import make_clip

ROOT = Path(__file__).resolve().parents[1]


class Invert(Styliser):
    def __init__(self, mode: TemporalMode = TemporalMode.PER_FRAME) -> None:
        self.temporal_mode = mode
        self.states: list[FrameState | None] = []

    def stylise(self, frames, state=None):
        self.states.append(state)
        return 1 - frames


class Sink:
    def __init__(self) -> None:
        self.frames: list[torch.Tensor] = []

    def write(self, frames, pts) -> None:
        self.frames.append(frames)


class Counting(FlowEstimator):
    """DIS that counts the frame pairs it estimated."""

    name = "counting"

    def __init__(self) -> None:
        self.inner, self.pairs = get_estimator("dis"), 0

    def estimate(self, a, b):
        self.pairs += len(a)
        return self.inner.estimate(a, b)


def test_builtin_methods_are_registered_with_modes() -> None:
    names = [s.name for s in list_methods()]
    assert names[:6] == ["optimise", "optimise-temporal", "fast", "magenta", "adain", "wct"]
    assert get_method("ruder").name == "optimise-temporal"  # alias
    assert get_method("optimise-temporal").temporal is TemporalMode.SEQUENTIAL
    assert get_method("fast").temporal is TemporalMode.PER_FRAME
    assert method_choices()[0] == "auto" and "ruder" in method_choices()
    for spec in list_methods():
        assert spec.description and "\n" not in spec.description
    with pytest.raises(VidstyleError, match="unknown method 'adian'; choose from auto, optimise"):
        get_method("adian")


def test_duplicate_and_reserved_names_raise() -> None:
    spec = get_method("optimise")
    with pytest.raises(ValueError, match="already registered"):
        register_method(spec)
    with pytest.raises(ValueError, match="already registered"):
        register_method(MethodSpec(name="x-new", aliases=("ruder",), description="d", builder=spec.builder))
    with pytest.raises(ValueError, match="reserved"):
        register_method(MethodSpec(name="auto", description="d", builder=spec.builder))


def test_a_new_method_is_one_register_call() -> None:
    """What the README's "Adding a method" section promises: registered, it is buildable by name and alias."""
    built: list[BuildRequest] = []

    def build(request: BuildRequest):
        built.append(request)
        return Invert(), "invert: test method"

    register_method(MethodSpec(name="invert-test", aliases=("inv-test",), description="inverts colours",
                               builder=build, needs=frozenset({Need.STYLE})))
    try:
        assert "invert-test" in method_choices() and "inv-test" in method_choices()
        styliser, text = build_styliser("inv-test", ["s.png"], optimise=OptimiseConfig(steps=3))
        assert isinstance(styliser, Invert) and text == "invert: test method"
        assert built[0].optimise.steps == 3 and list(built[0].styles) == ["s.png"]
        with pytest.raises(VidstyleError, match="needs a style image"):
            build_styliser("invert-test", [])
    finally:
        unregister_method("invert-test")
    assert "inv-test" not in method_choices()


def test_auto_says_why(monkeypatch) -> None:
    """auto asks each candidate in rank order and names the ones it skipped."""
    import vidstyle.methods as methods

    fake = [MethodSpec(name="a", description="d", builder=lambda r: (Invert(), "a: built"), auto_rank=1,
                       can_serve=lambda r: "no model for it"),
            MethodSpec(name="b", description="d", builder=lambda r: (Invert(), "b: built"), auto_rank=2)]
    monkeypatch.setattr(methods, "auto_candidates", lambda: fake)
    _, text = build_styliser("auto", ["style.png"])
    assert text == "auto → b: built (skipped a: no model for it)"


def _run(styliser: Styliser, clip: Path, estimator: FlowEstimator | None, batch_size: int = 3) -> torch.Tensor:
    sink = Sink()
    with open_frames(clip, batch_size=batch_size) as reader:
        run_pipeline(reader, sink, styliser, flow_estimator=estimator, progress=False)
    return torch.cat(sink.frames)


def test_pipeline_loop_follows_the_temporal_mode(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", n_frames=7, size=(32, 24))
    seq = Invert(TemporalMode.SEQUENTIAL)
    _run(seq, clip, get_estimator("dis"))
    assert len(seq.states) == 7  # one frame at a time, a complete state
    assert seq.states[0].flow is None and seq.states[0].prev_output is None
    assert all(s.flow is not None and s.prev_output is not None and s.back_flow is not None for s in seq.states[1:])

    per = Invert(TemporalMode.PER_FRAME)
    _run(per, clip, get_estimator("dis"))
    assert len(per.states) == 3 and per.states == [None] * 3  # whole batches (3 + 3 + 1)

    counting = Counting()
    window = Invert(TemporalMode.SELF_CONSISTENT)
    _run(window, clip, counting)
    assert [len(s.window) for s in window.states] == [3, 3, 1]
    assert window.states[0].window[0].flow is None  # shot start
    link = window.states[1].window[0]  # links the second window to the first one's last frame
    assert link.flow is not None and link.prev_output is not None
    assert counting.pairs == 2 * 6  # forward + backward per consecutive pair, estimated once


def test_multipass_uses_the_pipeline_flows(tmp_path: Path) -> None:
    """In the pipeline, multi-pass estimates no flow itself, and its output equals a direct run's."""
    from vidstyle.stylise.multipass import MultiPassStyliser

    clip = make_clip(tmp_path / "c.mp4", n_frames=4, size=(32, 24))
    style = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(1))
    cfg, tcfg = OptimiseConfig(steps=2, scales=1), TemporalConfig(later_steps=2, passes=2, pass_steps=1)
    mine = Counting()
    pipeline_flow = Counting()
    styliser = MultiPassStyliser([style], cfg, tcfg, mine)
    out = _run(styliser, clip, pipeline_flow, batch_size=2)
    assert mine.pairs == 0 and pipeline_flow.pairs == 2 * 3

    direct = MultiPassStyliser([style], cfg, tcfg, get_estimator("dis"), encoder=styliser.encoder)
    with open_frames(clip, batch_size=2) as reader:
        expected = torch.cat([direct.stylise(b.frames) for b in reader])
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)


def test_readme_methods_table_matches_the_registry() -> None:
    """The README's methods table lists exactly the registered methods (names, aliases, modes)."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index("<!-- methods-table -->"):text.index("<!-- /methods-table -->")]
    rows = [r for r in table.splitlines() if r.startswith("| `")]
    listed = {re.match(r"\| `([^`]+)`", r).group(1): r for r in rows}  # type: ignore[union-attr]
    assert set(listed) == {s.name for s in list_methods()}
    for spec in list_methods():
        row = listed[spec.name]
        assert spec.temporal.value in row and all(f"`{a}`" in row for a in spec.aliases)
    from vidstyle.stylise.registry import methods_table

    assert methods_table() in text, "regenerate the table: python -c 'from vidstyle.stylise.registry import methods_table; print(methods_table())'"


def test_small_vgg_stands_in_for_the_loss_network(small_vgg) -> None:
    """The test hook: optimisation stylisers built through the registry run on the small VGG, in milliseconds."""
    import time

    from vidstyle.nets.vgg import VGGEncoder

    start = time.perf_counter()
    styliser, _ = build_styliser("optimise", [torch.rand(1, 3, 16, 16)], optimise=OptimiseConfig(steps=2, scales=1))
    assert isinstance(styliser.encoder, VGGEncoder) and styliser.encoder.layers[0].out_channels == 4
    out = styliser.stylise(torch.rand(2, 3, 16, 20))
    assert out.shape == (2, 3, 16, 20) and 0 <= out.min() and out.max() <= 1
    assert time.perf_counter() - start < 20
    feats = small_vgg(["relu4_2"])(torch.rand(1, 3, 32, 32), ["relu1_1", "relu4_2"])
    assert feats["relu1_1"].shape[1] == 4 and feats["relu4_2"].shape[1] == 16


def test_strength_is_a_pixel_blend_for_methods_without_a_style_space(small_vgg) -> None:
    frames = torch.rand(2, 3, 16, 20)
    cfg = OptimiseConfig(steps=2, scales=1, strength=0.0)
    styliser, text = build_styliser("optimise", [torch.rand(1, 3, 16, 16)], optimise=cfg)
    assert "strength 0 (pixel blend" in text
    assert torch.equal(styliser.stylise(frames), frames)
    half, _ = build_styliser("optimise", [torch.rand(1, 3, 16, 16)], optimise=OptimiseConfig(steps=2, scales=1, strength=0.5))
    full, _ = build_styliser("optimise", [torch.rand(1, 3, 16, 16)], optimise=OptimiseConfig(steps=2, scales=1))
    assert float((half.stylise(frames) - frames).abs().mean()) < float((full.stylise(frames) - frames).abs().mean())
    with pytest.raises(VidstyleError, match="--strength below 1 is not available with --method optimise-temporal"):
        build_styliser("optimise-temporal", [torch.rand(1, 3, 16, 16)], optimise=cfg)
    with pytest.raises(VidstyleError, match="strength"):
        OptimiseConfig(strength=1.5)
