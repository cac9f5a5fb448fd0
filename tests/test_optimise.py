"""Gatys optimisation on tiny images: loss goes down, options do what they say."""

from __future__ import annotations

import pytest
import torch
from kornia.color import rgb_to_ycbcr

from vidstyle.colour import luminance_transfer, match_colour
from vidstyle.config import OptimiseConfig
from vidstyle.errors import VidstyleError
from vidstyle.nets.vgg import load_vgg
from vidstyle.stylise.optimise import (GatysCriterion, blend_weights, optimise, pyramid_sizes, style_grams,
                                       stylise_still)


@pytest.fixture(scope="module")
def encoder():
    cfg = OptimiseConfig()
    return load_vgg(cfg.style_layers + cfg.content_layers)


def _images():
    g = torch.Generator().manual_seed(1)
    content = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 40, 48, generator=g), 3, 1, 1)
    style = torch.rand(1, 3, 40, 40, generator=g)
    style[:, 0] *= 0.3  # a bluish style
    return content, style


def test_optimisation_lowers_the_loss(encoder):
    content, style = _images()
    cfg = OptimiseConfig(size=48, steps=8, scales=1)
    grams = style_grams(encoder, [style], [1.0], cfg.style_layers, 48)
    with torch.no_grad():
        crit = GatysCriterion(encoder, cfg, encoder(content, cfg.content_layers), grams)
        before = crit(content)["total"].item()
    out = optimise(content, crit, steps=8)
    with torch.no_grad():
        after = crit(out)["total"].item()
    assert after < 0.7 * before
    assert out.min() >= 0 and out.max() <= 1


def test_bf16_loss_pass_optimises_like_fp32(encoder):
    """``precision="bf16"``: the VGG pass runs in bf16 autocast (losses in float32); the loss falls as far as with
    fp32 (within 10 %) — bf16 rounds the features, not the optimisation — and the result stays close."""
    content, style = _images()
    grams = style_grams(encoder, [style], [1.0], OptimiseConfig().style_layers, 48)
    ref = GatysCriterion(encoder, OptimiseConfig(size=48, steps=8, scales=1), encoder(content, ("relu4_2",)), grams)
    low = GatysCriterion(encoder, OptimiseConfig(size=48, steps=8, scales=1), encoder(content, ("relu4_2",)), grams,
                         bf16=True)
    with torch.no_grad():
        feats = low.features(content, ("relu1_1", "relu4_2"))
        assert all(v.dtype == torch.float32 for v in feats.values())
        exact = encoder(content, ("relu1_1", "relu4_2"))
        assert 0 < float((feats["relu1_1"] - exact["relu1_1"]).abs().max()) < 0.05 * float(exact["relu1_1"].abs().max())
        before = ref(content)["total"].item()
    out32, out16 = optimise(content, ref, steps=8), optimise(content, low, steps=8)
    with torch.no_grad():
        after32, after16 = ref(out32)["total"].item(), ref(out16)["total"].item()
    assert after16 < 0.7 * before and after16 < 1.1 * after32
    assert float((out32 - out16).abs().mean()) < 0.05


def test_precision_auto_resolves_per_cpu(encoder, monkeypatch):
    from vidstyle.nets import bf16

    content, style = _images()
    seen = []
    real = GatysCriterion.__init__

    def spy(self, *a, **kw):
        real(self, *a, **kw)
        seen.append(self.bf16)

    monkeypatch.setattr(GatysCriterion, "__init__", spy)
    monkeypatch.setattr(bf16, "bf16_features", lambda: [])
    stylise_still(content, [style], encoder, OptimiseConfig(size=32, steps=1, scales=1, precision="auto"))
    monkeypatch.setattr(bf16, "bf16_features", lambda: ["amx_bf16"])
    stylise_still(content, [style], encoder, OptimiseConfig(size=32, steps=1, scales=1, precision="auto"))
    stylise_still(content, [style], encoder, OptimiseConfig(size=32, steps=1, scales=1, precision="fp32"))
    assert seen == [False, True, False]


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_stylise_still_shapes_and_determinism(encoder, optimizer):
    content, style = _images()
    cfg = OptimiseConfig(size=64, steps=3, scales=2, optimizer=optimizer, init="noise", seed=3)
    a = stylise_still(content, [style], encoder, cfg)
    b = stylise_still(content, [style], encoder, cfg)
    assert a.shape == (1, 3, 53, 64)
    assert torch.equal(a, b)


def test_pyramid_sizes():
    assert pyramid_sizes(512, 3) == [128, 256, 512]
    assert pyramid_sizes(100, 3) == [100]  # never below 64 px
    assert pyramid_sizes(512, 1) == [512]


def test_blend_weights_normalise_and_validate():
    assert blend_weights(2, (0.7, 0.3)) == pytest.approx([0.7, 0.3])
    assert blend_weights(2, (2, 2)) == pytest.approx([0.5, 0.5])
    assert blend_weights(3, None) == pytest.approx([1 / 3] * 3)
    with pytest.raises(VidstyleError, match="one per --style"):
        blend_weights(2, (1.0,))


def test_blended_grams_are_the_weighted_mean(encoder):
    content, style = _images()
    layers = ("relu1_1", "relu2_1")
    g1 = style_grams(encoder, [style], [1.0], layers, 40)
    g2 = style_grams(encoder, [content], [1.0], layers, 40)
    mix = style_grams(encoder, [style, content], [0.25, 0.75], layers, 40)
    for n in layers:
        assert torch.allclose(mix[n], 0.25 * g1[n] + 0.75 * g2[n], rtol=1e-4)


def test_luminance_transfer_keeps_content_chroma():
    content = torch.rand(1, 3, 16, 16)
    stylised = torch.rand(1, 3, 16, 16)
    out = luminance_transfer(stylised, content)
    y_out, y_sty, y_con = rgb_to_ycbcr(out), rgb_to_ycbcr(stylised), rgb_to_ycbcr(content)
    inside = (out > 0.01).all(1) & (out < 0.99).all(1)  # unclipped pixels
    assert torch.allclose(y_out[:, 1:][:, :, inside[0]], y_con[:, 1:][:, :, inside[0]], atol=1e-4)
    assert torch.allclose(y_out[:, 0][:, inside[0]], y_sty[:, 0][:, inside[0]], atol=1e-4)


def test_match_colour_moves_mean_and_covariance():
    g = torch.Generator().manual_seed(0)
    src = torch.rand(1, 3, 32, 32, generator=g) * 0.5
    tgt = torch.rand(1, 3, 32, 32, generator=g) * 0.3 + 0.4
    tgt[:, 2] = tgt[:, 0] * 0.5 + 0.2  # correlated channels
    out = match_colour(src, tgt)
    mean = lambda x: x.reshape(3, -1).mean(1)  # noqa: E731
    assert torch.allclose(mean(out), mean(tgt), atol=2e-3)
    cov = lambda x: torch.cov(x.reshape(3, -1))  # noqa: E731
    assert torch.allclose(cov(out), cov(tgt), atol=2e-3)


def test_histogram_preservation_keeps_content_colours(encoder):
    content, style = _images()
    cfg = OptimiseConfig(size=48, steps=5, scales=1, preserve_color="histogram")
    out = stylise_still(content, [style], encoder, cfg)
    plain = stylise_still(content, [style], encoder, OptimiseConfig(size=48, steps=5, scales=1))
    c_mean = content.mean((2, 3))
    assert (out.mean((2, 3)) - c_mean).abs().sum() < (plain.mean((2, 3)) - c_mean).abs().sum()


def test_texture_synthesis_without_content(encoder):
    _, style = _images()
    cfg = OptimiseConfig(size=40, steps=4, scales=1, content_weight=0.0, init="noise")
    out = stylise_still(None, [style], encoder, cfg, texture_shape=(32, 40))
    assert out.shape == (1, 3, 32, 40)
