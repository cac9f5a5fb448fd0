"""Image-sequence folders (DAVIS layout ``00000.jpg, 00001.jpg, …``) as frame sources and outputs.

A folder reads like a constant-rate video: frame ``i`` has ``pts = i`` in time base
``1/fps`` (default 25 fps). Writing a folder is atomic: frames go to a hidden
temporary folder beside the target, which is renamed onto it only on success.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..config import IMAGE_SUFFIXES
from ..errors import MediaError, VidstyleError
from .frames import VideoInfo, even_size, select_frame

__all__ = ["IMAGE_EXTS", "ImageSequenceSource", "ImageSequenceWriter", "list_frames"]

#: Frame files of a folder (the one image-suffix set, :data:`vidstyle.config.IMAGE_SUFFIXES`).
IMAGE_EXTS = frozenset(IMAGE_SUFFIXES)


def _natural_key(path: Path) -> list:
    """Sort ``frame2.png`` before ``frame10.png``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def list_frames(folder: str | Path) -> list[Path]:
    """The image files of ``folder`` (:data:`IMAGE_EXTS`) in natural name order (hidden files skipped).

    Raises:
        MediaError: the folder holds no such images.
    """
    folder = Path(folder)
    files = [p for p in folder.iterdir()
             if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".") and p.is_file()]
    if not files:
        raise MediaError(f"{folder}: folder contains no image frames ({', '.join(IMAGE_SUFFIXES)})")
    return sorted(files, key=_natural_key)


def _read_rgb(path: Path) -> np.ndarray:
    """``H×W×3`` uint8 RGB (grey and alpha images converted; alpha dropped)."""
    array = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if array is None:
        raise MediaError(f"{path}: cannot read this frame (corrupt or not an image)")
    return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)


class ImageSequenceSource:
    """A folder of frames as a :class:`~vidstyle.media.reader.VideoReader` source."""

    def __init__(self, folder: Path, size: int | None, start: float | None, end: float | None,
                 frames: tuple[int, int] | None, fps: float = 25) -> None:
        self.files = list_frames(folder)
        self.size, self.start, self.end, self.sel = size, start, end, frames
        self.stopped_early: str | None = None
        first = _read_rgb(self.files[0])
        h, w = first.shape[:2]
        self._coded = (w, h)
        out_w, out_h = even_size(w, h, size)
        rate = Fraction(fps).limit_denominator(1001)
        n = len(self.files)
        selected = [i for i in range(n) if select_frame(i, float(i / rate), frames, start, end) == 0]
        self.info = VideoInfo(
            path=folder, width=out_w, height=out_h, source_width=w, source_height=h, fps=rate,
            time_base=1 / rate, frame_count=len(selected), duration=float(len(selected) / rate), rotation=0,
            has_audio=False, codec=self.files[0].suffix.lower().lstrip("."), is_sequence=True,
            source_frame_count=n, source_duration=float(n / rate),
            trimmed=frames is not None or start is not None or end is not None,
        )

    def frames(self) -> Iterator[tuple[int, int, np.ndarray]]:
        self.stopped_early = None
        rate = self.info.fps
        w, h = self.info.width, self.info.height
        for i, path in enumerate(self.files):
            where = select_frame(i, float(i / rate), self.sel, self.start, self.end)
            if where < 0:
                continue
            if where > 0:
                return
            array = _read_rgb(path)
            if (array.shape[1], array.shape[0]) != self._coded:
                raise MediaError(f"{path}: is {array.shape[1]}×{array.shape[0]} but the first frame is "
                                 f"{self._coded[0]}×{self._coded[1]}; all frames must have the same size")
            if (w, h) != self._coded:
                shrink = w * h < self._coded[0] * self._coded[1]
                array = cv2.resize(array, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
            yield i, i, array


class ImageSequenceWriter:
    """Write frames as ``00000.png, 00001.png, …`` into a folder, atomically.

    Used by :class:`~vidstyle.media.writer.VideoWriter` when the output path has no
    video extension. Frames are numbered in the order written.

    Raises:
        VidstyleError: the target exists (without ``force``) or is a file.
    """

    def __init__(self, path: str | Path, *, force: bool = False, ext: str = ".png") -> None:
        self.path = Path(path)
        self.force = force
        self.ext = ext
        if self.path.exists() and not self.path.is_dir():
            raise VidstyleError(f"output {self.path} exists and is not a folder; choose another name")
        if self.path.exists() and not force:
            raise VidstyleError(f"output folder {self.path} already exists; use --force to replace it")
        parent = self.path.parent
        if not parent.is_dir():
            raise VidstyleError(f"output folder {parent} does not exist; create it first")
        from .atomic import hold, remove_stale_parts

        remove_stale_parts(self.path)
        self.tmp = parent / f".{self.path.name}.{uuid.uuid4().hex[:8]}.part"
        self.tmp.mkdir()
        self._lock = hold(self.tmp)  # released by commit/abort, or by the kernel if we die
        self.count = 0

    def write_array(self, array: np.ndarray) -> None:
        """Write one ``H×W×3`` uint8 RGB frame."""
        Image.fromarray(array).save(self.tmp / f"{self.count:05d}{self.ext}")
        self.count += 1

    def commit(self) -> Path:
        """Move the finished folder onto the target (replacing it with ``force``)."""
        if self.count == 0:
            self.abort()
            raise MediaError(f"nothing was written for {self.path}")
        old = None
        if self.path.exists():
            if not self.force:
                self.abort()
                raise VidstyleError(f"output {self.path} appeared while rendering; use --force to replace it")
            old = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}.old")
            os.replace(self.path, old)
        os.replace(self.tmp, self.path)
        self._release()
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.path

    def abort(self) -> None:
        """Remove the temporary folder; the target is untouched."""
        self._release()
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.tmp)

    def _release(self) -> None:
        from .atomic import release

        release(getattr(self, "_lock", None))
        self._lock = None
