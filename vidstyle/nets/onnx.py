"""ONNX export of the feed-forward networks, and an onnxruntime backend for them.

Measured on the project's 2-core CPU (benchmarks/RESULTS.md, "Feed-forward speed: fused layers"):
onnxruntime's CPU provider runs the fused graph (:mod:`.fused`) 1.1–1.3× faster than uncompiled
PyTorch with no per-size compilation, so it is the CPU path for clips too short to compile for.

* :func:`export_onnx`: ``TransformerNet`` → ``.onnx`` with dynamic batch/height/width (opset 18) of its
  fused inference form, written atomically, then checked against the unfused PyTorch network on a
  random frame when onnxruntime is present.
* :class:`OnnxNet`: an ``InferenceSession`` with the network's calling convention:
  ``N×3×H×W`` float32 RGB [0, 1] in, same shape in [0, 1] out (torch tensors, CPU).

``onnx`` (the exporter's dependency) and ``onnxruntime`` are core dependencies; the checks for them stay for trimmed installs.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from ..errors import VidstyleError
from .fused import fuse_for_inference
from .transformer import TransformerNet, pad_for_net, run_at_size

OPSET = 18
#: Bumped when the exported graph changes, so cached exports of older graphs are not reused.
GRAPH_VERSION = 3  # 2: fused upsampling and output convs (sizes baked in: broken); 3: fixed


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def onnx_available() -> bool:
    """Both the exporter (``onnx``) and ``onnxruntime`` are importable."""
    return _has("onnx") and _has("onnxruntime")


def _require(module: str) -> None:
    if not _has(module):
        raise VidstyleError(f"{module} is not installed (a dependency of vidstyle); pip install {module}")


def export_onnx(net: nn.Module, out: str | Path, force: bool = False, check: bool = True,
                extra_inputs: dict[str, torch.Tensor] | None = None) -> dict[str, float | str]:
    """Export ``net`` to ``out`` (``.onnx``); return ``{"path", "max_abs_diff"}`` (diff vs PyTorch, or NaN unchecked).

    ``extra_inputs``: further named inputs after the image (e.g. a style embedding ``1×100``), passed positionally to
    ``net``; their first axis is dynamic. The check feeds them random values of the same shape.

    Raises:
        VidstyleError: ``out`` exists without ``force``, ``onnx`` missing, or the export disagrees with PyTorch.
    """
    out = Path(out)
    if out.suffix != ".onnx":
        raise VidstyleError(f"the ONNX output must end in .onnx, got {out}")
    from ..media.atomic import check_output, temp_path

    check_output(out, force)  # exists without --force, folder missing or read-only: before exporting
    _require("onnx")
    net = net.cpu().eval()
    from .magenta import StyleTransformer, fuse_magenta

    graph = (fuse_for_inference(net) if isinstance(net, TransformerNet)
             else fuse_magenta(net) if isinstance(net, StyleTransformer) else net)
    extra = dict(extra_inputs or {})
    example = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    tmp = temp_path(out)  # unique: batch workers may export at once
    try:
        with warnings.catch_warnings():  # tracer chatter about the padding branch (handled by OnnxNet) and
            warnings.simplefilter("ignore")  # instance norm's train flag (it always uses instance statistics)
            torch.onnx.export(graph, (example, *extra.values()), str(tmp), input_names=["image", *extra],
                              output_names=["stylised"],
                              dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                                            "stylised": {0: "batch", 2: "height", 3: "width"},
                                            **{name: {0: "batch"} for name in extra}},
                              opset_version=OPSET, dynamo=False)
        diff = float("nan")
        if check and _has("onnxruntime"):
            gen = torch.Generator().manual_seed(1)
            x = torch.rand(2, 3, 48, 80, generator=gen)
            args = {name: torch.randn(t.shape, generator=gen) for name, t in extra.items()}
            with torch.inference_mode():
                diff = float((OnnxNet(tmp, threads=1)(x, **args) - net(x, *args.values())).abs().max())
            if not diff <= 1e-4:
                raise VidstyleError(f"the exported network disagrees with PyTorch (max |Δ| {diff:.3g}); not written")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return {"path": str(out), "max_abs_diff": diff}


class OnnxNet:
    """A feed-forward network run by onnxruntime (CPU provider).

    Args:
        path: an ``.onnx`` file written by :func:`export_onnx`.
        threads: intra-op threads (default: torch's current thread count).
    """

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        _require("onnxruntime")
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types (Fail, InvalidProtobuf, NoSuchFile…)
            raise VidstyleError(f"cannot load ONNX model {path}: {str(e).splitlines()[0]}") from None
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, x: torch.Tensor, **extra: torch.Tensor) -> torch.Tensor:
        """``N×3×H×W`` float RGB [0, 1] (and the graph's further named inputs) → same shape in [0, 1] (CPU)."""
        h, w = x.shape[-2:]
        x = pad_for_net(x.detach().cpu().float())  # the traced graph has no padding logic of its own
        feeds = {self.input_name: x.contiguous().numpy()}
        feeds.update({name: t.detach().cpu().float().contiguous().numpy() for name, t in extra.items()})
        y = self.session.run(None, feeds)[0]
        return torch.from_numpy(y)[..., :h, :w]

    def stylise(self, x: torch.Tensor, internal_size: int | None = None) -> torch.Tensor:
        """As :meth:`TransformerNet.stylise`: optionally at a reduced long side, upsampled back."""
        return run_at_size(self, x, internal_size)


def cached_onnx(net: nn.Module, sha256: str, extra_inputs: dict[str, torch.Tensor] | None = None) -> Path:
    """The network's ``.onnx`` in ``~/.cache/vidstyle/onnx/`` (exported once per weight checksum)."""
    path = Path.home() / ".cache" / "vidstyle" / "onnx" / f"{sha256[:16]}-g{GRAPH_VERSION}.onnx"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        export_onnx(net, path, force=True, extra_inputs=extra_inputs)
    return path


__all__ = ["OPSET", "OnnxNet", "cached_onnx", "export_onnx", "onnx_available"]
