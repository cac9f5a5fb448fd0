"""Adaptive instance normalisation (Huang & Belongie 2017) as a pure tensor transform.

AdaIN gives every channel of the content features the mean and standard deviation of
the style's channel: ``t = σ_s · (f_c − μ_c) / σ_c + μ_s``. Features are ``N×C×H×W``.
"""

from __future__ import annotations

import torch

#: Added to variances before the square root so flat channels do not divide by zero.
EPS = 1e-5


def mean_std(features: torch.Tensor, eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of ``N×C×H×W`` features, each ``N×C×1×1``."""
    flat = features.flatten(2)
    mean = flat.mean(dim=2)
    std = (flat.var(dim=2, unbiased=False) + eps).sqrt()
    return mean[..., None, None], std[..., None, None]


def adain(content: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor, eps: float = EPS,
          content_stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Content features ``N×C×H×W`` with the channel statistics ``style_mean``/``style_std`` (``N|1×C×1×1``).

    ``content_stats``: the content's ``(mean, std)`` to normalise by (default: its own, :func:`mean_std`) — a
    tile of a frame passes the whole frame's, so that every tile is normalised alike."""
    mean, std = mean_std(content, eps) if content_stats is None else content_stats
    return (content - mean) / std * style_std + style_mean


__all__ = ["EPS", "adain", "mean_std"]
