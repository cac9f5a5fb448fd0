"""``vidstyle image`` and ``vidstyle texture``: stills by Gatys et al. optimisation (or any method of vidstyle.methods)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..cli import (
    ColourMethod,
    Device,
    DeviceOpt,
    ForceOpt,
    Optimizer,
    QuietOpt,
    SeedOpt,
    StepsOpt,
    VggOpt,
    app,
    default_output,
    parse_floats,
)
from ..errors import VidstyleError


@app.command()
def image(
    content: Annotated[Path, typer.Argument(help="Content image.")],
    style: Annotated[Optional[list[Path]], typer.Option("--style", "-s", help="Style image (repeat to blend several).")] = None,
    method: Annotated[str, typer.Option(help="optimise (best quality), auto, fast, magenta, adain or wct.")] = "optimise",
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="A trained network (see `vidstyle models`).")] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Output image (default: CONTENT__STYLE.png).")] = None,
    style_weights: Annotated[Optional[str], typer.Option(help="Blend weights for several styles, e.g. 0.7,0.3.")] = None,
    size: Annotated[Optional[int], typer.Option(min=16, help="Long side of the output in pixels.")] = None,
    steps: StepsOpt = None,
    style_weight: Annotated[Optional[float], typer.Option(min=0.0)] = None,
    content_weight: Annotated[Optional[float], typer.Option(min=0.0)] = None,
    tv_weight: Annotated[Optional[float], typer.Option(min=0.0)] = None,
    preserve_color: Annotated[bool, typer.Option("--preserve-color", help="Keep the content's colours.")] = False,
    color_method: Annotated[ColourMethod, typer.Option(help="How --preserve-color works.")] = ColourMethod.luminance,
    style_scale: Annotated[Optional[float], typer.Option(min=0.05, max=8.0, help="Style image size relative to the output.")] = None,
    init: Annotated[Optional[str], typer.Option(help="content, noise, or an image path.")] = None,
    scales: Annotated[Optional[int], typer.Option(min=1, max=6, help="Coarse-to-fine pyramid levels.")] = None,
    optimizer: Annotated[Optional[Optimizer], typer.Option()] = None,
    seed: SeedOpt = None,
    vgg: VggOpt = "auto",
    device: DeviceOpt = Device.auto,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
    geometry_style: Annotated[Optional[Path], typer.Option(help="Geometric style transfer: warp the content toward this image's geometry first (default with --geometry: the first --style).")] = None,
    geometry: Annotated[Optional[str], typer.Option(help="Geometric transform: affine or tps (default affine).")] = None,
    geometry_strength: Annotated[float, typer.Option(min=0.0, max=1.0, help="0 = no warp … 1 = the full estimated transform.")] = 1.0,
    geometry_only: Annotated[bool, typer.Option("--geometry-only", help="Only warp the content (no texture transfer).")] = False,
) -> None:
    """Stylise an image by Gatys et al. optimisation."""
    from .. import api
    from ..config import OptimiseConfig, replace

    style = style or []
    if (geometry is not None or geometry_only) and geometry_style is None and style:
        geometry_style = style[0]  # --geometry-style defaults to --style
    if geometry_only and geometry_style is None:
        raise VidstyleError("--geometry-only needs --geometry-style IMAGE (or --style IMAGE)")
    if not style and model is None and not geometry_only:
        raise VidstyleError("no style given: pass --style IMAGE (or --model NAME for a trained network)")
    out = output or default_output(content, style or ([geometry_style] if geometry_style else [Path(model or "model")]), ".png")
    cfg = replace(OptimiseConfig(), size=size, steps=steps, style_weight=style_weight, content_weight=content_weight,
                  tv_weight=tv_weight, style_blend=parse_floats(style_weights, "--style-weights"),
                  preserve_color=color_method.value if preserve_color else None, style_scale=style_scale,
                  init=init, scales=scales, optimizer=optimizer.value if optimizer else None, seed=seed,
                  vgg_source=vgg)
    api.stylise_image(content, style, out, cfg, device=device.value, force=force, progress=not quiet,
                      method=method, model=model, on_method=lambda text: typer.echo(f"method: {text}", err=True),
                      geometry_style=geometry_style, geometry=geometry, geometry_strength=geometry_strength,
                      geometry_only=geometry_only)
    typer.echo(f"wrote {out}")


@app.command()
def texture(
    style: Annotated[list[Path], typer.Argument(help="Style image(s) to synthesise a texture from.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output image.")],
    size: Annotated[int, typer.Option(min=16, help="Side of the square output (or its width with --height).")] = 256,
    height: Annotated[Optional[int], typer.Option(min=16)] = None,
    steps: StepsOpt = None,
    style_weights: Annotated[Optional[str], typer.Option(help="Blend weights for several styles.")] = None,
    scales: Annotated[Optional[int], typer.Option(min=1, max=6)] = None,
    seed: SeedOpt = None,
    device: DeviceOpt = Device.auto,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Synthesise a texture from a style image (no content image)."""
    from .. import api
    from ..config import OptimiseConfig, replace

    shape = (height or size, size)
    cfg = replace(OptimiseConfig(init="noise", content_weight=0.0), size=max(shape), steps=steps, scales=scales,
                  seed=seed, style_blend=parse_floats(style_weights, "--style-weights"))
    api.stylise_texture(style, output, cfg, shape=shape, device=device.value, force=force, progress=not quiet)
    typer.echo(f"wrote {output}")
