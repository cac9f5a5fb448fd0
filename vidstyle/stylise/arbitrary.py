"""Arbitrary style transfer with trained decoders: AdaIN and WCT — any painting, one forward pass per frame.

* ``adain`` (Huang & Belongie 2017): content relu4_1 features get the style's channel mean/std,
  the relu4_1 decoder renders them.
* ``wct`` (Li et al. 2017): coarse-to-fine over ``levels`` (default relu4_1 → relu1_1): encode the
  current image, whiten + colour its features with the style's covariance
  (:mod:`vidstyle.stylise.wct`), decode with that level's inversion decoder, repeat one level finer.

Style statistics are computed once at construction (per style and level) and blended by
``style_weights``; per frame only the content's own statistics are computed. Everything is
deterministic, so identical frames give identical outputs (what video needs). Frames of any size
are reflection-padded to a multiple of the decoders' scale and cropped back.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from ..colour import luminance_transfer, match_colour
from ..config import TILE_HALO_VGG
from ..device import compile_for_inference
from ..errors import VidstyleError
from ..media.image import load_image, resize_long_side
from ..nets.decoder import Decoder, default_decoder_path, load_decoder
from ..nets.tiling import SharedStats, run_network
from ..nets.vgg import VGGEncoder, deepest, layer_index, load_vgg
from .adain import adain, mean_std
from .base import FrameState, Styliser, TemporalMode
from .optimise import blend_weights
from .registry import BuildRequest
from .wct import REG, ColourStats, blend_stats, colour_stats, mean_cov, wct

METHODS = ("adain", "wct")
#: Default coarse-to-fine WCT levels. relu4_1 is left out: its shipped decoder had only 123 training
#: steps and renders blobs (benchmarks/arbitrary_wct_256.png); pass ``levels=ALL_WCT_LEVELS`` to use it.
WCT_LEVELS: tuple[str, ...] = ("relu3_1", "relu2_1", "relu1_1")
ALL_WCT_LEVELS: tuple[str, ...] = ("relu4_1", "relu3_1", "relu2_1", "relu1_1")
COLOUR_MODES = ("none", "luminance", "histogram")


def _as_image(style: Path | str | torch.Tensor) -> torch.Tensor:
    if isinstance(style, torch.Tensor):
        x = style if style.dim() == 4 else style.unsqueeze(0)
        if x.shape[:2] != (1, 3):
            raise VidstyleError(f"a style tensor must be 1×3×H×W or 3×H×W RGB in [0, 1], got {tuple(style.shape)}")
        return x.float()
    return load_image(style)


def _colour_mode(preserve_color: bool | str | None) -> str:
    if preserve_color in (None, False, "none"):
        return "none"
    if preserve_color is True:
        return "luminance"
    if preserve_color not in COLOUR_MODES:
        raise VidstyleError(f"preserve_color must be one of {', '.join(COLOUR_MODES)}, got {preserve_color!r}")
    return str(preserve_color)


class ArbitraryStyliser(Styliser):
    """Styliser for any style image(s) with a trained decoder (``method`` ``adain`` or ``wct``).

    Args:
        styles: style images (paths or ``1×3×H×W`` tensors in [0, 1]); several are interpolated.
        method: ``adain`` or ``wct``.
        alpha: 0 = content (decoded), 1 = full style; blends features, not pixels.
        style_weights: interpolation weights, one per style (normalised; default equal).
        preserve_color: ``False``/``"none"``, ``True``/``"luminance"`` (keep the frame's chroma), or
            ``"histogram"`` (recolour the styles to the first frame's colour statistics; again after ``reset``).
        device: where the networks run.
        levels: WCT levels, applied in this order (coarse to fine); ignored by AdaIN.
        decoders: ``{level: weight file}`` overriding ``models/decoder-<method>-<level>.safetensors``.
        style_size: styles are downscaled to this long side before their statistics are taken (None: as is).
        encoder: a VGG-19 :class:`VGGEncoder` to share (default: loaded here).
        reg: WCT eigenvalue regularisation, relative to the mean eigenvalue.
        compile: ``torch.compile`` the encoder and decoders (inductor): seconds of compilation per frame
            size, then ~1.4× faster AdaIN frames at 640×360 on CPU — for long clips.
        scale: ``--style-scale``: frames are encoded and decoded at their size ÷ ``scale`` and resized back, so
            the style's strokes are ``scale``× larger relative to the output.
        tile: tiled inference (:mod:`vidstyle.nets.tiling`): None = auto (from 2560×1440 up), 0 = never, N =
            tiles of N px. The content statistics AdaIN/WCT match are global to the frame, so they are taken once
            on the frame downscaled (:class:`~vidstyle.nets.tiling.SharedStats`) and every tile uses them.

    Raises:
        WeightsError: a decoder file is missing (the message says how to train it), corrupt, or of the wrong level.
    """

    temporal_mode = TemporalMode.PER_FRAME

    def __init__(self, styles: Sequence[Path | str | torch.Tensor], method: str = "adain", alpha: float = 1.0,
                 style_weights: Sequence[float] | None = None, preserve_color: bool | str | None = False,
                 device: torch.device | str = "cpu", levels: Sequence[str] = WCT_LEVELS,
                 decoders: dict[str, Path | str] | None = None, style_size: int | None = 512,
                 encoder: VGGEncoder | None = None, vgg_source: str = "auto", reg: float = REG,
                 compile: bool = False, scale: float = 1.0, tile: int | None = None) -> None:
        if method not in METHODS:
            raise VidstyleError(f"unknown arbitrary-style method {method!r}; use adain or wct")
        if not styles:
            raise VidstyleError("at least one style image is needed")
        if not 0.0 <= alpha <= 1.0:
            raise VidstyleError(f"alpha must be in [0, 1], got {alpha}")
        self.method, self.alpha, self.reg, self.scale, self.tile = method, float(alpha), reg, float(scale), tile
        self.device = torch.device(device)
        self.levels = ("relu4_1",) if method == "adain" else tuple(levels)
        if not self.levels:
            raise VidstyleError("WCT needs at least one level, e.g. relu4_1")
        for level in self.levels:
            layer_index(level)  # unknown names are a clear error
        self.weights = blend_weights(len(styles), style_weights)
        self.colour_mode = _colour_mode(preserve_color)
        self.encoder = encoder if encoder is not None else load_vgg(self.levels, source=vgg_source, device=self.device)
        if layer_index(self.encoder.last_layer) < layer_index(deepest(self.levels)):
            self.encoder = load_vgg(self.levels, source=vgg_source, device=self.device)
        decoders = decoders or {}
        self.decoders: dict[str, Decoder] = {
            level: load_decoder(decoders.get(level), method, level, self.encoder.normalisation, self.device)
            for level in self.levels}
        self.pad_multiple = max(d.scale for d in self.decoders.values())
        # Style statistics below use the eager encoder; per-frame calls go through these (compiled or not).
        self._encode, self._decode = self.encoder, dict(self.decoders)
        if compile:
            self._encode = compile_for_inference(self.encoder)
            self._decode = {level: compile_for_inference(d) for level, d in self.decoders.items()}
        self.style_images = [resize_long_side(s, style_size) if style_size and max(s.shape[-2:]) > style_size else s
                             for s in map(_as_image, styles)]
        self._per_style: list[dict] | None = None  # each style's own statistics per level
        self._stats: dict[str, ColourStats] | dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None
        if self.colour_mode != "histogram":
            self._stats = self._style_statistics(self.style_images)

    # ------------------------------------------------------------------ statistics (once per style)

    @torch.no_grad()
    def _style_statistics(self, images: Sequence[torch.Tensor]):
        """Blended per-level statistics: AdaIN ``(mean, std)`` ``1×C×1×1``; WCT :class:`ColourStats`."""
        per_style = [self.encoder(img.to(self.device), self.levels) for img in images]
        if self.method == "adain":
            self._per_style = [{"relu4_1": mean_std(f["relu4_1"])} for f in per_style]
        else:
            self._per_style = [{level: colour_stats(f[level][0], self.reg) for level in self.levels}
                               for f in per_style]
        return self._blend()

    def _blend(self):
        """The per-style statistics blended by ``weights`` (linear: AdaIN's mean/std, WCT's colouring maps)."""
        assert self._per_style is not None
        if self.method == "adain":
            ms = [p["relu4_1"] for p in self._per_style]
            return {"relu4_1": (sum(w * m for w, (m, _) in zip(self.weights, ms)),
                                sum(w * s for w, (_, s) in zip(self.weights, ms)))}
        return {level: blend_stats([p[level] for p in self._per_style], self.weights) for level in self.levels}

    def set_strength(self, strength: float) -> None:
        """``alpha``: 1 = the style's statistics, 0 = the content's own features (decoded)."""
        if not 0.0 <= strength <= 1.0:
            raise VidstyleError(f"alpha must be in [0, 1], got {strength}")
        self.alpha = float(strength)

    def set_style_weights(self, weights: Sequence[float]) -> None:
        """Re-weight the styles' statistics (style transitions); cheap: each style's statistics are kept."""
        self.weights = blend_weights(len(self.style_images), weights)
        if self._per_style is not None:
            self._stats = self._blend()

    def reset(self) -> None:
        if self.colour_mode == "histogram":
            self._stats = self._per_style = None  # re-matched to the next shot's first frame

    # ------------------------------------------------------------------ per frame

    @torch.no_grad()
    def _stylise_one(self, frame: torch.Tensor, shared: SharedStats | None = None) -> torch.Tensor:
        """``1×3×H×W`` (H, W multiples of the decoders' scale) → stylised ``1×3×H×W`` (unclamped).

        ``shared``: the content statistics per level come from there (a tile of a larger frame) instead of from
        ``frame`` itself."""
        assert self._stats is not None
        if self.method == "adain":
            feats = self._encode(frame, ["relu4_1"])["relu4_1"]
            mean, std = self._stats["relu4_1"]
            own = None if shared is None else shared.get("relu4_1", lambda: mean_std(feats))
            target = adain(feats, mean, std, content_stats=own)  # type: ignore[arg-type]
            target = self.alpha * target + (1 - self.alpha) * feats
            return self._decode["relu4_1"](target)
        image = frame
        for level in self.levels:
            feats = self._encode(image.clamp(0, 1), [level])[level]
            own = None if shared is None else shared.get(level, lambda: mean_cov(feats[0]))  # noqa: B023
            coloured = wct(feats[0], self._stats[level], self.alpha, self.reg, content_stats=own).unsqueeze(0)  # type: ignore[arg-type]
            image = self._decode[level](coloured)
        return image

    def _padded(self, x: torch.Tensor, shared: SharedStats | None = None) -> torch.Tensor:
        """:meth:`_stylise_one` of a ``1×3×h×w`` crop of any size: padded to the decoders' multiple, cropped back."""
        h, w = x.shape[-2:]
        m = self.pad_multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:  # reflection needs pad < size; replicate covers tiny frames
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        return self._stylise_one(x, shared)[..., :h, :w]

    def stylise(self, frames: torch.Tensor, state: FrameState | None = None) -> torch.Tensor:
        """Stylise ``N×3×H×W`` RGB [0, 1] frames (any H, W ≥ 1); returns the same shape in [0, 1]."""
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise VidstyleError(f"frames must be N×3×H×W RGB, got {tuple(frames.shape)}")
        frames = frames.to(self.device, torch.float32)
        if self.scale != 1.0:
            from ..nets.tiling import scaled_size

            size = scaled_size(*frames.shape[-2:], self.scale)
            small = F.interpolate(frames, size=size, mode="bilinear", align_corners=False, antialias=self.scale > 1)
            out = self._stylise_at_size(small)
            return F.interpolate(out, size=frames.shape[-2:], mode="bilinear", align_corners=False).clamp_(0, 1)
        return self._stylise_at_size(frames)

    def _stylise_at_size(self, frames: torch.Tensor) -> torch.Tensor:
        if self._stats is None:  # histogram colour preservation: styles take this frame's colours
            self._stats = self._style_statistics([match_colour(s, frames[:1].cpu()) for s in self.style_images])
        outputs = []
        for frame in frames:
            # untiled, the statistics are simply recorded from the frame itself (its own, as without tiles)
            shared = SharedStats()
            outputs.append(run_network(lambda t: self._padded(t, shared), frame.unsqueeze(0), net=shared,  # noqa: B023
                                       tile=self.tile, halo=TILE_HALO_VGG))
        out = torch.cat(outputs)
        if self.colour_mode == "luminance":
            out = luminance_transfer(out, frames)
        return out


# ---------------------------------------------------------------- registration


def _levels(method: str) -> tuple[str, ...]:
    return ("relu4_1",) if method == "adain" else WCT_LEVELS


def can_serve_for(method: str):
    def check(request: BuildRequest) -> str | None:
        missing = [p.name for p in (default_decoder_path(method, level) for level in _levels(method)) if not p.is_file()]
        return f"{method} decoder weights are not installed ({', '.join(missing)})" if missing else None

    return check


def builder_for(method: str):
    def build(request: BuildRequest) -> tuple[Styliser, str]:
        from ..config import OptimiseConfig

        optimise = request.optimise or OptimiseConfig()
        colour = optimise.preserve_color if optimise.preserve_color != "none" else False
        styliser = ArbitraryStyliser(list(request.styles), method=method, alpha=optimise.strength,
                                     style_weights=optimise.style_blend, preserve_color=colour,
                                     device=request.device, vgg_source=optimise.vgg_source, compile=request.compile,
                                     scale=optimise.style_scale, tile=optimise.tile)
        from .feedforward import network_notes

        how = " (torch.compile)" if request.compile else ""
        notes = network_notes(optimise, request.frame_size, engine="the eager encoder and decoder")
        return styliser, (f"{method}: arbitrary style transfer with a trained decoder{how}, "
                          f"style {request.style_names()}{notes}")

    return build


__all__ = ["METHODS", "WCT_LEVELS", "ALL_WCT_LEVELS", "ArbitraryStyliser"]
