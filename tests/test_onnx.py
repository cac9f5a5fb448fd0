"""ONNX export and the onnxruntime backend of the feed-forward networks."""

from __future__ import annotations

import pytest
import torch

from vidstyle.errors import VidstyleError
from vidstyle.nets.transformer import build_net

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from vidstyle.nets.onnx import export_onnx

    torch.manual_seed(0)
    net = build_net("lite").eval()
    for p in net.parameters():  # a non-trivial network (fresh affine norms are near-identity)
        p.data.add_(0.1 * torch.randn_like(p))
    path = tmp_path_factory.mktemp("onnx") / "lite.onnx"
    info = export_onnx(net, path)
    assert info["max_abs_diff"] < 1e-4
    return net, path


@pytest.mark.parametrize("shape", [(1, 3, 32, 48), (2, 3, 45, 77), (1, 3, 6, 5), (1, 3, 144, 176), (1, 3, 70, 131)])
def test_onnx_matches_torch_at_any_size(exported, shape):
    from vidstyle.nets.onnx import OnnxNet

    net, path = exported
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected = net(x)
    got = OnnxNet(path, threads=1)(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    # reduced internal size, upsampled back (the live/lite path)
    with torch.inference_mode():
        torch.testing.assert_close(OnnxNet(path, threads=1).stylise(x, 24), net.stylise(x, 24), atol=1e-4, rtol=1e-4)


def test_export_refuses_to_overwrite_and_bad_files_are_clear(exported, tmp_path):
    from vidstyle.nets.onnx import OnnxNet, export_onnx

    net, path = exported
    with pytest.raises(VidstyleError, match="--force"):
        export_onnx(net, path)
    with pytest.raises(VidstyleError, match=r"\.onnx"):
        export_onnx(net, tmp_path / "model.bin")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf at all")
    with pytest.raises(VidstyleError, match="cannot load ONNX model"):
        OnnxNet(bad)
    assert not list(tmp_path.glob(".*.part"))


def test_cli_export_and_run_with_onnx_backend(cli, tmp_path):
    """`vidstyle export` writes a checked .onnx; `vidstyle run --backend onnx` renders the same frames as torch."""
    from clips import make_clip

    from vidstyle.media.reader import open_frames

    code, out, err = cli("export", "starry-night-lite", "--onnx", tmp_path / "sn.onnx")
    assert code == 0 and "max |Δ| vs PyTorch" in out, err
    assert (tmp_path / "sn.onnx").stat().st_size > 10_000
    code, _, err = cli("export", "starry-night-lite", "--onnx", tmp_path / "sn.onnx")
    assert code == 1 and err.startswith("error:") and "--force" in err

    clip = make_clip(tmp_path / "clip.mp4", n_frames=4, size=(64, 48))
    frames = {}
    for backend in ("torch", "onnx", "auto"):
        target = tmp_path / f"{backend}"  # no extension: lossless PNG frames
        code, out, err = cli("run", clip, "--model", "starry-night-lite", "--backend", backend, "--no-temporal",
                             "-o", target)  # not -q: the method line names the backend
        assert code == 0, err
        assert (backend != "torch") == ("onnxruntime" in err)
        with open_frames(target) as reader:
            frames[backend] = torch.cat([b.frames for b in reader])
    assert frames["torch"].shape == frames["onnx"].shape == (4, 3, 48, 64)
    assert (frames["torch"] - frames["onnx"]).abs().max() <= 1 / 255 + 1e-6  # same up to 8-bit rounding
    assert torch.equal(frames["auto"], frames["onnx"])


def test_auto_backend_is_onnxruntime_on_cpu_unless_compiled():
    from vidstyle.stylise.feedforward import pick_backend

    cpu = torch.device("cpu")
    assert pick_backend("auto", cpu) == "onnx"
    assert pick_backend("auto", cpu, compile=True) == "torch"
    assert pick_backend("auto", torch.device("cuda")) == "torch"
    assert pick_backend("torch", cpu) == "torch" and pick_backend("onnx", cpu) == "onnx"
