"""``vidstyle webcam``: live stylisation of a camera, a stream or a video file."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..cli import DeviceOpt, ForceOpt, app, literal_choices
from ..config import LiveConfig


class SmoothMethod(str, Enum):
    flow = "flow"
    ema = "ema"


LivePrecision = literal_choices("LivePrecision", LiveConfig, "precision")


@app.command()
def webcam(
    source: Annotated[str, typer.Option("--source", help="Camera index (0), device (/dev/video2), stream URL or video file.")] = "0",
    model: Annotated[list[str] | None, typer.Option("--model", "-m", help="Feed-forward model name (in models/) or .safetensors path; repeat to cycle with n/p. Default: every lite model in models/.")] = None,
    style: Annotated[list[Path] | None, typer.Option("--style", "-s", help="Any painting (or a folder of them), painted live by the style-embedding network (--method magenta); repeat to cycle with n/p.")] = None,
    generator: Annotated[str | None, typer.Option(help="With --style: the any-style generator to paint with (a `vidstyle train-multistyle` model, or `magenta` for the style-embedding network's own). Default: the shipped any-style lite net when installed.")] = None,
    size: Annotated[str | None, typer.Option(help="Display/recording size: WxH, or N for the long side as in `vidstyle run --size N` (default: the source fitted into 640 px).")] = None,
    internal_size: Annotated[str | None, typer.Option(help="Inference size WxH, upsampled to --size (default: half of --size).")] = None,
    record: Annotated[Path | None, typer.Option(help="Also write the stylised stream (no overlay) to this video file.")] = None,
    window: Annotated[bool, typer.Option("--window/--no-window", help="Show a window (headless without a display anyway).")] = True,
    smooth: Annotated[bool | None, typer.Option("--smooth/--no-smooth", help="Cheap temporal smoothing (toggle with t).")] = None,
    smooth_method: Annotated[SmoothMethod | None, typer.Option(help="flow: DIS-fast flow-guided blend; ema: blend in static regions.")] = None,
    smooth_strength: Annotated[float | None, typer.Option(min=0.0, max=0.95, help="Weight of the previous output where reliable.")] = None,
    duration: Annotated[float | None, typer.Option(min=0.1, help="Stop after this many seconds.")] = None,
    loop: Annotated[bool, typer.Option("--loop", help="Replay a video file source from the start when it ends.")] = False,
    snapshot_dir: Annotated[Path, typer.Option(help="Folder for snapshots (key c).")] = Path("."),
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads for inference (default: all cores).")] = None,
    pipeline: Annotated[bool | None, typer.Option("--pipeline/--no-pipeline", help="Stylise on a worker thread while the last frame renders (default: on for CUDA only).")] = None,
    precision: Annotated[LivePrecision | None, typer.Option(help="CPU precision of the live network: auto (bf16 where the CPU has AMX/AVX-512 BF16, ~2× faster; else fp32), fp32 or bf16.", show_default=LiveConfig.precision)] = None,  # type: ignore[valid-type]
    compile_net: Annotated[bool, typer.Option("--compile", help="torch.compile the networks: slow start (tens of seconds per model), faster frames; for long sessions.")] = False,
    device: DeviceOpt = "auto",
    force: ForceOpt = False,
) -> None:
    """Stylise a camera, stream or video file live (keys: n/p style, s side-by-side, t smoothing, c snapshot, q quit)."""
    _prefer_passive_openmp()
    from ..config import replace
    from ..errors import VidstyleError
    from ..live import LiveLoop, default_sizes, parse_size
    from ..media.atomic import check_output
    from ..media.live import (
        RecordSink,
        TerminalKeys,
        WindowSink,
        display_available,
        display_usable,
        open_source,
    )

    long_side = int(size) if size is not None and size.strip().isdigit() else None  # --size N, like `run`
    if long_side is not None:
        size = None
    cfg = replace(LiveConfig(), size=parse_size(size, "--size"), max_side=long_side,
                  internal_size=parse_size(internal_size, "--internal-size"),
                  smooth=smooth, smooth_method=smooth_method.value if smooth_method else None,
                  smooth_strength=smooth_strength, threads=threads, pipelined=pipeline,
                  precision=precision.value if precision else None)
    if record is not None:
        check_output(record, force)  # fail before the camera is opened
    if not snapshot_dir.is_dir():
        raise VidstyleError(f"snapshot folder {snapshot_dir} does not exist; create it or pass --snapshot-dir")
    dev = _set_up_device(device, cfg.threads)
    if generator is not None and not style:
        raise VidstyleError("--generator paints the --style paintings; give --style PAINTING (or a folder)")
    stylisers, names = load_live_styles(style, dev, generator, cfg.precision) if style and not model else ([], [])
    if model or not style:
        more, more_names = load_live_models(model or [], dev, compile_net, cfg.precision)
        stylisers, names = stylisers + more, names + more_names

    live_source = open_source(source, loop=loop, request_size=cfg.size)
    recorder = win = None
    try:
        out_size, internal = default_sizes((live_source.width, live_source.height), cfg)
        live = LiveLoop(stylisers, names, size=out_size, internal_size=internal, cfg=cfg, device=dev,
                        snapshot_dir=snapshot_dir)
        live.warm_up()  # model allocations (and compilation) before the first live frame
        if record is not None:
            recorder = RecordSink(record, out_size, fps=live_source.fps or 30.0, force=force, codec=cfg.record_codec,
                                  crf=cfg.record_crf, preset=cfg.record_preset)
        headless = not window or not display_usable()
        if window and headless:
            why = "cannot open a window on it" if display_available() else "DISPLAY/WAYLAND_DISPLAY unset"
            typer.echo(f"no usable display ({why}): running headless", err=True)
        win = None if headless else WindowSink(f"vidstyle - {live_source.description}")
    except BaseException:  # nothing runs yet: release the camera and leave no recording behind
        live_source.close()
        if recorder is not None:
            recorder.close(abort=True)
        raise
    keys_where = "in the window" if win else "in this terminal"
    typer.echo(f"{live_source.description}: {out_size[0]}x{out_size[1]} (inference {internal[0]}x{internal[1]}), "
               f"model {names[0]}" + (f" (+{len(names) - 1} more)" if len(names) > 1 else "")
               + f"; keys {keys_where}: n/p style, s side-by-side, t smoothing, c snapshot, q quit"
               + ("" if win else "; Ctrl-C stops"), err=True)
    with TerminalKeys() as terminal:
        keys = (lambda _n: terminal.poll()) if win is None else None
        stats = live.run(live_source, window=win, recorder=recorder, keys=keys, duration=duration)
    typer.echo(stats.summary())
    for path in live.snapshots:
        typer.echo(f"snapshot {path}")
    if recorder is not None:
        typer.echo(f"wrote {recorder.path} ({recorder.frames} frames)")


def _prefer_passive_openmp() -> None:
    """Let OpenMP workers sleep, not spin, while they wait — unless the user chose otherwise.

    A live loop alternates short parallel regions (the network) with serial work
    (capture, smoothing, display), and shares the cores with other threads: spinning
    workers then steal the CPU from exactly that work. On the loaded 2-core machine
    the spinning default stalled the serial loop (≤ 1 fps, some runs 2 frames in 6 s)
    where PASSIVE ran at a median 10 fps, up to 23 (benchmarks/RESULTS.md, live mode). libgomp reads the
    variable when torch loads, so this must run before the first ``import torch``.
    """
    import os
    import sys

    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _set_up_device(name: str, threads: int | None):
    from ..device import resolve_device
    from ..live import set_live_threads

    dev = resolve_device(name)
    set_live_threads(threads)
    return dev


def live_generator(name: str | None) -> str | None:
    """The any-style generator ``--style`` paints with live: ``name`` (``magenta`` = the teacher's own, None
    returned), or by default :data:`~vidstyle.config.LIVE_GENERATOR` when it is installed in ``models/``."""
    from ..config import LIVE_GENERATOR
    from ..weights import models_dir

    if name == "magenta":
        return None
    if name is not None:
        return name
    return LIVE_GENERATOR if (models_dir() / f"{LIVE_GENERATOR}.safetensors").is_file() else None


def live_precision(precision: str) -> str:
    """``auto`` is bf16 where the CPU has it natively and fp32 otherwise — never the int8 graphs of ``vidstyle run``'s
    ``auto`` (quantising on first use would stall a live session)."""
    from ..nets.bf16 import bf16_features

    return "fp32" if precision == "auto" and not bf16_features() else precision


def load_live_styles(styles: list[Path], device, generator: str | None = None, precision: str = "fp32"
                     ) -> tuple[list, list[str]]:
    """A style-embedding styliser per painting (a folder adds every image in it, sorted), sharing one predictor
    and one generator (:func:`live_generator`), run by torch at ``precision`` (``LiveConfig.precision``).

    Returns:
        ``(stylisers, names)``.
    """
    from ..nets.magenta import load_generator_weights, load_predictor, load_transformer
    from ..stylise.magenta import MagentaStyliser
    from ..train.datasets import list_images

    files = [f for s in styles for f in (list_images([s]) if s.is_dir() else [s])]
    precision = live_precision(precision)
    chosen = live_generator(generator)
    predictor = load_predictor()
    net = load_generator_weights(chosen) if chosen is not None else load_transformer()
    stylisers = [MagentaStyliser([f], predictor=predictor, transformer=net, device=device, precision=precision)
                 for f in files]
    label = Path(chosen).stem if chosen is not None else "magenta"
    return stylisers, [f"{label}: {f.stem}" for f in files]


def load_live_models(models: list[str], device, compile_net: bool = False, precision: str = "fp32"
                     ) -> tuple[list, list[str]]:
    """Build a feed-forward styliser for each ``--model`` (default: every lite model in ``models/``), run by torch
    at ``precision`` (``LiveConfig.precision``).

    Returns:
        ``(stylisers, names)``.
    """
    from ..errors import VidstyleError
    from ..stylise.feedforward import FeedForwardStyliser
    from ..weights import list_models, models_dir

    precision = live_precision(precision)

    if models:  # asked for by name: each must load
        stylisers = [FeedForwardStyliser(m, device=device, compile=compile_net, precision=precision) for m in models]
        return stylisers, [s.name for s in stylisers]
    import warnings

    stylisers, skipped = [], []
    for m in list_models():
        if m.arch != "lite":
            continue
        try:  # one corrupt file must not take every other model down with it
            stylisers.append(FeedForwardStyliser(str(m.path), device=device, compile=compile_net, precision=precision))
        except VidstyleError as e:
            skipped.append(f"{m.name} ({e})")
    for why in skipped:
        warnings.warn(f"skipping model {why}", stacklevel=2)
    if not stylisers:
        raise VidstyleError(f"no usable lite models found in {models_dir()}; pass --model NAME (see `vidstyle models`) "
                            "or train one with vidstyle train --arch lite")
    return stylisers, [s.name for s in stylisers]
