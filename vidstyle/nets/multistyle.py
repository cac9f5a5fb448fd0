"""Style-conditioned Johnson generators: ``y = G_θ(x_c, z_s)`` for any painting, the style given as an embedding.

Johnson et al.'s layout (:mod:`vidstyle.nets.transformer`: 9×9 conv, two stride-2 convs, residual blocks, two
nearest-upsample convs, 9×9 conv, sigmoid head), with the style embedding ``z_s`` (``N×E``, E = 100: the
Ghiasi et al. style predictor's, :class:`~vidstyle.nets.magenta.StylePredictor`) injected in one of four ways
(:data:`INJECTIONS`, the multi-style seed's variants):

* ``concat`` — z tiled over H×W and concatenated to the features before each conv of every residual block
  (the conv sees ``C + E`` channels);
* ``add1x1`` — ``F' = F + Conv1×1(z)`` before each conv of every residual block (a 1×1 conv on a constant map is a
  linear layer);
* ``film`` — ``F' = γ(z)·IN(F) + β(z)`` (Perez et al. 2018; linear γ, β) at every instance norm of the residual
  blocks; the encoder and decoder norms keep ordinary learned affine parameters;
* ``cin`` — conditional instance norm (Dumoulin et al. 2017): every instance norm of the network, encoder and
  decoder included, takes γ(z), β(z) — the conditioning Ghiasi et al.'s generator (the teacher) uses.

The tiled z is constant over the image (and stays so under reflection padding), so both additive injections
add a style-dependent *per-channel constant* after the conv — exactly what an instance norm removes. With
Johnson's instance norm after every conv they would not condition at all (the output is independent of z;
tests/test_multistyle_johnson.py checks that it is not), so the residual blocks of ``concat`` and ``add1x1`` have
no normalisation: the constant then passes the ReLU after the first conv, where it interacts with the features.

Conditioned norms are :class:`~vidstyle.nets.magenta.CondInstanceNorm` (so tiled inference shares their
statistics, :mod:`vidstyle.nets.tiling`), initialised to γ = 1, β = 0: a fresh network is an unconditioned
Johnson net and learns the style dependence. The ``patch`` variant of the seed (style swap) needs the style's
features rather than an embedding; it is ``--method style-swap`` (:mod:`vidstyle.stylise.style_swap`).

The style encoder e_ψ is either the teacher's frozen MobileNet predictor (``encoder = "ghiasi"``: z comes from
outside) or a small one trained with the generator (``encoder = "gram"``, :class:`GramEncoder`, saved inside the
generator's file as ``style_encoder``): frozen VGG-19 statistics of the painting — the Gram matrices of relu1_1 and
relu2_1 (upper triangles) and the channel means and standard deviations of relu3_1 and relu4_1 — through
LayerNorm → FC → ReLU → FC to the E-d embedding. :class:`GramPredictor` wraps it with the VGG so that it takes
images, as the MobileNet predictor does.

Images are ``N×3×H×W`` RGB in [0, 1], any H, W (padded to multiples of 4, cropped back); ``z`` is ``N×E`` or
``1×E`` (one style for the batch). The call signature ``net(x, z)`` / ``net.stylise(x, z, internal_size)`` is
the teacher's, so :class:`~vidstyle.stylise.magenta.MagentaStyliser` runs either.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import MULTISTYLE_ARCHS, MULTISTYLE_ENCODERS, MULTISTYLE_INJECTIONS
from ..errors import VidstyleError
from .magenta import EMBED_DIM, CondInstanceNorm
from .transformer import pad_for_net, run_at_size

#: The ways the style embedding enters the generator (module docstring); ``--inject`` choices.
INJECTIONS: tuple[str, ...] = MULTISTYLE_INJECTIONS
#: ``format`` in the safetensors metadata of a saved multi-style generator.
MULTISTYLE_FORMAT = "vidstyle-multistyle-1"


@dataclass(frozen=True)
class MultiSpec:
    """Architecture of a :class:`MultiStyleNet`: injection, base ``width`` (first conv's channels), residual ``blocks``."""

    inject: str = "film"
    width: int = 16
    blocks: int = 5
    embed_dim: int = EMBED_DIM
    encoder: str = "ghiasi"  # "gram": a trained GramEncoder ships inside the file
    gram_dim: int = 0  # length of the Gram encoder's input (gram_features; 0: VGG-19's GRAM_FEATURE_DIM)

    def __post_init__(self) -> None:
        if self.inject not in INJECTIONS:
            raise VidstyleError(f"unknown injection {self.inject!r}; choose from {', '.join(INJECTIONS)}")
        if self.encoder not in STYLE_ENCODERS:
            raise VidstyleError(f"unknown style encoder {self.encoder!r}; choose from {', '.join(STYLE_ENCODERS)}")
        if self.width < 1 or self.blocks < 0 or self.embed_dim < 1:
            raise VidstyleError(f"bad generator size: width {self.width}, blocks {self.blocks}")

    def to_metadata(self) -> dict[str, str]:
        return {"format": MULTISTYLE_FORMAT, **{k: str(v) for k, v in asdict(self).items()}}

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> MultiSpec:
        try:
            return cls(inject=meta["inject"], width=int(meta["width"]), blocks=int(meta["blocks"]),
                       embed_dim=int(meta.get("embed_dim", EMBED_DIM)), encoder=meta.get("encoder", "ghiasi"),
                       gram_dim=int(meta.get("gram_dim", 0)))
        except (KeyError, ValueError):
            raise VidstyleError("weight file metadata lacks the generator's inject/width/blocks") from None


#: ``--encoder`` choices: the teacher's frozen predictor, or a VGG-statistics encoder trained with the generator.
STYLE_ENCODERS: tuple[str, ...] = MULTISTYLE_ENCODERS
#: VGG layers of :func:`gram_features`: full Gram matrices (fine strokes) and channel statistics (coarser).
GRAM_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1")
STAT_LAYERS: tuple[str, ...] = ("relu3_1", "relu4_1")
#: Length of :func:`gram_features` with VGG-19's widths (64, 128 → upper triangles; 256, 512 → mean + std).
GRAM_FEATURE_DIM = 64 * 65 // 2 + 128 * 129 // 2 + 2 * (256 + 512)


def gram_features(vgg: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """``N×3×H×W`` style views → ``N×D`` (:data:`GRAM_FEATURE_DIM` for VGG-19): Gram upper triangles at
    :data:`GRAM_LAYERS`, then channel means and standard deviations at :data:`STAT_LAYERS`."""
    from ..losses import gram_matrix

    feats = vgg(images, GRAM_LAYERS + STAT_LAYERS)
    parts = []
    for k in GRAM_LAYERS:
        g = gram_matrix(feats[k])
        i, j = torch.triu_indices(g.shape[1], g.shape[2], device=g.device)
        parts.append(g[:, i, j])
    for k in STAT_LAYERS:
        f = feats[k].flatten(2)
        parts += [f.mean(2), f.std(2, correction=0)]
    return torch.cat(parts, 1)


class GramEncoder(nn.Module):
    """The trainable part of e_ψ for ``encoder = "gram"``: ``N×D`` VGG statistics → ``N×E`` embedding."""

    def __init__(self, in_dim: int = GRAM_FEATURE_DIM, hidden: int = 128, embed_dim: int = EMBED_DIM) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, embed_dim))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp(features)


class GramPredictor(nn.Module):
    """Images → embedding through a frozen VGG and a :class:`GramEncoder` (the MobileNet predictor's interface:
    ``N×3×H×W`` in [0, 1] → ``N×E``)."""

    def __init__(self, vgg: nn.Module, encoder: GramEncoder) -> None:
        super().__init__()
        self.vgg, self.encoder = vgg, encoder

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(gram_features(self.vgg, images))


#: Named sizes for ``vidstyle train-multistyle --arch``: Johnson's widths, and the live-mode lite net.
MULTI_ARCHS: dict[str, tuple[int, int]] = MULTISTYLE_ARCHS


def _identity_init(norm: CondInstanceNorm) -> CondInstanceNorm:
    """γ(z) ≡ 1, β(z) ≡ 0 at the start (small random weights so z can move them)."""
    for lin, bias in ((norm.gamma, 1.0), (norm.beta, 0.0)):
        nn.init.normal_(lin.weight, std=1e-3)
        nn.init.constant_(lin.bias, bias)
    return norm


class _Norm(nn.Module):
    """Instance norm: conditional (γ(z), β(z)) or with fixed learned affine parameters; ``forward(x, z)``."""

    def __init__(self, channels: int, embed_dim: int, conditional: bool) -> None:
        super().__init__()
        self.norm: nn.Module = (_identity_init(CondInstanceNorm(channels, embed_dim, eps=1e-5)) if conditional
                                else nn.InstanceNorm2d(channels, affine=True))
        self.conditional = conditional

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.norm(x, z) if self.conditional else self.norm(x)


class _Conv(nn.Module):
    """[×2 nearest upsample] → reflect pad → conv → [norm] → [ReLU]; ``forward(x, z)``."""

    def __init__(self, cin: int, cout: int, kernel: int, embed_dim: int, stride: int = 1, upsample: bool = False,
                 norm: bool = True, act: bool = True, conditional: bool = False) -> None:
        super().__init__()
        self.upsample, self.act = upsample, act
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv = nn.Conv2d(cin, cout, kernel, stride)
        self.norm = _Norm(cout, embed_dim, conditional) if norm else None

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        y = self.conv(self.pad(x))
        if self.norm is not None:
            y = self.norm(y, z)
        return F.relu(y) if self.act else y


class _Injection(nn.Module):
    """What happens to the features before a residual block's conv: concat z, add a 1×1 projection of z, or nothing."""

    def __init__(self, channels: int, embed_dim: int, how: str) -> None:
        super().__init__()
        self.how = how
        self.proj = nn.Linear(embed_dim, channels) if how == "add1x1" else None
        if self.proj is not None:
            nn.init.zeros_(self.proj.weight)
            nn.init.zeros_(self.proj.bias)

    def extra_channels(self, embed_dim: int) -> int:
        return embed_dim if self.how == "concat" else 0

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if self.how == "concat":
            tiled = z[..., None, None].expand(x.shape[0], -1, x.shape[2], x.shape[3])
            return torch.cat([x, tiled.to(x.dtype)], 1)
        if self.proj is not None:
            return x + self.proj(z)[..., None, None].to(x.dtype)
        return x


class _Block(nn.Module):
    """Residual block ``x + conv(inject(conv(inject(x))))``: conditional norms for film/cin, none for concat/add1x1."""

    def __init__(self, channels: int, spec: MultiSpec) -> None:
        super().__init__()
        e, cond = spec.embed_dim, spec.inject in ("film", "cin")
        self.inject1 = _Injection(channels, e, spec.inject)
        self.inject2 = _Injection(channels, e, spec.inject)
        extra = self.inject1.extra_channels(e)
        norm = cond  # additive injections: no norm to erase them (module docstring)
        self.conv1 = _Conv(channels + extra, channels, 3, e, norm=norm, conditional=cond)
        self.conv2 = _Conv(channels + extra, channels, 3, e, norm=norm, act=False, conditional=cond)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        y = self.conv1(self.inject1(x, z), z)
        return x + self.conv2(self.inject2(y, z), z)


class MultiStyleNet(nn.Module):
    """G_θ(x, z): a Johnson generator conditioned on a style embedding (module docstring).

    Args:
        spec: injection and size.
    """

    def __init__(self, spec: MultiSpec = MultiSpec()) -> None:
        super().__init__()
        self.spec = spec
        w, e, cin = spec.width, spec.embed_dim, spec.inject == "cin"
        self.encoder = nn.ModuleList([_Conv(3, w, 9, e, conditional=cin), _Conv(w, 2 * w, 3, e, 2, conditional=cin),
                                      _Conv(2 * w, 4 * w, 3, e, 2, conditional=cin)])
        self.residual = nn.ModuleList([_Block(4 * w, spec) for _ in range(spec.blocks)])
        self.decoder = nn.ModuleList([_Conv(4 * w, 2 * w, 3, e, upsample=True, conditional=cin),
                                      _Conv(2 * w, w, 3, e, upsample=True, conditional=cin),
                                      _Conv(w, 3, 9, e, norm=False, act=False)])
        self.embed_dim = e
        self.style_encoder = (GramEncoder(spec.gram_dim or GRAM_FEATURE_DIM, embed_dim=e) if spec.encoder == "gram"
                              else None)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``x``: ``N×3×H×W`` RGB [0, 1]; ``z``: ``N×E`` or ``1×E`` → ``N×3×H×W`` in [0, 1]."""
        if z.dim() != 2 or z.shape[1] != self.embed_dim or z.shape[0] not in (1, x.shape[0]):
            raise VidstyleError(f"style embedding must be N×{self.embed_dim} or 1×{self.embed_dim}, got {tuple(z.shape)}")
        h, w = x.shape[-2:]
        y = pad_for_net(x)
        for layer in self.encoder:
            y = layer(y, z)
        for block in self.residual:
            y = block(y, z)
        for layer in self.decoder:
            y = layer(y, z)
        return torch.sigmoid(y[..., :h, :w])

    def stylise(self, x: torch.Tensor, z: torch.Tensor, internal_size: int | None = None) -> torch.Tensor:
        """As :meth:`forward`, optionally at a reduced internal long side and upsampled back."""
        return run_at_size(lambda t: self(t, z), x, internal_size)


def build_multistyle(inject: str = "film", arch: str = "johnson-half", width: int | None = None,
                     blocks: int | None = None, encoder: str = "ghiasi", gram_dim: int = 0) -> MultiStyleNet:
    """A fresh generator of size ``arch`` (:data:`MULTI_ARCHS`) with optional ``width`` / ``blocks`` overrides
    (``gram_dim``: the Gram encoder's input length, when the loss network is not VGG-19)."""
    if arch not in MULTI_ARCHS:
        raise VidstyleError(f"unknown generator size {arch!r}; choose from {', '.join(MULTI_ARCHS)}")
    w, b = MULTI_ARCHS[arch]
    return MultiStyleNet(MultiSpec(inject, width or w, b if blocks is None else blocks, encoder=encoder,
                                   gram_dim=gram_dim))


__all__ = ["INJECTIONS", "MULTISTYLE_FORMAT", "MULTI_ARCHS", "MultiSpec", "MultiStyleNet", "build_multistyle",
           "STYLE_ENCODERS", "GRAM_LAYERS", "STAT_LAYERS", "GRAM_FEATURE_DIM", "gram_features", "GramEncoder",
           "GramPredictor"]
