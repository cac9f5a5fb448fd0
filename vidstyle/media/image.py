"""Still images: robust loading (any mode, EXIF orientation, 16-bit) and atomic saving.

Tensors are ``1×3×H×W`` float32 RGB in [0, 1].
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from ..config import MAX_INPUT_SIDE
from ..errors import MediaError
from .atomic import atomic_output

#: Smallest side we accept: VGG-19 pools 4 times before relu5_1.
MIN_SIDE = 16
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF",
                ".bmp": "BMP"}


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    """Any PIL mode → ``H×W×3`` float32 in [0, 1] (alpha composited on white)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(img, dtype=np.float32)
        a = a / (65535.0 if a.max() > 255 else 255.0)
        return np.repeat(np.clip(a, 0, 1)[..., None], 3, axis=2)
    if img.mode == "F":
        a = np.clip(np.asarray(img, dtype=np.float32), 0, 1)
        return np.repeat(a[..., None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def _decode_reduced(img: Image.Image, need: int) -> Image.Image:
    """Decode ``img`` at the smallest integer reduction whose long side is still ≥ 4 × ``need``.

    The 4× margin keeps the final antialiased resize the same as from the full image for ordinary inputs (a
    reduction by 2 of a 451 px photo for a 64 px output changed its rounded height) while huge files still shrink.

    JPEG decodes at 1/2, 1/4 or 1/8 scale directly (``draft``: the DCT is never expanded at full
    size); other formats are box-reduced in uint8 right after decoding, before the float copy.
    A 12000×12000 style for a 64 px output then costs tens of MB instead of gigabytes.
    """
    need = 4 * max(need, 1)
    long_side = max(img.size)
    factor = max(1, min(long_side // need, min(img.size) // MIN_SIDE))
    if factor < 2:
        return img
    if img.format == "JPEG" and img.mode in ("RGB", "L", "CMYK", "YCbCr"):
        img.draft(img.mode, (max(1, img.size[0] // factor), max(1, img.size[1] // factor)))
        factor = max(1, min(max(img.size) // need, min(img.size) // MIN_SIDE))
    if factor >= 2 and img.mode in ("L", "LA", "RGB", "RGBA", "CMYK", "YCbCr"):
        exif = img.getexif()
        img = img.reduce(factor)
        img.info["exif"] = exif.tobytes()  # reduce() drops it; exif_transpose needs the orientation
    return img


def load_image(path: str | Path, max_side: int = MAX_INPUT_SIDE, need: int | None = None) -> torch.Tensor:
    """Read an image file as a ``1×3×H×W`` RGB tensor in [0, 1].

    Honours EXIF orientation; accepts grey, palette, CMYK, alpha and 16-bit
    images; downscales (with a warning) images whose long side exceeds ``max_side``.
    Huge files are decoded reduced (:func:`_decode_reduced`) to no less than ``need`` pixels on the
    long side (default ``max_side``): pass the size the caller will resize to anyway.

    Raises:
        MediaError: missing, unreadable, not an image, truncated, or too small.
    """
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: file not found")
    if path.is_dir():
        raise MediaError(f"{path}: is a directory, expected an image file")
    try:
        with Image.open(path) as img:
            full = img.size
            img = _decode_reduced(img, min(need or max_side, max_side))
            img = ImageOps.exif_transpose(img)
            img.load()
            array = _to_rgb_array(img)
    except UnidentifiedImageError:
        raise MediaError(f"{path}: not an image (or a format Pillow cannot read)") from None
    except PermissionError:
        raise MediaError(f"{path}: permission denied") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise MediaError(f"{path}: cannot decode image ({e}); is the file truncated or corrupt?") from None
    h, w = array.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise MediaError(f"{path}: image is {w}×{h}, too small (each side must be at least {MIN_SIDE} px)")
    x = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).unsqueeze(0)
    if max(full) > max_side and need is None:
        warnings.warn(f"{path}: {full[0]}×{full[1]} is larger than {max_side} px; downscaling", stacklevel=2)
    if max(h, w) > max_side:
        x = resize_long_side(x, max_side)
    return x


def resize_long_side(x: torch.Tensor, long_side: int) -> torch.Tensor:
    """Resize ``N×C×H×W`` so that max(H, W) == ``long_side``, keeping the aspect ratio (antialiased)."""
    h, w = x.shape[-2:]
    scale = long_side / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if size == (h, w):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=scale < 1).clamp(0, 1)


def tensor_to_uint8(x: torch.Tensor) -> np.ndarray:
    """``1×3×H×W`` or ``3×H×W`` in [0, 1] → ``H×W×3`` uint8."""
    if x.dim() == 4:
        x = x[0]
    return (x.detach().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy())


def image_format(path: str | Path) -> str:
    """The Pillow format for an output path's extension; checked before any work starts.

    Raises:
        MediaError: an extension we cannot write as a still (``.mp4``, none, …).
    """
    path = Path(path)
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        what = f"extension {path.suffix}" if path.suffix else "no extension"
        raise MediaError(f"{path}: unknown image extension ({what}); use one of {', '.join(sorted(SAVE_FORMATS))}")
    return fmt


def save_image(x: torch.Tensor, path: str | Path, force: bool = False) -> Path:
    """Write ``1×3×H×W`` RGB [0, 1] to ``path`` atomically (format from the extension)."""
    path = Path(path)
    fmt = image_format(path)
    img = Image.fromarray(tensor_to_uint8(x))
    with atomic_output(path, force) as tmp:
        img.save(tmp, format=fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP") else {}))
    return path
