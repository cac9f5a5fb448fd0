"""AdaIN / WCT transforms, decoders, decoder training and the ArbitraryStyliser (tiny synthetic inputs, CPU)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from vidstyle.config import DecoderTrainConfig, replace
from vidstyle.errors import VidstyleError, WeightsError
from vidstyle.media.image import save_image
from vidstyle.nets.decoder import Decoder, card_path, load_decoder
from vidstyle.stylise.adain import adain, mean_std
from vidstyle.stylise.wct import blend_stats, colour_stats, mean_cov, wct, whiten
from vidstyle.train.common import LossHistory
from vidstyle.train.decoder import write_decoder


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one thread avoids paying thread synchronisation on a loaded shared CPU."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def correlated(c: int, p: int, seed: int, offset: float = 0.0) -> torch.Tensor:
    """``C×P`` features with a random full covariance and mean (float64)."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(c, c, generator=g, dtype=torch.float64)
    return mix @ torch.randn(c, p, generator=g, dtype=torch.float64) + offset + torch.randn(c, 1, generator=g, dtype=torch.float64)


# ------------------------------------------------------------------------------------------------ transforms


def test_whitened_features_have_identity_covariance() -> None:
    f = correlated(8, 4000, seed=0, offset=3.0).reshape(8, 40, 100)
    mean, cov = mean_cov(whiten(f, reg=1e-12))
    assert mean.abs().max() < 1e-10
    assert torch.allclose(cov, torch.eye(8, dtype=torch.float64), atol=1e-8)
    # the default regularisation shrinks the identity by no more than ~1e-3 on well-conditioned features
    _, cov_reg = mean_cov(whiten(f))
    assert torch.allclose(cov_reg, torch.eye(8, dtype=torch.float64), atol=1e-3)


def test_coloured_features_match_style_mean_and_covariance() -> None:
    content = correlated(6, 3000, seed=1).float().reshape(6, 30, 100)
    style = correlated(6, 2000, seed=2, offset=-2.0).reshape(6, 20, 100)
    stats = colour_stats(style, reg=1e-12)
    out = wct(content.double(), stats, reg=1e-12)
    mean_o, cov_o = mean_cov(out)
    mean_s, cov_s = mean_cov(style)
    assert torch.allclose(mean_o, mean_s, atol=1e-9)
    assert torch.allclose(cov_o, cov_s, rtol=1e-7, atol=1e-8)
    # float32 content features go through the same map in float32: still close
    _, cov_f = mean_cov(wct(content, stats))
    assert torch.allclose(cov_f, cov_s, rtol=1e-3, atol=1e-3 * cov_s.abs().max())


def test_wct_alpha_zero_is_identity_and_blend_is_linear() -> None:
    content = correlated(4, 500, seed=3).reshape(4, 20, 25)
    s1, s2 = colour_stats(correlated(4, 400, seed=4)), colour_stats(correlated(4, 400, seed=5))
    assert torch.allclose(wct(content, s1, alpha=0.0), content)
    mixed = wct(content, blend_stats([s1, s2], [0.3, 0.7]))
    assert torch.allclose(mixed, 0.3 * wct(content, s1) + 0.7 * wct(content, s2), atol=1e-9)


def test_adain_output_has_style_channel_statistics() -> None:
    g = torch.Generator().manual_seed(0)
    content = torch.randn(2, 16, 9, 11, generator=g) * 3 + 1
    style = torch.rand(2, 16, 7, 5, generator=g) * 5
    s_mean, s_std = mean_std(style)
    o_mean, o_std = mean_std(adain(content, s_mean, s_std))
    assert torch.allclose(o_mean, s_mean, atol=1e-4)
    assert torch.allclose(o_std, s_std, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------------------------ decoders


@pytest.mark.parametrize(("level", "channels", "scale"), [("relu1_1", 64, 1), ("relu2_1", 128, 2),
                                                          ("relu3_1", 256, 4), ("relu4_1", 512, 8)])
def test_decoder_mirrors_vgg(level: str, channels: int, scale: int) -> None:
    dec = Decoder(level)
    assert dec.in_channels == channels and dec.scale == scale
    assert dec(torch.zeros(1, channels, 3, 5)).shape == (1, 3, 3 * scale, 5 * scale)


def _write_decoder(path, level: str, seed: int = 0, method: str = "wct", normalisation: str = "caffe") -> None:
    torch.manual_seed(seed)
    write_decoder(Decoder(level), path, DecoderTrainConfig(method=method, level=level), 0, LossHistory(), normalisation,
                  0.0, {})


def test_missing_corrupt_and_mismatched_decoder_files(tmp_path) -> None:
    with pytest.raises(WeightsError, match="train-decoder --method adain --level relu4_1"):
        load_decoder(tmp_path / "nothing.safetensors", "adain", "relu4_1")
    good = tmp_path / "d.safetensors"
    _write_decoder(good, "relu2_1")
    assert isinstance(load_decoder(good, "wct", "relu2_1", "caffe"), Decoder)
    with pytest.raises(WeightsError, match="decoder for relu2_1, not relu3_1"):
        load_decoder(good, "wct", "relu3_1")
    with pytest.raises(WeightsError, match="torch-normalised"):
        load_decoder(good, "wct", "relu2_1", "torch")
    data = bytearray(good.read_bytes())
    data[-20:] = b"\x00" * 20  # flipped bytes: the model card's checksum catches it
    good.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="corrupt"):
        load_decoder(good, "wct", "relu2_1")
    garbage = tmp_path / "g.safetensors"
    garbage.write_bytes(b"not a safetensors file at all")
    with pytest.raises(WeightsError, match="cannot read"):
        load_decoder(garbage, "wct", "relu2_1")
    wrong = tmp_path / "w.safetensors"
    from vidstyle.weights import save_safetensors
    save_safetensors({"layers.1.weight": torch.zeros(3, 3)}, wrong, {"level": "relu2_1"})
    with pytest.raises(WeightsError, match="does not hold"):
        load_decoder(wrong, "wct", "relu2_1")


# ------------------------------------------------------------------------------------------------ training


def _photos(folder, n: int = 3, size: int = 40) -> None:
    folder.mkdir()
    g = torch.Generator().manual_seed(1)
    for i in range(n):  # smooth random images: something a decoder can learn to reproduce
        low = torch.rand(1, 3, 5, 5, generator=g)
        save_image(torch.nn.functional.interpolate(low, size=(size, size + 8), mode="bicubic").clamp(0, 1),
                   folder / f"p{i}.png")


def test_decoder_training_loss_falls_and_resumes(tmp_path) -> None:
    from vidstyle.nets.vgg import load_vgg
    from vidstyle.train.decoder import train_decoder

    _photos(tmp_path / "photos")
    enc = load_vgg(["relu2_1"])
    out, ckpt = tmp_path / "dec.safetensors", tmp_path / "dec.ckpt.pt"
    cfg = DecoderTrainConfig(method="wct", level="relu2_1", size=24, steps=30, batch_size=2, lr=2e-3,
                             checkpoint_every=15)
    card = train_decoder(cfg, [tmp_path / "photos"], [], out, enc, checkpoint=ckpt, progress=False)
    assert card["training"]["steps"] == 30 and card["level"] == "relu2_1"
    assert json.loads(card_path(out).read_text())["weights"]["sha256"] == card["weights"]["sha256"]
    totals = [v for _, v in torch.load(ckpt, weights_only=False)["history"]["total"]]
    assert len(totals) == 30
    assert sum(totals[-5:]) / 5 < 0.5 * sum(totals[:5]) / 5
    assert out.with_suffix(".loss.png").is_file()
    # resume continues from the checkpoint's step instead of starting over
    card = train_decoder(replace(cfg, steps=32), [tmp_path / "photos"], [], out, enc, checkpoint=ckpt, resume=True, force=True,
                         progress=False)
    assert card["training"]["steps"] == 32
    assert len(torch.load(ckpt, weights_only=False)["history"]["total"]) == 32
    decoder = load_decoder(out, "wct", "relu2_1", enc.normalisation)
    assert decoder(torch.zeros(1, 128, 4, 4)).shape == (1, 3, 8, 8)
    # a deeper decoder can start from this one: its mirrored tail is the relu2_1 decoder
    deeper = Decoder("relu3_1")
    assert deeper.init_from(decoder) == 3
    assert torch.equal(deeper.layers[-1].weight, decoder.layers[-1].weight)


def test_adain_training_needs_styles(tmp_path) -> None:
    from vidstyle.nets.vgg import load_vgg
    from vidstyle.train.decoder import train_decoder

    with pytest.raises(VidstyleError, match="--styles"):
        train_decoder(DecoderTrainConfig(method="adain"), [tmp_path], [], tmp_path / "x.safetensors", load_vgg(["relu1_1"]))


def test_adain_decoder_loss_terms_are_scale_free() -> None:
    """Relative content/style terms: scaling the features' units (Caffe vs torch VGG) leaves them unchanged."""
    from vidstyle.nets.vgg import load_vgg
    from vidstyle.train.decoder import DecoderLoss

    enc = load_vgg(["relu4_1"])
    layers = ("relu1_1", "relu4_1")
    cfg = DecoderTrainConfig(method="adain", style_layers=layers, identity_weight=2.0)
    g = torch.Generator().manual_seed(0)
    content = torch.rand(2, 3, 32, 32, generator=g)
    feats = enc(torch.rand(3, 3, 32, 32, generator=g), layers)
    stats = {k: mean_std(v) for k, v in feats.items()}

    class Scaled(torch.nn.Module):  # the same encoder in units k× larger
        normalisation = enc.normalisation

        def __init__(self, k: float) -> None:
            super().__init__()
            self.k = k

        def forward(self, x, names):
            return {n: f * self.k for n, f in enc(x, names).items()}

    torch.manual_seed(1)
    dec = Decoder("relu4_1")
    losses = []
    for k in (1.0, 1000.0):
        dec.input_scale.fill_(1.0 / k)  # the decoder sees the same inputs either way
        scaled_stats = {n: (m * k, s * k) for n, (m, s) in stats.items()}
        with torch.no_grad():
            losses.append(DecoderLoss(cfg, Scaled(k), dec, scaled_stats)(content, torch.Generator().manual_seed(3)))
    for name in ("content", "style", "identity"):
        torch.testing.assert_close(losses[0][name], losses[1][name], rtol=1e-3, atol=1e-6)
    with torch.no_grad():
        expected_identity = F.mse_loss(dec(enc(content, ["relu4_1"])["relu4_1"] * 1000.0), content)
    torch.testing.assert_close(losses[1]["identity"], expected_identity, rtol=1e-4, atol=1e-7)
    total = losses[0]["content"] + cfg.style_weight * losses[0]["style"] + 2.0 * losses[0]["identity"]
    torch.testing.assert_close(losses[0]["total"], total)


# ------------------------------------------------------------------------------------------------ styliser


@pytest.fixture(scope="module")
def decoders(tmp_path_factory):
    """Random-init decoders (architecture and determinism are what is tested, not quality)."""
    folder = tmp_path_factory.mktemp("decoders")
    paths = {}
    for method, level in (("adain", "relu4_1"), ("wct", "relu3_1"), ("wct", "relu1_1")):
        paths[(method, level)] = folder / f"{method}-{level}.safetensors"
        _write_decoder(paths[(method, level)], level, method=method)
    return paths


@pytest.fixture(scope="module")
def encoder():
    from vidstyle.nets.vgg import load_vgg

    return load_vgg(["relu4_1"])


def _styles():
    g = torch.Generator().manual_seed(7)
    return [torch.rand(1, 3, 24, 32, generator=g), torch.rand(1, 3, 20, 20, generator=g) * 0.5]


@pytest.mark.parametrize("method", ["adain", "wct"])
def test_styliser_any_size_deterministic(method: str, decoders, encoder) -> None:
    from vidstyle.stylise.arbitrary import ArbitraryStyliser

    levels = ("relu3_1", "relu1_1") if method == "wct" else ("relu4_1",)
    kw = {"method": method, "levels": levels, "decoders": {lvl: decoders[(method, lvl)] for lvl in levels},
          "encoder": encoder}
    frames = torch.rand(2, 3, 21, 30, generator=torch.Generator().manual_seed(3))
    a = ArbitraryStyliser(_styles(), style_weights=[0.7, 0.3], **kw)
    out = a.stylise(frames)
    assert out.shape == frames.shape and out.min() >= 0 and out.max() <= 1
    assert torch.equal(out, ArbitraryStyliser(_styles(), style_weights=[0.7, 0.3], **kw).stylise(frames))
    assert torch.equal(out[1:], a.stylise(frames[1:]))  # a frame's result does not depend on its batch
    only_first = ArbitraryStyliser(_styles()[:1], **kw)
    weighted = ArbitraryStyliser(_styles(), style_weights=[1, 0], **kw)
    assert torch.allclose(only_first.stylise(frames[:1]), weighted.stylise(frames[:1]), atol=1e-5)
    for colour in (True, "histogram"):
        kept = ArbitraryStyliser(_styles(), preserve_color=colour, **kw).stylise(frames[:1])
        assert kept.shape == (1, 3, 21, 30) and kept.min() >= 0 and kept.max() <= 1


def test_compiled_styliser_matches_eager(decoders, encoder) -> None:
    from vidstyle.stylise.arbitrary import ArbitraryStyliser

    kw = {"method": "adain", "decoders": {"relu4_1": decoders[("adain", "relu4_1")]}, "encoder": encoder}
    frames = torch.rand(1, 3, 16, 24, generator=torch.Generator().manual_seed(5))
    eager = ArbitraryStyliser(_styles(), **kw).stylise(frames)
    compiled = ArbitraryStyliser(_styles(), compile=True, **kw).stylise(frames)
    torch.testing.assert_close(compiled, eager, atol=1e-4, rtol=1e-4)


def test_styliser_errors(tmp_path, decoders, encoder) -> None:
    from vidstyle.stylise.arbitrary import ArbitraryStyliser

    with pytest.raises(WeightsError, match="train-decoder --method wct --level relu2_1"):
        ArbitraryStyliser(_styles(), method="wct", levels=("relu2_1",), encoder=encoder,
                          decoders={"relu2_1": tmp_path / "none.safetensors"})
    with pytest.raises(WeightsError, match="not relu4_1"):
        ArbitraryStyliser(_styles(), method="adain", encoder=encoder, decoders={"relu4_1": decoders[("wct", "relu3_1")]})
    with pytest.raises(VidstyleError, match="style weights"):
        ArbitraryStyliser(_styles(), method="adain", encoder=encoder, decoders={"relu4_1": decoders[("adain", "relu4_1")]},
                          style_weights=[1])
    with pytest.raises(VidstyleError, match="unknown arbitrary-style method"):
        ArbitraryStyliser(_styles(), method="magic")


def test_train_decoder_cli_refuses_to_overwrite(tmp_path) -> None:
    from typer.testing import CliRunner

    from vidstyle.cli import app

    out = tmp_path / "d.safetensors"
    out.write_bytes(b"x")
    result = CliRunner().invoke(app, ["train-decoder", "--method", "wct", "--content", str(tmp_path), "--out", str(out)])
    assert result.exit_code != 0
    assert "--force" in str(result.exception) or "--force" in result.output


@pytest.mark.parametrize("method", ["adain", "wct"])
def test_strength_and_style_weights_change_per_call(method: str, decoders, encoder) -> None:
    """Strength and style curves (vidstyle.schedule) re-weight the kept per-style statistics between calls: the same
    as a styliser built with those settings."""
    from vidstyle.stylise.arbitrary import ArbitraryStyliser

    levels = ("relu3_1", "relu1_1") if method == "wct" else ("relu4_1",)
    kw = {"method": method, "levels": levels, "decoders": {lvl: decoders[(method, lvl)] for lvl in levels},
          "encoder": encoder}
    frames = torch.rand(1, 3, 21, 30, generator=torch.Generator().manual_seed(4))
    live = ArbitraryStyliser(_styles(), **kw)
    live.set_style_weights([0.2, 0.8])
    live.set_strength(0.4)
    built = ArbitraryStyliser(_styles(), style_weights=[0.2, 0.8], alpha=0.4, **kw)
    torch.testing.assert_close(live.stylise(frames), built.stylise(frames), atol=1e-5, rtol=0)
    live.set_style_weights([1, 0])
    live.set_strength(1.0)
    torch.testing.assert_close(live.stylise(frames), ArbitraryStyliser(_styles()[:1], **kw).stylise(frames),
                               atol=1e-5, rtol=0)


@pytest.mark.parametrize("method,levels", [("adain", ("relu4_1",)), ("wct", ("relu3_1", "relu1_1"))])
def test_tiled_styliser_matches_untiled_with_shared_content_statistics(method, levels, decoders, encoder) -> None:
    """Tiles of 128 px share the frame's content statistics: with statistics of the full frame (its long side is
    under the statistics pass's 256 px) the tiled output is the untiled one up to float rounding."""
    from vidstyle.stylise.arbitrary import ArbitraryStyliser

    kw = {"method": method, "levels": levels, "decoders": {lvl: decoders[(method, lvl)] for lvl in levels},
          "encoder": encoder}
    g = torch.Generator().manual_seed(11)
    frame = torch.nn.functional.interpolate(torch.rand(1, 3, 20, 31, generator=g), size=(160, 248), mode="bilinear")
    untiled = ArbitraryStyliser(_styles(), tile=0, **kw).stylise(frame)
    tiled = ArbitraryStyliser(_styles(), tile=128, **kw).stylise(frame)
    assert tiled.shape == untiled.shape
    err = (tiled - untiled).abs()
    assert err.max() < 1e-4, float(err.max())  # measured ~6e-8: the halo covers what the crop needs
    # each tile normalised by its own statistics instead (what the shared statistics prevent) is further off
    own = ArbitraryStyliser(_styles(), tile=0, **kw)
    pieces = torch.cat([own.stylise(frame[..., :128]), own.stylise(frame[..., 128:])], -1)
    assert (pieces - untiled).abs().mean() > 1e-3  # measured 0.019 (AdaIN), 0.16 (WCT)
