"""Colour preservation (Gatys et al. 2016, "Preserving Color in Neural Artistic Style Transfer").

Two methods, both on RGB ``N×3×H×W`` tensors in [0, 1]:

* :func:`luminance_transfer` — keep the stylised luminance, take chroma from the content (YCbCr via kornia).
* :func:`match_colour` — linearly map the style image's colour mean and covariance onto the content's
  (the "colour histogram matching" variant, applied to the style before stylising).
"""

from __future__ import annotations

import torch
from kornia.color import rgb_to_ycbcr, ycbcr_to_rgb


def luminance_transfer(stylised: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Luminance of ``stylised`` with the chroma (Cb, Cr) of ``content`` (resized to match)."""
    if content.shape[-2:] != stylised.shape[-2:]:
        content = torch.nn.functional.interpolate(content, size=stylised.shape[-2:], mode="bilinear", align_corners=False)
    y = rgb_to_ycbcr(stylised)[:, :1]
    cbcr = rgb_to_ycbcr(content)[:, 1:]
    return ycbcr_to_rgb(torch.cat([y, cbcr], dim=1)).clamp(0, 1)


def _mean_cov(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    pixels = x.reshape(3, -1).double()
    mu = pixels.mean(dim=1, keepdim=True)
    centred = pixels - mu
    return mu, centred @ centred.T / pixels.shape[1] + 1e-5 * torch.eye(3, dtype=torch.float64, device=x.device)


def _sqrtm(m: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(m)
    vals = vals.clamp_min(1e-8).pow(-0.5 if inverse else 0.5)
    return vecs @ torch.diag(vals) @ vecs.T


def match_colour(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Recolour ``source`` (``1×3×H×W``) so its colour mean and covariance equal ``target``'s.

    Uses the symmetric (PCA-free) map ``x' = Σ_t^{1/2} Σ_s^{-1/2} (x − μ_s) + μ_t`` in float64.
    """
    mu_s, cov_s = _mean_cov(source[0])
    mu_t, cov_t = _mean_cov(target[0])
    a = _sqrtm(cov_t) @ _sqrtm(cov_s, inverse=True)
    pixels = source[0].reshape(3, -1).double()
    out = a @ (pixels - mu_s) + mu_t
    return out.reshape_as(source[0]).unsqueeze(0).to(source.dtype).clamp(0, 1)


__all__ = ["luminance_transfer", "match_colour"]
