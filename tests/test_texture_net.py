"""Texture networks (vidstyle.nets.texture, vidstyle.train.texture): shapes, seeds, training with a tiny stand-in
encoder, checksummed loading, and `vidstyle texture --model` / `vidstyle train-texture` through the CLI."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from torch import nn

from vidstyle.config import TextureTrainConfig
from vidstyle.errors import VidstyleError, WeightsError
from vidstyle.metrics import wrap_seam_ratio
from vidstyle.nets.texture import TextureNet, TextureSpec, with_padding, wrap_resize
from vidstyle.train.texture import load_texture_net, train_texture

from conftest import SAMPLES

SMALL = TextureSpec(scales=3, channels=4)


class TinyEncoder(nn.Module):
    """A stand-in for VGG-19: two conv layers named like VGG's, any requested layer from one pass."""

    normalisation = "torch"

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.requires_grad_(False)

    def forward(self, x, layers):
        f1 = torch.relu(self.a(x))
        f2 = torch.relu(self.b(f1))
        return {n: (f1 if n == "relu1_1" else f2) for n in layers}


@pytest.mark.parametrize("hw", [(32, 32), (40, 24), (17, 50)])
def test_any_size(hw):
    net = TextureNet(SMALL)
    out = net.sample(2, *hw, seed=0)
    assert out.shape == (2, 3, *hw) and out.min() >= 0 and out.max() <= 1


def test_seeds_give_different_samples_and_repeat():
    net = TextureNet(SMALL).eval()
    with torch.no_grad():
        a, b, a2 = net.sample(1, 32, 32, seed=1), net.sample(1, 32, 32, seed=2), net.sample(1, 32, 32, seed=1)
    assert torch.equal(a, a2)
    assert (a - b).abs().mean() > 1e-3


def test_tileable_uses_circular_padding():
    net = TextureNet(TextureSpec(scales=2, channels=4, tileable=True))
    assert any(isinstance(m, nn.CircularPad2d) for m in net.modules())
    assert not any(isinstance(m, nn.ReflectionPad2d) for m in net.modules())


def test_tileable_samples_are_periodic():
    # circular padding makes the generator commute with rolls of the torus: rolling every noise scale by the
    # same distance (in its own pixels) rolls the texture — so its right edge continues into its left
    net = TextureNet(TextureSpec(scales=3, channels=4, tileable=True)).eval()
    noise = net.noise(1, 32, 40, torch.Generator().manual_seed(0))
    shifted = [z.roll((8 >> i, 4 >> i), dims=(-2, -1)) for i, z in enumerate(noise)]
    with torch.no_grad():
        out, out_shifted = net(noise), net(shifted)
        assert torch.allclose(out_shifted, out.roll((8, 4), dims=(-2, -1)), atol=1e-5)
        flat = with_padding(net, False)  # the same weights with reflection padding do not
        assert not torch.allclose(flat(shifted), flat(noise).roll((8, 4), dims=(-2, -1)), atol=1e-3)


def test_wrap_resize_resamples_a_periodic_image_on_the_torus():
    t = torch.arange(32, dtype=torch.float64)
    x = (0.5 + 0.4 * torch.sin(2 * torch.pi * 3 * t / 32)).expand(1, 1, 4, 32)
    for n in (30, 36):
        y = wrap_resize(x, 4, n)
        expected = 0.5 + 0.4 * torch.sin(2 * torch.pi * 3 * torch.arange(n, dtype=torch.float64) / n)
        assert y.shape == (1, 1, 4, n) and torch.allclose(y[0, 0, 0], expected, atol=1e-6)
    assert torch.equal(wrap_resize(x, 4, 32), x.clamp(0, 1))


def test_with_padding_keeps_the_weights():
    net = TextureNet(SMALL).eval()
    tiled = with_padding(net, True)
    assert tiled.spec.tileable and not tiled.training and with_padding(net, False) is net
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), tiled.state_dict().values()))
    assert any(isinstance(m, nn.CircularPad2d) for m in tiled.modules())


@pytest.mark.parametrize("side", [128, 120])  # 120: no multiple of 16, resampled rather than cropped
def test_shipped_tileable_texture_has_no_seam(side):
    # the wrap-around step of a tileable sample is like any step between neighbours; with reflection padding
    # (same weights) it is several times larger: a visible seam when tiled
    net, card = load_texture_net("kandinsky-texture")
    assert card["training"]["tileable"] is True
    with torch.no_grad():
        tiled = [wrap_seam_ratio(net.sample(1, side, side, seed=s))["seam_ratio"] for s in range(3)]
        flat = [wrap_seam_ratio(with_padding(net, False).sample(1, side, side, seed=s))["seam_ratio"] for s in range(3)]
    assert sum(tiled) / 3 < 1.3 and sum(flat) / 3 > 2.0


def _train(tmp_path, steps=3):
    out = tmp_path / "tiny-texture.safetensors"
    cfg = TextureTrainConfig(size=32, steps=steps, batch_size=2, scales=3, channels=4, style_layers=("relu1_1", "relu2_1"),
                             checkpoint_every=2)
    card = train_texture(SAMPLES / "starry_night.jpg", out, TinyEncoder(), cfg, checkpoint=tmp_path / "c.pt",
                         progress=False)
    return out, card


def test_training_writes_weights_and_card_and_lowers_the_loss(tmp_path):
    out, card = _train(tmp_path, steps=12)
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["kind"] == "texture-network" and saved["training"]["steps"] == 12
    assert len(saved["weights"]["sha256"]) == 64 and saved["style"]["sha256"]
    net, _ = load_texture_net(out)
    assert net.spec == SMALL
    hist = torch.load(tmp_path / "c.pt", weights_only=False)["history"]["style"]
    assert hist[-1][1] < hist[0][1]


def test_corrupt_weights_are_one_clear_error(tmp_path):
    out, _ = _train(tmp_path)
    data = bytearray(out.read_bytes())
    data[-5] ^= 0xFF
    out.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="corrupt"):
        load_texture_net(out)


def test_a_feedforward_model_is_not_a_texture_network():
    from vidstyle.weights import list_models

    if not list_models():
        pytest.skip("no shipped feed-forward model")
    with pytest.raises(VidstyleError, match="not a texture network"):
        load_texture_net(list_models()[0].name)


def test_cli_texture_model(cli, tmp_path):
    model, _ = _train(tmp_path)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert cli("texture", "--model", model, "--size", "48", "--height", "40", "--seed", "1", "-o", a)[0] == 0
    assert cli("texture", "--model", model, "--size", "48", "--height", "40", "--seed", "2", "-o", b)[0] == 0
    assert Image.open(a).size == (48, 40)
    assert Image.open(a).tobytes() != Image.open(b).tobytes()
    code, _, err = cli("texture", "--model", model, "-o", a, "--size", "48")
    assert code == 1 and "exists" in err  # no overwrite without --force
    code, _, err = cli("texture", SAMPLES / "starry_night.jpg", "--model", model, "-o", tmp_path / "c.png")
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1
    code, _, err = cli("texture", "--model", "no-such-model", "-o", tmp_path / "c.png")
    assert code == 1 and "unknown model" in err
    t = tmp_path / "t.png"
    assert cli("texture", "--model", model, "--size", "40", "--seed", "1", "--tileable", "-o", t)[0] == 0
    assert Image.open(t).size == (40, 40)
    code, _, err = cli("texture", SAMPLES / "starry_night.jpg", "--tileable", "-o", tmp_path / "d.png")
    assert code == 1 and "--tileable works with --model" in err and err.count("\n") == 1


def test_cli_train_texture_errors(cli, tmp_path):
    code, _, err = cli("train-texture", SAMPLES / "starry_night.jpg", "--out", tmp_path / "x.pt")
    assert code == 1 and ".safetensors" in err and "Traceback" not in err
    code, _, err = cli("train-texture", SAMPLES / "starry_night.jpg", "--out", tmp_path / "nope" / "x.safetensors")
    assert code == 1 and "does not exist" in err
