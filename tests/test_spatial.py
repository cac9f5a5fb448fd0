"""Spatial control on synthetic two-region images: mattes (vidstyle.matte), label maps, region Gram losses through
the optimiser, `vidstyle image --mask/--content-mask/--style-mask/--doodle` and their errors; the extra losses via
the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import SAMPLES
from vidstyle.config import OptimiseConfig
from vidstyle.errors import VidstyleError
from vidstyle.matte import composite, feather, label_colours, load_matte, prepare_matte, region_masks
from vidstyle.nets.vgg import load_vgg
from vidstyle.stylise.optimise import stylise_still

STYLE = SAMPLES / "starry_night.jpg"
CONTENT = SAMPLES / "chelsea.png"  # 451×300
FAST = ["--size", "48", "--steps", "2", "--scales", "1", "--quiet"]


def _two_regions(h=32, w=48, colours=((255, 0, 0), (0, 0, 255))) -> np.ndarray:
    a = np.zeros((h, w, 3), np.uint8)
    a[:, : w // 2] = colours[0]
    a[:, w // 2:] = colours[1]
    return a


def _save(array: np.ndarray, path) -> str:
    Image.fromarray(array).save(path)
    return str(path)


# ----------------------------------------------------------------------------- matte


def test_composite_keeps_outside_and_takes_inside():
    a, b = torch.zeros(1, 3, 8, 8), torch.ones(1, 3, 8, 8)
    m = torch.zeros(1, 1, 8, 8)
    m[..., :4] = 1
    out = composite(b, a, m)
    assert torch.equal(out[..., :4], b[..., :4]) and torch.equal(out[..., 4:], a[..., 4:])
    with pytest.raises(ValueError):
        composite(b, a, torch.zeros(1, 1, 4, 4))


def test_prepare_matte_resizes_inverts_feathers_and_checks():
    m = torch.zeros(1, 1, 20, 30)
    m[..., :15] = 1
    p = prepare_matte(m, (40, 60))
    assert p.shape == (1, 1, 40, 60) and p[..., 0, 0].item() == 1 and p[..., 0, -1].item() == 0
    inv = prepare_matte(m, (40, 60), invert=True)
    assert inv[..., 0, 0].item() == 0 and inv[..., 0, -1].item() == 1
    soft = prepare_matte(m, (40, 60), feather_px=4)
    assert 0.2 < soft[0, 0, 20, 30].item() < 0.8 and soft[0, 0, 20, 0].item() > 0.99  # soft edge, solid inside
    with pytest.raises(VidstyleError, match="aspect ratio"):
        prepare_matte(m, (60, 40))
    with pytest.raises(VidstyleError, match="selects nothing"):
        prepare_matte(torch.zeros(1, 1, 20, 30), (20, 30))
    assert torch.equal(feather(m, 0), m)


def test_load_matte_alpha_luminance_and_bad_files(tmp_path):
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[:, :6, 3] = 0
    Image.fromarray(rgba).save(tmp_path / "a.png")
    m = load_matte(tmp_path / "a.png")
    assert m.shape == (1, 1, 10, 12) and m[..., :6].max() == 0 and m[..., 6:].min() == 1
    grey = np.full((10, 12), 128, np.uint8)
    Image.fromarray(grey).save(tmp_path / "g.png")
    assert load_matte(tmp_path / "g.png").mean().item() == pytest.approx(128 / 255)
    (tmp_path / "bad.png").write_text("not a png")
    with pytest.raises(VidstyleError, match="not an image"):
        load_matte(tmp_path / "bad.png")


# ----------------------------------------------------------------------------- label maps


def test_region_masks_match_colours_and_tolerate_noise():
    content = _two_regions()
    style = _two_regions(40, 40, ((0, 0, 250), (250, 0, 0)))  # swapped sides, other size, ≈ colours
    style[0, 0] = (10, 200, 10)  # a stray pixel of a third colour
    cm, (sm,), colours = region_masks(content, [style], (32, 48), [(40, 40)])
    assert cm.shape == (2, 1, 32, 48) and sm.shape == (2, 1, 40, 40)
    assert torch.equal(cm.sum(0), torch.ones(1, 32, 48))  # a partition
    red = [tuple(c) for c in colours].index((255, 0, 0))
    assert cm[red, 0, :, :24].min() == 1 and sm[red, 0, :, 20:].min() == 1  # red = left in content, right in style


def test_region_masks_errors():
    content = _two_regions()
    with pytest.raises(VidstyleError, match=r"no region of colour \(0, 0, 255\)"):
        region_masks(content, [np.full((32, 48, 3), (255, 0, 0), np.uint8)], (32, 48), [(32, 48)])
    with pytest.raises(VidstyleError, match="aspect ratio"):
        region_masks(content, [content], (48, 32), [(32, 48)])
    photo = np.random.default_rng(0).integers(0, 255, (32, 48, 3), dtype=np.uint8) // 32 * 32
    with pytest.raises(VidstyleError, match="is it a photo"):
        label_colours(photo)


# ----------------------------------------------------------------------------- optimiser with regions


@pytest.fixture(scope="module")
def encoder():
    cfg = OptimiseConfig()
    return load_vgg(cfg.style_layers + cfg.content_layers)


def test_semantic_regions_paint_each_region_from_its_style_region(encoder):
    # style: left half red noise, right half blue noise; content labels swap the sides
    g = torch.Generator().manual_seed(0)
    style = torch.rand(1, 3, 32, 48, generator=g) * 0.3
    style[:, 0, :, :24] += 0.7
    style[:, 2, :, 24:] += 0.7
    style_labels = _two_regions()
    content_labels = _two_regions(colours=((0, 0, 255), (255, 0, 0)))
    cm, sms, _ = region_masks(content_labels, [style_labels], (32, 48), [(32, 48)])
    cfg = OptimiseConfig(size=48, steps=12, scales=1, content_weight=0.0, init="noise", tv_weight=0.0)
    out = stylise_still(style, [style], encoder, cfg, content_masks=cm, style_masks=sms)
    left, right = out[..., :24].mean(dim=(0, 2, 3)), out[..., 24:].mean(dim=(0, 2, 3))
    assert left[2] > left[0] and right[0] > right[2]  # blue on the left, red on the right


@pytest.mark.parametrize("loss", ["mrf", "histogram"])
def test_semantic_regions_steer_the_mrf_and_histogram_losses(encoder, loss):
    # as above with the Gram loss off: each of the two losses alone paints each region from its style region
    g = torch.Generator().manual_seed(0)
    style = torch.rand(1, 3, 32, 48, generator=g) * 0.3
    style[:, 0, :, :24] += 0.7
    style[:, 2, :, 24:] += 0.7
    cm, sms, _ = region_masks(_two_regions(colours=((0, 0, 255), (255, 0, 0))), [_two_regions()], (32, 48), [(32, 48)])
    cfg = OptimiseConfig(size=48, steps=12, scales=1, content_weight=0.0, style_weight=0.0, init="noise", tv_weight=0.0,
                         **{f"{loss}_weight": 10.0})
    out = stylise_still(style, [style], encoder, cfg, content_masks=cm, style_masks=sms)
    left, right = out[..., :24].mean(dim=(0, 2, 3)), out[..., 24:].mean(dim=(0, 2, 3))
    assert left[2] > left[0] and right[0] > right[2]  # blue on the left, red on the right


def test_extra_losses_run_in_the_optimiser(encoder):
    g = torch.Generator().manual_seed(1)
    content, style = torch.rand(1, 3, 32, 40, generator=g), torch.rand(1, 3, 32, 32, generator=g)
    cfg = OptimiseConfig(size=40, steps=2, scales=1, mrf_weight=1.0, mrf_stride=2, histogram_weight=1.0,
                         laplacian_weight=1.0)
    out = stylise_still(content, [style], encoder, cfg)
    assert out.shape == (1, 3, 32, 40) and torch.isfinite(out).all()


# ----------------------------------------------------------------------------- CLI


def test_cli_mask_keeps_outside_pixels(cli, tmp_path):
    w, h = 451, 300
    matte = np.zeros((h, w), np.uint8)
    matte[:, : w // 2] = 255
    mpath = _save(matte, tmp_path / "m.png")
    out = tmp_path / "o.png"
    code, _, err = cli("image", CONTENT, "-s", STYLE, "--mask", mpath, "-o", out, *FAST)
    assert code == 0, err
    got = np.asarray(Image.open(out), dtype=np.int16)
    ref = np.asarray(Image.open(CONTENT).convert("RGB").resize((48, 32), Image.Resampling.BILINEAR), dtype=np.int16)
    assert got.shape == (32, 48, 3)
    assert np.abs(got[:, 30:] - ref[:, 30:]).mean() < 12  # right of the matte: the photo (resampling differs a little)
    out2 = tmp_path / "o2.png"
    code, _, err = cli("image", CONTENT, "-s", STYLE, "--mask", mpath, "--invert-mask", "--feather", "2", "-o", out2, *FAST)
    assert code == 0, err


def test_cli_mask_with_a_feedforward_method(cli, tmp_path):
    from vidstyle.weights import list_models

    if not list_models():
        pytest.skip("no shipped feed-forward model")
    matte = np.zeros((300, 451), np.uint8)
    matte[:, :200] = 255
    out = tmp_path / "f.png"
    code, _, err = cli("image", CONTENT, "--model", list_models()[0].name, "--mask", _save(matte, tmp_path / "m.png"),
                       "-o", out, "--size", "64", "--quiet")
    assert code == 0, err
    assert Image.open(out).size == (64, 43)


def test_cli_doodle_and_semantic(cli, tmp_path):
    labels = _save(_two_regions(), tmp_path / "doodle.png")
    style_labels = _save(_two_regions(300, 451)[:, ::-1].copy(), tmp_path / "style_labels.png")
    out = tmp_path / "d.png"
    code, _, err = cli("image", labels, "-s", CONTENT, "--style-mask", style_labels, "--doodle", "-o", out, *FAST)
    assert code == 0, err
    assert Image.open(out).size == (48, 32)
    content_labels = _save(_two_regions(300, 451), tmp_path / "content_labels.png")
    out = tmp_path / "s.png"
    code, _, err = cli("image", CONTENT, "-s", CONTENT, "--content-mask", content_labels, "--style-mask", style_labels,
                       "-o", out, *FAST)
    assert code == 0, err


@pytest.mark.parametrize("case", ["size", "format", "missing-style-mask", "count", "method", "feather"])
def test_cli_mask_errors_are_one_line(cli, tmp_path, case):
    bad = tmp_path / "bad.png"
    if case == "size":
        _save(np.zeros((300, 300), np.uint8) + 255, bad)
        args = ["--mask", bad]
    elif case == "format":
        bad.write_text("not an image")
        args = ["--mask", bad]
    elif case == "missing-style-mask":
        args = ["--content-mask", _save(_two_regions(300, 451), bad)]
    elif case == "count":
        m = _save(_two_regions(300, 451), bad)
        args = ["--content-mask", m, "--style-mask", m, "--style-mask", m]
    elif case == "method":
        m = _save(_two_regions(300, 451), bad)
        args = ["--content-mask", m, "--style-mask", m, "--method", "adain"]
    else:
        args = ["--feather", "3"]
    code, _, err = cli("image", CONTENT, "-s", STYLE, "-o", tmp_path / "o.png", *args, *FAST)
    assert code == 1
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_cli_extra_losses(cli, tmp_path):
    out = tmp_path / "l.png"
    code, _, err = cli("image", CONTENT, "-s", STYLE, "--loss-mrf", "1", "--loss-histogram", "1", "--loss-laplacian", "10",
                       "-o", out, *FAST)
    assert code == 0, err
    assert Image.open(out).size == (48, 32)
