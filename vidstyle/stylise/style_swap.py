"""Style swap (Chen & Schmidt 2016, "Fast Patch-based Style Transfer of Arbitrary Style"): ``--method style-swap``.

Every 3×3 patch of the content's VGG features is replaced by the most similar 3×3 patch of the style's features
(similarity: the normalised cross-correlation — the dot product with the style patch divided by the style patch's
norm; the content patch's own norm does not change which style patch wins), and the swapped features are decoded to
an image by a trained inversion decoder. Any style image, one pass, no training per style: the patches carry the
painting's local texture (brush marks) rather than only its statistics, as AdaIN/WCT do.

The swap (:func:`style_swap`) is a convolution with the normalised style patches as filters, which gives every
content window's similarity to every style patch (in chunks of patches with a running maximum, so memory is
bounded by the chunk, not by the number of style patches); the winning *unnormalised* patches are then gathered
and folded back (``F.fold``), averaged where the 3×3 windows overlap — the paper's one-hot transposed
convolution, without its multiply-adds by zero.

We swap at ``relu3_1`` (as the paper) and decode with the WCT inversion decoder trained for that layer
(``models/decoder-wct-relu3_1``): a decoder that inverts VGG features, which is what the paper's inverse network
is. Shapes: images ``N×3×H×W`` RGB in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import VidstyleError
from ..media.image import load_image, resize_long_side
from ..nets.decoder import default_decoder_path, load_decoder
from ..nets.vgg import VGGEncoder, load_vgg
from .base import FrameState, Styliser, TemporalMode
from .registry import BuildRequest

#: The VGG layer whose features are swapped (and inverted by the decoder).
LEVEL = "relu3_1"
#: Patch side in feature pixels.
PATCH = 3
#: Style patches per convolution (bounds the similarity map: chunk × content positions floats).
CHUNK = 1024


def style_patches(features: torch.Tensor, patch: int = PATCH, stride: int = 1) -> torch.Tensor:
    """All ``patch×patch`` windows of ``1×C×H×W`` style features as filters ``P×C×patch×patch``."""
    if features.shape[-2] < patch or features.shape[-1] < patch:
        raise VidstyleError(f"the style image is too small for {patch}×{patch} feature patches; use a larger one")
    c = features.shape[1]
    cols = F.unfold(features, patch, stride=stride)  # 1×(C·k·k)×P
    return cols[0].T.reshape(-1, c, patch, patch).contiguous()


@torch.no_grad()
def style_swap(content: torch.Tensor, patches: torch.Tensor, chunk: int = CHUNK) -> torch.Tensor:
    """Swap every ``k×k`` window of ``content`` (``N×C×H×W``) for its best-matching style patch.

    Args:
        content: content features, ``H, W ≥ k``.
        patches: style patches ``P×C×k×k`` (:func:`style_patches`).
        chunk: style patches compared at once.

    Returns:
        ``N×C×H×W`` features made of style patches (overlaps averaged).
    """
    k = patches.shape[-1]
    if content.shape[-2] < k or content.shape[-1] < k:
        raise VidstyleError(f"the frame is too small for {k}×{k} feature patches")
    norms = patches.flatten(1).norm(dim=1).clamp_min(1e-8).view(-1, 1, 1, 1)
    best_val = best_idx = None
    for start in range(0, patches.shape[0], chunk):
        scores = F.conv2d(content, patches[start:start + chunk] / norms[start:start + chunk])  # N×p×(H−k+1)×(W−k+1)
        val, idx = scores.max(dim=1)
        idx = idx + start
        if best_val is None or best_idx is None:
            best_val, best_idx = val, idx
        else:
            better = val > best_val
            best_val, best_idx = torch.where(better, val, best_val), torch.where(better, idx, best_idx)
    assert best_idx is not None
    h, w = content.shape[-2:]
    cols = patches.flatten(1)[best_idx.flatten(1)]  # N×L×(C·k·k): the chosen patch of every window
    out = F.fold(cols.transpose(1, 2), (h, w), k)  # pasted back, summed where windows overlap
    overlap = F.fold(content.new_ones(1, k * k, cols.shape[1]), (h, w), k)
    return out / overlap


class StyleSwapStyliser(Styliser):
    """Style swap at ``relu3_1`` with a trained inversion decoder, for any style image(s).

    Args:
        styles: style images (paths or ``1×3×H×W`` [0, 1] tensors); the patches of all of them are pooled.
        alpha: 0 = the content's own features decoded, 1 = fully swapped (``--strength``; blends features).
        style_size: styles are downscaled to this long side first (the number of patches grows with its square).
        device: where the networks run.
        decoder: weight file of the ``relu3_1`` inversion decoder (default: the shipped WCT one).
        encoder: a VGG-19 :class:`VGGEncoder` reaching ``relu3_1`` to share (default: loaded here).
        vgg_source: VGG weights (``auto``, ``caffe``, ``torchvision``; :mod:`vidstyle.nets.vgg`).

    Raises:
        WeightsError: the decoder is missing or corrupt (one line saying how to get it).
    """

    temporal_mode = TemporalMode.PER_FRAME

    def __init__(self, styles: Sequence[Path | str | torch.Tensor], alpha: float = 1.0, style_size: int | None = 256,
                 device: torch.device | str = "cpu", decoder: Path | str | None = None,
                 encoder: VGGEncoder | None = None, vgg_source: str = "auto") -> None:
        if not styles:
            raise VidstyleError("style swap needs at least one style image")
        self.device = torch.device(device)
        self.encoder = encoder if encoder is not None else load_vgg([LEVEL], source=vgg_source, device=self.device)
        self.decoder = load_decoder(decoder, "wct", LEVEL, self.encoder.normalisation, self.device)
        self.set_strength(alpha)
        images = [s if isinstance(s, torch.Tensor) else load_image(s) for s in styles]
        images = [resize_long_side(s, style_size) if style_size and max(s.shape[-2:]) > style_size else s
                  for s in images]
        with torch.no_grad():
            self.patches = torch.cat([style_patches(self.encoder(s.to(self.device), [LEVEL])[LEVEL]) for s in images])

    def set_strength(self, strength: float) -> None:
        """``alpha``: 1 = swapped features, 0 = the content's own (decoded)."""
        if not 0.0 <= strength <= 1.0:
            raise VidstyleError(f"strength must be in [0, 1], got {strength}")
        self.alpha = float(strength)

    @torch.no_grad()
    def stylise(self, frames: torch.Tensor, state: FrameState | None = None) -> torch.Tensor:
        """``N×3×H×W`` RGB [0, 1] (any H, W ≥ 12) → the same shape in [0, 1]."""
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise VidstyleError(f"frames must be N×3×H×W RGB, got {tuple(frames.shape)}")
        frames = frames.to(self.device, torch.float32)
        h, w = frames.shape[-2:]
        m = self.decoder.scale
        ph, pw = (-h) % m, (-w) % m
        x = F.pad(frames, (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate") if ph or pw else frames
        outputs = []
        for frame in x:  # one frame at a time: the similarity maps are per frame
            feats = self.encoder(frame.unsqueeze(0), [LEVEL])[LEVEL]
            swapped = style_swap(feats, self.patches)
            target = swapped if self.alpha == 1 else self.alpha * swapped + (1 - self.alpha) * feats
            outputs.append(self.decoder(target)[..., :h, :w].clamp(0, 1))
        return torch.cat(outputs)


# ---------------------------------------------------------------- builder (declared in stylise/specs.py)


def can_serve_style_swap(request: BuildRequest) -> str | None:
    path = default_decoder_path("wct", LEVEL)
    return None if path.is_file() else f"the {LEVEL} inversion decoder is not installed ({path.name})"


def build_style_swap(request: BuildRequest) -> tuple[Styliser, str]:
    from ..config import OptimiseConfig

    optimise = request.optimise or OptimiseConfig()
    if optimise.style_scale != 1 or optimise.preserve_color not in (None, "none", False):
        raise VidstyleError("style-swap takes no --style-scale or --preserve-color yet; drop them")
    styliser = StyleSwapStyliser(list(request.styles), alpha=optimise.strength, device=request.device,
                                 vgg_source=optimise.vgg_source)
    return styliser, (f"style-swap: Chen & Schmidt 2016, {LEVEL} 3×3 patches from {request.style_names()} "
                      f"({styliser.patches.shape[0]} patches), decoded by the WCT {LEVEL} inversion decoder")


__all__ = ["CHUNK", "LEVEL", "StyleSwapStyliser", "build_style_swap", "can_serve_style_swap", "style_patches", "style_swap"]
