"""Style-conditioned Johnson generators (``train-multistyle --arch johnson… --inject …``): tiny networks only."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from vidstyle.config import TrainConfig
from vidstyle.errors import VidstyleError, WeightsError
from vidstyle.nets.magenta import GENERATOR_KIND, StylePredictor, StyleTransformer, fuse_magenta, load_generator_weights
from vidstyle.nets.multistyle import INJECTIONS, MultiSpec, MultiStyleNet, build_multistyle
from vidstyle.nets.vgg import small_vgg
from vidstyle.train.multistyle import train_multistyle
from vidstyle.train.teacher import distil_step_fn
from vidstyle.weights import CARD_KEYS, read_card, sha256_file


def _smooth(n, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(n, 3, h // 4, w // 4, generator=g), size=(h, w), mode="bicubic",
                         align_corners=False).clamp(0, 1)


def _png(t, path):
    Image.fromarray((t[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(path)


def _randomise_conditioning(net: nn.Module, seed: int = 0) -> nn.Module:
    """Fresh conditioning layers start z-independent (γ = 1, β = 0, zero 1×1 projections): give them weights."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.Linear):
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.2)
    return net


@pytest.mark.parametrize("inject", INJECTIONS)
def test_each_injection_keeps_the_shape_and_z_changes_the_output(inject):
    torch.manual_seed(0)
    net = _randomise_conditioning(MultiStyleNet(MultiSpec(inject, width=4, blocks=2))).eval()
    x = _smooth(2, 30, 42, seed=1)  # not a multiple of 4: padded and cropped back
    z1, z2 = torch.randn(1, 100), torch.randn(1, 100)
    with torch.no_grad():
        y1, y2 = net(x, z1), net(x, z2)
        per_sample = net(x, torch.cat([z1, z2]))
    assert y1.shape == x.shape and float(y1.min()) >= 0 and float(y1.max()) <= 1
    assert (y1 - y2).abs().mean() > 1e-3
    assert torch.allclose(per_sample[0], y1[0], atol=1e-5) and torch.allclose(per_sample[1], y2[1], atol=1e-5)


def test_a_fresh_film_or_cin_net_ignores_z_until_trained():
    net = MultiStyleNet(MultiSpec("film", width=4, blocks=1)).eval()
    x = _smooth(1, 16, 16)
    with torch.no_grad():
        d = (net(x, torch.zeros(1, 100)) - net(x, torch.ones(1, 100) * 5)).abs().max()
    assert d < 0.05  # identity-initialised γ, β: the style dependence is learnt


def test_bad_spec_and_bad_embedding_are_clear_errors():
    with pytest.raises(VidstyleError, match="unknown injection"):
        MultiSpec("patchy")
    with pytest.raises(VidstyleError, match="unknown generator size"):
        build_multistyle("film", "huge")
    net = MultiStyleNet(MultiSpec("cin", width=2, blocks=1))
    with pytest.raises(VidstyleError, match="style embedding must be"):
        net(torch.rand(2, 3, 16, 16), torch.zeros(3, 100))


@pytest.mark.parametrize("inject", INJECTIONS)
def test_a_few_distillation_steps_lower_the_loss(inject):
    torch.manual_seed(0)
    teacher = fuse_magenta(StyleTransformer(width=2, blocks=1).eval())
    student = MultiStyleNet(MultiSpec(inject, width=4, blocks=1))
    zs = torch.randn(2, 100)

    class Fixed:
        def sample(self, batch, g):
            return _smooth(2, 24, 24, seed=2), None, None, None

    cfg = TrainConfig(batch_size=2, temporal_weight=0.0)
    step = distil_step_fn(student, teacher, lambda g: zs, Fixed(), cfg, "cpu", student_takes_z=True)
    opt = torch.optim.Adam(student.parameters(), lr=5e-3)
    g = torch.Generator().manual_seed(0)
    first = step(g)["pixel"].item()
    for _ in range(15):
        losses = step(g)
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
    assert step(g)["pixel"].item() < 0.8 * first


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("msj")
    (root / "photos").mkdir()
    (root / "paintings").mkdir()
    for i in range(3):
        _png(_smooth(1, 48, 56, seed=i), root / "photos" / f"p{i}.png")
    for i, stem in enumerate(("a", "b", "munch_the_scream")):
        _png(_smooth(1, 40, 52, seed=20 + i), root / "paintings" / f"{stem}.png")
    seq = root / "video" / "seqA"
    seq.mkdir(parents=True)
    base = _smooth(1, 48, 64, seed=7)
    for t in range(3):
        _png(torch.roll(base, t, dims=-1), seq / f"{t:05d}.jpg")
    return root


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    torch.manual_seed(0)
    pred, gen = StylePredictor().eval(), StyleTransformer(width=2, blocks=1).eval()
    tmp = tmp_path_factory.mktemp("msj-out")
    out = tmp / "film.safetensors"
    layers = ("relu1_1", "relu2_1", "relu2_2", "relu3_1")
    cfg = TrainConfig(size=32, steps=3, batch_size=2, checkpoint_every=1, temporal_weight=5.0, feature_weight=1.0,
                      style_weight=1.0, style_size=32, style_layers=("relu1_1", "relu2_1"), synthetic_pairs=False,
                      video_fraction=1.0, held_out=())
    card = train_multistyle([data / "paintings"], [data / "photos"], out, cfg, inject="film", arch="johnson-lite",
                            video=data / "video", style_views_per_painting=2, checkpoint=tmp / "film.ckpt",
                            device="cpu", progress=False, predictor=pred, transformer=gen, vgg=small_vgg(layers))
    return out, tmp / "film.ckpt", card, pred


def test_trained_generator_card_is_complete_and_losses_are_all_there(trained):
    out, _, card, _ = trained
    saved = read_card(out)
    assert all(k in saved for k in CARD_KEYS) and saved["kind"] == GENERATOR_KIND
    assert saved["arch"] == "johnson-lite-film" and saved["generator"]["inject"] == "film"
    assert [p["file"] for p in saved["training"]["paintings"]] == ["a.png", "b.png"]  # munch held out
    assert saved["weights"]["sha256"] == sha256_file(out) and saved["training"]["steps"] == 3
    assert {"pixel", "feature", "temporal", "style", "tv", "total"} <= set(card["final_losses"])


def test_saved_multistyle_generator_loads_with_identical_outputs(trained):
    out, ckpt, _, _ = trained
    loaded = load_generator_weights(out)
    assert isinstance(loaded, MultiStyleNet) and loaded.spec == MultiSpec("film", 8, 3)
    ref = MultiStyleNet(MultiSpec("film", 8, 3))
    state = torch.load(ckpt, weights_only=False)["model"]
    ref.load_state_dict({k: v.half().float() for k, v in state.items()})  # the file is fp16
    x, z = _smooth(1, 28, 36, seed=11), torch.randn(1, 100)
    with torch.no_grad():
        assert torch.equal(loaded(x, z), ref.eval()(x, z))


def test_magenta_styliser_runs_a_multistyle_generator_and_tiles_it(trained):
    from vidstyle.stylise.magenta import MagentaStyliser

    out, _, _, pred = trained
    s = MagentaStyliser([torch.rand(1, 3, 40, 40)], transformer=out, predictor=pred, backend="torch")
    x = _smooth(1, 40, 56, seed=3)
    y = s.stylise(x)
    with torch.no_grad():
        ref = load_generator_weights(out)(x, s._style_z)
    assert torch.allclose(y, ref, atol=1e-5)
    tiled = MagentaStyliser([torch.rand(1, 3, 40, 40)], transformer=out, predictor=pred, backend="torch", tile=32)
    assert torch.allclose(tiled.stylise(x), y, atol=2e-3)  # shared norm statistics: tiles agree with the whole


def test_onnx_backend_matches_torch_for_a_multistyle_generator(trained):
    pytest.importorskip("onnxruntime")
    from vidstyle.stylise.magenta import MagentaStyliser

    out, _, _, pred = trained
    style = [torch.rand(1, 3, 40, 40)]
    x = _smooth(1, 32, 48, seed=4)
    eager = MagentaStyliser(style, transformer=out, predictor=pred, backend="torch").stylise(x)
    onnx = MagentaStyliser(style, transformer=out, predictor=pred, backend="onnx").stylise(x)
    assert torch.allclose(eager, onnx, atol=1e-4)


def test_corrupt_multistyle_file_is_one_clear_error(trained, tmp_path):
    out, _, _, _ = trained
    bad = tmp_path / "bad.safetensors"
    raw = bytearray(out.read_bytes())
    raw[-5] ^= 0xFF
    bad.write_bytes(bytes(raw))
    (tmp_path / "bad.json").write_text(out.with_suffix(".json").read_text())
    with pytest.raises(WeightsError, match="corrupt"):
        load_generator_weights(bad)


def test_auto_with_a_generator_model_runs_the_magenta_method(trained):
    from vidstyle.methods import build_styliser, is_generator_model
    from vidstyle.stylise.magenta import MagentaStyliser

    out, _, _, _ = trained
    assert is_generator_model(out)
    assert not is_generator_model(out.with_name("nope.safetensors"))
    styliser, text = build_styliser("auto", [torch.rand(1, 3, 48, 48)], model=out, backend="torch")
    assert isinstance(styliser, MagentaStyliser) and "generator film" in text
    assert styliser.stylise(_smooth(1, 24, 32)).shape == (1, 3, 24, 32)


def test_additive_injections_would_be_erased_by_an_instance_norm():
    """Why concat/add1x1 blocks have no norm: a per-channel constant before an instance norm leaves no trace."""
    torch.manual_seed(0)
    conv, norm = nn.Conv2d(4 + 100, 4, 3, padding=1, padding_mode="reflect"), nn.InstanceNorm2d(4)
    f = torch.rand(1, 4, 12, 12)

    def block(z):
        return norm(conv(torch.cat([f, z[..., None, None].expand(1, 100, 12, 12)], 1)))

    assert torch.allclose(block(torch.zeros(1, 100)), block(torch.randn(1, 100) * 3), atol=1e-4)


def test_gram_features_and_predictor_shapes():
    from vidstyle.nets.multistyle import GramEncoder, GramPredictor, gram_features

    vgg = small_vgg(("relu1_1", "relu2_1", "relu3_1", "relu4_1"))  # widths 4 / 8 / 8 / 16
    x = torch.rand(3, 3, 32, 32)
    f = gram_features(vgg, x)
    assert f.shape == (3, 4 * 5 // 2 + 8 * 9 // 2 + 2 * (8 + 16))
    pred = GramPredictor(vgg, GramEncoder(in_dim=f.shape[1], hidden=8))
    assert pred(x).shape == (3, 100)


def test_gram_encoder_trains_jointly_then_alone_and_the_styliser_uses_it(data, tmp_path):
    from vidstyle.nets.multistyle import GramPredictor
    from vidstyle.stylise.magenta import MagentaStyliser

    torch.manual_seed(0)
    pred, gen = StylePredictor().eval(), StyleTransformer(width=2, blocks=1).eval()
    vgg = small_vgg(("relu1_1", "relu2_1", "relu2_2", "relu3_1", "relu4_1"))
    cfg = TrainConfig(size=32, steps=2, batch_size=2, checkpoint_every=1, temporal_weight=0.0, feature_weight=1.0,
                      synthetic_pairs=False, held_out=())
    joint = tmp_path / "gram.safetensors"
    train_multistyle([data / "paintings"], [data / "photos"], joint, cfg, inject="cin", arch="johnson-lite",
                     encoder="gram", style_views_per_painting=2, checkpoint=tmp_path / "g.ckpt", device="cpu",
                     progress=False, predictor=pred, transformer=gen, vgg=vgg)
    first = load_generator_weights(joint)
    assert first.spec.encoder == "gram" and first.style_encoder is not None
    frozen = tmp_path / "gram2.safetensors"
    card = train_multistyle([data / "paintings"], [data / "photos"], frozen, cfg, init=joint, freeze_generator=True,
                            style_views_per_painting=2, checkpoint=tmp_path / "g2.ckpt", device="cpu",
                            progress=False, predictor=pred, transformer=gen, vgg=vgg)
    second = load_generator_weights(frozen)
    assert card["training"]["phase"].startswith("encoder fine-tune")
    before, after = first.state_dict(), second.state_dict()
    enc_keys = [k for k in before if k.startswith("style_encoder.")]
    assert enc_keys and all(torch.equal(before[k], after[k]) for k in before if k not in enc_keys)
    assert any(not torch.equal(before[k], after[k]) for k in enc_keys)
    with pytest.raises(VidstyleError, match="--freeze-generator"):
        train_multistyle([data / "paintings"], [data / "photos"], tmp_path / "x.safetensors", cfg,
                         freeze_generator=True, device="cpu", progress=False, predictor=pred, transformer=gen,
                         vgg=vgg)
    s = MagentaStyliser([torch.rand(1, 3, 40, 40)], transformer=second, backend="torch",
                        predictor=GramPredictor(vgg, second.style_encoder))
    y = s.stylise(_smooth(1, 24, 32))
    with torch.no_grad():
        z = second.style_encoder(gram_features_of(vgg, s))
    assert y.shape == (1, 3, 24, 32) and z.shape == (1, 100)


def gram_features_of(vgg, styliser):
    from vidstyle.nets.multistyle import gram_features
    from vidstyle.stylise.magenta import style_views

    return gram_features(vgg, style_views(styliser.style_images[0], styliser.style_view)).mean(0, keepdim=True)


def test_every_shipped_generator_has_a_complete_card_and_loads():
    from pathlib import Path

    from vidstyle.weights import GENERATOR, list_models

    shipped = list_models(Path(__file__).resolve().parents[1] / "models", kind=GENERATOR)
    if not shipped:
        pytest.skip("no any-style generator shipped in models/")
    for m in shipped:
        card = read_card(m.path)
        assert all(k in card for k in CARD_KEYS), m.name
        assert card["weights"]["sha256"] == sha256_file(m.path) and card["training"]["steps"] > 0
        net = load_generator_weights(m.path)
        with torch.no_grad():
            assert net(torch.rand(1, 3, 24, 24), torch.zeros(1, 100)).shape == (1, 3, 24, 24)


def test_webcam_style_paints_with_the_shipped_lite_generator_when_installed(trained, tmp_path, monkeypatch):
    import shutil

    from vidstyle.commands.webcam import live_generator
    from vidstyle.config import LIVE_GENERATOR

    out, _, _, _ = trained
    monkeypatch.setenv("VIDSTYLE_MODELS", str(tmp_path))
    assert live_generator(None) is None  # not installed: the style-embedding network's own generator
    for suffix in (".safetensors", ".json"):
        shutil.copy(out.with_suffix(suffix), tmp_path / f"{LIVE_GENERATOR}{suffix}")
    assert live_generator(None) == LIVE_GENERATOR
    assert live_generator("magenta") is None and live_generator("mine") == "mine"
    assert load_generator_weights(LIVE_GENERATOR).spec == MultiSpec("film", 8, 3)  # found by name in models/
