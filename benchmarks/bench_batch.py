"""Batch rendering benchmark: a 3-shot × 2-style job through the real ``vidstyle batch`` command.

Measures (each run in a fresh folder, as a subprocess, like a user would run it):

1. wall time with 1 vs 2 local workers (and the ratio);
2. chunking overhead: chunked render vs one chunk per shot (single pass), 1 worker (target ≤ 10 %);
3. time lost to a kill -9 at 50 % of the chunks and a rerun, vs the uninterrupted render
   (target ≤ one chunk's worth of render time).

    python benchmarks/bench_batch.py                 # defaults: 3 clips × 48 frames, 64 px, 2 steps, all VGG layers
    python benchmarks/bench_batch.py --append        # also append the table to benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from clips import make_clip
from results_md import append_section

JOB = """
[defaults]
method = "optimise"
chunk_frames = {chunk}
warmup = {warmup}
cut_snap = 0
retries = 0
[defaults.optimise]
size = {size}
steps = {steps}
scales = 1
[defaults.flow]
method = "dis-fast"
[defaults.video]
size = {size}

[[job]]
name = "reel"
inputs = ["shot1.mp4", "shot2.mp4", "shot3.mp4"]
styles = ["{style1}", "{style2}"]
"""


def _scene(folder: Path, frames: int, size: int) -> None:
    for i in range(3):
        make_clip(folder / f"shot{i + 1}.mp4", n_frames=frames, size=(size * 3 // 2 // 2 * 2, size), seed=i,
                  audio=i == 0)


def _write_job(folder: Path, args: argparse.Namespace, chunk: int) -> Path:
    styles = [ROOT / "samples" / "starry_night.jpg", ROOT / "samples" / "chelsea.png"]
    layers = [x.strip() for x in args.layers.split(",")]
    text = JOB.format(chunk=chunk, warmup=args.warmup, size=args.size, steps=args.steps, style1=styles[0],
                      style2=styles[1], layers=json.dumps(layers), content=json.dumps(layers[-1:]))
    path = folder / "job.toml"
    path.write_text(text)
    return path


def _command(job: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "vidstyle", "batch", str(job), "--workers", str(workers), "-q"]


def _fresh(base: Path, name: str, args: argparse.Namespace, chunk: int) -> Path:
    folder = base / name
    folder.mkdir()
    for f in base.glob("shot*.mp4"):
        os.link(f, folder / f.name)
    return _write_job(folder, args, chunk)


CPU: dict[Path, float] = {}  # CPU seconds (user + system) of each run's process tree, by job file


def _cpu_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _run(job: Path, workers: int, cores: str | None = None) -> float:
    """Wall time of one ``vidstyle batch`` run (its CPU time goes to ``CPU``); ``cores`` pins it with taskset.

    CPU time is far less sensitive than wall time to the other jobs on a shared machine;
    it includes the pool workers (reaped by the coordinator before it exits).
    """
    cmd = _command(job, workers)
    if cores is not None:
        cmd = ["taskset", "-c", cores, *cmd]
    t, c = time.perf_counter(), _cpu_children()
    subprocess.run(cmd, cwd=job.parent, check=True, stdout=subprocess.DEVNULL)
    CPU[job] = CPU.get(job, 0.0) + _cpu_children() - c
    return time.perf_counter() - t


def _state(job: Path) -> dict:
    path = job.parent / "renders" / ".vidstyle-batch" / "job.state.json"
    return json.loads(path.read_text()) if path.exists() else {"chunks": {}}


def _kill_and_resume(job: Path, total_chunks: int, cores: str | None) -> tuple[float, float, int]:
    t = time.perf_counter()
    cmd = _command(job, 1) if cores is None else ["taskset", "-c", cores, *_command(job, 1)]
    proc = subprocess.Popen(cmd, cwd=job.parent, start_new_session=True, stdout=subprocess.DEVNULL)
    while proc.poll() is None:
        done = sum(c.get("status") == "done" for c in _state(job)["chunks"].values())
        if done >= total_chunks // 2:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    t_kill = time.perf_counter() - t
    done = sum(c.get("status") == "done" for c in _state(job)["chunks"].values())
    return t_kill, _run(job, 1, cores), done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=48, help="frames per shot")
    ap.add_argument("--size", type=int, default=64, help="long side of the render")
    ap.add_argument("--steps", type=int, default=2, help="optimisation steps per frame")
    ap.add_argument("--chunk", type=int, default=24, help="frames per chunk")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up frames per chunk")
    ap.add_argument("--layers", default="relu1_1,relu2_1,relu3_1,relu4_1,relu5_1",
                    help="VGG style layers (the last is also the content layer); fewer = cheaper frames")
    ap.add_argument("--pin", action="store_true",
                    help="run the 1-worker renders under `taskset -c 0` (1 core, 1 torch thread, like each of "
                         "the 2 workers); on an oversubscribed machine 2 OpenMP threads per process stall")
    ap.add_argument("--append", action="store_true", help="append the results to benchmarks/RESULTS.md")
    args = ap.parse_args()

    base = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    one_core = "0" if args.pin else None
    try:
        _scene(base, args.frames, args.size)
        one = _fresh(base, "w1", args, args.chunk)
        t1 = _run(one, 1, one_core)
        chunk_seconds = [c["seconds"] for c in _state(one)["chunks"].values()]
        n_chunks = len(chunk_seconds)
        t2 = _run(_fresh(base, "w2", args, args.chunk), 2)
        single = _fresh(base, "single", args, 10**6)
        t_single = _run(single, 1, one_core)
        cpu1, cpu2, cpu_single = CPU[one], CPU[base / "w2" / "job.toml"], CPU[single]
        single_render = sum(c["seconds"] for c in _state(single)["chunks"].values())
        t_kill, t_resume, done_at_kill = _kill_and_resume(_fresh(base, "kill", args, args.chunk), n_chunks,
                                                          one_core)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    mean_chunk = sum(chunk_seconds) / n_chunks
    lost = t_kill + t_resume - t1
    rows = [
        ("wall, 1 worker (chunked)", f"{t1:.1f} s"),
        ("wall, 2 workers (chunked)", f"{t2:.1f} s"),
        ("speed-up 2 vs 1 workers", f"{t1 / t2:.2f}×"),
        ("CPU time (all processes), 1 worker / 2 workers", f"{cpu1:.1f} s / {cpu2:.1f} s"),
        ("wall, 1 worker, single pass (1 chunk per output)", f"{t_single:.1f} s"),
        ("chunking overhead, wall (chunked / single − 1)", f"{(t1 / t_single - 1) * 100:+.1f} %"),
        ("chunking overhead, CPU time (chunked / single − 1)", f"{(cpu1 / cpu_single - 1) * 100:+.1f} %"),
        ("chunking overhead, summed chunk render time", f"{(sum(chunk_seconds) / single_render - 1) * 100:+.1f} %"),
        ("chunks per run / mean chunk render time", f"{n_chunks} / {mean_chunk:.1f} s"),
        (f"kill -9 after {done_at_kill}/{n_chunks} chunks: killed run + rerun", f"{t_kill:.1f} s + {t_resume:.1f} s"),
        ("time lost to kill + resume (vs uninterrupted)", f"{lost:.1f} s = {lost / mean_chunk:.2f} chunks"),
    ]
    _emit(args, rows)


def _emit(args: argparse.Namespace, rows: list[tuple[str, str]]) -> None:
    pin = " 1-worker runs pinned to one core (`taskset -c 0`)." if args.pin else ""
    intro = (f"Job: 3 synthetic shots × {args.frames} frames × 2 styles = 6 outputs, method optimise ({args.steps} "
             f"step(s), {args.size} px, VGG layers {args.layers}), chunks of {args.chunk} frames with {args.warmup} "
             f"warm-up frame(s), each run a fresh `vidstyle batch` subprocess.{pin}")
    body = "\n".join(["| measure | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows])
    print(intro, body, sep="\n\n")
    if args.append:
        append_section("Batch rendering (vidstyle batch)", intro, body, level=3)


if __name__ == "__main__":
    main()
