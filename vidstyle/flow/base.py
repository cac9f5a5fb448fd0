"""The flow-estimator interface and the registry of backends."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import torch

from ..errors import VidstyleError


class FlowEstimator(ABC):
    """Estimates optical flow between two batches of frames.

    ``estimate(a, b)``: ``a``, ``b`` are ``N×3×H×W`` RGB in [0, 1]; returns ``N×2×H×W``
    in pixels on ``a``'s device, with the convention of :mod:`vidstyle.flow`
    (``warp(b, flow) ≈ a``).
    """

    name: str = "?"

    @abstractmethod
    def estimate(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor: ...

    def estimate_pair(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both directions, ``(estimate(a, b), estimate(b, a))`` (what a reliability mask needs).

        Backends may do the two at once (OpenCV's run them on two threads).
        """
        return self.estimate(a, b), self.estimate(b, a)


_REGISTRY: dict[str, Callable[..., FlowEstimator]] = {}


def register(name: str) -> Callable:
    def deco(factory: Callable[..., FlowEstimator]) -> Callable[..., FlowEstimator]:
        _REGISTRY[name] = factory
        return factory

    return deco


def _load_backends(name: str | None = None) -> None:
    """Import backend modules (each registers itself); RAFT's only when it may be needed (slow import)."""
    from . import opencv  # noqa: F401  (registers dis, dis-fast, deepflow)

    if name is None or name == "auto" or name.startswith("raft"):
        from . import raft  # noqa: F401  (registers raft-small, raft-large)


def available_estimators() -> list[str]:
    _load_backends()
    return sorted(_REGISTRY)


def get_estimator(name: str = "dis", weights: str | Path | None = None, device: torch.device | str = "cpu") -> FlowEstimator:
    """Build a flow estimator by name (``dis``, ``dis-fast``, ``deepflow``, ``raft-small``, ``raft-large``, ``auto``).

    ``auto`` takes RAFT-large when its weights are available, otherwise DIS.
    """
    _load_backends(name)
    if name == "auto":
        for candidate in ("raft-large", "raft-small"):
            if candidate in _REGISTRY:
                try:
                    return _REGISTRY[candidate](weights=weights, device=device)
                except VidstyleError:
                    continue
        name = "dis"
    if name not in _REGISTRY:
        _load_backends()  # list every backend in the message
        raise VidstyleError(f"unknown flow method {name!r}; choose from auto, {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](weights=weights, device=device)
