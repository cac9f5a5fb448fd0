"""`vidstyle image` / `vidstyle texture` through the real entry point: happy path and every bad input."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from conftest import SAMPLES

STYLE = SAMPLES / "starry_night.jpg"
CONTENT = SAMPLES / "chelsea.png"
FAST = ["--size", "48", "--steps", "2", "--scales", "1", "--quiet"]


def test_image_happy_path(cli, tmp_path):
    out = tmp_path / "out.png"
    code, stdout, err = cli("image", CONTENT, "--style", STYLE, "-o", out, *FAST)
    assert code == 0, err
    assert f"wrote {out}" in stdout
    assert Image.open(out).size == (48, 32)


def test_two_styles_with_weights_and_preserve_color(cli, tmp_path):
    out = tmp_path / "mix.jpg"
    code, _, err = cli("image", CONTENT, "-s", STYLE, "-s", CONTENT, "--style-weights", "0.7,0.3",
                       "--preserve-color", "-o", out, *FAST)
    assert code == 0, err
    assert out.exists()


def test_texture(cli, tmp_path):
    out = tmp_path / "tex.png"
    code, _, err = cli("texture", STYLE, "-o", out, "--size", "40", "--steps", "2", "--quiet")
    assert code == 0, err
    assert Image.open(out).size == (40, 40)


def _one_line_error(code: int, err: str, needle: str) -> None:
    assert code != 0
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and needle in lines[0], err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "setup, needle",
    [
        (lambda d: d / "missing.png", "file not found"),
        (lambda d: (d / "t.png").write_text("text") and d / "t.png", "not an image"),
        (lambda d: Image.new("RGB", (1, 1)).save(d / "p.png") or d / "p.png", "too small"),
    ],
)
def test_bad_content_inputs(cli, tmp_path, setup, needle):
    content = setup(tmp_path)
    code, _, err = cli("image", content, "--style", STYLE, "-o", tmp_path / "o.png", *FAST)
    _one_line_error(code, err, needle)
    assert not (tmp_path / "o.png").exists()


def test_truncated_style(cli, tmp_path):
    data = STYLE.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    code, _, err = cli("image", CONTENT, "--style", tmp_path / "cut.jpg", "-o", tmp_path / "o.png", *FAST)
    _one_line_error(code, err, "cut.jpg")


def test_existing_output_needs_force(cli, tmp_path):
    out = tmp_path / "o.png"
    out.write_bytes(b"precious")
    code, _, err = cli("image", CONTENT, "--style", STYLE, "-o", out, *FAST)
    _one_line_error(code, err, "--force")
    assert out.read_bytes() == b"precious"
    code, _, err = cli("image", CONTENT, "--style", STYLE, "-o", out, "--force", *FAST)
    assert code == 0, err
    assert out.read_bytes() != b"precious"


def test_missing_output_folder(cli, tmp_path):
    code, _, err = cli("image", CONTENT, "--style", STYLE, "-o", tmp_path / "nope" / "o.png", *FAST)
    _one_line_error(code, err, "does not exist")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_folder(cli, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    code, _, err = cli("image", CONTENT, "--style", STYLE, "-o", ro / "o.png", *FAST)
    _one_line_error(code, err, "not writable")


def test_bad_style_weights(cli, tmp_path):
    code, _, err = cli("image", CONTENT, "-s", STYLE, "--style-weights", "a,b", "-o", tmp_path / "o.png", *FAST)
    _one_line_error(code, err, "--style-weights")


def test_cuda_requested_without_gpu(cli, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, _, err = cli("image", CONTENT, "-s", STYLE, "--device", "cuda", "-o", tmp_path / "o.png", *FAST)
    _one_line_error(code, err, "CUDA")


def test_rgba_grey_and_exif_inputs_work(cli, tmp_path):
    a = np.random.default_rng(0).integers(0, 255, (40, 30, 4), np.uint8)
    Image.fromarray(a, "RGBA").save(tmp_path / "rgba.png")
    code, _, err = cli("image", tmp_path / "rgba.png", "-s", STYLE, "-o", tmp_path / "o.png", *FAST)
    assert code == 0, err
    assert Image.open(tmp_path / "o.png").size == (36, 48)


def test_version(cli):
    code, out, _ = cli("--version")
    assert code == 0 and out.startswith("vidstyle ")
