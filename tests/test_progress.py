"""The progress bar keeps its bar, count and ETA on an 80-column terminal; long fields are cut instead."""

from __future__ import annotations

import io

from rich.console import Console

import vidstyle.progress as progress


def test_bar_survives_80_columns(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(progress, "Console",
                        lambda file=None: Console(file=buf, width=80, force_terminal=True, color_system=None))
    with progress.progress_bar(100, "stylising") as bar:
        bar.update(30, loss=1234.5678, content=0.1234, style=5.678, tv=0.001, temporal=0.02)
    last = buf.getvalue().split("\r")[-1]
    assert "30/100" in last and "━" in last and "eta" in last
    assert "…" in last  # the loss fields gave way, not the bar
