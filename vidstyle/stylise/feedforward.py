"""Fast stylisation with a trained feed-forward network (Johnson et al.; the project's shipped models).

One forward pass per frame: batches go through the device as they come, in fp16
autocast on CUDA and ``inference_mode`` everywhere. The torch backend runs the network
with its upsampling and output convs in exact faster forms (:mod:`vidstyle.nets.fused`).
``torch.compile`` is opt-in (``compile=True``): it costs seconds of compilation per new
input shape, so it pays back only for clips of many frames (see benchmarks/RESULTS.md,
"Feed-forward networks").
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..config import BACKENDS  # the choices of ``backend`` (re-exported)
from ..device import compile_for_inference, resolve_device
from ..errors import VidstyleError
from ..nets.bf16 import Bf16Net
from ..nets.fused import fuse_for_inference
from ..nets.tiling import run_network
from ..nets.transformer import load_transformer
from ..weights import find_model_for_style
from .base import FrameState, Styliser, TemporalMode
from .registry import BuildRequest


def resolve_precision(precision: str, backend: str, device: torch.device, compile: bool) -> tuple[str, str, str]:
    """``(precision, backend, note)`` a feed-forward or style-embedding network runs with.

    bf16 (:func:`vidstyle.nets.bf16.bf16_choice`) runs on the torch backend; without native bf16 it becomes fp32
    with a note. Otherwise ``backend`` is resolved by :func:`pick_backend` and the returned precision (``fp32``,
    ``int8`` or ``auto``) is left for the onnxruntime graph (:func:`vidstyle.nets.int8.int8_graph`) to settle.

    Raises:
        VidstyleError: bf16 with ``--backend onnx``, or int8 on the CPU with a backend other than onnx.
    """
    from ..nets.bf16 import bf16_choice

    if precision == "bf16" and backend == "onnx":
        raise VidstyleError("bf16 runs on the torch backend; use --backend torch (or auto) with --precision bf16")
    bf16, note = bf16_choice(precision, device, backend)
    if bf16:
        return "bf16", "torch", note
    precision = "fp32" if precision == "bf16" else precision  # no native bf16: fp32, noted
    backend = pick_backend(backend, device, compile and precision == "fp32")
    if precision == "int8" and backend != "onnx" and device.type == "cpu":
        raise VidstyleError("int8 runs through onnxruntime; use --backend onnx (or auto) with --precision int8")
    return precision, backend, note


def backend_label(backend: str, precision: str, compiled: bool) -> str:
    """The method line's note on how a network runs: `` (onnxruntime, int8)``, `` (torch, bf16)``,
    `` (torch.compile)`` or nothing for eager fp32 torch."""
    if backend == "onnx":
        return f" (onnxruntime, {precision})"
    if precision == "bf16":
        return f" ({'torch.compile' if compiled else 'torch'}, bf16)"
    return " (torch.compile)" if compiled else ""


def pick_backend(backend: str, device: torch.device, compile: bool = False) -> str:
    """Resolve ``auto`` on the CPU: torch when the network is to be compiled (long clips: fused + compiled was
    the fastest per frame, 1.5–1.75× the eager reference), else onnxruntime when installed (1.43–1.54×, 1.1–1.3×
    faster than uncompiled torch, no compilation wait; benchmarks/RESULTS.md, "Feed-forward speed: fused
    layers"). CUDA: torch."""
    if backend != "auto":
        return backend
    from ..nets.onnx import onnx_available

    return "onnx" if device.type == "cpu" and not compile and onnx_available() else "torch"


class FeedForwardStyliser(Styliser):
    """Stylise frames with a shipped/trained model.

    Args:
        model: a model name (``starry-night``, ``starry-night-lite``) or a ``.safetensors`` path
            (its JSON card must sit beside it; the checksum is verified).
        device: ``auto``, ``cpu``, ``cuda``…
        internal_size: run the network at this long side and upsample the result (lite models
            in real time); None runs at the input size.
        compile: wrap the network in ``torch.compile`` (worth it only for many frames of one size).
        backend: ``torch`` (default), ``onnx`` — onnxruntime on the CPU (exported once per weight file
            to ``~/.cache/vidstyle/onnx``) — or ``auto`` (:func:`pick_backend`).
        precision: ``fp32``, ``bf16`` (:mod:`vidstyle.nets.bf16`: torch on a CPU with native bf16), ``int8``
            (:mod:`vidstyle.nets.int8`: onnxruntime) or ``auto`` — bf16 where the CPU has it, else int8 where
            quantisation measured faster and close enough; ``precision_note`` says what was chosen and why.
        scale: ``--style-scale``: the network runs at the frame's size ÷ ``scale`` (after ``internal_size``) and is
            resized back, so strokes are ``scale``× larger relative to the output.
        tile: tiled inference (:mod:`vidstyle.nets.tiling`): None = auto (from 2560×1440 up), 0 = never, N = tiles
            of N px. Tiles always run on the eager (fused) torch network, whatever the backend.
    """

    temporal_mode = TemporalMode.PER_FRAME  # frame-by-frame; the pipeline may blend with flow on top

    def __init__(self, model: str | Path, device: str | torch.device = "cpu", internal_size: int | None = None,
                 compile: bool = False, backend: str = "torch", precision: str = "fp32", scale: float = 1.0,
                 tile: int | None = None) -> None:
        self.device = resolve_device(str(device)) if not isinstance(device, torch.device) else device
        self.net, self.card = load_transformer(model, device=self.device)
        self.name = self.card.get("name", str(model))
        self.internal_size, self.scale, self.tile = internal_size, float(scale), tile
        if backend not in BACKENDS:
            raise VidstyleError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
        precision, self.backend, self.precision_note = resolve_precision(precision, backend, self.device, compile)
        bf16 = precision == "bf16"
        self.precision = "bf16" if bf16 else "fp32"  # the onnx graph below may make it int8
        if self.backend == "onnx":
            if self.device.type != "cpu":
                raise VidstyleError("the onnx backend runs on the CPU; use --device cpu or --backend torch")
            from ..nets.int8 import int8_graph
            from ..nets.onnx import OnnxNet, cached_onnx

            key = self.card["weights"]["sha256"]
            path, self.precision, self.precision_note = int8_graph(cached_onnx(self.net, key), key, precision,
                                                                    self.device)
            self._untiled = OnnxNet(path)
            self._fused: torch.nn.Module | None = None  # made when a frame needs tiles
        else:
            # bf16 runs the plain net (faster there than the fused forms, vidstyle.nets.bf16); tiles run the fp32 fused
            # net, made when a frame needs them (_forward)
            self._fused = None if bf16 else fuse_for_inference(self.net)
            untiled = Bf16Net(self.net) if bf16 else self._fused
            self._untiled = compile_for_inference(untiled) if compile else untiled

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._fused is None and self._needs_tiles(x):
            self._fused = fuse_for_inference(self.net)
        fused = self._fused
        return run_network(fused if fused is not None else self._untiled, x, net=fused, scale=self.scale,
                           internal_size=self.internal_size, tile=self.tile, untiled=self._untiled)

    def _needs_tiles(self, x: torch.Tensor) -> bool:
        from ..nets.tiling import scaled_size, should_tile

        return should_tile(*scaled_size(*x.shape[-2:], self.scale, self.internal_size), self.tile) is not None

    @torch.inference_mode()
    def stylise(self, frames: torch.Tensor, state: FrameState | None = None) -> torch.Tensor:
        """``N×3×H×W`` RGB [0, 1] → stylised, same shape, on the input's device."""
        x = frames.to(self.device, torch.float32)
        if self.device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.float16):
                y = self._forward(x)
        else:  # one frame at a time: on 2 CPU cores the full net costs 88 ms/frame in batches of 1 against 131 in
            # batches of 4 at 640×360 (bf16; fp32 367 vs 492 — benchmarks/RESULTS.md, "bf16 keeps the channels-last
            # layout"), and a compiled net then sees one input shape
            y = torch.cat([self._forward(f) for f in x.split(1)])
        return y.float().clamp_(0, 1).to(frames.device)


# ---------------------------------------------------------------- registration


def trained_steps(model: str | Path) -> int:
    """Training steps a model's card records on its own style (``training.style_steps``: a parent from ``--init``
    counts only when it was trained on the same painting); 0 when unknown."""
    from ..train.loop import style_steps
    from ..weights import read_card, resolve_model

    try:
        return style_steps(read_card(resolve_model(model)))
    except (VidstyleError, OSError, ValueError, TypeError):
        return 0


def shipped_model(request: BuildRequest) -> str | None:
    """A shipped feed-forward model trained on the request's (single) style image, if any."""
    if len(request.styles) != 1 or isinstance(request.styles[0], torch.Tensor):
        return None
    return find_model_for_style(request.styles[0])


def can_serve_fast(request: BuildRequest) -> str | None:
    from ..config import MIN_AUTO_MODEL_STEPS

    if request.model is not None:
        return None
    model = shipped_model(request)
    if model is None:
        return f"no shipped model is trained on {request.style_names() or 'this style'}"
    steps = trained_steps(model)
    if steps < MIN_AUTO_MODEL_STEPS:
        return (f"shipped model {model} has only {steps} training steps, fewer than {MIN_AUTO_MODEL_STEPS} "
                f"(use --model {model} to force it)")
    return None


def build_fast(request: BuildRequest) -> tuple[Styliser, str]:
    model = request.model
    if model is None:
        model = shipped_model(request)
        if model is None:
            raise VidstyleError(f"no shipped model matches the style {request.style_names()}; "
                                "pass --model NAME (see `vidstyle models`) or use --method auto")
    device = torch.device(request.device)
    compile = request.compile and request.backend != "onnx"
    from ..config import OptimiseConfig

    optimise = request.optimise or OptimiseConfig()
    styliser = FeedForwardStyliser(model, device=device, backend=request.backend, compile=compile,
                                   precision=request.precision, scale=optimise.style_scale, tile=optimise.tile)
    where = backend_label(styliser.backend, styliser.precision, styliser.backend == "torch" and compile)
    note = f"; {styliser.precision_note}" if styliser.precision_note else ""
    side = tiled_side(optimise, request.frame_size, styliser.internal_size)
    if side is not None:  # tiles run on the eager fused network, whatever the backend
        where, note = "", ""
    return styliser, (f"fast: feed-forward network {styliser.name}{where}"
                      f"{network_notes(optimise, request.frame_size, styliser.internal_size)}{note}")


def tiled_side(optimise, frame_size: tuple[int, int] | None,  # noqa: ANN001 - an OptimiseConfig
               internal_size: int | None = None) -> int | None:
    """The tile side frames of ``frame_size`` (H, W) will be run in, or None (untiled, or the size is unknown)."""
    from ..nets.tiling import scaled_size, should_tile

    if frame_size is None:
        return None
    return should_tile(*scaled_size(*frame_size, optimise.style_scale, internal_size), optimise.tile)


def network_notes(optimise, frame_size: tuple[int, int] | None = None,  # noqa: ANN001 - an OptimiseConfig
                  internal_size: int | None = None, engine: str = "eager torch") -> str:
    """``", style scale 2 (network at ½ size)", ", tiles of 512 px"`` for a method line (empty at the defaults).

    With ``frame_size`` known, says whether those frames are tiled, and on what (``engine``): tiles always run on
    the eager network, since the instance-norm statistics they share are patched into its layers."""
    notes = ""
    if optimise.style_scale != 1:
        notes += f", style scale {optimise.style_scale:g} (network at 1/{optimise.style_scale:g} of the size)"
    side = tiled_side(optimise, frame_size, internal_size)
    if side is not None:
        notes += f", {frame_size[1]}×{frame_size[0]} frames in tiles of {side} px on {engine} (fp32)"  # type: ignore[index]
    elif optimise.tile == 0:
        notes += ", never tiled"
    elif optimise.tile is not None and frame_size is None:
        notes += f", tiles of {optimise.tile} px when larger"
    return notes


__all__ = ["BACKENDS", "FeedForwardStyliser", "find_model_for_style", "pick_backend"]
