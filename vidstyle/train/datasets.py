"""Training data: random crops of stills, and consecutive DAVIS frame pairs with flow and reliability.

Images are read once, downscaled so their short side is ``1.25 × size`` (crops
then cover most of the picture), and kept in memory as uint8 — a few hundred
photos at 160–256 px are a few tens of MB. Batches come out as float
``N×3×size×size`` in [0, 1].
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..config import IMAGE_SUFFIXES
from ..errors import VidstyleError


def list_images(folders: Sequence[str | Path]) -> list[Path]:
    """Image files directly inside ``folders`` (sorted); a missing or empty folder is a user error."""
    files: list[Path] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise VidstyleError(f"content folder not found: {folder}")
        found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise VidstyleError(f"no images (jpg/png/webp…) in {folder}")
        files += found
    return files


def _load_resized(path: Path, short_side: int) -> np.ndarray:
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            s = short_side / min(im.size)
            im = im.resize((max(short_side, round(im.width * s)), max(short_side, round(im.height * s))),
                           Image.Resampling.LANCZOS)
            return np.asarray(im)
    except OSError as e:
        raise VidstyleError(f"cannot read image {path}: {e}") from None


def _to_tensor(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(arr, copy=True)).permute(2, 0, 1).float().div_(255)


class StillCrops:
    """Random ``size×size`` crops (with random horizontal flips) of the images in some folders."""

    def __init__(self, folders: Sequence[str | Path], size: int, scale: float = 1.25) -> None:
        self.files = list_images(folders)
        self.size = size
        self.images = [_load_resized(p, round(size * scale)) for p in self.files]

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """``batch×3×size×size`` float in [0, 1]."""
        out = []
        for _ in range(batch):
            img = self.images[int(torch.randint(len(self.images), (1,), generator=generator))]
            h, w = img.shape[:2]
            y = int(torch.randint(h - self.size + 1, (1,), generator=generator))
            x = int(torch.randint(w - self.size + 1, (1,), generator=generator))
            crop = img[y:y + self.size, x:x + self.size]
            if torch.rand(1, generator=generator) < 0.5:
                crop = crop[:, ::-1]
            out.append(_to_tensor(crop))
        return torch.stack(out)


def list_sequences(root: str | Path, exclude: Sequence[str] = ()) -> list[Path]:
    """DAVIS-style sequence folders under ``root`` (each holding ``00000.jpg``, ``00001.jpg``…), minus ``exclude``."""
    root = Path(root)
    if not root.is_dir():
        raise VidstyleError(f"video folder not found: {root}")
    if any(p.suffix.lower() in IMAGE_SUFFIXES for p in root.iterdir()):
        seqs = [root]  # the folder is itself one sequence
    else:
        seqs = sorted(p for p in root.iterdir() if p.is_dir() and p.name not in set(exclude))
    seqs = [s for s in seqs if len(list_images([s])) >= 2]
    if not seqs:
        raise VidstyleError(f"no frame sequences (folders of ≥ 2 numbered images) in {root}")
    return seqs


class VideoPairs:
    """Consecutive frame pairs ``(current = t+1, previous = t)`` of DAVIS sequences, with flow and reliability.

    Frames are downscaled to short side ``1.25 × size``; the flow ``estimate(current, previous)``
    and its reliability mask (forward–backward check, motion boundaries, Ruder et al.) are
    computed there once per pair with the project's estimator and cached in memory and,
    if ``cache_dir`` is given, on disk. Pairs are cropped at random (same crop for both frames).
    """

    def __init__(self, root: str | Path, size: int, exclude: Sequence[str] = (), flow_method: str = "dis",
                 cache_dir: str | Path | None = None, scale: float = 1.25, max_pairs_per_seq: int | None = None) -> None:
        self.size, self.short = size, round(size * scale)
        self.flow_method = flow_method
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.pairs: list[tuple[Path, Path]] = []
        self.sequences = list_sequences(root, exclude)
        for seq in self.sequences:
            frames = list_images([seq])
            pairs = list(zip(frames[1:], frames[:-1]))
            self.pairs += pairs[:max_pairs_per_seq] if max_pairs_per_seq else pairs
        self._cache: dict[int, tuple[np.ndarray, np.ndarray, torch.Tensor, torch.Tensor]] = {}
        self._estimator = None

    def __len__(self) -> int:
        return len(self.pairs)

    def _cache_file(self, i: int) -> Path | None:
        if self.cache_dir is None:
            return None
        cur, prev = self.pairs[i]
        key = hashlib.sha1(f"{cur.resolve()}|{prev.resolve()}|{self.short}|{self.flow_method}".encode()).hexdigest()[:16]
        return self.cache_dir / f"{cur.parent.name}_{cur.stem}_{key}.pt"

    def _load(self, i: int):
        if i in self._cache:
            return self._cache[i]
        cur_p, prev_p = self.pairs[i]
        cur, prev = _load_resized(cur_p, self.short), _load_resized(prev_p, self.short)
        file = self._cache_file(i)
        if file is not None and file.is_file():
            flow, mask = torch.load(file, weights_only=True)
        else:
            from ..flow import get_estimator, reliability_mask

            if self._estimator is None:
                self._estimator = get_estimator(self.flow_method)
            a, b = _to_tensor(cur)[None], _to_tensor(prev)[None]
            fwd, bwd = self._estimator.estimate(a, b), self._estimator.estimate(b, a)
            flow, mask = fwd[0].half(), reliability_mask(fwd, bwd)[0].bool()
            if file is not None:
                file.parent.mkdir(parents=True, exist_ok=True)
                torch.save((flow, mask), file)
        item = (cur, prev, flow, mask)
        self._cache[i] = item
        return item

    def sample(self, batch: int, generator: torch.Generator
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(current, previous, flow, mask)``: ``B×3×S×S`` ×2 in [0, 1], ``B×2×S×S`` pixels, ``B×1×S×S`` in {0, 1}."""
        cur_b, prev_b, flow_b, mask_b = [], [], [], []
        s = self.size
        for _ in range(batch):
            cur, prev, flow, mask = self._load(int(torch.randint(len(self.pairs), (1,), generator=generator)))
            h, w = cur.shape[:2]
            y = int(torch.randint(h - s + 1, (1,), generator=generator))
            x = int(torch.randint(w - s + 1, (1,), generator=generator))
            f = flow[:, y:y + s, x:x + s].float()
            m = mask[:, y:y + s, x:x + s].float()
            # A flow that points outside the crop is not usable inside it.
            from ..flow.warp import inside_frame

            m = m * inside_frame(f[None])[0].float()
            cur_b.append(_to_tensor(cur[y:y + s, x:x + s]))
            prev_b.append(_to_tensor(prev[y:y + s, x:x + s]))
            flow_b.append(f)
            mask_b.append(m)
        return torch.stack(cur_b), torch.stack(prev_b), torch.stack(flow_b), torch.stack(mask_b)


__all__ = ["IMAGE_SUFFIXES", "list_images", "StillCrops", "list_sequences", "VideoPairs"]
