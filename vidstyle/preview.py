"""Preview before the full render (``vidstyle preview``, ``vidstyle run --preview``): a contact sheet.

Rows are a few frames of the clip — spread over it, or at given times — and columns the original and each look
(style × method × strength). Only those frames are decoded (the reader seeks, :meth:`VideoReader.read_at`). Each
look's label carries the estimated time of the full render, measured on the sheet's own frames::

    estimate = build time + stylise ms/frame × frames [+ flow ms/frame × frames when the render uses flow]

where ms/frame is the median over the rows after the first (the first call pays lazy set-up), and the flow cost
is one consecutive pair through the pipeline's temporal stage (:class:`~vidstyle.temporal.TemporalState`:
forward and backward flow, reliability mask, cut statistics). Decoding and encoding are not counted (they run in
their own threads during a render). Frames are shown as stylised on their own: the temporal blend needs the
frames before them.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .config import FlowConfig, OptimiseConfig, TemporalConfig, VideoConfig
from .errors import VidstyleError

#: Rows of a sheet when neither ``frames`` nor ``at`` is given.
DEFAULT_ROWS = 3
#: Long side of each tile on the sheet (frames are stylised at the render size, then shrunk for the sheet).
DEFAULT_THUMB = 480


@dataclass(frozen=True)
class Look:
    """One column of the sheet: what ``vidstyle run`` would be asked to do.

    Attributes:
        method: ``auto`` or a registered method.
        styles: style images (several: blended as ``run`` blends them, or a style curve).
        optimise: options (``strength`` — a number or a curve —, ``style_view``, steps …).
        model: a feed-forward model (method ``fast``), or None.
        label: the column's first line (default: style names, method and strength).
    """

    method: str = "auto"
    styles: tuple[Path | str, ...] = ()
    optimise: OptimiseConfig = OptimiseConfig()
    model: str | None = None
    label: str = ""

    def title(self, chosen: str | None = None) -> str:
        """The column label: style names, then the method (``chosen``: what ``auto`` picked) and strength."""
        if self.label:
            return self.label
        names = " + ".join(Path(str(s)).stem for s in self.styles) or (Path(str(self.model)).stem if self.model else "")
        strength = self.optimise.strength
        s = f"strength {strength:g}" if isinstance(strength, float) else f"strength {strength}"
        method = f"{chosen} (auto)" if chosen and self.method == "auto" else self.method
        return f"{names}\n{method}, {s}"


def _chosen(description: str) -> str | None:
    """The method named by a description of :func:`~vidstyle.methods.build_styliser` (``auto → magenta: …``)."""
    head = description.split("→", 1)[-1].strip()
    return head.split(":", 1)[0].strip() or None if ":" in head else None


@dataclass
class LookTiming:
    """What one look cost on the sheet's frames, and the full clip's estimate."""

    description: str = ""
    build_s: float = 0.0
    frame_ms: list[float] = field(default_factory=list)
    per_frame_ms: float = 0.0
    uses_flow: bool = False
    estimate_s: float = 0.0


@dataclass
class PreviewResult:
    """A written sheet: ``rows × columns`` tiles (columns include the original), the frames shown, the timings."""

    path: Path
    rows: int
    columns: int
    indices: list[int]
    frame_count: int
    flow_ms: float | None
    looks: list[LookTiming]
    seconds: float

    def summary(self) -> str:
        return (f"preview of {self.rows} frames × {self.columns - 1} look{'s' if self.columns != 2 else ''} in "
                f"{self.seconds:.1f} s → {self.path}")


def spread_indices(frame_count: int, n: int) -> list[int]:
    """``n`` frame indices spread over ``frame_count`` frames: the middles of ``n`` equal parts."""
    if frame_count < 1:
        raise VidstyleError("the clip has no frames to preview")
    n = max(1, min(n, frame_count))
    return sorted({min(frame_count - 1, int((k + 0.5) * frame_count / n)) for k in range(n)})


def parse_times(text: str, what: str = "--at") -> list[float]:
    """``"00:12,00:40"`` / ``"12s, 40.5s"`` / ``"48"`` (a bare number is seconds here) → seconds."""
    from .curves import parse_key

    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(float(part))
            continue
        except ValueError:
            pass
        try:
            key = parse_key(part, what)
        except VidstyleError:
            key = None
        if key is None or key.seconds is None:
            raise VidstyleError(f"{what}: {part!r} is not a time; give seconds (12, 12.5s) or 00:12")
        out.append(key.seconds)
    if not out:
        raise VidstyleError(f"{what}: no times given; e.g. --at 00:12,00:40")
    return out


def format_time(seconds: float) -> str:
    """``72.5`` → ``01:12.5``."""
    m, s = divmod(max(0.0, seconds), 60)
    return f"{int(m):02d}:{s:04.1f}"


def format_duration(seconds: float) -> str:
    """A rough duration: ``8 s``, ``4.2 min``, ``1.6 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def default_preview_output(input: Path) -> Path:
    """``clip.mp4`` → ``clip.preview.png`` in the current folder."""
    return Path(f"{Path(input).stem}.preview.png")


def preview_output_for(output: Path) -> Path:
    """The sheet of ``vidstyle run … -o OUT --preview``: ``OUT.preview.png`` beside it (``clip__a.mp4`` →
    ``clip__a.preview.png``)."""
    output = Path(output)
    return output.with_name(f"{output.stem if output.suffix else output.name}.preview.png")


def _thumb(x: torch.Tensor, long_side: int | None) -> torch.Tensor:
    if not long_side or max(x.shape[-2:]) <= long_side:
        return x
    from .media.image import resize_long_side

    return resize_long_side(x, long_side)


def _flow_ms(frames: torch.Tensor, temporal: TemporalConfig, flow: FlowConfig, device: torch.device) -> float:
    """Milliseconds per frame of the pipeline's temporal stage on ``N`` consecutive frames (``N − 1`` pairs, batched
    as in the pipeline), the faster of two runs after a warm-up."""
    from .flow import get_estimator
    from .schedule import TemporalSchedule
    from .temporal import TemporalState

    estimator = get_estimator(flow.method, flow.weights, device=device)
    cfg = TemporalSchedule(temporal).cfg
    TemporalState(cfg, estimator).observe(frames)  # warm-up (estimator set-up, first allocations)
    runs = []
    for _ in range(2):
        start = time.perf_counter()
        TemporalState(cfg, estimator).observe(frames)
        runs.append(time.perf_counter() - start)
    return 1000 * min(runs) / max(1, len(frames) - 1)


def render_preview(input: str | Path, looks: Sequence[Look], output: str | Path | None = None, *,
                   frames: int | None = None, at: Sequence[float] | None = None, size: int | None = None,
                   temporal: TemporalConfig = TemporalConfig(), flow: FlowConfig = FlowConfig(),
                   start: float | None = None, end: float | None = None,
                   device: str = "auto", backend: str = "auto", precision: str = VideoConfig.precision,
                   thumb: int | None = DEFAULT_THUMB,
                   force: bool = False, progress: bool = True,
                   on_look: Callable[[str], None] | None = None) -> PreviewResult:
    """Stylise a few frames with each look and write the labelled contact sheet.

    Args:
        input: video file or image-sequence folder.
        looks: the columns after the original (:class:`Look`).
        output: the sheet (``.png``/``.jpg``…; default ``INPUT.preview.png`` in the current folder), written
            atomically; an existing file needs ``force``.
        frames: rows spread over the clip (default :data:`DEFAULT_ROWS`); ``at``: rows at these times
            (seconds from the start), instead.
        size: long side of the render (None: the input's), as ``vidstyle run --size``.
        start, end: the part of the clip the render covers (seconds, as ``vidstyle run --start/--end``): rows are
            spread over it and the estimate counts its frames.
        temporal, flow: the render's temporal options (the flow cost is added to the estimate when it uses flow).
        device, backend, precision: as ``vidstyle run``.
        thumb: long side of each tile on the sheet (None: the render size).
        progress: a progress line on stderr.
        on_look: called with each look's one-line method description.

    Returns:
        :class:`PreviewResult`.

    Raises:
        VidstyleError: bad input, times past the end, existing output without ``force``, a look that cannot build.
    """
    from .device import resolve_device, use_all_cores
    from .exposure import follow_exposure
    from .media.atomic import check_not_input, check_output
    from .media.image import image_format
    from .media.reader import open_frames
    from .media.sheet import contact_sheet, save_sheet
    from .methods import build_styliser
    from .progress import progress_bar
    from .stylise.base import TemporalMode

    started = time.perf_counter()
    input = Path(input)
    if not looks:
        raise VidstyleError("nothing to preview; give at least one --style (or --model)")
    if frames is not None and at is not None:
        raise VidstyleError("give either --frames or --at, not both")
    if frames is not None and frames < 1:
        raise VidstyleError(f"--frames must be at least 1, got {frames}")
    output = Path(output) if output is not None else default_preview_output(input)
    check_not_input(output, input, *(s for look in looks for s in look.styles))
    image_format(output)
    check_output(output, force)
    dev = resolve_device(device)
    if dev.type == "cpu":
        use_all_cores()
    with open_frames(input, size=size, device=dev, prefetch=0, start=start, end=end) as reader:
        info = reader.info
        count = info.source_frame_count or info.frame_count
        first = int(round(start * float(info.fps))) if start and info.fps else 0  # the range's first source frame
        span = info.frame_count if info.trimmed and info.frame_count else count
        if at is not None:
            if not info.fps:
                raise VidstyleError(f"{input}: its frame rate is unknown; use --frames instead of --at")
            duration = info.source_duration
            for t in at:
                if t < 0 or (duration is not None and t >= duration):
                    raise VidstyleError(f"--at {format_time(t)} is past the end of {input} "
                                        f"(its duration is {format_time(duration or 0.0)})")
            indices = sorted({int(round(t * float(info.fps))) for t in at})
            if count:
                indices = [min(i, count - 1) for i in indices]
        else:
            if not count:
                raise VidstyleError(f"{input}: the frame count is unknown; give the times with --at")
            indices = [first + i for i in spread_indices(span or count, frames or DEFAULT_ROWS)]
        uses_temporal = temporal.enabled and temporal.strength > 0
        # a batch of consecutive frames (as the pipeline sees them) to time the temporal stage on
        n_flow = min(VideoConfig.batch_size + 1, count or 0)
        start = min(indices[0], (count or 0) - n_flow)
        pair = list(range(start, start + n_flow)) if uses_temporal and n_flow >= 2 else []
        batch = reader.read_at(sorted(set(indices) | set(pair)))
    got = dict(zip(batch.indices, batch.frames))
    indices = [i for i in indices if i in got]
    rows = torch.stack([got[i] for i in indices])  # N×3×H×W
    fps = info.fps
    n_frames = info.frame_count or count or len(indices)
    flow_ms = None
    if pair and all(i in got for i in pair):
        flow_ms = _flow_ms(torch.stack([got[i] for i in pair]), temporal, flow, dev)
    timings: list[LookTiming] = []
    columns: list[list[torch.Tensor]] = [[_thumb(rows[r:r + 1], thumb).cpu() for r in range(len(indices))]]
    with progress_bar(len(looks) * len(indices), "preview", enabled=progress) as bar:
        for look in looks:
            t0 = time.perf_counter()
            styliser, text = build_styliser(look.method, list(look.styles), look.model, optimise=look.optimise,
                                            temporal=temporal, device=dev, backend=backend, precision=precision,
                                            fps=fps)
            timing = LookTiming(description=text, build_s=time.perf_counter() - t0)
            if on_look is not None:
                on_look(text)
            tiles = []
            for r, index in enumerate(indices):
                frame = rows[r:r + 1]
                styliser.reset()  # each row is a shot start: no state carried between far-apart frames
                styliser.set_frames([index])
                t1 = time.perf_counter()
                with torch.inference_mode():
                    out = follow_exposure(styliser.stylise(frame), frame, temporal)
                timing.frame_ms.append(1000 * (time.perf_counter() - t1))
                tiles.append(_thumb(out, thumb).cpu())
                bar.update(1, look=len(timings) + 1)
            steady = timing.frame_ms[1:] or timing.frame_ms
            timing.per_frame_ms = statistics.median(steady)
            timing.uses_flow = temporal.enabled and flow_ms is not None and (
                styliser.temporal_mode is not TemporalMode.PER_FRAME or temporal.strength > 0)
            timing.estimate_s = timing.build_s + n_frames * (timing.per_frame_ms + (flow_ms or 0.0)
                                                             * timing.uses_flow) / 1000
            timings.append(timing)
            columns.append(tiles)
    h, w = rows.shape[-2:]
    labels = [f"original\n{w}x{h}, {n_frames} frames"]
    for look, timing in zip(looks, timings):
        flow_part = f" + flow {flow_ms:.0f}" if timing.uses_flow and flow_ms is not None else ""
        labels.append(f"{look.title(_chosen(timing.description))}\n~{format_duration(timing.estimate_s)} for the clip\n"
                      f"({timing.per_frame_ms:.0f}{flow_part} ms/frame)")
    row_labels = [f"frame {i}\n{format_time(i / float(fps))}" if fps else f"frame {i}" for i in indices]
    grid = [[columns[c][r] for c in range(len(columns))] for r in range(len(indices))]
    save_sheet(contact_sheet(grid, labels, row_labels), output, force)
    return PreviewResult(path=output, rows=len(indices), columns=len(columns), indices=indices, frame_count=n_frames,
                         flow_ms=flow_ms, looks=timings, seconds=time.perf_counter() - started)


__all__ = ["DEFAULT_ROWS", "DEFAULT_THUMB", "Look", "LookTiming", "PreviewResult", "default_preview_output",
           "format_duration", "format_time", "parse_times", "preview_output_for", "render_preview", "spread_indices"]
