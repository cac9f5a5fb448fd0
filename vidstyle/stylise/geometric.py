"""Geometric style transfer (Liu et al. 2020, arXiv:2007.05471): warp the content toward the geometry of a
style image, then transfer the texture onto the warped content.

1. :class:`GeometryEstimator` finds the transform ``Θ`` (affine or thin-plate spline, see
   :mod:`vidstyle.nets.geometry`) that maps the content onto the geometric style image, from the correlation of
   their L2-normalised VGG-19 pool4 features at 240×240 — by the trained regressor (``network``, the seed's
   method), by maximising the correlation directly (``optimise``, no network), or the network's estimate refined
   by that optimisation (``network+optimise``).
2. ``--geometry-strength s`` uses ``s·Θ`` (``Θ`` is an offset from the identity; 0 = no warp).
3. The content is warped by ``Θ`` at full size; what the transform maps outside the picture is filled by
   **reflection** of the picture at its edges, so the output keeps the input's size with no blank border.
4. Texture transfer on the warped content: Gatys et al. coarse to fine (:func:`geometric_pyramid`: from 1/8 of
   the size, ×2 per level, each level started from the previous level's result, content features taken from the
   *warped* content), or any other styliser (fast, magenta, adain, wct) applied to the warped content.

Video: :class:`GeometricStyliser` wraps any styliser; ``Θ`` is estimated on a shot's first frame, applied to
every frame, and estimated again after :meth:`~GeometricStyliser.reset` (a hard cut). It warps *before*
stylising, and carries the pipeline's temporal consistency into the warped frame: the input flow ``f`` (and
reliability mask) is composed with the warp — ``f'(p) = J_T(p)⁻¹ f(T(p))`` (exact for affine, first order
for TPS), the mask is 0 where ``T`` leaves the frame — so flow-guided blending and the Ruder losses stay correct.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from ..config import OptimiseConfig, TemporalConfig, replace
from ..errors import VidstyleError, WeightsError
from ..nets.geometry import (
    GEOMETRY_LAYER,
    FeatureFn,
    GeometryRegressor,
    check_kind,
    geometry_view,
    interpolate_params,
    optimise_params,
    sampling_grid,
    vgg_features,
    warp_image,
)
from .base import FrameState, Styliser

#: How Θ is found (see the module docstring).
ESTIMATORS = ("auto", "network", "optimise", "network+optimise")  # auto = DEFAULT_ESTIMATOR
#: Chosen by measurement (benchmarks/RESULTS.md, "Geometric style transfer", 2026-12-01): on held-out synthetic
#: pairs the direct optimisation was 4× (affine) / 2× (TPS) more accurate than the shipped regressors, and starting
#: it from the regressor as well changed nothing but cost 13–20 % more time.
DEFAULT_ESTIMATOR = "optimise"
#: Pyramid levels of the texture transfer: 1/8, 1/4, 1/2, 1.
PYRAMID_LEVELS = 4
#: How the uncovered border is filled (``grid_sample`` padding mode).
BORDER = "reflection"


def regressor_path(kind: str) -> Path:
    """``models/geometry-KIND.safetensors`` (``$VIDSTYLE_MODELS`` overrides the folder)."""
    from ..weights import models_dir

    check_kind(kind)
    return models_dir() / f"geometry-{kind}.safetensors"


def load_regressor(kind_or_path: str | Path) -> GeometryRegressor:
    """A shipped regressor (``affine``/``tps``) or a ``.safetensors`` path; SHA-256 checked against its card."""
    from ..weights import model_weights

    path = regressor_path(str(kind_or_path)) if str(kind_or_path) in ("affine", "tps") else Path(kind_or_path)
    if not path.is_file():
        raise WeightsError(f"geometry regressor not found: {path} (train it with `python -m vidstyle.train.geometry`)")
    state, meta = model_weights(path).load()
    net = GeometryRegressor.from_metadata(meta)
    net.load_state_dict(state)
    return net.eval()


#: Smallest texture-transfer level (VGG-19 down to relu5_1 needs ~32 px on the short side of the style).
MIN_LEVEL = 32


def geometric_pyramid(size: int, levels: int = PYRAMID_LEVELS) -> list[int]:
    """Long sides of the texture-transfer levels, coarsest first: ``size/8, size/4, size/2, size``; levels below
    :data:`MIN_LEVEL` px are dropped (small outputs get fewer levels)."""
    if levels < 1:
        raise VidstyleError(f"the pyramid needs at least one level, got {levels}")
    sizes = [round(size / 2 ** (levels - 1 - i)) for i in range(levels)]
    return [s for s in sizes if s >= MIN_LEVEL or s == size]


class GeometryEstimator:
    """Estimate ``Θ`` for a (content, geometric style) pair.

    Args:
        kind: ``affine`` or ``tps``.
        method: one of :data:`ESTIMATORS`.
        regressor: a network to use (default: the shipped ``models/geometry-KIND``).
        features: ``image → pool4 features`` (default: the project's VGG-19; tests inject a small net).
        device: where VGG runs.
        vgg_source: VGG weight source.
    """

    def __init__(self, kind: str = "affine", method: str = "auto", regressor: GeometryRegressor | None = None,
                 features: FeatureFn | None = None, device: torch.device | str = "cpu", vgg_source: str = "auto",
                 optimise_steps: int = 60) -> None:
        check_kind(kind)
        if method not in ESTIMATORS:
            raise VidstyleError(f"unknown geometry estimator {method!r}; choose from {', '.join(ESTIMATORS)}")
        self.kind, self.device, self.optimise_steps = kind, torch.device(device), optimise_steps
        if method == "auto":
            method = DEFAULT_ESTIMATOR
            if regressor is None and "network" in method and not regressor_path(kind).is_file():
                method = "optimise"
        if "network" in method and regressor is None:
            regressor = load_regressor(kind)
        if regressor is not None and regressor.kind != kind:
            raise VidstyleError(f"the regressor predicts {regressor.kind} transforms, not {kind}")
        self.method = method
        self.regressor = regressor.to(self.device).eval() if regressor is not None else None
        if features is None:
            from ..nets.vgg import load_vgg

            features = vgg_features(load_vgg((GEOMETRY_LAYER,), vgg_source, device=self.device))
        self.features = features
        self._style_key: int | None = None
        self._style_feats: torch.Tensor | None = None

    def describe(self) -> str:
        return {"network": "trained regressor", "optimise": "direct correlation optimisation (no network)",
                "network+optimise": "trained regressor refined by correlation optimisation"}[self.method]

    def _style(self, style: torch.Tensor) -> torch.Tensor:
        if self._style_feats is None or self._style_key != id(style):
            self._style_key, self._style_feats = id(style), self.features(style.to(self.device))
        return self._style_feats

    @torch.no_grad()
    def estimate(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """``1×P`` offsets of the transform taking ``content`` (``1×3×H×W``) to ``style``'s geometry."""
        from ..nets.geometry import match_input

        fa = self.features(content[:1].to(self.device))
        fb = self._style(style)
        init = None
        if self.regressor is not None:
            init = self.regressor(match_input(fa, fb)).float()
            if self.method == "network":
                return init.cpu()
        return optimise_params(fa, fb, self.kind, steps=self.optimise_steps, init=init).cpu()


def stylise_geometric(content: torch.Tensor, geometry_style: torch.Tensor, estimator: GeometryEstimator, *,
                      strength: float = 1.0, geometry_only: bool = False, styles: Sequence[torch.Tensor] = (),
                      cfg: OptimiseConfig = OptimiseConfig(), encoder=None, texture: Styliser | None = None,
                      levels: int = PYRAMID_LEVELS, bar=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Geometric (+ texture) style transfer of one image.

    Args:
        content: ``1×3×H×W`` RGB [0, 1] (the output has this size).
        geometry_style: ``1×3×h×w`` image whose geometry the content takes.
        estimator: finds ``Θ``.
        strength: 0..1, interpolates ``Θ`` toward the identity.
        geometry_only: return the warped content (no texture transfer).
        styles, cfg, encoder: Gatys texture transfer over :func:`geometric_pyramid` (``cfg.size`` = long side).
        texture: instead of Gatys, this styliser is applied to the warped content.

    Returns:
        ``(output 1×3×H×W, Θ 1×P)``.
    """
    from .optimise import stylise_still

    params = interpolate_params(estimator.estimate(content, geometry_style), strength)
    warped = warp_image(content, params.to(content.device), estimator.kind, padding=BORDER)
    if geometry_only:
        return warped, params
    if texture is not None:
        with torch.inference_mode():
            return texture.stylise(warped), params
    if encoder is None or not styles:
        raise VidstyleError("texture transfer needs a style image (or pass --geometry-only)")
    image: torch.Tensor | str | None = None
    for long_side in geometric_pyramid(max(content.shape[-2:]), levels):
        level = replace(cfg, size=long_side, scales=1,
                        steps=cfg.steps if long_side == max(content.shape[-2:]) else (cfg.coarse_steps or cfg.steps))
        image = stylise_still(warped, list(styles), encoder, level, init=image if image is not None else cfg.init, bar=bar)
    assert isinstance(image, torch.Tensor)
    return image, params


# ------------------------------------------------------------------ video: a styliser wrapper


def compose_flow(flow: torch.Tensor, mask: torch.Tensor | None, params: torch.Tensor, kind: str
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """The flow and reliability mask of the *warped* frames, from those of the input frames.

    With the warp ``W(I)(p) = I(T(p))`` and vidstyle's flow convention (``current(p) ≈ previous(p + f(p))``),
    ``f'(p) = T⁻¹(T(p) + f(T(p))) − p ≈ J_T(p)⁻¹ f(T(p))`` (pixels; exact for affine ``T``). The mask is
    sampled along ``T`` and set to 0 where ``T(p)`` leaves the frame (the reflected border).

    Args:
        flow: ``N×2×H×W`` in pixels; mask: ``N×1×H×W`` or None; params: ``1×P``.
    """
    n, _, h, w = flow.shape
    grid = sampling_grid(params.to(flow).expand(n, -1), kind, (h, w))  # normalised (x, y)
    pix = torch.stack([(grid[..., 0] + 1) * w / 2 - 0.5, (grid[..., 1] + 1) * h / 2 - 0.5], 1)  # N×2×H×W pixels
    dx = torch.gradient(pix, dim=3)[0]  # ∂T/∂x: N×2×H×W
    dy = torch.gradient(pix, dim=2)[0]
    a, b, c, d = dx[:, 0], dy[:, 0], dx[:, 1], dy[:, 1]  # J = [[a, b], [c, d]]
    det = (a * d - b * c)
    det = torch.where(det.abs() < 1e-6, torch.full_like(det, 1e-6), det)
    fs = F.grid_sample(flow, grid, mode="bilinear", padding_mode="border", align_corners=False)
    fx = (d * fs[:, 0] - b * fs[:, 1]) / det
    fy = (-c * fs[:, 0] + a * fs[:, 1]) / det
    inside = ((grid.abs() <= 1).all(-1)).unsqueeze(1).to(flow.dtype)
    m = inside if mask is None else F.grid_sample(mask.to(flow), grid, mode="nearest", padding_mode="zeros",
                                                  align_corners=False) * inside
    return torch.stack([fx, fy], 1), m


class GeometricStyliser(Styliser):
    """Geometric style for video: every frame of a shot warped by one ``Θ``, then stylised by ``inner``.

    ``Θ`` is estimated on the first frame after construction or :meth:`reset` (the pipeline calls it at hard
    cuts). The wrapper is ``temporal``: the pipeline hands it each frame's :class:`FrameState` and does not blend
    on top; it composes the flow with the warp (:func:`compose_flow`) and either passes it to a temporal
    ``inner`` (Ruder et al.) or does the pipeline's flow-guided blending itself, in the warped frame.

    Args:
        inner: any styliser (``None``: geometry only, the warped frames are the output).
        geometry_style: ``1×3×h×w`` image whose geometry the frames take.
        estimator: finds ``Θ``.
        strength: 0..1 toward the identity.
        blend_strength: flow-guided blending strength (the pipeline's ``--temporal-strength``) for a
            non-temporal ``inner``.
    """

    temporal = True

    def __init__(self, inner: Styliser | None, geometry_style: torch.Tensor, estimator: GeometryEstimator,
                 strength: float = 1.0, blend_strength: float = TemporalConfig().strength) -> None:
        interpolate_params(torch.zeros(1), strength)  # validates the range
        self.inner, self.style, self.estimator = inner, geometry_style, estimator
        self.strength, self.blend_strength = float(strength), float(blend_strength)
        self.params: torch.Tensor | None = None
        self.estimates = 0

    def reset(self) -> None:
        self.params = None
        if self.inner is not None:
            self.inner.reset()

    def warp(self, frames: torch.Tensor) -> torch.Tensor:
        """The frames warped by this shot's ``Θ`` (estimated now if needed)."""
        if self.params is None:
            self.params = interpolate_params(self.estimator.estimate(frames[:1], self.style), self.strength)
            self.estimates += 1
        return warp_image(frames, self.params.to(frames.device), self.estimator.kind, padding=BORDER)

    def stylise(self, frames: torch.Tensor, state: FrameState | None = None) -> torch.Tensor:
        from ..flow.warp import warp as flow_warp
        from ..temporal import blend

        warped = self.warp(frames)
        flow = mask = None
        if state is not None and state.flow is not None:
            assert self.params is not None
            flow, mask = compose_flow(state.flow, state.mask, self.params, self.estimator.kind)
        if self.inner is None:
            return warped
        if self.inner.temporal:
            inner_state = FrameState(prev_output=state.prev_output if state is not None else None,
                                     prev_input=self.warp(state.prev_input) if state is not None and state.prev_input is not None else None,
                                     flow=flow, mask=mask)
            return self.inner.stylise(warped, inner_state)
        with torch.inference_mode():
            out = self.inner.stylise(warped)
        prev = state.prev_output if state is not None else None
        if flow is not None and mask is not None and prev is not None and prev.shape == out.shape and self.blend_strength > 0:
            out = blend(out, flow_warp(prev, flow), mask, self.blend_strength)
        return out


def wrap_for_video(styliser: Styliser | None, geometry_style, kind: str = "affine", strength: float = 1.0,
                   temporal: TemporalConfig = TemporalConfig(), device: torch.device | str = "cpu",
                   estimator: str = "auto", vgg_source: str = "auto") -> tuple[GeometricStyliser, str]:
    """The one call a video command needs: ``styliser`` wrapped in a :class:`GeometricStyliser` (and its
    one-line description). ``geometry_style`` is a path or ``1×3×H×W`` tensor."""
    est = GeometryEstimator(kind, estimator, device=device, vgg_source=vgg_source)
    strength_blend = temporal.strength if temporal.enabled else 0.0
    wrapped = GeometricStyliser(styliser, load_style(geometry_style).to(device), est, strength, strength_blend)
    return wrapped, (f"geometric style: {kind} by {est.describe()}, once per shot, strength {strength:g}, "
                     f"border filled by {BORDER}")


def stylise_image_geometric(content: torch.Tensor, styles: Sequence, geometry_style, cfg: OptimiseConfig, *,
                            kind: str = "affine", strength: float = 1.0, geometry_only: bool = False,
                            method: str = "optimise", model=None, device: torch.device | str = "cpu",
                            progress: bool = True, on_method=None, estimator: str = "auto") -> torch.Tensor:
    """What ``vidstyle image --geometry-style`` runs (behind :func:`vidstyle.api.stylise_image`).

    ``content`` is ``1×3×H×W`` already at the output size on ``device``; ``styles`` the texture styles (paths or
    tensors); ``geometry_style`` a path or tensor (default: the first style). Returns the output on the CPU.
    """
    from ..progress import progress_bar

    dev = torch.device(device)
    check_kind(kind)
    interpolate_params(torch.zeros(1), strength)
    if geometry_style is None:
        if not styles:
            raise VidstyleError("geometric style transfer needs --geometry-style IMAGE (or --style IMAGE)")
        geometry_style = styles[0]
    g_style = load_style(geometry_style).to(dev)
    texture = encoder = None
    style_ts: list[torch.Tensor] = []
    text = "geometry only"
    if not geometry_only:
        if method != "optimise" or model is not None:
            from ..methods import build_styliser

            texture, text = build_styliser("fast" if model is not None and method == "optimise" else method,
                                           list(styles), model, optimise=cfg, device=dev)
        else:
            from ..nets.vgg import load_vgg

            style_ts = [load_style(s).to(dev) for s in styles]
            if not style_ts:
                raise VidstyleError("no style image given; pass at least one --style (or --geometry-only)")
            encoder = load_vgg(cfg.style_layers + cfg.content_layers, cfg.vgg_source, device=dev)
            sizes = geometric_pyramid(max(content.shape[-2:]))
            text = (f"optimise: Gatys et al. on the warped content, {cfg.steps} {cfg.optimizer} steps per level "
                    f"over {'→'.join(map(str, sizes))} px")
    est = GeometryEstimator(kind, estimator, device=dev, vgg_source=cfg.vgg_source)
    if on_method is not None:
        on_method(f"geometric style: {kind} by {est.describe()}, strength {strength:g}, border filled by {BORDER}; "
                  f"texture: {text}")
    with progress_bar(None, "stylising", enabled=progress and not geometry_only and texture is None) as bar:
        out, _ = stylise_geometric(content, g_style, est, strength=strength, geometry_only=geometry_only,
                                   styles=style_ts, cfg=cfg, encoder=encoder, texture=texture, bar=bar)
    return out.cpu()


def load_style(path: str | Path | torch.Tensor) -> torch.Tensor:
    """A geometric style image (path or tensor) as ``1×3×H×W``; bad files are one-line errors."""
    from ..media.image import load_image

    return path if isinstance(path, torch.Tensor) else load_image(path)


__all__ = ["BORDER", "DEFAULT_ESTIMATOR", "ESTIMATORS", "PYRAMID_LEVELS", "GeometricStyliser", "GeometryEstimator",
           "compose_flow", "geometric_pyramid", "geometry_view", "load_regressor", "load_style", "regressor_path",
           "stylise_geometric", "stylise_image_geometric", "wrap_for_video"]
