"""Progress bars (rich) shared by every long-running command; silent when disabled."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Column


class Bar:
    """One task of a rich progress display; ``update(advance, **fields)`` shows fields as text."""

    def __init__(self, progress: Progress | None, task: Any) -> None:
        self._progress, self._task = progress, task

    def update(self, advance: float = 0, **fields: Any) -> None:
        if self._progress is None:
            return
        info = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items())
        self._progress.update(self._task, advance=advance, info=info)

    def reset(self, total: float, description: str | None = None) -> None:
        if self._progress is not None:
            self._progress.reset(self._task, total=total, **({"description": description} if description else {}))


@contextlib.contextmanager
def progress_bar(total: float | None, description: str, enabled: bool = True) -> Iterator[Bar]:
    """A progress bar on stderr with count, ETA and free-text fields."""
    if not enabled:
        yield Bar(None, None)
        return
    console = Console(file=sys.stderr)
    # On a narrow terminal (80 columns) the free-text fields give way (ellipsis), never the bar: without a fixed
    # bar width and a shrinkable info column, rich squeezed the bar to nothing while the loss fields stayed.
    columns = [TextColumn("[bold]{task.description}"), BarColumn(bar_width=16), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
               TextColumn("{task.fields[info]}", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1))]
    with Progress(*columns, console=console, transient=False, expand=True) as progress:
        task = progress.add_task(description, total=total, info="")
        yield Bar(progress, task)
