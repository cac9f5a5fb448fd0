"""The streaming video pipeline: decode → flow → stylise → temporal blend → encode.

:func:`run_pipeline` owns the loop over a reader's batches, the temporal state,
the progress bar and the per-stage timings; :func:`stylise_video` is the API
behind ``vidstyle run`` that opens the input, chooses the styliser and writes the
output. Memory is constant in the clip's length: only the current batch and one
previous input/output frame (plus the Ruder long-term history) are held.
Decoding and encoding run in the reader's and writer's own threads, and the flow of the
next batch in a worker thread (:func:`observed_batches`), so they overlap the stylisation
and blending done here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import time
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .config import (
    FlowConfig,
    GeometryConfig,
    KeyframeConfig,
    OptimiseConfig,
    TemporalConfig,
    VideoConfig,
    should_compile,
)
from .errors import VidstyleError
from .exposure import follow_exposure
from .flow import FlowEstimator
from .media.frames import FrameBatch
from .progress import progress_bar
from .schedule import TemporalSchedule
from .stylise.base import FrameState, Styliser, TemporalMode
from .temporal import Observation, TemporalState

#: Stages timed by :func:`run_pipeline`, in pipeline order.
STAGES: tuple[str, ...] = ("decode", "flow", "stylise", "blend", "encode")

#: Output extensions that are video containers (anything else is a folder of PNG frames).
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".webm", ".avi")


@dataclass
class PipelineStats:
    """What a run did and how fast.

    Attributes:
        frames: frames written (``processed`` minus the discarded warm-up frames).
        processed: frames decoded and stylised.
        seconds: wall time of the loop.
        fps: ``processed / seconds``.
        stage_ms: mean milliseconds per processed frame for each of :data:`STAGES`. ``decode``
            and ``encode`` are the time the loop *waited* for the reader / writer threads
            (their work overlaps the other stages).
        cuts: hard cuts detected (temporal state was reset there).
        stopped_early: the reader's message when a truncated/corrupt input ended early.
        output: the written file or folder.
        method: the styliser chosen (one line).
    """

    frames: int = 0
    processed: int = 0
    seconds: float = 0.0
    fps: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)
    cuts: int = 0
    stopped_early: str | None = None
    output: Path | None = None
    method: str = ""

    def summary(self) -> str:
        """One line: frames, time, fps and output path."""
        where = f" → {self.output}" if self.output is not None else ""
        cuts = f", {self.cuts} cut{'s' if self.cuts != 1 else ''}" if self.cuts else ""
        return f"{self.frames} frames in {self.seconds:.1f} s ({self.fps:.2f} fps{cuts}){where}"

    def stages(self) -> str:
        """Per-stage ms/frame as one line."""
        return "  ".join(f"{k} {v:.1f}" for k, v in self.stage_ms.items()) + "  (ms/frame)"


class StageTimer:
    """Accumulates wall time per named stage; synchronises CUDA so GPU work lands in its stage."""

    def __init__(self, device: torch.device | None = None) -> None:
        self.totals = dict.fromkeys(STAGES, 0.0)
        self._cuda = device is not None and device.type == "cuda"

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            if self._cuda:
                torch.cuda.synchronize()
            self.totals[stage] = self.totals.get(stage, 0.0) + time.perf_counter() - start

    def per_frame_ms(self, frames: int) -> dict[str, float]:
        return {k: 1000 * v / max(frames, 1) for k, v in self.totals.items()}


def flow_config_for(mode: TemporalMode, cfg: TemporalConfig) -> TemporalConfig:
    """``cfg`` with the flow size for ``mode``: per-frame methods use the flow only to blend, so it is estimated at
    ``cfg.blend_flow_max_side`` (cheaper, same measured stability); sequential and self-consistent methods, whose
    losses use it, at ``cfg.flow_max_side``."""
    side = cfg.blend_flow_max_side
    if mode is not TemporalMode.PER_FRAME or side is None:
        return cfg
    limit = side if cfg.flow_max_side is None else min(side, cfg.flow_max_side)
    return dataclasses.replace(cfg, flow_max_side=limit)


def observed_batches(reader: Iterable[FrameBatch], state: TemporalState, timer: StageTimer | None = None
                     ) -> Generator[tuple[FrameBatch, list[Observation]], None, None]:
    """``(batch, state.observe(batch))`` for every batch of ``reader``, one batch ahead.

    The flow, reliability mask and cut decisions of a batch depend on the input frames only (never on
    the stylised output), so batch k+1 is observed on a worker thread while the caller stylises,
    blends and encodes batch k; DIS and the torch kernels release the GIL, so the two overlap on a
    multi-core CPU. Batches are observed in order, one at a time (the state is sequential), and an
    error in either thread surfaces here. ``timer`` gets the loop's waits: ``decode`` for the reader,
    ``flow`` for the observation.
    """
    timer = timer or StageTimer()
    batches = iter(reader)

    def observe(batch: FrameBatch) -> tuple[FrameBatch, list[Observation]]:
        return batch, state.observe(batch.frames, getattr(batch, "cuts", ()))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vidstyle-observe") as pool:
        with timer("decode"):
            batch = next(batches, None)
        pending = pool.submit(observe, batch) if batch is not None else None
        while pending is not None:  # closed early (error, interrupt): leaving the pool waits for the worker
            with timer("flow"):
                ready = pending.result()
            with timer("decode"):
                batch = next(batches, None)
            pending = pool.submit(observe, batch) if batch is not None else None
            yield ready


def run_pipeline(reader, writer, styliser: Styliser, *, flow_estimator: FlowEstimator | None,
                 temporal_cfg: TemporalConfig = TemporalConfig(), progress: bool = True,
                 discard_first: int = 0, description: str = "stylising") -> PipelineStats:
    """Run every batch of ``reader`` through ``styliser`` (with temporal consistency) into ``writer``.

    Args:
        reader: a :class:`~vidstyle.media.reader.VideoReader` (iterable of ``FrameBatch``, with
            ``info`` and ``stopped_early``).
        writer: anything with ``write(frames N×3×H×W [0, 1], pts)`` (a ``VideoWriter``); the caller
            opens and closes it.
        styliser: any :class:`Styliser`; its ``temporal_mode`` picks the loop
            (:class:`~vidstyle.stylise.base.TemporalMode`): ``SEQUENTIAL`` ones are called one frame at a
            time with a complete :class:`FrameState`; ``PER_FRAME`` ones stylise whole batches (split at
            cuts) and get flow-guided blending on top; ``SELF_CONSISTENT`` ones get each window (split at
            cuts) with the flows estimated here in ``state.window`` and are not blended.
        flow_estimator: flow between consecutive frames; None disables temporal consistency
            (cuts are then still detected from colour histograms).
        temporal_cfg: blending strength and cut thresholds (flow size: :func:`flow_config_for`).
        progress: show a progress bar (frames, fps, ETA).
        discard_first: frames processed for the temporal state only, not written (warm-up of
            a chunk in a batch render).

    Returns:
        :class:`PipelineStats`.
    """
    device = getattr(reader, "device", None)
    timer = StageTimer(device)
    mode = styliser.temporal_mode
    info = getattr(reader, "info", None)
    schedule = TemporalSchedule(temporal_cfg, info.fps if info is not None else None)  # --temporal-strength curve
    state = TemporalState(flow_config_for(mode, schedule.cfg), flow_estimator)
    stats = PipelineStats()
    cuts = 0  # seen by the loop (the worker thread's state.cuts runs one batch ahead)
    total = info.frame_count if info is not None else None
    start = time.perf_counter()
    with progress_bar(total, description, enabled=progress) as bar, \
            contextlib.closing(observed_batches(reader, state, timer)) as batches:
        for batch, observations in batches:
            cuts += sum(obs.cut for obs in observations)
            frames = batch.frames
            indices = list(batch.indices) or list(range(stats.processed, stats.processed + len(frames)))
            if mode is TemporalMode.SEQUENTIAL:  # one frame at a time, with the previous output and its flow
                outputs = []
                for i, obs in enumerate(observations):
                    if obs.cut:
                        styliser.reset()
                    styliser.set_frames(indices[i:i + 1])
                    with timer("stylise"):
                        out = follow_exposure(styliser.stylise(frames[i:i + 1], state.frame_state(obs)),
                                              frames[i:i + 1], temporal_cfg)
                    state.commit(out)
                    outputs.append(out)
                result = torch.cat(outputs)
            else:
                # Split the batch at cuts so that reset() lands exactly on a shot's first frame
                # (stateless stylisers ignore it; stateful ones, e.g. colour matching, start afresh).
                starts = [0] + [i for i, obs in enumerate(observations) if obs.cut and i > 0] + [len(observations)]
                with timer("stylise"):
                    parts = []
                    for a, b in itertools.pairwise(starts):
                        if observations[a].cut:
                            styliser.reset()
                        window = None
                        if mode is TemporalMode.SELF_CONSISTENT:  # the flows estimated above, once
                            window = FrameState(window=(state.frame_state(observations[a]),
                                                        *(o.state for o in observations[a + 1:b])))
                        styliser.set_frames(indices[a:b])  # strength / style curves (vidstyle.schedule)
                        parts.append(styliser.stylise(frames[a:b], window))
                    stylised = follow_exposure(torch.cat(parts), frames, temporal_cfg)
                with timer("blend"):
                    outputs = []
                    for i, obs in enumerate(observations):
                        # Self-consistent stylisers are not blended again.
                        out = stylised[i:i + 1] if mode is TemporalMode.SELF_CONSISTENT else \
                            schedule.apply(stylised[i:i + 1], state.blend(stylised[i:i + 1], obs), indices[i])
                        state.commit(out)
                        outputs.append(out)
                    result = torch.cat(outputs)
            keep = max(0, min(len(batch.pts), discard_first - stats.processed))
            stats.processed += len(batch.pts)
            with timer("encode"):
                if keep < len(batch.pts):
                    writer.write(result[keep:], list(batch.pts[keep:]))
                    stats.frames += len(batch.pts) - keep
            elapsed = time.perf_counter() - start
            bar.update(len(batch.pts), fps=stats.processed / max(elapsed, 1e-9), cuts=cuts)
    stats.seconds = time.perf_counter() - start
    stats.fps = stats.processed / max(stats.seconds, 1e-9)
    stats.stage_ms = timer.per_frame_ms(stats.processed)
    stats.cuts = state.cuts
    stats.stopped_early = getattr(reader, "stopped_early", None)
    return stats


def default_video_output(input: Path, styles: Sequence[Path | str], model: str | Path | None) -> Path:
    """``clip.mp4`` + ``starry.jpg`` → ``clip__starry.mp4`` in the current folder (``.mp4`` for a frame folder)."""
    input = Path(input)
    names = [Path(s).stem for s in styles] or ([Path(str(model)).stem] if model else ["stylised"])
    suffix = input.suffix.lower() if input.suffix.lower() in VIDEO_EXTENSIONS else ".mp4"
    return Path(f"{input.stem}__{'+'.join(names)}{suffix}")


def _check_target(output: Path, force: bool) -> None:
    """Fail before any work when the output cannot be written."""
    from .media.atomic import check_output

    if output.suffix.lower() in VIDEO_EXTENSIONS or not output.is_dir():
        check_output(output, force)
    elif not force:  # an existing frame folder
        raise VidstyleError(f"output {output} already exists; use --force to overwrite it")


def stylise_video(input: str | Path, output: str | Path | None = None, *, styles: Sequence[str | Path] = (),
                  model: str | Path | None = None, method: str = "auto", video: VideoConfig = VideoConfig(),
                  temporal: TemporalConfig = TemporalConfig(), flow: FlowConfig = FlowConfig(),
                  optimise: OptimiseConfig = OptimiseConfig(), device: str = "auto", force: bool = False,
                  progress: bool = True, frames: tuple[int, int] | None = None, discard_first: int = 0,
                  on_method=None, backend: str = "auto", mask: str | Path | None = None, invert_mask: bool = False,
                  feather: float = 0.0, keyframes: KeyframeConfig = KeyframeConfig(),
                  geometry: GeometryConfig = GeometryConfig()) -> PipelineStats:
    """Stylise a video file (or a folder of frames) into a new video, streaming.

    Args:
        input: video file or image-sequence folder.
        output: target file (container from the extension) or, without an extension, a folder of PNG
            frames. Default: ``INPUT__STYLE.<ext>`` in the current folder. Checked before any work.
        styles: style images; ``model``: a feed-forward model name or path (see :mod:`vidstyle.methods`).
        method: ``auto``, ``optimise``, ``optimise-temporal``, ``fast``, ``adain`` or ``wct``.
        video: size, batch size, codec, crf, preset, audio, start/end.
        temporal: blending strength, cut detection, Ruder weights; ``enabled=False`` turns it off.
        flow: estimator name and weights.
        optimise: Gatys options (``steps`` …); ``optimise.size`` is not used (``video.size`` is).
        device: ``auto``, ``cpu`` or ``cuda``.
        force: overwrite an existing output.
        frames: ``(first, last)`` frame-index range of the input to render.
        discard_first: frames rendered for the temporal state but not written.
        on_method: called with the one-line description of the chosen method before rendering.
        backend: feed-forward inference, ``auto``, ``torch`` or ``onnx`` (onnxruntime on the CPU).
        mask: a frame-aligned matte (video, image folder or still; white = stylise) composited per frame
            (:mod:`vidstyle.matte_video`); ``invert_mask`` stylises outside it, ``feather`` softens its edge (px).
        keyframes: keyframe-guided stylisation (:mod:`vidstyle.keyframes`); ``method`` then fills what the
            keyframes do not reach.
        geometry: geometric style transfer (:mod:`vidstyle.stylise.geometric`): the input frames are warped
            toward ``geometry.style``, one transform per shot, before everything else (same output size).

    Returns:
        :class:`PipelineStats` (``output`` set).

    Raises:
        VidstyleError: bad input, existing output without ``force``, missing weights, ….
    """
    from .device import resolve_device, use_all_cores
    from .flow import get_estimator
    from .media.reader import open_frames
    from .media.writer import VideoWriter
    from .methods import build_styliser

    input = Path(input)
    style_paths = [Path(s) for s in styles]
    if keyframes.active:  # painted keyframes alone: the painting is the fill's style
        from .keyframes import keyframe_styles

        style_paths = keyframe_styles(keyframes, style_paths, model)
    output = Path(output) if output is not None else default_video_output(input, style_paths, model)
    from .media.atomic import check_not_input

    check_not_input(output, input, *style_paths)
    _check_target(output, force)
    if geometry.active:
        if mask is not None:
            raise VidstyleError("--mask cannot be combined with --geometry-style (the matte is not warped); drop one")
        if keyframes.images:
            raise VidstyleError("--keyframe-images are painted in the input's geometry; they cannot be combined "
                                "with --geometry-style")
    for style in style_paths:
        if style.is_dir():
            raise VidstyleError(f"style image {style} is a folder; pass an image file")
        if not style.is_file():
            raise VidstyleError(f"style image {style} not found")
    dev = resolve_device(device)
    if dev.type == "cpu":
        use_all_cores()
    with open_frames(input, size=video.size, batch_size=video.batch_size, start=video.start, end=video.end,
                     frames=frames, device=dev) as reader, contextlib.ExitStack() as closing:
        if keyframes.active:  # keyframes past the end, painted keyframes of the wrong size: before any work
            from .keyframes import check_keyframes

            check_keyframes(keyframes, reader.info)
            if not temporal.enabled:
                raise VidstyleError("keyframes are propagated along the optical flow; drop --no-temporal")
        matte = None
        if mask is not None:  # checked before any work; streamed beside the clip (vidstyle.matte_video)
            from .matte_video import open_matte

            spool = None
            if keyframes.active:  # every frame is read before the first is written: the inputs wait in a spool
                from .media.spool import Spool

                spool = closing.enter_context(Spool(keyframes.memory_mb * 2**20, name="matte"))
            matte = open_matte(mask, reader.info, invert_mask, feather, spool=spool)
            closing.callback(matte.close)
        estimator = None
        if temporal.enabled:
            estimator = get_estimator(flow.method, flow.weights, device=dev)
        info = reader.info
        from .nets.bf16 import bf16_choice

        bf16 = bf16_choice(video.precision, dev, backend)[0]
        compile = should_compile(video.compile, info.frame_count, info.width, info.height, bf16=bf16)
        styliser, description = build_styliser(method, style_paths, model, optimise=optimise, temporal=temporal,
                                               device=dev, flow_estimator=estimator, backend=backend,
                                               compile=compile, precision=video.precision, fps=info.fps,
                                               frame_size=(info.height, info.width))
        geometric = None
        if geometry.active:  # warp the input frames themselves: flow, cuts, blending and losses all see the warped clip
            from .stylise.geometric import open_geometric

            geometric, geo_text = open_geometric(reader, geometry, device=dev, vgg_source=optimise.vgg_source,
                                                 cut_cfg=temporal, flow_estimator=estimator)
        if styliser.temporal_mode is TemporalMode.PER_FRAME and temporal.strength <= 0 and not keyframes.active:
            estimator = None  # nothing would use the flow
        key_styliser = None
        if keyframes.active:
            from .keyframes import describe

            key_text = None
            if keyframes.frames or keyframes.every:
                key_styliser, key_text = build_styliser(keyframes.method, style_paths, model, optimise=optimise,
                                                        temporal=temporal, device=dev, flow_estimator=estimator,
                                                        backend=backend, compile=False)
            description = f"{describe(keyframes, key_text)}; fill: {description}"
        if matte is not None:  # optimisation also takes its style loss only inside each frame's matte
            masked = [s.use_mattes(matte.matte_at) for s in (styliser, key_styliser) if s is not None]
            if any(masked):
                description += "; style loss inside the matte"
        if geometric is not None:
            description = f"{description}; {geo_text}"
        if on_method is not None:
            on_method(description)
        with VideoWriter(output, reader.info, codec=video.codec, crf=video.crf, preset=video.preset,
                         audio=video.audio, force=force) as writer:
            frames_in = geometric if geometric is not None else reader
            source, sink = (matte.reader(frames_in), matte.writer(writer)) if matte else (frames_in, writer)
            if keyframes.active:
                from .keyframes import run_keyframed

                stats = run_keyframed(source, sink, styliser, keyframes, flow_estimator=estimator,  # type: ignore[arg-type]
                                      keyframe_styliser=key_styliser, temporal_cfg=temporal, progress=progress)
            else:
                stats = run_pipeline(source, sink, styliser, flow_estimator=estimator, temporal_cfg=temporal,
                                     progress=progress, discard_first=discard_first)
    stats.output = output
    stats.method = description
    return stats


__all__ = ["STAGES", "PipelineStats", "StageTimer", "default_video_output", "flow_config_for", "observed_batches", "run_pipeline",
           "stylise_video"]
