"""Tiled inference with shared instance-norm statistics: feed-forward networks at 4K without running out of memory.

A feed-forward style network (Johnson's :class:`~vidstyle.nets.transformer.TransformerNet`, Magenta's
:class:`~vidstyle.nets.magenta.StyleTransformer`) holds activations of 8–32 channels at the frame's full
resolution: at 3840×2160 a single float32 activation of the full net is 1 GB, and untiled inference needs
several at once. Cutting the frame into tiles bounds that memory by the tile, but each tile would then
normalise its features by its *own* instance-norm statistics — a sky tile and a face tile get different
contrast and colour, and the seams show. So (:func:`run_tiled`):

1. the network runs once on a downscaled copy of the whole frame (long side ``stats_side``) while every
   instance-norm layer (``nn.InstanceNorm2d``, :class:`~vidstyle.nets.magenta.CondInstanceNorm`) *records*
   its per-sample mean and variance (:class:`SharedNormStats`);
2. each tile (a ``tile`` px core, overlapping its neighbours by ``overlap`` px, origins on a multiple of 8 so
   the stride-2 grids line up) runs with those recorded statistics instead of its own, on a crop grown by a
   ``halo`` of context on every side that is computed and thrown away — so the reflection padding at the crop's
   edge never reaches the kept core (the halo covers the networks' receptive field, ~54 px for the 5-block nets);
3. cores are blended with feathered weights (linear ramps over the overlap, :func:`feather_window`).

With ``stats_side`` at least the frame's long side, the statistics are the untiled network's own and tiled
output equals untiled output up to float rounding (tests/test_tiling.py states the tolerance).
A smaller ``stats_side`` (the 4K case) approximates the full-resolution statistics by those of a downscaled
frame; benchmarks/RESULTS.md ("4K: tiled inference") measures what that costs against untiled 1080p.

:func:`run_network` is what the stylisers call: optional ``scale`` (``--style-scale``: the network runs at the
frame's size divided by it, then is resized back), then tiled or untiled inference (:func:`should_tile`).

Images are ``N×3×H×W`` RGB in [0, 1]; the wrapped ``fn`` maps such a batch to the same shape.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

#: Tile origins are multiples of this (two stride-2 stages need 4; 8 leaves room for fused space-to-depth).
ALIGN = 8

Fn = Callable[[torch.Tensor], torch.Tensor]


def _norm_layers(net: nn.Module) -> list[nn.Module]:
    from .magenta import CondInstanceNorm

    return [m for m in net.modules() if isinstance(m, (nn.InstanceNorm2d, CondInstanceNorm))]


class SharedNormStats:
    """Context manager: every instance-norm layer of ``net`` records its statistics, or applies recorded ones.

    Inside the context, :meth:`record` makes the next forward pass store each layer's per-sample
    ``(var, mean)`` (``N×C×1×1``, biased variance as ``F.instance_norm``); :meth:`apply` makes every later pass
    (each tile: call :meth:`next_pass` before it) normalise with the stored values instead of its own.
    The layers' ``forward`` is patched on the instances and restored on exit, so ``net`` is unchanged after.
    Works on eager modules only (a ``torch.compile``-d or ONNX copy does not see the patch).
    """

    def __init__(self, net: nn.Module) -> None:
        self.layers = _norm_layers(net)
        self.mode = "record"
        self._stats: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}
        self._calls: dict[int, int] = {}

    # ------------------------------------------------------------------ modes

    def record(self) -> None:
        """Forget stored statistics; the next pass records them."""
        self.mode, self._stats, self._calls = "record", {}, {}

    def apply(self) -> None:
        """Later passes use the recorded statistics."""
        if self.layers and not self._stats:
            raise RuntimeError("SharedNormStats.apply() before a recorded pass")
        self.mode = "apply"
        self.next_pass()

    def next_pass(self) -> None:
        """Start a new forward pass (each layer's calls are counted per pass, for layers called more than once)."""
        self._calls = {}

    def _stats_for(self, layer: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        key = id(layer)
        if self.mode == "record":
            var, mean = torch.var_mean(x, dim=(2, 3), correction=0, keepdim=True)
            self._stats.setdefault(key, []).append((var, mean))
            return var, mean
        i = self._calls.get(key, 0)
        self._calls[key] = i + 1
        var, mean = self._stats[key][i]
        if var.shape[0] != x.shape[0]:
            raise RuntimeError(f"recorded statistics are for {var.shape[0]} samples, the tile has {x.shape[0]}")
        return var.to(x.dtype), mean.to(x.dtype)

    # ------------------------------------------------------------------ patching

    def __enter__(self) -> SharedNormStats:
        from .magenta import CondInstanceNorm

        shared = self
        for layer in self.layers:
            if isinstance(layer, CondInstanceNorm):
                def cond_forward(m: CondInstanceNorm, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
                    var, mean = shared._stats_for(m, x)
                    scale = torch.rsqrt(var + m.eps) * m.gamma(z)[..., None, None]
                    return x * scale + (m.beta(z)[..., None, None] - mean * scale)

                layer.forward = types.MethodType(cond_forward, layer)  # type: ignore[method-assign]
            else:
                def in_forward(m: nn.InstanceNorm2d, x: torch.Tensor) -> torch.Tensor:
                    var, mean = shared._stats_for(m, x)
                    y = (x - mean) * torch.rsqrt(var + m.eps)
                    if m.affine:
                        y = y * m.weight[:, None, None] + m.bias[:, None, None]
                    return y

                layer.forward = types.MethodType(in_forward, layer)  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        for layer in self.layers:
            layer.__dict__.pop("forward", None)


# ---------------------------------------------------------------------- tile layout


def tile_span(length: int, tile: int, overlap: int, align: int = ALIGN) -> tuple[list[int], int]:
    """Tiles along one axis of ``length`` px: ``(origins, side)``. As few tiles as fit in ``tile`` px with at least
    ``overlap`` px between neighbours, all of one ``side`` (≤ ``tile + align``, the tiles share out the length
    instead of overlapping more than needed); origins are multiples of ``align``, the last tile runs on to
    ``length`` (up to ``align − 1`` px longer). ``([0], length)`` when ``length <= tile``."""
    if length <= tile:
        return [0], length
    if tile - overlap < 2 * align:
        raise ValueError(f"tile {tile} px leaves no room beyond the {overlap} px overlap")
    n = math.ceil((length - overlap) / (tile - overlap - align))
    side = min(length, -(-(length + (n - 1) * overlap) // (n * align)) * align + align)
    last = (length - side) // align * align  # the last tile runs on to ``length`` (< ``align`` px longer)
    return [round(i * last / (n - 1)) // align * align if i < n - 1 else last for i in range(n)], side


def tile_starts(length: int, tile: int, overlap: int, align: int = ALIGN) -> list[int]:
    """Origins of :func:`tile_span`'s tiles (all but the last aligned; the last ends at ``length``)."""
    return tile_span(length, tile, overlap, align)[0]


def tile_boxes(height: int, width: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """``(y0, y1, x0, x1)`` of every tile of an ``H×W`` frame (see :func:`tile_starts`); they cover the frame."""
    def spans(length: int) -> list[tuple[int, int]]:
        starts, side = tile_span(length, tile, overlap)
        return [(a, a + side if i + 1 < len(starts) else length) for i, a in enumerate(starts)]

    return [(y0, y1, x0, x1) for y0, y1 in spans(height) for x0, x1 in spans(width)]


def _ramp(n: int, overlap: int, low: bool, high: bool) -> torch.Tensor:
    """1-D weights of length ``n``: 1 inside, a linear ramp over ``overlap`` px at each side that has a neighbour."""
    d = torch.arange(n, dtype=torch.float32)
    w = torch.ones(n)
    if overlap > 0:
        if low:
            w = torch.minimum(w, (d + 0.5) / overlap)
        if high:
            w = torch.minimum(w, (n - d - 0.5) / overlap)
    return w


def feather_window(h: int, w: int, overlap: int, top: bool, bottom: bool, left: bool, right: bool) -> torch.Tensor:
    """``1×1×h×w`` blending weights of one tile in (0, 1]: ramps toward the sides with a neighbouring tile
    (``top`` … ``right``), flat at the frame's own borders."""
    return (_ramp(h, overlap, top, bottom)[:, None] * _ramp(w, overlap, left, right)[None, :])[None, None]


# ---------------------------------------------------------------------- running


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    down = size[0] * size[1] < x.shape[-2] * x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=down)


def context_box(box: tuple[int, int, int, int], height: int, width: int, halo: int) -> tuple[int, int, int, int]:
    """A tile's box grown by ``halo`` px on each side (origins kept on a multiple of :data:`ALIGN`), clipped to
    the frame: the crop the network actually sees."""
    y0, y1, x0, x1 = box
    return (max(0, (y0 - halo) // ALIGN * ALIGN), min(height, y1 + halo),
            max(0, (x0 - halo) // ALIGN * ALIGN), min(width, x1 + halo))


class SharedStats:
    """Statistics of a whole frame shared by its tiles, for methods whose normalisation is their own code rather
    than instance-norm layers (AdaIN's content mean/std, WCT's content covariance; :mod:`vidstyle.stylise.arbitrary`).

    The same protocol as :class:`SharedNormStats`: :meth:`record` (the next pass stores, by name, what
    :meth:`get` computes), :meth:`apply` (later passes get the stored values), :meth:`next_pass`; usable as a
    context manager.
    """

    def __init__(self) -> None:
        self.mode = "record"
        self.values: dict[str, object] = {}

    def record(self) -> None:
        self.mode, self.values = "record", {}

    def apply(self) -> None:
        self.mode = "apply"

    def next_pass(self) -> None:
        pass

    def get(self, name: str, compute: Callable[[], object]) -> object:
        """While recording: ``compute()``, stored under ``name``; while applying: the stored value."""
        if self.mode == "record" or name not in self.values:
            self.values[name] = compute()
        return self.values[name]

    def __enter__(self) -> SharedStats:
        return self

    def __exit__(self, *exc: object) -> None:
        self.values = {}


def run_tiled(fn: Fn, net: nn.Module | SharedStats, x: torch.Tensor, tile: int, overlap: int, stats_side: int,
              halo: int | None = None) -> torch.Tensor:
    """``fn(x)`` computed tile by tile, one frame at a time, with normalisation statistics shared by all tiles.

    Args:
        fn: ``N×3×h×w`` → same shape, calling the eager ``net`` (whose norm layers are patched while it runs).
        net: the module holding the instance-norm layers ``fn`` runs through, or a :class:`SharedStats` that
            ``fn`` asks for its statistics.
        x: ``N×3×H×W`` RGB [0, 1].
        tile: side of a tile's kept core in px (overlap included).
        overlap: px shared by neighbouring tiles' cores (feathered).
        stats_side: long side of the downscaled frame whose statistics every tile uses (the frame's own size
            when it is smaller).
        halo: context px the network sees beyond each side of a core, computed and discarded
            (default :data:`~vidstyle.config.TILE_HALO`): when it covers the network's receptive field, a core's
            pixels are exactly the untiled network's under the same statistics.

    Returns:
        ``N×3×H×W``; peak activation memory is that of one ``(tile + 2·halo)²`` crop (or one ``stats_side`` frame).
    """
    from ..config import TILE_HALO

    halo = TILE_HALO if halo is None else halo
    h, w = x.shape[-2:]
    s = min(1.0, stats_side / max(h, w))
    small_hw = (max(8, round(h * s)), max(8, round(w * s)))
    boxes = tile_boxes(h, w, tile, overlap)
    windows = [feather_window(y1 - y0, x1 - x0, overlap, y0 > 0, y1 < h, x0 > 0, x1 < w).to(x)
               for y0, y1, x0, x1 in boxes]
    weight = x.new_zeros((1, 1, h, w))
    for (y0, y1, x0, x1), win in zip(boxes, windows):
        weight[..., y0:y1, x0:x1] += win
    out = x.new_zeros(x.shape)
    with (net if isinstance(net, SharedStats) else SharedNormStats(net)) as shared:
        for i in range(x.shape[0]):
            frame = x[i:i + 1]
            shared.record()
            fn(_resize(frame, small_hw))  # only the statistics are kept
            shared.apply()
            for (y0, y1, x0, x1), win in zip(boxes, windows):
                cy0, cy1, cx0, cx1 = context_box((y0, y1, x0, x1), h, w, halo)
                shared.next_pass()
                y = fn(frame[..., cy0:cy1, cx0:cx1])[..., y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0]
                out[i:i + 1, :, y0:y1, x0:x1] += y.float() * win
    return out.div_(weight)


def should_tile(height: int, width: int, tile: int | None) -> int | None:
    """The tile side to use for an ``H×W`` network input, or None for untiled inference.

    ``tile`` None = auto: tiles of :data:`~vidstyle.config.TILE_AUTO_SIDE` from
    :data:`~vidstyle.config.TILE_AUTO_PIXELS` (2560×1440) up; 0 = never; N = tiles of N px whenever the frame is
    larger than one tile."""
    from ..config import TILE_AUTO_PIXELS, TILE_AUTO_SIDE

    if tile == 0:
        return None
    if tile is None:
        return TILE_AUTO_SIDE if height * width >= TILE_AUTO_PIXELS else None
    return tile if max(height, width) > tile else None


def scaled_size(height: int, width: int, scale: float, internal_size: int | None = None) -> tuple[int, int]:
    """The network's input size for an ``H×W`` frame: long side capped at ``internal_size`` (if given), then
    divided by ``scale`` (``--style-scale``: > 1 paints larger strokes at fewer pixels, < 1 finer ones)."""
    long = max(height, width)
    target: float = min(long, internal_size) if internal_size else long
    s = target / scale / long
    return max(8, round(height * s)), max(8, round(width * s))


def run_network(fn: Fn, x: torch.Tensor, *, net: nn.Module | SharedStats | None = None, scale: float = 1.0,
                internal_size: int | None = None, tile: int | None = None, untiled: Fn | None = None,
                halo: int | None = None) -> torch.Tensor:
    """Run a style network on ``N×3×H×W`` frames at the size :func:`scaled_size` gives, tiled when
    :func:`should_tile` says so (``net`` must then be the eager module ``fn`` runs, or the :class:`SharedStats`
    ``fn`` takes its statistics from), and resize back to H×W.

    ``untiled`` (default ``fn``) is used when no tiling is needed — e.g. a compiled or ONNX copy of the network.
    ``halo``: the tiles' context (default :data:`~vidstyle.config.TILE_HALO`; :func:`run_tiled`).
    """
    from ..config import TILE_OVERLAP, TILE_STATS_SIDE

    h, w = x.shape[-2:]
    size = scaled_size(h, w, scale, internal_size)
    inp = _resize(x, size)
    side = should_tile(*size, tile) if net is not None else None
    if side is None or net is None:
        y = (untiled if untiled is not None else fn)(inp)
    else:
        # the statistics pass at twice the tile side (capped): with smaller tiles, less memory and coarser statistics
        y = run_tiled(fn, net, inp, side, min(TILE_OVERLAP, side // 4), min(TILE_STATS_SIDE, 2 * side), halo)
    return _resize(y.float(), (h, w)).clamp_(0, 1)


__all__ = ["ALIGN", "SharedNormStats", "SharedStats", "feather_window", "run_network", "run_tiled", "scaled_size", "should_tile",
           "tile_boxes", "tile_span", "tile_starts"]
