"""``vidstyle eval``: temporal consistency and style/content metrics (shared/METRICS.md), table, JSON, plots."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..cli import DeviceOpt, ForceOpt, QuietOpt, app

if TYPE_CHECKING:
    import torch


def parse_ks(text: str) -> tuple[int, ...]:
    """``"1,10"`` → ``(1, 10)``; anything else is a user error."""
    from ..errors import VidstyleError

    try:
        ks = tuple(sorted({int(t) for t in text.split(",") if t.strip()}))
    except ValueError:
        raise VidstyleError(f"--k must be comma-separated whole numbers like 1,10, got {text!r}") from None
    if not ks or min(ks) < 1:
        raise VidstyleError(f"--k needs frame offsets ≥ 1, got {text!r}")
    return ks


def _fmt(value: float | None, digits: int = 4, scale: float = 1.0) -> str:
    return "–" if value is None else f"{value * scale:.{digits}g}"


def short_labels(paths: list[Path]) -> list[str]:
    """File names, or whole paths where two names collide."""
    names = [p.name for p in paths]
    return [n if names.count(n) == 1 else str(p) for n, p in zip(names, paths)]


def results_table(report: dict[str, Any], labels: list[str], input_label: str):
    """A rich table: the input's floor, then one row per stylised clip.

    E_warp is shown ×10³; ``÷in`` columns are ratios to the input's own value.
    """
    from rich.table import Table

    ks = report["ks"]
    cuts = ", ".join(str(c) for c in report["cuts"]) or "none"
    table = Table(title=f"{report['frames']} frames at {report['size'][0]}×{report['size'][1]}, E_warp with "
                        f"{report['flow']} flow (×10³), cuts before frames: {cuts}", title_justify="left")
    table.add_column("clip", overflow="fold", max_width=28)
    for k in ks:
        table.add_column(f"E{k}", justify="right")
        table.add_column("÷in", justify="right")
    for name in ("flick÷in", "static÷in", "SSIM"):
        table.add_column(name, justify="right")
    has_style = any(o["style_distance"] is not None for o in report["outputs"])
    has_content = any(o["content_distance"] is not None for o in report["outputs"])
    if has_style:  # the normalised style error of METRICS.md; the raw distance (~1e10) stays in the JSON
        table.add_column("style err", justify="right")
    if has_content:
        table.add_column("content", justify="right")
    row = [f"{input_label} (input)"]
    for k in ks:
        row += [_fmt(report["input"]["warping_error"][str(k)]["mean"], 3, 1e3), ""]
    table.add_row(*row, *[""] * (3 + has_style + has_content), style="dim")
    for label, out in zip(labels, report["outputs"]):
        row = [label]
        for k in ks:
            w = out["warping_error"][str(k)]
            row += [_fmt(w["mean"], 3, 1e3), _fmt(w["ratio"], 3)]
        row += [_fmt(out["flicker"]["ratio"], 3), _fmt(out["flicker"]["static_ratio"], 3), _fmt(out["ssim"], 3)]
        row += [_fmt((out.get("style_error") or {}).get("mean"), 3)] if has_style else []
        row += [_fmt(out["content_distance"], 3)] if has_content else []
        table.add_row(*row)
    table.caption = "; ".join(f"E{k}: {p['pairs']} pairs, {p['excluded_at_cuts']} excluded at cuts"
                              for k, p in report["pairs"].items())
    return table


@app.command("eval")
def eval_(
    stylised: Annotated[list[Path], typer.Argument(help="Stylised clip(s): video files or frame folders.")],
    input: Annotated[Path, typer.Option("--input", "-i", help="The original clip they were made from.")],
    style: Annotated[Path | None, typer.Option("--style", "-s", help="Style image: adds the VGG style distance.")] = None,
    k: Annotated[str, typer.Option("--k", help="E_warp frame offsets, comma-separated.")] = "1,10",
    flow: Annotated[str, typer.Option(help="E_warp's flow estimator on the input (METRICS.md: dis).")] = "dis",
    flow_weights: Annotated[Path | None, typer.Option(help="RAFT weight file (.pth) for --flow raft-*.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write every number (and per-frame E_warp) as JSON.")] = None,
    plot: Annotated[Path | None, typer.Option(help="PNG: per-frame E_warp curves and a frame strip.")] = None,
    compare: Annotated[Path | None, typer.Option(help="Side-by-side video: input | stylised [| second].")] = None,
    size: Annotated[int | None, typer.Option(min=16, help="Evaluate at this long side (default: the stylised size).")] = None,
    vgg: Annotated[bool, typer.Option("--vgg/--no-vgg", help="Content distance with VGG-19 (always on with --style).")] = False,
    vgg_every: Annotated[int, typer.Option(min=1, help="Measure VGG distances on every N-th frame (they are slow).")] = 1,
    frames: Annotated[int | None, typer.Option(min=2, help="Evaluate only the first N frames of every clip.")] = None,
    device: DeviceOpt = "auto",
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Measure temporal consistency (E_warp, flicker) and style/content fidelity of stylised clips."""
    from rich.console import Console

    report = evaluate_files(stylised, input, style=style, ks=parse_ks(k), flow=flow, flow_weights=flow_weights,
                            json_out=json_out, plot=plot, compare=compare, size=size, vgg=vgg or style is not None,
                            vgg_every=vgg_every, frames=frames, device=device, force=force,
                            progress=not quiet)
    console = Console()
    if not console.is_terminal:  # logs and pipes: keep one row per clip rather than wrapping at 80 columns
        console = Console(width=160)
    console.print(results_table(report, short_labels(stylised), input.name))
    for path in (json_out, plot, compare):
        if path is not None:
            typer.echo(f"wrote {path}")


def evaluate_files(stylised: list[Path], input: Path, *, style: Path | None = None, ks: tuple[int, ...] = (1, 10),
                   flow: str = "dis", flow_weights: Path | None = None, json_out: Path | None = None,
                   plot: Path | None = None, compare: Path | None = None, size: int | None = None, vgg: bool = False, vgg_every: int = 1,
                   frames: int | None = None, device: str = "auto", force: bool = False, progress: bool = True,
                   tick=None) -> dict[str, Any]:
    """Read the clips, run :func:`vidstyle.metrics.evaluate_clips`, write the requested outputs; return the report.

    Clips are read through :func:`vidstyle.media.reader.open_frames`, so video files and
    image-sequence folders both work. Every output path is checked before any work starts.
    ``frames`` limits every clip to its first N frames; ``tick(t)`` is called after each
    frame (benchmarks time it).
    """
    import contextlib
    import dataclasses
    import json

    from .. import __version__
    from ..device import resolve_device
    from ..errors import VidstyleError
    from ..flow import get_estimator
    from ..media.atomic import atomic_output, check_output
    from ..media.image import load_image
    from ..media.reader import open_frames
    from ..metrics import evaluate_clips
    from ..progress import progress_bar
    from ..report import compare_size, plot_report, side_by_side, strip_indices, thumbnail

    if not stylised:
        raise VidstyleError("give at least one stylised clip to evaluate")
    if compare is not None and len(stylised) > 2:
        raise VidstyleError("--compare shows the input beside at most two stylised clips; give one or two")
    for path in (json_out, plot, compare):
        if path is not None:
            check_output(path, force)
    dev = resolve_device(device)
    estimator = get_estimator(flow, weights=flow_weights, device=dev)  # unknown names fail here, before decoding
    encoder = None
    style_img = None
    if vgg:
        from ..config import STYLE_LAYERS
        from ..metrics import CONTENT_LAYER
        from ..nets.vgg import load_vgg

        encoder = load_vgg(tuple(STYLE_LAYERS) + (CONTENT_LAYER,), device=dev)
    if style is not None:
        style_img = load_image(style)

    with contextlib.ExitStack() as stack:
        select = None if frames is None else (0, frames)
        out_readers = [stack.enter_context(open_frames(p, size=size, batch_size=4, frames=select)) for p in stylised]
        info0 = out_readers[0].info
        # The input is decoded at the stylised clips' size (resized exactly in evaluate_clips if rounding differs).
        in_reader = stack.enter_context(open_frames(input, size=max(info0.width, info0.height), batch_size=4,
                                                    frames=select))
        total = in_reader.info.frame_count  # an estimate for some containers: progress and strip only
        labels = short_labels(stylised)
        strip_at = set(strip_indices(total))
        strip_rows: list[list[torch.Tensor]] = [[] for _ in range(len(stylised) + 1)]
        strip_frames: list[int] = []
        writer = None
        if compare is not None:
            from ..media.writer import VideoWriter

            w, h = compare_size(info0.width, info0.height, len(stylised) + 1)
            compare_info = dataclasses.replace(in_reader.info, width=w, height=h)
            writer = stack.enter_context(VideoWriter(compare, compare_info, force=force, audio=in_reader.info.has_audio))
        pts: deque[int] = deque()  # input timestamps, decoded but not yet written
        bar = stack.enter_context(progress_bar(total, "evaluating", progress))

        def on_frame(t: int, inp: torch.Tensor, outs: list[torch.Tensor]) -> None:
            if plot is not None and t in strip_at:
                strip_frames.append(t)
                for row, frame in zip(strip_rows, [inp, *outs]):
                    row.append(thumbnail(frame))
            if writer is not None:
                frame = side_by_side([inp, *outs], ["input", *labels])
                writer.write(frame, [pts.popleft()])
            bar.update(1)
            if tick is not None:
                tick(t)

        report = evaluate_clips(_frames_recording_pts(in_reader, pts), out_readers, ks=ks, flow=estimator,
                                style=style_img, encoder=encoder, vgg_every=vgg_every, device=dev, on_frame=on_frame)
        stopped = [f"{r.info.path}: {r.stopped_early}" for r in [in_reader, *out_readers] if r.stopped_early]

    report = {
        "schema_version": report["schema_version"],
        "tool": f"vidstyle {__version__}",
        "input": {"path": str(input), **report["input"]},
        "stylised": [str(p) for p in stylised],
        "style": None if style is None else {"path": str(style), "size": max(report["size"])},
        **{k: v for k, v in report.items() if k not in ("schema_version", "input", "outputs")},
        "outputs": [{"path": str(p), **out} for p, out in zip(stylised, report["outputs"])],
        "warnings": stopped,
    }
    if json_out is not None:
        with atomic_output(json_out, force) as tmp:
            tmp.write_text(json.dumps(report, indent=1))
    if plot is not None:
        plot_report(report, labels, plot, strip_rows if strip_frames else (), strip_frames, force=force)
    return report


def _frames_recording_pts(reader, pts: deque[int]) -> Iterator[torch.Tensor]:
    """Yield the reader's frame batches, appending their timestamps to ``pts`` (for the compare video)."""
    for batch in reader:
        pts.extend(batch.pts)
        yield batch.frames
