"""Distillation from the magenta teacher and the temporally fine-tuned generator: tiny random networks only."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from vidstyle.config import TrainConfig
from vidstyle.errors import VidstyleError, WeightsError
from vidstyle.flow import warp
from vidstyle.losses import temporal_loss
from vidstyle.nets.transformer import load_transformer
from vidstyle.weights import CARD_KEYS, read_card
from vidstyle.nets.magenta import (GENERATOR_KIND, StylePredictor, StyleTransformer, fuse_magenta,
                                   load_generator_weights)
from vidstyle.nets.transformer import build_net
from vidstyle.train.teacher import (distil_magenta, distil_step_fn, finetune_magenta_temporal, list_paintings,
                                    style_bank)
from vidstyle.weights import sha256_file


def _smooth(n, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(n, 3, h // 4, w // 4, generator=g), size=(h, w), mode="bicubic",
                         align_corners=False).clamp(0, 1)


def _png(t, path):
    Image.fromarray((t[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(path)


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    return StylePredictor().eval(), StyleTransformer(width=2, blocks=1).eval()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ms")
    (root / "photos").mkdir()
    (root / "paintings").mkdir()
    for i in range(3):
        _png(_smooth(1, 48, 56, seed=i), root / "photos" / f"p{i}.png")
    for stem in ("a", "b", "munch_the_scream"):
        _png(_smooth(1, 40, 52, seed=hash(stem) % 100), root / "paintings" / f"{stem}.png")
    seq = root / "video" / "seqA"
    seq.mkdir(parents=True)
    base = _smooth(1, 48, 64, seed=7)
    for t in range(3):  # a pan by one pixel per frame
        _png(torch.roll(base, t, dims=-1), seq / f"{t:05d}.jpg")
    return root


class FixedPairs:
    """A data source giving the same pair every time (``PairSource.sample``'s signature)."""

    def __init__(self, cur, prev, flow, mask):
        self.item = cur, prev, flow, mask

    def sample(self, batch, g):
        return self.item


def test_a_few_distillation_steps_lower_the_loss(nets):
    _, gen = nets
    teacher = fuse_magenta(gen)
    z = torch.randn(1, 100)
    student = build_net("lite")
    cur = _smooth(2, 32, 32, seed=1)
    data = FixedPairs(cur, None, None, None)
    cfg = TrainConfig(batch_size=2, temporal_weight=0.0)
    step = distil_step_fn(student, teacher, z, data, cfg, "cpu")
    opt = torch.optim.Adam(student.parameters(), lr=5e-3)
    g = torch.Generator().manual_seed(0)
    first = step(g)["pixel"].item()
    for _ in range(12):
        losses = step(g)
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
    assert step(g)["pixel"].item() < 0.8 * first


def test_temporal_term_is_wired_zero_for_a_perfect_warp(nets):
    _, gen = nets
    teacher = fuse_magenta(gen)
    z = torch.randn(1, 100)
    student = build_net("lite").eval()
    cfg = TrainConfig(batch_size=2, temporal_weight=5.0)
    frame = _smooth(2, 32, 32, seed=2)
    mask = torch.ones(2, 1, 32, 32)
    still = FixedPairs(frame, frame.clone(), torch.zeros(2, 2, 32, 32), mask)  # no motion: O_t = warp(O_{t-1}, 0)
    losses = distil_step_fn(student, teacher, z, still, cfg, "cpu")(torch.Generator())
    assert losses["temporal"].item() < 1e-10
    assert torch.allclose(losses["total"], cfg.pixel_weight * losses["pixel"])
    moved = _smooth(2, 32, 32, seed=3)
    flow = torch.zeros(2, 2, 32, 32)
    losses = distil_step_fn(student, teacher, z, FixedPairs(frame, moved, flow, mask), cfg, "cpu")(torch.Generator())
    with torch.no_grad():
        expect = temporal_loss(student(frame), warp(student(moved), flow), mask)
    assert losses["temporal"].item() > 0
    assert losses["temporal"].item() == pytest.approx(expect.item(), rel=1e-4)
    assert losses["total"].item() == pytest.approx((losses["pixel"] + 5.0 * losses["temporal"]).item(), rel=1e-5)


def test_per_sample_embeddings_follow_both_frames_of_a_pair(nets):
    _, gen = nets
    teacher = fuse_magenta(gen)
    student = fuse_magenta(gen)  # the student *is* the teacher: zero pixel loss only if z lines up per sample
    cfg = TrainConfig(batch_size=2, temporal_weight=1.0)
    frame = _smooth(2, 24, 24, seed=4)
    data = FixedPairs(frame, _smooth(2, 24, 24, seed=5), torch.zeros(2, 2, 24, 24), torch.ones(2, 1, 24, 24))
    zs = torch.randn(2, 100)
    losses = distil_step_fn(student, teacher, lambda g: zs, data, cfg, "cpu", student_takes_z=True)(torch.Generator())
    assert losses["pixel"].item() < 1e-6


def test_distil_magenta_writes_a_complete_distillation_card(nets, data, tmp_path):
    pred, gen = nets
    out = tmp_path / "s.safetensors"
    cfg = TrainConfig(arch="lite", size=32, steps=2, batch_size=2, checkpoint_every=1, temporal_weight=10.0,
                      synthetic_pairs=False, held_out=())
    card = distil_magenta(data / "paintings" / "a.png", [data / "photos"], out, cfg, video=data / "video",
                          checkpoint=tmp_path / "s.ckpt", device="cpu", progress=False, predictor=pred,
                          transformer=gen)
    saved = read_card(out)
    assert all(k in saved for k in CARD_KEYS)
    assert saved["training"]["method"] == "distillation" and saved["training"]["teacher"] == "magenta"
    assert saved["training"]["steps"] == 2 and saved["weights"]["sha256"] == sha256_file(out)
    assert saved["style"]["sha256"] == sha256_file(data / "paintings" / "a.png")
    assert len(card["training"]["teacher_embedding"]) == 100
    net, _ = load_transformer(out)
    assert net(torch.rand(1, 3, 20, 20)).shape == (1, 3, 20, 20)


def test_paintings_hold_out_and_style_bank(nets, data):
    pred, _ = nets
    files = list_paintings([data / "paintings"])
    assert [f.stem for f in files] == ["a", "b"]
    bank = style_bank(files, pred, views=3, hue=0.1)
    assert bank.shape == (2, 3, 100)
    assert not torch.equal(bank[0, 0], bank[0, 1])  # crops/hue jitter move the embedding


@pytest.fixture(scope="module")
def finetuned(nets, data, tmp_path_factory):
    pred, gen = nets
    tmp = tmp_path_factory.mktemp("ft")
    out = tmp / "mt.safetensors"
    cfg = TrainConfig(size=32, steps=3, batch_size=2, checkpoint_every=1, temporal_weight=50.0, lr=1e-3,
                      synthetic_pairs=False, video_fraction=1.0, held_out=())
    finetune_magenta_temporal([data / "paintings"], [data / "photos"], out, cfg, video=data / "video",
                              style_views_per_painting=2, checkpoint=tmp / "mt.ckpt", device="cpu", progress=False,
                              predictor=pred, transformer=gen)
    return out, tmp / "mt.ckpt"


def test_magenta_finetune_with_a_feature_loss(nets, data, tmp_path):
    """``--feature-weight`` on the magenta fine-tune: the VGG feature term is in the losses and on the card."""
    from vidstyle.nets.vgg import small_vgg

    pred, gen = nets
    out = tmp_path / "mtf.safetensors"
    cfg = TrainConfig(size=32, steps=2, batch_size=2, temporal_weight=10.0, feature_weight=0.5, lr=1e-3,
                      synthetic_pairs=False, video_fraction=1.0, held_out=())
    card = finetune_magenta_temporal([data / "paintings"], [data / "photos"], out, cfg, video=data / "video",
                                     style_views_per_painting=2, device="cpu", progress=False, predictor=pred,
                                     transformer=gen, vgg=small_vgg(cfg.feature_layers))
    assert card["final_losses"]["feature"] >= 0 and "temporal" in card["final_losses"]
    assert card["training"]["feature_weight"] == 0.5 and card["training"]["feature_layers"] == ["relu2_2", "relu3_1"]


def test_magenta_finetune_with_the_style_loss(nets, data, tmp_path):
    """``--style-weight`` on the magenta fine-tune: a Gram loss against each sampled view's painting joins the
    distillation (a finite, positive term), and the card records it; without it the card has no style entries."""
    from vidstyle.nets.vgg import small_vgg

    pred, gen = nets
    cfg = TrainConfig(size=32, steps=2, batch_size=2, temporal_weight=10.0, style_size=32, lr=1e-3,
                      synthetic_pairs=False, video_fraction=1.0, held_out=())
    vgg = small_vgg(cfg.feature_layers + cfg.style_layers)
    card = finetune_magenta_temporal([data / "paintings"], [data / "photos"], tmp_path / "mts.safetensors", cfg,
                                     video=data / "video", style_views_per_painting=2, device="cpu", progress=False,
                                     predictor=pred, transformer=gen, vgg=vgg, style_weight=0.5)
    assert 0 < card["final_losses"]["style"] < float("inf")
    assert card["training"]["style_weight"] == 0.5 and card["training"]["style_layers"] == list(cfg.style_layers)
    plain = finetune_magenta_temporal([data / "paintings"], [data / "photos"], tmp_path / "mt0.safetensors",
                                      TrainConfig(size=32, steps=1, batch_size=2, temporal_weight=10.0,
                                                  synthetic_pairs=False, video_fraction=1.0, held_out=()),
                                      video=data / "video", style_views_per_painting=2, device="cpu", progress=False,
                                      predictor=pred, transformer=gen)
    assert "style" not in plain["final_losses"] and "style_weight" not in plain["training"]


def test_saved_generator_loads_with_identical_outputs(finetuned):
    out, ckpt = finetuned
    card = read_card(out)
    assert card["kind"] == GENERATOR_KIND and all(k in card for k in CARD_KEYS)
    assert [p["file"] for p in card["training"]["paintings"]] == ["a.png", "b.png"]  # munch held out
    assert card["weights"]["sha256"] == sha256_file(out) and card["training"]["steps"] == 3
    loaded = load_generator_weights(out)
    ref = StyleTransformer(width=2, blocks=1)
    state = torch.load(ckpt, weights_only=False)["model"]
    ref.load_state_dict({k: v.half().float() for k, v in state.items()})  # the file is fp16
    x, z = _smooth(1, 28, 36, seed=11), torch.randn(1, 100)
    with torch.no_grad():
        assert torch.equal(loaded(x, z), ref.eval()(x, z))
        assert not torch.equal(state["residual.0.conv1.norm.gamma.weight"],
                               StyleTransformer(width=2, blocks=1).residual[0].conv1.norm.gamma.weight)


def test_magenta_styliser_takes_the_generator_file(finetuned, nets):
    from vidstyle.stylise.magenta import MagentaStyliser

    out, _ = finetuned
    pred, _ = nets
    s = MagentaStyliser([torch.rand(1, 3, 40, 40)], transformer=out, predictor=pred, backend="torch")
    x = _smooth(1, 24, 32, seed=3)
    y = s.stylise(x)
    with torch.no_grad():
        ref = load_generator_weights(out)(x, s._style_z)
    assert torch.allclose(y, ref, atol=1e-5)


def test_corrupt_generator_or_card_is_one_clear_error(finetuned, tmp_path):
    out, _ = finetuned
    bad = tmp_path / "bad.safetensors"
    data = bytearray(out.read_bytes())
    data[-5] ^= 0xFF
    bad.write_bytes(bytes(data))
    (tmp_path / "bad.json").write_text(out.with_suffix(".json").read_text())
    with pytest.raises(WeightsError, match="corrupt"):
        load_generator_weights(bad)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(WeightsError, match="cannot read model card"):
        load_generator_weights(bad)
    (tmp_path / "bad.json").unlink()
    with pytest.raises(WeightsError, match="card .* is missing"):
        load_generator_weights(bad)
    card = json.loads(out.with_suffix(".json").read_text())
    card["kind"] = "feedforward-transformer"
    (tmp_path / "bad.json").write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="not the card of a magenta generator"):
        load_generator_weights(bad)


def test_cli_teacher_magenta_needs_a_style(tmp_path):
    from typer.testing import CliRunner

    from vidstyle.cli import app

    r = CliRunner().invoke(app, ["train", "--teacher", "magenta", "--content", str(tmp_path),
                                 "--out", str(tmp_path / "x.safetensors")])
    assert r.exit_code != 0
    assert "--teacher magenta needs --style" in (r.output + str(r.exception))


def test_shipped_magenta_temporal_card_and_checksum():
    from pathlib import Path

    weights = Path(__file__).resolve().parents[1] / "models" / "magenta-temporal.safetensors"
    if not weights.is_file():
        pytest.skip("models/magenta-temporal.safetensors not shipped")
    card = read_card(weights)
    assert all(k in card for k in CARD_KEYS) and card["kind"] == GENERATOR_KIND
    assert card["weights"]["sha256"] == sha256_file(weights) and card["training"]["steps"] > 0
    net = load_generator_weights(weights)
    with torch.no_grad():
        assert net(torch.rand(1, 3, 24, 24), torch.zeros(1, 100)).shape == (1, 3, 24, 24)


def test_cli_magenta_finetune_defaults_to_the_shipped_recipe(tmp_path, monkeypatch, cli):
    """``train-multistyle --arch magenta`` without weights/steps trains the recipe of ``models/magenta-temporal``;
    given options win; the Johnson generators keep their own defaults."""
    from typer.testing import CliRunner

    import vidstyle.train.teacher as teacher
    from vidstyle.cli import app
    from vidstyle.config import MAGENTA_TEMPORAL_RECIPE

    seen = {}

    def capture(**kw):
        seen["cfg"], seen["style_weight"] = kw["cfg"], kw.get("style_weight")
        return {"final_losses": {}, "arch": "magenta", "training": {"steps": 1, "paintings": []}}

    monkeypatch.setattr(teacher, "finetune_magenta_temporal", capture)
    args = ["train-multistyle", "--styles", str(tmp_path), "--content", str(tmp_path), "--out", str(tmp_path / "m.safetensors")]
    assert CliRunner().invoke(app, args).exit_code == 0
    assert {k: getattr(seen["cfg"], k) for k in MAGENTA_TEMPORAL_RECIPE} == MAGENTA_TEMPORAL_RECIPE
    assert CliRunner().invoke(app, [*args, "--temporal-weight", "5", "--steps", "7"]).exit_code == 0
    assert (seen["cfg"].temporal_weight, seen["cfg"].steps, seen["cfg"].feature_weight) == (5.0, 7, 1.0)
    from vidstyle.config import MAGENTA_TEMPORAL_STYLE_WEIGHT

    assert seen["style_weight"] == MAGENTA_TEMPORAL_STYLE_WEIGHT  # the shipped recipe's style term
    assert CliRunner().invoke(app, [*args, "--style-weight", "0.2"]).exit_code == 0
    assert seen["style_weight"] == 0.2
    assert CliRunner().invoke(app, [*args, "--feature-layers", "relu1_1, relu2_1"]).exit_code == 0
    assert seen["cfg"].feature_layers == ("relu1_1", "relu2_1")
    code, _, err = cli(*args, "--feature-layers", "relu2_1,relu9_9")
    assert code == 1 and "unknown VGG-19 layer 'relu9_9'" in err and "Traceback" not in err


def test_feature_layers_are_validated_by_the_config():
    """Off the default, every feature layer must be a VGG-19 layer; an empty list is refused."""
    assert TrainConfig(feature_layers=("relu1_1", "relu3_1")).feature_layers == ("relu1_1", "relu3_1")
    for bad in [("relu1_1", "conv9_1"), ()]:
        with pytest.raises(VidstyleError, match="feature_layers"):
            TrainConfig(feature_layers=bad)
