"""Style losses beyond Gatys's Gram matrices, as pure tensor functions.

* :func:`mrf_loss` — Li & Wand 2016 (CNNMRF): every 3×3 patch of the output's features is
  pulled towards its nearest style patch, nearest by normalised cross-correlation.
* :func:`histogram_loss` — Risser et al. 2017: L2 to a per-channel histogram-matched copy of
  the features (the style's value distribution given to the output's ranks).
* :func:`laplacian_loss` — Li et al. 2017 (Laplacian-steered NST): squared difference of the
  Laplacian of the average-pooled output and content images.
* :func:`region_style_loss`, :func:`region_mrf_loss`, :func:`region_histogram_loss` — the Gram, MRF and
  histogram losses per region pair (semantic style transfer, doodles, masked stylisation) from soft masks
  downsampled to each layer: output features inside region ``r`` are compared only with the style's
  features in region ``r``; features outside every region do not enter.

Features are ``N×C×H×W``; images are RGB in [0, 1]. Each loss returns a scalar (mean over the
batch) and, like :mod:`vidstyle.losses`, is *relative*: divided by its target's mean square, so
one weight works for every layer and both VGG weight sources. Matching (nearest patch, sorting)
is done without gradient, as in the papers; the loss is differentiable in the features.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

# ----------------------------------------------------------------------------- MRF (Li & Wand 2016)


def extract_patches(features: torch.Tensor, size: int = 3, stride: int = 1) -> torch.Tensor:
    """All ``size``×``size`` patches of ``1×C×H×W`` features → ``P×(C·size²)`` (P = number of patches)."""
    if features.shape[0] != 1:
        raise ValueError(f"extract_patches takes one feature map 1×C×H×W, got {tuple(features.shape)}")
    return F.unfold(features, size, stride=stride)[0].t()


def patch_weights(mask: torch.Tensor, size: int = 3, stride: int = 1, reduce: str = "min") -> torch.Tensor:
    """Per-patch weight of a soft ``N×1×H×W`` mask for the ``size``×``size`` patches of :func:`extract_patches`
    (same order) → ``N×P``: the mask's minimum over each patch window (``"min"``: a patch counts only as far as
    all of it lies inside) or its mean (``"mean"``)."""
    if reduce == "min":
        pooled = -F.max_pool2d(-mask, size, stride=stride)
    elif reduce == "mean":
        pooled = F.avg_pool2d(mask, size, stride=stride)
    else:
        raise ValueError(f"reduce must be 'min' or 'mean', got {reduce!r}")
    return pooled.flatten(1)


def mrf_loss(features: torch.Tensor, style_patches: torch.Tensor, size: int = 3, relative: bool = True,
             chunk: int = 4096, mask: torch.Tensor | None = None) -> torch.Tensor:
    """CNNMRF loss: mean squared distance of each output patch to its best-matching style patch.

    Args:
        features: ``N×C×H×W`` output features (H, W ≥ ``size``).
        style_patches: ``P×(C·size²)`` patches of the style's features (:func:`extract_patches`).
        size: patch side.
        relative: divide by the mean square of the matched style patches.
        chunk: output patches matched at a time (bounds the ``chunk×P`` correlation matrix).
        mask: optional ``N×1×H×W`` (or ``1×1×H×W``) soft mask in [0, 1] at the features' size: each output
            patch weighs the mask's minimum over its window (:func:`patch_weights`), so only patches lying
            inside the mask are matched and penalised, and features where the mask is 0 do not enter the loss.

    Returns:
        Scalar: ``Σ_i w_i ‖Ψ_i(x) − Ψ_NN(i)(s)‖² / (C·size² · Σ_i w_i)`` averaged over the batch (``w_i = 1``
        without a mask), where ``NN(i) = argmax_j ⟨Ψ_i(x), Ψ_j(s)⟩ / (‖Ψ_i(x)‖·‖Ψ_j(s)‖)`` (normalised
        cross-correlation). A sample whose mask holds no whole patch contributes 0.
    """
    n = features.shape[0]
    bank = style_patches / style_patches.norm(dim=1, keepdim=True).clamp_min(1e-8)
    weights = patch_weights(mask.to(features).expand(n, 1, *features.shape[-2:]), size) if mask is not None else None
    total = features.new_zeros(())
    for b in range(n):
        patches = F.unfold(features[b:b + 1], size)[0].t()  # Q×D
        w = None
        if weights is not None:
            keep = weights[b] > 0
            patches, w = patches[keep], weights[b][keep]
            if len(patches) == 0:
                continue
        with torch.no_grad():
            # the output patch's own norm does not change the argmax over style patches
            idx = torch.cat([(patches[i:i + chunk].detach() @ bank.t()).argmax(1) for i in range(0, len(patches), chunk)])
        target = style_patches[idx]
        if w is None:
            err, scale = (patches - target).pow(2).mean(), target.pow(2).mean()
        else:
            err = (w * (patches - target).pow(2).mean(1)).sum() / w.sum()
            scale = (w * target.pow(2).mean(1)).sum() / w.sum()
        total = total + (err / scale.clamp_min(1e-12) if relative else err)
    return total / n


def region_patches(features: torch.Tensor, masks: torch.Tensor, size: int = 3, stride: int = 1) -> list[torch.Tensor]:
    """The style's patch bank of each region: ``1×C×H×W`` features, ``R×1×h×w`` soft masks (any size; downsampled
    here) → ``R`` banks ``P_r×(C·size²)``.

    A patch belongs to region ``r`` when its whole window lies in it (mask ≥ 0.5 everywhere); a region too small
    for a whole patch at this layer takes the patches it covers most (mean ≥ half the best patch's mean).

    Raises:
        ValueError: a region has no pixel at all in these features.
    """
    m = downsample_masks(masks.to(features), tuple(features.shape[-2:]))
    patches = extract_patches(features, size, stride)
    inside, share = patch_weights(m, size, stride, "min"), patch_weights(m, size, stride, "mean")
    banks = []
    for r in range(m.shape[0]):
        keep = inside[r] >= 0.5
        if not bool(keep.any()):
            best = float(share[r].max())
            if best <= 0:
                raise ValueError(f"style region {r} has no pixels at {tuple(features.shape[-2:])} features")
            keep = share[r] >= 0.5 * best
        banks.append(patches[keep])
    return banks


def region_mrf_loss(features: torch.Tensor, banks: Sequence[torch.Tensor], masks: torch.Tensor,
                    region_weights: Sequence[float], size: int = 3) -> torch.Tensor:
    """Masked / semantic CNNMRF loss ``Σ_r w_r · mrf_loss(F, bank_r, mask=m_r)``: output patches inside region ``r``
    (``masks`` ``R×1×H×W``, any size of the features' aspect ratio) are matched only to the style patches of
    region ``r`` (:func:`region_patches`). One region with the whole style's bank = MRF inside a matte."""
    m = downsample_masks(masks.to(features), tuple(features.shape[-2:]))
    total = features.new_zeros(())
    for r, wr in enumerate(region_weights):
        if wr > 0:
            total = total + wr * mrf_loss(features, banks[r], size, mask=m[r:r + 1])
    return total


# ----------------------------------------------------------------------------- histogram (Risser et al. 2017)


def sorted_channels(features: torch.Tensor) -> torch.Tensor:
    """Per-channel sorted values of ``1×C×H×W`` features → ``C×(H·W)`` (the style's histogram, precomputed)."""
    return features.flatten(2)[0].sort(dim=1).values


def histogram_match(features: torch.Tensor, style_sorted: torch.Tensor) -> torch.Tensor:
    """Per-channel histogram matching by sorting: each value of ``features`` (``N×C×H×W``) is replaced by the
    style's value of the same rank (quantile), interpolating ``style_sorted`` (``C×M``) to ``H·W`` entries."""
    n, c, h, w = features.shape
    flat = features.flatten(2)
    quantiles = F.interpolate(style_sorted.unsqueeze(0), size=h * w, mode="linear", align_corners=True)
    order = flat.argsort(dim=2)
    target = torch.empty_like(flat).scatter_(2, order, quantiles.expand(n, c, h * w).to(flat.dtype))
    return target.view(n, c, h, w)


def histogram_loss(features: torch.Tensor, style_sorted: torch.Tensor, relative: bool = True,
                   mask: torch.Tensor | None = None) -> torch.Tensor:
    """Risser et al. histogram loss ``‖F − histmatch(F, S)‖² / (C·H·W)`` (target not differentiated).

    Args:
        features: ``N×C×H×W`` output features.
        style_sorted: ``C×M`` sorted style values per channel (:func:`sorted_channels`).
        mask: optional ``N×1×H×W`` (or ``1×1×H×W``) soft mask in [0, 1] at the features' size: only the values
            where it is > 0 are histogram-matched (each weighing its mask value, :func:`masked_histogram_match`)
            and penalised (weighted mean); values where it is 0 do not enter the loss.

    Returns:
        Scalar; zero exactly when each channel of ``features`` (inside the mask) has the style's distribution.
    """
    if mask is not None:
        return _masked_histogram_loss(features, style_sorted, mask, relative)
    with torch.no_grad():
        target = histogram_match(features.detach(), style_sorted)
    loss = (features - target).pow(2).mean()
    return loss / style_sorted.pow(2).mean().clamp_min(1e-12) if relative else loss


def masked_histogram_match(values: torch.Tensor, weights: torch.Tensor, style_sorted: torch.Tensor) -> torch.Tensor:
    """Weighted histogram matching: ``C×K`` values with ``K`` positive weights → the style's value (``C×M`` sorted)
    at each value's weighted rank.

    Per channel, values are sorted and value ``i`` goes to the style quantile at
    ``(W_i − w_i/2 − w_first/2) / (Σw − w_first/2 − w_last/2)`` (``W_i`` the cumulative weight), linearly
    interpolated; with equal weights this is :func:`histogram_match` (rank ``i`` of ``K`` → ``i/(K−1)``).
    """
    c, k = values.shape
    order = values.argsort(dim=1)
    w = weights[order]  # C×K, the weights in each channel's sorted order
    cum = w.cumsum(1)
    lo, hi = w[:, :1] / 2, w[:, -1:] / 2
    span = cum[:, -1:] - lo - hi
    q = ((cum - w / 2 - lo) / span.clamp_min(1e-12)).clamp(0, 1) if k > 1 else torch.zeros_like(w)
    pos = q * (style_sorted.shape[1] - 1)
    i0 = pos.floor().long().clamp(max=style_sorted.shape[1] - 1)
    i1 = (i0 + 1).clamp(max=style_sorted.shape[1] - 1)
    frac = (pos - i0).to(style_sorted.dtype)
    s = style_sorted.to(values.dtype)
    matched = torch.lerp(s.gather(1, i0), s.gather(1, i1), frac.to(values.dtype))
    return torch.empty_like(values).scatter_(1, order, matched)


def _masked_histogram_loss(features: torch.Tensor, style_sorted: torch.Tensor, mask: torch.Tensor,
                           relative: bool) -> torch.Tensor:
    n, c = features.shape[:2]
    weights = mask.to(features).expand(n, 1, *features.shape[-2:]).flatten(1)
    total = features.new_zeros(())
    for b in range(n):
        keep = weights[b] > 0
        if not bool(keep.any()):
            continue
        values, w = features[b].flatten(1)[:, keep], weights[b][keep]  # C×K, K
        with torch.no_grad():
            target = masked_histogram_match(values.detach(), w, style_sorted)
        loss = (w * (values - target).pow(2)).sum() / (c * w.sum())
        total = total + (loss / style_sorted.pow(2).mean().clamp_min(1e-12) if relative else loss)
    return total / n


def region_sorted(features: torch.Tensor, masks: torch.Tensor) -> list[torch.Tensor]:
    """The style's sorted values per region: ``1×C×H×W`` features, ``R×1×h×w`` soft masks (downsampled here) →
    ``R`` tensors ``C×M_r``: the values where the region's mask is ≥ 0.5 (a region too small for that at this
    layer: where it is ≥ half its maximum).

    Raises:
        ValueError: a region has no pixel at all in these features.
    """
    m = downsample_masks(masks.to(features), tuple(features.shape[-2:])).flatten(1)
    flat = features.flatten(2)[0]
    out = []
    for r in range(m.shape[0]):
        best = float(m[r].max())
        if best <= 0:
            raise ValueError(f"style region {r} has no pixels at {tuple(features.shape[-2:])} features")
        out.append(flat[:, m[r] >= min(0.5, 0.5 * best)].sort(dim=1).values)
    return out


def region_histogram_loss(features: torch.Tensor, style_sorted: Sequence[torch.Tensor], masks: torch.Tensor,
                          region_weights: Sequence[float]) -> torch.Tensor:
    """Masked / semantic histogram loss ``Σ_r w_r · histogram_loss(F, S_r, mask=m_r)``: the output's values inside
    region ``r`` (``masks`` ``R×1×H×W``, any size of the features' aspect ratio) get the distribution of the
    style's values in region ``r`` (:func:`region_sorted`)."""
    m = downsample_masks(masks.to(features), tuple(features.shape[-2:]))
    total = features.new_zeros(())
    for r, wr in enumerate(region_weights):
        if wr > 0:
            total = total + wr * histogram_loss(features, style_sorted[r], mask=m[r:r + 1])
    return total


# ----------------------------------------------------------------------------- Laplacian (Li et al. 2017)


def laplacian_of_pooled(image: torch.Tensor, pool: int = 4) -> torch.Tensor:
    """3×3 Laplacian (kornia) of the ``pool``×``pool`` average-pooled ``N×3×H×W`` image."""
    from kornia.filters import laplacian

    x = F.avg_pool2d(image, pool) if pool > 1 else image
    return laplacian(x, kernel_size=3, border_type="replicate", normalized=False)


def laplacian_loss(output: torch.Tensor, content_laplacian: torch.Tensor | dict[int, torch.Tensor],
                   pools: Sequence[int] = (4,), relative: bool = True) -> torch.Tensor:
    """Li et al. 2017: ``Σ_p ‖L(P_p(x)) − L(P_p(c))‖²`` over pooling sizes ``pools`` (mean, not sum, per pixel).

    Args:
        output: ``N×3×H×W`` image in [0, 1].
        content_laplacian: ``{pool: laplacian_of_pooled(content, pool)}`` (or one tensor for one pool).
        pools: average-pooling sizes (the paper uses 4 and 16).

    Returns:
        Scalar; with ``relative`` each pool's term is divided by the content Laplacian's mean square.
    """
    if isinstance(content_laplacian, torch.Tensor):
        content_laplacian = {pools[0]: content_laplacian}
    total = output.new_zeros(())
    for p in pools:
        target = content_laplacian[p]
        err = (laplacian_of_pooled(output, p) - target).pow(2).mean()
        if relative:
            err = err / target.pow(2).mean().clamp_min(1e-12)
        total = total + err
    return total / len(pools)


# ----------------------------------------------------------------------------- regions (semantic / masked)


def masked_gram(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Gram matrix of the features inside a soft mask: ``(F·m)(F·m)ᵀ / (C·Σm)``.

    ``features`` ``N×C×H×W``, ``mask`` ``N×1×H×W`` (or ``1×1×H×W``) in [0, 1] at the features' size → ``N×C×C``.
    With an all-ones mask this is :func:`vidstyle.losses.gram_matrix`.
    """
    n, c, h, w = features.shape
    f = (features * mask).reshape(n, c, h * w)
    area = mask.expand(n, 1, h, w).reshape(n, -1).sum(1).clamp_min(1e-6)
    return torch.bmm(f, f.transpose(1, 2)) / (c * area).view(n, 1, 1)


def downsample_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Soft ``R×1×H×W`` region masks → ``R×1×h×w`` by area averaging (bilinear when upsampling)."""
    if tuple(masks.shape[-2:]) == tuple(size):
        return masks
    smaller = size[0] <= masks.shape[-2] and size[1] <= masks.shape[-1]
    return F.interpolate(masks, size=size, mode="area") if smaller else F.interpolate(masks, size=size, mode="bilinear",
                                                                                     align_corners=False)


def region_style_loss(features: dict[str, torch.Tensor], masks: torch.Tensor, target_grams: dict[str, torch.Tensor],
                      region_weights: Sequence[float], layer_weights: dict[str, float] | None = None) -> torch.Tensor:
    """Relative Gram loss per region: ``Σ_r w_r Σ_l λ_l ‖G_l(F·m_r) − G_l,r‖² / ‖G_l,r‖²``.

    Args:
        features: ``{layer: 1×C×H×W}`` output features.
        masks: ``R×1×H×W`` output-region masks at image size (downsampled to each layer here).
        target_grams: ``{layer: R×C×C}`` the style's Gram per region (:func:`masked_gram` over its own masks).
        region_weights: ``R`` weights (e.g. the regions' area shares).
        layer_weights: per layer (default equal, summing to one).
    """
    names = list(target_grams)
    lw = layer_weights or {n: 1.0 / len(names) for n in names}
    total = masks.new_zeros(())
    for n in names:
        f = features[n]
        m = downsample_masks(masks, tuple(f.shape[-2:]))
        for r, wr in enumerate(region_weights):
            if wr <= 0:
                continue
            g = masked_gram(f, m[r:r + 1])
            t = target_grams[n][r:r + 1]
            total = total + lw[n] * wr * (g - t).pow(2).sum() / t.pow(2).sum().clamp_min(1e-12)
    return total


__all__ = ["extract_patches", "patch_weights", "mrf_loss", "region_patches", "region_mrf_loss", "sorted_channels",
           "histogram_match", "masked_histogram_match", "histogram_loss", "region_sorted", "region_histogram_loss",
           "laplacian_of_pooled", "laplacian_loss", "masked_gram", "downsample_masks", "region_style_loss"]
