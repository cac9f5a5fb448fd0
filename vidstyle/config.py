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
    passes: int = 1  # multi-pass (alternating directions) for the optimisation method
    later_steps: int | None = None  # optimisation steps after the first frame of a shot
    cut_threshold: float = 0.5  # histogram distance above which a hard cut is declared


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


@dataclass(frozen=True)
class TrainConfig:
    """Feed-forward network training (``vidstyle train``)."""

    arch: Literal["full", "lite"] = "full"
    size: int = 256
    steps: int = 2000
    batch_size: int = 4
    lr: float = 1e-3
    content_weight: float = 1.0
    style_weight: float = 1e5
    tv_weight: float = 1e-6
    temporal_weight: float = 0.0
    content_layers: tuple[str, ...] = ("relu3_1",)
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    checkpoint_every: int = 100
    seed: int = 0


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
    "CONTENT_LAYERS", "STYLE_LAYERS", "MAX_INPUT_SIDE", "OptimiseConfig", "FlowConfig",
    "TemporalConfig", "VideoConfig", "TrainConfig", "replace", "load_preset", "field",
]
