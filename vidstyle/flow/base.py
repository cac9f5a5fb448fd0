"""The flow-estimator interface and the registry of backends.

The backends' names are declared in :data:`ESTIMATORS` (with the module that registers each), so listing them
(``--flow`` choices, config validation) imports neither torch nor OpenCV; a backend's module is imported when
it is first built.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import VidstyleError

if TYPE_CHECKING:
    import torch

#: Every built-in estimator: name → the module that registers it with :func:`register`. ``auto`` (not listed) is
#: the policy of :func:`get_estimator`.
ESTIMATORS: dict[str, str] = {
    "deepflow": "vidstyle.flow.opencv",
    "dis": "vidstyle.flow.opencv",
    "dis-fast": "vidstyle.flow.opencv",
    "raft-large": "vidstyle.flow.raft",
    "raft-small": "vidstyle.flow.raft",
}


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


def _load_backend(name: str) -> None:
    """Import the module that registers ``name`` (a no-op for names registered at run time, e.g. by tests)."""
    if name not in _REGISTRY and name in ESTIMATORS:
        importlib.import_module(ESTIMATORS[name])


def available_estimators() -> list[str]:
    """Every estimator name (declared or registered), sorted; imports no backend."""
    return sorted({*ESTIMATORS, *_REGISTRY})


def get_estimator(name: str = "dis", weights: str | Path | None = None, device: torch.device | str = "cpu") -> FlowEstimator:
    """Build a flow estimator by name (``dis``, ``dis-fast``, ``deepflow``, ``raft-small``, ``raft-large``, ``auto``).

    ``auto`` takes RAFT-large when its weights are available, otherwise DIS.
    """
    if name == "auto":
        for candidate in ("raft-large", "raft-small"):
            _load_backend(candidate)
            if candidate in _REGISTRY:
                try:
                    return _REGISTRY[candidate](weights=weights, device=device)
                except VidstyleError:
                    continue
        name = "dis"
    _load_backend(name)
    if name not in _REGISTRY:
        raise VidstyleError(f"unknown flow method {name!r}; choose from auto, {', '.join(available_estimators())}")
    return _REGISTRY[name](weights=weights, device=device)
