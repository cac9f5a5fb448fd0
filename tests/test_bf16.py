"""bf16 inference (vidstyle.nets.bf16): a tiny network's bf16 output against fp32, the policy, the CLI."""

from __future__ import annotations

import pytest
import torch

from vidstyle.errors import VidstyleError
from vidstyle.nets import bf16
from vidstyle.nets.fused import fuse_for_inference
from vidstyle.nets.transformer import build_net

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_bf16_output_is_close_to_fp32_and_leaves_the_network_alone():
    """On smooth frames a perturbed lite network in bf16 stays within 0.05 (max) and 0.01 (mean) of fp32 — bf16 has
    8 mantissa bits (relative step 2⁻⁸ ≈ 0.004) and the errors of a few layers add up; measured on the shipped nets:
    mean 0.001–0.003 (benchmarks/RESULTS.md, "bf16")."""
    torch.manual_seed(0)
    net = build_net("lite").eval()
    for p in net.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    fused = fuse_for_inference(net)
    x = torch.nn.functional.interpolate(torch.rand(2, 3, 12, 16), size=(48, 64), mode="bilinear")
    wrapped = bf16.Bf16Net(fused)
    with torch.inference_mode():
        ref, got = fused(x), wrapped(x)
    assert got.dtype == torch.float32 and got.shape == ref.shape and got.is_contiguous()
    diff = (got - ref).abs()
    assert float(diff.max()) < 0.05 and float(diff.mean()) < 0.01
    assert float(diff.max()) > 0  # it really ran in bf16
    assert next(fused.parameters()).dtype == torch.float32  # a copy was cast, not the caller's network


def test_channels_last_instance_norm_matches_instance_norm_and_keeps_the_layout():
    """``instance_norm_cl`` = ``F.instance_norm`` (float32, to 1e-5) for one and several samples, with per-channel,
    per-sample (N×C) and shared (1×C) affine parameters or none, and its output stays channels-last."""
    F = torch.nn.functional
    torch.manual_seed(0)
    x = (3 * torch.randn(3, 5, 7, 9) + 1).contiguous(memory_format=torch.channels_last)
    w, b = torch.randn(5), torch.randn(5)
    cases = [(w, b, w, b), (None, None, None, None)]
    wn, bn = torch.randn(3, 5), torch.randn(3, 5)
    cases.append((wn, bn, None, None))  # per sample: compared sample by sample below
    for weight, bias, ref_w, ref_b in cases:
        got = bf16.instance_norm_cl(x, weight, bias, 1e-5)
        assert got.is_contiguous(memory_format=torch.channels_last) and not got.is_contiguous()
        ref = F.instance_norm(x.contiguous(), weight=ref_w, bias=ref_b, eps=1e-5)
        if weight is not None and weight.dim() == 2:
            ref = ref * weight[..., None, None] + bias[..., None, None]
        torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
    shared = bf16.instance_norm_cl(x, w[None], b[None], 1e-5)
    torch.testing.assert_close(shared, bf16.instance_norm_cl(x, w, b, 1e-5))


def test_bf16_net_keeps_channels_last_through_its_norms():
    """Every ``nn.InstanceNorm2d`` of the copy is replaced, and the activations between layers stay channels-last
    (a contiguous copy there made every next layer reorder its input: half the full net's time in bf16)."""
    net = build_net("lite").eval()
    wrapped = bf16.Bf16Net(net)
    norms = [m for m in wrapped.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    assert not norms and any(isinstance(m, bf16.ChannelsLastInstanceNorm) for m in wrapped.modules())
    assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in net.modules())  # the caller's net is untouched
    layouts = []
    for m in wrapped.modules():
        if isinstance(m, (bf16.ChannelsLastInstanceNorm, torch.nn.ReLU)):
            m.register_forward_hook(lambda _m, _i, o: layouts.append(o.is_contiguous(memory_format=torch.channels_last)))
    with torch.inference_mode():
        wrapped(torch.rand(1, 3, 32, 48))
    assert layouts and all(layouts)


def test_conditional_instance_norm_takes_the_channels_last_path_with_the_same_result():
    from vidstyle.nets.magenta import CondInstanceNorm

    torch.manual_seed(1)
    norm = CondInstanceNorm(6, embed_dim=4).eval()
    x, z = torch.randn(2, 6, 5, 7), torch.randn(2, 4)
    with torch.inference_mode():
        ref = norm(x, z)
        got = norm(x.contiguous(memory_format=torch.channels_last), z)
    assert got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)


def test_bf16_casts_every_float_argument():
    class TwoInputs(torch.nn.Module):
        def forward(self, x, z):
            assert x.dtype == z.dtype == torch.bfloat16
            return x * z.view(-1, 1, 1, 1)

    out = bf16.Bf16Net(TwoInputs())(torch.rand(2, 3, 4, 4), torch.rand(2))
    assert out.dtype == torch.float32


def test_bf16_policy(monkeypatch):
    monkeypatch.setattr(bf16, "bf16_features", lambda: ["amx_bf16"])
    assert bf16.bf16_choice("bf16", CPU, "auto") == (True, "bf16 on amx_bf16")
    assert bf16.bf16_choice("auto", CPU, "auto")[0] and bf16.bf16_choice("auto", CPU, "torch")[0]
    assert bf16.bf16_choice("auto", CPU, "onnx") == (False, "")  # onnx asked for: the int8 policy decides
    assert bf16.bf16_choice("fp32", CPU, "auto") == bf16.bf16_choice("int8", CPU, "auto") == (False, "")
    use, note = bf16.bf16_choice("bf16", CUDA, "auto")
    assert not use and "fp16 autocast" in note
    monkeypatch.setattr(bf16, "bf16_features", lambda: [])  # a CPU without native bf16: emulated would be slower
    use, note = bf16.bf16_choice("bf16", CPU, "auto")
    assert not use and "no native bf16" in note and "\n" not in note
    assert bf16.bf16_choice("auto", CPU, "auto") == (False, "")


def test_bf16_features_read_the_cpu_flags(monkeypatch):
    import vidstyle.device

    monkeypatch.setattr(vidstyle.device, "cpu_flags", lambda: {"avx2", "avx512_bf16", "amx_bf16"})
    assert bf16.bf16_features() == ["amx_bf16", "avx512_bf16"]
    monkeypatch.setattr(vidstyle.device, "cpu_flags", lambda: {"avx2"})
    assert bf16.bf16_features() == []
    monkeypatch.setattr(vidstyle.device, "cpu_flags", lambda: None)
    assert bf16.bf16_features() == []


def test_stylisers_run_bf16_or_say_why_not(monkeypatch):
    from vidstyle.nets.magenta import StylePredictor, StyleTransformer
    from vidstyle.stylise.feedforward import FeedForwardStyliser
    from vidstyle.stylise.magenta import MagentaStyliser

    monkeypatch.setattr(bf16, "bf16_features", lambda: ["amx_bf16"])
    frames = torch.nn.functional.interpolate(torch.rand(1, 3, 8, 8), size=(32, 40), mode="bilinear")
    ff = FeedForwardStyliser("starry-night-lite", precision="bf16", backend="auto")
    ref = FeedForwardStyliser("starry-night-lite", precision="fp32", backend="torch")
    assert (ff.backend, ff.precision, ff.precision_note) == ("torch", "bf16", "bf16 on amx_bf16")
    assert float((ff.stylise(frames) - ref.stylise(frames)).abs().mean()) < 0.01
    torch.manual_seed(0)
    pred, gen = StylePredictor().eval(), StyleTransformer(width=2, blocks=1).eval()
    style = torch.rand(1, 3, 32, 32)
    mg = MagentaStyliser([style], precision="auto", backend="auto", predictor=pred, transformer=gen)
    assert (mg.backend, mg.precision) == ("torch", "bf16") and mg.precision_note.startswith("auto → bf16")
    mg32 = MagentaStyliser([style], precision="fp32", backend="torch", predictor=pred, transformer=gen)
    assert float((mg.stylise(frames) - mg32.stylise(frames)).abs().max()) < 0.05
    with pytest.raises(VidstyleError, match="--backend torch"):
        FeedForwardStyliser("starry-night-lite", precision="bf16", backend="onnx")
    monkeypatch.setattr(bf16, "bf16_features", lambda: [])
    plain = FeedForwardStyliser("starry-night-lite", precision="bf16", backend="torch")
    assert plain.precision == "fp32" and "no native bf16" in plain.precision_note


def test_cli_run_says_bf16(tmp_path, monkeypatch):
    from clips import make_clip
    from typer.testing import CliRunner

    from vidstyle.cli import app

    monkeypatch.setattr(bf16, "bf16_features", lambda: ["amx_bf16"])  # the wiring, not this CPU, is under test
    clip = make_clip(tmp_path / "in.mp4", n_frames=3, size=(64, 48))
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(app, ["run", str(clip), "--model", "starry-night-lite", "--precision", "bf16",
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "(torch, bf16); bf16 on amx_bf16" in result.output and out.is_file()


def test_live_auto_is_bf16_or_fp32_never_int8(monkeypatch):
    from vidstyle.commands.webcam import live_precision

    monkeypatch.setattr(bf16, "bf16_features", lambda: ["avx512_bf16"])
    assert live_precision("auto") == "auto"  # → bf16 in the stylisers (bf16_choice)
    monkeypatch.setattr(bf16, "bf16_features", lambda: [])
    assert live_precision("auto") == "fp32" and live_precision("bf16") == "bf16"
