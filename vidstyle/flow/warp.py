"""Warping by a flow and Ruder et al. reliability masks (flow convention in :mod:`vidstyle.flow`).

All tensors are on the working device; flows are ``N×2×H×W`` in pixels.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from kornia.filters import spatial_gradient


def coords_grid(n: int, h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Absolute pixel coordinates ``N×2×H×W`` (x in channel 0, y in channel 1)."""
    ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=dtype), torch.arange(w, device=device, dtype=dtype),
                            indexing="ij")
    return torch.stack([xs, ys]).unsqueeze(0).expand(n, 2, h, w)


@functools.lru_cache(maxsize=16)
def _axes(h: int, w: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel x (``1×1×1×W``) and y (``1×1×H×1``) coordinates, cached per size (made once per video)."""
    xs = torch.arange(w, device=device, dtype=dtype).view(1, 1, 1, w)
    ys = torch.arange(h, device=device, dtype=dtype).view(1, 1, h, 1)
    return xs, ys


@functools.lru_cache(maxsize=16)
def _normalised_grid(h: int, w: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """``grid_sample``'s identity grid ``1×H×W×2`` in [−1, 1] and the pixel → grid scale ``2``-vector."""
    scale = torch.tensor([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)], device=device, dtype=dtype)
    xs, ys = _axes(h, w, device, dtype)
    grid = torch.stack([xs[0, 0].expand(h, w), ys[0, 0].expand(h, w)], dim=-1).unsqueeze(0) * scale - 1.0
    return grid, scale


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
    h, w = image.shape[-2:]
    base, scale = _normalised_grid(h, w, flow.device, flow.dtype)
    grid = torch.addcmul(base, flow.permute(0, 2, 3, 1), scale).to(image.dtype)  # N×H×W×2, (x, y) in [−1, 1]
    return F.grid_sample(image, grid, mode=mode, padding_mode=padding, align_corners=True)


def inside_frame(flow: torch.Tensor) -> torch.Tensor:
    """``N×1×H×W`` bool: ``p + flow(p)`` lies inside the frame."""
    h, w = flow.shape[-2:]
    xs, ys = _axes(h, w, flow.device, flow.dtype)
    x, y = xs + flow[:, :1], ys + flow[:, 1:]
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


def limited_size(h: int, w: int, limit: int | None) -> tuple[int, int]:
    """``(h, w)`` scaled so the long side is at most ``limit`` (at least 8 px a side; unchanged when it fits)."""
    if limit is None or max(h, w) <= limit:
        return h, w
    scale = limit / max(h, w)
    return max(8, round(h * scale)), max(8, round(w * scale))


def shrink_frames(frames: torch.Tensor, limit: int | None) -> torch.Tensor:
    """``N×C×H×W`` images downscaled (bilinear, antialiased) to long side at most ``limit`` — the input of a
    cheaper flow; unchanged when they fit."""
    h, w = frames.shape[-2:]
    size = limited_size(h, w, limit)
    if size == (h, w):
        return frames
    return F.interpolate(frames, size=size, mode="bilinear", align_corners=False, antialias=True)


def resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """An ``N×2×h×w`` pixel flow resampled to ``size = (H, W)``, its vectors rescaled (``align_corners`` pixel grids,
    the convention of :func:`warp`)."""
    h, w = flow.shape[-2:]
    if (h, w) == tuple(size):
        return flow
    gain = flow.new_tensor([(size[1] - 1) / max(w - 1, 1), (size[0] - 1) / max(h - 1, 1)]).view(1, 2, 1, 1)
    return F.interpolate(flow, size=size, mode="bilinear", align_corners=True) * gain


__all__ = ["coords_grid", "warp", "inside_frame", "reliability_mask", "limited_size", "shrink_frames", "resize_flow"]
