"""How large an optimisation (Gatys / Ruder) fits in memory: the documented limit, checked before any work.

Optimisation back-propagates through VGG-19 at the output's full resolution and keeps an L-BFGS history of the
pixels, so its memory grows with the pixel count and cannot be tiled the way a feed-forward network can (the Gram
loss couples every pixel). Measured on the CPU (``vidstyle image --steps 2 --scales 1``, peak RSS, 2026-12-02,
benchmarks/RESULTS.md "Optimisation memory"): 1.39 GB at 384×255 and 2.33 GB at 768×511, i.e. about 3.2 KB per
output pixel on top of ~1.1 GB; the L-BFGS history (50 pairs of 3-channel float32 images) adds 1.2 KB per pixel
by step 50 (computed, not measured). So 1920×1080 needs ~10 GB and 3840×2160 ~38 GB. :func:`check_optimise_fits` refuses, with one line,
a size whose estimate exceeds the memory available, instead of letting the process be killed or raise an OOM
traceback minutes in.
"""

from __future__ import annotations

import torch

from ..errors import VidstyleError

#: Bytes per output pixel: VGG-19 activations and their gradients (3.2 KB measured) + L-BFGS history (1.2 KB).
BYTES_PER_PIXEL = 4400
#: Bytes independent of the size (VGG weights, torch, the process) — the measured intercept.
BASE_BYTES = 1.1e9


def optimise_bytes(height: int, width: int) -> float:
    """Estimated peak memory (bytes) of optimising an ``H×W`` output."""
    return BASE_BYTES + BYTES_PER_PIXEL * height * width


def available_bytes(device: torch.device) -> float | None:
    """Memory free for the work: CUDA's free device memory, else the host's ``MemAvailable`` (None if unknown)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return float(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def largest_fitting_side(height: int, width: int, available: float) -> int:
    """The largest long side (a multiple of 16) at this aspect ratio whose estimate fits in ``available`` bytes."""
    aspect = min(height, width) / max(height, width)
    pixels = max(0.0, (available - BASE_BYTES) / BYTES_PER_PIXEL)
    return max(16, int((pixels / aspect) ** 0.5) // 16 * 16)


def check_optimise_fits(height: int, width: int, device: torch.device | str = "cpu",
                        available: float | None = None) -> None:
    """Raise a one-line :class:`VidstyleError` when optimising an ``H×W`` output would not fit in memory.

    ``available`` (bytes) defaults to :func:`available_bytes`; when that is unknown nothing is checked.
    """
    device = torch.device(device)
    available = available_bytes(device) if available is None else available
    need = optimise_bytes(height, width)
    if available is None or need <= available:
        return
    side = largest_fitting_side(height, width, available)
    raise VidstyleError(
        f"optimisation at {width}×{height} needs about {need / 1e9:.0f} GB of memory and {available / 1e9:.1f} GB "
        f"are free: use --size {side} or less, or a network method (--method fast or magenta), which tiles at 4K")


__all__ = ["BASE_BYTES", "BYTES_PER_PIXEL", "available_bytes", "check_optimise_fits", "largest_fitting_side",
           "optimise_bytes"]
