"""Fast stylisation with a trained feed-forward network (Johnson et al.; the project's shipped models).

One forward pass per frame: batches go through the device as they come, in fp16
autocast on CUDA and ``inference_mode`` everywhere. ``torch.compile`` is opt-in
(``compile=True``): on these CPUs inductor was faster only for long clips at a
fixed size, and costs seconds of compilation per new input shape (see
benchmarks/RESULTS.md, "Feed-forward networks").
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..device import compile_for_inference, resolve_device
from ..errors import VidstyleError
from ..models_registry import find_model_for_style, load_transformer
from ..nets.transformer import run_at_size
from .base import FrameState, Styliser


#: Inference backends of :class:`FeedForwardStyliser`.
BACKENDS = ("torch", "onnx")


class FeedForwardStyliser(Styliser):
    """Stylise frames with a shipped/trained model.

    Args:
        model: a model name (``starry-night``, ``starry-night-lite``) or a ``.safetensors`` path
            (its JSON card must sit beside it; the checksum is verified).
        device: ``auto``, ``cpu``, ``cuda``…
        internal_size: run the network at this long side and upsample the result (lite models
            in real time); None runs at the input size.
        compile: wrap the network in ``torch.compile`` (worth it only for many frames of one size).
        backend: ``torch`` (default) or ``onnx`` — onnxruntime on the CPU (exported once per weight file
            to ``~/.cache/vidstyle/onnx``; ~1.3× faster than eager at 1280×720 here, equal below).
    """

    temporal = False  # frame-by-frame; the pipeline may blend with flow on top

    def __init__(self, model: str | Path, device: str | torch.device = "cpu", internal_size: int | None = None,
                 compile: bool = False, backend: str = "torch") -> None:
        self.device = resolve_device(str(device)) if not isinstance(device, torch.device) else device
        self.net, self.card = load_transformer(model, device=self.device)
        self.name = self.card.get("name", str(model))
        self.internal_size = internal_size
        self._forward = self.net.stylise
        if backend not in BACKENDS:
            raise VidstyleError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
        if backend == "onnx":
            if self.device.type != "cpu":
                raise VidstyleError("the onnx backend runs on the CPU; use --device cpu or --backend torch")
            from ..nets.onnx import OnnxNet, cached_onnx

            self._forward = OnnxNet(cached_onnx(self.net, self.card["weights"]["sha256"])).stylise
        elif compile:
            compiled = compile_for_inference(self.net)
            self._forward = lambda x, internal_size=None: run_at_size(compiled, x, internal_size)

    @torch.inference_mode()
    def stylise(self, frames: torch.Tensor, state: FrameState | None = None) -> torch.Tensor:
        """``N×3×H×W`` RGB [0, 1] → stylised, same shape, on the input's device."""
        x = frames.to(self.device, torch.float32)
        if self.device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.float16):
                y = self._forward(x, internal_size=self.internal_size)
        else:
            y = self._forward(x, internal_size=self.internal_size)
        return y.float().clamp_(0, 1).to(frames.device)


__all__ = ["BACKENDS", "FeedForwardStyliser", "find_model_for_style"]
