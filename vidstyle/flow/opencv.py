"""OpenCV's classical flow: DIS (fast, default) and DeepFlow (opencv-contrib, slower, more accurate).

Both run on the CPU on grey uint8 frames; the result is moved to the input's device.
:meth:`OpenCVFlow.estimate_pair` converts each frame to grey once and runs the two
directions at the same time on two estimator instances (OpenCV releases the GIL).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import torch

from .base import FlowEstimator, register

#: Smallest side the OpenCV estimators get; smaller frames are upscaled (DIS needs ≥ 12 px, and its patches 8).
MIN_SIDE = 16


def to_grey_uint8(x: torch.Tensor) -> list[np.ndarray]:
    """``N×3×H×W`` RGB [0, 1] → N grey ``H×W`` uint8 arrays (ITU-R 601 luma, as cv2)."""
    w = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    grey = (x * w).sum(1).clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy()
    return list(grey)


class OpenCVFlow(FlowEstimator):
    """Wraps any ``cv2.DenseOpticalFlow`` (``calc(prev, next)`` has our convention)."""

    def __init__(self, name: str, make) -> None:  # noqa: ANN001
        self.name = name
        self._make = make
        self._flow = make()
        self._second = None  # the backward direction's instance and thread, made on first use
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def estimate(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        flows = [_calc(self._flow, ga, gb) for ga, gb in zip(to_grey_uint8(a), to_grey_uint8(b))]
        return _to_tensor(flows, a)

    def estimate_pair(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(estimate(a, b), estimate(b, a))``, the backward one on a second thread."""
        with self._lock:
            if self._pool is None:
                self._second, self._pool = self._make(), ThreadPoolExecutor(1, thread_name_prefix="vidstyle-flow")
        grey_a, grey_b = to_grey_uint8(a), to_grey_uint8(b)
        backward = self._pool.submit(lambda: [_calc(self._second, gb, ga) for ga, gb in zip(grey_a, grey_b)])
        forward = [_calc(self._flow, ga, gb) for ga, gb in zip(grey_a, grey_b)]
        return _to_tensor(forward, a), _to_tensor(backward.result(), a)


def _to_tensor(flows: list[np.ndarray], like: torch.Tensor) -> torch.Tensor:
    """N ``H×W×2`` arrays → a contiguous ``N×2×H×W`` tensor on ``like``'s device (contiguous: a
    permuted view makes the later resampling several times slower)."""
    return torch.from_numpy(np.stack(flows)).permute(0, 3, 1, 2).contiguous().to(like.device, like.dtype)


def _calc(flow, a: np.ndarray, b: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """``H×W×2`` flow; frames under :data:`MIN_SIDE` px on a side (OpenCV's DIS refuses them with
    ``width or height >= 12``) are upscaled for the estimate and the flow scaled back."""
    h, w = a.shape
    if min(h, w) >= MIN_SIDE:
        return flow.calc(a, b, None)
    k = -(-MIN_SIDE // min(h, w))
    big = [cv2.resize(x, (w * k, h * k), interpolation=cv2.INTER_LINEAR) for x in (a, b)]
    out = flow.calc(big[0], big[1], None)
    return cv2.resize(out, (w, h), interpolation=cv2.INTER_AREA) / k


@register("dis")
def dis(weights=None, device="cpu") -> OpenCVFlow:  # noqa: ANN001, ARG001
    """DIS, MEDIUM preset: ~0.06 s per 640×360 pair on 2 cores."""
    return OpenCVFlow("dis", lambda: cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM))


@register("dis-fast")
def dis_fast(weights=None, device="cpu") -> OpenCVFlow:  # noqa: ANN001, ARG001
    """DIS, ULTRAFAST preset: a few ms at 360p, for live mode."""
    return OpenCVFlow("dis-fast", lambda: cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST))


@register("deepflow")
def deepflow(weights=None, device="cpu") -> OpenCVFlow:  # noqa: ANN001, ARG001
    """DeepFlow from opencv-contrib: ~20× slower than DIS, more accurate."""
    return OpenCVFlow("deepflow", cv2.optflow.createOptFlow_DeepFlow)
