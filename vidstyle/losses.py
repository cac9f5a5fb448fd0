"""Loss functions of neural style transfer, as pure tensor functions.

Feature tensors are ``N×C×H×W``; images are RGB in [0, 1]. Every function
returns a scalar tensor (mean over the batch), so weights compose linearly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix ``G = F Fᵀ / (C·H·W)`` of ``N×C×H×W`` features → ``N×C×C``.

    The normalisation is the one in shared/METRICS.md, so losses and the
    reported style distance agree.
    """
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def content_loss(features: torch.Tensor, target: torch.Tensor, relative: bool = False) -> torch.Tensor:
    """Mean squared feature difference (Gatys et al.).

    With ``relative`` it is divided by the target's mean square, which makes the
    loss independent of the loss network's feature scale (Caffe vs torchvision VGG).
    """
    loss = F.mse_loss(features, target.expand_as(features))
    return loss / target.pow(2).mean().clamp_min(1e-12) if relative else loss


def style_loss(grams: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor],
               layer_weights: dict[str, float] | None = None, relative: bool = False) -> torch.Tensor:
    """Weighted sum over layers of the squared Frobenius distance of Gram matrices.

    ``‖G − G_s‖²_F`` per layer (summed over the C×C entries, mean over the batch),
    weighted by ``layer_weights`` (default 1 / number of layers). With ``relative``
    each layer is divided by ``‖G_s‖²_F``: VGG's layers differ in feature scale by
    orders of magnitude, and relative errors let every layer count.
    """
    names = list(target_grams)
    weights = layer_weights or {n: 1.0 / len(names) for n in names}
    total = grams[names[0]].new_zeros(())
    for n in names:
        diff = grams[n] - target_grams[n].expand_as(grams[n])
        err = diff.pow(2).sum(dim=(1, 2))
        if relative:
            err = err / target_grams[n].pow(2).sum(dim=(-2, -1)).clamp_min(1e-12)
        total = total + weights[n] * err.mean()
    return total


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation: mean squared difference of horizontal plus vertical neighbours."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()


def temporal_loss(output: torch.Tensor, warped_previous: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Ruder et al. short-term temporal loss: ``Σ M (O − warp(O_prev))² / (3·H·W)``.

    Args:
        output: ``N×3×H×W`` current stylised frame.
        warped_previous: ``N×3×H×W`` previous stylised frame warped to this one.
        mask: ``N×1×H×W`` reliability in [0, 1] (1 = reliable).
    """
    n, c, h, w = output.shape
    return (mask * (output - warped_previous).pow(2)).sum(dim=(1, 2, 3)).mean() / (c * h * w)


def feature_distillation_loss(features: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> torch.Tensor:
    """Distillation to a teacher's output in feature space: the relative content loss at each layer of ``target``
    (student features ``features``, teacher features ``target``, e.g. VGG relu2_2/relu3_1), averaged over layers."""
    return sum(content_loss(features[k], target[k], relative=True) for k in target) / len(target)  # type: ignore[return-value]


__all__ = ["gram_matrix", "content_loss", "style_loss", "tv_loss", "temporal_loss", "feature_distillation_loss"]
