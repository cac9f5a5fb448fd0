"""Geometric style transfer (Liu et al. 2020, arXiv:2007.05471): warp the content toward the geometry of a
style image, then transfer the texture onto the warped content.

1. :class:`GeometryEstimator` finds the transform ``Θ`` (affine or thin-plate spline, see
   :mod:`vidstyle.nets.geometry`) that maps the content onto the geometric style image, from the correlation of
   their L2-normalised VGG-19 pool4 features at 240×240 — by the trained regressor (``network``, the seed's
   method), by maximising the correlation directly (``optimise``, no network), or the network's estimate refined
   by that optimisation (``network+optimise``).
2. ``--geometry-strength s`` uses ``s·Θ`` (``Θ`` is an offset from the identity; 0 = no warp).
3. The content is warped by ``Θ`` at full size; the output keeps the input's size. What the transform maps outside
   the picture is filled as :attr:`GeometryConfig.border <vidstyle.config.GeometryConfig>` says — by default
   (``cover``) the output is zoomed about its centre just enough that nothing is uncovered (:func:`plan_warp`).
4. Texture transfer on the warped content: Gatys et al. coarse to fine (:func:`geometric_pyramid`: from 1/8 of
   the size, ×2 per level, each level started from the previous level's result, content features taken from the
   *warped* content), or any other styliser (fast, magenta, adain, wct) applied to the warped content.

Video (:class:`GeometricReader`): the *input frames* are warped before the whole pipeline — ``Θ`` is estimated on
a shot's first frame, applied to every frame of the shot, and estimated again after a hard cut (found by the
pipeline's own rules, :class:`vidstyle.temporal.TemporalState`, on the unwarped frames; the cut is handed to the
pipeline with the batch). Flow, cut detection, blending and the Ruder losses then all see one consistently warped
clip, so nothing has to be composed with the warp, and every registered method works unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..config import GeometryConfig, OptimiseConfig, TemporalConfig, allowed_values, replace
from ..errors import VidstyleError, WeightsError
from ..nets.geometry import (
    GEOMETRY_LAYER,
    FeatureFn,
    GeometryRegressor,
    check_kind,
    cover_zoom,
    geometry_view,
    interpolate_params,
    optimise_params,
    vgg_features,
    warp_image,
)
from .base import Styliser

#: How Θ is found (see the module docstring); ``auto`` = :data:`DEFAULT_ESTIMATOR`.
ESTIMATORS: tuple[str, ...] = allowed_values(GeometryConfig, "estimator") or ()
#: Chosen by measurement (benchmarks/RESULTS.md, "Geometric style transfer", 2026-12-01): on held-out synthetic
#: pairs the direct optimisation was 4× (affine) / 2× (TPS) more accurate than the shipped regressors, and starting
#: it from the regressor as well changed nothing but cost 13–20 % more time.
DEFAULT_ESTIMATOR = "optimise"
#: Pyramid levels of the texture transfer: 1/8, 1/4, 1/2, 1.
PYRAMID_LEVELS = 4
#: How the still-uncovered border is filled after the ``cover`` zoom (``grid_sample`` padding: repeat the edge).
COVER_RESIDUAL = "border"


@dataclass(frozen=True)
class GeometricWarp:
    """One shot's warp: ``Θ`` (``1×P`` offsets of ``kind``), the output zoom and the padding mode of the rest."""

    params: torch.Tensor
    kind: str
    zoom: float = 1.0
    padding: str = "reflection"

    def apply(self, frames: torch.Tensor) -> torch.Tensor:
        """``N×3×H×W`` → the same size, every frame warped by this transform."""
        return warp_image(frames, self.params.to(frames.device), self.kind, padding=self.padding, zoom=self.zoom)

    def describe(self) -> str:
        zoom = f", zoomed ×{self.zoom:.2f} to cover the frame" if self.zoom > 1 else ""
        return f"{self.kind}{zoom}, border by {self.padding}"


def plan_warp(params: torch.Tensor, kind: str, border: str = GeometryConfig.border,
              max_zoom: float = GeometryConfig.max_zoom) -> GeometricWarp:
    """The warp that applies ``params`` with the ``border`` fill of :class:`~vidstyle.config.GeometryConfig`:
    ``cover`` picks the smallest output zoom ≤ ``max_zoom`` at which no output pixel samples outside the picture
    (:func:`~vidstyle.nets.geometry.cover_zoom`) and repeats the edge for whatever is still outside; the other
    values are ``grid_sample`` padding modes, without zoom."""
    if border == "cover":
        return GeometricWarp(params, kind, cover_zoom(params, kind, max_zoom), COVER_RESIDUAL)
    if border not in ("reflection", "border", "zeros"):
        raise VidstyleError(f"unknown geometry border fill {border!r}; choose from cover, reflection, border, zeros")
    return GeometricWarp(params, kind, 1.0, border)


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
                      levels: int = PYRAMID_LEVELS, bar=None, border: str = GeometryConfig.border,
                      max_zoom: float = GeometryConfig.max_zoom) -> tuple[torch.Tensor, GeometricWarp]:
    """Geometric (+ texture) style transfer of one image.

    Args:
        content: ``1×3×H×W`` RGB [0, 1] (the output has this size).
        geometry_style: ``1×3×h×w`` image whose geometry the content takes.
        estimator: finds ``Θ``.
        strength: 0..1, interpolates ``Θ`` toward the identity.
        geometry_only: return the warped content (no texture transfer).
        styles, cfg, encoder: Gatys texture transfer over :func:`geometric_pyramid` (``cfg.size`` = long side).
        texture: instead of Gatys, this styliser is applied to the warped content.
        border, max_zoom: the fill of the uncovered border (:func:`plan_warp`).

    Returns:
        ``(output 1×3×H×W, the warp)``.
    """
    params = interpolate_params(estimator.estimate(content, geometry_style), strength)
    plan = plan_warp(params, estimator.kind, border, max_zoom)
    warped = plan.apply(content)
    if geometry_only:
        return warped, plan
    if texture is not None:
        with torch.inference_mode():
            return texture.stylise(warped), plan
    if encoder is None or not styles:
        raise VidstyleError("texture transfer needs a style image (or pass --geometry-only)")
    return gatys_coarse_to_fine(warped, styles, encoder, cfg, levels, bar), plan


def gatys_coarse_to_fine(content: torch.Tensor, styles: Sequence[torch.Tensor], encoder, cfg: OptimiseConfig,
                         levels: int = PYRAMID_LEVELS, bar=None) -> torch.Tensor:
    """The seed's texture transfer: Gatys et al. at each :func:`geometric_pyramid` level of ``content``'s long side
    (1/8, 1/4, 1/2, 1), each level started from the previous level's result (the first from ``cfg.init``), the
    content loss on ``content`` itself (for geometric style transfer: the *warped* content) at that level's size.
    The finest level runs ``cfg.steps``, the others ``cfg.coarse_steps`` (default the same).

    Args:
        content: ``1×3×H×W`` RGB [0, 1]; styles: ``1×3×h×w`` each; encoder: the VGG-19 of :mod:`vidstyle.nets.vgg`.

    Returns:
        ``1×3×H×W`` RGB [0, 1].
    """
    from .optimise import stylise_still

    image: torch.Tensor | str | None = None
    full = max(content.shape[-2:])
    for long_side in geometric_pyramid(full, levels):
        level = replace(cfg, size=long_side, scales=1,
                        steps=cfg.steps if long_side == full else (cfg.coarse_steps or cfg.steps))
        image = stylise_still(content, list(styles), encoder, level, init=image if image is not None else cfg.init,
                              bar=bar)
    assert isinstance(image, torch.Tensor)
    return image


# ------------------------------------------------------------------ video: warp the input frames


class GeometricReader:
    """A frame reader whose frames come out warped toward a geometric style, one transform per shot.

    Wraps a :class:`~vidstyle.media.reader.VideoReader` (or any iterable of
    :class:`~vidstyle.media.frames.FrameBatch` with ``info``). Cuts are found on the *unwarped* frames by the
    pipeline's own rules (:class:`~vidstyle.temporal.TemporalState` with ``cut_cfg`` and ``flow_estimator``;
    without an estimator, from colour histograms only). At the stream's first frame and after every cut ``Θ`` is
    estimated on that frame; each batch leaves with its frames warped (same size) and ``cuts`` set to the
    in-batch indices where a new transform starts, which the pipeline treats as hard cuts — so nothing is
    blended across a change of transform.

    Attributes:
        warps: ``(frame index, GeometricWarp)`` of every shot so far, in order.
    """

    def __init__(self, reader, geometry_style: torch.Tensor, estimator: GeometryEstimator, *,
                 strength: float = 1.0, border: str = GeometryConfig.border,
                 max_zoom: float = GeometryConfig.max_zoom, cut_cfg: TemporalConfig = TemporalConfig(),
                 flow_estimator=None) -> None:
        from ..pipeline import flow_config_for
        from ..stylise.base import TemporalMode
        from ..temporal import TemporalState

        interpolate_params(torch.zeros(1), strength)  # validates the range
        plan_warp(torch.zeros(1, check_kind(estimator.kind)), estimator.kind, border, max_zoom)  # validates the fill
        self.reader, self.style, self.estimator = reader, geometry_style, estimator
        self.strength, self.border, self.max_zoom = float(strength), border, float(max_zoom)
        # the cheaper blending-flow size is enough to decide cuts (the pipeline's per-frame methods use it too)
        self._cuts = TemporalState(flow_config_for(TemporalMode.PER_FRAME, cut_cfg), flow_estimator)
        self.warps: list[tuple[int, GeometricWarp]] = []

    def __getattr__(self, name: str):  # info, stopped_early, device … of the wrapped reader
        return getattr(self.__dict__["reader"], name)

    def __iter__(self) -> Iterator:
        from ..media.frames import FrameBatch

        processed = 0
        for batch in self.reader:
            frames = batch.frames
            indices = list(batch.indices) or list(range(processed, processed + len(frames)))
            processed += len(frames)
            cuts = [i for i, obs in enumerate(self._cuts.observe(frames)) if obs.cut]
            starts = sorted({*cuts, *([0] if not self.warps else [])})
            bounds = sorted({0, *starts, len(frames)})
            parts = []
            for a, b in zip(bounds, bounds[1:]):
                if a in starts:
                    params = interpolate_params(self.estimator.estimate(frames[a:a + 1], self.style), self.strength)
                    self.warps.append((indices[a], plan_warp(params, self.estimator.kind, self.border, self.max_zoom)))
                parts.append(self.warps[-1][1].apply(frames[a:b]))
            yield FrameBatch(torch.cat(parts), list(batch.pts), list(batch.indices), cuts=cuts)


def open_geometric(reader, cfg: GeometryConfig, *, device: torch.device | str = "cpu", vgg_source: str = "auto",
                   cut_cfg: TemporalConfig = TemporalConfig(), flow_estimator=None) -> tuple[GeometricReader, str]:
    """What ``vidstyle run --geometry-style`` does to its reader: ``reader`` wrapped in a :class:`GeometricReader`
    for ``cfg``, and a one-line description of the geometric step."""
    if cfg.style is None:
        raise VidstyleError("geometric style transfer needs --geometry-style IMAGE")
    style = load_style(cfg.style).to(device)
    est = GeometryEstimator(cfg.kind, cfg.estimator, device=device, vgg_source=vgg_source)
    wrapped = GeometricReader(reader, style, est, strength=cfg.strength, border=cfg.border, max_zoom=cfg.max_zoom,
                              cut_cfg=cut_cfg, flow_estimator=flow_estimator)
    fill = f"cover (zoom ≤ ×{cfg.max_zoom:g}, then edge pixels)" if cfg.border == "cover" else cfg.border
    return wrapped, (f"geometric style from {Path(cfg.style).name}: {cfg.kind} by {est.describe()}, strength "
                     f"{cfg.strength:g}, once per shot on its first frame, input frames warped before the pipeline, "
                     f"border {fill}")


def stylise_image_geometric(content: torch.Tensor, styles: Sequence, geometry_style, cfg: OptimiseConfig, *,
                            kind: str = "affine", strength: float = 1.0, geometry_only: bool = False,
                            method: str = "optimise", model=None, device: torch.device | str = "cpu",
                            progress: bool = True, on_method=None, estimator: str = "auto",
                            border: str = GeometryConfig.border) -> torch.Tensor:
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
        on_method(f"geometric style: {kind} by {est.describe()}, strength {strength:g}, border {border}; "
                  f"texture: {text}")
    with progress_bar(None, "stylising", enabled=progress and not geometry_only and texture is None) as bar:
        out, _ = stylise_geometric(content, g_style, est, strength=strength, geometry_only=geometry_only,
                                   styles=style_ts, cfg=cfg, encoder=encoder, texture=texture, bar=bar,
                                   border=border)
    return out.cpu()


def load_style(path: str | Path | torch.Tensor) -> torch.Tensor:
    """A geometric style image (path or tensor) as ``1×3×H×W``; bad files are one-line errors."""
    from ..media.image import load_image

    return path if isinstance(path, torch.Tensor) else load_image(path)


__all__ = ["COVER_RESIDUAL", "DEFAULT_ESTIMATOR", "ESTIMATORS", "PYRAMID_LEVELS", "GeometricReader", "GeometricWarp",
           "GeometryEstimator", "gatys_coarse_to_fine", "geometric_pyramid", "geometry_view", "load_regressor", "load_style", "open_geometric",
           "plan_warp", "regressor_path", "stylise_geometric", "stylise_image_geometric"]
