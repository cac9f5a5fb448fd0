"""Regression tests of issue #20: bad inputs and faults must lose nothing and waste nothing.

Every input is built here (tiny synthetic clips, links, read-only folders); what root cannot
simulate (permission checks) is skipped and says so.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from clips import make_clip

from vidstyle.media.image import save_image
from vidstyle.stylise.base import Styliser

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    import vidstyle.device

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setattr(vidstyle.device, "use_all_cores", lambda: 1)
    yield
    torch.set_num_threads(n)


class Invert(Styliser):
    def stylise(self, frames, state=None):
        return 1 - frames


@pytest.fixture
def invert(monkeypatch):
    """Replace every method by a cheap inversion (the tests are about files, not paintings)."""
    import vidstyle.methods

    monkeypatch.setattr(vidstyle.methods, "build_styliser", lambda *a, **k: (Invert(), "invert (test)"))


@pytest.fixture
def style(tmp_path) -> Path:
    path = tmp_path / "style.png"
    save_image(torch.rand(1, 3, 16, 16), path)
    return path


def frame_count(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def parts(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


# ------------------------------------------------------------------ the output is the input

@pytest.mark.parametrize("how", ["same", "relative", "symlink", "hardlink"])
def test_run_refuses_to_overwrite_its_input(tmp_path, cli, invert, style, how, monkeypatch):
    clip = make_clip(tmp_path / "a.mp4", n_frames=8, size=(32, 24))
    before = clip.read_bytes()
    target = {"same": clip, "relative": Path("sub/../a.mp4"), "symlink": tmp_path / "link.mp4",
              "hardlink": tmp_path / "hard.mp4"}[how]
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    if how == "symlink":
        target.symlink_to(clip)
    elif how == "hardlink":
        os.link(clip, target)
    code, _, err = cli("run", clip, "-s", style, "-o", target, "--force", "-q")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "is the input" in lines[0], err
    assert clip.read_bytes() == before and parts(tmp_path) == []


def test_image_and_texture_refuse_to_overwrite_their_inputs(tmp_path, cli, style):
    photo = tmp_path / "photo.png"
    save_image(torch.rand(1, 3, 20, 20), photo)
    before = photo.read_bytes(), style.read_bytes()
    code, _, err = cli("image", photo, "-s", style, "-o", photo, "--force", "-q", "--steps", "1")
    assert code == 1 and "is the input" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("image", photo, "-s", style, "-o", style, "--force", "-q", "--steps", "1")
    assert code == 1 and "is the input" in err
    code, _, err = cli("texture", style, "-o", style, "--force", "-q", "--steps", "1")
    assert code == 1 and "is the input" in err
    assert (photo.read_bytes(), style.read_bytes()) == before


@pytest.mark.parametrize("name", ["out.mp4", "out"])
def test_image_rejects_unknown_extension_before_any_work(tmp_path, cli, style, monkeypatch, name):
    import vidstyle.api

    def boom(*a, **k):
        raise AssertionError("optimisation started")

    monkeypatch.setattr(vidstyle.api, "stylise_still", boom)
    photo = tmp_path / "photo.png"
    save_image(torch.rand(1, 3, 20, 20), photo)
    code, _, err = cli("image", photo, "-s", style, "-o", tmp_path / name, "-q")
    assert code == 1 and "unknown image extension" in err, err
    code, _, err = cli("texture", style, "-o", tmp_path / name, "-q")
    assert code == 1 and "unknown image extension" in err, err


def test_huge_style_image_is_decoded_reduced(tmp_path):
    """A 4000×3000 JPEG asked for at 64 px decodes at ≤ 1/8 scale (draft), PNG box-reduced in uint8."""
    from PIL import Image

    from vidstyle.media.image import load_image

    rng = np.random.default_rng(0)
    big = Image.fromarray(rng.integers(0, 255, (3000, 4000, 3), dtype=np.uint8))
    big.save(tmp_path / "big.jpg", quality=80)
    big.save(tmp_path / "big.png", compress_level=0)
    for name in ("big.jpg", "big.png"):
        x = load_image(tmp_path / name, need=64)
        assert 64 <= max(x.shape[-2:]) <= 2 * 64 + 8, (name, x.shape)
        assert x.shape[-1] > x.shape[-2]  # aspect kept
    assert max(load_image(tmp_path / "big.png").shape[-2:]) == 4000  # default: no reduction below the cap
