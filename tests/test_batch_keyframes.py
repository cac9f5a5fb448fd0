"""Keyframes in batch job files: ``[job.keyframes]`` (frames, every, method, … of KeyframeConfig) and painted
keyframes per input (``images = [[frame, "paint/{input_stem}_k0.png"]]``), validated before anything renders and
rendered as one chunk per shot (a keyframe carries across the whole shot)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from clips import make_clip
from PIL import Image
from test_batch_matte import _job as matte_job
from test_matte_video import Invert, _frames

from vidstyle.batch import BatchState, build_plan, load_jobs
from vidstyle.errors import VidstyleError

W, H, N = 48, 32, 10
PAINT = (40, 160, 220)  # the painted keyframe: one flat colour, easy to follow


@pytest.fixture
def scene():
    folder = Path(tempfile.mkdtemp(prefix="vidstyle-test-batch-keyframes-"))
    make_clip(folder / "shot.mp4", n_frames=N, size=(W, H))
    Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(folder / "style.png")
    (folder / "paint").mkdir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _job(folder: Path, keyframes: str = 'images = [[0, "paint/{input_stem}_k0.png"]]', extra: str = "") -> Path:
    return matte_job(folder, "[job.keyframes]\n" + keyframes, extra, name="kf")


def _paint(folder: Path) -> None:
    Image.fromarray(np.full((H, W, 3), PAINT, np.uint8)).save(folder / "paint" / "shot_k0.png")


def test_bad_keyframe_entries_are_named_with_file_and_line(scene):
    with pytest.raises(VidstyleError) as e:  # the painted keyframe does not exist yet
        load_jobs(_job(scene))
    assert "job.toml:" in str(e.value) and "keyframes" in str(e.value) and "shot_k0.png" in str(e.value)
    _paint(scene)
    for text, needle in [('images = [[0, "paint/{style}.png"]]', r"unknown template field \{style\}"),
                         ('images = ["paint/x.png"]', r"expected \[\[frame"),
                         ('images = [[-1, "paint/{input_stem}_k0.png"]]', "integer >= 0"),
                         ('every = 0', "every"),
                         ('method = "optimize"', "method"),
                         ('frmes = [0]', "unknown key")]:
        with pytest.raises(VidstyleError, match=needle):
            load_jobs(_job(scene, text))


def test_keyframe_outside_the_shot_fails_the_plan_in_one_line(scene):
    _paint(scene)
    jobs = load_jobs(_job(scene, 'frames = [12]\nmethod = "fast"'))
    with pytest.raises(VidstyleError) as e:
        build_plan(jobs)
    assert "keyframe 12 is outside the frames 0–9" in str(e.value) and "\n" not in str(e.value)


def test_batch_with_a_painted_keyframe_renders_one_chunk_and_carries_it(scene, monkeypatch):
    import vidstyle.methods
    from vidstyle.batch.run import run_batch

    monkeypatch.setattr(vidstyle.methods, "build_styliser", lambda *a, **k: (Invert(), "invert (test)"))
    _paint(scene)
    jobs = load_jobs(_job(scene))
    state = BatchState(jobs.state_path)
    plan = build_plan(jobs, state)
    shot = plan.shots[0]
    assert len(shot.chunks) == 1 and shot.chunks[0].warmup == 0  # keyframes carry across the shot
    assert shot.configs["keyframes"].images == ((0, (scene / "paint" / "shot_k0.png").resolve()),)
    assert "keyframes painted 0" in plan.describe()
    assert run_batch(plan, state, executor="inline", progress=False).ok
    out, inp = _frames(scene / "renders" / "shot__style.mp4"), _frames(scene / "shot.mp4")
    assert len(out) == N
    paint = np.array(PAINT, np.float32) / 255
    assert np.abs(out[0] - paint).mean() < 0.03  # the keyframe as painted
    to_paint = np.abs(out[1] - paint).mean()
    to_fill = np.abs(out[1] - (1 - inp[1])).mean()
    assert to_paint < 0.5 * to_fill, (to_paint, to_fill)  # the next frame carries the painting, not the fill
    # a repainted keyframe is a new shot (it renders again); the same file is not
    assert build_plan(load_jobs(jobs.path)).shots[0].shot_id == shot.shot_id
    Image.fromarray(np.full((H, W, 3), (200, 10, 10), np.uint8)).save(scene / "paint" / "shot_k0.png")
    assert build_plan(load_jobs(jobs.path)).shots[0].shot_id != shot.shot_id


def test_jobs_without_keyframes_keep_their_chunks(scene):
    path = scene / "plain.toml"
    path.write_text('[[job]]\nname = "p"\ninputs = ["shot.mp4"]\nstyles = ["style.png"]\nchunk_frames = 4\n')
    plan = build_plan(load_jobs(path))
    assert len(plan.shots[0].chunks) > 1 and not plan.shots[0].configs["keyframes"].active
