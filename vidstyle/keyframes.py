"""Keyframe-guided stylisation (EbSynth-style): the look of a slow method, or of a painted frame, on every frame.

``vidstyle run clip.mp4 --style a.jpg --keyframes 0,48,96 --keyframe-method optimise`` stylises the keyframes
with the keyframe method (``--keyframe-images 48:k48.png`` takes painted frames as given) and produces every other
frame by carrying its nearest keyframes along the optical flow, forward from the keyframe before it and backward
from the keyframe after it:

* a :class:`Carrier` holds the keyframe and, for every pixel of the current frame, its position in the keyframe
  (a coordinate map composed frame by frame from the flows — the keyframe itself is sampled once per frame, so
  chaining does not blur it) and an accumulated reliability: the product along the chain of the Ruder et al.
  masks (:func:`vidstyle.flow.reliability_mask`, each closed by :func:`close_mask` so that isolated specks of
  unreliable flow are not lost for good), so a pixel occluded once stays unreliable for that keyframe;
* the two carriers are mixed by distance (:func:`distance_weights`: the nearer keyframe weighs more, linearly) and
  by their reliabilities (:func:`composite`); where neither is reliable (disocclusions, new content) the frame shows
  the *fill*: the per-frame method (``--method``) with the pipeline's flow-guided temporal blending, which keeps
  the fill stable from frame to frame, and whose low frequencies are shifted toward the carried colours nearby
  (:func:`match_fill`) so that a filled hole takes the keyframe's palette and blends in;
* a sequential keyframe method (``--keyframe-method optimise-temporal``) starts each keyframe from the previous
  keyframe carried to it, with Ruder's temporal loss toward it (:func:`keyframe_state`), so keyframes share their
  strokes; per-frame keyframe methods stylise each keyframe on its own;
* a hard cut (the pipeline's cut detection, :class:`~vidstyle.temporal.TemporalState`) ends every keyframe's
  reach: nothing is carried across it, in either direction; ``KeyframeConfig.reach`` can limit it further.

Design: three streaming passes, memory bounded by the frame size, not the clip's length
----------------------------------------------------------------------------------------
1. **Forward**, over the reader's batches: the pipeline's temporal state estimates each frame's flow to the
   previous one (both directions, at most at ``temporal.flow_max_side``) and detects cuts; the fill is rendered;
   keyframes are stylised (or loaded); the forward carrier is propagated. Per frame, a
   :class:`~vidstyle.media.spool.Spool` keeps the
   fill and the forward carrier's image and reliability as uint8, the backward flow (fp16) and its reliability
   (uint8) at the flow's size, and keyframes as uint8.
2. **Backward**, over the spool from the last frame to the first: the backward carrier is propagated with the
   stored backward flows, composited with the stored forward carrier and fill; the result replaces them (uint8).
3. **Forward**: the composited frames go to the writer with their timestamps.

In RAM: one batch of frames, the two carriers (keyframe, coordinate map and reliability: 6 floats per pixel
each) and the spool up to ``KeyframeConfig.memory_mb``; beyond that the spool writes ``.npy`` files to a temporary
folder (``TMPDIR``), about 7 bytes per pixel and frame plus the flows (~4 bytes per flow pixel), deleted at the end.
A 1000-frame 1080p clip spools ~15 GB; 4K needs 4× that on disk but no more RAM than one 4K frame's carriers.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .config import KeyframeConfig, TemporalConfig
from .errors import VidstyleError
from .exposure import follow_exposure
from .flow import FlowEstimator, reliability_mask, warp
from .flow.warp import coords_grid, limited_size, resize_flow
from .media.spool import Spool
from .progress import progress_bar
from .stylise.base import FrameState, Styliser, TemporalMode
from .temporal import TemporalState

# ---------------------------------------------------------------------------------------------- specs


def parse_keyframes(text: str | None) -> tuple[tuple[int, ...], int | None]:
    """``--keyframes``: ``"0,48,96"`` → ``((0, 48, 96), None)``; ``"every:48"`` → ``((), 48)``; both may be mixed
    (``"every:48,10"``).

    Raises:
        VidstyleError: anything else (one line).
    """
    if text is None or not text.strip():
        return (), None
    frames: list[int] = []
    every = None
    for part in (p.strip() for p in text.split(",")):
        try:
            if part.lower().startswith("every:"):
                every = int(part.split(":", 1)[1])
                if every < 1:
                    raise ValueError
            else:
                frames.append(int(part))
                if frames[-1] < 0:
                    raise ValueError
        except ValueError:
            raise VidstyleError(f"--keyframes takes frame numbers >= 0 and/or every:N, e.g. 0,48,96 or every:48; "
                                f"got {part!r} in {text!r}") from None
    return tuple(sorted(set(frames))), every


def parse_keyframe_images(text: str | None) -> tuple[tuple[int, Path], ...]:
    """``--keyframe-images``: ``"0:k0.png,48:k48.png"`` → ``((0, Path("k0.png")), (48, Path("k48.png")))``.

    Raises:
        VidstyleError: a malformed pair, a missing file or a frame given twice (one line).
    """
    if text is None or not text.strip():
        return ()
    pairs: list[tuple[int, Path]] = []
    for part in (p.strip() for p in text.split(",")):
        frame, sep, path = part.partition(":")
        try:
            index = int(frame)
            if not sep or not path or index < 0:
                raise ValueError
        except ValueError:
            raise VidstyleError(f"--keyframe-images takes FRAME:IMAGE pairs, e.g. 0:k0.png,48:k48.png; got {part!r}"
                                ) from None
        if not Path(path).is_file():
            raise VidstyleError(f"keyframe image {path} (frame {index}) not found")
        if any(f == index for f, _ in pairs):
            raise VidstyleError(f"--keyframe-images gives frame {index} twice")
        pairs.append((index, Path(path)))
    return tuple(sorted(pairs))


def keyframe_styles(cfg: KeyframeConfig, styles: list[Path], model: str | Path | None) -> list[Path]:
    """The fill's style images: the given ones, else the painted keyframes (the painting is the style)."""
    if styles or model is not None:
        return styles
    return [Path(p) for _, p in cfg.images]


def is_keyframe(index: int, first: int, cfg: KeyframeConfig) -> bool:
    """Frame ``index`` (0-based in the input) is a keyframe; ``first``: the first rendered frame (for ``every``).

    With ``every``, the first frame of each shot (after a hard cut) is a keyframe too (:func:`run_keyframed`)."""
    return (index in cfg.frames or any(f == index for f, _ in cfg.images)
            or (cfg.every is not None and (index - first) % cfg.every == 0 and index >= first))


def load_keyframe_image(path: Path, width: int, height: int, source_size: tuple[int, int] | None = None,
                        frame: int | None = None) -> torch.Tensor:
    """A painted keyframe as ``1×3×height×width`` RGB [0, 1].

    It must have the rendered frame's size, or ``source_size`` (``(width, height)`` of the input as displayed), in
    which case it is resized to the rendered size.

    Raises:
        VidstyleError: another size, or an unreadable image (one line).
    """
    from .media.image import load_image

    image = load_image(path)
    h, w = image.shape[-2:]
    if (w, h) == (width, height):
        return image
    if source_size is not None and (w, h) == tuple(source_size):
        return F.interpolate(image, size=(height, width), mode="bilinear", align_corners=False,
                             antialias=True).clamp(0, 1)
    also = f" (or {source_size[0]}×{source_size[1]}, the input's own size)" if source_size and \
        tuple(source_size) != (width, height) else ""
    which = f" for frame {frame}" if frame is not None else ""
    raise VidstyleError(f"keyframe image {path}{which} is {w}×{h} but the video is rendered at {width}×{height}"
                        f"{also}; paint the keyframe at that size")


# ---------------------------------------------------------------------------------------------- propagation


@dataclass
class Carrier:
    """A keyframe carried along the flow to the current frame.

    Attributes:
        key: ``1×3×H×W`` the stylised (or painted) keyframe, RGB [0, 1].
        coords: ``1×2×H×W`` for every pixel of the current frame its position in the keyframe (x, y pixels).
        weight: ``1×1×H×W`` accumulated reliability in [0, 1] (1 on the keyframe itself).
        distance: frames from the keyframe (0 on it).
    """

    key: torch.Tensor
    coords: torch.Tensor
    weight: torch.Tensor
    distance: int = 0

    @classmethod
    def start(cls, key: torch.Tensor) -> Carrier:
        """On the keyframe: identity coordinates, full reliability."""
        _, _, h, w = key.shape
        coords = coords_grid(1, h, w, key.device, torch.float32).clone()
        return cls(key, coords, key.new_ones(1, 1, h, w), 0)

    def step(self, flow: torch.Tensor, mask: torch.Tensor) -> Carrier:
        """One frame further: ``flow`` (``1×2×H×W``) brings the current frame onto the next one,
        ``warp(current, flow) ≈ next``, with reliability ``mask`` (``1×1×H×W``) on the next frame's grid.

        The next frame's pixel p is the current frame's ``p + flow(p)``, so its keyframe position is
        ``coords(p + flow(p))`` and its reliability ``weight(p + flow(p)) · mask(p)`` (0 outside the frame).
        """
        coords = warp(self.coords, flow.to(self.coords.dtype))
        weight = warp(self.weight, flow.to(self.weight.dtype), padding="zeros") * mask.to(self.weight.dtype)
        return Carrier(self.key, coords, weight, self.distance + 1)

    def image(self) -> torch.Tensor:
        """The keyframe sampled at :attr:`coords`: ``1×3×H×W`` [0, 1] (exact for integer motion)."""
        n, _, h, w = self.coords.shape
        return warp(self.key, self.coords - coords_grid(n, h, w, self.coords.device, self.coords.dtype))


def keyframe_state(previous: Carrier) -> FrameState:
    """What a sequential keyframe method (``optimise-temporal``) gets at a keyframe: the previous keyframe carried to
    this frame as its "previous output", already aligned (zero flow), with the carried reliability as mask — so it
    starts from it where it is reliable and keeps close to it, and successive keyframes share their strokes
    (less ghosting where two keyframes are mixed)."""
    image = previous.image()
    zero = image.new_zeros(1, 2, *image.shape[-2:])
    return FrameState(prev_output=image, flow=zero, mask=previous.weight, back_flow=zero)


def distance_weights(forward: int | None, backward: int | None) -> tuple[float, float]:
    """Weights of the forward and backward carriers by their distances (frames) to their keyframes.

    Linear in time between two keyframes, ``w_f = d_b / (d_f + d_b)``, ``w_b = d_f / (d_f + d_b)``; a single
    carrier weighs 1; None: no carrier from that side. They sum to 1 (or are both 0).
    """
    if forward is None and backward is None:
        return 0.0, 0.0
    if backward is None:
        return 1.0, 0.0
    if forward is None:
        return 0.0, 1.0
    if forward + backward == 0:
        return 0.5, 0.5
    return backward / (forward + backward), forward / (forward + backward)


def feather_alpha(alpha: torch.Tensor, radius: int) -> torch.Tensor:
    """``min(alpha, box_blur(alpha))``: soft edges that fade *inside* the reliable region only (``N×1×H×W``)."""
    if radius <= 0:
        return alpha
    blurred = F.avg_pool2d(alpha, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)
    return torch.minimum(alpha, blurred)


def close_mask(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Morphological closing (dilate, then erode) of an ``N×1×H×W`` mask: unreliable specks narrower than
    ``2·radius + 1`` px vanish (DIS marks isolated pixels of water or noise unreliable, and a product of masks
    would lose them for good); larger unreliable regions, and the frame's border, keep their extent."""
    if radius <= 0:
        return mask
    k = 2 * radius + 1
    dilated = F.max_pool2d(mask, k, stride=1, padding=radius)
    return -F.max_pool2d(-dilated, k, stride=1, padding=radius)


#: Grids (cells on the long side), coarse to fine, on which :func:`match_fill` averages the carried-minus-fill colour.
MATCH_GRIDS = (1, 3, 6, 12, 24)


def match_fill(fill: torch.Tensor, carried: torch.Tensor, alpha: torch.Tensor,
               grids: tuple[int, ...] = MATCH_GRIDS) -> torch.Tensor:
    """Shift the fill toward the carried colours nearby, so a hole filled by another method blends in.

    The low-frequency difference ``carried − fill`` where carried (weight ``alpha``) is averaged on coarse grids
    (normalised convolution: area-downsample, 3×3 box, divide by the weight), finer grids overriding coarser ones
    where they hold enough carried pixels (so the middle of a large hole takes the offset of a wider
    neighbourhood, without a seam), and added to the fill; its strokes (high frequencies) are kept. Where
    nothing is carried the fill is unchanged.

    Args:
        fill, carried: ``1×3×H×W`` [0, 1]; alpha: ``1×1×H×W`` [0, 1].

    Returns:
        ``1×3×H×W`` [0, 1].
    """
    h, w = fill.shape[-2:]
    diff = alpha * (carried - fill)
    offset: torch.Tensor | None = None
    for grid in grids:
        scale = min(1.0, grid / max(h, w))
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        num = F.avg_pool2d(F.interpolate(diff, size=size, mode="area"), 3, stride=1, padding=1,
                           count_include_pad=False)
        den = F.avg_pool2d(F.interpolate(alpha, size=size, mode="area"), 3, stride=1, padding=1,
                           count_include_pad=False)
        level = num / den.clamp_min(1e-6)
        confidence = (den / 0.5).clamp(0, 1)  # half the neighbourhood carried: this grid decides
        coarser = torch.zeros_like(level) if offset is None else F.interpolate(offset, size=size, mode="bilinear",
                                                                                align_corners=False)
        offset = torch.lerp(coarser, level, confidence)
    assert offset is not None
    offset = F.interpolate(offset, size=(h, w), mode="bilinear", align_corners=False)
    return (fill + offset).clamp(0, 1)


def composite(fill: torch.Tensor, forward: tuple[torch.Tensor, torch.Tensor, int] | None,
              backward: tuple[torch.Tensor, torch.Tensor, int] | None, feather: int = 0,
              match: bool = False) -> torch.Tensor:
    """One output frame from the fill and the carriers.

    Args:
        fill: ``1×3×H×W`` the per-frame method's frame, [0, 1].
        forward, backward: ``(image 1×3×H×W, reliability 1×1×H×W, distance)`` of each carrier, or None.
        feather: pixels over which a carried region fades into the fill at its edge.
        match: shift the fill toward the carried colours nearby first (:func:`match_fill`).

    Returns:
        ``1×3×H×W`` [0, 1]: ``α·mix + (1 − α)·fill`` where ``mix`` averages the carriers with weights
        ``distance weight × reliability`` and ``α`` is the larger reliability (so a region one carrier lost and
        the other still sees is carried in full).
    """
    sides = [s for s in (forward, backward) if s is not None]
    if not sides:
        return fill
    lam = distance_weights(forward[2] if forward else None, backward[2] if backward else None)
    lams = [lam[0]] * (forward is not None) + [lam[1]] * (backward is not None)
    weights = [max(float(w), 1e-6) * r for w, (_, r, _) in zip(lams, sides)]
    total = torch.stack(weights).sum(0).clamp_min(1e-6)
    mix = torch.stack([w * img for w, (img, _, _) in zip(weights, sides)]).sum(0) / total
    alpha = feather_alpha(torch.stack([r for _, r, _ in sides]).amax(0), feather)
    if match:
        fill = match_fill(fill, mix, alpha)
    return torch.lerp(fill, mix, alpha).clamp(0, 1)


# ---------------------------------------------------------------------------------------------- storage


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """``1×C×H×W`` [0, 1] → ``C×H×W`` uint8 (CPU)."""
    return (x[0].detach().float().clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()


def from_uint8(a: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """``C×H×W`` uint8 → ``1×C×H×W`` float32 [0, 1]."""
    return torch.from_numpy(a).to(device).unsqueeze(0).float() / 255


def shrink_flow(flow: torch.Tensor, limit: int | None) -> torch.Tensor:
    """A ``1×2×H×W`` pixel flow at long side at most ``limit`` (vectors rescaled; align_corners grids)."""
    h, w = flow.shape[-2:]
    return resize_flow(flow, limited_size(h, w, limit))


# ---------------------------------------------------------------------------------------------- the passes


def _fill(fill: Styliser, state: TemporalState, frames: torch.Tensor, observations, cfg: TemporalConfig,
          indices: list[int]) -> list[torch.Tensor]:
    """The per-frame method on a batch, with the pipeline's temporal blending (as :func:`run_pipeline` does);
    ``indices``: the frames' 0-based source indices (strength / style curves, :mod:`vidstyle.schedule`)."""
    outputs = []
    if fill.temporal_mode is TemporalMode.SEQUENTIAL:
        for i, obs in enumerate(observations):
            if obs.cut:
                fill.reset()
            fill.set_frames(indices[i:i + 1])
            out = follow_exposure(fill.stylise(frames[i:i + 1], state.frame_state(obs)), frames[i:i + 1], cfg)
            state.commit(out)
            outputs.append(out)
        return outputs
    starts = [0] + [i for i, obs in enumerate(observations) if obs.cut and i > 0] + [len(observations)]
    parts = []
    for a, b in itertools.pairwise(starts):
        if observations[a].cut:
            fill.reset()
        fill.set_frames(indices[a:b])
        parts.append(fill.stylise(frames[a:b], None))
    stylised = follow_exposure(torch.cat(parts), frames, cfg)
    for i, obs in enumerate(observations):
        out = state.blend(stylised[i:i + 1], obs)
        state.commit(out)
        outputs.append(out)
    return outputs


def _source_size(info) -> tuple[int, int] | None:
    """The input's displayed ``(width, height)`` (coded size, rotated)."""
    if info is None or not getattr(info, "source_width", None):
        return None
    w, h = info.source_width, info.source_height
    return (h, w) if info.rotation in (90, 270) else (w, h)


def check_keyframes(cfg: KeyframeConfig, info) -> None:
    """Before any work: keyframes past the input's last frame, and painted keyframes of the wrong size.

    Raises:
        VidstyleError: one line.
    """
    count = getattr(info, "source_frame_count", None)
    wanted = sorted(set(cfg.frames) | {f for f, _ in cfg.images})
    if count is not None and wanted and wanted[-1] >= count:
        late = ", ".join(str(f) for f in wanted if f >= count)
        raise VidstyleError(f"keyframe {late} is past the last frame of {info.path} (frames 0–{count - 1})")
    for frame, path in cfg.images:
        load_keyframe_image(path, info.width, info.height, _source_size(info), frame)


def run_keyframed(reader, writer, fill: Styliser, cfg: KeyframeConfig, *, flow_estimator: FlowEstimator,
                  keyframe_styliser: Styliser | None = None, temporal_cfg: TemporalConfig = TemporalConfig(),
                  progress: bool = True, spool_dir: str | Path | None = None):
    """Keyframe-guided stylisation of ``reader`` into ``writer`` (module docstring: the three passes).

    Args:
        reader: a :class:`~vidstyle.media.reader.VideoReader` (batches with ``frames``, ``pts``, ``indices``;
            ``info``).
        writer: anything with ``write(frames N×3×H×W [0, 1], pts)``.
        fill: the per-frame method for what no keyframe reaches (``PER_FRAME`` or ``SEQUENTIAL``).
        cfg: keyframes (``frames``/``every`` need ``keyframe_styliser``; ``images`` are loaded).
        flow_estimator: the pipeline's flow estimator (required: propagation follows the flow).
        keyframe_styliser: stylises the keyframes (each on its own, after ``reset()``).
        temporal_cfg: the fill's temporal blending, cut thresholds and ``flow_max_side``.
        progress: progress bars.
        spool_dir: where the spool's temporary folder goes (default: ``TMPDIR``).

    Returns:
        :class:`~vidstyle.pipeline.PipelineStats` (stages include ``keyframes``, ``propagate`` and ``composite``).

    Raises:
        VidstyleError: no flow, a self-consistent fill method, keyframes outside the rendered frames, a painted
            keyframe of the wrong size.
    """
    from .pipeline import PipelineStats, StageTimer, observed_batches

    if flow_estimator is None:
        raise VidstyleError("keyframes are propagated along the optical flow; drop --no-temporal")
    if fill.temporal_mode is TemporalMode.SELF_CONSISTENT:
        raise VidstyleError("the fill between keyframes needs a per-frame method (--method fast, magenta, adain, …); "
                            "this one makes windows of frames consistent itself")
    if (cfg.frames or cfg.every) and keyframe_styliser is None:
        raise VidstyleError("keyframes to stylise need a keyframe method (--keyframe-method)")
    info = getattr(reader, "info", None)
    if info is not None:
        check_keyframes(cfg, info)
    device = getattr(reader, "device", None)
    timer = StageTimer(device)
    state = TemporalState(temporal_cfg, flow_estimator)
    images = dict(cfg.images)
    stats = PipelineStats()
    start_time = time.perf_counter()
    pts: list[int] = []
    indices: list[int] = []
    keys: list[bool] = []
    links: list[bool] = []  # frame t is linked by flow to t − 1 (no cut, flow known)
    forward_distance: list[int | None] = []
    cuts_seen = 0  # state.cuts runs one batch ahead (observed_batches)
    total = info.frame_count if info is not None else None
    with Spool(cfg.memory_mb * 2**20, spool_dir, "keyframes") as spool, \
            progress_bar(total, "keyframes 1/2", enabled=progress) as bar, \
            contextlib.closing(observed_batches(reader, state, timer)) as batches:  # next batch's flow on a worker
        carrier: Carrier | None = None
        first: int | None = None
        for batch, observations in batches:
            frames = batch.frames
            first = batch.indices[0] if first is None else first
            cuts_seen += sum(obs.cut for obs in observations)
            with timer("stylise"):
                fills = _fill(fill, state, frames, observations, temporal_cfg, list(batch.indices))
            for i, (obs, out) in enumerate(zip(observations, fills)):
                t, index = len(pts), batch.indices[i]
                pts.append(batch.pts[i])
                indices.append(index)
                spool.put(t, "fill", to_uint8(out))
                key = None
                if is_keyframe(index, first, cfg) or (cfg.every is not None and obs.cut and index not in images):
                    with timer("keyframes"):
                        if index in images:
                            key = load_keyframe_image(images[index], frames.shape[-1], frames.shape[-2],
                                                      _source_size(info), index).to(frames.device)
                        else:
                            assert keyframe_styliser is not None
                            keyframe_styliser.reset()
                            keyframe_styliser.set_frames([index])
                            linked_now = obs.state.flow is not None and obs.state.mask is not None and not obs.cut
                            chained = None
                            if keyframe_styliser.temporal_mode is TemporalMode.SEQUENTIAL and carrier is not None \
                                    and linked_now:  # e.g. optimise-temporal: start from the previous keyframe
                                chained = keyframe_state(carrier.step(obs.state.flow,  # type: ignore[arg-type]
                                                                      close_mask(obs.state.mask, cfg.close)))  # type: ignore[arg-type]
                            key = keyframe_styliser.stylise(frames[i:i + 1], chained).to(frames.device).clamp(0, 1)
                        spool.put(t, "key", to_uint8(key))
                keys.append(key is not None)
                flow, mask, back = obs.state.flow, obs.state.mask, obs.state.back_flow
                linked = flow is not None and mask is not None and back is not None and not obs.cut
                links.append(linked)
                with timer("propagate"):
                    if key is not None:
                        carrier = Carrier.start(from_uint8(to_uint8(key), frames.device))
                    elif carrier is not None and linked and (cfg.reach is None or carrier.distance < cfg.reach):
                        carrier = carrier.step(flow, close_mask(mask, cfg.close))  # type: ignore[arg-type]
                    else:
                        carrier = None
                    if linked:  # what pass 2 needs to step from frame t back to t − 1
                        back_s = shrink_flow(back, temporal_cfg.flow_max_side)  # type: ignore[arg-type]
                        flow_s = shrink_flow(flow, temporal_cfg.flow_max_side)  # type: ignore[arg-type]
                        spool.put(t, "back", back_s[0].to(torch.float16).cpu().numpy())
                        spool.put(t, "back_mask", to_uint8(reliability_mask(back_s, flow_s)))
                    if carrier is not None:
                        spool.put(t, "fwd", to_uint8(carrier.image()))
                        spool.put(t, "fwd_w", to_uint8(carrier.weight))
                    forward_distance.append(carrier.distance if carrier is not None else None)
            bar.update(len(batch.pts), cuts=cuts_seen)
        n = len(pts)
        missing = sorted((set(cfg.frames) | set(images)) - {ix for ix, k in zip(indices, keys) if k})
        if missing:
            span = f"frames {indices[0]}–{indices[-1]}" if indices else "no frames"
            raise VidstyleError(f"keyframe {', '.join(map(str, missing))} not among the rendered frames ({span}); "
                                "pick keyframes inside --start/--end")
        bar.reset(n, "keyframes 2/2")
        carrier = None
        for t in reversed(range(n)):
            with timer("propagate"):
                h, w = spool.get(t, "fill").shape[-2:]  # type: ignore[union-attr]
                dev = device or "cpu"
                if keys[t]:
                    carrier = Carrier.start(from_uint8(spool.get(t, "key"), dev))  # type: ignore[arg-type]
                elif carrier is not None and t + 1 < n and links[t + 1] and (
                        cfg.reach is None or carrier.distance < cfg.reach):
                    back = torch.from_numpy(spool.get(t + 1, "back")).to(dev).unsqueeze(0).float()  # type: ignore[arg-type]
                    back_mask = from_uint8(spool.get(t + 1, "back_mask"), dev)  # type: ignore[arg-type]
                    back = resize_flow(back, (h, w))
                    back_mask = F.interpolate(back_mask, size=(h, w), mode="nearest")
                    carrier = carrier.step(back, close_mask(back_mask, cfg.close))
                else:
                    carrier = None
            with timer("composite"):
                fwd_img = spool.get(t, "fwd")
                forward = None if fwd_img is None else (from_uint8(fwd_img, dev),
                                                        from_uint8(spool.get(t, "fwd_w"), dev),  # type: ignore[arg-type]
                                                        forward_distance[t] or 0)
                backward = None if carrier is None else (carrier.image(), carrier.weight, carrier.distance)
                out = composite(from_uint8(spool.get(t, "fill"), dev), forward, backward,  # type: ignore[arg-type]
                                cfg.feather, cfg.fill_match)
                for name in ("fill", "fwd", "fwd_w", "key"):
                    spool.drop(t, name)
                if t + 1 < n:
                    spool.drop(t + 1, "back")
                    spool.drop(t + 1, "back_mask")
                spool.put(t, "out", to_uint8(out))
            bar.update(1)
        batch_size = getattr(reader, "batch_size", 4)
        for a in range(0, n, batch_size):
            b = min(n, a + batch_size)
            with timer("encode"):
                frames = torch.cat([from_uint8(spool.get(t, "out")) for t in range(a, b)])  # type: ignore[arg-type]
                writer.write(frames, pts[a:b])
                for t in range(a, b):
                    spool.drop(t, "out")
    stats.frames = stats.processed = n
    stats.seconds = time.perf_counter() - start_time
    stats.fps = n / max(stats.seconds, 1e-9)
    stats.stage_ms = timer.per_frame_ms(n)
    stats.cuts = state.cuts
    stats.stopped_early = getattr(reader, "stopped_early", None)
    return stats


def describe(cfg: KeyframeConfig, keyframe_text: str | None) -> str:
    """One line for ``method:``: which keyframes, how they are made."""
    parts: list[str] = []
    if cfg.frames:
        parts.append(f"frames {','.join(map(str, cfg.frames))}")
    if cfg.every:
        parts.append(f"every {cfg.every} frames")
    if cfg.frames or cfg.every:
        parts[-1] += f" by {keyframe_text or cfg.method}"
    if cfg.images:
        parts.append(f"painted {','.join(str(f) for f, _ in cfg.images)}")
    return "keyframes " + "; ".join(parts)


__all__ = ["MATCH_GRIDS", "Carrier", "check_keyframes", "close_mask", "composite", "match_fill", "describe", "distance_weights", "feather_alpha",
           "is_keyframe", "keyframe_state", "keyframe_styles", "load_keyframe_image", "parse_keyframe_images", "parse_keyframes",
           "run_keyframed", "shrink_flow"]
