"""Appending a measured section to benchmarks/RESULTS.md — one implementation for the benchmark scripts.

Every section states when it ran, the exact command, the machine and the load average the script
*started* under (:data:`LOAD_AT_IMPORT`; above ~1 per core other work shared the CPU), so that nobody has
to guess whether a wall time came from an idle or a busy machine.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
LOAD_AT_IMPORT = os.getloadavg()  # 1/5/15-minute load averages when the benchmark started


def command() -> str:
    """The command line as run (``--append`` left out), with its niceness when not 0."""
    niceness = os.nice(0)
    args = " ".join(a for a in sys.argv[1:] if a != "--append")
    return (f"nice -n {niceness} " if niceness else "") + f"python benchmarks/{Path(sys.argv[0]).name} {args}".strip()


def machine() -> str:
    """``x86_64, 2 CPU cores (load average 0.4 0.9 1.2 at start)``."""
    load = " ".join(f"{x:.1f}" for x in LOAD_AT_IMPORT)
    return f"{platform.machine()}, {os.cpu_count()} CPU cores (load average {load} at start)"


def append_section(heading: str, intro: str, body: str, level: int = 2) -> None:
    """Append ``heading — date``, the command and machine line plus ``intro``, then ``body`` (markdown)."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = f"\n{'#' * level} {heading} — {now}\n\n`{command()}` on {machine()}. {intro}\n\n{body}\n"
    with open(RESULTS, "a") as fh:
        fh.write(text)


__all__ = ["LOAD_AT_IMPORT", "RESULTS", "append_section", "command", "machine"]
