"""``vidstyle batch``: render a job file (many shots × styles), resumably, locally or on Ray."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..cli import ForceOpt, QuietOpt, app


class Executor(str, Enum):
    local = "local"
    ray = "ray"
    inline = "inline"


@app.command()
def batch(
    job_file: Annotated[Path, typer.Argument(help="Job file (TOML): \\[defaults] and \\[\\[job]] tables; see configs/batch_example.toml.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the expanded plan (jobs × chunks) and exit; writes nothing.")] = False,
    executor: Annotated[Executor, typer.Option(help="local: a process pool; ray: Ray tasks (pip install 'vidstyle\\[ray]'); inline: this process, one chunk at a time.")] = Executor.local,
    workers: Annotated[int | None, typer.Option(min=1, help="Worker processes (default: one per core, or per GPU).")] = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster: auto or ray://host:port (default: start Ray locally).")] = None,
    retries: Annotated[int | None, typer.Option(min=0, help="Retries of a failing chunk (default: the job file's, else 2).")] = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Render a batch job file: resumable (rerun after a crash skips finished chunks), with a report."""
    from ..batch import BatchState, build_plan, load_jobs
    from ..errors import VidstyleError

    jobs = load_jobs(job_file)  # every validation error surfaces here, before anything renders
    if address is not None and executor is not Executor.ray:
        raise VidstyleError("--address only applies to --executor ray")
    from ..batch.state import batch_lock

    if dry_run:  # writes nothing (no state, no lock): reuses probes a real run recorded, if any
        plan = build_plan(jobs, BatchState(jobs.state_path, read_only=True))
        typer.echo(plan.describe())
        return
    from ..batch.run import run_batch

    with batch_lock(jobs.state_path):
        state = BatchState(jobs.state_path)
        plan = build_plan(jobs, state)
        result = run_batch(plan, state, executor=executor.value, workers=workers, address=address,
                           retries=retries, force=force, progress=not quiet)
    for o in result.outcomes:
        line = f"{o.status:>7}  {o.shot.label} -> {o.shot.output}"
        typer.echo(line + (f"  ({o.errors[-1]})" if o.errors else ""), err=o.status == "failed")
    typer.echo(f"report: {result.report_html}")
    if not result.ok:
        n = sum(o.status != "done" and o.status != "cached" for o in result.outcomes)
        typer.echo(f"error: {n} of {len(result.outcomes)} outputs did not render; rerun the same command to "
                   "retry them (finished chunks are kept)", err=True)
        raise typer.Exit(2)
