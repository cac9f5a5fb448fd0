"""Optical flow: estimators behind one interface, warping and reliability masks.

Convention (the ONE used everywhere in vidstyle)
-------------------------------------------------
``flow = estimator.estimate(a, b)`` is an ``N×2×H×W`` float tensor in **pixels**,
channel 0 = x (u, to the right), channel 1 = y (v, downwards), such that
**sampling ``b`` at ``p + flow(p)`` reproduces ``a``**:

    a(p) ≈ b(p + flow(p))      i.e.  warp(b, flow) ≈ a

This is OpenCV's ``calcOpticalFlow*(prev=a, next=b)`` convention and the one of
shared/METRICS.md (forward flow I_t → I_{t+k}). To bring the previous stylised
frame O_{t−1} onto frame t, estimate ``flow = estimate(I_t, I_{t−1})`` and call
``warp(O_{t−1}, flow)``.

The names below are loaded on first use: importing the package (e.g. for :data:`.base.ESTIMATORS`, the
``--flow`` choices) does not import torch.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import FlowEstimator, available_estimators, get_estimator
    from .warp import reliability_mask, warp

__all__ = ["FlowEstimator", "available_estimators", "get_estimator", "warp", "reliability_mask"]

_HOMES = {"FlowEstimator": ".base", "available_estimators": ".base", "get_estimator": ".base",
          "warp": ".warp", "reliability_mask": ".warp"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Package(types.ModuleType):
    """``vidstyle.flow.warp`` is the function (as when this package imported it eagerly), although a submodule of
    that name exists: the import system's binding of the loaded submodule to the package is ignored."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _HOMES and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
