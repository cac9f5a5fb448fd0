"""Middlebury ``.flo`` files: read and write ground-truth or estimated flow.

Format (Baker et al., used by Middlebury, MPI-Sintel and FlyingChairs): little-endian
float32 magic ``202021.25``, int32 width, int32 height, then ``height × width × 2``
float32 values (u, v) row by row. Sintel and FlyingChairs store flow frame t → t+1
with *sampling frame t+1 at p + flow(p) reproduces frame t* — exactly the
:mod:`vidstyle.flow` convention, so a ``.flo`` flow needs no sign change.

Values above ``1e9`` in magnitude mark unknown flow in Middlebury files (see
:func:`valid_flo`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import VidstyleError
from ..media.atomic import atomic_output

FLO_MAGIC = 202021.25
#: Middlebury's "unknown flow" threshold.
UNKNOWN_FLOW = 1e9


def read_flo(path: str | Path) -> torch.Tensor:
    """Read a ``.flo`` file.

    Returns:
        ``1×2×H×W`` float32 tensor in pixels (channel 0 = u/x, 1 = v/y).

    Raises:
        VidstyleError: when the file is missing, has the wrong magic number or is truncated.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise VidstyleError(f"cannot read flow file {path}: {e.strerror}") from None
    if len(data) < 12 or np.frombuffer(data[:4], "<f4")[0] != np.float32(FLO_MAGIC):
        raise VidstyleError(f"{path} is not a .flo file (magic number {FLO_MAGIC} missing)")
    w, h = (int(v) for v in np.frombuffer(data[4:12], "<i4"))
    expected = 12 + 4 * 2 * w * h
    if w <= 0 or h <= 0 or len(data) < expected:
        raise VidstyleError(f"{path} is truncated or corrupt: header says {w}×{h}, file has {len(data)} bytes")
    flow = np.frombuffer(data[12:expected], "<f4").reshape(h, w, 2)
    return torch.from_numpy(flow.copy()).permute(2, 0, 1).unsqueeze(0)


def write_flo(flow: torch.Tensor, path: str | Path, force: bool = False) -> None:
    """Write a ``1×2×H×W`` (or ``2×H×W``) flow as a ``.flo`` file, atomically."""
    if flow.dim() == 4:
        if flow.shape[0] != 1:
            raise ValueError(f"write_flo takes one flow, got a batch of shape {tuple(flow.shape)}")
        flow = flow[0]
    if flow.dim() != 3 or flow.shape[0] != 2:
        raise ValueError(f"write_flo expects 2×H×W, got {tuple(flow.shape)}")
    _, h, w = flow.shape
    uv = flow.detach().permute(1, 2, 0).to("cpu", torch.float32).contiguous().numpy().astype("<f4")
    with atomic_output(path, force) as tmp, open(tmp, "wb") as f:
        f.write(np.array([FLO_MAGIC], "<f4").tobytes())
        f.write(np.array([w, h], "<i4").tobytes())
        f.write(uv.tobytes())


def valid_flo(flow: torch.Tensor) -> torch.Tensor:
    """``N×1×H×W`` bool: finite and not Middlebury's "unknown" (|value| > 1e9) in both channels."""
    return (torch.isfinite(flow) & (flow.abs() < UNKNOWN_FLOW)).all(1, keepdim=True)


def endpoint_error(estimate: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """Mean end-point error ``mean_p |estimate − truth|₂`` in pixels over ``mask`` (and valid truth).

    Args:
        estimate, truth: ``N×2×H×W`` flows in pixels.
        mask: optional ``N×1×H×W`` bool/float; pixels where it is 0 are ignored.
    """
    keep = valid_flo(truth)
    if mask is not None:
        keep = keep & (mask > 0)
    epe = (estimate - torch.nan_to_num(truth, 0.0, 0.0, 0.0)).pow(2).sum(1, keepdim=True).sqrt()
    n = keep.sum()
    if n == 0:
        raise ValueError("endpoint_error: no valid pixels")
    return float(epe[keep].sum() / n)


__all__ = ["FLO_MAGIC", "endpoint_error", "read_flo", "valid_flo", "write_flo"]
