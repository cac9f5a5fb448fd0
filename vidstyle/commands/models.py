"""``vidstyle models``: list the installed models (feed-forward styles and any-style generators; ``--all``: every kind)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..cli import app


@app.command()
def models(
    folder: Annotated[Optional[Path], typer.Option(help="Models folder (default: the installed models/).")] = None,
    verify: Annotated[bool, typer.Option("--verify", help="Also check each file's SHA-256 against its card.")] = False,
    all_kinds: Annotated[bool, typer.Option("--all", help="Also list other kinds (e.g. AdaIN/WCT decoders).")] = False,
) -> None:
    """List installed models: name, architecture, size, training steps, style thumbnail and card."""
    from rich.console import Console
    from rich.table import Table

    from ..weights import GENERATOR, STYLISERS, list_models

    found = list_models(folder, kind=None if all_kinds else STYLISERS, broken=True)
    if not found:
        typer.echo("no models installed (train one with `vidstyle train`)")
        return
    table = Table(box=None)
    columns = ("name", "arch") + (("kind",) if all_kinds else ()) + ("MB", "steps", "style", "thumbnail", "card")
    for col in columns + (("checksum",) if verify else ()):
        table.add_column(col)
    bad = []
    for m in found:
        style = "any painting (--method magenta --model NAME)" if m.kind == GENERATOR else m.style_file
        row = [m.name, m.arch] + ([m.kind] if all_kinds else []) + [f"{m.size_mb:.2f}", str(m.steps or "?"), style,
               str(m.thumbnail) if m.thumbnail else "-", f"BROKEN: {m.problem}" if m.problem else str(m.card)]
        if verify:
            ok = m.verified()
            row.append("ok" if ok else ("BROKEN" if m.problem else "MISMATCH"))
            if not ok:
                bad.append(m.name)
        table.add_row(*row)
    Console(width=200).print(table)
    if bad:  # --verify is a check: a failed one must fail the command (scripts, CI)
        typer.echo(f"error: {len(bad)} model(s) failed verification: {', '.join(bad)}", err=True)
        raise typer.Exit(1)
