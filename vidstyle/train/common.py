"""Training plumbing shared by every trainer (feed-forward nets here, decoders elsewhere).

* :func:`save_checkpoint` / :func:`load_checkpoint`: model, optimiser, step, RNG
  states and loss history in one file, written atomically (a crash never leaves a
  half-written checkpoint).
* :class:`StopOnInterrupt`: Ctrl-C (SIGINT) or SIGTERM sets a flag instead of
  raising, so the loop can finish its step, save a checkpoint and exit cleanly.
* :func:`plot_losses`: a loss-curve PNG (matplotlib, Agg backend, no display).
* :class:`LossHistory`: per-step loss values, with smoothed summaries for the bar.
"""

from __future__ import annotations

import random
import signal
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import VidstyleError


class LossHistory:
    """Loss values per step: ``{name: [(step, value), …]}``."""

    def __init__(self, data: dict[str, list[tuple[int, float]]] | None = None) -> None:
        self.data: dict[str, list[tuple[int, float]]] = defaultdict(list, data or {})

    def add(self, step: int, **losses: float) -> None:
        for k, v in losses.items():
            self.data[k].append((step, float(v)))

    def recent(self, name: str, n: int = 20) -> float:
        """Mean of the last ``n`` values of ``name`` (NaN when empty)."""
        vals = [v for _, v in self.data.get(name, [])[-n:]]
        return float(np.mean(vals)) if vals else float("nan")

    def summary(self, n: int = 20) -> dict[str, float]:
        return {k: self.recent(k, n) for k in self.data}

    def to_dict(self) -> dict[str, list[tuple[int, float]]]:
        return dict(self.data)


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def save_checkpoint(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None, step: int,
                    history: LossHistory, extra: dict[str, Any] | None = None) -> Path:
    """Write a resumable checkpoint atomically (temp file beside it, then rename)."""
    from ..media.atomic import replacing

    path = Path(path)
    with replacing(path) as tmp:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict() if optimizer else None,
                    "step": step, "rng": rng_state(), "history": history.to_dict(), "extra": extra or {}}, tmp)
    return path


def load_checkpoint(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    restore_rng: bool = True) -> tuple[int, LossHistory, dict[str, Any]]:
    """Restore a checkpoint into ``model`` (and ``optimizer``); return ``(step, history, extra)``.

    Raises:
        VidstyleError: the file is missing, unreadable, or belongs to another network.
    """
    path = Path(path)
    if not path.is_file():
        raise VidstyleError(f"checkpoint not found: {path}; drop --resume to start from scratch")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)  # our own file: holds numpy RNG state
        model.load_state_dict(ckpt["model"])
        if optimizer is not None and ckpt.get("optimizer"):
            optimizer.load_state_dict(ckpt["optimizer"])
    except (RuntimeError, KeyError, EOFError, OSError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise VidstyleError(f"cannot resume from {path}: {first}") from None
    if restore_rng and "rng" in ckpt:
        set_rng_state(ckpt["rng"])
    return int(ckpt["step"]), LossHistory(ckpt.get("history")), ckpt.get("extra", {})


class StopOnInterrupt:
    """Context manager: SIGINT/SIGTERM set ``self.stop`` instead of killing the loop mid-step.

    A second Ctrl-C raises :class:`KeyboardInterrupt` as usual (an escape hatch).
    Only installs handlers in the main thread.
    """

    def __init__(self) -> None:
        self.stop = False
        self._old: dict[int, Any] = {}

    def _handle(self, signum, frame) -> None:  # noqa: ARG002
        if self.stop and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.stop = True

    def __enter__(self) -> StopOnInterrupt:
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        except ValueError:  # not the main thread
            self._old.clear()
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def plot_losses(history: LossHistory, path: str | Path, title: str = "training loss", smooth: int = 10) -> Path:
    """Loss curves (one line per term, log scale, moving average over ``smooth`` steps) → PNG, atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for name, points in history.data.items():
        if not points:
            continue
        steps = np.array([s for s, _ in points])
        vals = np.array([v for _, v in points])
        k = max(1, min(smooth, len(vals)))
        avg = np.convolve(vals, np.ones(k) / k, mode="valid")
        ax.plot(steps[k - 1:], np.maximum(avg, 1e-12), label=name)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    from ..media.atomic import replacing

    try:
        with replacing(path) as tmp:
            fig.savefig(tmp)
    finally:
        plt.close(fig)
    return path


__all__ = ["LossHistory", "save_checkpoint", "load_checkpoint", "StopOnInterrupt", "plot_losses", "seed_everything",
           "rng_state", "set_rng_state"]
