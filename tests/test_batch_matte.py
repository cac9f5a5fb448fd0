"""Mattes in batch job files: ``mask = "roto/{input_stem}_matte.mkv"`` per job, validated before anything renders
(missing file, bad template, frame count, aspect), and composited in every chunk (outside = the input)."""

from __future__ import annotations

import shutil
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
from clips import make_clip
from PIL import Image
from test_matte_video import Invert, _frames, _write_video

from vidstyle.batch import BatchState, build_plan, load_jobs
from vidstyle.errors import VidstyleError

W, H, N = 48, 32, 12


@pytest.fixture
def scene():
    folder = Path(tempfile.mkdtemp(prefix="vidstyle-test-batch-matte-"))
    make_clip(folder / "shot.mp4", n_frames=N, size=(W, H))
    Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(folder / "style.png")
    (folder / "roto").mkdir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _matte(i: int) -> np.ndarray:
    a = np.zeros((H, W), np.uint8)
    a[:, : 8 + 2 * i] = 255  # the edge moves 2 px per frame: chunks must stay aligned
    return a


def _job(folder: Path, mask: str = 'mask = "roto/{input_stem}_matte.mkv"', extra: str = "", name: str = "roto") -> Path:
    """A job file with one job on ``shot.mp4`` × ``style.png`` (4-frame chunks, 1 warm-up frame): ``extra`` goes into
    ``[defaults]``, ``mask`` (any lines) into the job. Shared with tests/test_batch_keyframes.py."""
    path = folder / "job.toml"
    path.write_text(textwrap.dedent(f"""
        [defaults]
        method = "fast"
        chunk_frames = 4
        warmup = 1
        {extra}
        [[job]]
        name = "{name}"
        inputs = ["shot.mp4"]
        styles = ["style.png"]
        {mask}
    """).lstrip())
    return path


def test_missing_matte_and_bad_template_are_named_with_file_and_line(scene):
    with pytest.raises(VidstyleError) as e:
        load_jobs(_job(scene))
    assert "job.toml:" in str(e.value) and "mask" in str(e.value) and "shot_matte.mkv" in str(e.value)
    with pytest.raises(VidstyleError, match=r"unknown template field \{style\}"):
        load_jobs(_job(scene, 'mask = "roto/{style}.mkv"'))
    with pytest.raises(VidstyleError, match="feather: must be >= 0"):
        load_jobs(_job(scene, 'mask = "roto/x.png"', extra="feather = -1"))


@pytest.mark.parametrize("case,needle", [("frames", "has 11 frames but the clip has 12"),
                                         ("aspect", "aspect ratio")])
def test_matte_that_does_not_fit_the_clip_fails_the_plan_in_one_line(scene, case, needle):
    arrays = [_matte(i) for i in range(N - 1)] if case == "frames" else [np.zeros((32, 32), np.uint8)] * N
    _write_video(scene / "roto" / "shot_matte.mkv", arrays)
    jobs = load_jobs(_job(scene))
    with pytest.raises(VidstyleError) as e:
        build_plan(jobs)
    assert needle in str(e.value) and "job 'roto'" in str(e.value) and "\n" not in str(e.value)


def test_batch_with_matte_keeps_outside_pixels_in_every_chunk(scene, monkeypatch):
    import vidstyle.methods
    from vidstyle.batch.run import run_batch

    monkeypatch.setattr(vidstyle.methods, "build_styliser", lambda *a, **k: (Invert(), "invert (test)"))
    _write_video(scene / "roto" / "shot_matte.mkv", [_matte(i) for i in range(N)])
    jobs = load_jobs(_job(scene, extra="[defaults.temporal]\nstrength = 0.0"))
    state = BatchState(jobs.state_path)
    plan = build_plan(jobs, state)
    assert plan.shots[0].mask is not None and len(plan.shots[0].chunks) == 3
    assert "mask" in plan.describe()
    assert run_batch(plan, state, executor="inline", progress=False).ok
    out, inp = _frames(scene / "renders" / "shot__style.mp4"), _frames(scene / "shot.mp4")
    assert len(out) == N
    for k in range(N):
        edge = 8 + 2 * k
        assert np.abs(out[k][:, edge + 4:] - inp[k][:, edge + 4:]).mean() < 0.03, k  # outside: the input
        assert np.abs(out[k][:, : edge - 4] - (1 - inp[k][:, : edge - 4])).mean() < 0.05, k  # inside: stylised
