"""Contact sheets: a labelled grid of frames (``vidstyle preview``), drawn with PIL and written atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

from ..errors import VidstyleError
from .atomic import atomic_output
from .image import image_format, tensor_to_uint8

#: Font size of the labels, pixels.
FONT_SIZE = 13


def _font(size: int = FONT_SIZE) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)  # a scalable font (Pillow >= 10.1 with FreeType)
    except (TypeError, OSError):
        return ImageFont.load_default()


def contact_sheet(tiles: Sequence[Sequence[torch.Tensor]], column_labels: Sequence[str],
                  row_labels: Sequence[str], pad: int = 6) -> Image.Image:
    """A grid of ``rows × columns`` tiles with a header of column labels and a label left of each row.

    Args:
        tiles: ``tiles[r][c]`` is ``1×3×H×W`` (or ``3×H×W``) RGB in [0, 1]; tiles of a row may differ in size
            (each sits top-left in its cell).
        column_labels: one per column, lines split on ``\\n``.
        row_labels: one per row, lines split on ``\\n``.

    Returns:
        The sheet, RGB, white background.
    """
    rows, cols = len(tiles), len(column_labels)
    if rows != len(row_labels) or any(len(r) != cols for r in tiles):
        raise ValueError(f"tiles must be {len(row_labels)}×{cols} (rows × columns)")
    arrays = [[tensor_to_uint8(t if t.dim() == 4 else t.unsqueeze(0)) for t in row] for row in tiles]
    font = _font()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def box(text: str) -> tuple[int, int]:
        left, top, right, bottom = probe.multiline_textbbox((0, 0), text, font=font, spacing=3)
        return int(right - left), int(bottom - min(top, 0))

    col_w = [max(max(arrays[r][c].shape[1] for r in range(rows)), box(column_labels[c])[0]) for c in range(cols)]
    row_h = [max(max(a.shape[0] for a in arrays[r]), box(row_labels[r])[1]) for r in range(rows)]
    label_w = max(box(t)[0] for t in row_labels)
    header_h = max(box(t)[1] for t in column_labels)
    width = pad + label_w + pad + sum(w + pad for w in col_w)
    height = pad + header_h + pad + sum(h + pad for h in row_h)
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    x0 = pad + label_w + pad
    x = x0
    for c in range(cols):
        draw.multiline_text((x, pad), column_labels[c], fill="black", font=font, spacing=3)
        x += col_w[c] + pad
    y = pad + header_h + pad
    for r in range(rows):
        draw.multiline_text((pad, y), row_labels[r], fill="black", font=font, spacing=3)
        x = x0
        for c in range(cols):
            sheet.paste(Image.fromarray(arrays[r][c]), (x, y))
            x += col_w[c] + pad
        y += row_h[r] + pad
    return sheet


def save_sheet(sheet: Image.Image, path: str | Path, force: bool = False) -> Path:
    """Write ``sheet`` atomically (format from the extension; never a silent overwrite without ``force``)."""
    path = Path(path)
    fmt = image_format(path)
    try:
        with atomic_output(path, force) as tmp:
            sheet.save(tmp, format=fmt, **({"quality": 92} if fmt in ("JPEG", "WEBP") else {}))
    except OSError as e:
        raise VidstyleError(f"cannot write {path}: {e}") from None
    return path


__all__ = ["contact_sheet", "save_sheet"]
