"""int8 inference (vidstyle.nets.int8): static quantisation of a small network, its report, and the precision policy."""

from __future__ import annotations

import pytest
import torch

from vidstyle.errors import VidstyleError
from vidstyle.nets import int8
from vidstyle.nets.transformer import build_net

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    """A perturbed lite network exported to fp32 ONNX and quantised on smooth real-looking frames."""
    from vidstyle.nets.onnx import export_onnx

    torch.manual_seed(0)
    net = build_net("lite").eval()
    for p in net.parameters():
        p.data.add_(0.1 * torch.randn_like(p))
    folder = tmp_path_factory.mktemp("int8")
    export_onnx(net, folder / "net.onnx")
    gen = torch.Generator().manual_seed(3)
    frames = [torch.nn.functional.interpolate(torch.rand(1, 3, 12, 16, generator=gen), size=(48, 64), mode="bilinear")
              for _ in range(4)]
    report = int8.quantise(folder / "net.onnx", folder / "net-int8.onnx", frames)
    return net, folder, report, frames


def test_int8_output_is_close_to_fp32(graphs):
    """Tolerance: mean |Δ| ≤ 0.04 (10/255) and max ≤ 0.35 on an unseen frame, and under a quarter of what a
    different frame changes. The quantised convolutions round activations to 1/255 of their calibrated range and 8
    of them compound; this randomly perturbed net measured 0.025 mean (the shipped starry-night net: 0.008)."""
    from vidstyle.nets.onnx import OnnxNet

    net, folder, report, _ = graphs
    x = torch.nn.functional.interpolate(torch.rand(1, 3, 10, 14, generator=torch.Generator().manual_seed(9)),
                                        size=(40, 56), mode="bilinear")
    with torch.inference_mode():
        expected = net(x)
    got = OnnxNet(folder / "net-int8.onnx", threads=1)(x)
    assert got.shape == expected.shape
    diff = (got - expected).abs()
    assert float(diff.mean()) <= 0.04 and float(diff.max()) <= 0.35
    assert float(diff.max()) > 0  # it really is a different (quantised) graph
    with torch.inference_mode():
        other = net(x.flip(-1))
    assert float(diff.mean()) < 0.25 * float((other - expected).abs().mean())
    assert 0 < report.mean_abs <= 0.04 and report.max_abs >= report.mean_abs
    assert report.fp32_ms > 0 and report.int8_ms > 0


def test_report_is_cached_beside_the_graph_and_survives_a_reload(graphs):
    _, folder, report, _ = graphs
    assert int8.read_report(folder / "net-int8.onnx") == report
    (folder / "net-int8.json").write_text("{not json")
    assert int8.read_report(folder / "net-int8.onnx") is None  # rebuilt on next use, never trusted


def _report(mean_abs: float, fp32_ms: float, int8_ms: float) -> int8.Int8Report:
    return int8.Int8Report(mean_abs, 2 * mean_abs, fp32_ms, int8_ms, ("avx2",), "test")


def test_precision_policy(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    good, lossy, slow = _report(0.004, 100, 50), _report(0.05, 100, 50), _report(0.004, 100, 95)
    monkeypatch.setattr(int8, "int8_features", lambda: ["avx512_vnni"])
    assert int8.resolve_precision("fp32", cpu, lambda: good) == ("fp32", "")
    assert int8.resolve_precision("int8", cpu, lambda: lossy)[0] == "int8"  # asked for: given, with its numbers
    assert int8.resolve_precision("auto", cpu, lambda: good)[0] == "int8"
    assert int8.resolve_precision("auto", cpu, lambda: lossy)[0] == "fp32"
    assert int8.resolve_precision("auto", cpu, lambda: slow)[0] == "fp32"
    kind, note = int8.resolve_precision("int8", cuda, lambda: good)
    assert kind == "fp32" and "CPU only" in note
    monkeypatch.setattr(int8, "int8_features", lambda: [])
    kind, note = int8.resolve_precision("int8", cpu, lambda: pytest.fail("no report without kernels"))
    assert kind == "fp32" and "no int8" in note and "\n" not in note
    with pytest.raises(VidstyleError, match="choose from auto, fp32, bf16, int8"):
        int8.resolve_precision("int4", cpu, lambda: good)


def test_calibration_frames_are_real_frames():
    frames = int8.calibration_frames(size=64)
    assert len(frames) >= 2
    for f in frames:
        assert f.shape[0] == 1 and f.shape[1] == 3 and max(f.shape[-2:]) == 64
        assert float(f.std()) > 0.05  # photographs, not flat fills


def test_run_with_int8_uses_the_quantised_graph_and_says_so(tmp_path, monkeypatch):
    """``vidstyle run --precision int8`` on a 3-frame clip: the method line names int8 and quotes its report,
    the graph and report land in the (here temporary) cache, and ``--backend torch`` with int8 is one clear line."""
    from clips import make_clip
    from typer.testing import CliRunner

    from vidstyle.cli import app

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(int8, "int8_features", lambda: ["avx2"])  # the policy, not this CPU, is under test
    clip = make_clip(tmp_path / "in.mp4", n_frames=3, size=(64, 48))
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(app, ["run", str(clip), "--model", "starry-night-lite", "--precision", "int8",
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "(onnxruntime, int8); int8 " in result.output and "mean |Δ|" in result.output
    assert out.is_file()
    cached = list((tmp_path / "home/.cache/vidstyle/onnx").glob("*-int8-r*.onnx"))
    assert len(cached) == 1 and int8.read_report(cached[0]) is not None
    bad = CliRunner().invoke(app, ["run", str(clip), "--model", "starry-night-lite", "--precision", "int8",
                                   "--backend", "torch", "-o", str(tmp_path / "bad.mp4")])
    # the CLI entry point prints a VidstyleError as one line (tests/test_cli_choices.py covers that wrapper)
    assert bad.exit_code != 0 and isinstance(bad.exception, VidstyleError) and "--backend onnx" in str(bad.exception)
    assert not (tmp_path / "bad.mp4").exists()
