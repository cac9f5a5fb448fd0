"""Batch rendering: job files, plan expansion, chunking, resume after kill -9, retries, Ray, atomic outputs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from clips import make_clip
from PIL import Image
from typer.testing import CliRunner

from vidstyle.batch import BatchState, build_plan, chunk_bounds, load_jobs
from vidstyle.batch.jobs import key_lines
from vidstyle.cli import app
from vidstyle.errors import VidstyleError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tmp_path():
    """A private temporary folder (not under pytest's shared basetemp, which concurrent pytest
    sessions of the same user prune while our subprocess renders are still using it)."""
    folder = Path(tempfile.mkdtemp(prefix="vidstyle-test-batch-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _style(path: Path, colour=(200, 40, 40)) -> Path:
    rng = np.random.default_rng(1)
    img = np.clip(np.array(colour)[None, None] + rng.integers(-60, 60, (32, 32, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(img).save(path)
    return path


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    return path


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    """A folder with two fake inputs (parsing never decodes), an image folder and two style images."""
    (tmp_path / "shots").mkdir()
    for name in ("a.mp4", "b.mp4", "notes.txt"):
        (tmp_path / "shots" / name).write_bytes(b"")
    (tmp_path / "seq").mkdir()
    _style(tmp_path / "seq" / "00000.png")
    _style(tmp_path / "red.png")
    _style(tmp_path / "blue.png", (40, 40, 200))
    return tmp_path


# ---------------------------------------------------------------- job files

def test_good_job_file_merges_preset_defaults_and_job(scene: Path) -> None:
    jf = _write(scene / "job.toml", """
        [defaults]
        preset = "fast"
        chunk_frames = 10
        output = "out/{job}/{input_stem}__{style}.mp4"
        [defaults.temporal]
        strength = 0.4

        [[job]]
        name = "one"
        inputs = ["shots/*.mp4", "seq/"]
        styles = ["red.png", ["red.png", "blue.png"]]
        warmup = 3
        [job.optimise]
        steps = 2

        [[job]]
        inputs = "shots/a.mp4"
        styles = ["blue.png"]
        method = "optimise"
        """)
    jobs = load_jobs(jf)
    one, two = jobs.jobs
    assert one.name == "one" and two.name == "job2"
    assert [p.name for p in one.inputs] == ["a.mp4", "b.mp4", "seq"]  # the glob skips notes.txt
    assert [[p.name for p in g] for g in one.styles] == [["red.png"], ["red.png", "blue.png"]]
    assert one.settings.chunk_frames == 10 and one.settings.warmup == 3 and two.settings.warmup == 8
    assert one.settings.method == "auto"  # from the preset
    assert one.configs["optimise"].steps == 2 and one.configs["optimise"].scales == 1  # job over preset
    assert two.configs["optimise"].steps == 60  # preset
    assert one.configs["temporal"].strength == 0.4 and two.configs["temporal"].strength == 0.4  # defaults
    assert one.configs["flow"].method == "dis"
    assert jobs.work_dir == (scene / "renders" / ".vidstyle-batch").resolve()


@pytest.mark.parametrize("body, line, needle", [
    ("[defaults]\nchunk_frames = 10\nwarmpu = 3\n[[job]]\ninputs=['shots/a.mp4']\nstyles=['red.png']\n",
     3, "defaults.warmpu: unknown key"),
    ("[[job]]\ninputs=['shots/a.mp4']\nstyles=['red.png']\n\n[[job]]\ninputs=['shots/a.mp4']\n"
     "styles=['red.png']\n[job.temporal]\nstrenght = 1.0\n", 9, "job[1].temporal.strenght: unknown key"),
    ("[[job]]\ninputs=['shots/a.mp4']\nstyles=['red.png']\n[job.optimise]\nsteps = 'many'\n",
     5, "job[0].optimise.steps: expected int"),
    ("[[job]]\nname = 'x'\ninputs = ['shots/*.mov']\nstyles=['red.png']\n", 3, "job[0].inputs[0]: 'shots/*.mov' matches"),
    ("[[job]]\ninputs=['shots/a.mp4']\n\nstyles = ['red.png', 'missing.png']\n", 4, "style image 'missing.png' not found"),
    ("[[job]]\ninputs=['shots/a.mp4']\nstyles=['red.png']\noutput = 'r/{input}.mp4'\n", 4, "unknown template field {input}"),
    ("[[job]]\ninputs=['shots/a.mp4']\nstyles=['red.png']\nchunk_frames = 0\n", 4, "chunk_frames: must be >= 1"),
    ("[defaults]\npreset = 'turbo'\n[[job]]\ninputs=['shots/a.mp4']\nstyles=['red.png']\n", 2, "preset 'turbo' not found"),
    ("[[job]]\ninputs=['shots/a.mp4']\n", 1, "job[0]: no styles and no models"),
    ("[[job]]\ninputs=['shots/a.mp4']\nstyles=['red.png']\nframes = [5, 2]\n", 4, "frames: expected [first, last]"),
    ("[[job]]\ninputs = ['shots/a.mp4'\n", None, "not valid TOML"),
])
def test_bad_job_file_names_file_line_and_key(scene: Path, body: str, line: int | None, needle: str) -> None:
    jf = scene / "bad.toml"
    jf.write_text(body)
    with pytest.raises(VidstyleError) as err:
        load_jobs(jf)
    msg = str(err.value)
    assert needle in msg
    assert msg.startswith(f"{jf}:{line}:" if line else f"{jf}:")


def test_key_lines_tracks_array_tables() -> None:
    text = "[defaults]\nsize = 1\n\n[[job]]\na = 1\n[job.video]\ncrf = 3\n[[job]]\na = 2 # c\n[job.video]\ncrf = 4\n"
    lines = key_lines(text)
    assert lines[("defaults", "size")] == 2
    assert lines[("job", 0, "a")] == 5 and lines[("job", 0, "video", "crf")] == 7
    assert lines[("job", 1, "a")] == 9 and lines[("job", 1, "video", "crf")] == 11


def test_example_job_files_in_configs_parse() -> None:
    examples = [p for p in (ROOT / "configs").glob("*.toml") if p.stem not in ("quality", "fast", "realtime")]
    assert examples, "configs/ should hold example batch jobs"
    for path in examples:
        text = path.read_text()
        assert "[[job]]" in text
        try:
            load_jobs(path)
        except VidstyleError as e:  # only missing shared data may stop an example from loading
            assert "not found" in str(e) or "matches no" in str(e) or "does not exist" in str(e), str(e)


# ---------------------------------------------------------------- chunks

def test_chunk_bounds_cover_every_frame_with_warmup() -> None:
    chunks = chunk_bounds(100, 30, warmup=5)
    assert [(c.start, c.end, c.warm_start) for c in chunks] == [(0, 30, 0), (30, 60, 25), (60, 90, 55), (90, 100, 85)]
    assert sum(c.frames for c in chunks) == 100


def test_chunk_bounds_end_at_nearby_cuts_and_skip_warmup_after_a_cut() -> None:
    chunks = chunk_bounds(100, 30, warmup=5, cuts=[28, 50, 66], cut_snap=5)
    assert [(c.start, c.end) for c in chunks] == [(0, 28), (28, 58), (58, 88), (88, 100)]
    assert chunks[1].warm_start == 28 and chunks[1].warmup == 0  # starts at a cut: the styliser resets anyway
    assert chunks[2].warm_start == 53  # 58-5, no cut in between
    # warm-up never reaches back across a cut
    chunks = chunk_bounds(60, 20, warmup=8, cuts=[17], cut_snap=0)
    assert [(c.start, c.end, c.warm_start) for c in chunks] == [(0, 20, 0), (20, 40, 17), (40, 60, 32)]


def test_chunk_bounds_merge_short_tail_and_small_inputs() -> None:
    assert [(c.start, c.end) for c in chunk_bounds(33, 30, warmup=4)] == [(0, 33)]  # 3-frame tail joins
    assert [(c.start, c.end) for c in chunk_bounds(5, 30, warmup=4)] == [(0, 5)]
    assert chunk_bounds(0, 30) == []
    for n in range(1, 80, 7):
        for size in (1, 4, 9, 16):
            chunks = chunk_bounds(n, size, 3, cuts=[n // 2, n // 3], cut_snap=2)
            assert chunks[0].start == 0 and chunks[-1].end == n
            assert all(a.end == b.start for a, b in zip(chunks, chunks[1:]))
            assert all(c.start - 3 <= c.warm_start <= c.start < c.end for c in chunks)


# ---------------------------------------------------------------- plan expansion (real probes of tiny clips)

def _job(tmp: Path, body: str = "", chunk: int = 6, warmup: int = 2, retries: int = 1) -> Path:
    """A job file with the cheapest real render: Gatys on VGG relu1_1 only, 1 step per frame at 32 px, DIS blending."""
    return _write(tmp / "job.toml", f"""
        [defaults]
        method = "optimise"
        chunk_frames = {chunk}
        warmup = {warmup}
        cut_snap = 2
        retries = {retries}
        [defaults.optimise]
        steps = 1
        scales = 1
        style_layers = ["relu1_1"]
        content_layers = ["relu1_1"]
        [defaults.flow]
        method = "dis-fast"
        [defaults.video]
        size = 32
        """) if not body else _write(tmp / "job.toml", body)


def test_plan_expands_jobs_inputs_styles_and_chunks(scene: Path) -> None:
    make_clip(scene / "c1.mp4", n_frames=14)
    make_clip(scene / "c2.mp4", n_frames=9)
    jf = _job(scene)
    jf.write_text(jf.read_text() + textwrap.dedent("""
        [[job]]
        name = "a"
        inputs = ["c*.mp4"]
        styles = ["red.png", "blue.png"]
        [[job]]
        name = "b"
        inputs = ["c1.mp4"]
        styles = [["red.png", "blue.png"]]
        frames = [3, 100]
        output = "renders/{job}_{input_stem}_{style}.mkv"
        """))
    jobs = load_jobs(jf)
    state = BatchState(jobs.state_path)
    plan = build_plan(jobs, state)
    assert [(s.job, s.input.name, s.style_name) for s in plan.shots] == [
        ("a", "c1.mp4", "red"), ("a", "c1.mp4", "blue"), ("a", "c2.mp4", "red"), ("a", "c2.mp4", "blue"),
        ("b", "c1.mp4", "red+blue")]
    assert plan.shots[0].output == (scene / "renders" / "c1__red.mp4").resolve()
    assert plan.shots[4].output.name == "b_c1_red+blue.mkv"
    assert [(c.start, c.end, c.warm_start) for c in plan.shots[0].chunks] == [(0, 6, 0), (6, 12, 4), (12, 14, 10)]
    assert plan.shots[4].first == 3 and plan.shots[4].n_frames == 11  # frames clamp to the clip
    assert len(plan.shots[4].pts) == 11
    assert len({s.shot_id for s in plan.shots}) == 5
    keys = [s.chunk_key(c) for s in plan.shots for c in s.chunks]
    assert len(set(keys)) == len(keys)
    # probes are cached in the state: a second plan does not decode again, and is identical
    assert len(BatchState(jobs.state_path).data["probes"]) == 2
    assert build_plan(jobs, BatchState(jobs.state_path)).shots == plan.shots
    text = plan.describe()
    assert "5 outputs, 12 chunks" in text and "6-11(+2)" in text and "frames 3-13 (11)" in text
    dry = CliRunner().invoke(app, ["batch", str(jf), "--dry-run"])
    assert dry.exit_code == 0 and "5 outputs, 12 chunks" in dry.output
    assert not (jobs.work_dir / "chunks").exists()  # nothing rendered
    # changing a setting changes the identity of the shot (old chunks are never reused for it)
    jf.write_text(jf.read_text().replace("steps = 1", "steps = 2"))
    assert build_plan(load_jobs(jf), state).shots[0].shot_id != plan.shots[0].shot_id


def test_plan_refuses_two_renders_into_one_output(scene: Path) -> None:
    make_clip(scene / "c1.mp4", n_frames=4)
    jf = _job(scene)
    jf.write_text(jf.read_text() + "[[job]]\ninputs=['c1.mp4']\nstyles=['red.png','blue.png']\noutput='r/x.mp4'\n")
    with pytest.raises(VidstyleError, match="both write"):
        build_plan(load_jobs(jf))


def test_probe_counts_frames_and_finds_the_cut(tmp_path: Path) -> None:
    from vidstyle.batch.plan import probe_input

    clip = make_clip(tmp_path / "cut.mp4", n_frames=12, size=(64, 48), cut_at=7)
    probe = probe_input(clip)
    assert probe["frames"] == 12 and len(probe["pts"]) == 12
    assert all(a < b for a, b in zip(probe["pts"], probe["pts"][1:]))
    assert probe["cuts"] == [7]  # the pipeline's own rule: a colour change the flow cannot explain


# ---------------------------------------------------------------- end to end (real renders, tiny)

def _vidstyle(*args: str, cwd: Path, **kw) -> subprocess.Popen:
    """``vidstyle ARGS`` in a fresh process (its own session, so a kill reaches its workers)."""
    code = "import sys; from vidstyle.cli import main; sys.argv[0] = 'vidstyle'; main()"
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=cwd, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def _decoded(path: Path) -> np.ndarray:
    from vidstyle.media.reader import open_frames

    with open_frames(path, batch_size=16) as reader:
        return np.concatenate([(b.frames * 255).round().byte().numpy() for b in reader])


def _done_chunks(state_path: Path) -> dict[str, dict]:
    if not state_path.exists():
        return {}
    try:
        data = json.loads(state_path.read_text())
    except json.JSONDecodeError:  # never happens with atomic writes; be safe anyway
        return {}
    return {k: v for k, v in data["chunks"].items() if v.get("status") == "done"}


@pytest.fixture
def clip_scene(tmp_path: Path) -> Path:
    make_clip(tmp_path / "shot.mp4", n_frames=12, size=(48, 32), audio=True)
    _style(tmp_path / "red.png")
    return tmp_path


def _shot_job(folder: Path) -> Path:
    jf = _job(folder, chunk=4, warmup=1)
    jf.write_text(jf.read_text() + "[[job]]\nname = 'one'\ninputs = ['shot.mp4']\nstyles = ['red.png']\n")
    return jf


def test_resume_after_kill_is_frame_identical_and_redoes_no_finished_chunk(clip_scene: Path, tmp_path) -> None:
    from vidstyle.batch.run import run_batch

    jf = _shot_job(clip_scene)
    jobs = load_jobs(jf)
    n_chunks = len(build_plan(jobs).shots[0].chunks)
    assert n_chunks == 3
    # the reference: an uninterrupted render of the same job, in this process (first, so that the render
    # to be killed is watched from its first chunk on, whatever the machine's load)
    ref = tmp_path / "ref"
    ref.mkdir()
    for name in ("shot.mp4", "red.png"):
        shutil.copy2(clip_scene / name, ref / name)
    ref_jobs = load_jobs(_shot_job(ref))
    ref_state = BatchState(ref_jobs.state_path)
    assert run_batch(build_plan(ref_jobs, ref_state), ref_state, executor="inline", progress=False).ok

    proc = _vidstyle("batch", str(jf), "--executor", "inline", "-q", cwd=clip_scene)  # renders in its own process
    deadline = time.time() + 120
    while len(_done_chunks(jobs.state_path)) < 1 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # mid-render of the second chunk
    proc.wait()
    finished = _done_chunks(jobs.state_path)
    assert 1 <= len(finished) < n_chunks, "the kill should land after the first chunk and before the end"
    output = clip_scene / "renders" / "shot__red.mp4"
    assert not output.exists()
    mtimes = {k: Path(v["path"]).stat().st_mtime_ns for k, v in finished.items()}

    # rerun (here with the process pool: chunks are identical whichever executor renders them)
    rerun = CliRunner().invoke(app, ["batch", str(jf), "--workers", "1", "-q"])
    assert rerun.exit_code == 0, rerun.output
    chunks = _done_chunks(jobs.state_path)
    assert len(chunks) == n_chunks
    for key, mtime in mtimes.items():  # finished chunks were reused, not rendered again
        assert Path(chunks[key]["path"]).stat().st_mtime_ns == mtime
    assert all(c["renders"] == 1 for c in chunks.values())

    resumed, reference = _decoded(output), _decoded(ref / "renders" / "shot__red.mp4")
    assert resumed.shape[0] == 12
    np.testing.assert_array_equal(resumed, reference)
    with av.open(str(output)) as c:  # the source's audio came along
        assert len(c.streams.audio) == 1

    # the report lists the output with its thumbnails; another run renders nothing
    report = json.loads((clip_scene / "renders" / "report.json").read_text())
    assert report["outputs"][0]["status"] == "done" and report["outputs"][0]["frames"] == 12
    assert (clip_scene / "renders" / report["outputs"][0]["thumbnail"]).is_file()
    assert "<img" in (clip_scene / "renders" / "report.html").read_text()
    state = BatchState(jobs.state_path)
    again = run_batch(build_plan(jobs, state), state, progress=False)
    assert again.ok and again.outcomes[0].status == "cached" and again.outcomes[0].chunks_rendered == 0


def test_failing_chunk_is_retried_then_reported_and_other_jobs_continue(clip_scene: Path) -> None:
    (clip_scene / "broken.png").write_bytes(b"not an image at all")
    jf = _job(clip_scene, chunk=30, retries=1)
    jf.write_text(jf.read_text() + textwrap.dedent("""
        [[job]]
        name = "bad"
        inputs = ["shot.mp4"]
        styles = ["broken.png"]
        [[job]]
        name = "good"
        inputs = ["shot.mp4"]
        styles = ["red.png"]
        frames = [0, 5]
        ewarp = true
        """))
    result = CliRunner().invoke(app, ["batch", str(jf), "--executor", "inline", "-q"])
    assert result.exit_code == 2, result.output
    assert "1 of 2 outputs did not render" in result.output
    report = json.loads((clip_scene / "renders" / "report.json").read_text())
    bad, good = report["outputs"]
    assert bad["status"] == "failed" and bad["attempts"] == 2  # first try + 1 retry
    assert "broken.png" in bad["errors"][0] or "image" in bad["errors"][0].lower()
    assert good["status"] == "done" and good["frames"] == 6
    assert good["e_warp"]["pairs"] == 5 and good["e_warp"]["e_warp"] >= 0 and good["e_warp"]["input_e_warp"] >= 0
    assert _decoded(Path(good["output"])).shape[0] == 6
    assert not Path(bad["output"]).exists()
    assert "failed" in (clip_scene / "renders" / "report.html").read_text()


def test_existing_output_is_refused_before_anything_renders(clip_scene: Path) -> None:
    from vidstyle.batch.run import run_batch

    jobs = load_jobs(_shot_job(clip_scene))
    state = BatchState(jobs.state_path)
    plan = build_plan(jobs, state)
    plan.shots[0].output.parent.mkdir(parents=True, exist_ok=True)
    plan.shots[0].output.write_bytes(b"someone else's render")
    with pytest.raises(VidstyleError, match="already exists; use --force"):
        run_batch(plan, state, workers=1, progress=False)
    assert not (jobs.work_dir / "chunks").exists()
    assert plan.shots[0].output.read_bytes() == b"someone else's render"


def test_final_assembly_is_atomic(clip_scene: Path, monkeypatch) -> None:
    from vidstyle.batch.assemble import assemble_shot
    from vidstyle.media import writer as writer_mod
    from vidstyle.media.reader import open_frames
    from vidstyle.media.writer import VideoWriter

    jobs = load_jobs(_shot_job(clip_scene))
    shot = build_plan(jobs).shots[0]
    # fake finished chunks: lossless copies of the input's frames, split as planned
    paths = []
    with open_frames(clip_scene / "shot.mp4", size=32) as reader:
        frames = torch.cat([b.frames for b in reader])
        info = reader.info
    for c in shot.chunks:
        p = shot.chunk_path(jobs.work_dir, c)
        p.parent.mkdir(parents=True, exist_ok=True)
        with VideoWriter(p, info, codec="ffv1", audio=False) as w:
            w.write(frames[c.start:c.end], list(range(c.start, c.end)))
        paths.append(p)

    calls = {"n": 0}
    real_write = VideoWriter.write

    def failing_write(self, f, pts):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real_write(self, f, pts)

    monkeypatch.setattr(writer_mod.VideoWriter, "write", failing_write)
    with pytest.raises(RuntimeError, match="disk full"):
        assemble_shot(shot, paths)
    assert not shot.output.exists()
    assert not [p for p in shot.output.parent.iterdir() if ".part" in p.name]
    monkeypatch.setattr(writer_mod.VideoWriter, "write", real_write)
    assemble_shot(shot, paths)
    got = _decoded(shot.output)
    assert got.shape[0] == 12
    with av.open(str(shot.output)) as c:  # the source's audio came along
        assert len(c.streams.audio) == 1


def test_ray_executor_end_to_end(clip_scene: Path) -> None:
    pytest.importorskip("ray")
    from vidstyle.batch.run import run_batch

    jf = _job(clip_scene, chunk=30)
    jf.write_text(jf.read_text() + "[[job]]\ninputs = ['shot.mp4']\nstyles = ['red.png']\n")
    jobs = load_jobs(jf)
    state = BatchState(jobs.state_path)
    plan = build_plan(jobs, state)
    result = run_batch(plan, state, executor="ray", workers=1, progress=False)
    assert result.ok, [o.errors for o in result.outcomes]
    assert _decoded(plan.shots[0].output).shape[0] == 12
    assert all(v["renders"] == 1 for v in state.data["chunks"].values())


def test_one_coordinator_per_job_file(tmp_path: Path) -> None:
    from vidstyle.batch.state import BatchLocked, batch_lock

    state = tmp_path / "w" / "job.state.json"
    with batch_lock(state), pytest.raises(BatchLocked, match=f"pid {os.getpid()}"):
        with batch_lock(state):
            pass
    with batch_lock(state):  # released on exit (and by the kernel when a process dies)
        pass
