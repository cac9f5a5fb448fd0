"""Regression tests of issue #20: bad inputs and faults must lose nothing and waste nothing.

Every input is built here (tiny synthetic clips, links, read-only folders); what root cannot
simulate (permission checks) is skipped and says so.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from clips import make_clip

from vidstyle.media.image import save_image
from vidstyle.stylise.base import Styliser

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    import vidstyle.device

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setattr(vidstyle.device, "use_all_cores", lambda: 1)
    yield
    torch.set_num_threads(n)


class Invert(Styliser):
    def stylise(self, frames, state=None):
        return 1 - frames


@pytest.fixture
def invert(monkeypatch):
    """Replace every method by a cheap inversion (the tests are about files, not paintings)."""
    import vidstyle.methods

    monkeypatch.setattr(vidstyle.methods, "build_styliser", lambda *a, **k: (Invert(), "invert (test)"))


@pytest.fixture
def style(tmp_path) -> Path:
    path = tmp_path / "style.png"
    save_image(torch.rand(1, 3, 16, 16), path)
    return path


def frame_count(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def parts(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


# ------------------------------------------------------------------ the output is the input

@pytest.mark.parametrize("how", ["same", "relative", "symlink", "hardlink"])
def test_run_refuses_to_overwrite_its_input(tmp_path, cli, invert, style, how, monkeypatch):
    clip = make_clip(tmp_path / "a.mp4", n_frames=8, size=(32, 24))
    before = clip.read_bytes()
    target = {"same": clip, "relative": Path("sub/../a.mp4"), "symlink": tmp_path / "link.mp4",
              "hardlink": tmp_path / "hard.mp4"}[how]
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    if how == "symlink":
        target.symlink_to(clip)
    elif how == "hardlink":
        os.link(clip, target)
    code, _, err = cli("run", clip, "-s", style, "-o", target, "--force", "-q")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "is the input" in lines[0], err
    assert clip.read_bytes() == before and parts(tmp_path) == []


def test_image_and_texture_refuse_to_overwrite_their_inputs(tmp_path, cli, style):
    photo = tmp_path / "photo.png"
    save_image(torch.rand(1, 3, 20, 20), photo)
    before = photo.read_bytes(), style.read_bytes()
    code, _, err = cli("image", photo, "-s", style, "-o", photo, "--force", "-q", "--steps", "1")
    assert code == 1 and "is the input" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("image", photo, "-s", style, "-o", style, "--force", "-q", "--steps", "1")
    assert code == 1 and "is the input" in err
    code, _, err = cli("texture", style, "-o", style, "--force", "-q", "--steps", "1")
    assert code == 1 and "is the input" in err
    assert (photo.read_bytes(), style.read_bytes()) == before


@pytest.mark.parametrize("name", ["out.mp4", "out"])
def test_image_rejects_unknown_extension_before_any_work(tmp_path, cli, style, monkeypatch, name):
    import vidstyle.api

    def boom(*a, **k):
        raise AssertionError("optimisation started")

    monkeypatch.setattr(vidstyle.api, "stylise_still", boom)
    photo = tmp_path / "photo.png"
    save_image(torch.rand(1, 3, 20, 20), photo)
    code, _, err = cli("image", photo, "-s", style, "-o", tmp_path / name, "-q")
    assert code == 1 and "unknown image extension" in err, err
    code, _, err = cli("texture", style, "-o", tmp_path / name, "-q")
    assert code == 1 and "unknown image extension" in err, err


def test_huge_style_image_is_decoded_reduced(tmp_path):
    """A 4000×3000 JPEG asked for at 64 px decodes at ≤ 1/8 scale (draft), PNG box-reduced in uint8."""
    from PIL import Image

    from vidstyle.media.image import load_image

    rng = np.random.default_rng(0)
    big = Image.fromarray(rng.integers(0, 255, (3000, 4000, 3), dtype=np.uint8))
    big.save(tmp_path / "big.jpg", quality=80)
    big.save(tmp_path / "big.png", compress_level=0)
    for name in ("big.jpg", "big.png"):
        x = load_image(tmp_path / name, need=64)
        assert 64 <= max(x.shape[-2:]) <= 2 * 64 + 8, (name, x.shape)
        assert x.shape[-1] > x.shape[-2]  # aspect kept
    assert max(load_image(tmp_path / "big.png").shape[-2:]) == 4000  # default: no reduction below the cap


# ------------------------------------------------------------------ signals and stale temporaries

_SLOW_RUN = """
import sys, time
import vidstyle.methods
from vidstyle.stylise.base import Styliser

class Slow(Styliser):
    def stylise(self, frames, state=None):
        time.sleep(0.2)
        return 1 - frames

vidstyle.methods.build_styliser = lambda *a, **k: (Slow(), "slow (test)")
from vidstyle.cli import main
sys.argv = ["vidstyle"] + sys.argv[1:]
main()
"""


def _start_slow_run(tmp_path: Path, style: Path, out: Path):
    import subprocess
    import time

    clip = make_clip(tmp_path / "long.mp4", n_frames=60, size=(32, 24))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_RUN, "run", str(clip), "-s", str(style), "-o", str(out),
                             "--batch-size", "1", "--no-temporal", "-q"], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not parts(tmp_path):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the render never started writing"
        time.sleep(0.1)
    return proc


def test_sigterm_of_run_cleans_up_like_ctrl_c(tmp_path, style):
    import signal
    import time

    out = tmp_path / "out.mp4"
    proc = _start_slow_run(tmp_path, style, out)
    time.sleep(0.5)  # inside the frame loop
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=60)
    assert code == 143, proc.stderr.read()
    assert parts(tmp_path) == [] and not out.exists()


def test_a_later_run_removes_stale_parts_that_no_live_process_holds(tmp_path, style, cli, invert):
    import fcntl
    import signal

    out = tmp_path / "out.mp4"
    proc = _start_slow_run(tmp_path, style, out)
    proc.send_signal(signal.SIGKILL)  # no cleanup possible
    proc.wait(timeout=60)
    stale = parts(tmp_path)
    assert len(stale) == 1
    # A temporary some live render holds (here: this process, through its own lock) is left alone.
    live = tmp_path / ".out.0123abcd.part.mp4"
    live.write_bytes(b"x")
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        code, _, err = cli("run", tmp_path / "long.mp4", "-s", style, "-o", out, "-q", "--no-temporal")
        assert code == 0, err
        assert parts(tmp_path) == [live.name]
        assert frame_count(out) == 60
    finally:
        os.close(fd)


_COORDINATOR = """
import os, sys, time
from vidstyle.batch.executors import LocalExecutor

if __name__ == "__main__":
    ex = LocalExecutor(1)
    pool = ex._ensure_pool()
    print(pool.submit(os.getpid).result(), flush=True)
    pool.submit(time.sleep, 120)
    time.sleep(120)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc to see the worker")
def test_kill_9_of_the_batch_coordinator_takes_its_workers_down(tmp_path):
    import signal
    import subprocess
    import time

    script = tmp_path / "coordinator.py"
    script.write_text(_COORDINATOR)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
    worker = None
    try:
        worker = int(proc.stdout.readline())
        assert Path(f"/proc/{worker}").exists()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 20
        while Path(f"/proc/{worker}").exists() and "zombie" not in _state(worker):
            assert time.monotonic() < deadline, "the pool worker outlived its coordinator"
            time.sleep(0.1)
    finally:
        proc.kill()
        if worker is not None and Path(f"/proc/{worker}").exists():
            os.kill(worker, signal.SIGKILL)  # do not leave it behind when the test fails


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].splitlines()[0].lower()
    except (OSError, IndexError):
        return "zombie"


# ------------------------------------------------------------------ audio start offset of phone clips

def _phone_audio_clip(tmp_path: Path, gap: int = 7447) -> Path:
    """A clip whose first AAC packet claims ``1024 + gap`` samples while the track's duration counts
    contiguous frames — the layout of ``fire2_handheld_rot180.mp4`` (stts 8471, 1024, …; mdhd 108542)."""
    import struct

    src = make_clip(tmp_path / "src.mp4", n_frames=25, size=(32, 24), audio=True)
    out = tmp_path / "phone.mp4"
    with av.open(str(src)) as inp, av.open(str(out), "w") as dst:
        v_in, a_in = inp.streams.video[0], inp.streams.audio[0]
        v_out, a_out = dst.add_stream_from_template(v_in), dst.add_stream_from_template(a_in)
        first = True
        for packet in inp.demux(v_in, a_in):
            if packet.dts is None:
                continue
            if packet.stream is a_in:
                if first:
                    packet.duration, first = 1024 + gap, False
                else:
                    packet.pts += gap
                    packet.dts += gap
                packet.stream = a_out
            else:
                packet.stream = v_out
            dst.mux(packet)
        frames = a_in.frames
    data = bytearray(out.read_bytes())
    at = 0
    while (at := data.find(b"mdhd", at + 1)) > 0:  # version-0 mdhd: …, timescale, duration
        if struct.unpack(">I", data[at + 16:at + 20])[0] == 48000:
            data[at + 20:at + 24] = struct.pack(">I", frames * 1024 - 2)
    out.write_bytes(bytes(data))
    return out


def _audio(path: Path) -> tuple[float, float, list[float]]:
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        times = [float(p.pts * p.time_base) for p in c.demux(a) if p.dts is not None]
        return float(a.duration * a.time_base), float((a.start_time or 0) * a.time_base), times


def _check_audio_kept(clip: Path, out: Path) -> None:
    duration, _, times = _audio(clip)
    out_duration, out_start, out_times = _audio(out)
    assert abs(out_duration - duration) < 1 / 25, (out_duration, duration)
    # every packet after the first keeps its time (to the millisecond of mp4's edit list)
    assert len(out_times) == len(times)
    assert max(abs(a - b) for a, b in zip(out_times[1:], times[1:])) < 1.5e-3
    assert out_start == pytest.approx(out_times[0], abs=1e-3)


def test_audio_start_offset_in_the_first_packet_is_kept(tmp_path, cli, invert, style):
    clip = _phone_audio_clip(tmp_path)
    duration, start, _ = _audio(clip)
    assert start == 0 and abs(duration - 25 / 25) < 0.05  # what FFmpeg reports for the source
    out = tmp_path / "out.mp4"
    code, _, err = cli("run", clip, "-s", style, "-o", out, "-q", "--no-temporal")
    assert code == 0, err
    _check_audio_kept(clip, out)


def test_rotated_phone_clip_keeps_its_audio_duration(tmp_path, cli, invert, style):
    from conftest import shared_path

    clip = shared_path("data", "clips", "fire2_handheld_rot180.mp4")
    out = tmp_path / "out.mp4"
    code, _, err = cli("run", clip, "-s", style, "-o", out, "-q", "--no-temporal", "--size", "32")
    assert code == 0, err
    assert abs(_audio(out)[0] - 2.2613) < 1 / 25
    _check_audio_kept(clip, out)


@pytest.mark.parametrize("ext", [".mp4", ".mov"])
def test_hevc_is_tagged_hvc1(tmp_path, cli, invert, style, ext):
    clip = make_clip(tmp_path / "in.mp4", n_frames=3, size=(32, 24))
    out = tmp_path / f"out{ext}"
    code, _, err = cli("run", clip, "-s", style, "-o", out, "-q", "--no-temporal", "--codec", "h265")
    assert code == 0, err
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.codec_tag == "hvc1"
    assert b"hvc1" in out.read_bytes() and b"hev1" not in out.read_bytes()
    assert frame_count(out) == 3
