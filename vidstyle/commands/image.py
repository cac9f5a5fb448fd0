"""``vidstyle image`` and ``vidstyle texture``: stills by Gatys et al. optimisation (or any method of vidstyle.methods)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..cli import (
    ColourMethod,
    DeviceOpt,
    ForceOpt,
    OptimisePrecision,
    Optimizer,
    QuietOpt,
    SeedOpt,
    StepsOpt,
    StrengthOpt,
    StyleScaleOpt,
    StyleViewOpt,
    TileOpt,
    VggOpt,
    app,
    default_output,
    parse_floats,
)
from ..config import OptimiseConfig
from ..errors import VidstyleError


def _method_help() -> str:
    from ..stylise.registry import method_choices

    return f"{', '.join(method_choices())}; optimise (the default) gives the best quality."


def _check_method(value: str) -> str:
    from ..stylise.registry import method_choices

    if value not in method_choices():
        raise typer.BadParameter(f"allowed values are {', '.join(method_choices())} (got {value!r})")
    return value


@app.command()
def image(
    content: Annotated[Path, typer.Argument(help="Content image.")],
    style: Annotated[Optional[list[Path]], typer.Option("--style", "-s", help="Style image (repeat to blend several).")] = None,
    method: Annotated[str, typer.Option(callback=_check_method, help=_method_help())] = "optimise",
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="A trained network (see `vidstyle models`).")] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Output image (default: CONTENT__STYLE.png).")] = None,
    style_weights: Annotated[Optional[str], typer.Option(help="Blend weights for several styles, e.g. 0.7,0.3.")] = None,
    size: Annotated[Optional[int], typer.Option(min=16, show_default=str(OptimiseConfig.size), help="Long side of the output in pixels.")] = None,
    steps: StepsOpt = None,
    style_weight: Annotated[Optional[float], typer.Option(min=0.0, show_default=str(OptimiseConfig.style_weight), help="Weight of the style (Gram) loss; higher paints more.")] = None,
    content_weight: Annotated[Optional[float], typer.Option(min=0.0, show_default=str(OptimiseConfig.content_weight), help="Weight of the content loss; higher keeps more of the photo.")] = None,
    tv_weight: Annotated[Optional[float], typer.Option(min=0.0, show_default=str(OptimiseConfig.tv_weight), help="Weight of the total-variation loss (smoothness).")] = None,
    strength: StrengthOpt = None,
    style_view: StyleViewOpt = None,
    preserve_color: Annotated[bool, typer.Option("--preserve-color", help="Keep the content's colours.")] = False,
    color_method: Annotated[ColourMethod, typer.Option(help="How --preserve-color works.")] = "luminance",  # type: ignore[valid-type, assignment]
    style_scale: StyleScaleOpt = None,
    tile: TileOpt = None,
    init: Annotated[Optional[str], typer.Option(help="content, noise, or an image path.")] = None,
    scales: Annotated[Optional[int], typer.Option(min=1, max=6, help="Coarse-to-fine pyramid levels.")] = None,
    coarse_steps: Annotated[Optional[int], typer.Option(min=1, help="Iterations at each coarser pyramid level (default: --steps).")] = None,
    optimizer: Annotated[Optional[Optimizer], typer.Option(show_default=OptimiseConfig.optimizer, help="Optimiser.")] = None,  # type: ignore[valid-type]
    seed: SeedOpt = None,
    vgg: VggOpt = "auto",
    precision: Annotated[Optional[OptimisePrecision], typer.Option(show_default=OptimiseConfig.precision, help="Optimisation: run the VGG passes of the loss in bf16 on CPUs with AMX/AVX-512 BF16 (~2× faster per iteration), or auto (bf16 where native).")] = None,  # type: ignore[valid-type]
    loss_mrf: Annotated[Optional[float], typer.Option(min=0.0, help="Weight of the MRF patch loss (Li & Wand 2016).")] = None,
    loss_histogram: Annotated[Optional[float], typer.Option(min=0.0, help="Weight of the histogram loss (Risser et al. 2017).")] = None,
    loss_laplacian: Annotated[Optional[float], typer.Option(min=0.0, help="Weight of the Laplacian loss (Li et al. 2017).")] = None,
    mask: Annotated[Optional[Path], typer.Option(help="Matte image (white = stylise): stylise only inside it, any method.")] = None,
    invert_mask: Annotated[bool, typer.Option("--invert-mask", help="Stylise outside the --mask instead.")] = False,
    feather: Annotated[float, typer.Option(min=0.0, help="Soften the --mask edge over this many pixels.")] = 0.0,
    content_mask: Annotated[Optional[Path], typer.Option(help="Label image of the content (same colour = same region).")] = None,
    style_mask: Annotated[Optional[list[Path]], typer.Option(help="Label image of each --style (regions matched by colour).")] = None,
    doodle: Annotated[bool, typer.Option("--doodle", help="CONTENT is a label map: paint it from the style's regions.")] = False,
    device: DeviceOpt = "auto",
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
                  preserve_color=str(color_method.value) if preserve_color else None, style_scale=style_scale, tile=tile,
                  init=init, scales=scales, coarse_steps=coarse_steps,
                  optimizer=str(optimizer.value) if optimizer else None, seed=seed, vgg_source=vgg,
                  precision=str(precision.value) if precision else None, strength=strength, style_view=str(style_view.value) if style_view else None,
                  mrf_weight=loss_mrf, histogram_weight=loss_histogram, laplacian_weight=loss_laplacian)
    if (mask is None) and (invert_mask or feather):
        raise VidstyleError("--invert-mask and --feather apply to a --mask; give one")
    api.stylise_image(content, style, out, cfg, device=device, force=force, progress=not quiet,
                      method=method, model=model,
                      on_method=None if quiet else lambda text: typer.echo(f"method: {text}", err=True),
                      mask=mask, invert_mask=invert_mask, feather=feather, content_mask=content_mask,
                      style_masks=style_mask, doodle=doodle, geometry_style=geometry_style, geometry=geometry,
                      geometry_strength=geometry_strength, geometry_only=geometry_only)
    typer.echo(f"wrote {out}")


@app.command()
def texture(
    style: Annotated[Optional[list[Path]], typer.Argument(help="Style image(s) to synthesise a texture from.")] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Output image.")] = ...,  # type: ignore[assignment]
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="A trained texture network (vidstyle train-texture): one forward pass.")] = None,
    size: Annotated[int, typer.Option(min=16, help="Side of the square output (or its width with --height).")] = 256,
    height: Annotated[Optional[int], typer.Option(min=16)] = None,
    steps: StepsOpt = None,
    style_weights: Annotated[Optional[str], typer.Option(help="Blend weights for several styles.")] = None,
    scales: Annotated[Optional[int], typer.Option(min=1, max=6)] = None,
    seed: SeedOpt = None,
    tileable: Annotated[Optional[bool], typer.Option(
        "--tileable/--no-tileable", help="With --model: circular padding, so the sample tiles seamlessly; --no-tileable: "
        "reflection padding (default: as the network was trained).")] = None,
    device: DeviceOpt = "auto",
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Synthesise a texture from a style image (optimisation), or sample a trained texture network (--model)."""
    from .. import api
    from ..config import OptimiseConfig, replace

    shape = (height or size, size)
    if model is not None:
        if style:
            raise VidstyleError("give either style images (optimisation) or --model (a texture network), not both")
        api.sample_texture(model, output, shape=shape, seed=seed or 0, device=device, force=force, tileable=tileable)
        typer.echo(f"wrote {output}")
        return
    if not style:
        raise VidstyleError("no style image given: pass a texture image, or --model NAME for a trained texture network")
    if tileable is not None:
        raise VidstyleError("--tileable works with --model (a texture network); texture optimisation does not tile")
    cfg = replace(OptimiseConfig(init="noise", content_weight=0.0), size=max(shape), steps=steps, scales=scales,
                  seed=seed, style_blend=parse_floats(style_weights, "--style-weights"))
    api.stylise_texture(style, output, cfg, shape=shape, device=device, force=force, progress=not quiet)
    typer.echo(f"wrote {output}")
