"""Warping by a flow and Ruder et al. reliability masks (flow convention in :mod:`vidstyle.flow`).

All tensors are on the working device; flows are ``N×2×H×W`` in pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.filters import spatial_gradient


def coords_grid(n: int, h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Absolute pixel coordinates ``N×2×H×W`` (x in channel 0, y in channel 1)."""
    ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=dtype), torch.arange(w, device=device, dtype=dtype),
                            indexing="ij")
    return torch.stack([xs, ys]).unsqueeze(0).expand(n, 2, h, w)


def warp(image: torch.Tensor, flow: torch.Tensor, mode: str = "bilinear", padding: str = "border") -> torch.Tensor:
    """Sample ``image`` at ``p + flow(p)``.

    Args:
        image: ``N×C×H×W``.
        flow: ``N×2×H×W`` in pixels (x, y).
        mode: ``bilinear`` or ``nearest``.
        padding: ``border`` (clamp), ``zeros`` or ``reflection`` for samples outside the frame.

    Returns:
        ``N×C×H×W``. A zero flow returns ``image``; a constant integer flow shifts it exactly.

    Convention: pixel centres at integer coordinates, ``align_corners=True``.
    """
    n, _, h, w = image.shape
    pos = coords_grid(n, h, w, image.device, flow.dtype) + flow
    gx = 2.0 * pos[:, 0] / max(w - 1, 1) - 1.0
    gy = 2.0 * pos[:, 1] / max(h - 1, 1) - 1.0
    grid = torch.stack([gx, gy], dim=-1).to(image.dtype)
    return F.grid_sample(image, grid, mode=mode, padding_mode=padding, align_corners=True)


def inside_frame(flow: torch.Tensor) -> torch.Tensor:
    """``N×1×H×W`` bool: ``p + flow(p)`` lies inside the frame."""
    n, _, h, w = flow.shape
    pos = coords_grid(n, h, w, flow.device, flow.dtype) + flow
    x, y = pos[:, :1], pos[:, 1:]
    return (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)


def reliability_mask(forward: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
    """Ruder et al. (2016) reliability of ``forward`` given the opposite flow ``backward``.

    ``forward = estimate(a, b)`` and ``backward = estimate(b, a)``. A pixel is
    unreliable (0) when any holds (thresholds from shared/METRICS.md):

    * forward–backward check: ``|f + b̃|² > 0.01 (|f|² + |b̃|²) + 0.5`` with ``b̃ = warp(backward, f)``;
    * motion boundary: ``|∇u|² + |∇v|² > 0.01 |f|² + 0.002``;
    * ``p + f(p)`` leaves the frame.

    Returns:
        ``N×1×H×W`` float mask in {0, 1}.
    """
    b_tilde = warp(backward, forward)
    f2 = forward.pow(2).sum(1, keepdim=True)
    consistent = (forward + b_tilde).pow(2).sum(1, keepdim=True) <= 0.01 * (f2 + b_tilde.pow(2).sum(1, keepdim=True)) + 0.5
    grads = spatial_gradient(forward, mode="diff", normalized=True)  # N×2×2×H×W, central differences
    grad2 = grads.pow(2).sum(dim=(1, 2)).unsqueeze(1)
    smooth = grad2 <= 0.01 * f2 + 0.002
    return (consistent & smooth & inside_frame(forward)).to(forward.dtype)


__all__ = ["coords_grid", "warp", "inside_frame", "reliability_mask"]
