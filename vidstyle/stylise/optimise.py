"""Gatys et al. image optimisation, coarse-to-fine, with style mixing and colour preservation.

The core is :func:`optimise` — one function that runs L-BFGS or Adam on an image
against any loss closure; :func:`stylise_still` builds the Gatys criterion around it
and walks the resolution pyramid. The video method (Ruder et al.) reuses both,
adding a temporal term through ``extra_loss``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..colour import luminance_transfer, match_colour
from ..config import OptimiseConfig
from ..errors import VidstyleError
from ..losses import content_loss, gram_matrix, style_loss, tv_loss
from ..losses_extra import (
    downsample_masks,
    extract_patches,
    histogram_loss,
    laplacian_loss,
    laplacian_of_pooled,
    masked_gram,
    mrf_loss,
    region_histogram_loss,
    region_mrf_loss,
    region_patches,
    region_sorted,
    region_style_loss,
    sorted_channels,
)
from ..media.image import resize_long_side
from ..nets.bf16 import bf16_choice
from ..nets.vgg import VGGEncoder
from ..progress import Bar

LossFn = Callable[[torch.Tensor], dict[str, torch.Tensor]]


def optimise(image: torch.Tensor, loss_fn: LossFn, steps: int, optimizer: str = "lbfgs", lr: float = 1.0,
             bar: Bar | None = None) -> torch.Tensor:
    """Minimise ``loss_fn(image)["total"]`` over the pixels of ``image``.

    Args:
        image: ``1×3×H×W`` start point (not modified).
        loss_fn: returns a dict of named scalar losses including ``"total"``.
        steps: optimiser iterations (one L-BFGS iteration ≈ one function evaluation).
        optimizer: ``"lbfgs"`` or ``"adam"``.
        bar: progress bar advanced once per step, showing the losses.

    Returns:
        The optimised image, detached and clamped to [0, 1].
    """
    x = image.detach().clone().requires_grad_(True)
    evaluations = 0

    def closure() -> torch.Tensor:
        nonlocal evaluations
        opt.zero_grad(set_to_none=True)
        losses = loss_fn(x)
        losses["total"].backward()
        evaluations += 1
        if bar is not None and evaluations <= steps:
            bar.update(1, **{k: float(v.detach()) for k, v in losses.items()})
        return losses["total"]

    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS([x], lr=lr, max_iter=steps, max_eval=steps, history_size=50,
                                tolerance_grad=-1.0, tolerance_change=-1.0)
        opt.step(closure)
    elif optimizer == "adam":
        opt = torch.optim.Adam([x], lr=lr)
        for _ in range(steps):
            opt.step(closure)
    else:
        raise VidstyleError(f"unknown optimizer {optimizer!r}; use lbfgs or adam")
    return x.detach().clamp_(0, 1)


@dataclass
class GatysCriterion:
    """Content + style + TV loss for one output size, with targets precomputed.

    Call it on an image ``1×3×H×W`` to get ``{"content", "style", "tv", "total"}``
    (weighted), plus ``"mrf"``, ``"histogram"``, ``"laplacian"`` when their targets are given;
    ``extra_loss`` adds further named terms (e.g. temporal). With ``region_masks``
    (``R×1×H×W`` at this level) ``style_grams`` hold one Gram per region (``{layer: R×C×C}``),
    ``mrf_patches`` / ``style_sorted`` one bank / sorted values per region, and the losses are
    :func:`~vidstyle.losses_extra.region_style_loss`, :func:`~vidstyle.losses_extra.region_mrf_loss`
    and :func:`~vidstyle.losses_extra.region_histogram_loss` (only the output inside each region counts).
    Without regions those lists hold one entry, the whole style's.
    """

    encoder: VGGEncoder
    cfg: OptimiseConfig
    content_targets: dict[str, torch.Tensor]
    style_grams: dict[str, torch.Tensor]
    extra_loss: LossFn | None = None
    mrf_patches: dict[str, list[torch.Tensor]] | None = None  # {layer: [P_r×(C·k²)] style patches per region}
    style_sorted: dict[str, list[torch.Tensor]] | None = None  # {layer: [C×M_r] sorted style features per region}
    content_laplacians: dict[int, torch.Tensor] | None = None  # {pool: Laplacian of the pooled content}
    region_masks: torch.Tensor | None = None
    region_weights: Sequence[float] | None = None
    bf16: bool = False  # the VGG pass (forward and backward) in bf16 autocast, channels-last; losses in float32

    def features(self, x: torch.Tensor, layers: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """The encoder's ``layers`` of ``x`` in float32 (computed in bf16 when :attr:`bf16`)."""
        if not self.bf16:
            return self.encoder(x, layers)
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            feats = self.encoder(x.contiguous(memory_format=torch.channels_last), layers)
        return {k: v.float() for k, v in feats.items()}

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        layers = tuple(dict.fromkeys(tuple(self.content_targets) + tuple(self.style_grams) + tuple(self.mrf_patches or ())
                                     + tuple(self.style_sorted or ())))
        feats = self.features(x, layers)
        losses: dict[str, torch.Tensor] = {}
        if self.content_targets:
            c = sum(content_loss(feats[n], t, relative=True) for n, t in self.content_targets.items()) / len(self.content_targets)
            losses["content"] = self.cfg.content_weight * c
        lw = layer_weights(self.cfg)
        if self.region_masks is not None:
            losses["style"] = self.cfg.style_weight * region_style_loss(feats, self.region_masks, self.style_grams,
                                                                        self.region_weights or [1.0], lw)
        else:
            losses["style"] = self.cfg.style_weight * style_loss({n: gram_matrix(feats[n]) for n in self.style_grams},
                                                                 self.style_grams, lw, relative=True)
        masks, rw = self.region_masks, self.region_weights or [1.0]
        if self.mrf_patches:
            k = self.cfg.mrf_patch
            m = sum(mrf_loss(feats[n], p[0], k) if masks is None else region_mrf_loss(feats[n], p, masks, rw, k)
                    for n, p in self.mrf_patches.items())
            losses["mrf"] = self.cfg.mrf_weight * m / len(self.mrf_patches)
        if self.style_sorted:
            h = sum(histogram_loss(feats[n], s[0]) if masks is None else region_histogram_loss(feats[n], s, masks, rw)
                    for n, s in self.style_sorted.items())
            losses["histogram"] = self.cfg.histogram_weight * h / len(self.style_sorted)
        if self.content_laplacians:
            losses["laplacian"] = self.cfg.laplacian_weight * laplacian_loss(x, self.content_laplacians,
                                                                             tuple(self.content_laplacians))
        losses["tv"] = self.cfg.tv_weight * tv_loss(x)
        if self.extra_loss is not None:
            losses.update(self.extra_loss(x))
        losses["total"] = sum(losses.values())
        return losses


def layer_weights(cfg: OptimiseConfig) -> dict[str, float]:
    """Per-layer style weights from the config (default: equal, summing to one)."""
    if cfg.style_layer_weights is None:
        return {n: 1.0 / len(cfg.style_layers) for n in cfg.style_layers}
    if len(cfg.style_layer_weights) != len(cfg.style_layers):
        raise VidstyleError(f"{len(cfg.style_layer_weights)} style layer weights given for {len(cfg.style_layers)} layers")
    return dict(zip(cfg.style_layers, cfg.style_layer_weights))


def blend_weights(n_styles: int, blend: Sequence[float] | None) -> list[float]:
    """Normalised blend weights for several style images (default: equal)."""
    if blend is None:
        return [1.0 / n_styles] * n_styles
    if len(blend) != n_styles:
        raise VidstyleError(f"{len(blend)} style weights given for {n_styles} style images; give one per --style")
    if any(w < 0 for w in blend) or sum(blend) <= 0:
        raise VidstyleError("style weights must be non-negative and not all zero")
    return [w / sum(blend) for w in blend]


@torch.no_grad()
def style_grams(encoder: VGGEncoder, styles: Sequence[torch.Tensor], weights: Sequence[float],
                layers: Sequence[str], long_side: int) -> dict[str, torch.Tensor]:
    """Blended Gram matrices ``{layer: 1×C×C}`` of several style images, each resized to ``long_side``."""
    out: dict[str, torch.Tensor] = {}
    for style, w in zip(styles, weights):
        feats = encoder(resize_long_side(style, max(long_side, 16)), layers)
        for n in layers:
            g = gram_matrix(feats[n]) * w
            out[n] = out[n] + g if n in out else g
    return out


@torch.no_grad()
def region_grams(encoder: VGGEncoder, styles: Sequence[torch.Tensor], style_masks: Sequence[torch.Tensor],
                 weights: Sequence[float], layers: Sequence[str], long_side: int) -> dict[str, torch.Tensor]:
    """Blended per-region Gram matrices ``{layer: R×C×C}``: style ``i`` resized to ``long_side``, its ``R×1×h×w``
    masks downsampled to each layer (:func:`~vidstyle.losses_extra.masked_gram`)."""
    out: dict[str, torch.Tensor] = {}
    for style, masks, w in zip(styles, style_masks, weights):
        feats = encoder(resize_long_side(style, max(long_side, 16)), layers)
        for n in layers:
            m = downsample_masks(masks.to(feats[n]), tuple(feats[n].shape[-2:]))
            g = torch.cat([masked_gram(feats[n], m[r:r + 1]) for r in range(m.shape[0])]) * w
            out[n] = out[n] + g if n in out else g
    return out


@torch.no_grad()
def extra_targets(encoder: VGGEncoder, styles: Sequence[torch.Tensor], cfg: OptimiseConfig, long_side: int,
                  content: torch.Tensor | None, style_masks: Sequence[torch.Tensor] | None = None) -> dict[str, dict]:
    """Targets of the extra losses at one pyramid level (only those whose weight is > 0).

    ``mrf_patches``: ``{layer: [bank]}``, the style patches of every style image (pooled; a blend is their union);
    ``style_sorted``: ``{layer: [C×M]}``, per-channel sorted style features (several styles: the mixture of their
    values); with ``style_masks`` (one ``R×1×h×w`` per style) both lists hold one entry per region, taken from
    that region of each style (:func:`~vidstyle.losses_extra.region_patches`, :func:`~vidstyle.losses_extra.region_sorted`);
    ``content_laplacians``: Laplacians of the pooled content image.
    """
    out: dict[str, dict] = {}
    layers = tuple(dict.fromkeys((cfg.mrf_layers if cfg.mrf_weight > 0 else ()) +
                                 (cfg.histogram_layers if cfg.histogram_weight > 0 else ())))
    feats = [encoder(resize_long_side(s, max(long_side, 16)), layers) for s in styles] if layers else []

    def per_region(n: str, take: Callable[[torch.Tensor, torch.Tensor], list[torch.Tensor]], dim: int) -> list[torch.Tensor]:
        """Region ``r``'s entries of every style image, joined along ``dim``."""
        assert style_masks is not None
        parts = [take(f[n], m) for f, m in zip(feats, style_masks)]
        return [torch.cat([p[r] for p in parts], dim=dim) for r in range(len(parts[0]))]

    if cfg.mrf_weight > 0:
        k, stride = cfg.mrf_patch, cfg.mrf_stride
        out["mrf_patches"] = {n: [torch.cat([extract_patches(f[n], k, stride) for f in feats])] if style_masks is None
                              else per_region(n, lambda f, m: region_patches(f, m, k, stride), 0) for n in cfg.mrf_layers}
    if cfg.histogram_weight > 0:
        out["style_sorted"] = {n: [torch.cat([f[n].flatten(2)[0] for f in feats], dim=1).sort(dim=1).values
                                   if len(feats) > 1 else sorted_channels(feats[0][n])] if style_masks is None
                               else [v.sort(dim=1).values for v in per_region(n, region_sorted, 1)]
                               for n in cfg.histogram_layers}
    if cfg.laplacian_weight > 0 and content is not None:
        out["content_laplacians"] = {p: laplacian_of_pooled(content, p) for p in cfg.laplacian_pools}
    return out


def pyramid_sizes(size: int, scales: int) -> list[int]:
    """Long sides of the coarse-to-fine pyramid, coarsest first (each level doubles; ≥ 64 px)."""
    sizes = [size]
    for _ in range(scales - 1):
        if sizes[0] // 2 < 64:
            break
        sizes.insert(0, sizes[0] // 2)
    return sizes


def initial_image(content: torch.Tensor | None, init: str | torch.Tensor, shape: tuple[int, int],
                  generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """The optimisation's start: the content, uniform noise, or a given image (resized)."""
    if isinstance(init, torch.Tensor):
        return F.interpolate(init.to(device), size=shape, mode="bilinear", align_corners=False).clamp(0, 1)
    if init == "content" and content is not None:
        return F.interpolate(content, size=shape, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
    noise = torch.rand((1, 3, *shape), generator=generator)
    return noise.to(device)


def stylise_still(content: torch.Tensor | None, styles: Sequence[torch.Tensor], encoder: VGGEncoder,
                  cfg: OptimiseConfig, init: str | torch.Tensor | None = None,
                  texture_shape: tuple[int, int] | None = None, extra_loss: LossFn | None = None,
                  bar: Bar | None = None, *, gram_cache: dict[int, dict[str, torch.Tensor]] | None = None,
                  content_masks: torch.Tensor | None = None, style_masks: Sequence[torch.Tensor] | None = None
                  ) -> torch.Tensor:
    """Gatys et al. optimisation over a coarse-to-fine pyramid.

    Args:
        content: ``1×3×H×W`` RGB [0, 1] on the encoder's device, or None for texture synthesis.
        styles: style images ``1×3×h×w`` (blended by ``cfg.style_blend``).
        encoder: VGG-19 deep enough for the configured layers.
        cfg: all options; ``cfg.size`` is the output's long side.
        init: overrides ``cfg.init`` (a tensor, ``"content"`` or ``"noise"``).
        texture_shape: output ``(H, W)`` when ``content`` is None.
        extra_loss: extra named loss terms (used by the video method).
        gram_cache: optional dict kept by the caller across calls (video frames): style Grams are
            stored per style size and reused instead of recomputed. Ignored with histogram colour
            preservation, whose style images change with every content image.
        content_masks: ``R×1×H×W`` soft region masks of the output (any size of the content's aspect
            ratio); with ``style_masks`` (one ``R×1×h×w`` per style image, region ``r`` ↔ region ``r``) the
            Gram loss — and the MRF and histogram losses when weighted — is taken per region pair (semantic
            style transfer, doodles; one region with an all-ones style mask = stylise only inside a matte).
            Regions weigh by their area share.

    Returns:
        ``1×3×H'×W'`` stylised image with long side ``cfg.size``, RGB [0, 1].
    """
    device = next(encoder.parameters()).device
    generator = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    if content is not None and cfg.preserve_color == "histogram":
        styles = [match_colour(s, content) for s in styles]
    weights = blend_weights(len(styles), cfg.style_blend)
    if content is not None:
        h, w = content.shape[-2:]
    else:
        h, w = texture_shape or (cfg.size, cfg.size)
    init = cfg.init if init is None else init
    from .memory import check_optimise_fits

    finest = cfg.size / max(h, w)
    check_optimise_fits(max(16, round(h * finest)), max(16, round(w * finest)), device)  # one line, not an OOM
    image: torch.Tensor | None = None
    sizes = pyramid_sizes(cfg.size, cfg.scales)
    if bar is not None:
        bar.reset(total=sum(cfg.steps if s == cfg.size else (cfg.coarse_steps or cfg.steps) for s in sizes))
    for level, long_side in enumerate(sizes):
        scale = long_side / max(h, w)
        shape = (max(16, round(h * scale)), max(16, round(w * scale)))
        scaled_content = None
        content_targets: dict[str, torch.Tensor] = {}
        if content is not None:
            scaled_content = F.interpolate(content, size=shape, mode="bilinear", align_corners=False,
                                           antialias=scale < 1).clamp(0, 1)
            if cfg.content_weight > 0:
                with torch.no_grad():
                    content_targets = encoder(scaled_content, cfg.content_layers)
        style_side = round(max(shape) * cfg.style_scale)
        if content_masks is not None:
            pass  # per-region Grams below
        elif gram_cache is not None and cfg.preserve_color != "histogram":
            if style_side not in gram_cache:
                gram_cache[style_side] = style_grams(encoder, styles, weights, cfg.style_layers, style_side)
            grams = gram_cache[style_side]
        else:
            grams = style_grams(encoder, styles, weights, cfg.style_layers, style_side)
        regions: dict = {}
        if content_masks is not None:
            if style_masks is None or len(style_masks) != len(styles):
                raise VidstyleError("region masks need one style mask per style image")
            masks = downsample_masks(content_masks.to(device, torch.float32), shape)
            area = masks.flatten(1).sum(1)
            grams = region_grams(encoder, styles, style_masks, weights, cfg.style_layers, style_side)
            regions = {"region_masks": masks, "region_weights": (area / area.sum().clamp_min(1e-6)).tolist()}
        extras = extra_targets(encoder, styles, cfg, style_side, scaled_content,
                               style_masks if content_masks is not None else None)
        criterion = GatysCriterion(encoder, cfg, content_targets, grams, extra_loss, **extras, **regions,
                                   bf16=bf16_choice(cfg.precision, device, "torch")[0])
        if image is None:
            start = initial_image(scaled_content, init, shape, generator, device)
        else:
            start = F.interpolate(image, size=shape, mode="bilinear", align_corners=False).clamp(0, 1)
        steps = cfg.steps if level == len(sizes) - 1 else (cfg.coarse_steps or cfg.steps)
        lr = cfg.lr if cfg.optimizer == "lbfgs" else cfg.adam_lr
        image = optimise(start, criterion, steps, cfg.optimizer, lr, bar)
    assert image is not None
    if content is not None and cfg.preserve_color == "luminance":
        image = luminance_transfer(image, content)
    return image


__all__ = ["optimise", "GatysCriterion", "stylise_still", "style_grams", "region_grams", "extra_targets", "pyramid_sizes",
           "blend_weights"]
