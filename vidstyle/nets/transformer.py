"""Feed-forward image transformation networks (Johnson et al. 2016).

Strided-conv encoder → residual blocks → nearest-upsample + conv decoder (no
transposed convs, hence no checkerboard artefacts), instance normalisation
(Ulyanov et al. 2016) and reflection padding everywhere. Two presets:

* ``full``: Johnson's 32/64/128 channels and 5 residual blocks (~1.68 M parameters);
* ``lite``: a quarter of the width and 3 blocks (~27 k parameters), meant to run
  at a reduced internal resolution and be upsampled (real time on a laptop CPU).

Images are ``N×3×H×W`` RGB in [0, 1], any H and W (padded to a multiple of 4
internally, cropped back); outputs are in [0, 1] (sigmoid head).

The output head is ``σ(net(I))`` (plain Johnson). ``residual=True`` adds one global skip,
``O = σ(logit(I) + net(I))`` with the last conv initialised to zero, so a fresh network is the
identity. It looked attractive for short CPU trainings but measured worse: in a side-by-side
run (128 px crops, batch 4, Starry Night, 2026-11-22) the residual net's style loss *rose*
after step 40 while it painted saturated colour blobs onto the photo, whereas the plain net
had the style's strokes by step 50 and the content's structure by step 100. The shipped
first-generation models were residual; their weight files say so and load either way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import VidstyleError, WeightsError


@dataclass(frozen=True)
class NetSpec:
    """Architecture of a :class:`TransformerNet`: base ``width`` (channels of the first conv) and residual ``blocks``."""

    arch: str = "full"
    width: int = 32
    blocks: int = 5
    residual: bool = False

    def to_metadata(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> NetSpec:
        try:
            return cls(arch=meta.get("arch", "full"), width=int(meta["width"]), blocks=int(meta["blocks"]),
                       residual=meta.get("residual", "False") == "True")
        except (KeyError, ValueError):
            raise VidstyleError("weight file metadata lacks the network's width/blocks: it was not written by vidstyle train") from None


ARCHS: dict[str, NetSpec] = {
    "full": NetSpec("full", 32, 5),
    "lite": NetSpec("lite", 8, 3),
}


def spec_for(arch: str) -> NetSpec:
    try:
        return ARCHS[arch]
    except KeyError:
        raise VidstyleError(f"unknown network architecture {arch!r}; choose from {', '.join(ARCHS)}") from None


class ConvNormAct(nn.Sequential):
    """Reflection pad → conv (optionally after ×2 nearest upsampling) → instance norm → ReLU (optional)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, upsample: bool = False,
                 norm: bool = True, act: bool = True) -> None:
        layers: list[nn.Module] = []
        if upsample:
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        layers += [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride)]
        if norm:
            layers.append(nn.InstanceNorm2d(cout, affine=True))
        if act:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """Two 3×3 conv + instance-norm layers with an identity skip (Johnson et al.'s variant, no ReLU after the sum)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(ConvNormAct(channels, channels, 3), ConvNormAct(channels, channels, 3, act=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TransformerNet(nn.Module):
    """Johnson et al. style-transfer network.

    Args:
        spec: channels and depth (see :data:`ARCHS`).
    """

    def __init__(self, spec: NetSpec = ARCHS["full"]) -> None:
        super().__init__()
        self.spec = spec
        w = spec.width
        self.encoder = nn.Sequential(ConvNormAct(3, w, 9), ConvNormAct(w, 2 * w, 3, 2), ConvNormAct(2 * w, 4 * w, 3, 2))
        self.residuals = nn.Sequential(*[ResidualBlock(4 * w) for _ in range(spec.blocks)])
        self.decoder = nn.Sequential(ConvNormAct(4 * w, 2 * w, 3, upsample=True), ConvNormAct(2 * w, w, 3, upsample=True),
                                     ConvNormAct(w, 3, 9, norm=False, act=False))
        if spec.residual:  # start as the identity: O = σ(logit(I) + 0)
            last = self.decoder[-1][-1]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``N×3×H×W`` in [0, 1] → same shape in [0, 1]."""
        h, w = x.shape[-2:]
        x = pad_for_net(x)
        y = self.decoder(self.residuals(self.encoder(x)))[..., :h, :w]
        if self.spec.residual:
            y = y + torch.logit(x[..., :h, :w], eps=1e-3)
        return torch.sigmoid(y)

    def stylise(self, x: torch.Tensor, internal_size: int | None = None) -> torch.Tensor:
        """Run at a reduced internal long side (if given and smaller), then upsample bilinearly back to H×W."""
        return run_at_size(self, x, internal_size)


def pad_for_net(x: torch.Tensor) -> torch.Tensor:
    """Pad ``N×3×H×W`` at the bottom/right to multiples of 4 (two stride-2 stages), at least 8×8
    (the reflection pads need 2 pixels at ¼ size); callers crop the output back to H×W."""
    h, w = x.shape[-2:]
    ph, pw = max(8, h + (-h) % 4) - h, max(8, w + (-w) % 4) - w
    if ph or pw:
        mode = "reflect" if min(h, w) > max(ph, pw) else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x


def run_at_size(fn, x: torch.Tensor, internal_size: int | None) -> torch.Tensor:
    """``fn(x)`` computed at long side ``internal_size`` (antialiased downscale) and upsampled back to H×W."""
    h, w = x.shape[-2:]
    if internal_size is None or max(h, w) <= internal_size:
        return fn(x)
    s = internal_size / max(h, w)
    small = F.interpolate(x, size=(max(4, round(h * s)), max(4, round(w * s))), mode="bilinear",
                          align_corners=False, antialias=True)
    return F.interpolate(fn(small), size=(h, w), mode="bilinear", align_corners=False).clamp_(0, 1)


def build_net(arch: str = "full", width: int | None = None, blocks: int | None = None,
              residual: bool | None = None) -> TransformerNet:
    """A fresh network of preset ``arch``, with optional overrides of ``width`` / ``blocks`` / ``residual``."""
    base = spec_for(arch)
    return TransformerNet(NetSpec(arch, width or base.width, blocks or base.blocks,
                                  base.residual if residual is None else residual))


def load_transformer(model: str | Path, device: torch.device | str = "cpu", verify: bool = True
                     ) -> tuple[TransformerNet, dict[str, Any]]:
    """Load a shipped/trained :class:`TransformerNet` by model name or ``.safetensors`` path (float32, eval mode).

    The weights are declared by their model card (:func:`vidstyle.weights.model_weights`) and checked against its
    ``weights.sha256`` when ``verify``.

    Returns:
        ``(net, card)``.

    Raises:
        WeightsError: missing card, checksum mismatch, corrupt file, another kind of model or wrong tensors — one
            line each.
    """
    from ..weights import FEEDFORWARD, model_kind, model_weights

    entry = model_weights(model, verify)
    if (kind := model_kind(entry)) != FEEDFORWARD:
        raise WeightsError(f"{entry.path} is a {kind} ({entry.name}), not a feed-forward style network; "
                           "only those can be used with --model or exported (see `vidstyle models`)")
    tensors, meta = entry.load()
    net = TransformerNet(NetSpec.from_metadata(meta))
    try:
        net.load_state_dict(tensors)
    except RuntimeError as e:
        raise WeightsError(f"{entry.path} does not match its network ({meta.get('arch')}): "
                           f"{str(e).splitlines()[0]}") from None
    return net.to(device).eval(), dict(entry.meta)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


__all__ = ["NetSpec", "ARCHS", "load_transformer", "spec_for", "TransformerNet", "build_net", "count_parameters", "run_at_size", "pad_for_net",
           "ResidualBlock", "ConvNormAct"]
