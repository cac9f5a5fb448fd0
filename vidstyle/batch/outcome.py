"""What a batch run did: one :class:`ShotOutcome` per output and the :class:`BatchResult` (the report's data).

Plain records, kept apart from the coordinator (:mod:`.run`) so that the report (:mod:`.report`) and callers
can use them without importing the executors and media code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .plan import Shot

__all__ = ["BatchResult", "ShotOutcome"]


@dataclass
class ShotOutcome:
    """What happened to one output in this run (the report's rows)."""

    shot: Shot
    status: str = "pending"  # done | cached | failed | pending
    chunks_done: int = 0
    chunks_rendered: int = 0  # rendered in this run (not reused)
    render_seconds: float = 0.0  # summed over chunks, this run and earlier ones
    assemble_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    attempts: int = 0
    e_warp: dict[str, Any] | None = None  # METRICS.md warping error (k=1), when the job asks for it
    thumbnail: Path | None = None

    @property
    def frames(self) -> int:
        return self.shot.n_frames


@dataclass
class BatchResult:
    outcomes: list[ShotOutcome]
    wall_seconds: float
    report_json: Path | None = None
    report_html: Path | None = None

    @property
    def ok(self) -> bool:
        return all(o.status in ("done", "cached") for o in self.outcomes)
