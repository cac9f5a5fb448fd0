"""A spool of per-frame arrays: in RAM up to a budget, then as ``.npy`` files in a private temporary folder.

Multi-pass renders (keyframe propagation, :mod:`vidstyle.keyframes`; the matte compositor when the frames are
written only after the whole clip was read, :mod:`vidstyle.matte_video`) keep per-frame results here, so that
their memory is bounded by the budget, not by the clip's length. Keys are ``(t, name)``: a frame number and what
is stored for it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["Spool"]


class Spool:
    """Per-frame arrays in RAM up to ``memory_bytes``, then as ``.npy`` files in a temporary folder (``directory``,
    default ``TMPDIR``; its name starts with ``vidstyle-NAME-``).

    Use as a context manager (the folder is removed on exit).
    """

    def __init__(self, memory_bytes: int, directory: str | Path | None = None, name: str = "spool") -> None:
        self.memory_bytes, self.used, self.name = memory_bytes, 0, name
        self._ram: dict[tuple[int, str], np.ndarray] = {}
        self._root = Path(directory) if directory is not None else None
        self._dir: Path | None = None
        self.disk_bytes = 0

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def put(self, t: int, name: str, array: np.ndarray) -> None:
        self.drop(t, name)
        if self.used + array.nbytes <= self.memory_bytes:
            self._ram[t, name] = array
            self.used += array.nbytes
            return
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix=f"vidstyle-{self.name}-", dir=self._root))
        np.save(self._dir / f"{t}.{name}.npy", array, allow_pickle=False)
        self.disk_bytes += array.nbytes

    def get(self, t: int, name: str) -> np.ndarray | None:
        if (t, name) in self._ram:
            return self._ram[t, name]
        path = self._dir / f"{t}.{name}.npy" if self._dir is not None else None
        return np.load(path, allow_pickle=False) if path is not None and path.exists() else None

    def drop(self, t: int, name: str) -> None:
        array = self._ram.pop((t, name), None)
        if array is not None:
            self.used -= array.nbytes
        elif self._dir is not None:
            (self._dir / f"{t}.{name}.npy").unlink(missing_ok=True)

    def close(self) -> None:
        self._ram.clear()
        self.used = 0
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
