"""Live mode (``vidstyle webcam``): headless runs on generated file sources, tiny sizes, test-double stylisers."""

from __future__ import annotations

import itertools
import time

import av
import numpy as np
import pytest
import torch
from clips import make_clip, make_frames

from vidstyle.config import LiveConfig
from vidstyle.errors import MediaError, VidstyleError
from vidstyle.live import LiveLoop, LiveSmoother, LiveStats, default_sizes, parse_size
from vidstyle.media.live import (
    LiveFrame,
    RecordSink,
    WindowSink,
    display_available,
    frame_to_tensor,
    open_source,
    parse_source,
    to_bgr_uint8,
)
from vidstyle.stylise.base import Styliser

SIZE = (64, 48)


class Invert(Styliser):
    """Test double: colour inversion, optionally slowed down by ``delay`` seconds per call."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay, self.calls, self.resets = delay, 0, 0

    def stylise(self, frames, state=None):
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        return 1.0 - frames

    def reset(self) -> None:
        self.resets += 1


class Identity(Styliser):
    def stylise(self, frames, state=None):
        return frames.clone()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """30 frames of moving texture at 25 fps (1.2 s), 64×48."""
    return make_clip(tmp_path_factory.mktemp("live") / "clip.mp4", n_frames=30, size=SIZE, fps=25)


def _frame(array_rgb: np.ndarray, index: int = 0) -> LiveFrame:
    return LiveFrame(np.ascontiguousarray(array_rgb[..., ::-1]), time.perf_counter(), index)


# ---------------------------------------------------------------------------------------------- loop


@pytest.mark.parametrize("pipelined", [True, False])
def test_file_source_processes_frames_at_native_rate(clip, pipelined):
    loop = LiveLoop([Invert()], ["invert"], size=SIZE, internal_size=(32, 24), cfg=LiveConfig(smooth=False))
    t0 = time.perf_counter()
    stats = loop.run(open_source(str(clip)), pipelined=pipelined)
    wall = time.perf_counter() - t0
    assert stats.captured == 30  # every frame of the file was delivered
    assert stats.frames + stats.dropped == stats.captured
    assert stats.frames >= 10  # a trivial styliser keeps up with most frames even on a loaded machine
    assert wall >= 29 / 25 * 0.9  # played in real time, not decoded as fast as possible
    report = stats.report()
    assert report["latency_median_ms"] > 0 and report["latency_p95_ms"] >= report["latency_median_ms"]
    assert "fps" in stats.summary() and "dropped" in stats.summary()


def test_process_stylises_at_internal_size_and_upsamples():
    rgb = make_frames(1, SIZE)[0]
    seen = []

    class Spy(Invert):
        def stylise(self, frames, state=None):
            seen.append(tuple(frames.shape))
            return super().stylise(frames)

    loop = LiveLoop([Spy()], size=SIZE, internal_size=(32, 24), cfg=LiveConfig(smooth=False))
    stylised, shown = loop.process(_frame(rgb))
    assert seen == [(1, 3, 24, 32)]
    assert stylised.shape == (48, 64, 3) and stylised.dtype == np.uint8 and shown is stylised
    # inversion survives the down/up sampling (BGR channel means of the inverted original)
    expected = 255.0 - rgb[..., ::-1].reshape(-1, 3).mean(0)
    assert np.abs(stylised.reshape(-1, 3).mean(0) - expected).max() < 4
    loop.side_by_side = True
    stylised, shown = loop.process(_frame(rgb))
    assert shown.shape == (48, 128, 3) and np.array_equal(shown[:, 64:], stylised)


def test_slow_styliser_drops_stale_frames_instead_of_queueing(clip):
    slow = Invert(delay=0.15)
    loop = LiveLoop([slow], size=SIZE, internal_size=SIZE, cfg=LiveConfig(smooth=False))
    stats = loop.run(open_source(str(clip)))
    assert stats.captured == 30
    assert stats.dropped > 0 and stats.frames + stats.dropped == 30
    assert stats.frames <= 15  # ~1.2 s of video at ≥ 0.15 s per frame
    # Newest-frame policy: each processed frame was at most ~one inference old when taken,
    # so latency does not grow over the run (a queue would make it grow by ~0.11 s per frame).
    lat = [d - c for d, c in zip(stats.done_at, stats.captured_at)]
    assert max(lat[len(lat) // 2:]) < 1.0


def test_record_writes_stylised_stream_with_capture_timestamps(clip, tmp_path):
    out = tmp_path / "rec.mp4"
    recorder = RecordSink(out, SIZE, fps=25)
    loop = LiveLoop([Invert()], size=SIZE, internal_size=SIZE, cfg=LiveConfig(smooth=False))
    stats = loop.run(open_source(str(clip)), recorder=recorder)
    assert out.exists() and not list(tmp_path.glob(".*part*"))
    expected_pts = [round(1000 * (c - stats.captured_at[0])) for c in stats.captured_at]
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        decoded = [(f.pts * f.time_base, f.to_ndarray(format="rgb24")) for f in container.decode(stream)]
    assert len(decoded) == stats.frames == recorder.frames
    times_ms = [float(t) * 1000 for t, _ in decoded]
    assert times_ms == pytest.approx(expected_pts, abs=1.0)  # capture times, in ms since the first frame
    assert all(b > a for a, b in itertools.pairwise(times_ms))
    # played at native rate: the recording spans at least the source's duration between those frames
    first, last = stats.captured_at[0], stats.captured_at[-1]
    assert (last - first) * 1000 == pytest.approx(times_ms[-1], abs=1.0)
    assert times_ms[-1] >= 0.9 * 1000 * (stats.indices[-1] - stats.indices[0]) / 25
    # the stylised (inverted) stream, not the original
    original = make_frames(30, SIZE)[0].astype(np.float32)
    assert abs(decoded[0][1].astype(np.float32).mean() - (255 - original.mean())) < 8


def test_styliser_error_propagates_and_discards_recording(clip, tmp_path):
    class Broken(Invert):
        def stylise(self, frames, state=None):
            if self.calls >= 3:
                raise RuntimeError("boom")
            return super().stylise(frames)

    out = tmp_path / "rec.mp4"
    loop = LiveLoop([Broken()], size=SIZE, internal_size=SIZE)
    with pytest.raises(RuntimeError, match="boom"):
        loop.run(open_source(str(clip)), recorder=RecordSink(out, SIZE))
    assert not out.exists() and not list(tmp_path.iterdir())  # no partial file, no temporary left


def test_record_holds_the_stylised_stream_only(clip, tmp_path):
    """Side-by-side and the overlay are for the window; the recording stays the stylised frame."""
    out = tmp_path / "rec.mp4"
    loop = LiveLoop([Invert()], size=SIZE, internal_size=SIZE, cfg=LiveConfig(smooth=False))
    loop.run(open_source(str(clip)), recorder=RecordSink(out, SIZE), keys={1: "s"}.get, max_frames=6)
    assert loop.side_by_side
    with av.open(str(out)) as container:
        sizes = {(f.width, f.height) for f in container.decode(video=0)}
    assert sizes == {SIZE}


def test_terminal_keys_read_single_presses_from_a_tty(monkeypatch):
    import os
    import pty

    from vidstyle.media.live import TerminalKeys

    master, slave = pty.openpty()
    with open(slave, "r") as tty_in:
        monkeypatch.setattr("sys.stdin", tty_in)
        with TerminalKeys() as keys:
            assert keys.poll() is None  # nothing typed: no wait, no key
            os.write(master, b"n")
            deadline = time.perf_counter() + 2
            key = None
            while key is None and time.perf_counter() < deadline:
                key = keys.poll()
            assert key == "n"
    os.close(master)


def test_record_refuses_to_overwrite(tmp_path):
    out = tmp_path / "rec.mp4"
    out.write_bytes(b"x")
    with pytest.raises(VidstyleError, match="already exists"):
        RecordSink(out, SIZE)


@pytest.mark.parametrize("pipelined", [True, False])
def test_keys_switch_model_toggle_side_by_side_and_quit(clip, tmp_path, pipelined):
    a, b = Invert(), Identity()
    script = {2: "n", 3: "s", 4: "c", 6: "q"}
    loop = LiveLoop([a, b], ["invert", "identity"], size=SIZE, internal_size=SIZE, snapshot_dir=tmp_path)
    stats = loop.run(open_source(str(clip)), keys=script.get, pipelined=pipelined)
    assert stats.frames == 6  # quit after the 6th rendered frame
    assert loop.events == ["next", "side_by_side", "snapshot", "quit"]
    # pipelined: the frames already in flight when "n" arrived (one handed over, one being
    # stylised) still use the old model
    assert a.calls in ((2, 3, 4) if pipelined else (2,))
    assert loop.current == 1 and loop.model_name == "identity"
    assert loop.side_by_side
    [snap] = loop.snapshots
    from vidstyle.media.image import load_image

    assert load_image(snap).shape == (1, 3, 48, 128)  # original | stylised
    # previous wraps around
    loop.handle_key("p")
    loop.handle_key("P")
    assert loop.current == 1
    assert loop.handle_key("esc") is True and loop.handle_key("x") is False


def test_duration_and_max_frames_stop_the_loop(clip):
    loop = LiveLoop([Invert()], size=SIZE, internal_size=SIZE)
    stats = loop.run(open_source(str(clip), loop=True), max_frames=4)
    assert stats.frames == 4
    t0 = time.perf_counter()
    stats = LiveLoop([Invert()], size=SIZE).run(open_source(str(clip), loop=True), duration=0.3)
    assert stats.frames >= 1 and time.perf_counter() - t0 < 5


def test_file_source_loops(tmp_path):
    short = make_clip(tmp_path / "short.mp4", n_frames=5, size=SIZE, fps=50)
    stats = LiveLoop([Identity()], size=SIZE, cfg=LiveConfig(smooth=False)).run(open_source(str(short), loop=True),
                                                                              max_frames=12)
    assert stats.frames == 12  # more frames than the file holds


# ---------------------------------------------------------------------------------------------- smoothing


@pytest.mark.parametrize("flow_side", [None, 64])
def test_flow_smoothing_follows_motion_and_calms_flicker(flow_side):
    """Also with the flow estimated on frames downscaled to ``flow_side`` (``LiveConfig.smooth_flow_max_side``)."""
    frames = [frame_to_tensor(np.ascontiguousarray(f[..., ::-1])) for f in make_frames(6, (128, 96), motion=(2, 1))]
    smoother = LiveSmoother("flow", strength=0.6, flow_max_side=flow_side)
    # identity styliser on moving content: the blended previous output is warped onto the
    # current frame, so the result stays close to the current frame (no ghosting)
    outs = [smoother(f, f.clone()) for f in frames]
    interior = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    assert (outs[-1] - frames[-1])[interior].abs().mean() < 0.02
    # flickering stylisation of a static scene: alternating ± noise is damped
    smoother.reset()
    static = frames[0]
    noise = 0.1 * torch.randn_like(static)
    raw = [static + (noise if i % 2 else -noise) for i in range(8)]
    smoothed = [smoother(static, r) for r in raw]
    raw_flicker = (raw[-1] - raw[-2]).abs().mean()
    assert (smoothed[-1] - smoothed[-2]).abs().mean() < 0.5 * raw_flicker


@pytest.mark.parametrize("flow_side", [None, 64])
def test_flow_smoothing_damps_flicker_on_moving_content(flow_side):
    """Per-frame noise on a moving scene is damped only where the previous output is warped along the right flow
    (measured: 0.021 left of 0.040 with the flow, 0.039 with a zero flow, 0.035 with the downscaled flow's vectors
    not rescaled), also when the flow comes from frames downscaled to ``flow_side``."""
    frames = [frame_to_tensor(np.ascontiguousarray(f[..., ::-1])) for f in make_frames(8, (128, 96), motion=(2, 1))]
    g = torch.Generator().manual_seed(0)
    noise = [0.05 * torch.randn(frames[0].shape, generator=g) for _ in frames]
    smoother = LiveSmoother("flow", strength=0.6, flow_max_side=flow_side)
    outs = [smoother(f, f + n) for f, n in zip(frames, noise)]
    inner = (..., slice(12, -12), slice(12, -12))
    left = sum(float((o - f)[inner].abs().mean()) for o, f in zip(outs[2:], frames[2:])) / len(outs[2:])
    raw = sum(float(n[inner].abs().mean()) for n in noise[2:]) / len(noise[2:])
    assert left < 0.7 * raw


def test_ema_smoothing_only_blends_static_regions():
    smoother = LiveSmoother("ema", strength=0.5)
    a = torch.zeros(1, 3, 32, 32)
    b = a.clone()
    b[..., :, 16:] = 1.0  # right half of the input changes
    smoother(a, torch.zeros_like(a))
    out = smoother(b, torch.ones_like(a))
    assert out[..., 8:24, :8].mean() == pytest.approx(0.5, abs=1e-4)  # static: blended with the previous output
    assert out[..., 8:24, 24:].mean() == pytest.approx(1.0, abs=1e-4)  # changed: the current output


def test_smoother_rejects_bad_settings():
    with pytest.raises(VidstyleError):
        LiveSmoother("median")
    with pytest.raises(VidstyleError):
        LiveSmoother("ema", strength=1.0)


# ---------------------------------------------------------------------------------------------- sources, sizes, display


def test_nonexistent_camera_is_one_clear_error():
    with pytest.raises(MediaError) as info:
        open_source("97", first_frame_timeout=1.0)
    message = str(info.value)
    assert "camera 97" in message and "tried" in message and "\n" not in message


def test_source_closed_before_start_releases_the_device(clip):
    source = open_source(str(clip))
    assert source.capture.isOpened()
    source.close()
    assert not source.capture.isOpened() and source.finished


def test_missing_file_source_is_a_clear_error(tmp_path):
    with pytest.raises(MediaError, match="not a camera index, device, URL or existing file"):
        open_source(str(tmp_path / "nope.mp4"))


def test_parse_source_and_sizes():
    assert parse_source("0") == ("camera", 0)
    assert parse_source("/dev/video2") == ("device", "/dev/video2")
    assert parse_source("rtsp://cam/stream") == ("url", "rtsp://cam/stream")
    assert parse_source("clip.mp4") == ("file", "clip.mp4")
    assert parse_size("640x360") == (640, 360) and parse_size(None) is None
    with pytest.raises(VidstyleError, match="640x360"):
        parse_size("640by360")
    assert default_sizes((1280, 720), LiveConfig()) == ((640, 360), (320, 180))
    assert default_sizes((1280, 720), LiveConfig(size=(1280, 720), internal_size=(320, 180))) == ((1280, 720), (320, 180))
    assert default_sizes((64, 48), LiveConfig()) == ((64, 48), (32, 24))


def test_headless_never_opens_a_window(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert not display_available()
    with pytest.raises(VidstyleError, match="--no-window"):
        WindowSink()  # checked before any HighGUI call (imshow would abort the process)


def test_unusable_display_is_detected_without_aborting(monkeypatch):
    from vidstyle.media.live import display_usable

    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("DISPLAY", ":4321")  # set, but no X server there: Qt would abort this process
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert display_available() and not display_usable()


def test_stats_percentiles():
    stats = LiveStats(captured=10, dropped=2)
    stats.captured_at = [0.0, 1.0, 2.0, 3.0]
    stats.done_at = [0.01, 1.02, 2.03, 3.10]
    r = stats.report()
    assert r["fps"] == pytest.approx(3 / 3.09)
    assert r["latency_median_ms"] == pytest.approx(25.0)
    assert r["latency_p95_ms"] == pytest.approx(100.0)
    assert r["drop_rate"] == pytest.approx(0.2)


def test_to_bgr_uint8_round_trip():
    rgb = make_frames(1, SIZE)[0]
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    assert np.array_equal(to_bgr_uint8(frame_to_tensor(bgr)), bgr)


# ---------------------------------------------------------------------------------------------- CLI


def test_cli_headless_file_source_records(clip, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from vidstyle.cli import app
    from vidstyle.commands import webcam

    monkeypatch.setattr(webcam, "load_live_models", lambda models, device, compile_net=False, precision="fp32": ([Invert(), Identity()], ["a", "b"]))
    out = tmp_path / "live.mp4"
    result = CliRunner().invoke(app, ["webcam", "--source", str(clip), "--no-window", "--record", str(out),
                                      "--size", "64x48", "--internal-size", "32x24", "--duration", "5"])
    assert result.exit_code == 0, result.output
    assert "fps" in result.output and "dropped" in result.output and "latency" in result.output
    assert out.exists()
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == SIZE
        times = [float(f.pts * f.time_base) for f in container.decode(stream)]
        assert len(container.streams.audio) == 0
    assert len(times) >= 10 and times[-1] >= 0.9 * (len(times) - 1) / 25  # distinct frames paced at 25 fps


def test_cli_nonexistent_camera(monkeypatch):
    from typer.testing import CliRunner

    from vidstyle.cli import app
    from vidstyle.commands import webcam

    monkeypatch.setattr(webcam, "load_live_models", lambda models, device, compile_net=False, precision="fp32": ([Invert()], ["a"]))
    result = CliRunner().invoke(app, ["webcam", "--source", "97", "--no-window"])
    assert isinstance(result.exception, MediaError)
    assert "camera 97" in str(result.exception)


def _random_lite_model(folder, name="random-lite"):
    """A randomly initialised lite network saved like a trained model (weights + card)."""
    from vidstyle.weights import write_card
    from vidstyle.nets.transformer import build_net
    from vidstyle.weights import save_safetensors

    net = build_net("lite")
    path = folder / f"{name}.safetensors"
    sha = save_safetensors(net.state_dict(), path, metadata=net.spec.to_metadata())
    write_card(path, {"name": name, "arch": "lite", "weights": {"sha256": sha}})
    return path


def test_cli_with_real_lite_models(clip, tmp_path):
    """The real path: two lite models through FeedForwardStyliser, headless, recorded."""
    from typer.testing import CliRunner

    from vidstyle.cli import app

    a, b = _random_lite_model(tmp_path, "lite-a"), _random_lite_model(tmp_path, "lite-b")
    out = tmp_path / "live.mp4"
    result = CliRunner().invoke(app, ["webcam", "--source", str(clip), "--model", str(a), "--model", str(b),
                                      "--no-window", "--record", str(out), "--size", "64x48", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "lite-a" in result.output and "(+1 more)" in result.output
    assert out.exists() and "wrote" in result.output


def test_webcam_size_takes_a_long_side_like_run(cli, tmp_path):
    """`--size N` is the long side, as in `vidstyle run --size N` (WxH still works)."""
    from clips import make_clip

    clip = make_clip(tmp_path / "in.mp4", n_frames=8, size=(64, 48))
    code, out, err = cli("webcam", "--source", clip, "--no-window", "--size", "32", "--duration", "0.5")
    assert code == 0, err
    assert "32x24" in out + err
