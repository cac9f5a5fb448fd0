"""Every option and its default, in one place.

Frozen dataclasses; the CLI and the Python API build them, TOML presets in
``configs/`` load into them (:func:`load_preset`). Each later stage of the
pipeline (flow, temporal, feed-forward, arbitrary style, live, batch) has its
own dataclass here, so a default has exactly one home.
"""

from __future__ import annotations

import dataclasses
import tomllib
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
    style_scale: float = 1.0
    preserve_color: Literal["none", "luminance", "histogram"] = "none"
    init: str = "content"  # "content" | "noise" | path to an image
    optimizer: Literal["lbfgs", "adam"] = "lbfgs"
    lr: float = 1.0  # L-BFGS step size; Adam uses ``adam_lr``
    adam_lr: float = 0.02
    seed: int = 0
    vgg_source: str = "auto"
    # Extra losses (vidstyle.losses_extra), relative like the others; 0 = off (see benchmarks/RESULTS.md, 2026-12-01).
    mrf_weight: float = 0.0  # Li & Wand 2016 patch loss
    mrf_layers: tuple[str, ...] = ("relu3_1", "relu4_1")
    mrf_patch: int = 3  # patch side in feature pixels
    mrf_stride: int = 1  # stride of the style patches (2 quarters the matching cost)
    histogram_weight: float = 0.0  # Risser et al. 2017 per-channel histogram loss
    histogram_layers: tuple[str, ...] = ("relu1_1", "relu4_1")
    laplacian_weight: float = 0.0  # Li et al. 2017 Laplacian loss (needs a content image)
    laplacian_pools: tuple[int, ...] = (4,)  # average-pooling sizes before the Laplacian


@dataclass(frozen=True)
class FlowConfig:
    """Optical flow between consecutive frames (see :mod:`vidstyle.flow`)."""

    method: str = "dis"  # auto | dis | deepflow | raft-small | raft-large
    weights: Path | None = None  # RAFT weight file


@dataclass(frozen=True)
class TemporalConfig:
    """Temporal consistency for video (Ruder et al. 2016 and flow-guided blending)."""

    strength: float = 0.7  # blend weight of the warped previous output in reliable regions
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
    flow_max_side: int | None = 640  # estimate the pipeline's flow at most at this long side (None: full size)
    enabled: bool = True  # False (--no-temporal): no flow, no blending, every frame on its own


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


#: ``compile="auto"`` compiles the feed-forward / AdaIN / WCT networks only when the clip holds at least
#: COMPILE_MIN_PIXELS pixels in all (frames × width × height). Measured on 2 CPU cores (benchmarks/RESULTS.md,
#: "Feed-forward speed: fused layers", static-shape compilation): AdaIN saves 0.2 s/frame at 640×360 and 1.8 s at
#: 1280×720 for 5–10 s of compilation (pays back within ~30 frames); the fused feed-forward net compiled saves
#: ~70 ms/frame (batch 4) over onnxruntime, its uncompiled path, for 11–16 s (~160 frames at 640×360, ~220 at
#: 1280×720). 40 M pixels ≈ 170 frames at 640×360 or 43 at 1280×720.
COMPILE_MIN_PIXELS = 40_000_000


def should_compile(policy: str, frames: int | None, width: int, height: int) -> bool:
    """Apply :attr:`VideoConfig.compile` to a clip of ``frames`` frames (None: unknown) at ``width``×``height``."""
    if policy in ("always", "never"):
        return policy == "always"
    return frames is not None and frames * width * height >= COMPILE_MIN_PIXELS


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
    feature_weight: float = 0.0  # distillation: optional VGG relu2_1 feature loss
    checkpoint_every: int = 100
    seed: int = 0


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
    threads: int | None = None  # torch intra-op threads; None = all cores
    pipelined: bool | None = None  # stylise on a worker thread while rendering; None = only on CUDA (see vidstyle.live)
    record_codec: str = "h264"
    record_crf: int = 20
    record_preset: str = "veryfast"  # fast enough to keep up with a live stream


def replace(cfg: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` that ignores ``None`` values (unset CLI flags)."""
    return dataclasses.replace(cfg, **{k: v for k, v in changes.items() if v is not None})


def load_preset(path: str | Path, section: str, cls: type) -> Any:
    """Load ``[section]`` of a TOML preset into the dataclass ``cls``.

    Unknown keys are a clear error naming the file and the key.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise VidstyleError(f"cannot read preset {path}: {e}") from None
    values = data.get(section, {})
    names = {f.name: f for f in dataclasses.fields(cls)}
    for key in values:
        if key not in names:
            raise VidstyleError(f"{path}: unknown key {section}.{key}; known: {', '.join(sorted(names))}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**values)


__all__ = [
    "CONTENT_LAYERS", "STYLE_LAYERS", "MAX_INPUT_SIDE", "MIN_AUTO_MODEL_STEPS", "OptimiseConfig", "FlowConfig",
    "TemporalConfig", "VideoConfig", "TrainConfig", "TextureTrainConfig", "DecoderTrainConfig", "LiveConfig", "replace", "load_preset", "field",
]
