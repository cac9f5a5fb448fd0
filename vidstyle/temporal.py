"""Temporal consistency for video: hard-cut detection, flow-guided blending and the state between frames.

The pipeline keeps one :class:`TemporalState` per video. For every input frame it
estimates the flow to the previous input **once** (:meth:`TemporalState.observe`),
from which it derives the reliability mask (Ruder et al. 2016) and decides
whether a hard cut happened. The resulting :class:`~vidstyle.stylise.base.FrameState`
serves both kinds of styliser:

* temporal stylisers (Ruder et al. optimisation) consume it themselves;
* any per-frame styliser gets flow-guided blending (:func:`blend`):
  ``out_t = M·(s·warp(out_{t−1}) + (1−s)·stylised_t) + (1−M)·stylised_t``.

At a cut the state is dropped, so nothing of the previous shot is warped into
the next one (no ghosting).

Flow convention (:mod:`vidstyle.flow`): ``flow = estimate(I_t, I_{t−1})`` gives
``warp(O_{t−1}, flow)`` aligned with frame t.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .config import TemporalConfig
from .exposure import luma
from .flow import FlowEstimator, reliability_mask, warp
from .flow.warp import resize_flow, shrink_frames
from .stylise.base import FrameState

#: Bins per colour channel of the cut-detection histogram.
HIST_BINS = 32
#: A fade (no flow-failure cuts): the mean luma moves by at least this log-ratio per frame …
FADE_STEP = 0.015
#: … and at most this much (a cut to a darker shot jumps further: bikes.mp4 frame 76 is −0.30) …
FADE_MAX_STEP = 0.25
#: … the same way for this many consecutive frames (ordinary motion rarely does).
FADE_RUN = 3


def colour_histogram(frames: torch.Tensor, bins: int = HIST_BINS) -> torch.Tensor:
    """Normalised per-channel colour histograms.

    Args:
        frames: ``N×3×H×W`` RGB in [0, 1].

    Returns:
        ``N×3×bins``, each row summing to one.
    """
    n, c, h, w = frames.shape
    q = (frames.clamp(0, 1) * bins).long().clamp_(max=bins - 1).reshape(n * c, h * w)
    # One bincount over all (frame, channel) rows at once: offset each row into its own bin range.
    offsets = torch.arange(n * c, device=frames.device).unsqueeze(1) * bins
    counts = torch.bincount((q + offsets).flatten(), minlength=n * c * bins).reshape(n, c, bins)
    return counts.to(torch.float32) / (h * w)


def thumbnail_histogram(frames: torch.Tensor) -> torch.Tensor:
    """:func:`colour_histogram` of a strided subsample (short side ≥ ~90 px): the same
    distribution to within a percent or so, at a fraction of the cost on HD frames."""
    step = max(1, min(frames.shape[-2:]) // 90)
    return colour_histogram(frames[..., ::step, ::step])


def histogram_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Total-variation distance between the colour histograms of two frame batches.

    Args:
        a, b: ``N×3×H×W`` RGB in [0, 1].

    Returns:
        ``N`` distances in [0, 1] (mean over the channels): 0 = identical colour
        distributions, 1 = disjoint. Smooth motion stays well below 0.15; hard cuts
        between different scenes are typically 0.2–0.8.
    """
    return 0.5 * (colour_histogram(a) - colour_histogram(b)).abs().sum(-1).mean(-1)


def matched_fraction(current: torch.Tensor, previous: torch.Tensor, flow: torch.Tensor, mask: torch.Tensor,
                     tolerance: float) -> torch.Tensor:
    """Fraction of pixels whose flow is reliable *and* whose warped previous colour matches.

    The forward–backward check alone is lenient for small flows: across a cut between two
    fine textures DIS returns small, mutually consistent vectors for a third of the pixels.
    Requiring the warped previous frame to match the current one in colour (mean absolute
    RGB difference below ``tolerance``) brings such pairs to a few percent, while continuous
    motion keeps most pixels.

    Args:
        current, previous: ``N×3×H×W`` frames t and t−1, RGB [0, 1].
        flow: ``N×2×H×W``, ``warp(previous, flow) ≈ current``.
        mask: ``N×1×H×W`` reliability of ``flow``.

    Returns:
        ``N`` fractions in [0, 1].
    """
    error = (current - warp(previous, flow)).abs().mean(dim=1, keepdim=True)
    return (mask * (error < tolerance)).mean(dim=(1, 2, 3))


def compensate_gain(previous: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """``previous`` scaled to ``current``'s mean luma: a fade is a global gain, so after this a fading
    frame pair compares (histograms, flow, colour match) like a still pair, while a cut still differs.

    Args:
        previous, current: ``N×3×H×W`` RGB [0, 1].

    Returns:
        ``N×3×H×W`` in [0, 1] (gain limited to ×¼…×4).
    """
    gain = ((luma(current).mean((1, 2, 3)) + 1e-3) / (luma(previous).mean((1, 2, 3)) + 1e-3)).clamp(0.25, 4.0)
    return (previous * gain.view(-1, 1, 1, 1)).clamp(0, 1)


def is_cut(hist_distance: float, reliable_fraction: float | None, cfg: TemporalConfig,
           recent_reliable: float | None = None, contrast: float | None = None) -> bool:
    """Decide a hard cut from the colour change and, when known, the flow's reliable fraction.

    A cut is either

    * a large change of the colour distribution (``hist_distance > cfg.cut_threshold``), or
    * a flow failure — fewer than ``cfg.cut_min_reliable`` of the pixels are reliable and
      match in colour (:func:`matched_fraction`) — that is *also* either a moderate colour change
      (``> cfg.cut_flow_threshold``) or a sudden drop: below ``cfg.cut_reliable_drop`` times
      ``recent_reliable``, the shot's recent reliable fraction.

    Flow failure alone is not enough: in fast motion the flow fails frame after frame
    without any cut (then ``recent_reliable`` is low too). Colour alone is not enough
    either: a cut between two shots with similar colours keeps the histograms close.
    Neither is flow failure on a near-black, near-white or flat frame (``contrast``, the lower
    luma std of the pair, below ``cfg.cut_min_contrast``): there the flow has nothing to track.
    Callers pass the histogram distance after :func:`compensate_gain`, so a fade is no colour jump.
    """
    if hist_distance > cfg.cut_threshold:
        return True
    if reliable_fraction is None or reliable_fraction >= cfg.cut_min_reliable:
        return False
    if contrast is not None and contrast < cfg.cut_min_contrast:
        return False
    sudden = recent_reliable is not None and reliable_fraction < cfg.cut_reliable_drop * recent_reliable
    return hist_distance > cfg.cut_flow_threshold or sudden


def blend(stylised: torch.Tensor, warped_previous: torch.Tensor, mask: torch.Tensor, strength: float) -> torch.Tensor:
    """Flow-guided blending of the warped previous output into the reliable regions.

    ``out = M·(s·warped + (1−s)·stylised) + (1−M)·stylised = stylised + s·M·(warped − stylised)``

    Args:
        stylised: ``N×3×H×W`` per-frame stylisation of the current frame(s), [0, 1].
        warped_previous: ``N×3×H×W`` previous output warped onto the current frame.
        mask: ``N×1×H×W`` reliability in [0, 1].
        strength: ``s`` in [0, 1]; 0 = no blending.

    Returns:
        ``N×3×H×W`` in [0, 1].
    """
    return torch.lerp(stylised, warped_previous, strength * mask).clamp_(0, 1)


@dataclass
class Observation:
    """What :meth:`TemporalState.observe` learnt about one frame.

    Attributes:
        state: flow and mask to the previous frame (both None at a shot start).
        cut: a hard cut separates this frame from the previous one.
        hist_distance: colour-histogram distance to the previous frame (None for the first).
        reliable: fraction of reliable, colour-matching pixels (:func:`matched_fraction`; None without flow).
    """

    state: FrameState
    cut: bool = False
    hist_distance: float | None = None
    reliable: float | None = None


@dataclass
class TemporalState:
    """Everything carried from one frame to the next.

    Args:
        cfg: blending strength and cut thresholds.
        estimator: flow estimator; None disables flow (no blending, cuts from histograms only).
    """

    cfg: TemporalConfig = field(default_factory=TemporalConfig)
    estimator: FlowEstimator | None = None
    prev_input: torch.Tensor | None = None  # 1×3×H×W
    prev_output: torch.Tensor | None = None  # 1×3×H×W
    cuts: int = 0
    recent_reliable: float | None = None  # moving average of the reliable fraction in this shot
    prev_hist: torch.Tensor | None = None  # 1×3×bins histogram of prev_input (each frame's is computed once)
    prev_std: torch.Tensor | None = None  # luma std of prev_input (1)
    prev_mean: torch.Tensor | None = None  # mean luma of prev_input (1)
    prev_small: torch.Tensor | None = None  # prev_input at the flow's size, when the flow is downscaled
    fade_run: int = 0  # consecutive frames whose brightness moved the same way (see FADE_STEP)
    fade_dir: float = 0.0

    def observe(self, frames: torch.Tensor, cuts: Sequence[int] = ()) -> list[Observation]:
        """Flow, reliability mask and cut decision for each frame of a batch (in order).

        Flow is estimated once per frame, batched over the pair list
        ``(I_t, I_{t−1})``, forward and backward (the mask needs both). Updates
        ``prev_input``; ``prev_output`` is the caller's business (:meth:`commit`).

        Args:
            frames: ``N×3×H×W`` consecutive input frames, RGB [0, 1].
            cuts: positions in ``frames`` known to start a new shot (``FrameBatch.cuts``), cuts whatever the
                frames look like.

        Returns:
            ``N`` observations; ``state.prev_input`` is set, ``state.prev_output`` is not.
        """
        if self.prev_input is not None and self.prev_input.shape[-2:] != frames.shape[-2:]:
            self.prev_input = None  # size changed mid-stream: treat as a new shot
        prev_input, prev_hist = self.prev_input, self.prev_hist
        first = prev_input is None or prev_hist is None
        previous = frames[:-1] if prev_input is None or first else torch.cat([prev_input, frames[:-1]])
        current = frames[1:] if first else frames
        observations = [Observation(FrameState())] if first else []
        refreshed = False  # self.prev_small was set from this batch
        std = mean = None
        hists = thumbnail_histogram(frames)
        if len(current):
            prev_hists = hists[:-1] if prev_hist is None or first else torch.cat([prev_hist, hists[:-1]])
            cur_hists = hists[len(frames) - len(current):]
            dist_t = 0.5 * (cur_hists - prev_hists).abs().sum(-1).mean(-1)
            y = luma(frames).flatten(1)
            std, mean = y.std(1, unbiased=False), y.mean(1)
            prev_std = std[:-1] if first or self.prev_std is None else torch.cat([self.prev_std, std[:-1]])
            prev_mean = mean[:-1] if first or self.prev_mean is None else torch.cat([self.prev_mean, mean[:-1]])
            contrast = torch.minimum(std[len(frames) - len(current):], prev_std).tolist()
            steps = ((mean[len(frames) - len(current):] + 2 / 255) / (prev_mean + 2 / 255)).log().tolist()
            # A fade: the brightness has moved the same way by FADE_STEP…FADE_MAX_STEP for FADE_RUN
            # frames in a row (a cut to a darker shot is one bigger jump). Within a fade the previous
            # frame is compared at the current one's brightness (histograms, flow, colour match), and
            # a flow failure is no cut (DIS loses track as the scene darkens into noise).
            fading = []
            for step in steps:
                same_way = (FADE_STEP <= abs(step) <= FADE_MAX_STEP
                            and (self.fade_run == 0 or (step > 0) == (self.fade_dir > 0)))
                self.fade_run, self.fade_dir = (self.fade_run + 1, step) if same_way else (0, 0.0)
                fading.append(self.fade_run >= FADE_RUN)
            # nearly featureless pairs too (luma std under a quarter of cut_min_contrast, ~3/255): their
            # few filled histogram bins jump with any gain (a darker *textured* shot is still a cut)
            fading = [f or c < self.cfg.cut_min_contrast / 4 for f, c in zip(fading, contrast)]
            compared = previous
            if any(fading):
                sel = torch.tensor(fading, device=frames.device).view(-1, 1, 1, 1)
                compared = torch.where(sel, compensate_gain(previous, current), previous)
                faded = 0.5 * (cur_hists - thumbnail_histogram(compared)).abs().sum(-1).mean(-1)
                dist_t = torch.where(sel.view(-1), torch.minimum(dist_t, faded), dist_t)
            dist = dist_t.tolist()
            flow = mask = back = None
            reliable: list[float | None] = [None] * len(current)
            if self.estimator is not None:
                small = self._shrink(frames)  # each frame downscaled once, not once as current and again as previous
                pair = None
                if small is not None:
                    prev_small = self.prev_small if self.prev_small is not None or first else self._shrink(prev_input)
                    previous_small = small[:-1] if first or prev_small is None else torch.cat([prev_small, small[:-1]])
                    if any(fading):  # those compare at the current frame's brightness
                        sel = torch.tensor(fading, device=frames.device).view(-1, 1, 1, 1)
                        previous_small = torch.where(sel, self._shrink(compared), previous_small)  # type: ignore[arg-type]
                    pair = (small[len(frames) - len(current):], previous_small)
                    self.prev_small, refreshed = small[-1:], True
                flow, mask, back, matched = self._flow(current, compared, pair)
                reliable = list(matched)
            offset = len(frames) - len(current)  # position in ``frames`` of current[0]
            for i, (d, r) in enumerate(zip(dist, reliable)):
                cut = (i + offset in cuts) or is_cut(d, None if fading[i] else r, self.cfg, self.recent_reliable,
                                                     contrast[i])
                self.cuts += cut
                if cut or r is None:
                    self.recent_reliable = None
                else:  # a short memory: the level of the last few frames
                    self.recent_reliable = r if self.recent_reliable is None else 0.5 * (self.recent_reliable + r)
                state = FrameState(prev_input=previous[i:i + 1])
                if flow is not None and mask is not None and back is not None and not cut:
                    state.flow, state.mask, state.back_flow = flow[i:i + 1], mask[i:i + 1], back[i:i + 1]
                observations.append(Observation(state, cut, d, r))
        if not refreshed:  # no flow this call: the next one downscales prev_input itself
            self.prev_small = None
        self.prev_input, self.prev_hist = frames[-1:].clone(), hists[-1:]
        if std is None or mean is None:
            last = luma(frames[-1:]).flatten(1)
            std, mean = last.std(1, unbiased=False), last.mean(1)
        self.prev_std, self.prev_mean = std[-1:], mean[-1:]
        return observations

    def _shrink(self, frames: torch.Tensor | None) -> torch.Tensor | None:
        """``frames`` downscaled to long side ``cfg.flow_max_side`` (antialiased), or None when they fit."""
        limit = self.cfg.flow_max_side
        if frames is None or limit is None or max(frames.shape[-2:]) <= limit:
            return None
        return shrink_frames(frames, limit)

    def _flow(self, current: torch.Tensor, previous: torch.Tensor,
              small_pair: tuple[torch.Tensor, torch.Tensor] | None = None
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[float]]:
        """Flow ``warp(previous, flow) ≈ current``, its reliability mask, the backward flow
        (``warp(current, back) ≈ previous``) and matched fractions, at full size.

        Above ``cfg.flow_max_side`` the flow, mask and cut statistics are computed on
        downscaled frames (DIS and the mask cost grow with the pixel count; smooth motion
        loses little) and the flow (in pixels, rescaled) and mask are upsampled. ``small_pair``: the two
        batches already downscaled (:meth:`_shrink`), else they are downscaled here.
        """
        assert self.estimator is not None
        h, w = current.shape[-2:]
        limit = self.cfg.flow_max_side
        small = small_pair is not None or (limit is not None and max(h, w) > limit)
        if small:
            current, previous = small_pair if small_pair is not None else (self._shrink(current), self._shrink(previous))  # type: ignore[assignment]
        flow, back = self.estimator.estimate_pair(current, previous)
        mask = reliability_mask(flow, back)
        reliable = matched_fraction(current, previous, flow, mask, self.cfg.cut_match_tolerance).tolist()
        if small:
            flow, back = resize_flow(flow, (h, w)), resize_flow(back, (h, w))
            mask = F.interpolate(mask, size=(h, w), mode="nearest")
        return flow, mask, back, reliable

    def blend(self, stylised: torch.Tensor, obs: Observation) -> torch.Tensor:
        """Blend the warped previous output into ``stylised`` (``1×3×H×W``) where the flow is reliable.

        Returns ``stylised`` unchanged at a shot start, without flow, or with strength 0.
        """
        state = obs.state
        if (self.prev_output is None or state.flow is None or state.mask is None or self.cfg.strength <= 0
                or self.prev_output.shape != stylised.shape):
            return stylised
        return blend(stylised, warp(self.prev_output, state.flow), state.mask, self.cfg.strength)

    def frame_state(self, obs: Observation) -> FrameState:
        """``obs.state`` completed with the previous output (when the flow links this frame to it)."""
        state = obs.state
        state.prev_output = self.prev_output if state.flow is not None else None
        return state

    def commit(self, output: torch.Tensor) -> None:
        """Remember ``output`` (``1×3×H×W``) as the previous output for the next frame."""
        self.prev_output = output.detach()

    def reset(self) -> None:
        """Forget everything (a new, unrelated stream follows)."""
        self.prev_input = self.prev_output = self.recent_reliable = self.prev_hist = self.prev_std = None
        self.prev_mean, self.fade_run, self.fade_dir, self.prev_small = None, 0, 0.0, None


__all__ = ["HIST_BINS", "Observation", "TemporalState", "blend", "colour_histogram", "compensate_gain", "histogram_distance", "is_cut", "matched_fraction", "thumbnail_histogram"]
