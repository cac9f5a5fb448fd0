"""What ``vidstyle eval`` shows people: per-frame E_warp plots, frame strips and side-by-side videos.

Frames are ``1×3×H×W`` RGB in [0, 1]; numbers come from :func:`vidstyle.metrics.evaluate_clips`
(its report dictionary). Everything written goes through :func:`~vidstyle.media.atomic.atomic_output`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .media.atomic import atomic_output

#: Long side of the thumbnails kept for a frame strip (memory stays small on long clips).
THUMB_SIDE = 240


def strip_indices(frame_count: int | None, n: int = 6) -> list[int]:
    """``n`` evenly spaced frame indices in ``[0, frame_count)`` (first and last included)."""
    if not frame_count or frame_count <= 0:
        return list(range(n))
    n = min(n, frame_count)
    return sorted({round(i * (frame_count - 1) / max(n - 1, 1)) for i in range(n)})


def thumbnail(frame: torch.Tensor, side: int = THUMB_SIDE) -> torch.Tensor:
    """``1×3×H×W`` → CPU copy with long side ≤ ``side``."""
    h, w = frame.shape[-2:]
    scale = min(1.0, side / max(h, w))
    if scale < 1.0:
        frame = F.interpolate(frame, size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="bilinear",
                              align_corners=False, antialias=True)
    return frame.detach().clamp(0, 1).cpu()


def _to_uint8(frame: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(frame[0].detach().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy())


def label_frame(frame: torch.Tensor, text: str) -> torch.Tensor:
    """Write ``text`` in the top-left corner of ``1×3×H×W`` (white on a dark box, scaled to the frame)."""
    import cv2

    img = _to_uint8(frame)
    h = img.shape[0]
    scale = max(0.4, h / 400)
    thick = max(1, round(scale * 2))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = max(2, round(6 * scale))
    cv2.rectangle(img, (0, 0), (tw + 2 * pad, th + base + 2 * pad), (0, 0, 0), -1)
    cv2.putText(img, text, (pad, pad + th), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return torch.from_numpy(img).permute(2, 0, 1).unsqueeze(0).float().div(255).to(frame.device)


def side_by_side(frames: Sequence[torch.Tensor], labels: Sequence[str] | None = None, gap: int = 4) -> torch.Tensor:
    """Frames of equal height ``1×3×H×W`` side by side, each labelled, separated by ``gap`` black columns."""
    parts: list[torch.Tensor] = []
    for i, frame in enumerate(frames):
        if i and gap:
            parts.append(frame.new_zeros(1, 3, frame.shape[-2], gap))
        parts.append(label_frame(frame, labels[i]) if labels else frame)
    return torch.cat(parts, dim=-1)


def compare_size(width: int, height: int, panels: int, gap: int = 4) -> tuple[int, int]:
    """(width, height) of :func:`side_by_side` output for ``panels`` frames of ``width×height``."""
    return panels * width + (panels - 1) * gap, height


def plot_report(report: dict[str, Any], labels: Sequence[str], path: str | Path, strip: Sequence[Sequence[torch.Tensor]]
                = (), strip_frames: Sequence[int] = (), force: bool = False) -> Path:
    """Write a PNG: per-frame E_warp of each stylised clip and of the input (one panel per k), then a frame strip.

    Args:
        report: :func:`vidstyle.metrics.evaluate_clips` output.
        labels: one label per stylised clip.
        strip: rows of thumbnails (input first, then each stylised clip), same columns each.
        strip_frames: frame index of each column.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = report["ks"]
    rows = len(ks) + (1 if strip else 0)
    image = _strip_image(strip).numpy() if strip else None
    width = 11.0
    heights = [2.6] * len(ks) + ([width * image.shape[0] / image.shape[1] + 0.4] if strip else [])
    fig = plt.figure(figsize=(width, sum(heights) + 0.3), constrained_layout=True)
    grid = fig.add_gridspec(rows, 1, height_ratios=heights)
    for r, k in enumerate(ks):
        ax = fig.add_subplot(grid[r])
        series = [(lab, out["warping_error"][str(k)]["per_frame"], "-") for lab, out in zip(labels, report["outputs"])]
        series.append(("input (floor)", report["input"]["warping_error"][str(k)]["per_frame"], "k--"))  # on top
        for name, values, style in series:
            x = [t for t, v in enumerate(values) if v is not None]
            y = [v for v in values if v is not None]
            ax.plot(x, y, style, label=name, lw=1.2)
        for c in report["cuts"]:
            ax.axvline(c - 0.5, color="r", lw=0.8, alpha=0.5)
        ax.set_xlabel(f"frame t (pair t → t+{k})")
        ax.set_ylabel(f"E_warp (k={k})")
        ax.set_title(f"Temporal warping error per frame, k={k} ({report['flow']} flow on the input; red: cuts)",
                     fontsize=10)
        ax.legend(fontsize=8, loc="upper right")
        ax.grid(alpha=0.3)
    if strip:
        ax = fig.add_subplot(grid[-1])
        ax.imshow(image)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title("frames " + ", ".join(str(i) for i in strip_frames) + " — rows: input, "
                     + ", ".join(labels), fontsize=9)
    with atomic_output(path, force) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return Path(path)


def _strip_image(strip: Sequence[Sequence[torch.Tensor]], gap: int = 2) -> torch.Tensor:
    """Rows of thumbnails → one ``H×W×3`` image (thumbnails of a row padded to the first one's size)."""
    h, w = strip[0][0].shape[-2:]
    rows = []
    for row in strip:
        cells = []
        for j, cell in enumerate(row):
            if j:
                cells.append(torch.ones(1, 3, h, gap))
            cells.append(F.interpolate(cell, size=(h, w), mode="bilinear", align_corners=False)
                         if cell.shape[-2:] != (h, w) else cell)
        rows.append(torch.cat(cells, -1))
    parts = []
    for i, row in enumerate(rows):
        if i:
            parts.append(torch.ones(1, 3, gap, row.shape[-1]))
        parts.append(row)
    return torch.cat(parts, -2)[0].permute(1, 2, 0).clamp(0, 1)


__all__ = ["compare_size", "label_frame", "plot_report", "side_by_side", "strip_indices", "thumbnail"]
