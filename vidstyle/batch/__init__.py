"""Batch rendering for post-production: job files, resumable chunked renders, local or Ray executors.

>>> from vidstyle.batch import load_jobs, build_plan, run_batch, BatchState   # doctest: +SKIP
>>> jobs = load_jobs("configs/batch_example.toml")
>>> state = BatchState(jobs.work_dir / "batch_example.state.json")
>>> plan = build_plan(jobs, state)
>>> print(plan.describe())
>>> result = run_batch(plan, state, executor="local", workers=2)
>>> result.ok, result.report_html

Modules: :mod:`.jobs` (TOML parsing/validation), :mod:`.plan` (jobs × inputs × styles →
shots and chunks), :mod:`.chunks` (boundaries with warm-up and cut alignment),
:mod:`.state` (the resumable state file), :mod:`.executors` (process pool, Ray),
:mod:`.assemble` (final file with the source's audio), :mod:`.report` (JSON + HTML),
:mod:`.run` (the coordinator).
"""

from __future__ import annotations

from .chunks import Chunk, chunk_bounds
from .jobs import Job, JobFile, load_jobs
from .plan import Plan, Shot, build_plan
from .state import BatchState

__all__ = [
    "BatchResult",
    "BatchState",
    "Chunk",
    "Job",
    "JobFile",
    "Plan",
    "Shot",
    "build_plan",
    "chunk_bounds",
    "load_jobs",
    "run_batch",
]


def __getattr__(name: str):
    # The coordinator pulls in the executors and media code; import it on first use only.
    if name == "BatchResult":
        from .outcome import BatchResult

        return BatchResult
    if name == "run_batch":
        from . import run

        return getattr(run, name)
    raise AttributeError(name)
