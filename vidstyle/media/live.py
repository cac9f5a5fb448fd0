"""Live media: camera / stream / file sources that keep only the newest frame, and window / file sinks.

Latency first: a capture thread reads the source as fast as it delivers and keeps
only the newest frame in a one-slot mailbox. A frame the consumer did not take
before the next one arrived is *dropped* (counted, never queued), so a slow
consumer always works on the freshest picture instead of falling further behind.

All uint8/BGR ↔ tensor conversion lives here: a captured :class:`LiveFrame` holds
the camera's uint8 BGR picture, converted (only if the frame is used) by
:func:`frame_to_tensor` into a ``1×3×H×W`` float32 RGB tensor in [0, 1] at the size
the loop needs; results go back through :func:`to_bgr_uint8`, which quantises at
the small inference size and upsamples in uint8 (an order of magnitude cheaper
than float upsampling on a CPU).

Sources (:func:`open_source`): a camera index (``0``), a device path
(``/dev/video0``), a stream URL (``rtsp://…``, ``http://…``) or a video file, which
is played at its native frame rate so live mode can be tried and tested without a
camera.

Display: OpenCV's GUI build *aborts the whole process* (not an exception) when a
window is opened without a usable display, so :func:`display_available` checks
the environment and :func:`display_usable` opens a test window in a child process;
build a :class:`WindowSink` only after them.
"""

from __future__ import annotations

import contextlib
import glob
import math
import os
import queue
import select
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import torch

from ..config import LiveConfig
from ..errors import MediaError, VidstyleError

__all__ = [
    "KEY_ESC",
    "CaptureSource",
    "LiveFrame",
    "LiveSource",
    "RecordSink",
    "TerminalKeys",
    "WindowSink",
    "display_available",
    "draw_overlay",
    "frame_to_tensor",
    "open_source",
    "parse_source",
    "resize_bgr",
    "to_bgr_uint8",
]

KEY_ESC = "esc"
#: Seconds to wait for the first frame of a camera or stream before calling it dead or busy.
FIRST_FRAME_TIMEOUT = 5.0
#: Seconds a file source may fall behind its schedule before the schedule restarts from now.
LATE_RESYNC = 0.1


@dataclass
class LiveFrame:
    """One captured frame.

    Attributes:
        image: ``H×W×3`` uint8 BGR as captured (converted lazily, only if the frame is used).
        captured: ``time.perf_counter()`` when the frame was captured (for files: when it was due).
        index: sequence number from the source (0, 1, 2, …); gaps are dropped frames.
    """

    image: np.ndarray
    captured: float
    index: int


def frame_to_tensor(image: np.ndarray, size: tuple[int, int] | None = None) -> torch.Tensor:
    """``H×W×3`` uint8 BGR → ``1×3×h×w`` float32 RGB in [0, 1], resized to ``size = (w, h)`` first if given.

    Resizing happens on uint8 with OpenCV (area filter when shrinking), far cheaper
    than on float tensors — this runs once per frame in the live loop.
    """
    rgb = cv2.cvtColor(resize_bgr(image, size), cv2.COLOR_BGR2RGB)
    return torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def to_bgr_uint8(x: torch.Tensor, size: tuple[int, int] | None = None) -> np.ndarray:
    """``1×3×h×w`` (or ``3×h×w``) RGB in [0, 1] on any device → contiguous ``H×W×3`` uint8 BGR at ``size = (W, H)``.

    Quantises first, at the small size, then upsamples the uint8 image with OpenCV
    (bilinear): an order of magnitude cheaper than upsampling floats on the CPU, and
    visually the same.
    """
    if x.dim() == 4:
        x = x[0]
    rgb = x.detach().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    return resize_bgr(bgr, size)


def resize_bgr(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Resize ``H×W×3`` uint8 to ``size = (W, H)`` (area filter when shrinking, bilinear when enlarging)."""
    if size is None or (image.shape[1], image.shape[0]) == tuple(size):
        return image
    shrink = size[0] < image.shape[1]
    return cv2.resize(image, tuple(size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


# ---------------------------------------------------------------------------------------------- sources


class LiveSource:
    """A source read by a background thread into a one-frame mailbox.

    Subclasses implement :meth:`_grab` (return the next ``H×W×3`` uint8 BGR frame,
    or None at the end) and may set :attr:`pace_fps` to be played at a fixed rate.
    Use as a context manager, or call :meth:`start` and :meth:`close`.
    """

    #: Human-readable description (for messages).
    description: str = "?"
    #: Frames per second to play at (files); None = as fast as the source delivers (cameras, streams).
    pace_fps: float | None = None

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._slot: LiveFrame | None = None
        self._taken_index = -1
        self._finished = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.captured = 0  # frames delivered by the source
        self.dropped = 0  # frames overwritten before the consumer took them

    # -- to implement
    def _grab(self) -> np.ndarray | None:
        raise NotImplementedError

    def _release(self) -> None:
        """Free the device (called once, on the capture thread's exit)."""

    def _timestamp(self, index: int) -> float | None:
        """Media time of frame ``index`` in seconds (files: pacing follows it, VFR included)."""
        return index / self.pace_fps if self.pace_fps else None

    # -- lifecycle
    def start(self) -> LiveSource:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"capture {self.description}", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        elif not self._finished:  # never started: the capture thread will not release the device
            self._finished = True
            with contextlib.suppress(Exception):
                self._release()

    def __enter__(self) -> LiveSource:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        index, t0 = 0, None
        try:
            while not self._stop.is_set():
                image = self._grab()
                if image is None:
                    break
                media_t = self._timestamp(index)
                if media_t is not None:
                    # Play files in real time: wait until the frame is due. When decoding
                    # fell behind (a stall), restart the schedule from now instead of
                    # bursting through the late frames to catch up — as a camera would.
                    now = time.perf_counter()
                    if t0 is None or t0 + media_t < now - LATE_RESYNC:
                        t0 = now - media_t
                    delay = t0 + media_t - now
                    if delay > 0 and self._stop.wait(delay):
                        break
                self._publish(LiveFrame(image, time.perf_counter(), index))
                index += 1
        except BaseException as e:  # noqa: BLE001 - handed to the consumer thread
            self._error = e
        finally:
            with contextlib.suppress(Exception):
                self._release()
            with self._cond:
                self._finished = True
                self._cond.notify_all()

    def _publish(self, frame: LiveFrame) -> None:
        with self._cond:
            if self._slot is not None and self._slot.index > self._taken_index:
                self.dropped += 1  # the consumer never saw it: stale, replaced by the newer frame
            self._slot = frame
            self.captured += 1
            self._cond.notify_all()

    # -- consumer side
    @property
    def finished(self) -> bool:
        """The source has ended (file end, device lost) and its last frame was taken."""
        with self._cond:
            return self._finished and (self._slot is None or self._slot.index <= self._taken_index)

    def read(self, timeout: float | None = None) -> LiveFrame | None:
        """The newest frame not returned before, waiting for one if needed.

        Returns None when the source has ended (or ``timeout`` seconds passed without a frame).

        Raises:
            MediaError: the capture thread failed.
        """
        deadline = None if timeout is None else time.perf_counter() + timeout
        with self._cond:
            while True:
                if self._error is not None:
                    raise MediaError(f"{self.description}: capture failed: {self._error}") from self._error
                if self._slot is not None and self._slot.index > self._taken_index:
                    self._taken_index = self._slot.index
                    return self._slot
                if self._finished or self._stop.is_set():
                    return None
                remaining = None if deadline is None else deadline - time.perf_counter()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining if remaining is not None else 0.5)


class CaptureSource(LiveSource):
    """Any ``cv2.VideoCapture``: camera, device path, stream URL or file.

    Args:
        capture: an opened capture.
        description: what it is, for messages (``camera 0``, ``file clip.mp4``…).
        is_file: play at the file's frame rate (following its timestamps) instead of as fast as decoded.
        loop: for files, start again at the end (benchmarks, installations).
    """

    def __init__(self, capture: cv2.VideoCapture, description: str, is_file: bool = False, loop: bool = False) -> None:
        super().__init__()
        self.capture = capture
        self.description = description
        self.is_file = is_file
        self.loop = loop and is_file
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and math.isfinite(fps) and 0 < fps < 1000 else None
        if is_file:
            self.pace_fps = self.fps or 25.0
        self.width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self._loop_offset = 0.0  # media time at which the current pass over the file started
        self._last_media_t = 0.0
        self._pending: np.ndarray | None = None

    def _grab(self) -> np.ndarray | None:
        if self._pending is not None:  # the frame read by prime()
            image, self._pending = self._pending, None
            return image
        ok, image = self.capture.read()
        if not ok and self.loop:
            self._loop_offset = self._last_media_t + 1.0 / (self.pace_fps or 25.0)
            self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self.capture.read()
        return image if ok else None

    def _timestamp(self, index: int) -> float | None:
        if not self.is_file:
            return None
        # Follow the file's own timestamps (VFR clips stay VFR); fall back to index/fps.
        pos = self.capture.get(cv2.CAP_PROP_POS_MSEC)
        if pos is not None and math.isfinite(pos) and pos >= 0:
            media_t = self._loop_offset + pos / 1000.0
        else:
            media_t = index / (self.pace_fps or 25.0)
        media_t = max(media_t, self._last_media_t)
        self._last_media_t = media_t
        return media_t

    def prime(self, timeout: float = FIRST_FRAME_TIMEOUT) -> bool:
        """Read the first frame synchronously (cameras that open but never deliver are busy or broken)."""
        result: list[np.ndarray | None] = [None]

        def first() -> None:
            ok, image = self.capture.read()
            result[0] = image if ok else None

        t = threading.Thread(target=first, daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive() or result[0] is None:
            return False
        self._pending = result[0]
        self.height, self.width = result[0].shape[:2]
        return True

    def _release(self) -> None:
        self.capture.release()


def parse_source(spec: str | int) -> tuple[str, str | int]:
    """Classify a ``--source``: ``("camera", 0)``, ``("device", "/dev/video2")``, ``("url", "rtsp://…")`` or ``("file", path)``."""
    if isinstance(spec, int):
        return "camera", spec
    text = str(spec).strip()
    if text.isdigit():
        return "camera", int(text)
    if "://" in text:
        return "url", text
    if text.startswith("/dev/"):
        return "device", text
    return "file", text


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own warnings while probing devices (we print one clear line instead)."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


def _present_cameras() -> str:
    devices = sorted(glob.glob("/dev/video*"))
    if sys.platform.startswith("linux"):
        return f"video devices present: {', '.join(devices)}" if devices else "no /dev/video* devices are present"
    return "check that a camera is connected and allowed for this program"


def _camera_attempts(kind: str, target: str | int) -> list[tuple[str, str | int, int]]:
    """(description, argument, backend) pairs to try for a camera index or device path, most specific first."""
    attempts: list[tuple[str, str | int, int]] = []
    if sys.platform.startswith("linux"):
        path = f"/dev/video{target}" if kind == "camera" else str(target)
        attempts.append((f"{path} with V4L2", target, cv2.CAP_V4L2))
    elif sys.platform == "darwin":
        attempts.append((f"index {target} with AVFoundation", target, cv2.CAP_AVFOUNDATION))
    elif sys.platform.startswith("win"):
        attempts.append((f"index {target} with DirectShow", target, cv2.CAP_DSHOW))
        attempts.append((f"index {target} with Media Foundation", target, cv2.CAP_MSMF))
    attempts.append((f"{'index ' if kind == 'camera' else ''}{target} with any backend", target, cv2.CAP_ANY))
    return attempts


def open_source(spec: str | int, loop: bool = False, first_frame_timeout: float = FIRST_FRAME_TIMEOUT,
                request_size: tuple[int, int] | None = None) -> CaptureSource:
    """Open ``--source`` (camera index, device path, URL or video file) and check it delivers a frame.

    Args:
        spec: see :func:`parse_source`.
        loop: replay a file from the start when it ends.
        first_frame_timeout: seconds to wait for the first frame of a camera or stream.
        request_size: ``(width, height)`` to ask a camera for (files and streams keep theirs).

    Returns a source that is not started yet (use it as a context manager).

    Raises:
        MediaError: missing file, unknown or busy camera, unreachable stream — one line
        saying what was tried.
    """
    kind, target = parse_source(spec)
    if kind == "file":
        path = Path(target)
        if not path.exists():
            raise MediaError(f"source {target!r} is not a camera index, device, URL or existing file; "
                             "give e.g. --source 0 for the first camera or a video file path")
        if path.is_dir():
            raise MediaError(f"source {path} is a directory; give a video file")
        with _quiet_opencv():
            cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        source = CaptureSource(cap, f"file {path}", is_file=True, loop=loop)
        if not cap.isOpened() or not source.prime(first_frame_timeout):
            source._release()
            raise MediaError(f"cannot decode video file {path}; is it a video OpenCV/FFmpeg can read?")
        return source

    if kind == "url":
        with _quiet_opencv():
            cap = cv2.VideoCapture(str(target), cv2.CAP_FFMPEG)
        source = CaptureSource(cap, f"stream {target}")
        if not cap.isOpened() or not source.prime(first_frame_timeout):
            source._release()
            raise MediaError(f"cannot open stream {target} (tried FFmpeg, waited {first_frame_timeout:g} s for a frame); "
                             "check the URL and that the stream is live")
        return source

    tried, busy = [], False
    if kind == "device" and sys.platform.startswith("linux") and not Path(str(target)).exists():
        raise MediaError(f"cannot open camera {target}: the device does not exist; {_present_cameras()}")
    for what, arg, backend in _camera_attempts(kind, target):
        device_path = Path(f"/dev/video{target}" if kind == "camera" else str(target))
        if backend == cv2.CAP_V4L2 and not device_path.exists():
            tried.append(f"{what} (no such device)")
            continue
        with _quiet_opencv():
            cap = cv2.VideoCapture(arg, backend)
        if not cap.isOpened():
            cap.release()
            if backend == cv2.CAP_V4L2:  # the device is there but refused us
                busy = True
            tried.append(f"{what} (failed to open)")
            continue
        if request_size is not None:  # ask the camera for the display size (it may pick the nearest mode)
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, request_size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, request_size[1])
        source = CaptureSource(cap, f"camera {target}")
        if source.prime(first_frame_timeout):
            return source
        source._release()
        busy = True
        tried.append(f"{what} (opened, but no frame within {first_frame_timeout:g} s)")
    hint = "is it in use by another program, or not readable by this user?" if busy else _present_cameras()
    raise MediaError(f"cannot open camera {target}: tried {'; '.join(tried)}; {hint}. "
                     "Use --source FILE to play a video file instead")


# ---------------------------------------------------------------------------------------------- sinks


def display_available() -> bool:
    """Whether a window can be shown: a display server on Linux/BSD, always on macOS and Windows."""
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


#: Opens and closes a window; run in a child process because a failure aborts the process.
_PROBE = "import cv2; cv2.namedWindow('vidstyle-probe'); cv2.waitKey(1); cv2.destroyAllWindows()"


def display_usable(timeout: float = 15.0) -> bool:
    """Whether a HighGUI window really opens, tested in a child process.

    ``DISPLAY`` may be set yet unusable (a stale value over SSH, a stopped X
    server); OpenCV's Qt backend then *aborts* the process instead of raising.
    The probe costs one Python start (about a second).
    """
    if not display_available():
        return False
    import subprocess

    _point_qt_at_system_fonts()
    try:
        result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


_KEYS = {27: KEY_ESC, 13: "enter", 32: "space"}


def _decode_key(code: int) -> str | None:
    if code < 0:
        return None
    code &= 0xFF
    return _KEYS.get(code) or (chr(code).lower() if 32 < code < 127 else None)


def _point_qt_at_system_fonts() -> None:
    """OpenCV's Qt build looks for fonts only inside its own package and complains on every window; use the system's."""
    if "QT_QPA_FONTDIR" not in os.environ:
        for folder in ("/usr/share/fonts/truetype", "/usr/share/fonts", "/usr/local/share/fonts"):
            if os.path.isdir(folder):
                os.environ["QT_QPA_FONTDIR"] = folder
                return


class WindowSink:
    """An OpenCV HighGUI window with a text overlay; also the source of key presses.

    Only build it when :func:`display_usable` is true.

    Raises:
        VidstyleError: there is no display (checked here too, because imshow would abort).
    """

    def __init__(self, title: str = "vidstyle") -> None:
        if not display_available():
            raise VidstyleError("no display (DISPLAY/WAYLAND_DISPLAY unset); run with --no-window")
        self.title = title
        _point_qt_at_system_fonts()
        try:
            # GUI_NORMAL: no Qt toolbar/status bar around the picture (OpenCV's Qt build adds them otherwise)
            cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
        except cv2.error as e:
            raise VidstyleError(f"cannot open a window ({e.msg.strip() or e}); run with --no-window") from None
        self.closed = False

    def show(self, image: np.ndarray, overlay: list[str] = ()) -> None:
        """Show ``H×W×3`` uint8 BGR with ``overlay`` lines drawn top-left (in place)."""
        if overlay:
            draw_overlay(image, overlay)
        cv2.imshow(self.title, image)

    def poll_key(self) -> str | None:
        """Process window events for 1 ms and return the key pressed, if any ('q', 'esc', …)."""
        key = _decode_key(cv2.waitKey(1))
        with contextlib.suppress(cv2.error):  # the user closed the window with its close button
            if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
                self.closed = True
                return KEY_ESC
        return key

    def close(self) -> None:
        with contextlib.suppress(cv2.error):
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)


def draw_overlay(image: np.ndarray, lines: list[str], scale: float | None = None) -> np.ndarray:
    """Draw text ``lines`` top-left on ``image`` (``H×W×3`` uint8 BGR, in place) over a darkened band."""
    h, w = image.shape[:2]
    scale = scale or max(0.35, min(1.0, w / 1280))
    line_h = int(22 * scale / 0.6)
    box_w = min(w, int(max(len(s) for s in lines) * 11 * scale / 0.6) + 12)
    box_h = min(h, line_h * len(lines) + 8)
    band = image[:box_h, :box_w]
    band //= 2  # darken (in place) so the text reads on any picture
    for i, text in enumerate(lines):
        cv2.putText(image, text, (6, line_h * (i + 1)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return image


class RecordSink:
    """Writes the frames of a live stream with their capture times to a video file.

    The file gets the timing of the *live* stream: ``pts`` are capture times in
    milliseconds since the first recorded frame (time base 1/1000), so a recording
    plays back at the speed it happened, gaps included. Conversion and encoding run
    in a background thread; when the encoder falls behind, :meth:`write` blocks (the
    live loop slows down and the capture drops frames instead), so the file holds
    exactly the frames that were shown. Written atomically through
    :class:`~vidstyle.media.writer.VideoWriter` (never half a file; no overwrite
    without ``force``).

    Args:
        path: output video (``.mp4``, ``.mkv``…).
        size: ``(width, height)`` of the frames.
        fps: nominal frame rate written into the container (the pts carry the real timing).
        force: overwrite an existing file.
        codec, crf, preset: encoder settings (a fast preset keeps up with live rates).
        max_queue: frames buffered for the encoder thread.
    """

    def __init__(self, path: str | Path, size: tuple[int, int], fps: float = 30.0, force: bool = False,
                 codec: str = LiveConfig.record_codec, crf: int = LiveConfig.record_crf,
                 preset: str = LiveConfig.record_preset, max_queue: int = 4) -> None:
        from .frames import VideoInfo
        from .writer import VideoWriter

        self.path = Path(path)
        self.size = tuple(size)
        width, height = size
        self.info = VideoInfo(path=self.path, width=width, height=height, source_width=width, source_height=height,
                              fps=Fraction(fps).limit_denominator(1001), time_base=Fraction(1, 1000),
                              frame_count=None, duration=None, rotation=0, has_audio=False, codec=codec,
                              is_sequence=False)
        self._writer = VideoWriter(self.path, self.info, codec=codec, crf=crf, preset=preset, audio=False,
                                   force=force, threaded=False)
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._error: BaseException | None = None
        self._t0: float | None = None
        self.pts: list[int] = []
        self._thread = threading.Thread(target=self._run, name="vidstyle-record", daemon=True)
        self._thread.start()

    @property
    def frames(self) -> int:
        return len(self.pts)

    def write(self, image: np.ndarray, captured: float) -> None:
        """Queue one ``H×W×3`` uint8 BGR frame (at ``size``) captured at ``captured`` (``perf_counter`` seconds).

        Raises:
            MediaError: encoding failed.
        """
        if self._error is not None:
            raise MediaError(f"recording {self.path} failed: {self._error}") from self._error
        if (image.shape[1], image.shape[0]) != self.size:
            raise ValueError(f"frame is {image.shape[1]}x{image.shape[0]}, the recording {self.size[0]}x{self.size[1]}")
        if self._t0 is None:
            self._t0 = captured
        pts = round((captured - self._t0) * 1000)
        if self.pts and pts <= self.pts[-1]:
            pts = self.pts[-1] + 1  # strictly increasing, as encoders require
        self._queue.put((image, pts))
        self.pts.append(pts)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # keep draining so write() never blocks forever
            image, pts = item
            try:
                self._writer.write(frame_to_tensor(image), [pts])
            except BaseException as e:  # noqa: BLE001 - reported by write()/close() in the caller's thread
                self._error = e

    def close(self, abort: bool = False) -> None:
        """Finish the file, or with ``abort`` discard it (the target is left untouched).

        Raises:
            MediaError: encoding failed, or no frame was recorded (no file is left then).
        """
        self._queue.put(None)
        self._thread.join()
        error = self._error
        if error is None and not abort and not self.pts:
            error = MediaError(f"{self.path}: no frames were recorded")
        if abort or error is not None:
            reason = error or KeyboardInterrupt()
            self._writer.__exit__(type(reason), reason, None)
            if error is not None and not abort:
                raise error if isinstance(error, MediaError) else MediaError(
                    f"recording {self.path} failed: {error}") from error
            return
        self._writer.close()


class TerminalKeys:
    """Single key presses from the terminal (headless mode), without Enter, when stdin is a TTY.

    A context manager: switches the terminal to cbreak mode and restores it on exit.
    Returns None from :meth:`poll` when no key is waiting or stdin is not a terminal.
    """

    def __init__(self) -> None:
        self._fd: int | None = None
        self._saved = None

    def __enter__(self) -> TerminalKeys:
        try:
            import termios
            import tty

            if sys.stdin.isatty():
                self._fd = sys.stdin.fileno()
                self._saved = termios.tcgetattr(self._fd)
                tty.setcbreak(self._fd)
        except (ImportError, OSError, ValueError):  # Windows, or stdin replaced (tests)
            self._fd = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None and self._saved is not None:
            import termios

            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)

    def poll(self) -> str | None:
        if self._fd is None or not select.select([self._fd], [], [], 0)[0]:
            return None
        char = os.read(self._fd, 1)
        return _decode_key(char[0]) if char else None
