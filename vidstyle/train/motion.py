"""Synthetic motion from stills: frame pairs with an exactly known (analytic) flow.

Any photo folder becomes temporal training data (Huang et al. 2017; ReCoNet):
take a still as the *previous* frame, pick a smooth random motion — an affine
map (rotation, zoom, shift) plus a thin-plate-spline perturbation of a 3×3
control grid (kornia) — and build the *current* frame by sampling the previous
one along it. The flow is then known exactly, in vidstyle's convention
(:mod:`vidstyle.flow`): ``flow = P(p) − p`` and ``warp(previous, flow) ≈ current``,
i.e. what ``estimate(current, previous)`` would ideally return. Independent
noise on both frames mimics sensor noise, which a stable network must ignore.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from kornia.geometry.transform import get_tps_transform, warp_points_tps

from ..flow.warp import coords_grid, inside_frame, warp


@dataclass(frozen=True)
class MotionConfig:
    """Ranges of the random motion (fractions are of the frame's long side)."""

    shift: float = 0.04
    rotate_deg: float = 3.0
    zoom: float = 0.04
    tps_jitter: float = 0.02
    noise: float = 0.02  # std of additive Gaussian noise on each frame


def random_motion_flow(n: int, h: int, w: int, cfg: MotionConfig = MotionConfig(),
                       generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Random smooth flows ``N×2×H×W`` in pixels (affine ∘ thin-plate spline, evaluated analytically)."""
    g = generator

    def u(*shape):  # uniform in [-1, 1]
        return torch.rand(*shape, generator=g) * 2 - 1

    # Work in a normalised frame (long side spans [-1, 1]) so the TPS solve is well conditioned.
    s = max(h, w) / 2.0
    grid1 = torch.linspace(-1, 1, 3)
    cy, cx = torch.meshgrid(grid1 * (h / 2 / s), grid1 * (w / 2 / s), indexing="ij")
    src = torch.stack([cx.flatten(), cy.flatten()], -1).unsqueeze(0).repeat(n, 1, 1)  # N×9×2
    ang = u(n, 1) * math.radians(cfg.rotate_deg)
    zoom = 1 + u(n, 1) * cfg.zoom
    shift = u(n, 1, 2) * cfg.shift * 2  # fraction of the long side → normalised units (long side = 2)
    cos, sin = torch.cos(ang) * zoom, torch.sin(ang) * zoom
    x, y = src[..., 0], src[..., 1]
    dst = torch.stack([cos * x - sin * y, sin * x + cos * y], -1) + shift
    dst = dst + u(n, 9, 2) * cfg.tps_jitter * 2
    kernel_w, affine_w = get_tps_transform(src, dst)
    pix = coords_grid(1, h, w).reshape(2, -1).T  # (H·W)×2 pixel coordinates (x, y)
    pts = ((pix - torch.tensor([(w - 1) / 2, (h - 1) / 2])) / s).unsqueeze(0).expand(n, -1, -1)
    mapped = warp_points_tps(pts.contiguous(), dst, kernel_w, affine_w)  # N×(H·W)×2, normalised
    flow = (mapped - pts) * s
    return flow.permute(0, 2, 1).reshape(n, 2, h, w).to(device)


def synthetic_pair(previous: torch.Tensor, cfg: MotionConfig = MotionConfig(), generator: torch.Generator | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Make ``(current, previous, flow, mask)`` from stills.

    Args:
        previous: ``N×3×H×W`` RGB in [0, 1] (the stills).

    Returns:
        ``current`` and noisy ``previous`` (``N×3×H×W`` in [0, 1]), ``flow`` ``N×2×H×W``
        with ``warp(previous_clean, flow) == current_clean``, and ``mask`` ``N×1×H×W``
        (1 where ``p + flow`` stays inside the frame — no occlusions in a smooth warp).
    """
    n, _, h, w = previous.shape
    flow = random_motion_flow(n, h, w, cfg, generator, previous.device)
    current = warp(previous, flow)
    mask = inside_frame(flow).to(previous.dtype)
    if cfg.noise > 0:
        noise = torch.randn(2, *previous.shape, generator=generator).to(previous.device) * cfg.noise
        current, previous = (current + noise[0]).clamp(0, 1), (previous + noise[1]).clamp(0, 1)
    return current, previous, flow, mask


__all__ = ["MotionConfig", "random_motion_flow", "synthetic_pair"]
