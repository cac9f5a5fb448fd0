"""``vidstyle methods``: the registered stylisation methods (from :mod:`vidstyle.stylise.registry`)."""

from __future__ import annotations

import typer

from ..cli import app


@app.command()
def methods() -> None:
    """List the stylisation methods: name, aliases, temporal mode, what each needs, and the auto order."""
    from ..methods import auto_candidates
    from ..stylise.registry import list_methods

    order = {s.name: i + 1 for i, s in enumerate(auto_candidates())}
    for spec in list_methods():
        aliases = f" (alias {', '.join(spec.aliases)})" if spec.aliases else ""
        needs = ", ".join(sorted(n.value for n in spec.needs))
        auto = f"; auto tries it {order[spec.name]}." if spec.name in order else ""
        typer.echo(f"{spec.name}{aliases}: {spec.description}")
        typer.echo(f"    {spec.temporal.value}; needs {needs}{auto} {spec.paper}".rstrip())
    typer.echo("auto: the first of " + ", ".join(s.name for s in auto_candidates()) + " that can serve the style")
