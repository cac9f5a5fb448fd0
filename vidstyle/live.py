"""Live stylisation: the loop behind ``vidstyle webcam``.

::

    capture thread       stage 1 (main, or worker when pipelined)     stage 2 (main thread)
    ──────────────       ────────────────────────────────────────     ──────────────────────────────────────
    newest frame   ──►   resize to internal size, stylise       ──►   smooth, quantise + upsample, record,
    (stale dropped)      (always takes the newest frame)              window with overlay, keys

Latency first: the loop always takes the newest captured frame
(:class:`vidstyle.media.live.LiveSource`; older ones are dropped, never queued),
runs the styliser at the small internal size, then smooths, upsamples and shows the
result as soon as it is ready.

Pipelined mode runs the first stage (resize + stylise) on a worker thread that
hands its result over through a one-slot buffer while the main thread (which must
own the HighGUI window) renders the previous frame — the right shape when the
network runs on a GPU. On the shared 2-core CPU it bought no throughput and
doubled the median latency (two thread teams competing for two cores), so it is
on only for CUDA by default (``LiveConfig.pipelined``).

Latency is measured from capture to the moment the frame reached the window
and/or the recorder (:class:`LiveStats`).

Keys (window, terminal in headless mode, or an injected callable for tests):
``n``/``p`` next/previous model, ``s`` side-by-side original|stylised, ``t`` temporal
smoothing on/off, ``c`` snapshot PNG, ``q``/Esc quit.
"""

from __future__ import annotations

import contextlib
import queue
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .config import LiveConfig
from .errors import MediaError, VidstyleError
from .media.live import (
    LiveFrame,
    LiveSource,
    RecordSink,
    WindowSink,
    frame_to_tensor,
    resize_bgr,
    to_bgr_uint8,
)
from .stylise.base import Styliser

__all__ = ["KEY_ACTIONS", "LiveLoop", "LiveSmoother", "LiveStats", "default_sizes", "fit_size", "parse_size", "set_live_threads"]

#: Key → action. Keys arrive lower-cased (``esc`` for Escape).
KEY_ACTIONS: dict[str, str] = {"n": "next", "p": "previous", "s": "side_by_side", "t": "smooth", "c": "snapshot",
                               "q": "quit", "esc": "quit"}
KEY_HELP = "n/p style  s side-by-side  t smoothing  c snapshot  q quit"

#: An injected key input: called once per rendered frame with the number of frames rendered so far.
KeyInput = Callable[[int], "str | None"]


# ---------------------------------------------------------------------------------------------- threads


def set_live_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads for live mode (default: all cores); returns the count.

    On the shared 2-core machine, alternating runs of benchmarks/bench_webcam.py gave a
    median 15 fps with 2 threads against 5.5 fps with 1, capture and encoding threads
    included; ``--threads 1`` remains for machines where a core must be kept free.
    """
    from .device import use_all_cores

    cores = use_all_cores()
    n = threads or cores
    torch.set_num_threads(n)
    return n


# ---------------------------------------------------------------------------------------------- sizes


def parse_size(text: str | None, what: str = "--size") -> tuple[int, int] | None:
    """``"640x360"`` → ``(640, 360)``; a malformed size is a user error."""
    if text is None:
        return None
    try:
        w, h = (int(v) for v in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise VidstyleError(f"{what} must look like 640x360 (width x height), got {text!r}") from None
    if w < 16 or h < 16 or w > 8192 or h > 8192:
        raise VidstyleError(f"{what} {w}x{h} is out of range; each side must be 16..8192 pixels")
    return w, h


def fit_size(width: int, height: int, max_side: int, multiple: int = 2) -> tuple[int, int]:
    """Scale ``width×height`` so the long side is at most ``max_side``, rounded to ``multiple`` (aspect kept)."""
    s = min(1.0, max_side / max(width, height))
    return (max(multiple, round(width * s / multiple) * multiple), max(multiple, round(height * s / multiple) * multiple))


def default_sizes(source_size: tuple[int, int], cfg: LiveConfig) -> tuple[tuple[int, int], tuple[int, int]]:
    """Display and internal ``(width, height)`` from the config, filling unset ones from the source size."""
    size = cfg.size or fit_size(*source_size, cfg.max_side)
    internal = cfg.internal_size or fit_size(*size, max(16, round(max(size) * cfg.internal_scale)), multiple=4)
    if internal[0] > size[0] or internal[1] > size[1]:
        internal = size  # never run larger than shown
    return size, internal


# ---------------------------------------------------------------------------------------------- stats


@dataclass
class LiveStats:
    """What happened during a live run.

    Attributes:
        captured: frames the source delivered.
        dropped: frames replaced by a newer one before the loop took them.
        captured_at: capture time (``perf_counter`` seconds) of every rendered frame.
        done_at: when each rendered frame reached its sinks.
        indices: the source's sequence number of every rendered frame (gaps = dropped frames).
        stage_ms: per-stage wall milliseconds of every rendered frame (``input``, ``stylise``, ``smooth``,
            ``upsample``, ``output``), and the CPU milliseconds the two stages' thread(s) spent on it
            (``infer_cpu``, ``render_cpu``; only the calling thread's share when torch uses several).
    """

    captured: int = 0
    dropped: int = 0
    captured_at: list[float] = field(default_factory=list)
    done_at: list[float] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    stage_ms: dict[str, list[float]] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return len(self.done_at)

    def add_stage(self, name: str, ms: float) -> None:
        self.stage_ms.setdefault(name, []).append(ms)

    def report(self, warmup: int = 0) -> dict[str, float]:
        """Numbers over the rendered frames after the first ``warmup``.

        ``fps`` = frames rendered per second of wall time; ``latency_*`` = capture →
        sinks in milliseconds; ``drop_rate`` = dropped / captured (whole run).
        """
        done, cap = self.done_at[warmup:], self.captured_at[warmup:]
        latencies = sorted(1000 * (d - c) for d, c in zip(done, cap))
        n = len(done)
        fps = (n - 1) / (done[-1] - done[0]) if n >= 2 and done[-1] > done[0] else float("nan")
        out = {
            "frames": float(self.frames), "captured": float(self.captured), "dropped": float(self.dropped),
            "drop_rate": self.dropped / self.captured if self.captured else 0.0, "fps": fps,
            "latency_median_ms": statistics.median(latencies) if latencies else float("nan"),
            "latency_p95_ms": _percentile(latencies, 95),
        }
        for name, values in self.stage_ms.items():
            if values[warmup:]:
                out[f"{name}_ms"] = statistics.median(values[warmup:])
        return out

    def summary(self, warmup: int = 0) -> str:
        r = self.report(warmup)
        return (f"{self.frames} frames at {r['fps']:.1f} fps; dropped {self.dropped} of {self.captured} captured "
                f"({100 * r['drop_rate']:.0f}%); latency capture→display median {r['latency_median_ms']:.0f} ms, "
                f"p95 {r['latency_p95_ms']:.0f} ms")


def _percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (NaN when empty)."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


# ---------------------------------------------------------------------------------------------- smoothing


class LiveSmoother:
    """Cheap temporal smoothing of stylised frames, at the internal size.

    Blends the previous *output* into the current one where it is reliable
    (:func:`vidstyle.temporal.blend`, the video pipeline's formula), so a recursive
    average builds up in stable regions and flicker dies down, while moving or newly
    visible content follows the current frame.

    * ``flow``: warp the previous output with DIS-fast flow (current → previous
      input, convention of :mod:`vidstyle.flow`); reliable where the warped previous
      *input* matches the current input (a photometric check — a single flow instead
      of the forward–backward pair and Ruder et al. mask of :class:`vidstyle.temporal.TemporalState`,
      to stay within a few ms per frame).
    * ``ema``: no flow; blend only where the input did not change (static regions).

    Args:
        method: ``flow`` or ``ema``.
        strength: weight of the previous output at fully reliable pixels, in [0, 1).
        tolerance: mean absolute RGB difference (in [0, 1]) at which the weight reaches 0.
        flow_method: estimator name for ``flow`` (see :func:`vidstyle.flow.get_estimator`).
        flow_max_side: estimate the flow on frames downscaled to this long side (:func:`vidstyle.flow.warp.shrink_frames`)
            and upsample it (the warp and the photometric check stay at full size); None: at the internal size.
    """

    def __init__(self, method: str = LiveConfig.smooth_method, strength: float = LiveConfig.smooth_strength,
                 tolerance: float = LiveConfig.smooth_tolerance, flow_method: str = LiveConfig.flow_method,
                 flow_max_side: int | None = LiveConfig.smooth_flow_max_side) -> None:
        if method not in ("flow", "ema"):
            raise VidstyleError(f"unknown smoothing method {method!r}; use flow or ema")
        if not 0.0 <= strength < 1.0:
            raise VidstyleError(f"smoothing strength must be in [0, 1), got {strength}")
        self.method, self.strength, self.tolerance, self.flow_max_side = method, strength, tolerance, flow_max_side
        self._estimator = None
        if method == "flow":
            from .flow import get_estimator

            self._estimator = get_estimator(flow_method)
        self.reset()

    def reset(self) -> None:
        self._prev_in: torch.Tensor | None = None
        self._prev_out: torch.Tensor | None = None

    def __call__(self, frame: torch.Tensor, stylised: torch.Tensor) -> torch.Tensor:
        """Smooth ``stylised`` (``1×3×h×w`` [0, 1]) given its input ``frame`` (same shape); returns the same shape."""
        prev_in, prev_out = self._prev_in, self._prev_out
        if prev_in is None or prev_in.shape != frame.shape or prev_out.shape != stylised.shape:
            out = stylised
        else:
            if self._estimator is not None:
                from .flow import warp
                from .flow.warp import inside_frame, resize_flow, shrink_frames

                pair = shrink_frames(torch.cat([frame, prev_in]), self.flow_max_side)
                flow = self._estimator.estimate(pair[:1], pair[1:])  # warp(prev, flow) ≈ current frame
                flow = resize_flow(flow, (frame.shape[-2], frame.shape[-1]))
                both = warp(torch.cat([prev_in, prev_out], 1), flow)  # one grid_sample for input and output
                warped_in, warped_out = both[:, :3], both[:, 3:]
                error = (warped_in - frame).abs().mean(1, keepdim=True)
                error = torch.where(inside_frame(flow), error, torch.ones_like(error))
            else:
                warped_out = prev_out
                error = F.avg_pool2d((prev_in - frame).abs().mean(1, keepdim=True), 5, 1, 2, count_include_pad=False)
            from .temporal import blend

            reliability = (1.0 - error / self.tolerance).clamp_(0.0, 1.0)  # soft mask: 1 = same content
            out = blend(stylised, warped_out, reliability, self.strength)
        self._prev_in, self._prev_out = frame, out
        return out


# ---------------------------------------------------------------------------------------------- the loop


class LiveLoop:
    """Stylise a live source frame by frame and send the result to a window and/or a recorder.

    Args:
        stylisers: one or more stylisers (``n``/``p`` cycle through them).
        names: a display name for each styliser.
        size: display (and recording) ``(width, height)``.
        internal_size: inference ``(width, height)``; the output is upsampled to ``size``.
        cfg: smoothing and pipelining settings (:class:`~vidstyle.config.LiveConfig`).
        device: working device of the stylisers.
        snapshot_dir: folder for ``c`` snapshots.
    """

    def __init__(self, stylisers: Sequence[Styliser], names: Sequence[str] | None = None,
                 size: tuple[int, int] = (640, 360), internal_size: tuple[int, int] | None = None,
                 cfg: LiveConfig | None = None, device: torch.device | str = "cpu",
                 snapshot_dir: str | Path = ".") -> None:
        if not stylisers:
            raise VidstyleError("live mode needs at least one model; pass --model NAME")
        self.stylisers = list(stylisers)
        self.names = list(names) if names is not None else [type(s).__name__ for s in self.stylisers]
        if len(self.names) != len(self.stylisers):
            raise ValueError("one name per styliser")
        self.size = tuple(size)
        self.internal_size = tuple(internal_size or size)
        self.cfg = cfg = cfg or LiveConfig()
        self.device = torch.device(device)
        self.snapshot_dir = Path(snapshot_dir)
        self.current = 0
        self.side_by_side = False
        self.smooth = cfg.smooth
        self.smoother = LiveSmoother(cfg.smooth_method, cfg.smooth_strength, cfg.smooth_tolerance, cfg.flow_method,
                                     cfg.smooth_flow_max_side)
        self.snapshots: list[Path] = []
        self.events: list[str] = []  # actions taken, in order (for the user's log and for tests)
        self._last_shown: np.ndarray | None = None
        self._rendered_model = 0

    @property
    def model_name(self) -> str:
        return self.names[self.current]

    # -- keys
    def handle_key(self, key: str | None) -> bool:
        """Apply a key press; returns True when the loop should quit."""
        action = KEY_ACTIONS.get(key.lower()) if key else None
        if action is None:
            return False
        self.events.append(action)
        if action == "quit":
            return True
        if action in ("next", "previous"):
            step = 1 if action == "next" else -1
            self.current = (self.current + step) % len(self.stylisers)
            self.stylisers[self.current].reset()  # render() resets the smoother when that style's first frame arrives
        elif action == "side_by_side":
            self.side_by_side = not self.side_by_side
        elif action == "smooth":
            self.smooth = not self.smooth
            self.smoother.reset()
        elif action == "snapshot":
            self.snapshot()
        return False

    def snapshot(self) -> Path | None:
        """Save what is shown now (without the overlay) as a PNG in ``snapshot_dir``."""
        from .media.image import save_image

        if self._last_shown is None:
            return None
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = self.snapshot_dir / f"vidstyle-{_slug(self.model_name)}-{stamp}"
        path, k = base.with_suffix(".png"), 1
        while path.exists():  # never overwrite an earlier snapshot
            k += 1
            path = base.with_name(f"{base.name}-{k}.png")
        save_image(frame_to_tensor(self._last_shown), path)
        self.snapshots.append(path)
        return path

    @torch.inference_mode()
    def warm_up(self) -> None:
        """Run every styliser once at the internal size (allocations, ``torch.compile``) before the clock starts."""
        w, h = self.internal_size
        x = torch.rand(1, 3, h, w, device=self.device)
        for styliser in self.stylisers:
            styliser.stylise(x, None)
            styliser.reset()

    # -- one frame, in two stages (the pipelined loop runs them on two threads)
    @torch.inference_mode()
    def infer(self, frame: LiveFrame) -> _Inferred:
        """Stage 1: the frame at the internal size and its stylisation by the current model."""
        t0, c0 = time.perf_counter(), time.thread_time()
        model = self.current
        x = frame_to_tensor(frame.image, self.internal_size).to(self.device, non_blocking=True)
        t1 = time.perf_counter()
        y = self.stylisers[model].stylise(x, None)
        t2 = time.perf_counter()
        return _Inferred(frame, model, x, y, {"input": t1 - t0, "stylise": t2 - t1}, time.thread_time() - c0)

    @torch.inference_mode()
    def render(self, item: _Inferred, stats: LiveStats | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Stage 2: temporal smoothing, then quantise and upsample to the display size.

        Returns:
            ``(stylised, shown)``, ``H×W×3`` uint8 BGR: the stylised frame at the display size
            (what is recorded) and what the window shows (the same array, or
            original|stylised side by side, ``H×2W×3``).
        """
        t2 = time.perf_counter()
        y = item.stylised
        if item.model != self._rendered_model:  # first frame of another style: do not blend across styles
            self.smoother.reset()
            self._rendered_model = item.model
        if self.smooth:
            y = self.smoother(item.input, y)
        t3 = time.perf_counter()
        stylised = to_bgr_uint8(y, self.size)  # quantise small, then upsample uint8 (cheap)
        shown = np.hstack([resize_bgr(item.frame.image, self.size), stylised]) if self.side_by_side else stylised
        t4 = time.perf_counter()
        if stats is not None:
            for name, seconds in (*item.seconds.items(), ("smooth", t3 - t2), ("upsample", t4 - t3)):
                stats.add_stage(name, 1000 * seconds)
        self._last_shown = shown
        return stylised, shown

    def process(self, frame: LiveFrame, stats: LiveStats | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Both stages for one captured frame (see :meth:`render` for the result)."""
        return self.render(self.infer(frame), stats)

    # -- the loop
    def run(self, source: LiveSource, window: WindowSink | None = None, recorder: RecordSink | None = None,
            keys: KeyInput | None = None, duration: float | None = None, max_frames: int | None = None,
            overlay: bool = True, read_timeout: float = 5.0, pipelined: bool | None = None) -> LiveStats:
        """Run until the source ends, a quit key, ``duration`` seconds, ``max_frames`` frames, or Ctrl-C.

        ``pipelined``: stylise the next frame on a worker thread while this thread
        smooths, renders, shows and records the current one (the worker still takes
        the newest frame each time and hands over through a one-slot buffer). None:
        ``cfg.pipelined``, and if that is None, only when the device is CUDA.

        Ctrl-C is a normal way to stop (headless runs have no window to press ``q`` in):
        the recording is finished and the stats are returned.

        Raises:
            MediaError: the source stopped delivering frames for ``read_timeout`` seconds
            (a camera that was unplugged), or capturing / recording failed.
        """
        stats = LiveStats()
        recent: deque[tuple[float, float]] = deque(maxlen=30)  # (done, latency) for the overlay
        started = time.perf_counter()
        stop = threading.Event()
        aborted = True
        if pipelined is None:
            pipelined = self.cfg.pipelined if self.cfg.pipelined is not None else self.device.type == "cuda"
        source.start()
        items = (_pipeline if pipelined else _serial)(self, source, stop, read_timeout)
        try:
            try:
                for item in items:
                    if item is None:  # nothing arrived in a while: check the clock
                        if duration is not None and time.perf_counter() - started >= duration:
                            break
                        continue
                    c0 = time.thread_time()
                    stylised, shown = self.render(item, stats)
                    t_out = time.perf_counter()
                    if recorder is not None:
                        recorder.write(stylised, item.frame.captured)
                    key = None
                    if window is not None:
                        lines = self._overlay_lines(recent, source) if overlay else []
                        window.show(shown if not lines else shown.copy(), lines)  # keep the overlay off snapshots
                        key = window.poll_key()
                    done = time.perf_counter()
                    stats.add_stage("output", 1000 * (done - t_out))
                    # CPU time of the loop's threads for the frame: with one torch thread this is what
                    # it would take on idle cores, however loaded the machine is (per stage: on 2 cores
                    # the pipelined stages overlap, the slower one sets the pace)
                    stats.add_stage("infer_cpu", 1000 * item.cpu_seconds)
                    stats.add_stage("render_cpu", 1000 * (time.thread_time() - c0))
                    stats.captured_at.append(item.frame.captured)
                    stats.done_at.append(done)
                    stats.indices.append(item.frame.index)
                    recent.append((done, done - item.frame.captured))
                    if keys is not None:
                        key = keys(stats.frames) or key
                    if self.handle_key(key):
                        break
                    if max_frames is not None and stats.frames >= max_frames:
                        break
                    if duration is not None and done - started >= duration:
                        break
            except KeyboardInterrupt:
                pass
            aborted = False
        finally:
            stop.set()
            items.close()  # joins the worker thread
            source.close()
            stats.captured, stats.dropped = source.captured, source.dropped
            if window is not None:
                window.close()
            if recorder is not None:
                if aborted:  # an error is on its way out: discard the file, do not mask the error
                    with contextlib.suppress(Exception):
                        recorder.close(abort=True)
                else:
                    recorder.close()
        return stats

    def _overlay_lines(self, recent: deque, source: LiveSource) -> list[str]:
        fps = (len(recent) - 1) / (recent[-1][0] - recent[0][0]) if len(recent) >= 2 else 0.0
        latency = statistics.median(lat for _, lat in recent) * 1000 if recent else 0.0
        flags = ("smooth" if self.smooth else "raw") + (" | side-by-side" if self.side_by_side else "")
        return [f"{self.model_name} ({self.current + 1}/{len(self.stylisers)})  {flags}",
                f"{fps:4.1f} fps  {latency:3.0f} ms  dropped {source.dropped}",
                KEY_HELP]


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)[:40] or "model"


@dataclass
class _Inferred:
    """A frame after stage 1: the captured frame, the model used, input and output at the internal size."""

    frame: LiveFrame
    model: int
    input: torch.Tensor
    stylised: torch.Tensor
    seconds: dict[str, float]
    cpu_seconds: float


_POLL = 0.1  # seconds between checks of the clock / stop flag while waiting


def _next_frame(source: LiveSource, read_timeout: float, stop: threading.Event) -> LiveFrame | None:
    """The newest frame; None at the end of the source or when stopped.

    Raises:
        MediaError: no frame for ``read_timeout`` seconds while the source is still open.
    """
    waited = 0.0
    while not stop.is_set():
        frame = source.read(timeout=_POLL)
        if frame is not None or source.finished:
            return frame
        waited += _POLL
        if waited >= read_timeout:
            raise MediaError(f"{source.description} delivered no frame for {read_timeout:g} s; "
                             "was the camera disconnected?")
    return None


def _serial(loop: LiveLoop, source: LiveSource, stop: threading.Event,
            read_timeout: float) -> Iterator[_Inferred | None]:
    """Stage 1 on the calling thread, one frame at a time."""
    while (frame := _next_frame(source, read_timeout, stop)) is not None:
        yield loop.infer(frame)


def _pipeline(loop: LiveLoop, source: LiveSource, stop: threading.Event,
              read_timeout: float) -> Iterator[_Inferred | None]:
    """Stage 1 on a worker thread; yields its results (None while waiting, so the caller can check its clock)."""
    handoff: queue.Queue = queue.Queue(maxsize=1)
    end = object()

    def put(item: object) -> None:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue

    def work() -> None:
        try:
            while (frame := _next_frame(source, read_timeout, stop)) is not None:
                put(loop.infer(frame))
        except BaseException as e:  # noqa: BLE001 - re-raised on the consumer's thread
            put(e)
            return
        put(end)

    worker = threading.Thread(target=work, name="vidstyle-live-infer", daemon=True)
    worker.start()
    try:
        while True:
            try:
                item = handoff.get(timeout=_POLL)
            except queue.Empty:
                if not worker.is_alive() and handoff.empty():
                    return
                yield None
                continue
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=10.0)
