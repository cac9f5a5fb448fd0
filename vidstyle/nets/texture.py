"""Texture networks (Ulyanov et al. 2016): a multi-scale noise → texture generator.

The generator of "Texture Networks: Feed-forward Synthesis of Textures and Stylized Images"
(Ulyanov, Lebedev, Vedaldi, Lempitsky, ICML 2016, Fig. 2), without a content input:
``K`` noise tensors ``z_1 … z_K`` of sides ``H, H/2, …, H/2^(K-1)`` each go through a conv
block (3×3, 3×3, 1×1 convs, each + norm + LeakyReLU); from the coarsest up, the running
result is upsampled ×2 (nearest), normalised and *joined* (channel concatenation) with the
next finer block's output, then refined by another conv block; a 1×1 conv and a sigmoid give
RGB in [0, 1]. Trained per texture with the Gram loss (:mod:`vidstyle.train.texture`).

Opposed to the paper: instance norm instead of batch norm (samples of any size come out with
the statistics seen in training, with no batch-size dependence) and reflection padding — or
circular padding with ``tileable`` (every conv wraps around, so samples tile seamlessly).
Any output size works: the noise is drawn for the next multiple of ``2^(K-1)`` and cropped — or, for a
tileable network, resampled to the size with wrap-around (a crop would cut the period and show a seam).
Padding modules hold no weights, so :func:`with_padding` turns any trained network tileable (or not).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
from torch import nn


@dataclass(frozen=True)
class TextureSpec:
    """Architecture of a texture generator (stored in the safetensors metadata)."""

    scales: int = 5  # K noise inputs, finest at full resolution
    noise_channels: int = 3
    channels: int = 8  # channels of each scale's block; the joined trunk grows by this per scale
    tileable: bool = False

    def to_metadata(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> TextureSpec:
        return cls(scales=int(meta["scales"]), noise_channels=int(meta["noise_channels"]),
                   channels=int(meta["channels"]), tileable=meta.get("tileable", "False") == "True")


def _conv(cin: int, cout: int, k: int, pad_mode: str) -> list[nn.Module]:
    layers: list[nn.Module] = []
    if k > 1:
        layers.append(nn.CircularPad2d(k // 2) if pad_mode == "circular" else nn.ReflectionPad2d(k // 2))
    layers += [nn.Conv2d(cin, cout, k), nn.InstanceNorm2d(cout, affine=True), nn.LeakyReLU(0.01, inplace=True)]
    return layers


def _block(cin: int, cout: int, pad_mode: str) -> nn.Sequential:
    """3×3, 3×3, 1×1 convolutions, each followed by instance norm and LeakyReLU (the paper's conv block)."""
    return nn.Sequential(*_conv(cin, cout, 3, pad_mode), *_conv(cout, cout, 3, pad_mode), *_conv(cout, cout, 1, pad_mode))


class TextureNet(nn.Module):
    """Noise pyramid → ``N×3×H×W`` texture in [0, 1].

    >>> net = TextureNet(TextureSpec(scales=3, channels=4))
    >>> net.sample(2, 40, 24, seed=0).shape
    torch.Size([2, 3, 40, 24])
    """

    def __init__(self, spec: TextureSpec = TextureSpec()) -> None:
        super().__init__()
        self.spec = spec
        pad = "circular" if spec.tileable else "reflect"
        c = spec.channels
        self.inputs = nn.ModuleList(_block(spec.noise_channels, c, pad) for _ in range(spec.scales))
        # join k (k = 1 … K-1): upsampled trunk of k·c channels ⊕ the next block's c channels → (k+1)·c
        self.join_norms = nn.ModuleList(nn.InstanceNorm2d(k * c, affine=True) for k in range(1, spec.scales))
        self.skip_norms = nn.ModuleList(nn.InstanceNorm2d(c, affine=True) for _ in range(1, spec.scales))
        self.joins = nn.ModuleList(_block((k + 1) * c, (k + 1) * c, pad) for k in range(1, spec.scales))
        self.to_rgb = nn.Conv2d(spec.scales * c, 3, 1)

    @property
    def multiple(self) -> int:
        """Output sides are generated at multiples of this (then cropped)."""
        return 2 ** (self.spec.scales - 1)

    def noise(self, n: int, height: int, width: int, generator: torch.Generator | None = None,
              device: torch.device | str = "cpu") -> list[torch.Tensor]:
        """The noise pyramid for an ``height``×``width`` output, finest first (uniform in [0, 1))."""
        m = self.multiple
        h, w = math.ceil(height / m) * m, math.ceil(width / m) * m
        return [torch.rand(n, self.spec.noise_channels, h >> i, w >> i, generator=generator).to(device)
                for i in range(self.spec.scales)]

    def forward(self, noise: list[torch.Tensor]) -> torch.Tensor:
        """``noise``: the pyramid of :meth:`noise` (finest first) → ``N×3×H×W`` (the finest noise's size)."""
        if len(noise) != self.spec.scales:
            raise ValueError(f"expected {self.spec.scales} noise tensors, got {len(noise)}")
        x = self.inputs[-1](noise[-1])
        for k, i in enumerate(range(self.spec.scales - 2, -1, -1)):
            up = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
            skip = self.inputs[i](noise[i])
            x = self.joins[k](torch.cat([self.join_norms[k](up), self.skip_norms[k](skip)], dim=1))
        return torch.sigmoid(self.to_rgb(x))

    def sample(self, n: int, height: int, width: int, seed: int | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` textures of ``height``×``width``; the same ``seed`` gives the same samples.

        Generated at the next multiple of :attr:`multiple`; a plain network's sample is cropped to the size,
        a tileable one's is resampled to it with wrap-around (:func:`wrap_resize`), so it still tiles.
        """
        device = next(self.parameters()).device
        if generator is None:
            generator = torch.Generator().manual_seed(0 if seed is None else seed)
        out = self(self.noise(n, height, width, generator, device))
        if self.spec.tileable and tuple(out.shape[-2:]) != (height, width):
            return wrap_resize(out, height, width)
        return out[..., :height, :width]


def _fourier_resample(x: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    """Resample a periodic signal along ``dim`` to ``n`` samples by cropping (or zero-padding) its spectrum."""
    size = x.shape[dim]
    if n == size:
        return x
    spec = torch.fft.fft(x, dim=dim)
    m = min(n, size)
    low, high = (m + 1) // 2, m // 2  # frequencies 0 … low−1 and −high … −1 (the Nyquist bin on the negative side)
    kept = torch.cat([spec.narrow(dim, 0, low), spec.narrow(dim, size - high, high)], dim=dim)
    if n > size:
        shape = list(kept.shape)
        shape[dim] = n - size
        kept = torch.cat([kept.narrow(dim, 0, low), kept.new_zeros(shape), kept.narrow(dim, low, high)], dim=dim)
    return torch.fft.ifft(kept, dim=dim).real * (n / size)


def wrap_resize(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize a periodic ``N×C×H×W`` image (its right edge continues into its left, its bottom into its top) to
    ``height``×``width`` so that it stays periodic: Fourier resampling (the spectrum cropped or zero-padded), which
    treats every pixel step alike — the wrap-around seam included. Meant for small changes (the next multiple of
    16 down to the asked side); the result is clamped to [0, 1]."""
    return _fourier_resample(_fourier_resample(x, height, -2), width, -1).clamp(0, 1)


def with_padding(net: TextureNet, tileable: bool) -> TextureNet:
    """The same trained network with circular (``tileable``) or reflection padding; ``net`` itself if it has it.

    Padding modules hold no weights, so the weights carry over; a network trained with reflection padding and
    sampled with circular padding tiles, with the edges' statistics it never saw in training
    (``benchmarks/bench_tileable.py`` measures the seams)."""
    if net.spec.tileable == tileable:
        return net
    other = TextureNet(replace(net.spec, tileable=tileable))
    other.load_state_dict(net.state_dict())
    p = next(net.parameters())
    return other.to(p.device).train(net.training)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


__all__ = ["TextureSpec", "TextureNet", "count_parameters", "with_padding", "wrap_resize"]
