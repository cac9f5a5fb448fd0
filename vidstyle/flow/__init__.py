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
"""

from .base import FlowEstimator, available_estimators, get_estimator
from .warp import reliability_mask, warp

__all__ = ["FlowEstimator", "available_estimators", "get_estimator", "warp", "reliability_mask"]
