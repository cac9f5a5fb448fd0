"""Training of feed-forward nets: losses go down, temporal loss, synthetic motion, checkpoints, shipped models."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from vidstyle.config import TrainConfig, replace
from vidstyle.errors import VidstyleError, WeightsError
from vidstyle.flow import warp
from vidstyle.losses import temporal_loss
from vidstyle.nets.transformer import load_transformer
from vidstyle.weights import CARD_KEYS, find_model_for_style, list_models, read_card, update_card
from vidstyle.nets.transformer import build_net
from vidstyle.train.common import LossHistory, load_checkpoint, plot_losses
from vidstyle.train.loop import drive, luminance_loss, train_style
from vidstyle.train.motion import MotionConfig, random_motion_flow, synthetic_pair
from vidstyle.weights import sha256_file

from conftest import ROOT


def _smooth(n, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, h // 4, w // 4, generator=g)
    return F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    photos = root / "photos"
    photos.mkdir()
    for i in range(3):
        arr = (_smooth(1, 48, 56, seed=i)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        Image.fromarray(arr).save(photos / f"p{i}.png")
    style = root / "style.png"
    stripes = np.zeros((40, 40, 3), np.uint8)
    stripes[:, ::4] = (230, 200, 40)
    stripes[:, 1::4] = (20, 40, 160)
    Image.fromarray(stripes).save(style)
    return photos, style


TINY = TrainConfig(arch="lite", size=32, style_size=40, steps=4, batch_size=2, lr=5e-3, checkpoint_every=2,
                   temporal_weight=10.0)


def _train(tiny_data, tmp_path, cfg=TINY, name="m", **kw):
    photos, style = tiny_data
    out = tmp_path / f"{name}.safetensors"
    card = train_style(style, [photos], out, cfg, checkpoint=tmp_path / f"{name}.ckpt", device="cpu", progress=False,
                       **kw)
    return out, card


# ------------------------------------------------------------------ losses


def test_temporal_loss_zero_for_perfect_warp_and_positive_for_flicker():
    prev_out = _smooth(2, 32, 32)
    flow = random_motion_flow(2, 32, 32, generator=torch.Generator().manual_seed(1))
    mask = torch.ones(2, 1, 32, 32)
    cur_out = warp(prev_out, flow)  # a perfectly consistent output
    assert temporal_loss(cur_out, warp(prev_out, flow), mask).item() == 0.0
    flicker = (cur_out + 0.1 * torch.randn_like(cur_out)).clamp(0, 1)
    assert temporal_loss(flicker, warp(prev_out, flow), mask).item() > 1e-3
    # Unreliable pixels (mask 0) do not count.
    assert temporal_loss(flicker, warp(prev_out, flow), torch.zeros_like(mask)).item() == 0.0


def test_luminance_loss_allows_the_inputs_own_change():
    inp_prev, out_prev = _smooth(1, 24, 24, 1), _smooth(1, 24, 24, 2)
    flow, mask = torch.zeros(1, 2, 24, 24), torch.ones(1, 1, 24, 24)
    inp_cur, out_cur = inp_prev + 0.1, out_prev + 0.1  # same brightening in input and output
    assert luminance_loss(out_cur, warp(out_prev, flow), inp_cur, warp(inp_prev, flow), mask).item() < 1e-10
    assert luminance_loss(out_prev + 0.3, warp(out_prev, flow), inp_cur, warp(inp_prev, flow), mask).item() > 1e-3


# ---------------------------------------------------------- synthetic motion


def test_synthetic_pair_warp_reproduces_current_frame():
    still = _smooth(2, 40, 48)
    cur, prev, flow, mask = synthetic_pair(still, MotionConfig(noise=0.0), torch.Generator().manual_seed(0))
    assert flow.shape == (2, 2, 40, 48) and mask.shape == (2, 1, 40, 48)
    assert flow.abs().max() > 0.3  # it actually moves
    inner = mask.bool().expand_as(cur)
    assert (warp(prev, flow) - cur)[inner].abs().max() < 1e-5


@pytest.mark.parametrize("noise", [0.0, 0.1])
def test_pair_noise_setting_reaches_the_synthetic_pairs(tiny_data, noise):
    from vidstyle.train.loop import PairSource

    cfg = replace(TINY, pair_noise=noise)
    cur, prev, flow, mask = PairSource([tiny_data[0]], 32, None, cfg, pairs=True).sample(2, torch.Generator().manual_seed(0))
    residual = (warp(prev, flow) - cur)[mask.bool().expand_as(cur)]
    # warp(prev) − cur carries the noise of both frames (std ≈ noise·√2, less where bilinear warping averages)
    assert residual.std() < 1e-4 if noise == 0 else 0.5 * noise < residual.std() < 2 * noise


def test_video_pairs_only_leaves_stills_unpaired(tiny_data, tmp_path):
    from vidstyle.train.loop import PairSource

    seq = tmp_path / "video" / "seq"
    seq.mkdir(parents=True)
    for i, photo in enumerate(sorted(tiny_data[0].iterdir())):  # a 3-frame "sequence"
        (seq / f"{i:05d}.png").write_bytes(photo.read_bytes())
    kinds = set()
    for paired_stills in (True, False):
        cfg = replace(TINY, synthetic_pairs=paired_stills, video_fraction=0.5, held_out=())
        src = PairSource([tiny_data[0]], 32, tmp_path / "video", cfg, pairs=True)
        g = torch.Generator().manual_seed(0)
        for _ in range(12):
            cur, prev, flow, mask = src.sample(2, g)
            kinds.add((paired_stills, prev is None))
    assert kinds == {(True, False), (False, False), (False, True)}  # stills unpaired only when asked
    cfg = replace(TINY, synthetic_pairs=False, held_out=(), steps=4)
    out, card = _train(tiny_data, tmp_path, cfg=cfg, name="vp", video=tmp_path / "video")
    assert card["training"]["synthetic_pairs"] is False and "temporal" in card["final_losses"]


def test_pure_shift_flow_is_the_shift():
    cfg = MotionConfig(shift=0.1, rotate_deg=0.0, zoom=0.0, tps_jitter=0.0)
    flow = random_motion_flow(3, 20, 30, cfg, torch.Generator().manual_seed(3))
    per_image = flow.flatten(2)
    assert per_image.std(dim=2).max() < 1e-3  # constant over the frame
    assert per_image.mean(dim=2).abs().max() <= 0.1 * 30 + 1e-3


def test_analytic_flow_matches_the_projects_flow_estimator():
    # Independent check of the convention: DIS on the synthetic pair recovers the analytic flow.
    from vidstyle.flow import get_estimator

    still = _smooth(1, 96, 128, seed=5)
    cfg = MotionConfig(shift=0.02, rotate_deg=1.0, zoom=0.02, tps_jitter=0.005, noise=0.0)
    cur, prev, flow, mask = synthetic_pair(still, cfg, torch.Generator().manual_seed(2))
    est = get_estimator("dis").estimate(cur, prev)
    epe = (est - flow).norm(dim=1, keepdim=True)[mask.bool()]
    assert epe.median() < 0.5, f"median end-point error {epe.median():.2f} px"


# ------------------------------------------------------------------ training


def test_training_steps_lower_the_loss(tiny_data, tmp_path):
    from vidstyle.nets.vgg import load_vgg  # noqa: F401  (skip cleanly if VGG weights are missing)
    from vidstyle.media.image import load_image
    from vidstyle.train.loop import StyleCriterion

    photos, style = tiny_data
    cfg = TrainConfig(size=32, style_size=40)
    crit = StyleCriterion(load_image(style), cfg, "cpu")
    net = build_net("lite")
    x = _smooth(2, 32, 32, seed=7)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)

    def total():
        ls = crit(net(x), x)
        return ls["content"] + 10 * ls["style"]

    first = total().item()
    for _ in range(12):
        opt.zero_grad()
        loss = total()
        loss.backward()
        opt.step()
    assert total().item() < 0.8 * first


def test_train_style_writes_weights_card_and_curve(tiny_data, tmp_path):
    out, card = _train(tiny_data, tmp_path)
    assert out.is_file() and (tmp_path / "m.json").is_file() and (tmp_path / "m.loss.png").is_file()
    assert (tmp_path / "m.style.jpg").is_file()
    saved = read_card(out)
    assert all(k in saved for k in CARD_KEYS)
    assert saved["weights"]["sha256"] == sha256_file(out)
    assert saved["training"]["steps"] == 4 and saved["arch"] == "lite"
    assert {"content", "style", "tv", "temporal", "total"} <= set(saved["final_losses"])
    assert saved["style"]["sha256"] == sha256_file(tiny_data[1])


def test_save_load_round_trip_and_styliser(tiny_data, tmp_path):
    from vidstyle.stylise.feedforward import FeedForwardStyliser

    out, _ = _train(tiny_data, tmp_path)
    net, card = load_transformer(out)
    ckpt = torch.load(tmp_path / "m.ckpt", weights_only=False)
    ref = build_net("lite")
    ref.load_state_dict(ckpt["model"])
    x = _smooth(1, 36, 44, seed=9)
    with torch.no_grad():
        torch.testing.assert_close(net(x), ref.eval()(x), atol=2e-2, rtol=0)  # fp16 storage
    styl = FeedForwardStyliser(out, device="cpu", internal_size=24)
    y = styl.stylise(x)
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1


def test_corrupt_or_mismatched_weights_are_clear_errors(tiny_data, tmp_path):
    out, _ = _train(tiny_data, tmp_path)
    data = bytearray(out.read_bytes())
    data[-10] ^= 0xFF
    out.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="corrupt"):
        load_transformer(out)
    # A file whose card matches but whose tensors belong to another architecture.
    from vidstyle.weights import save_safetensors

    digest = save_safetensors(build_net("full").state_dict(), out, metadata={"arch": "lite", "width": "8", "blocks": "3"})
    update_card(out, weights={"sha256": digest})
    with pytest.raises(WeightsError, match="does not match"):
        load_transformer(out)
    (tmp_path / "m.json").unlink()
    with pytest.raises(WeightsError, match="card"):
        load_transformer(out)


def test_resume_continues_exactly(tiny_data, tmp_path):
    from dataclasses import replace

    photos, style = tiny_data
    straight, _ = _train(tiny_data, tmp_path, name="a")
    _train(tiny_data, tmp_path, replace(TINY, steps=2), name="b")
    resumed, card = _train(tiny_data, tmp_path, name="b", resume=True, force=True)
    assert card["training"]["steps"] == 4
    step, history, _ = load_checkpoint(tmp_path / "b.ckpt", build_net("lite"))
    assert step == 4 and [s for s, _ in history.data["total"]] == [1, 2, 3, 4]
    a, _ = load_transformer(straight)
    b, _ = load_transformer(resumed)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(va, vb, atol=2e-3, rtol=1e-2, msg=k)


def test_existing_checkpoint_without_resume_is_refused(tiny_data, tmp_path):
    _train(tiny_data, tmp_path)
    with pytest.raises(VidstyleError, match="exists"):
        _train(tiny_data, tmp_path, force=True)


def test_sigint_saves_a_checkpoint_and_stops(tmp_path):
    net = build_net("lite")
    x = _smooth(1, 16, 16)
    calls = []

    def step_fn(g):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return {"total": (net(x) - x).abs().mean()}

    cfg = TrainConfig(steps=50, checkpoint_every=100)
    steps, history, interrupted, _ = drive(net, step_fn, cfg, tmp_path / "c.ckpt", False, False, "t")
    assert interrupted and steps == 2
    assert load_checkpoint(tmp_path / "c.ckpt", build_net("lite"))[0] == 2


def test_loss_curve_png(tmp_path):
    h = LossHistory()
    for s in range(1, 30):
        h.add(s, total=1 / s, style=0.5 / s)
    path = plot_losses(h, tmp_path / "curve.png")
    with Image.open(path) as im:
        assert im.size[0] > 100


def test_find_model_for_style(tiny_data, tmp_path, monkeypatch):
    _train(tiny_data, tmp_path)
    photos, style = tiny_data
    assert find_model_for_style(style, folder=tmp_path) == "m"  # by checksum
    other = tmp_path / "elsewhere.png"
    Image.new("RGB", (8, 8)).save(other)
    assert find_model_for_style(other, folder=tmp_path) is None
    renamed = tmp_path / "style.jpg"  # different bytes, same stem
    Image.new("RGB", (8, 8)).save(renamed)
    assert find_model_for_style(renamed, folder=tmp_path) == "m"
    assert [m.name for m in list_models(tmp_path)] == ["m"]
    # Other kinds of weights (e.g. AdaIN decoders) are not feed-forward stylisers.
    (tmp_path / "dec.safetensors").write_bytes(b"x")
    (tmp_path / "dec.json").write_text(json.dumps({"name": "dec", "kind": "decoder", "arch": "decoder-adain"}))
    assert [m.name for m in list_models(tmp_path)] == ["m"]
    assert [m.name for m in list_models(tmp_path, kind=None)] == ["dec", "m"]


def test_cli_train_needs_a_style(tmp_path):
    from typer.testing import CliRunner

    from vidstyle.cli import app

    res = CliRunner().invoke(app, ["train", "--content", str(tmp_path), "--out", str(tmp_path / "x.safetensors")])
    assert res.exit_code != 0
    assert "--style is required" in str(res.exception) or "--style is required" in res.output


# ------------------------------------------------------------ shipped models

SHIPPED = sorted((ROOT / "models").glob("*.safetensors"))


@pytest.mark.skipif(not SHIPPED, reason="no shipped models yet")
@pytest.mark.parametrize("weights", SHIPPED, ids=lambda p: p.stem)
def test_shipped_model_cards_are_complete_and_match(weights):
    card_file = weights.with_suffix(".json")
    if not card_file.is_file():
        pytest.skip(f"{weights.name} has no card (not a feed-forward model)")
    card = json.loads(card_file.read_text())
    if card.get("kind") != "feedforward-transformer":
        pytest.skip("not a feed-forward transformer")
    assert all(k in card for k in CARD_KEYS), set(CARD_KEYS) - set(card)
    assert card["weights"]["sha256"] == sha256_file(weights)
    assert card["training"]["steps"] > 0 and card["style"]["sha256"]
    assert card["arch"] in ("full", "lite")
    net, _ = load_transformer(weights)
    with torch.no_grad():
        y = net(torch.rand(1, 3, 24, 24))
    assert y.shape == (1, 3, 24, 24)
