"""Spatial control: mattes (stylise only inside a mask) and label maps (semantic regions).

* :func:`composite` — THE compositing function: ``out = m·stylised + (1 − m)·original`` with a
  feathered matte, used by ``vidstyle image --mask`` for every method (and meant for the video
  pipeline's ``--mask matte.mp4``: call it per frame with that frame's matte).
* :func:`load_matte` / :func:`prepare_matte` — read a matte image (its alpha channel when it has
  one, else its luminance), check it fits the content, resize, invert, feather.
* :func:`load_label_map` / :func:`region_masks` — label images (same colour = same region) →
  soft one-hot region masks for the content and each style image (semantic style transfer, doodles).

Mattes and masks are ``N×1×H×W`` float in [0, 1] (1 = stylise / belongs to the region).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .errors import MediaError, VidstyleError

#: Aspect ratios of a mask and its image may differ by this much (relative) before it is an error.
ASPECT_TOLERANCE = 0.02
#: A colour is a region of a label map when it covers at least this share of the pixels;
#: other pixels (anti-aliasing, JPEG noise) join the nearest region colour.
MIN_REGION_SHARE = 0.005
#: Colours of the content and style label maps match when no channel differs by more than this (JPEG noise).
COLOUR_TOLERANCE = 24
#: More regions than this and the "label map" is taken for a photo.
MAX_REGIONS = 16


def _open(path: str | Path, what: str):
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{what} {path}: file not found")
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            img.load()
            return img.copy()
    except UnidentifiedImageError:
        raise MediaError(f"{what} {path}: not an image (or a format Pillow cannot read)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise MediaError(f"{what} {path}: cannot decode image ({e}); is the file truncated or corrupt?") from None


def check_aspect(mask_hw: tuple[int, int], image_hw: tuple[int, int], what: str) -> None:
    """A mask must have its image's aspect ratio (within :data:`ASPECT_TOLERANCE`); one-line error otherwise."""
    (mh, mw), (ih, iw) = mask_hw, image_hw
    if abs((mw / mh) / (iw / ih) - 1) > ASPECT_TOLERANCE:
        raise VidstyleError(f"{what} is {mw}×{mh} but its image is {iw}×{ih}: the mask must have the image's size "
                            "(or at least its aspect ratio)")


def load_matte(path: str | Path) -> torch.Tensor:
    """Read a matte image → ``1×1×H×W`` in [0, 1]: the alpha channel if the file has a non-opaque one,
    else the luminance (white = stylise). 16-bit greyscale is kept at full precision."""
    img = _open(path, "mask")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        alpha = np.asarray(img.convert("RGBA"))[..., 3]
        if alpha.min() < 255:
            return torch.from_numpy(alpha.astype(np.float32) / 255.0)[None, None]
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(img, dtype=np.float32)
        a = a / (65535.0 if a.max() > 255 else 255.0)
    else:
        a = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    return torch.from_numpy(np.clip(a, 0, 1))[None, None]


def feather(matte: torch.Tensor, px: float) -> torch.Tensor:
    """Soften a matte's edge: Gaussian blur with σ = ``px``/2 (the transition spans about ``px`` pixels each side)."""
    if px <= 0:
        return matte
    from kornia.filters import gaussian_blur2d

    sigma = px / 2.0
    k = 2 * int(round(px)) + 1
    return gaussian_blur2d(matte, (k, k), (sigma, sigma), border_type="replicate").clamp(0, 1)


def prepare_matte(matte: torch.Tensor, size: tuple[int, int], invert: bool = False, feather_px: float = 0.0,
                  what: str = "mask", allow_empty: bool = False) -> torch.Tensor:
    """Fit a ``N×1×h×w`` matte to an ``(H, W)`` image: aspect check, bilinear resize, invert, feather.
    An all-black matte is an error unless ``allow_empty`` (a video matte's frame may select nothing)."""
    check_aspect(tuple(matte.shape[-2:]), size, what)
    m = matte if tuple(matte.shape[-2:]) == tuple(size) else F.interpolate(matte, size=size, mode="bilinear",
                                                                         align_corners=False, antialias=True)
    m = m.clamp(0, 1)
    if invert:
        m = 1 - m
    if not allow_empty and float(m.max()) < 1e-3:
        raise VidstyleError(f"{what} selects nothing (all black{' after --invert-mask' if invert else ''}): nothing to stylise")
    return feather(m, feather_px)


def composite(stylised: torch.Tensor, original: torch.Tensor, matte: torch.Tensor) -> torch.Tensor:
    """``matte·stylised + (1 − matte)·original`` — stylise only inside the (feathered) matte.

    Args:
        stylised, original: ``N×3×H×W`` RGB in [0, 1] (the same size).
        matte: ``N×1×H×W`` or ``1×1×H×W`` in [0, 1] at that size (see :func:`prepare_matte`).
    """
    if stylised.shape != original.shape:
        raise ValueError(f"composite needs equal shapes, got {tuple(stylised.shape)} and {tuple(original.shape)}")
    if matte.shape[-2:] != stylised.shape[-2:]:
        raise ValueError(f"matte is {tuple(matte.shape[-2:])}, frames are {tuple(stylised.shape[-2:])}")
    m = matte.to(stylised)
    return m * stylised + (1 - m) * original


# ----------------------------------------------------------------------------- label maps


def load_label_map(path: str | Path, what: str = "label map") -> np.ndarray:
    """Read a label image as ``H×W×3`` uint8 RGB (alpha, palette and grey images converted)."""
    img = _open(path, what)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def label_colours(labels: np.ndarray, what: str = "label map") -> np.ndarray:
    """The region colours of a label image (``K×3`` uint8, most frequent first).

    Raises:
        VidstyleError: more than :data:`MAX_REGIONS` colours cover ≥ :data:`MIN_REGION_SHARE` of it (a photo?).
    """
    flat = labels.reshape(-1, 3)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    keep = counts >= MIN_REGION_SHARE * len(flat)
    if keep.sum() > MAX_REGIONS or counts[keep].sum() < 0.5 * len(flat):
        raise VidstyleError(f"{what} is not a label map: {len(colours)} colours, {int(keep.sum())} covering ≥ "
                            f"{MIN_REGION_SHARE:.1%} each; paint each region in one flat colour (at most {MAX_REGIONS} "
                            "regions) — is it a photo?")
    order = np.argsort(-counts[keep])
    return colours[keep][order]


def one_hot(labels: np.ndarray, colours: np.ndarray) -> torch.Tensor:
    """``H×W×3`` label image → ``K×1×H×W`` masks: each pixel goes to the nearest of ``colours`` (``K×3``)."""
    d = ((labels[None].astype(np.int32) - colours[:, None, None].astype(np.int32)) ** 2).sum(-1)  # K×H×W
    nearest = d.argmin(0)
    return torch.from_numpy(np.stack([(nearest == k) for k in range(len(colours))]).astype(np.float32))[:, None]


def region_masks(content_labels: np.ndarray, style_labels: Sequence[np.ndarray], content_hw: tuple[int, int],
                 style_hws: Sequence[tuple[int, int]], names: Sequence[str] = ()) -> tuple[torch.Tensor, list[torch.Tensor], np.ndarray]:
    """Region masks for semantic style transfer.

    The content label map's colours are the regions; every one must also occur in each style's label map
    (style colours found nowhere in the content are ignored). Pixels are assigned to the nearest region
    colour, so anti-aliased edges and JPEG noise join a region.

    Returns:
        ``(content R×1×H×W, [style_i R×1×h×w], colours R×3)`` at the label maps' own sizes.
    """
    check_aspect(content_labels.shape[:2], content_hw, "--content-mask")
    colours = label_colours(content_labels, "--content-mask")
    content = one_hot(content_labels, colours)
    styles = []
    for i, (labels, hw) in enumerate(zip(style_labels, style_hws)):
        name = names[i] if i < len(names) else f"--style-mask #{i + 1}"
        check_aspect(labels.shape[:2], hw, name)
        found = label_colours(labels, name).astype(np.int32)
        matched = []
        for c in colours.astype(np.int32):
            gap = np.abs(found - c).max(1) if len(found) else np.array([255])
            if gap.min() > COLOUR_TOLERANCE:
                raise VidstyleError(f"{name} has no region of colour {tuple(int(v) for v in c)} that the content mask "
                                    "uses; give every content region a same-coloured region in each style mask")
            matched.append(found[gap.argmin()])
        # style pixels of colours that are no content region belong to no region
        others = [f for f in found if not any((f == m).all() for m in matched)]
        masks = one_hot(labels, np.asarray(matched + others, dtype=np.uint8))[: len(colours)]
        styles.append(masks)
    return content, styles, colours


__all__ = ["composite", "load_matte", "prepare_matte", "feather", "check_aspect", "load_label_map", "label_colours",
           "one_hot", "region_masks", "ASPECT_TOLERANCE", "MAX_REGIONS"]
