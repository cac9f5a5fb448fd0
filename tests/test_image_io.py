"""Still-image loading and saving: every awkward input gets a tensor or one clear error."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vidstyle.errors import MediaError, VidstyleError
from vidstyle.media.image import load_image, save_image


def _rgb(w=40, h=30):
    a = np.zeros((h, w, 3), np.uint8)
    a[:, : w // 2] = (255, 0, 0)
    return a


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "RGBA", "LA", "I;16", "1"])
def test_modes_load_as_rgb(tmp_path, mode):
    img = Image.fromarray(_rgb())
    if mode == "I;16":
        img = Image.fromarray((np.asarray(img.convert("L"), np.uint16) * 257).astype(np.uint16))
    else:
        img = img.convert(mode)
    path = tmp_path / ("x.tif" if mode in ("CMYK", "I;16") else "x.png")
    img.save(path)
    x = load_image(path)
    assert x.shape == (1, 3, 30, 40)
    assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1


def test_sixteen_bit_uses_full_range(tmp_path):
    a = np.full((20, 20), 65535, np.uint16)
    Image.fromarray(a).save(tmp_path / "w.png")
    assert load_image(tmp_path / "w.png").min().item() == pytest.approx(1.0)


def test_alpha_composited_on_white(tmp_path):
    a = np.zeros((20, 20, 4), np.uint8)  # fully transparent black
    Image.fromarray(a, "RGBA").save(tmp_path / "a.png")
    assert load_image(tmp_path / "a.png").min().item() == pytest.approx(1.0)


def test_exif_orientation_is_honoured(tmp_path):
    img = Image.fromarray(_rgb(40, 30))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise for display
    img.save(tmp_path / "r.jpg", exif=exif)
    assert load_image(tmp_path / "r.jpg").shape == (1, 3, 40, 30)


def test_huge_image_is_downscaled_with_warning(tmp_path):
    Image.fromarray(_rgb(400, 100)).save(tmp_path / "big.png")
    with pytest.warns(UserWarning, match="downscaling"):
        x = load_image(tmp_path / "big.png", max_side=200)
    assert x.shape == (1, 3, 50, 200)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "file not found"),
        (lambda p: p.write_text("hello"), "not an image"),
        (lambda p: p.write_bytes(_png_bytes()[:200]), "truncated or corrupt"),
        (lambda p: Image.new("RGB", (1, 1)).save(p, format="PNG"), "too small"),
        (lambda p: p.mkdir(), "is a directory"),
    ],
)
def test_bad_inputs_raise_one_clear_error(tmp_path, make, message):
    path = tmp_path / "in.png"
    make(path)
    with pytest.raises(MediaError, match=message):
        load_image(path)


def _png_bytes() -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_save_is_atomic_and_refuses_overwrite(tmp_path):
    x = torch.rand(1, 3, 16, 16)
    out = save_image(x, tmp_path / "o.png")
    assert out.exists()
    with pytest.raises(VidstyleError, match="--force"):
        save_image(x, tmp_path / "o.png")
    save_image(x, tmp_path / "o.png", force=True)
    assert [p.name for p in tmp_path.iterdir()] == ["o.png"]  # no temporary left behind
    with pytest.raises(VidstyleError, match="does not exist"):
        save_image(x, tmp_path / "missing" / "o.png")
    with pytest.raises(MediaError, match="unknown image extension"):
        save_image(x, tmp_path / "o.xyz")


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def boom(self, fp, *a, **k):
        open(fp, "wb").write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        save_image(torch.rand(1, 3, 16, 16), tmp_path / "o.png")
    assert list(tmp_path.iterdir()) == []
