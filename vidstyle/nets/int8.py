"""int8 inference on the CPU: onnxruntime static quantisation of our per-frame networks, calibrated on real frames.

Every network run per frame on the CPU (the feed-forward nets, the style-embedding generator) has an fp32 ONNX
export cached per weight file (:func:`vidstyle.nets.onnx.cached_onnx`). :func:`cached_int8` quantises that graph
once — QDQ format, int8 weights per output channel, uint8 activations with ranges calibrated on real frames
(:func:`calibration_frames`: frames of the bundled sample clip and photo) — and keeps only the convolutions in
int8: instance norm, padding, resampling and the output sigmoid stay in float (the styles live in instance-norm
statistics; quantising them shifts colours). Next to the cached graph a JSON report records what quantisation
cost on the calibration frames (max and mean |Δ| against fp32) and what it bought (fp32 and int8 ms on one
frame, measured at build time), the CPU's int8 features and onnxruntime's version.

``precision`` (``--precision``): ``fp32``; ``int8`` (a one-line note and fp32 when the CPU has no int8 dot-product
kernels: onnxruntime's int8 convolutions need AVX2, AVX-512 VNNI / AVX-VNNI or AMX on x86, dot-product NEON on
Arm); ``auto`` — int8 when the report shows it within :data:`AUTO_MAX_MEAN_ABS` of fp32 *and* at least
:data:`AUTO_MIN_SPEEDUP` faster, else fp32. Measured per network in benchmarks/RESULTS.md ("int8").
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import VidstyleError
from ..media.atomic import replacing, temp_path

#: ``--precision`` choices (``bf16``: :mod:`vidstyle.nets.bf16`; the CLI's list comes from ``VideoConfig.precision``).
PRECISIONS = ("auto", "fp32", "bf16", "int8")
#: ``auto`` takes int8 only when its mean |Δ| against fp32 on the calibration frames is at most this (~2.5/255) …
AUTO_MAX_MEAN_ABS = 0.01
#: … and it ran at least this much faster than fp32 when the graph was built.
AUTO_MIN_SPEEDUP = 1.15
#: Bumped when the quantisation recipe changes (cached graphs of older recipes are rebuilt).
RECIPE_VERSION = 1
#: Long side of the calibration frames.
CALIBRATION_SIZE = 384

_X86_INT8 = ("amx_int8", "avx512_vnni", "avx_vnni", "avx2")


def int8_features() -> list[str]:
    """The CPU's int8 dot-product features onnxruntime can use, best first (empty: none known).

    Read from ``/proc/cpuinfo`` on Linux (x86 flags, Arm ``asimddp``); on other systems an x86-64 or arm64
    machine is assumed to have AVX2 / dot-product NEON.
    """
    from ..device import cpu_flags

    flags = cpu_flags()
    if flags is None:
        machine = platform.machine().lower()
        return ["avx2"] if machine in ("x86_64", "amd64") else ["asimddp"] if machine in ("arm64", "aarch64") else []
    return [f for f in (*_X86_INT8, "asimddp") if f in flags]


def calibration_frames(size: int = CALIBRATION_SIZE) -> list[torch.Tensor]:
    """Real frames for activation ranges: 6 frames spread over ``samples/carphone_qcif.mp4`` and ``samples/chelsea.png``,
    each ``1×3×H×W`` in [0, 1] with long side ``size`` (the sample clip is upscaled: ranges, not detail, matter).

    Falls back to the shipped style images (``models/*.style.jpg``) when the samples are not installed (a wheel).
    """
    from ..media.image import load_image
    from ..weights import models_dir

    root = Path(__file__).resolve().parents[2] / "samples"
    frames: list[torch.Tensor] = []
    clip = root / "carphone_qcif.mp4"
    if clip.is_file():
        from ..media.reader import open_frames

        with open_frames(clip, batch_size=1) as reader:
            decoded = [b.frames for b in reader]
        frames += [decoded[i] for i in np.linspace(0, len(decoded) - 1, 5).round().astype(int)]
    photos = [root / "chelsea.png"] if (root / "chelsea.png").is_file() else sorted(models_dir().glob("*.style.jpg"))
    frames += [load_image(p) for p in photos]
    out = []
    for f in frames:
        h, w = f.shape[-2:]
        s = size / max(h, w)
        out.append(F.interpolate(f, size=(max(8, round(h * s)), max(8, round(w * s))), mode="bilinear",
                                 align_corners=False, antialias=s < 1).clamp(0, 1))
    return out


@dataclass(frozen=True)
class Int8Report:
    """What quantising one network cost and bought (measured when its graph was built)."""

    mean_abs: float  # mean |int8 − fp32| over the calibration frames, [0, 1] RGB
    max_abs: float
    fp32_ms: float  # one calibration frame, median of 3, intra-op threads = torch's
    int8_ms: float
    features: tuple[str, ...]
    onnxruntime: str

    @property
    def speedup(self) -> float:
        return self.fp32_ms / max(self.int8_ms, 1e-9)

    def acceptable(self) -> bool:
        """Within :data:`AUTO_MAX_MEAN_ABS` of fp32 and at least :data:`AUTO_MIN_SPEEDUP` faster."""
        return self.mean_abs <= AUTO_MAX_MEAN_ABS and self.speedup >= AUTO_MIN_SPEEDUP

    def line(self) -> str:
        return (f"int8 {self.int8_ms:.0f} ms vs fp32 {self.fp32_ms:.0f} ms ({self.speedup:.2f}×), mean |Δ| "
                f"{self.mean_abs:.4f}, max {self.max_abs:.3f} on the calibration frames")


def _feeds(session, frame: torch.Tensor, extra: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    from .transformer import pad_for_net

    names = [i.name for i in session.get_inputs()]
    feeds = {names[0]: pad_for_net(frame.float()).contiguous().numpy()}
    feeds.update({k: v.float().contiguous().numpy() for k, v in extra.items()})
    return feeds


def quantise(fp32: Path, out: Path, frames: list[torch.Tensor],
             extra: list[dict[str, torch.Tensor]] | None = None) -> Int8Report:
    """Quantise the graph ``fp32`` into ``out`` (written atomically) calibrated on ``frames``; measure the result.

    Args:
        fp32: an ``.onnx`` written by :func:`vidstyle.nets.onnx.export_onnx`.
        out: the int8 graph to write; its report goes to ``out`` with suffix ``.json``.
        frames: calibration frames, each ``1×3×H×W`` in [0, 1].
        extra: per frame, the graph's further inputs (e.g. ``{"style": 1×100}``); default none.
    """
    try:
        import onnxruntime as ort
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    except ImportError:
        raise VidstyleError("int8 needs onnxruntime (pip install onnxruntime)") from None
    extras = extra or [{} for _ in frames]
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = torch.get_num_threads(), 1
    reference = ort.InferenceSession(str(fp32), options, providers=["CPUExecutionProvider"])
    feeds = [_feeds(reference, f, e) for f, e in zip(frames, extras)]

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(feeds)

        def get_next(self):  # noqa: ANN202 - onnxruntime's protocol
            return next(self._it, None)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(out)
    try:
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # its "consider pre-processing" advice, printed on every call
        try:
            quantize_static(str(fp32), str(tmp), _Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            op_types_to_quantize=["Conv"], activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)
        session = ort.InferenceSession(str(tmp), options, providers=["CPUExecutionProvider"])
        diffs = [np.abs(_sigmoid_safe(session.run(None, f)[0]) - _sigmoid_safe(reference.run(None, f)[0]))
                 for f in feeds]
        fp32_ms, int8_ms = _time(reference, feeds[0]), _time(session, feeds[0])
        report = Int8Report(mean_abs=float(np.mean([d.mean() for d in diffs])),
                            max_abs=float(max(d.max() for d in diffs)), fp32_ms=fp32_ms, int8_ms=int8_ms,
                            features=tuple(int8_features()), onnxruntime=ort.__version__)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    _write_report(out, report)
    return report


def _sigmoid_safe(y: np.ndarray) -> np.ndarray:
    return np.clip(y, 0.0, 1.0)  # the graphs end in a sigmoid already; clip guards the comparison only


def _time(session, feeds: dict[str, np.ndarray], repeats: int = 3) -> float:
    session.run(None, feeds)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def _report_path(graph: Path) -> Path:
    return graph.with_suffix(".json")


def _write_report(graph: Path, report: Int8Report) -> None:
    path = _report_path(graph)
    data = {**report.__dict__, "features": list(report.features), "recipe": RECIPE_VERSION}
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1))


def read_report(graph: Path) -> Int8Report | None:
    """The report beside a cached int8 graph, or None (missing, unreadable or of an older recipe)."""
    try:
        data = json.loads(_report_path(graph).read_text())
        if data.pop("recipe", None) != RECIPE_VERSION:
            return None
        data["features"] = tuple(data["features"])
        return Int8Report(**data)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def cached_int8(fp32: Path, key: str, extra: Callable[[int], list[dict[str, torch.Tensor]]] | None = None
                ) -> tuple[Path, Int8Report]:
    """The int8 graph of ``fp32`` beside it in the cache (quantised once per ``key``) and its report.

    ``key`` names the weights (their SHA-256); ``extra(n)``: the further inputs for ``n`` calibration frames
    (e.g. style embeddings for the style-embedding generator), called only when quantising.
    """
    out = fp32.with_name(f"{key[:16]}-int8-r{RECIPE_VERSION}.onnx")
    report = read_report(out) if out.is_file() else None
    if report is None:
        frames = calibration_frames()
        report = quantise(fp32, out, frames, extra(len(frames)) if extra is not None else None)
    return out, report


def resolve_precision(precision: str, device: torch.device, report_of: Callable[[], Int8Report]) -> tuple[str, str]:
    """``(fp32 | int8, note)`` for a network; ``report_of()`` builds (or reads) its :class:`Int8Report` on demand.

    Raises:
        VidstyleError: an unknown precision.
    """
    if precision not in PRECISIONS:
        raise VidstyleError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if precision in ("fp32", "bf16"):  # bf16 is the torch backend's (vidstyle.nets.bf16), never a graph's
        return "fp32", ""
    if device.type != "cpu":
        note = "int8 runs on the CPU only; using fp32" if precision == "int8" else ""
        return "fp32", note
    if not int8_features():
        note = "this CPU has no int8 dot-product kernels (AVX2/VNNI/AMX or NEON dot); using fp32"
        return "fp32", note if precision == "int8" else ""
    report = report_of()
    if precision == "int8":
        return "int8", report.line()
    if report.acceptable():
        return "int8", f"auto → {report.line()}"
    return "fp32", f"auto kept fp32: {report.line()}"


def int8_graph(fp32: Path, key: str, precision: str, device: torch.device,
               extra: Callable[[int], list[dict[str, torch.Tensor]]] | None = None) -> tuple[Path, str, str]:
    """The graph to run for ``precision``: ``(path, "fp32" | "int8", note)``; quantises on first use
    (``extra`` as in :func:`cached_int8`)."""
    def report() -> Int8Report:
        return cached_int8(fp32, key, extra)[1]

    kind, note = resolve_precision(precision, device, report)
    if kind == "int8":
        return cached_int8(fp32, key)[0], kind, note
    return fp32, kind, note


__all__ = ["AUTO_MAX_MEAN_ABS", "AUTO_MIN_SPEEDUP", "PRECISIONS", "Int8Report", "cached_int8", "calibration_frames",
           "int8_features", "int8_graph", "quantise", "read_report", "resolve_precision"]
