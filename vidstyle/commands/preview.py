"""``vidstyle preview``: a contact sheet of a few frames × each style / method / strength, with render-time estimates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..cli import DeviceOpt, ForceOpt, QuietOpt, StyleViewOpt, app, choices
from ..config import VideoConfig
from ..errors import VidstyleError
from .run import Backend, Flow, Precision, _method_names


def _methods() -> list[str]:
    return _method_names()


PreviewMethod = choices("PreviewMethod", _methods())


@app.command()
def preview(
    input: Annotated[Path, typer.Argument(help="Video file, or a folder of frames.")],
    style: Annotated[list[Path] | None, typer.Option("--style", "-s", help="Style image: one column per style (repeat).")] = None,
    method: Annotated[list[PreviewMethod] | None, typer.Option(help="Method(s) to compare (repeat); default auto (magenta for an unseen painting, when installed).")] = None,  # type: ignore[valid-type]
    strength: Annotated[list[str] | None, typer.Option(metavar="S|CURVE", help="Strength(s) to compare (repeat), 0–1 or a curve (evaluated at each row's frame).")] = None,
    frames: Annotated[int | None, typer.Option(min=1, max=24, help="Rows: frames spread over the clip (default 3).")] = None,
    at: Annotated[str | None, typer.Option(help="Rows at these times instead, e.g. 00:12,00:40 or 12.5s,40s.")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="The sheet (default: INPUT.preview.png).")] = None,
    model: Annotated[str | None, typer.Option(help="A feed-forward model (method fast): one more column.")] = None,
    size: Annotated[int | None, typer.Option(min=16, show_default="the input's", help="Long side of the render, as in vidstyle run.")] = None,
    thumb: Annotated[int, typer.Option(min=0, help="Long side of each tile on the sheet; 0 = the render size.")] = 480,
    style_view: StyleViewOpt = None,
    flow: Annotated[Flow, typer.Option(help="Optical flow of the render (its cost is in the estimate).")] = "dis",  # type: ignore[valid-type, assignment]
    no_temporal: Annotated[bool, typer.Option("--no-temporal", help="Estimate a render without flow.")] = False,
    backend: Annotated[Backend, typer.Option(help="Feed-forward inference, as in vidstyle run.")] = "auto",  # type: ignore[valid-type, assignment]
    precision: Annotated[Precision, typer.Option(help="fp32, bf16, int8 or auto, as in vidstyle run.")] = VideoConfig.precision,  # type: ignore[valid-type, assignment]
    device: DeviceOpt = "auto",
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Preview looks before the full render: a sheet of a few frames, one column per style × method × strength,
    each labelled with the full clip's estimated render time (measured on these frames)."""
    from ..config import FlowConfig, OptimiseConfig, TemporalConfig, replace
    from ..methods import is_generator_model
    from ..preview import Look, _chosen, format_duration, parse_times, render_preview

    styles = style or []
    methods = [str(m.value) for m in method] if method else ["auto"]
    strengths: list[str | None] = list(strength) if strength else [None]
    if not styles and model is None:
        raise VidstyleError("nothing to preview: pass --style IMAGE (repeat for more columns) or --model NAME")
    looks: list[Look] = []
    for s in strengths:
        cfg = replace(OptimiseConfig(), strength=s, style_view=str(style_view.value) if style_view else None)
        for m in methods:
            looks.extend(Look(m, (p,), cfg) for p in styles)
        if model is not None and is_generator_model(model):  # an any-style generator paints each --style
            looks.extend(Look("magenta", (p,), cfg, model) for p in styles)
        elif model is not None:
            looks.append(Look("fast", (), cfg, model))
    temporal = replace(TemporalConfig(), enabled=False if no_temporal else None)
    result = render_preview(input, looks, output, frames=frames, at=parse_times(at) if at is not None else None,
                            size=size, temporal=temporal, flow=replace(FlowConfig(), method=str(flow.value)),
                            device=device, backend=str(backend.value), precision=str(precision.value),
                            thumb=thumb or None, force=force,
                            progress=not quiet,
                            on_look=None if quiet else lambda text: typer.echo(f"method: {text}", err=True))
    for look, timing in zip(looks, result.looks):
        name = look.title(_chosen(timing.description)).replace("\n", ", ")
        typer.echo(f"  {name}: ≈ {format_duration(timing.estimate_s)} for {result.frame_count} frames "
                   f"({timing.per_frame_ms:.0f} ms/frame{' + flow' if timing.uses_flow else ''}, "
                   f"set-up {timing.build_s:.1f} s)")
    typer.echo(f"wrote {result.summary()}")
