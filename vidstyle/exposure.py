"""Stylised frames follow the input's exposure through fades, near-black / near-white and flat frames.

Every styliser renormalises its input one way or another: instance normalisation in the
feed-forward nets, AdaIN/WCT's feature statistics, Gatys' relative losses. On a frame that is
nearly black (the end of a fade), nearly white or flat, that renormalisation blows compression
noise up into a full-brightness painting: on the fade of ``plane_field_mp3audio.mp4`` the input
fell from 53 to 4 (mean, 0–255) while the outputs stayed at 90–118. The fix is method-agnostic
and applied to the styliser's output (:func:`follow_exposure`, called by the pipeline and the
still-image API for every method):

1. a weight ``w`` in [0, 1] per frame from the *input*: 1 when its mean luma is at or below
   ``exposure_dark[0]`` (or at/above ``exposure_bright[1]``) or its luma std at or below
   ``exposure_flat[0]``, 0 beyond the other end of each range, smoothstep in between — normal
   frames are untouched;
2. the target low-frequency luminance ``T = S^(1−w) · I^w`` (geometric blend of the stylised
   frame's and the input's low-pass luma, a grid of ~16 cells on the long side);
3. a luminance-only gain that brings the output's low-pass luma to ``T`` and keeps its strokes:
   darkening scales towards black (``out · T/S``), brightening towards white
   (``1 − (1−out)·(1−T)/(1−S)``), so the result stays in [0, 1] and a fade to black fades the
   painting with it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import TemporalConfig

#: ITU-R BT.601 luma weights.
LUMA = (0.299, 0.587, 0.114)
#: Cells of the low-pass grid on the long side.
GRID = 16
_EPS = 1e-4


def luma(frames: torch.Tensor) -> torch.Tensor:
    """``N×3×H×W`` RGB [0, 1] → ``N×1×H×W`` luma."""
    w = frames.new_tensor(LUMA).view(1, 3, 1, 1)
    return (frames * w).sum(1, keepdim=True)


def _ramp(x: torch.Tensor, full: float, none: float) -> torch.Tensor:
    """1 at ``full``, 0 at ``none`` (either order), smoothstep between."""
    t = ((x - none) / (full - none)).clamp(0, 1)
    return t * t * (3 - 2 * t)


def exposure_weight(frames: torch.Tensor, cfg: TemporalConfig = TemporalConfig()) -> torch.Tensor:
    """How much each input frame's exposure must be imposed on its stylisation.

    Args:
        frames: ``N×3×H×W`` input frames, RGB [0, 1].

    Returns:
        ``N`` weights in [0, 1]: 0 for ordinary frames, 1 for near-black, near-white or flat ones.
    """
    y = luma(frames).flatten(1)
    mean, std = y.mean(1), y.std(1, unbiased=False)
    dark = _ramp(mean, cfg.exposure_dark[0], cfg.exposure_dark[1])
    bright = _ramp(mean, cfg.exposure_bright[1], cfg.exposure_bright[0])
    flat = _ramp(std, cfg.exposure_flat[0], cfg.exposure_flat[1])
    return torch.maximum(torch.maximum(dark, bright), flat)


def low_pass(y: torch.Tensor) -> torch.Tensor:
    """``N×1×H×W`` → its local mean over ~``1/GRID`` of the long side (area-averaged, bilinear back)."""
    h, w = y.shape[-2:]
    cell = max(h, w) / GRID
    grid = (max(1, round(h / cell)), max(1, round(w / cell)))
    return F.interpolate(F.interpolate(y, size=grid, mode="area"), size=(h, w), mode="bilinear", align_corners=False)


def follow_exposure(stylised: torch.Tensor, content: torch.Tensor, cfg: TemporalConfig = TemporalConfig()
                    ) -> torch.Tensor:
    """Map the stylised frames' low-frequency luminance toward the input's where the input is dark/bright/flat.

    Args:
        stylised: ``N×3×H×W`` styliser output, RGB [0, 1].
        content: ``N×3×h×w`` the input frames (resized to ``stylised``'s size if they differ).

    Returns:
        ``N×3×H×W`` in [0, 1]; ``stylised`` itself (same object) when no frame needs it or
        ``cfg.exposure`` is off.
    """
    if not cfg.exposure:
        return stylised
    weight = exposure_weight(content, cfg)
    if float(weight.max()) <= 0:
        return stylised
    if content.shape[-2:] != stylised.shape[-2:]:
        content = F.interpolate(content, size=stylised.shape[-2:], mode="bilinear", align_corners=False)
    w = weight.to(stylised.dtype).view(-1, 1, 1, 1)
    s = low_pass(luma(stylised)).clamp(_EPS, 1 - _EPS)
    i = low_pass(luma(content)).clamp(_EPS, 1 - _EPS)
    target = torch.exp(torch.lerp(s.log(), i.log(), w))
    darker = stylised * (target / s)
    brighter = 1 - (1 - stylised) * ((1 - target) / (1 - s))
    out = torch.where(target <= s, darker, brighter).clamp_(0, 1)
    keep = (weight <= 0).view(-1, 1, 1, 1)
    return torch.where(keep, stylised, out)


__all__ = ["GRID", "LUMA", "exposure_weight", "follow_exposure", "low_pass", "luma"]
