"""The Styliser interface every method implements, and what the pipeline hands it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .registry import TemporalMode


@dataclass
class FrameState:
    """What temporal methods know about the frame before the current one.

    Attributes:
        prev_output: ``1×3×H×W`` previous stylised frame, RGB [0, 1] (None at a shot start).
        prev_input: ``1×3×H×W`` previous input frame.
        flow: ``1×2×H×W`` flow between the current and previous frame, ``warp(prev, flow) ≈ current``
            (convention in :mod:`vidstyle.flow`); None at a shot start or without flow.
        mask: ``1×1×H×W`` reliability of ``flow`` in [0, 1].
        back_flow: ``1×2×H×W`` the other direction, ``warp(current, back_flow) ≈ prev`` (estimated for the mask).
        window: ``SELF_CONSISTENT`` stylisers only: one state per frame of the window, each relative to the frame
            before it (``window[0]`` to the last frame before the window; its ``flow`` is None at a shot start).
    """

    prev_output: torch.Tensor | None = None
    prev_input: torch.Tensor | None = None
    flow: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    back_flow: torch.Tensor | None = None
    window: tuple[FrameState, ...] = ()


class Styliser(ABC):
    """Turns frames into stylised frames.

    ``stylise`` takes ``N×3×H×W`` RGB in [0, 1] on the working device and returns the
    same shape and range. ``reset`` is called at shot boundaries (hard cuts).
    """

    #: How the pipeline drives this styliser (see :class:`TemporalMode`).
    temporal_mode: TemporalMode = TemporalMode.PER_FRAME

    @abstractmethod
    def stylise(self, frames: torch.Tensor, state: FrameState | None = None) -> torch.Tensor: ...

    def reset(self) -> None:  # noqa: B027 - stateless stylisers need nothing
        """Forget temporal state (called at cuts)."""

    # Parameters that may change from one ``stylise`` call to the next (strength and style over time,
    # :mod:`vidstyle.schedule`). Stylisers with a style space of their own implement the setters
    # (``native_strength`` methods of the registry); the others are wrapped (:class:`StrengthBlend`, :class:`StyleBlend`).

    def set_frames(self, indices: Sequence[int]) -> None:  # noqa: B027 - only schedules need it
        """The 0-based source frame indices of the frames of the next :meth:`stylise` call (the pipeline says)."""

    def use_mattes(self, lookup: Callable[[int], torch.Tensor | None]) -> bool:
        """Per-frame mattes (``lookup(source frame index)`` → ``1×1×H×W`` in [0, 1], white = stylise) for a method
        that can restrict its own losses to them (optimisation); True if it will. Others ignore them: the pipeline
        composites every method's output through the matte anyway (:mod:`vidstyle.matte_video`)."""
        return False

    def set_strength(self, strength: float) -> None:
        """Interpolate in the method's own space: 1 = the full style, 0 = as close to the frame as the space goes."""
        raise NotImplementedError(f"{type(self).__name__} has no strength of its own")

    def set_style_weights(self, weights: Sequence[float]) -> None:
        """Blend the styles (one weight each, summing to 1) in the method's own space."""
        raise NotImplementedError(f"{type(self).__name__} cannot re-weight its styles")


#: Native-strength methods (:class:`StrengthBlend`) blend pixels toward the frame only below this strength.
NATIVE_FADE = 0.25


class StrengthBlend(Styliser):
    """How much of the stylisation is applied: ``s · styliser(x) + (1 − s) · x``, for every per-frame method.

    With ``native=True`` the styliser interpolates in its own space instead (``inner.set_strength(s)``: the
    style embedding toward the frame's own, AdaIN/WCT features toward the content's), so the look weakens
    rather than only fading; only below :data:`NATIVE_FADE` does a pixel blend (weight ``s / NATIVE_FADE``)
    carry it on to the frame itself, since a method's own space ends at its rendering of the frame, not at
    the frame. So for every method strength 0 is the frame (the styliser is skipped), 1 the full stylisation,
    and a curve from 0 to 1 changes continuously.
    """

    temporal_mode = TemporalMode.PER_FRAME

    def __init__(self, inner: Styliser, strength: float = 1.0, native: bool = False) -> None:
        self.inner, self.native = inner, native
        self.set_strength(strength)

    def set_strength(self, strength: float) -> None:
        self.strength = float(strength)
        if self.native:
            self.inner.set_strength(self.strength)

    def set_style_weights(self, weights: Sequence[float]) -> None:
        self.inner.set_style_weights(weights)

    def stylise(self, frames: torch.Tensor, state: FrameState | None = None) -> torch.Tensor:
        if self.strength <= 0.0:
            return frames.clone()
        out = self.inner.stylise(frames, state)
        weight = min(1.0, self.strength / NATIVE_FADE) if self.native else self.strength
        if weight >= 1.0:
            return out
        return torch.lerp(frames.to(out.device, out.dtype), out, weight)

    def reset(self) -> None:
        self.inner.reset()

    def set_frames(self, indices: Sequence[int]) -> None:
        self.inner.set_frames(indices)

    def use_mattes(self, lookup: Callable[[int], torch.Tensor | None]) -> bool:
        return self.inner.use_mattes(lookup)


class StyleBlend(Styliser):
    """Several styles mixed in pixels: ``Σ wᵢ · stylisers[i](x)`` — style transitions for methods with no style
    space to interpolate in (only stylisers with a non-zero weight run).

    Args:
        stylisers: one per-frame styliser per style.
        weights: one weight each (normalised; default: all on the first).
    """

    temporal_mode = TemporalMode.PER_FRAME

    def __init__(self, stylisers: Sequence[Styliser], weights: Sequence[float] | None = None) -> None:
        if not stylisers:
            raise ValueError("StyleBlend needs at least one styliser")
        self.stylisers = list(stylisers)
        self.set_style_weights(weights if weights is not None else [1.0] + [0.0] * (len(stylisers) - 1))

    def set_style_weights(self, weights: Sequence[float]) -> None:
        if len(weights) != len(self.stylisers) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"need {len(self.stylisers)} weights >= 0 with a positive sum, got {list(weights)}")
        total = float(sum(weights))
        self.weights = [float(w) / total for w in weights]

    def stylise(self, frames: torch.Tensor, state: FrameState | None = None) -> torch.Tensor:
        out: torch.Tensor | None = None
        for w, styliser in zip(self.weights, self.stylisers):
            if w > 0:
                y = styliser.stylise(frames, state) * w
                out = y if out is None else out + y
        assert out is not None
        return out.clamp_(0, 1)

    def reset(self) -> None:
        for styliser in self.stylisers:
            styliser.reset()

    def set_frames(self, indices: Sequence[int]) -> None:
        for styliser in self.stylisers:
            styliser.set_frames(indices)

    def use_mattes(self, lookup: Callable[[int], torch.Tensor | None]) -> bool:
        return all([styliser.use_mattes(lookup) for styliser in self.stylisers])


__all__ = ["NATIVE_FADE", "FrameState", "StrengthBlend", "StyleBlend", "Styliser", "TemporalMode"]
