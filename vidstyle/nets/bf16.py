"""bfloat16 inference on CPUs with native bf16 arithmetic (``--precision bf16``).

On x86 CPUs with AMX-BF16 or AVX-512 BF16 (and Arm CPUs with the ``bf16`` extension) oneDNN runs PyTorch's
bf16 convolutions on those units. Measured on 2 cores with AMX (benchmarks/RESULTS.md, "bf16 keeps the channels-last
layout"): against torch fp32, the full feed-forward net is 3.5–4.2× faster (367 → 88 ms at 640×360), the lite net
2.4–2.6× and the style-embedding generator 3.2–4.0×, at a mean |Δ| of 0.001–0.002 against fp32 — closer than our int8
graphs, and faster. Without those units bf16 is emulated and slower than fp32, so ``bf16`` then runs fp32 with a
one-line note.

A :class:`Bf16Net` holds a bf16 copy of the network in channels-last layout (the layout oneDNN's bf16 kernels
take without reordering); inputs are cast to bf16 and outputs back to float32, so callers see fp32 tensors.
Instance norm runs in bf16 too (PyTorch accumulates its statistics in float32), as :func:`instance_norm_cl`:
``F.instance_norm`` returns a contiguous (NCHW) copy of a channels-last input, and every later layer then
reorders its input back — in the full feed-forward net at 640×360 those copies took half the time (profiled
2026-12-03: 94 of 188 ms). With the layout kept, the plain network (nearest upsample + conv) is faster in bf16
than the fused forms of :mod:`vidstyle.nets.fused`, whose pixel shuffles also reorder: pass the unfused one.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

#: CPU flags of native bf16 matrix/vector arithmetic, best first (x86 AMX, AVX-512 BF16; Arm BF16).
BF16_FLAGS = ("amx_bf16", "avx512_bf16", "bf16")


def bf16_features() -> list[str]:
    """The CPU's native bf16 features, best first (empty: none, or unknown — bf16 would be emulated)."""
    from ..device import cpu_flags

    flags = cpu_flags()  # None without /proc/cpuinfo (macOS, Windows): unknown, so no bf16
    return [f for f in BF16_FLAGS if f in flags] if flags is not None else []


def bf16_choice(precision: str, device: torch.device, backend: str) -> tuple[bool, str]:
    """Whether a network should run in bf16 for ``precision`` (``--precision``) and a note saying why not.

    ``bf16``: yes on a CPU with :func:`bf16_features`; otherwise fp32 with a note (on CUDA the networks already
    run in fp16 autocast). ``auto``: bf16 on such a CPU unless ``backend`` is explicitly ``onnx`` (then the int8
    policy of :mod:`vidstyle.nets.int8` decides). ``fp32`` / ``int8``: no.
    """
    if precision not in ("bf16", "auto"):
        return False, ""
    loud = precision == "bf16"
    if device.type != "cpu":
        return False, "bf16 is a CPU precision; on CUDA the networks run in fp16 autocast" if loud else ""
    features = bf16_features()
    if not features:
        return False, "this CPU has no native bf16 (AMX-BF16, AVX-512 BF16 or Arm BF16); using fp32" if loud else ""
    if precision == "auto" and backend == "onnx":
        return False, ""
    return True, f"bf16 on {features[0]}" if loud else f"auto → bf16 on {features[0]}"


def instance_norm_cl(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
                     eps: float) -> torch.Tensor:
    """Instance norm of ``x`` (``N×C×H×W``) that keeps its memory layout; ``weight``/``bias``: ``C``, ``N×C`` or
    ``1×C`` (per sample or shared: conditional instance norm), or None.

    One sample's instance norm is batch norm with batch statistics over H×W, and PyTorch's CPU batch norm
    works on channels-last tensors in place of layout; the samples run one at a time. The same numbers as
    ``F.instance_norm`` up to rounding (biased variance, ``eps`` inside the square root).
    """
    def row(t: torch.Tensor | None, i: int) -> torch.Tensor | None:
        return t[i if t.shape[0] > 1 else 0] if t is not None and t.dim() == 2 else t

    def one(xi: torch.Tensor, i: int) -> torch.Tensor:
        return F.batch_norm(xi, None, None, row(weight, i), row(bias, i), True, 0.0, eps)

    if x.shape[0] == 1:
        return one(x, 0)
    return torch.cat([one(xi, i) for i, xi in enumerate(x.split(1))])


class ChannelsLastInstanceNorm(nn.Module):
    """Drop-in for an ``nn.InstanceNorm2d`` without running statistics, by :func:`instance_norm_cl`."""

    def __init__(self, norm: nn.InstanceNorm2d) -> None:
        super().__init__()
        self.weight, self.bias, self.eps = norm.weight, norm.bias, norm.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return instance_norm_cl(x, self.weight, self.bias, self.eps)


def _keep_layout(module: nn.Module) -> nn.Module:
    """Replace (in place) every ``nn.InstanceNorm2d`` without running statistics by :class:`ChannelsLastInstanceNorm`."""
    for name, child in module.named_children():
        if isinstance(child, nn.InstanceNorm2d) and not child.track_running_stats:
            setattr(module, name, ChannelsLastInstanceNorm(child))
        else:
            _keep_layout(child)
    return module


def _cast(value):  # noqa: ANN001, ANN202
    return value.to(torch.bfloat16) if isinstance(value, torch.Tensor) and value.is_floating_point() else value


class Bf16Net(nn.Module):
    """``module`` run in bfloat16, channels-last; float tensor arguments are cast to bf16, the output to float32.

    Its instance norms keep the channels-last layout (:class:`ChannelsLastInstanceNorm`; conditional ones,
    :class:`~vidstyle.nets.magenta.CondInstanceNorm`, do so for channels-last inputs themselves).

    Args:
        module: any network taking ``N×C×H×W`` first (and optionally further tensors, e.g. a style embedding)
            and returning one tensor — preferably the plain network, not a :mod:`~vidstyle.nets.fused` form
            (see the module's docstring). It is copied, not changed.
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        copied = _keep_layout(copy.deepcopy(module).eval().requires_grad_(False))
        self.module = copied.to(torch.bfloat16).to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:  # noqa: ANN002, ANN003
        y = self.module(_cast(x).contiguous(memory_format=torch.channels_last), *map(_cast, args),
                        **{k: _cast(v) for k, v in kwargs.items()})
        return y.float().contiguous()


__all__ = ["BF16_FLAGS", "Bf16Net", "ChannelsLastInstanceNorm", "bf16_choice", "bf16_features", "instance_norm_cl"]
