"""Geometric matching for geometric style transfer (Liu et al. 2020, arXiv:2007.05471; after Rocco et al. 2017).

Pure tensor functions first, modules only where parameters live:

* :func:`l2_normalise` / :func:`correlation` / :func:`normalise_correlation`: the correlation tensor
  ``C_ijkl = Σ_c F̂a_ijc F̂b_klc`` of the L2-normalised **pool4** features of VGG-19 (content ``a`` and
  geometric style ``b``);
* :class:`GeometryRegressor`: the small CNN that regresses transform parameters from ``C``;
* warps (:func:`sampling_grid`, :func:`warp_image`, :func:`map_points`) for the two transform kinds;
* :func:`optimise_params`: the same parameters found *without a network*, by maximising the
  correlation of the warped content features with the style's features (multi-start Adam).

Convention:
    - Parameters are **offsets from the identity**, ``N×P`` (``P`` = 6 for ``affine``, 18 for ``tps``): all
      zeros is the identity, and ``strength · params`` interpolates a transform toward the identity.
    - A transform ``T`` is a *sampling map* in ``grid_sample``'s normalised frame (``align_corners=False``:
      x = −1 / +1 are the left / right pixel *edges*), ``(x, y)`` order: the warped image is
      ``M_Θ(I)(p) = I(T(p))``. Affine: ``T(p) = (I₂ₓ₃ + params.view(2, 3)) · (x, y, 1)``, as
      :func:`torch.nn.functional.affine_grid`. TPS: a thin-plate spline through the 3×3 control grid
      :data:`TPS_CONTROL` (x, y ∈ {−1, 0, 1}) with ``T(c_i) = c_i + params.view(9, 2)[i]`` (kornia).
    - Samples outside the frame are filled by ``grid_sample``'s ``padding`` (reflection, border, zeros); :func:`cover_zoom`
      finds the output zoom at which there are none.
    - Images are ``N×3×H×W`` RGB in [0, 1]; features ``N×C×h×w``; the correlation is ``N×(h·w)×h×w``
      with channel ``i·w + j`` indexing the position in ``a`` and the spatial position ``(k, l)`` in ``b``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from kornia.geometry.transform import get_tps_transform, warp_points_tps
from torch import nn

from ..errors import VidstyleError

#: Geometric features come from this VGG-19 layer (names in :mod:`vidstyle.nets.vgg`).
GEOMETRY_LAYER = "pool4"
#: Side of the square images the matcher sees (pool4 is then 15×15).
GEOMETRY_SIZE = 240
#: Transform kinds and their parameter counts.
KINDS: dict[str, int] = {"affine": 6, "tps": 18}
#: TPS control points, ``9×2`` (x, y), row-major over y then x.
TPS_CONTROL = torch.stack(torch.meshgrid(torch.linspace(-1, 1, 3), torch.linspace(-1, 1, 3), indexing="ij")[::-1],
                          -1).reshape(9, 2)

FeatureFn = Callable[[torch.Tensor], torch.Tensor]


def check_kind(kind: str) -> int:
    """Number of parameters of ``kind``; a clear error for an unknown one."""
    if kind not in KINDS:
        raise VidstyleError(f"unknown geometry {kind!r}; choose from {', '.join(KINDS)}")
    return KINDS[kind]


# ------------------------------------------------------------------ features and correlation


def l2_normalise(features: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``N×C×h×w`` → each spatial feature vector scaled to unit L2 norm (over ``C``)."""
    return features / features.norm(dim=1, keepdim=True).clamp_min(eps)


def correlation(fa: torch.Tensor, fb: torch.Tensor) -> torch.Tensor:
    """Correlation tensor of two feature maps.

    Args:
        fa, fb: ``N×C×h×w`` (normally L2-normalised with :func:`l2_normalise`).

    Returns:
        ``N×(h·w)×h×w`` with ``out[n, i·w + j, k, l] = Σ_c fa[n, c, i, j] · fb[n, c, k, l]``.
    """
    if fa.shape != fb.shape or fa.dim() != 4:
        raise VidstyleError(f"feature maps must both be N×C×h×w of one shape, got {tuple(fa.shape)} and {tuple(fb.shape)}")
    n, c, h, w = fa.shape
    corr = torch.bmm(fa.reshape(n, c, h * w).transpose(1, 2), fb.reshape(n, c, h * w))  # N×(hw_a)×(hw_b)
    return corr.reshape(n, h * w, h, w)


def normalise_correlation(corr: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Rocco et al.'s normalisation: ReLU, then unit L2 norm over the ``a`` positions (channels)."""
    return l2_normalise(F.relu(corr), eps)


def match_input(fa: torch.Tensor, fb: torch.Tensor) -> torch.Tensor:
    """What the regressor sees: the normalised correlation of the L2-normalised features."""
    return normalise_correlation(correlation(l2_normalise(fa), l2_normalise(fb)))


def geometry_view(image: torch.Tensor, size: int = GEOMETRY_SIZE) -> torch.Tensor:
    """``N×3×H×W`` → ``N×3×size×size`` (squashed, not cropped: the transform lives in normalised coordinates,
    so one estimated on the square view applies to the image at any size and aspect)."""
    return F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=max(image.shape[-2:]) > size)


def vgg_features(encoder: nn.Module, layer: str = GEOMETRY_LAYER, size: int = GEOMETRY_SIZE) -> FeatureFn:
    """A feature function ``image → N×512×15×15``: the encoder's ``layer`` on the ``size``×``size`` view."""

    def features(image: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return encoder(geometry_view(image, size), (layer,))[layer]

    return features


# ------------------------------------------------------------------ the regressor


class GeometryRegressor(nn.Module):
    """Rocco et al.'s regression CNN: conv 7×7 → BN → ReLU → conv 5×5 → BN → ReLU → linear.

    Args:
        kind: ``affine`` (6 outputs) or ``tps`` (18).
        grid: side of the feature grid (15 for 240 px images at pool4); the input has ``grid²`` channels.
        widths: the two conv widths.

    The last layer starts at zero, so an untrained regressor predicts the identity.
    """

    def __init__(self, kind: str = "affine", grid: int = 15, widths: tuple[int, int] = (128, 64)) -> None:
        super().__init__()
        n_out = check_kind(kind)
        if grid < 11:
            raise VidstyleError(f"the regressor needs a feature grid of at least 11×11, got {grid}")
        self.kind, self.grid, self.widths = kind, grid, tuple(widths)
        w1, w2 = widths
        self.features = nn.Sequential(
            nn.Conv2d(grid * grid, w1, 7), nn.BatchNorm2d(w1), nn.ReLU(inplace=True),
            nn.Conv2d(w1, w2, 5), nn.BatchNorm2d(w2), nn.ReLU(inplace=True))
        side = grid - 6 - 4
        self.head = nn.Linear(w2 * side * side, n_out)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, corr: torch.Tensor) -> torch.Tensor:
        """``N×grid²×grid×grid`` normalised correlation → ``N×P`` parameter offsets."""
        if corr.dim() != 4 or corr.shape[1:] != (self.grid ** 2, self.grid, self.grid):
            raise VidstyleError(f"correlation must be N×{self.grid ** 2}×{self.grid}×{self.grid}, got {tuple(corr.shape)}")
        return self.head(self.features(corr).flatten(1))

    def metadata(self) -> dict[str, str]:
        return {"format": "vidstyle-geometry-1", "kind": self.kind, "grid": str(self.grid),
                "widths": ",".join(map(str, self.widths))}

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> GeometryRegressor:
        if meta.get("format") != "vidstyle-geometry-1":
            raise VidstyleError(f"not a geometry regressor (format {meta.get('format')!r})")
        widths = tuple(int(v) for v in meta["widths"].split(","))
        return cls(meta["kind"], int(meta["grid"]), widths)  # type: ignore[arg-type]


# ------------------------------------------------------------------ transforms


def identity_params(kind: str, n: int = 1, device=None) -> torch.Tensor:
    """``N×P`` zeros: the identity transform of ``kind``."""
    return torch.zeros(n, check_kind(kind), device=device)


def random_params(kind: str, n: int, generator: torch.Generator | None = None, scale: float = 1.0) -> torch.Tensor:
    """Random transforms for training pairs, ``N×P`` offsets from the identity.

    Affine: rotation ±20°, per-axis zoom ×0.8–1.25, shear ±0.15, shift ±0.15 (normalised units).
    TPS: a random affine at half those ranges, then every control point moved by up to ±0.15 in x and y.
    ``scale`` multiplies the ranges.
    """
    def u(*shape: int) -> torch.Tensor:
        return (torch.rand(*shape, generator=generator) * 2 - 1) * scale

    if check_kind(kind) == 18:
        return affine_to_tps(random_params("affine", n, generator, 0.5 * scale)) + u(n, 18) * 0.15
    ang = u(n) * math.radians(20)
    sx, sy = torch.exp(u(n) * math.log(1.25)), torch.exp(u(n) * math.log(1.25))
    shear = u(n) * 0.15
    cos, sin = torch.cos(ang), torch.sin(ang)
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # N×2×2
    shape = torch.stack([torch.stack([sx, shear * sx], -1), torch.stack([torch.zeros_like(sy), sy], -1)], -2)
    a = rot @ shape
    t = torch.stack([u(n), u(n)], -1) * 0.15
    theta = torch.cat([a, t.unsqueeze(-1)], -1)  # N×2×3
    return (theta - torch.eye(2, 3)).reshape(n, 6)


def affine_matrix(params: torch.Tensor) -> torch.Tensor:
    """``N×6`` offsets → ``N×2×3`` matrices for :func:`torch.nn.functional.affine_grid`."""
    return torch.eye(2, 3, device=params.device, dtype=params.dtype) + params.reshape(-1, 2, 3)


def tps_targets(params: torch.Tensor) -> torch.Tensor:
    """``N×18`` offsets → ``N×9×2`` sampling positions of the control points."""
    return TPS_CONTROL.to(params) + params.reshape(-1, 9, 2)


def map_points(params: torch.Tensor, kind: str, points: torch.Tensor) -> torch.Tensor:
    """Apply the sampling map ``T`` to ``N×K×2`` normalised ``(x, y)`` points (or ``K×2``, shared)."""
    check_kind(kind)
    n = params.shape[0]
    if points.dim() == 2:
        points = points.unsqueeze(0).expand(n, -1, -1)
    points = points.to(params)
    if kind == "affine":
        theta = affine_matrix(params)
        return points @ theta[:, :, :2].transpose(1, 2) + theta[:, :, 2].unsqueeze(1)
    control = TPS_CONTROL.to(params).unsqueeze(0).expand(n, -1, -1)
    targets = tps_targets(params)
    kernel_w, affine_w = get_tps_transform(control, targets)  # maps control → targets (kernel centres: targets)
    return warp_points_tps(points.contiguous(), targets, kernel_w, affine_w)


def pixel_centres(h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """``(h·w)×2`` normalised ``(x, y)`` of the pixel centres (``align_corners=False``), row-major."""
    ys = (torch.arange(h, device=device, dtype=dtype) * 2 + 1) / h - 1
    xs = (torch.arange(w, device=device, dtype=dtype) * 2 + 1) / w - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], -1).reshape(-1, 2)


def sampling_grid(params: torch.Tensor, kind: str, size: tuple[int, int], zoom: float = 1.0) -> torch.Tensor:
    """The ``N×H×W×2`` normalised sampling grid of ``T`` for an output of ``size = (H, W)``.

    ``zoom`` ≥ 1 magnifies the output about its centre: pixel ``p`` samples ``T(p / zoom)`` (see :func:`cover_zoom`)."""
    h, w = size
    check_kind(kind)
    if kind == "affine":
        theta = affine_matrix(params)
        if zoom != 1.0:
            theta = torch.cat([theta[:, :, :2] / zoom, theta[:, :, 2:]], -1)
        return F.affine_grid(theta, [params.shape[0], 1, h, w], align_corners=False)
    points = pixel_centres(h, w, params.device, params.dtype) / zoom
    return map_points(params, kind, points).reshape(-1, h, w, 2)


def warp_image(image: torch.Tensor, params: torch.Tensor, kind: str, padding: str = "reflection",
               zoom: float = 1.0) -> torch.Tensor:
    """``M_Θ(image)``: ``N×C×H×W`` sampled along ``T`` (bilinear), same size; ``padding`` fills what ``T`` maps
    outside the frame (``reflection``, ``border`` = replicate, or ``zeros``); ``zoom`` as in :func:`sampling_grid`.

    ``params`` has one row per image, or one row shared by all."""
    if params.shape[0] == 1 and image.shape[0] > 1:
        params = params.expand(image.shape[0], -1)
    grid = sampling_grid(params.to(image), kind, image.shape[-2:], zoom)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode=padding, align_corners=False)


def frame_edge(samples: int = 33) -> torch.Tensor:
    """``(4·samples)×2`` normalised points along the output frame's outer edge (x or y = ±1)."""
    t = torch.linspace(-1, 1, samples)
    one = torch.ones(samples)
    return torch.cat([torch.stack([t, -one], -1), torch.stack([t, one], -1),
                      torch.stack([-one, t], -1), torch.stack([one, t], -1)])


def uncovered(params: torch.Tensor, kind: str, zoom: float = 1.0, samples: int = 33) -> float:
    """How far (normalised units, 0 = none) the warped frame's edge reaches outside the picture for ``1×P``
    ``params``: the largest ``max(|T(e / zoom)|) − 1`` over the edge points ``e`` (:func:`frame_edge`)."""
    q = map_points(params[:1].float(), kind, frame_edge(samples) / zoom)
    return float((q.abs().amax() - 1).clamp_min(0))


def cover_zoom(params: torch.Tensor, kind: str, max_zoom: float, step: float = 0.01) -> float:
    """The smallest zoom in ``[1, max_zoom]`` (in ``step``s) at which the warped frame lies inside the picture
    (:func:`uncovered` is 0, to 1e-4), so no pixel of the output needs a fill; ``max_zoom`` when none does."""
    if max_zoom < 1:
        raise VidstyleError(f"the cover zoom must be at least 1, got {max_zoom}")
    n = max(1, math.ceil((max_zoom - 1) / step))
    for i in range(n + 1):
        zoom = min(1 + i * step, max_zoom)
        if uncovered(params, kind, zoom) <= 1e-4:
            return zoom
    return max_zoom


def interpolate_params(params: torch.Tensor, strength: float) -> torch.Tensor:
    """Move a transform toward the identity: ``strength`` 1 keeps it, 0 is the identity."""
    if not 0.0 <= strength <= 1.0:
        raise VidstyleError(f"geometry strength must be in [0, 1], got {strength}")
    return params * strength


def evaluation_points(kind: str, n: int = 10) -> torch.Tensor:
    """Where accuracy is measured: the 4 image corners for ``affine``, an ``n×n`` grid over the frame for ``tps``."""
    if kind == "affine":
        return torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]])
    return pixel_centres(n, n)


def point_error_px(estimate: torch.Tensor, truth: torch.Tensor, kind: str, size: int = GEOMETRY_SIZE,
                   points: torch.Tensor | None = None) -> torch.Tensor:
    """Per-pair mean distance in pixels (of a ``size``×``size`` image) between ``T̂(p)`` and ``T(p)``."""
    pts = evaluation_points(kind) if points is None else points
    d = map_points(estimate, kind, pts) - map_points(truth, kind, pts)
    return (d * (size / 2)).norm(dim=-1).mean(-1)


def grid_loss(estimate: torch.Tensor, truth: torch.Tensor, kind: str, n: int = 10) -> torch.Tensor:
    """Rocco et al.'s grid loss: mean squared distance of ``n×n`` mapped grid points (normalised units)."""
    pts = pixel_centres(n, n, estimate.device)
    return (map_points(estimate, kind, pts) - map_points(truth, kind, pts)).pow(2).sum(-1).mean()


# ------------------------------------------------------------------ direct optimisation (no network)


def _sample_features(fa: torch.Tensor, params: torch.Tensor, kind: str) -> torch.Tensor:
    grid = sampling_grid(params, kind, fa.shape[-2:])
    return F.grid_sample(fa, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def correlation_score(fa: torch.Tensor, fb: torch.Tensor, params: torch.Tensor, kind: str) -> torch.Tensor:
    """``N`` scores: mean over ``b``'s positions ``q`` of ``⟨F̂b(q), F̂a(T(q))⟩`` — the correlation tensor read
    along the transform (bilinear in ``a``; outside the frame reflected, as the images are). ``fa``/``fb``
    L2-normalised."""
    return (_sample_features(fa, params, kind) * fb).sum(1).mean((-2, -1))


#: Largest |offset| per parameter the direct optimisation may reach (the training range of
#: :func:`random_params` with a margin): affine matrix entries ±0.6, shifts ±0.3; TPS control points ±0.45.
PARAM_BOX = {"affine": torch.tensor([0.6, 0.6, 0.3, 0.6, 0.6, 0.3]), "tps": torch.full((18,), 0.45)}


def _starts(kind: str, device) -> torch.Tensor:
    """Initial affine guesses: rotations × zooms × shifts around the identity."""
    rows = []
    for ang in (-15.0, 0.0, 15.0):
        for zoom in (0.85, 1.0, 1.2):
            for tx, ty in ((0.0, 0.0),):
                c, s = math.cos(math.radians(ang)) * zoom, math.sin(math.radians(ang)) * zoom
                rows.append([c - 1, -s, tx, s, c - 1, ty])
    return torch.tensor(rows, device=device)


def affine_to_tps(params: torch.Tensor) -> torch.Tensor:
    """The TPS (``N×18``) that equals an affine transform (``N×6``)."""
    return (map_points(params, "affine", TPS_CONTROL) - TPS_CONTROL.to(params)).reshape(-1, 18)


def tps_to_affine(params: torch.Tensor) -> torch.Tensor:
    """The least-squares affine fit (``N×6``) of a TPS's control-point targets (``N×18``)."""
    n = params.shape[0]
    src = torch.cat([TPS_CONTROL, torch.ones(9, 1)], -1).to(params).unsqueeze(0).expand(n, -1, -1)  # N×9×3
    sol = torch.linalg.lstsq(src, tps_targets(params)).solution  # N×3×2: [x y 1] @ sol = target
    return (sol.transpose(1, 2) - torch.eye(2, 3, device=params.device, dtype=params.dtype)).reshape(n, 6)


def optimise_params(fa: torch.Tensor, fb: torch.Tensor, kind: str = "affine", steps: int = 60, lr: float = 0.02,
                    init: torch.Tensor | None = None, smooth: float = 1.0, tps_reg: float = 0.05,
                    reg: float = 0.03, area_reg: float = 0.2) -> torch.Tensor:
    """Parameters maximising :func:`correlation_score`, without a network.

    Maximising the mean correlation alone degenerates between a photo and a painting: magnifying a small,
    uniform region makes every sampled feature alike (measured: an 8× horizontal zoom). So the parameters are
    kept in a box around the training range (:data:`PARAM_BOX`), ``reg · ‖Θ‖²`` pulls toward the identity and
    ``area_reg · (log det A)²`` (``A``: the affine part) penalises changing the area — without it the optimum
    was still a 2.5× zoom into a uniform region (a cat's eye for The Scream).

    Multi-start Adam: 9 affine starts (rotation ±15° × zoom 0.85–1.2, plus the affine part of ``init`` when
    given) are optimised on Gaussian-blurred features (``smooth`` cells: a wider basin), the best is refined
    on the sharp features. For ``tps`` that affine starts an 18-parameter refinement with an L2 penalty
    ``tps_reg`` on its departure from the start; with a TPS ``init`` it is refined the same way, and the
    candidate with the higher score is returned.

    Args:
        fa, fb: ``1×C×h×w`` features of content and geometric style (normalised here).
        init: ``1×P`` estimate of ``kind`` to start from as well (e.g. the regressor's).

    Returns:
        ``1×P`` offsets.
    """
    check_kind(kind)
    fa, fb = l2_normalise(fa[:1].detach().float()), l2_normalise(fb[:1].detach().float())

    def blur(f: torch.Tensor, sigma: float) -> torch.Tensor:
        if sigma <= 0:
            return f
        from kornia.filters import gaussian_blur2d

        k = 2 * math.ceil(2 * sigma) + 1
        return l2_normalise(gaussian_blur2d(f, (k, k), (sigma, sigma), border_type="replicate"))

    def score(p: torch.Tensor, k: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return correlation_score(a.expand(len(p), -1, -1, -1), b.expand(len(p), -1, -1, -1), p, k)

    def run(start: torch.Tensor, k: str, a: torch.Tensor, b: torch.Tensor, n_steps: int,
            anchor: torch.Tensor | None = None) -> torch.Tensor:
        p = start.clone().requires_grad_(True)
        opt = torch.optim.Adam([p], lr=lr)
        for _ in range(n_steps):
            opt.zero_grad(set_to_none=True)
            loss = -score(p, k, a, b)
            if anchor is not None:
                loss = loss + tps_reg * (p - anchor).pow(2).sum(-1)
            loss = loss + reg * p.pow(2).sum(-1)
            lin = affine_matrix(p if k == "affine" else tps_to_affine(p))[:, :, :2]
            loss = loss + area_reg * torch.log(torch.linalg.det(lin).abs().clamp_min(1e-3)).pow(2)
            loss.sum().backward()
            opt.step()
            with torch.no_grad():
                box = PARAM_BOX[k].to(p)
                p.copy_(torch.maximum(torch.minimum(p, box), -box))
        return p.detach()

    with torch.enable_grad():
        starts = _starts(kind, fa.device)
        if init is not None:
            init = init.detach().to(fa).reshape(1, -1)
            starts = torch.cat([starts, init if kind == "affine" else tps_to_affine(init)])
        fa_s, fb_s = blur(fa, smooth), blur(fb, smooth)
        cand = run(starts, "affine", fa_s, fb_s, steps)
        with torch.no_grad():
            best = cand[score(cand, "affine", fa_s, fb_s).argmax()].unsqueeze(0)
        best = run(best, "affine", fa, fb, steps // 2)
        if kind == "affine":
            return best
        start = affine_to_tps(best)
        cands = [run(start, "tps", fa, fb, steps, anchor=start)]
        if init is not None:
            cands.append(run(init, "tps", fa, fb, steps, anchor=init))
        cands_t = torch.cat(cands)
        with torch.no_grad():
            return cands_t[score(cands_t, "tps", fa, fb).argmax()].unsqueeze(0)


__all__ = ["GEOMETRY_LAYER", "GEOMETRY_SIZE", "KINDS", "PARAM_BOX", "TPS_CONTROL", "GeometryRegressor", "affine_matrix",
           "affine_to_tps", "tps_to_affine", "check_kind", "correlation", "correlation_score", "evaluation_points", "geometry_view",
           "grid_loss", "identity_params", "interpolate_params", "l2_normalise", "map_points", "match_input",
           "normalise_correlation", "optimise_params", "pixel_centres", "point_error_px", "random_params",
           "sampling_grid", "tps_targets", "vgg_features", "warp_image", "cover_zoom", "frame_edge", "uncovered"]
