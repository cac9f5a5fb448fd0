"""RAFT (Teed & Deng 2020) from torchvision: ``raft-small`` and ``raft-large``.

Weights are torchvision's ``Raft_Small_Weights.DEFAULT`` / ``Raft_Large_Weights.DEFAULT``,
found **offline** — nothing here downloads:

* the torch hub cache, ``torch.hub.get_dir()/checkpoints/<file name of the weights' url>``
  (where ``torchvision`` itself would have put them), or
* an explicit file (``weights=`` / ``--flow-weights PATH``) holding a state dict of the
  same architecture.

Checksum: torchvision names its files ``<name>-<first hex digits of the SHA-256>.pth``
(torch hub's ``check_hash`` convention). A file whose name carries such a fragment is
verified against it; the hub-cache file must match the official one. A missing,
corrupt or mismatched file raises :class:`~vidstyle.errors.WeightsError` (one line,
saying where to put the file), so ``get_estimator("auto")`` falls back to DIS.

Convention: in torchvision's ``RAFT(img1, img2)`` the correlation volume is
``fmap1(p) · fmap2(q)`` (``CorrBlock._compute_corr_volume``), looked up at
``q = coords1 = p + flow`` (``index_pyramid``); it was trained on Sintel / FlyingChairs /
KITTI ground truth, whose flow satisfies *img2 sampled at p + flow(p) reproduces img1*
(checked for Sintel in ``tests/test_flow.py``). That is the :mod:`vidstyle.flow`
convention, so ``estimate(a, b) = RAFT(a, b)`` with no sign change. (Read from the code:
without trained weights the sign cannot be confirmed numerically here.)
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import WeightsError
from ..weights import RaftWeights, Weights
from .base import FlowEstimator, register

RAFT_VARIANTS = ("raft-small", "raft-large")


def _arch(name: str):  # noqa: ANN202 - (builder, torchvision weights entry); torchvision imported on use only
    from torchvision.models.optical_flow import Raft_Large_Weights, Raft_Small_Weights, raft_large, raft_small

    return {"raft-small": (raft_small, Raft_Small_Weights.DEFAULT),
            "raft-large": (raft_large, Raft_Large_Weights.DEFAULT)}[name]


def raft_weights(name: str) -> Weights:
    """The declared entry of ``name``'s weights (:class:`vidstyle.weights.RaftWeights`)."""
    return RaftWeights.verify(name).weights  # type: ignore[no-any-return]


def official_file_name(name: str) -> str:
    """File name torchvision uses for ``name``'s default weights, e.g. ``raft_small_C_T_V2-01064c6d.pth``."""
    return raft_weights(name).file


def hub_path(name: str) -> Path:
    """Where torchvision's weights for ``name`` sit in the torch hub cache."""
    return raft_weights(name).default_path()  # type: ignore[return-value]


def locate_raft_weights(name: str, weights: str | Path | None = None) -> tuple[Weights, Path]:
    """The entry and file for ``name``: ``weights`` if given (its entry checks it against the hash fragment of its
    name, if it has one), else torchvision's file in the hub cache (checked against the official one). Only the
    file's existence is checked here; :meth:`Weights.load` checks its SHA-256 (once per file, cached).

    Raises:
        WeightsError: the file does not exist.
    """
    entry = raft_weights(name)
    if weights is None:
        path = entry.default_path()
        if path is None or not path.is_file():
            raise WeightsError(f"no {name} weights available offline: {entry.advice()}")
        return entry, path
    path = Path(weights)
    if not path.is_file():
        raise WeightsError(f"{name} weight file not found: {path}")
    return entry.at(path), path


def _load_model(name: str, path: str, official: bool) -> torch.nn.Module:
    """A fresh eval-mode model per caller (each may move it to its own device); file reads are cached."""
    builder, _ = _arch(name)
    model = builder(weights=None)
    model.load_state_dict(_load_state(name, path, official), strict=True)
    return model.eval().requires_grad_(False)


@lru_cache(maxsize=4)
def _load_state(name: str, path: str, official: bool) -> dict[str, torch.Tensor]:
    """Checksum, read and check a RAFT state dict against ``name``'s architecture (CPU tensors)."""
    builder, _ = _arch(name)
    entry = raft_weights(name) if official else raft_weights(name).at(path)
    state, _meta = entry.load(path)
    expected = builder(weights=None).state_dict()
    missing = [k for k in expected if k not in state]
    wrong = [k for k in expected if k in state and getattr(state[k], "shape", None) != expected[k].shape]
    unexpected = [k for k in state if k not in expected]
    if missing or wrong or unexpected:
        raise WeightsError(f"{path} does not hold {name} weights: {len(missing)} missing, {len(unexpected)} unexpected "
                           f"and {len(wrong)} wrongly shaped tensors (e.g. {(missing + wrong + unexpected)[0]})")
    return state


def pad_to_multiple(x: torch.Tensor, multiple: int = 8, minimum: int = 0) -> tuple[torch.Tensor, tuple[int, int]]:
    """Replicate-pad ``N×C×H×W`` on the right and bottom to multiples of ``multiple`` (and at least ``minimum``).

    Returns the padded tensor and the original (H, W), to crop the flow back.
    """
    h, w = x.shape[-2:]
    ph, pw = max((-h) % multiple, minimum - h), max((-w) % multiple, minimum - w)
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, (h, w)


class RaftFlow(FlowEstimator):
    """torchvision RAFT behind the :class:`FlowEstimator` interface.

    Args:
        name: ``raft-small`` or ``raft-large``.
        weights: explicit weight file, or ``None`` for the torch hub cache.
        device: where the network runs (frames are moved there and the flow moved back).
        iterations: recurrent refinement steps (torchvision's default is 12).
    """

    def __init__(self, name: str, weights: str | Path | None = None, device: torch.device | str = "cpu",
                 iterations: int = 12) -> None:
        if name not in RAFT_VARIANTS:
            raise WeightsError(f"unknown RAFT variant {name!r}; use {', '.join(RAFT_VARIANTS)}")
        self.name = name
        _entry, path = locate_raft_weights(name, weights)
        self.weights_path = path
        self.device = torch.device(device)
        self.model = _load_model(name, str(path.resolve()), weights is None).to(self.device)
        self.transforms = _arch(name)[1].transforms()  # [0, 1] → [-1, 1]
        self.iterations = iterations

    @torch.inference_mode()
    def estimate(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``a``, ``b``: ``N×3×H×W`` RGB [0, 1] → ``N×2×H×W`` flow in pixels on ``a``'s device."""
        if a.shape != b.shape or a.dim() != 4 or a.shape[1] != 3:
            raise ValueError(f"RAFT needs two N×3×H×W batches of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
        x1, x2 = self.transforms(a.to(self.device, torch.float32), b.to(self.device, torch.float32))
        # RAFT works at 1/8 resolution and its correlation pyramid halves that num_levels − 1 more
        # times, keeping ≥ 2 cells: frames smaller than that are padded too.
        minimum = 8 * 2 * 2 ** (self.model.corr_block.num_levels - 1)
        x1, (h, w) = pad_to_multiple(x1, 8, minimum)
        x2, _ = pad_to_multiple(x2, 8, minimum)
        flow = self.model(x1, x2, num_flow_updates=self.iterations)[-1]  # last refinement
        return flow[..., :h, :w].to(a.device, a.dtype)


@register("raft-small")
def raft_small_estimator(weights=None, device="cpu") -> RaftFlow:
    """RAFT-small (1.0 M parameters): torchvision ``Raft_Small_Weights.DEFAULT``."""
    return RaftFlow("raft-small", weights, device)


@register("raft-large")
def raft_large_estimator(weights=None, device="cpu") -> RaftFlow:
    """RAFT-large (5.3 M parameters): torchvision ``Raft_Large_Weights.DEFAULT``."""
    return RaftFlow("raft-large", weights, device)


__all__ = ["RaftFlow", "hub_path", "locate_raft_weights", "official_file_name", "pad_to_multiple", "raft_weights"]
