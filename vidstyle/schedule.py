"""Strength and style over time: keyframed curves (:mod:`vidstyle.curves`) applied frame by frame.

One mechanism for every method: the pipeline tells the styliser which source frames it is about to stylise
(:meth:`~vidstyle.stylise.base.Styliser.set_frames`); :class:`ScheduledStyliser` evaluates the curves there and
sets the wrapped styliser's strength (:meth:`~vidstyle.stylise.base.Styliser.set_strength`) and style weights
(:meth:`~vidstyle.stylise.base.Styliser.set_style_weights`) before each run of frames that share them. Which
space the strength and the styles are interpolated in is the wrapped styliser's business
(:class:`~vidstyle.stylise.base.StrengthBlend`, :class:`~vidstyle.stylise.base.StyleBlend`, or the method's own).

The temporal blend strength has its own curve (:class:`TemporalSchedule`), applied on top of the pipeline's
flow-guided blend without touching :mod:`vidstyle.temporal`: the blend is linear in its strength, so the output at
strength ``s`` is ``lerp(stylised, blended_at_peak, s / peak)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import torch

from .config import TemporalConfig, replace
from .curves import Curve, parse_strength
from .stylise.base import FrameState, Styliser, TemporalMode


class ScheduledStyliser(Styliser):
    """Evaluate strength and style curves at each frame and stylise runs of equal settings together.

    Args:
        inner: a per-frame styliser supporting ``set_strength`` (when ``strength`` is given) and
            ``set_style_weights`` (when ``styles`` is given).
        strength: a one-number curve, or None.
        styles: a weight-vector curve over the styles, or None.
        fps: the clip's frame rate (for time keys).
    """

    temporal_mode = TemporalMode.PER_FRAME

    def __init__(self, inner: Styliser, strength: Curve | None, styles: Curve | None,
                 fps: float | Fraction | None) -> None:
        for curve in (strength, styles):
            if curve is not None:
                curve.check(fps)  # fail before any frame: unknown rate, keys out of order
        self.inner, self.strength, self.styles, self.fps = inner, strength, styles, fps
        self._indices: list[int] | None = None
        self._next = 0  # without set_frames: count the frames seen

    def settings(self, index: int) -> tuple[float | None, tuple[float, ...] | None]:
        """``(strength, style weights)`` at source frame ``index`` (None where there is no curve)."""
        s = self.strength.scalar_at(index, self.fps) if self.strength is not None else None
        w = self.styles.at(index, self.fps) if self.styles is not None else None
        return s, w

    def set_frames(self, indices: Sequence[int]) -> None:
        self._indices = list(indices)
        self.inner.set_frames(indices)

    def use_mattes(self, lookup) -> bool:  # noqa: ANN001 - see Styliser.use_mattes
        return self.inner.use_mattes(lookup)

    def stylise(self, frames: torch.Tensor, state: FrameState | None = None) -> torch.Tensor:
        n = len(frames)
        indices = self._indices if self._indices is not None and len(self._indices) == n else \
            list(range(self._next, self._next + n))
        self._indices, self._next = None, indices[-1] + 1 if indices else self._next
        settings = [self.settings(i) for i in indices]
        parts, a = [], 0
        for b in range(1, n + 1):
            if b == n or settings[b] != settings[a]:
                s, w = settings[a]
                if w is not None:
                    self.inner.set_style_weights(w)
                if s is not None:
                    self.inner.set_strength(s)
                parts.append(self.inner.stylise(frames[a:b], state))
                a = b
        return torch.cat(parts)

    def reset(self) -> None:
        self.inner.reset()


class TemporalSchedule:
    """The temporal blend strength over the clip (``TemporalConfig.strength``, or its ``strength_curve``).

    Attributes:
        cfg: ``cfg`` blending at the curve's peak, for :class:`~vidstyle.temporal.TemporalState`.
        curve: the curve, or None for a constant strength.
    """

    def __init__(self, cfg: TemporalConfig, fps: float | Fraction | None = None) -> None:
        value = parse_strength(cfg.strength_curve if cfg.strength_curve is not None else cfg.strength,
                               "--temporal-strength", cfg.strength_interp)
        self.curve = value if isinstance(value, Curve) else None
        if self.curve is not None:
            self.curve.check(fps)
        self.fps = fps
        self.peak = self.curve.peak if self.curve is not None else float(value)  # type: ignore[arg-type]
        self.cfg = replace(cfg, strength=self.peak)

    def apply(self, stylised: torch.Tensor, blended: torch.Tensor, index: int) -> torch.Tensor:
        """The frame blended at the curve's strength at ``index``, from the blend at the peak strength."""
        if self.curve is None or self.peak <= 0 or blended is stylised:
            return blended
        return torch.lerp(stylised, blended, self.curve.scalar_at(index, self.fps) / self.peak)


__all__ = ["ScheduledStyliser", "TemporalSchedule"]
