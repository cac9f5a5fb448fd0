"""Labelled contact sheets for the benchmarks: a grid of image tensors with a caption under each."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw


def labelled_sheet(rows: Sequence[Sequence[tuple[str, torch.Tensor]]], path: str | Path, pad: int = 6,
                   caption: int = 28) -> Path:
    """Save a grid: each row a list of ``(caption, 1×3×H×W in [0, 1])``; tiles are top-aligned, captions below
    (up to two lines, split on ``|``)."""
    tiles = [[(label, (t[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)) for label, t in row]
             for row in rows]
    longest = max(len(line) for row in tiles for label, _ in row for line in label.split("|"))
    col_w = max(max(a.shape[1] for row in tiles for _, a in row), 6 * longest + 4)  # the default font: ~6 px a character
    ncols = max(len(row) for row in tiles)
    heights = [max(a.shape[0] for _, a in row) + caption for row in tiles]
    sheet = Image.new("RGB", (ncols * (col_w + pad) + pad, sum(heights) + pad * (len(rows) + 1)), "white")
    draw = ImageDraw.Draw(sheet)
    y = pad
    for row, h in zip(tiles, heights):
        for i, (label, a) in enumerate(row):
            x = pad + i * (col_w + pad)
            sheet.paste(Image.fromarray(a), (x, y))
            for j, line in enumerate(label.split("|")[:2]):
                draw.text((x, y + a.shape[0] + 2 + 12 * j), line.strip(), fill="black")
        y += h + pad
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part.png")
    sheet.save(tmp)
    tmp.replace(path)
    return path
