"""The batch coordinator: skip what is finished, render the rest, retry, assemble, report.

Only this process writes the state file and final outputs; workers (processes or
Ray tasks) only write their own chunk files, atomically. So a kill -9 at any moment
loses at most the chunks being rendered: on the next run, finished chunk files are
found (by their content-hash names) and only the missing ones render again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path
from typing import Any

from ..errors import VidstyleError
from ..progress import progress_bar
from .assemble import assemble_shot
from .executors import ChunkError, ChunkTask, make_executor
from .outcome import BatchResult, ShotOutcome
from .plan import Plan, Shot
from .report import measure_ewarp, write_report
from .state import BatchState


def _task(plan: Plan, shot: Shot, chunk) -> ChunkTask:
    return ChunkTask(key=shot.chunk_key(chunk), label=shot.label, input=str(shot.input),
                     output=str(shot.chunk_path(plan.work_dir, chunk)), styles=tuple(str(s) for s in shot.styles),
                     model=shot.model, method=shot.method, configs=shot.configs, device=shot.device,
                     first=shot.first + chunk.warm_start, end=shot.first + chunk.end, discard=chunk.warmup,
                     frames=chunk.frames,
                     extra={"mask": str(shot.mask), "invert_mask": shot.invert_mask, "feather": shot.feather}
                     if shot.mask is not None else {})


def _output_is_ours(state: BatchState, shot: Shot) -> bool:
    """The output exists and is the file this batch assembled for exactly this shot."""
    rec = state.shot(shot.shot_id)
    if rec.get("status") != "done" or not shot.output.is_file():
        return False
    st = shot.output.stat()
    return rec.get("output") == str(shot.output) and rec.get("size") == st.st_size and rec.get("mtime_ns") == st.st_mtime_ns


def _remove_stale_parts(folder: Path) -> None:
    """Temporary files of chunks a killed run was writing (never complete, never used)."""
    if folder.is_dir():
        for p in folder.glob(".*.part*"):
            with contextlib.suppress(OSError):
                p.unlink()


def run_batch(plan: Plan, state: BatchState, *, executor: str = "local", workers: int | None = None,
              address: str | None = None, retries: int | None = None, force: bool = False,
              progress: bool = True) -> BatchResult:
    """Render every shot of ``plan`` that is not finished yet; write the report.

    Args:
        executor: ``local`` (process pool), ``ray``, or ``inline`` (this process; debugging, tests).
        workers: processes (local) or CPUs of a local Ray instance; default one per core (or GPU).
        address: Ray cluster address (``auto``, ``ray://host:port``); None starts Ray locally.
        retries: attempts after the first for a failing chunk (default: each job's ``retries``).
        force: overwrite outputs that exist but were not written by this batch.

    Returns:
        Outcomes per output; ``ok`` is True only when every output is finished.

    Raises:
        VidstyleError: an output exists and ``force`` is off (checked before anything renders).
    """
    t0 = time.perf_counter()
    outcomes = {shot.shot_id: ShotOutcome(shot) for shot in plan.shots}
    replace_ok: set[str] = set()  # outputs allowed to be replaced: ours, or --force; others are never clobbered
    for shot in plan.shots:  # fail before any work, not after hours of it
        if shot.output.exists():
            if not force and not _output_is_ours(state, shot):
                raise VidstyleError(f"output {shot.output} already exists; use --force to overwrite it")
            replace_ok.add(shot.shot_id)
        if not shot.output.parent.exists():
            shot.output.parent.mkdir(parents=True, exist_ok=True)

    todo: list[tuple[Shot, Any]] = []
    for shot in plan.shots:
        out = outcomes[shot.shot_id]
        if _output_is_ours(state, shot):
            out.status, out.chunks_done = "cached", len(shot.chunks)
            out.e_warp = state.shot(shot.shot_id).get("e_warp")
            out.render_seconds = sum(state.chunk(shot.chunk_key(c)).get("seconds", 0.0) for c in shot.chunks)
            continue
        _remove_stale_parts(plan.work_dir / "chunks" / shot.shot_id)
        for chunk in shot.chunks:
            key, path = shot.chunk_key(chunk), shot.chunk_path(plan.work_dir, chunk)
            if state.chunk_done(key, path) or state.adopt(key, path, chunk.frames):
                out.chunks_done += 1
                out.render_seconds += state.chunk(key).get("seconds", 0.0)
            else:
                todo.append((shot, chunk))

    n_workers = workers
    result_rows = list(outcomes.values())
    total_frames = sum(c.frames for _, c in todo)
    by_key = {shot.chunk_key(c): (shot, c) for shot, c in todo}

    def finish_shot(shot: Shot) -> None:
        out = outcomes[shot.shot_id]
        if out.errors or out.chunks_done < len(shot.chunks):
            return
        t = time.perf_counter()
        try:
            assemble_shot(shot, [shot.chunk_path(plan.work_dir, c) for c in shot.chunks],
                          force=shot.shot_id in replace_ok)
        except Exception as e:  # noqa: BLE001 - one bad output must not stop the others
            out.status = "failed"
            out.errors.append(f"assembling {shot.output.name}: {e}")
            state.record_shot(shot.shot_id, status="failed", error=str(e))
            return
        out.assemble_seconds = time.perf_counter() - t
        st = shot.output.stat()
        state.record_shot(shot.shot_id, status="done", output=str(shot.output), size=st.st_size,
                          mtime_ns=st.st_mtime_ns, frames=shot.n_frames)
        out.status = "done"
        if shot.ewarp:
            try:
                out.e_warp = measure_ewarp(shot)
            except Exception as e:  # noqa: BLE001 - a metric failing does not fail the render
                out.errors.append(f"E_warp not measured: {e}")
            state.record_shot(shot.shot_id, e_warp=out.e_warp)

    with progress_bar(total_frames or None, "batch", enabled=progress) as bar:
        # shots whose chunks were all finished before (killed during assembly)
        for shot in plan.shots:
            if outcomes[shot.shot_id].status == "pending" and outcomes[shot.shot_id].chunks_done == len(shot.chunks):
                finish_shot(shot)
        if todo:
            pool = make_executor(executor, n_workers, address)
            try:
                for shot, chunk in todo:
                    pool.submit(_task(plan, shot, chunk))
                bar.update(0, job=todo[0][0].label)
                while pool.busy:
                    task, res = pool.wait_one()
                    shot, chunk = by_key[task.key]
                    out = outcomes[shot.shot_id]
                    out.attempts += 1
                    if isinstance(res, Exception):
                        msg = str(res) if isinstance(res, ChunkError) else f"{type(res).__name__}: {res}"
                        state.record_chunk(task.key, status="failed", error=msg,
                                           details=getattr(res, "details", "")[-4000:])
                        limit = retries if retries is not None else shot.retries
                        if task.attempt <= limit:
                            pool.submit(dataclasses.replace(task, attempt=task.attempt + 1))
                            continue
                        out.status = "failed"
                        out.errors.append(f"frames {shot.first + chunk.start}-{shot.first + chunk.end - 1} failed "
                                          f"after {task.attempt} attempt(s): {msg}")
                        state.record_shot(shot.shot_id, status="failed", error=out.errors[-1])
                        bar.update(chunk.frames, job=f"{shot.label} FAILED")
                        continue
                    state.record_chunk(task.key, status="done", path=Path(task.output), frames=res.frames,
                                       seconds=res.seconds)
                    out.chunks_done += 1
                    out.chunks_rendered += 1
                    out.render_seconds += res.seconds
                    bar.update(chunk.frames, job=shot.label,
                               outputs=f"{sum(o.status == 'done' for o in result_rows)}/{len(result_rows)}")
                    if out.chunks_done == len(shot.chunks):
                        finish_shot(shot)
            except BaseException:
                pool.close(abort=True)
                raise
            pool.close()

    result = BatchResult(outcomes=result_rows, wall_seconds=time.perf_counter() - t0)
    result.report_json, result.report_html = write_report(plan, result)
    return result


__all__ = ["BatchResult", "ShotOutcome", "run_batch"]
