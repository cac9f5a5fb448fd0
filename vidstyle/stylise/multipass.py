"""Ruder et al.'s (2016) multi-pass video optimisation, over streaming windows of frames.

The paper's multi-pass algorithm alternates the direction in which frames are optimised, so
that style information propagates both ways and the first frame of a shot stops being the
only anchor. Each pass runs a few iterations per frame, starting from a blend of the frame's
previous-pass result and its neighbour warped by the flow (in reliable regions):

    init_i = δ·x_i + (1 − δ)·(c·warp(x_n) + (1 − c)·x_i)

with ``n`` the neighbour the pass comes from (i − 1 going forward, i + 1 going backward),
``c`` the reliability mask and δ = ``TemporalConfig.pass_blend``; the loss is the Gatys loss plus
a temporal term towards *both* warped neighbours. Pass 1 is the single-pass algorithm (warped
initialisation from frame i − 1, short-term loss).

The paper holds every frame of the clip in memory. Here a pass covers one *window* — the batch
the pipeline hands over (``--batch-size`` frames, split at cuts) — so memory stays constant
in the clip's length; the last frame of the previous window (same shot) stays fixed and anchors
the next window's first frame in every pass, so windows join without a seam. Outputs are
already temporally consistent: the pipeline adds no flow-guided blending on top
(:attr:`~vidstyle.stylise.base.TemporalMode.SELF_CONSISTENT`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..config import OptimiseConfig, TemporalConfig
from ..errors import VidstyleError
from ..flow import FlowEstimator, reliability_mask, warp
from ..losses import temporal_loss
from ..nets.vgg import VGGEncoder
from .base import FrameState, TemporalMode
from .ruder import OptimiseStyliser

#: ``(warped neighbour output 1×3×H×W, reliability mask 1×1×H×W)``
Term = tuple[torch.Tensor, torch.Tensor]


class MultiPassStyliser(OptimiseStyliser):
    """Multi-pass Ruder optimisation over windows of consecutive frames of one shot.

    Args:
        styles, cfg, device, encoder: as :class:`OptimiseStyliser`; ``cfg.steps`` and ``cfg.scales``
            apply to the first frame of each shot.
        temporal_cfg: ``passes`` (≥ 2), ``pass_blend`` (δ), ``later_steps`` (iterations of the
            first pass after a shot's first frame; later passes run ``pass_steps``), ``temporal_weight``.
        flow_estimator: flows between neighbouring frames of a window (both directions).
    """

    temporal_mode = TemporalMode.SELF_CONSISTENT

    def __init__(self, styles: Sequence[torch.Tensor], cfg: OptimiseConfig, temporal_cfg: TemporalConfig,
                 flow_estimator: FlowEstimator, device: torch.device | str = "cpu",
                 encoder: VGGEncoder | None = None) -> None:
        if temporal_cfg.passes < 2:
            raise VidstyleError("multi-pass optimisation needs passes ≥ 2 (passes = 1 is the single-pass method)")
        if not 0.0 <= temporal_cfg.pass_blend <= 1.0:
            raise VidstyleError(f"pass_blend must be in [0, 1], got {temporal_cfg.pass_blend}")
        super().__init__(styles, cfg, device, encoder)
        self.temporal_cfg = temporal_cfg
        self.flow_estimator = flow_estimator
        self._anchor: tuple[torch.Tensor, torch.Tensor] | None = None  # (input, output) ending the last window

    @property
    def later_steps(self) -> int:
        return self.temporal_cfg.later_steps or max(1, self.cfg.steps // 2)

    @property
    def pass_steps(self) -> int:
        return self.temporal_cfg.pass_steps or max(1, self.later_steps // 2)

    def reset(self) -> None:
        self._anchor = None

    def _link(self, frame: torch.Tensor, neighbour: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(flow, mask)`` that warp ``neighbour``'s output onto ``frame`` (``warp(out_n, flow)``)."""
        flow = self.flow_estimator.estimate(frame, neighbour)
        return flow, reliability_mask(flow, self.flow_estimator.estimate(neighbour, frame))

    def _optimise(self, frame: torch.Tensor, own: torch.Tensor | None, came_from: Term | None, terms: list[Term],
                  steps: int) -> torch.Tensor:
        """One frame's iterations: blended init (see module doc) and temporal terms towards ``terms``."""
        if own is None and came_from is None:  # a shot's first frame: plain Gatys, full pyramid
            return self.stylise_frame(frame)
        base = frame if own is None else own
        init = base if came_from is None else came_from[1] * came_from[0] + (1 - came_from[1]) * base
        if own is not None and came_from is not None:
            delta = self.temporal_cfg.pass_blend
            init = delta * own + (1 - delta) * init
        weight = self.temporal_cfg.temporal_weight

        def extra_loss(x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"temporal": weight * sum(temporal_loss(x, w, m) for w, m in terms) / max(len(terms), 1)}

        return self.stylise_frame(frame, init=init, extra_loss=extra_loss if terms else None, steps=steps, scales=1)

    @torch.no_grad()
    def _warped(self, outputs: list[torch.Tensor | None], links: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]],
                i: int, j: int) -> Term | None:
        """Output ``j`` warped onto frame ``i`` with its mask (None when ``j`` has no output yet)."""
        if outputs[j] is None:
            return None
        flow, mask = links[(i, j)]
        return warp(outputs[j], flow), mask

    def stylise(self, frames: torch.Tensor, state: FrameState | None = None) -> torch.Tensor:
        """``N×3×H×W`` consecutive frames of one shot, RGB [0, 1] → ``N×3×H×W`` stylised.

        ``state.window`` (from the pipeline) holds each frame's flows to the frame before it, estimated once
        by the pipeline; without it (direct calls) the flows are estimated here. ``window[0]`` links the first
        frame to the end of the previous window (the anchor); its flow is None at a shot start.
        """
        frames = frames.to(self.device)
        n = len(frames)
        seq = [f[None] for f in frames]
        window = state.window if state is not None and len(state.window) == n else None
        links = {}
        for i in range(1, n):  # one flow each way per pair serves both directions and both masks
            link = window[i] if window is not None else None
            if link is not None and link.flow is not None and link.back_flow is not None:
                to_prev, to_next = link.flow, link.back_flow
            else:
                to_prev = self.flow_estimator.estimate(seq[i], seq[i - 1])
                to_next = self.flow_estimator.estimate(seq[i - 1], seq[i])
            links[(i, i - 1)] = (to_prev, reliability_mask(to_prev, to_next))
            links[(i - 1, i)] = (to_next, reliability_mask(to_next, to_prev))
        anchor: Term | None = None
        first = window[0] if window is not None else None
        if first is not None:
            if first.flow is not None and first.mask is not None and first.prev_output is not None:
                anchor = (warp(first.prev_output.to(self.device), first.flow), first.mask)
        elif self._anchor is not None:
            flow, mask = self._link(seq[0], self._anchor[0])
            anchor = (warp(self._anchor[1], flow), mask)

        def neighbours(i: int, outputs: list[torch.Tensor | None]) -> list[Term]:
            terms = [t for t in (self._warped(outputs, links, i, j) for j in (i - 1, i + 1) if 0 <= j < n) if t]
            return terms + ([anchor] if i == 0 and anchor is not None else [])

        outputs: list[torch.Tensor | None] = [None] * n
        mattes = [self._matte_for(i, n) for i in range(n)]  # each frame's own (vidstyle.matte_video), or None
        for p in range(self.temporal_cfg.passes):
            forward = p % 2 == 0
            order = range(n) if forward else range(n - 1, -1, -1)
            for i in order:
                j = i - 1 if forward else i + 1
                came_from = self._warped(outputs, links, i, j) if 0 <= j < n else (anchor if i == 0 else None)
                steps = self.pass_steps if p > 0 else self.later_steps
                self._matte_now = mattes[i]
                outputs[i] = self._optimise(seq[i], outputs[i], came_from, neighbours(i, outputs), steps).detach()
        self._anchor = (seq[-1], outputs[-1])
        self._matte_now = self._indices = None
        return torch.cat(outputs)  # type: ignore[arg-type]


__all__ = ["MultiPassStyliser"]
