"""Optimisation-based stylisation of video frames: per-frame Gatys, and Ruder et al. (2016).

:class:`OptimiseStyliser` runs :func:`~vidstyle.stylise.optimise.stylise_still` on
every frame independently (it flickers; the pipeline's flow-guided blending can
calm it). :class:`RuderStyliser` is "Artistic style transfer for videos"
(Ruder, Dosovitskiy, Brox 2016):

* frame t starts from the stylised frame t−1 warped by the flow, with the content
  frame where the flow is unreliable;
* a short-term temporal loss ``Σ M (x − warp(O_{t−1}))²`` weighted by the
  reliability mask M is added to the Gatys loss;
* optional long-term loss over further offsets (t−2, t−4, …): each pixel is
  constrained by the *nearest* earlier frame in which it is reliable,
  ``c_j = max(M_j − Σ_{k<j} M_k, 0)`` (their eq. 8);
* later frames of a shot run fewer iterations (``TemporalConfig.later_steps``)
  at a single scale, since they start close to the answer.

The paper's multi-pass algorithm (alternating forward and backward passes) is
:class:`vidstyle.stylise.multipass.MultiPassStyliser`, run over streaming windows.

Style Gram matrices are computed once per video (per output size), not per frame.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

import torch

from ..config import OptimiseConfig, TemporalConfig, replace
from ..errors import VidstyleError
from ..flow import FlowEstimator, reliability_mask, warp
from ..losses import temporal_loss
from ..nets.vgg import VGGEncoder, load_vgg
from .base import FrameState, Styliser, TemporalMode
from .optimise import stylise_still
from .registry import BuildRequest


class OptimiseStyliser(Styliser):
    """Gatys et al. optimisation of every frame on its own (no temporal term).

    Args:
        styles: style images ``1×3×h×w`` RGB [0, 1] (blended by ``cfg.style_blend``).
        cfg: optimisation options; ``cfg.size`` is ignored — each output has its frame's size.
        device: working device.
        encoder: a VGG-19 encoder to share (loaded from ``cfg.vgg_source`` when None).
    """

    temporal_mode = TemporalMode.PER_FRAME

    def __init__(self, styles: Sequence[torch.Tensor], cfg: OptimiseConfig = OptimiseConfig(),
                 device: torch.device | str = "cpu", encoder: VGGEncoder | None = None) -> None:
        self.device = torch.device(device)
        self.cfg = cfg
        self.styles = [s.to(self.device) for s in styles]
        self.encoder = encoder or load_vgg(cfg.style_layers + cfg.content_layers, cfg.vgg_source, device=self.device,
                                           padding="reflect")  # no light border (see VGGEncoder)
        self._grams: dict[int, dict[str, torch.Tensor]] = {}  # style Grams per style size, once per video
        self._mattes: Callable[[int], torch.Tensor | None] | None = None  # source frame index → matte
        self._indices: list[int] | None = None  # source frame indices of the next stylise() call
        self._matte_now: torch.Tensor | None = None  # the matte of the frame being optimised

    def use_mattes(self, lookup: Callable[[int], torch.Tensor | None]) -> bool:
        """Take the style loss only inside each frame's matte (as ``vidstyle image --mask``)."""
        self._mattes = lookup
        return True

    def set_frames(self, indices: Sequence[int]) -> None:
        self._indices = list(indices)

    def _matte_for(self, i: int, n: int) -> torch.Tensor | None:
        """The matte of frame ``i`` of the ``n`` frames of this call (None without mattes or indices)."""
        if self._mattes is None or self._indices is None or len(self._indices) != n:
            return None
        matte = self._mattes(self._indices[i])
        return None if matte is None else matte.to(self.device)

    def _frame_cfg(self, frame: torch.Tensor, **changes) -> OptimiseConfig:
        init = self.cfg.init if self.cfg.init in ("content", "noise") else "content"
        return replace(self.cfg, size=max(frame.shape[-2:]), init=init, **changes)

    def stylise_frame(self, frame: torch.Tensor, init: torch.Tensor | None = None, extra_loss=None,
                      **cfg_changes) -> torch.Tensor:
        """Optimise one ``1×3×H×W`` frame (RGB [0, 1]) → ``1×3×H×W`` stylised, same size (the style loss only
        inside the current frame's matte, when the pipeline gave mattes: :meth:`use_mattes`)."""
        regions: dict = {}
        if self._matte_now is not None:  # one region with an all-ones style mask = only inside the matte
            regions = {"content_masks": self._matte_now,
                       "style_masks": [torch.ones(1, 1, *st.shape[-2:], device=self.device) for st in self.styles]}
        return stylise_still(frame, self.styles, self.encoder, self._frame_cfg(frame, **cfg_changes), init=init,
                             extra_loss=extra_loss, gram_cache=self._grams, **regions)

    def stylise(self, frames: torch.Tensor, state: FrameState | None = None) -> torch.Tensor:
        """``N×3×H×W`` RGB [0, 1] → ``N×3×H×W``, each frame optimised independently."""
        outputs = []
        for i, f in enumerate(frames.to(self.device)):
            self._matte_now = self._matte_for(i, len(frames))
            outputs.append(self.stylise_frame(f[None]))
        self._matte_now = self._indices = None
        return torch.cat(outputs)


class RuderStyliser(OptimiseStyliser):
    """Ruder et al. (2016) video optimisation: warped initialisation and temporal losses.

    Args:
        styles, cfg, device, encoder: as :class:`OptimiseStyliser`; ``cfg.steps`` (and
            ``cfg.scales``) apply to the first frame of each shot.
        temporal_cfg: ``temporal_weight``, ``later_steps`` and ``long_term`` offsets.
        flow_estimator: needed only for the long-term loss (flows to frames t−2, t−4, …) and for
            chaining several frames passed in one call; the short-term flow comes in ``state``.

    ``stylise(frame, state)`` expects ``state`` to describe the frame before the first one
    of ``frames`` (``prev_output``, ``flow = estimate(frame, prev_input)``, ``mask``); the
    pipeline calls it one frame at a time.
    """

    temporal_mode = TemporalMode.SEQUENTIAL

    def __init__(self, styles: Sequence[torch.Tensor], cfg: OptimiseConfig = OptimiseConfig(),
                 temporal_cfg: TemporalConfig = TemporalConfig(), device: torch.device | str = "cpu",
                 encoder: VGGEncoder | None = None, flow_estimator: FlowEstimator | None = None) -> None:
        if temporal_cfg.passes > 1:
            raise VidstyleError("RuderStyliser is the single-pass method; use MultiPassStyliser for passes > 1")
        super().__init__(styles, cfg, device, encoder)
        self.temporal_cfg = temporal_cfg
        self.flow_estimator = flow_estimator
        offsets = [j for j in temporal_cfg.long_term if j >= 2]
        # (input, output) of the last frames of this shot; [-1] is frame t−1.
        self._history: deque[tuple[torch.Tensor, torch.Tensor]] = deque(maxlen=max(offsets, default=1))
        self.long_term = sorted(offsets) if flow_estimator is not None else []

    @property
    def later_steps(self) -> int:
        """Iterations for frames after the first of a shot."""
        return self.temporal_cfg.later_steps or max(1, self.cfg.steps // 2)

    def reset(self) -> None:
        self._history.clear()

    def stylise(self, frames: torch.Tensor, state: FrameState | None = None) -> torch.Tensor:
        """``N×3×H×W`` consecutive frames, RGB [0, 1] → ``N×3×H×W`` stylised."""
        frames = frames.to(self.device)
        outputs = []
        for i, frame in enumerate(frames):
            frame = frame[None]
            if i > 0:  # chain within the call: the previous frame of this batch is t−1
                state = self._chain_state(frame, frames[i - 1:i], outputs[-1])
            self._matte_now = self._matte_for(i, len(frames))
            outputs.append(self._stylise_one(frame, state))
        self._matte_now = self._indices = None
        return torch.cat(outputs)

    def _chain_state(self, frame: torch.Tensor, prev_input: torch.Tensor, prev_output: torch.Tensor) -> FrameState:
        if self.flow_estimator is None:
            return FrameState()  # no flow available: the frame is stylised like a shot start
        flow = self.flow_estimator.estimate(frame, prev_input)
        mask = reliability_mask(flow, self.flow_estimator.estimate(prev_input, frame))
        return FrameState(prev_output, prev_input, flow, mask)

    def temporal_terms(self, frame: torch.Tensor, state: FrameState | None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``[(warped earlier output, weight mask)]``, short-term first, then long-term offsets.

        Empty at a shot start. Long-term weights follow Ruder et al. eq. 8: a pixel counts
        only for the nearest earlier frame in which it is reliable.
        """
        if state is None or state.prev_output is None or state.flow is None or state.mask is None:
            return []
        terms = [(warp(state.prev_output.to(self.device), state.flow), state.mask)]
        covered = state.mask
        for j in self.long_term:
            if j > len(self._history):
                break
            past_input, past_output = self._history[-j]
            assert self.flow_estimator is not None
            flow = self.flow_estimator.estimate(frame, past_input)
            mask = reliability_mask(flow, self.flow_estimator.estimate(past_input, frame))
            terms.append((warp(past_output, flow), (mask - covered).clamp_min(0)))
            covered = torch.maximum(covered, mask)
        return terms

    def _stylise_one(self, frame: torch.Tensor, state: FrameState | None) -> torch.Tensor:
        terms = self.temporal_terms(frame, state)
        if not terms:  # first frame of a shot: plain Gatys with the full pyramid
            self._history.clear()
            out = self.stylise_frame(frame)
        else:
            warped, mask = terms[0]
            init = mask * warped + (1 - mask) * frame  # content where the flow cannot be trusted
            weight = self.temporal_cfg.temporal_weight

            def extra_loss(x: torch.Tensor) -> dict[str, torch.Tensor]:
                return {"temporal": weight * sum(temporal_loss(x, w, m) for w, m in terms)}

            out = self.stylise_frame(frame, init=init, extra_loss=extra_loss, steps=self.later_steps, scales=1)
        self._history.append((frame, out))
        return out


# ---------------------------------------------------------------- registration


def _styles(request: BuildRequest) -> list[torch.Tensor]:
    from ..media.image import load_image

    return [(s if isinstance(s, torch.Tensor) else load_image(s)).to(request.device) for s in request.styles]


def build_optimise(request: BuildRequest) -> tuple[Styliser, str]:
    cfg = request.optimise or OptimiseConfig()
    text = f"optimise: Gatys et al. per frame, {cfg.steps} {cfg.optimizer} steps, style {request.style_names()}"
    return OptimiseStyliser(_styles(request), cfg, device=request.device), text


def build_ruder(request: BuildRequest) -> tuple[Styliser, str]:
    cfg = request.optimise or OptimiseConfig()
    temporal = request.temporal or TemporalConfig()
    names = request.style_names()
    if temporal.passes > 1:
        from .multipass import MultiPassStyliser

        if request.flow_estimator is None:
            raise VidstyleError("multi-pass optimisation needs optical flow; drop --no-temporal")
        mp = MultiPassStyliser(_styles(request), cfg, temporal, request.flow_estimator, device=request.device)
        return mp, (f"optimise-temporal: Ruder et al. 2016 multi-pass, {temporal.passes} alternating passes per "
                    f"window of frames ({cfg.steps} steps on a shot's first frame, {mp.later_steps} in the first "
                    f"pass after it, {mp.pass_steps} per later pass), style {names}")
    styliser = RuderStyliser(_styles(request), cfg, temporal, device=request.device,
                             flow_estimator=request.flow_estimator)
    extra = f", long-term offsets {list(styliser.long_term)}" if styliser.long_term else ""
    return styliser, (f"optimise-temporal: Ruder et al. 2016 (warped init + temporal loss), {cfg.steps} "
                      f"steps on a shot's first frame, {styliser.later_steps} after{extra}, style {names}")


__all__ = ["OptimiseStyliser", "RuderStyliser"]
