"""Whitening and colouring transforms (Li et al. 2017) as pure tensor functions.

For features ``f`` (``C×H×W``, one image) with mean ``μ`` and covariance ``Σ = E Λ Eᵀ``:

* whitening  ``ŵ = E (Λ + εI)^{-1/2} Eᵀ (f − μ_c)`` gives (almost exactly) identity covariance;
* colouring  ``f' = E_s (Λ_s + εI)^{1/2} E_sᵀ ŵ + μ_s`` gives the style's mean and covariance.

Eigendecompositions and covariances are computed in float64; ``ε`` is relative to the mean
eigenvalue (scale-free across VGG levels) and keeps near-zero directions from exploding.
The symmetric square roots are independent of eigenvector signs, so results are deterministic.
A style's colouring statistics (:class:`ColourStats`) are computed once and reused for every frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

#: Regularisation added to covariance eigenvalues, relative to their mean.
REG = 1e-5
#: Pixels per chunk when accumulating a covariance in float64 (bounds memory on large frames).
_CHUNK = 1 << 16


def mean_cov(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``C×1`` and covariance ``C×C`` (float64, biased) of ``C×H×W`` (or ``C×P``) features."""
    flat = features.reshape(features.shape[0], -1)
    n = flat.shape[1]
    mean = flat.double().mean(dim=1, keepdim=True)
    cov = torch.zeros(flat.shape[0], flat.shape[0], dtype=torch.float64, device=flat.device)
    for i in range(0, n, _CHUNK):
        x = flat[:, i:i + _CHUNK].double() - mean
        cov += x @ x.T
    return mean, cov / max(n, 1)


def _sym_power(cov: torch.Tensor, power: float, reg: float) -> torch.Tensor:
    """``(Σ + ε·mean(λ)·I)^power`` of a symmetric PSD matrix via ``eigh`` (float64)."""
    vals, vecs = torch.linalg.eigh(cov)
    vals = vals.clamp_min(0)
    vals = vals + reg * vals.mean().clamp_min(1e-12)
    return (vecs * vals.pow(power)) @ vecs.T


@dataclass(frozen=True)
class ColourStats:
    """A style's colouring statistics at one level: ``mean`` ``C×1`` and ``colour = Σ_s^{1/2}`` ``C×C`` (float64)."""

    mean: torch.Tensor
    colour: torch.Tensor

    def to(self, device: torch.device | str) -> ColourStats:
        return ColourStats(self.mean.to(device), self.colour.to(device))


def colour_stats(style_features: torch.Tensor, reg: float = REG) -> ColourStats:
    """:class:`ColourStats` of one style's ``C×H×W`` features."""
    mean, cov = mean_cov(style_features)
    return ColourStats(mean, _sym_power(cov, 0.5, reg))


def blend_stats(stats: Sequence[ColourStats], weights: Sequence[float]) -> ColourStats:
    """Weighted sum of several styles' statistics (weights sum to 1).

    Colouring is linear in ``(colour, mean)``, so ``Σ wᵢ·colourᵢ(ŵ)`` — the interpolation of
    Li et al. — equals colouring once with the blended matrices.
    """
    colour = sum(w * s.colour for w, s in zip(weights, stats))
    mean = sum(w * s.mean for w, s in zip(weights, stats))
    return ColourStats(mean, colour)  # type: ignore[arg-type]


def whiten(features: torch.Tensor, reg: float = REG) -> torch.Tensor:
    """Whitened ``C×H×W`` features (zero mean, ≈identity covariance), float64."""
    mean, cov = mean_cov(features)
    flat = features.reshape(features.shape[0], -1).double() - mean
    return (_sym_power(cov, -0.5, reg) @ flat).reshape(features.shape)


def wct(content: torch.Tensor, style: ColourStats, alpha: float = 1.0, reg: float = REG,
        content_stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Whiten ``C×H×W`` content features, colour them with ``style``, blend with the content by ``alpha``.

    The whitening and colouring matrices are combined in float64 into one ``C×C`` map, then applied
    in the features' own dtype (a 1280×720 frame at relu1_1 stays affordable). ``content_stats``: the content's
    ``(mean, cov)`` (:func:`mean_cov`) to whiten by (default: its own) — a tile passes the whole frame's.
    """
    mean, cov = mean_cov(content) if content_stats is None else content_stats
    transform = style.colour.to(content.device) @ _sym_power(cov, -0.5, reg)
    shift = style.mean.to(content.device) - transform @ mean  # f' = T (f − μ_c) + μ_s = T f + shift
    flat = content.reshape(content.shape[0], -1)
    out = torch.addmm(shift.to(flat.dtype), transform.to(flat.dtype), flat).reshape(content.shape)
    return alpha * out + (1 - alpha) * content if alpha != 1 else out


__all__ = ["REG", "ColourStats", "blend_stats", "colour_stats", "mean_cov", "wct", "whiten"]
