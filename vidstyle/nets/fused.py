"""Exact re-expressions of :class:`TransformerNet` layers that run faster at inference.

Two layers of Johnson's network map badly onto CPU convolution kernels (profiled with
inductor at 640×360, see benchmarks/RESULTS.md "Feed-forward speed: fused layers"):

* the output conv (32 → **3** channels, 9×9) wastes most of each SIMD block on its three
  output channels: 54 ms of a 288 ms frame, for 5 % of the FLOPs. On a 2×2 space-to-depth
  view it becomes a 128 → 12 channel 5×5 conv (:class:`SpaceToDepthConv`);
* the decoder's nearest ×2 upsample + reflection pad + 3×3 conv spends 9 multiply-adds per
  output pixel where only 4 distinct input pixels are involved: each of the four output phases
  is a 2×2 conv on the low-resolution input (:class:`PhaseUpsampleConv`, 4/9 of the FLOPs, and
  no upsampled tensor).

Both give the same outputs as the layers they replace up to float rounding (tests check
≤ 1e-5 on [0, 1] images); they hold copies of the trained weights, so they are for
inference only — train the plain :class:`TransformerNet`.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from .transformer import TransformerNet


class SpaceToDepthConv(nn.Module):
    """Reflection pad ``k//2`` → ``k×k`` conv (stride 1), computed on a ``factor``× space-to-depth view.

    ``pixel_unshuffle(factor)`` → ``K×K`` conv with ``factor²`` times the channels in and out
    (``K = ceil((factor + k − 1) / factor)``) → ``pixel_shuffle(factor)``; ``N×C_in×H×W`` →
    ``N×C_out×H×W`` for any H, W > k//2.
    """

    def __init__(self, conv: nn.Conv2d, factor: int = 2) -> None:
        super().__init__()
        w = conv.weight.detach()
        cout, cin, k, _ = w.shape
        r = factor
        self.factor, self.pad, self.taps = r, k // 2, math.ceil((r + k - 1) / r)
        # For H, W multiples of the factor the padded input splits into whole blocks and the conv's valid output
        # is exactly H/factor blocks: no extra padding or cropping (TransformerNet's case; k = 9, factor 2).
        self.exact_fit = (2 * self.pad) % r == 0 and 2 * self.pad // r == self.taps - 1
        big = w.new_zeros(cout, r, r, cin, r, r, self.taps, self.taps)  # out (o, qy, qx) ← in (c, ry, rx) at tap (Y, X)
        for qy in range(r):
            for qx in range(r):
                for a in range(k):
                    for b in range(k):
                        ty, ry = divmod(qy + a, r)
                        tx, rx = divmod(qx + b, r)
                        big[:, qy, qx, :, ry, rx, ty, tx] = w[:, :, a, b]
        self.conv = nn.Conv2d(cin * r * r, cout * r * r, self.taps)
        self.conv.weight.data.copy_(big.reshape(cout * r * r, cin * r * r, self.taps, self.taps))
        self.conv.bias.data.copy_(conv.bias.detach().repeat_interleave(r * r))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        r, p = self.factor, self.pad
        x = F.pad(x, (p, p, p, p), mode="reflect")
        if self.exact_fit and h % r == 0 and w % r == 0:  # TransformerNet's case: no shape arithmetic, so
            return F.pixel_shuffle(self.conv(F.pixel_unshuffle(x, r)), r)  # a traced (ONNX) graph fits any size
        full_h, full_w = (r * (math.ceil(n / r) + self.taps - 1) for n in (h, w))  # ≥ n + 2p
        x = F.pad(x, (0, full_w - x.shape[-1], 0, full_h - x.shape[-2]))  # zeros only feed cropped outputs
        return F.pixel_shuffle(self.conv(F.pixel_unshuffle(x, r)), r)[..., :h, :w]


def _phase_taps(k: torch.Tensor, phase: int, dim: int) -> torch.Tensor:
    """Collapse a 3-tap kernel axis onto the 2 low-resolution pixels one output phase reads."""
    t0, t1, t2 = k.unbind(dim)
    return torch.stack((t0, t1 + t2) if phase == 0 else (t0 + t1, t2), dim)


class PhaseUpsampleConv(nn.Module):
    """Nearest ×2 upsample → reflection pad 1 → 3×3 conv, as four 2×2 convs at the input resolution.

    Output pixel ``(2y+i, 2x+j)`` reads input rows ``y−1, y`` (i = 0) or ``y, y+1`` (i = 1), and
    likewise for columns; the reflection pad of the upsampled image equals a replicate pad of the
    input. ``N×C_in×H×W`` → ``N×C_out×2H×2W``.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        w = conv.weight.detach()
        self.phases = nn.ModuleList()
        for i in (0, 1):
            for j in (0, 1):
                c = nn.Conv2d(conv.in_channels, conv.out_channels, 2)
                c.weight.data.copy_(_phase_taps(_phase_taps(w, i, 2), j, 3))
                c.bias.data.copy_(conv.bias.detach())
                self.phases.append(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp = F.pad(x, (1, 1, 1, 1), mode="replicate")  # (H+2)×(W+2); phase 0 reads rows 0…H, phase 1 rows 1…H+1
        rows = (xp[..., :-1, :], xp[..., 1:, :])  # slices without shape arithmetic: traced graphs fit any size
        outs = [conv(rows[i][..., :-1] if j == 0 else rows[i][..., 1:])
                for (i, j), conv in zip(((0, 0), (0, 1), (1, 0), (1, 1)), self.phases)]
        return F.pixel_shuffle(torch.stack(outs, 2).flatten(1, 2), 2)


def fuse_for_inference(net: TransformerNet) -> TransformerNet:
    """A copy of ``net`` (in eval mode, gradients off) whose upsampling convs and output conv are
    the faster exact forms above; ``net`` itself is left untouched."""
    fused = copy.deepcopy(net).eval()
    for i in (0, 1):  # ConvNormAct(upsample=True): Upsample, ReflectionPad2d, Conv2d, InstanceNorm2d, ReLU
        upsample, _pad, conv, *rest = fused.decoder[i]
        assert isinstance(upsample, nn.Upsample), "decoder layout changed; update fuse_for_inference"
        fused.decoder[i] = nn.Sequential(PhaseUpsampleConv(conv), *rest)
    _pad, conv = fused.decoder[2]  # output layer: ReflectionPad2d(4), Conv2d(w, 3, 9)
    fused.decoder[2] = SpaceToDepthConv(conv, 2)
    return fused.requires_grad_(False)


__all__ = ["SpaceToDepthConv", "PhaseUpsampleConv", "fuse_for_inference"]
