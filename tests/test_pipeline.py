"""The streaming pipeline and ``vidstyle run``: timing, audio, atomic output, errors."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av
import pytest
import torch
from clips import clip_pts, make_clip

from vidstyle.config import TemporalConfig
from vidstyle.flow import get_estimator
from vidstyle.media.reader import open_frames
from vidstyle.media.writer import VideoWriter
from vidstyle.pipeline import STAGES, default_video_output, run_pipeline
from vidstyle.stylise.base import Styliser

STYLE = Path(__file__).resolve().parents[1].parent / "shared" / "registry" / "paintings" / "starry_night.jpg"


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


class Invert(Styliser):
    """A cheap deterministic styliser; counts its calls and resets."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls = self.resets = 0
        self.fail_at = fail_at

    def stylise(self, frames, state=None):
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise RuntimeError("styliser failed")
        return 1 - frames

    def reset(self):
        self.resets += 1


def video_pts(path: Path) -> tuple[list[int], Fraction]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        return [f.pts for f in c.decode(stream)], Fraction(stream.time_base)


def has_audio(path: Path) -> bool:
    with av.open(str(path)) as c:
        return bool(c.streams.audio)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


def test_run_pipeline_keeps_frames_timing_and_audio(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", n_frames=11, size=(64, 48), vfr=True, audio=True, cut_at=6)
    out = tmp_path / "out.mp4"
    styliser = Invert()
    with open_frames(clip, batch_size=4) as reader, VideoWriter(out, reader.info) as writer:
        stats = run_pipeline(reader, writer, styliser, flow_estimator=get_estimator("dis"),
                             temporal_cfg=TemporalConfig(), progress=False)
    assert stats.frames == stats.processed == 11
    assert stats.cuts == 1 and styliser.resets == 1
    assert set(stats.stage_ms) == set(STAGES) and stats.fps > 0
    assert stats.stopped_early is None
    pts, tb = video_pts(out)
    expected, expected_tb = clip_pts(11, vfr=True)
    assert len(pts) == 11
    assert [p * tb for p in pts] == [p * expected_tb for p in expected]  # VFR stays VFR
    assert has_audio(out)
    assert leftovers(tmp_path) == []


def test_discard_first_frames_are_not_written(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", n_frames=9, size=(64, 48))
    out = tmp_path / "out.mp4"
    with open_frames(clip, batch_size=4) as reader, VideoWriter(out, reader.info) as writer:
        stats = run_pipeline(reader, writer, Invert(), flow_estimator=None, progress=False, discard_first=5)
    assert (stats.processed, stats.frames) == (9, 4)
    assert len(video_pts(out)[0]) == 4


def test_failure_leaves_no_output(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", n_frames=12, size=(64, 48), audio=True)
    out = tmp_path / "out.mp4"
    with (pytest.raises(RuntimeError, match="styliser failed"), open_frames(clip, batch_size=4) as reader,
          VideoWriter(out, reader.info) as writer):
        run_pipeline(reader, writer, Invert(fail_at=2), flow_estimator=None, progress=False)
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_default_output_name(tmp_path):
    assert default_video_output(Path("a/clip.mov"), [Path("s/monet.jpg")], None) == Path("clip__monet.mov")
    assert default_video_output(Path("frames/blackswan"), [Path("x.jpg"), Path("y.png")], None) == Path("blackswan__x+y.mp4")
    assert default_video_output(Path("c.mp4"), [], "starry-night") == Path("c__starry-night.mp4")


# ------------------------------------------------------------------------------------------- CLI

def cli(argv: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    from vidstyle.cli import main

    monkeypatch.setattr(sys, "argv", ["vidstyle", *map(str, argv)])
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.skipif(not STYLE.exists(), reason="shared/registry not available")
def test_cli_run_end_to_end(tmp_path, monkeypatch, capsys):
    clip = make_clip(tmp_path / "in.mp4", n_frames=6, size=(64, 48), audio=True, vfr=True)
    out = tmp_path / "out.mp4"
    args = ["run", clip, "--style", STYLE, "-o", out, "--method", "optimise", "--size", 32, "--steps", 2,
            "--batch-size", 4, "--device", "cpu", "--quiet"]
    code, stdout, stderr = cli(args, monkeypatch, capsys)
    assert code == 0, stderr
    assert stderr == ""  # --quiet: no progress bar and no method line (issue #20)
    assert stdout.startswith("wrote 6 frames") and str(out) in stdout
    pts, tb = video_pts(out)
    expected, expected_tb = clip_pts(6, vfr=True)
    assert [p * tb for p in pts] == [p * expected_tb for p in expected]
    with av.open(str(out)) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (32, 24)
        assert c.streams.audio
    before = out.stat().st_mtime_ns

    # An existing output is refused without --force, before any work, and left untouched.
    code, stdout, stderr = cli(args, monkeypatch, capsys)
    assert code == 1
    assert stderr.strip().splitlines() == [f"error: output {out} already exists; use --force to overwrite it"]
    assert out.stat().st_mtime_ns == before
    assert leftovers(tmp_path) == []


def test_cli_not_a_video(tmp_path, monkeypatch, capsys):
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("this is not a video")
    style = tmp_path / "style.png"
    from vidstyle.media.image import save_image

    save_image(torch.rand(1, 3, 16, 16), style)
    out = tmp_path / "out.mp4"
    code, _, stderr = cli(["run", bogus, "--style", style, "-o", out, "--method", "optimise", "-q"],
                               monkeypatch, capsys)
    assert code == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "notes.mp4" in lines[0]
    assert not out.exists() and leftovers(tmp_path) == []


def test_cli_missing_style(tmp_path, monkeypatch, capsys):
    clip = make_clip(tmp_path / "in.mp4", n_frames=2, size=(32, 32))
    code, _, stderr = cli(["run", clip, "--style", tmp_path / "nope.jpg", "-o", tmp_path / "o.mp4", "-q"],
                          monkeypatch, capsys)
    assert code == 1 and stderr.strip() == f"error: style image {tmp_path / 'nope.jpg'} not found"


def test_truncated_input_reports_where_it_stopped(tmp_path, monkeypatch, capsys):
    """A truncated file: what decodes is stylised and written, and the CLI says where it stopped."""
    import vidstyle.methods

    clip = make_clip(tmp_path / "full.mkv", n_frames=30, size=(64, 48))
    truncated = tmp_path / "cut.mkv"
    data = clip.read_bytes()
    truncated.write_bytes(data[: len(data) * 6 // 10])
    monkeypatch.setattr(vidstyle.methods, "build_styliser", lambda *a, **k: (Invert(), "invert (test)"))
    out = tmp_path / "out.mkv"
    style = tmp_path / "style.png"
    from vidstyle.media.image import save_image

    save_image(torch.rand(1, 3, 16, 16), style)
    code, stdout, stderr = cli(["run", truncated, "--style", style, "-o", out, "-q"], monkeypatch, capsys)
    assert code == 0, stderr
    assert "truncated" in stderr
    n = int(stdout.split()[1])
    assert 0 < n < 30 and len(video_pts(out)[0]) == n


def test_compile_policy() -> None:
    """auto compiles only long clips (where it was measured to pay back)."""
    from vidstyle.config import should_compile

    assert not should_compile("auto", 120, 176, 144)  # the README's sample clip: compilation would dominate
    assert should_compile("auto", 300, 640, 360)
    assert should_compile("auto", 3000, 1280, 720) and not should_compile("auto", 20, 1280, 720)
    assert not should_compile("auto", None, 640, 360)  # unknown length
    assert should_compile("always", 1, 1280, 720) and not should_compile("never", 10**6, 640, 360)
    # bf16 eager is fast: only clips of ~650+ frames at 640×360 pay back the compilation
    assert not should_compile("auto", 300, 640, 360, bf16=True) and should_compile("auto", 1200, 640, 360, bf16=True)
    assert should_compile("always", 1, 640, 360, bf16=True)


def test_per_frame_methods_blend_along_a_downscaled_flow():
    """Per-frame methods get the flow at ``blend_flow_max_side`` (it only guides blending); methods whose losses use
    the flow keep ``flow_max_side``; None on either side means the other's limit (or full size)."""
    from vidstyle.pipeline import flow_config_for
    from vidstyle.stylise.base import TemporalMode

    cfg = TemporalConfig()
    assert flow_config_for(TemporalMode.PER_FRAME, cfg).flow_max_side == cfg.blend_flow_max_side == 320
    assert flow_config_for(TemporalMode.SEQUENTIAL, cfg).flow_max_side == cfg.flow_max_side == 640
    assert flow_config_for(TemporalMode.SELF_CONSISTENT, cfg).flow_max_side == 640
    assert flow_config_for(TemporalMode.PER_FRAME, TemporalConfig(blend_flow_max_side=None)).flow_max_side == 640
    assert flow_config_for(TemporalMode.PER_FRAME, TemporalConfig(flow_max_side=200)).flow_max_side == 200
    assert flow_config_for(TemporalMode.PER_FRAME, TemporalConfig(flow_max_side=None)).flow_max_side == 320


def test_flow_of_the_next_batch_is_observed_ahead_with_the_same_result(tmp_path):
    """``observed_batches`` observes batch k+1 on a worker thread while batch k is consumed; the observations
    (flow, mask, cut decisions) are those of observing the batches one after the other."""
    import threading

    from vidstyle.pipeline import observed_batches
    from vidstyle.temporal import TemporalState

    clip = make_clip(tmp_path / "in.mp4", n_frames=11, size=(64, 48), cut_at=6)
    cfg = TemporalConfig(flow_max_side=32)
    with open_frames(clip, batch_size=4) as reader:
        batches = list(reader)
    serial_state = TemporalState(cfg, get_estimator("dis"))
    serial = [serial_state.observe(b.frames, b.cuts) for b in batches]
    ahead_state = TemporalState(cfg, get_estimator("dis"))
    ahead = []
    threads_seen = set()
    for _batch, observations in observed_batches(batches, ahead_state):
        threads_seen |= {t.name for t in threading.enumerate()}
        ahead.append(observations)
    assert any(name.startswith("vidstyle-observe") for name in threads_seen)
    assert [len(o) for o in ahead] == [len(o) for o in serial] == [4, 4, 3]
    for got, want in zip(sum(ahead, []), sum(serial, [])):
        assert got.cut == want.cut and got.hist_distance == want.hist_distance and got.reliable == want.reliable
        assert (got.state.flow is None) == (want.state.flow is None)
        if want.state.flow is not None:
            assert torch.equal(got.state.flow, want.state.flow) and torch.equal(got.state.mask, want.state.mask)
    assert ahead_state.cuts == serial_state.cuts == 1
    assert not [t for t in threading.enumerate() if t.name.startswith("vidstyle-observe")]  # the worker is gone


def test_errors_on_either_thread_surface_and_stop_the_worker(tmp_path):
    import threading

    from vidstyle.pipeline import observed_batches
    from vidstyle.temporal import TemporalState

    clip = make_clip(tmp_path / "in.mp4", n_frames=12, size=(64, 48))
    with open_frames(clip, batch_size=4) as reader:
        batches = list(reader)

    class Broken:
        def estimate_pair(self, current, previous):
            raise ValueError("flow failed")

    with pytest.raises(ValueError, match="flow failed"):
        list(observed_batches(batches, TemporalState(TemporalConfig(), Broken())))  # type: ignore[arg-type]
    out = tmp_path / "out.mp4"
    with (pytest.raises(RuntimeError, match="styliser failed"), open_frames(clip, batch_size=4) as reader,
          VideoWriter(out, reader.info) as writer):  # the styliser fails while the worker observes the next batch
        run_pipeline(reader, writer, Invert(fail_at=2), flow_estimator=get_estimator("dis"), progress=False)
    assert not out.exists() and leftovers(tmp_path) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("vidstyle-observe")]
