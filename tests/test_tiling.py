"""Tiled inference with shared instance-norm statistics (vidstyle.nets.tiling): layout, feathering, agreement
with untiled inference, the stylisers' ``tile``/``scale`` options and their config validation."""

from __future__ import annotations

import pytest
import torch

from vidstyle.config import ConfigError, OptimiseConfig
from vidstyle.nets.fused import fuse_for_inference
from vidstyle.nets.magenta import EMBED_DIM, StyleTransformer, fuse_magenta
from vidstyle.nets.tiling import (
    SharedNormStats,
    feather_window,
    run_network,
    run_tiled,
    scaled_size,
    should_tile,
    tile_boxes,
    tile_span,
    tile_starts,
)
from vidstyle.nets.transformer import build_net

#: Tiled vs untiled output of the tiny networks below (shared statistics taken at full size), on [0, 1] images:
#: with the default 64 px halo covering the receptive field, only float rounding is left (measured 0.0000).
MEAN_TOL = 1e-5
MAX_TOL = 1e-4


def _randomised(net: torch.nn.Module, seed: int = 0, scale: float = 0.3) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))
    return net.eval()


def _two_halves(h: int = 96, w: int = 128) -> torch.Tensor:
    """A frame whose halves differ strongly (dark smooth left, bright textured right): per-tile statistics differ."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, h, w, generator=g) * 0.1 + 0.1
    x[..., w // 2:] = torch.rand(1, 3, h, w - w // 2, generator=g) * 0.8 + 0.2
    return x


@pytest.mark.parametrize("length,tile,overlap", [(100, 64, 16), (1000, 256, 32), (2160, 1024, 64), (64, 64, 16),
                                                 (65, 64, 16), (3840, 512, 64)])
def test_tile_starts_cover_align_and_overlap(length, tile, overlap):
    starts, side = tile_span(length, tile, overlap)
    assert starts == tile_starts(length, tile, overlap)
    assert starts[0] == 0 and all(s % 8 == 0 for s in starts) and side <= tile + 8
    ends = [s + side for s in starts[:-1]] + [length]
    assert length - starts[-1] < side + 8
    if len(starts) > 1:  # no more tiles than needed
        assert (len(starts) - 1) * (tile - overlap) < length
    for a, b in zip(ends[:-1], starts[1:]):
        assert a - b >= overlap  # consecutive tiles overlap by at least `overlap`
    assert all(e <= length for e in ends)


def test_tile_boxes_cover_every_pixel():
    covered = torch.zeros(130, 200)
    for y0, y1, x0, x1 in tile_boxes(130, 200, 64, 16):
        covered[y0:y1, x0:x1] += 1
    assert covered.min() >= 1


def test_feather_window_is_flat_at_frame_borders_and_ramps_inside():
    w = feather_window(8, 10, 4, top=False, bottom=True, left=True, right=False)
    assert w.shape == (1, 1, 8, 10)
    assert float(w[0, 0, 0, -1]) == 1.0  # top-right: frame borders on both sides
    assert float(w[0, 0, -1, 5]) < 0.2 and float(w[0, 0, 3, 0]) < 0.2  # neighbours below and left
    assert float(w.min()) > 0


def test_shared_stats_record_then_apply_and_restore():
    net = fuse_for_inference(_randomised(build_net("lite")))
    x = _two_halves(48, 64)
    with torch.no_grad():
        plain = net(x)
        with SharedNormStats(net) as shared:
            assert shared.layers, "the net's InstanceNorm2d layers were found"
            shared.record()
            recorded = net(x)
            shared.apply()
            applied = net(x)  # the same frame with its own recorded statistics: identical
            shared.next_pass()
            other = net(x.flip(-1))  # another frame under the first one's statistics: not its own output
        after = net(x.flip(-1))
    torch.testing.assert_close(recorded, plain, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(applied, plain, atol=1e-5, rtol=1e-5)
    assert "forward" not in vars(shared.layers[0])  # patch removed on exit
    assert float((other - after).abs().mean()) > 1e-3


def test_apply_before_record_is_an_error():
    net = build_net("lite").eval()
    with SharedNormStats(net) as shared, pytest.raises(RuntimeError):
        shared.apply()


@pytest.mark.parametrize("arch", ["lite", "full"])
def test_tiled_matches_untiled_with_shared_stats(arch):
    net = fuse_for_inference(_randomised(build_net(arch, blocks=2)))  # 2 blocks: full width, a quicker test
    x = _two_halves()
    with torch.no_grad():
        untiled = net(x)
        tiled = run_tiled(net, net, x, tile=64, overlap=32, stats_side=1024)  # statistics at full size
        with SharedNormStats(net) as shared:  # control: every tile with its own statistics
            per_tile = x.new_zeros(x.shape)
            weight = x.new_zeros(1, 1, *x.shape[-2:])
            for y0, y1, x0, x1 in tile_boxes(*x.shape[-2:], 64, 32):
                shared.record()
                win = feather_window(y1 - y0, x1 - x0, 32, y0 > 0, y1 < x.shape[-2], x0 > 0, x1 < x.shape[-1])
                per_tile[..., y0:y1, x0:x1] += net(x[..., y0:y1, x0:x1]) * win
                weight[..., y0:y1, x0:x1] += win
            per_tile /= weight
    d = (tiled - untiled).abs()
    assert float(d.mean()) < MEAN_TOL and float(d.max()) < MAX_TOL, (float(d.mean()), float(d.max()))
    own = (per_tile - untiled).abs()
    assert float(own.mean()) > 1e-3  # sharing the statistics is what makes tiles agree …
    with torch.no_grad():
        no_halo = run_tiled(net, net, x, tile=64, overlap=32, stats_side=1024, halo=0)
    assert float((no_halo - untiled).abs().max()) > 1e-2  # … and the halo keeps the padding out of the cores


def test_tiled_magenta_generator_matches_untiled():
    net = fuse_magenta(_randomised(StyleTransformer(width=4, blocks=2), scale=0.1))
    x = _two_halves()
    z = torch.randn(1, EMBED_DIM, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        untiled = net(x, z)
        tiled = run_tiled(lambda t: net(t, z), net, x, tile=64, overlap=32, stats_side=1024)
    d = (tiled - untiled).abs()
    assert float(d.mean()) < MEAN_TOL and float(d.max()) < MAX_TOL, (float(d.mean()), float(d.max()))


def test_should_tile_policy():
    assert should_tile(1080, 1920, None) is None  # auto: untiled below 2560×1440
    assert should_tile(2160, 3840, None) == 1024
    assert should_tile(2160, 3840, 0) is None
    assert should_tile(100, 200, 128) == 128 and should_tile(100, 120, 128) is None


def test_scaled_size():
    assert scaled_size(1080, 1920, 2.0) == (540, 960)
    assert scaled_size(1080, 1920, 0.5) == (2160, 3840)
    assert scaled_size(1080, 1920, 1.0, internal_size=960) == (540, 960)


def test_run_network_scale_and_tile_options():
    net = fuse_for_inference(_randomised(build_net("lite")))
    x = _two_halves()
    calls: list[tuple[int, int]] = []

    def fn(t: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(t.shape[-2:]))
        return net(t)

    with torch.no_grad():
        y = run_network(fn, x, net=net, scale=2.0)
        assert y.shape == x.shape and calls == [(48, 64)]
        calls.clear()
        run_network(fn, x, net=net, tile=128)  # 96×128 fits in one tile: untiled
        assert calls == [(96, 128)]
        calls.clear()
        run_network(fn, x, net=net, tile=128, scale=0.5)  # 192×256 network input: a stats pass and 6 tiles
        assert calls[0] == (192, 256) and len(calls) == 1 + len(tile_boxes(192, 256, 128, 32))  # stats pass + tiles
        assert max(max(c) for c in calls[1:]) <= 128 + 7 + 2 * 64  # core + alignment + halo


def test_feedforward_styliser_tiles_on_the_torch_net(tmp_path, monkeypatch):
    from vidstyle.stylise import feedforward

    net = _randomised(build_net("lite"))
    monkeypatch.setattr(feedforward, "load_transformer", lambda model, device: (net, {"name": "tiny", "weights": {}}))
    x = _two_halves()
    plain = feedforward.FeedForwardStyliser("tiny", backend="torch").stylise(x)
    tiled = feedforward.FeedForwardStyliser("tiny", backend="torch", tile=128).stylise(
        torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest"))
    assert tiled.shape == (1, 3, 192, 256)
    big = feedforward.FeedForwardStyliser("tiny", backend="torch", scale=2.0).stylise(x)
    assert big.shape == x.shape and float((big - plain).abs().mean()) > 1e-3  # a different brush size


@pytest.mark.parametrize("tile,ok", [(None, True), (0, True), (128, True), (1024, True), (64, False), (-1, False),
                                     (1.5, False)])
def test_tile_config_validation(tile, ok):
    if ok:
        assert OptimiseConfig(tile=tile).tile == tile
    else:
        with pytest.raises(ConfigError, match="tile"):
            OptimiseConfig(tile=tile)


def test_optimisation_limit_is_one_line_before_any_work(monkeypatch):
    from vidstyle.errors import VidstyleError
    from vidstyle.stylise.memory import check_optimise_fits, largest_fitting_side, optimise_bytes

    check_optimise_fits(1080, 1920, available=16e9)  # fits: no error
    with pytest.raises(VidstyleError) as e:
        check_optimise_fits(2160, 3840, available=16e9)
    message = str(e.value)
    assert "\n" not in message and "3840×2160" in message and "--size" in message
    side = largest_fitting_side(2160, 3840, 16e9)
    assert optimise_bytes(side * 9 // 16, side) <= 16e9 < optimise_bytes((side + 64) * 9 // 16, side + 64)
    from vidstyle.stylise import memory

    monkeypatch.setattr(memory, "available_bytes", lambda device: None)
    check_optimise_fits(2160, 3840)  # unknown memory: nothing is refused


def test_stylise_still_refuses_a_size_that_does_not_fit(monkeypatch, small_vgg):
    from vidstyle.errors import VidstyleError
    from vidstyle.stylise import memory
    from vidstyle.stylise.optimise import stylise_still

    monkeypatch.setattr(memory, "available_bytes", lambda device: memory.BASE_BYTES + 100 * memory.BYTES_PER_PIXEL)
    encoder = small_vgg(OptimiseConfig().style_layers + OptimiseConfig().content_layers)
    with pytest.raises(VidstyleError, match="needs about"):
        stylise_still(torch.rand(1, 3, 32, 48), [torch.rand(1, 3, 32, 32)], encoder, OptimiseConfig(size=48, steps=1))


def test_cli_run_and_image_pass_style_scale_and_tile(cli, tmp_path, monkeypatch):
    import vidstyle.api
    import vidstyle.pipeline
    from vidstyle.pipeline import PipelineStats

    seen: dict = {}

    def fake_video(input, output, **kw):
        seen.update(kw)
        return PipelineStats(frames=1)

    monkeypatch.setattr(vidstyle.pipeline, "stylise_video", fake_video)
    code, _, err = cli("run", tmp_path / "clip.mp4", "--model", "m", "--style-scale", "2", "--tile", "256",
                       "-o", tmp_path / "o.mp4")
    assert code == 0, err
    assert seen["optimise"].style_scale == 2.0 and seen["optimise"].tile == 256

    def fake_image(content, styles, out, cfg, **kw):
        seen["image"] = cfg

    monkeypatch.setattr(vidstyle.api, "stylise_image", fake_image)
    code, _, err = cli("image", tmp_path / "a.png", "--model", "m", "--tile", "0", "--style-scale", "0.5",
                       "-o", tmp_path / "o.png")
    assert code == 0, err
    assert seen["image"].tile == 0 and seen["image"].style_scale == 0.5
    code, _, err = cli("run", tmp_path / "clip.mp4", "--model", "m", "--tile", "64", "-o", tmp_path / "o.mp4")
    assert code == 1 and "tile" in err and "Traceback" not in err


def test_feedforward_builder_passes_scale_and_tile(monkeypatch):
    from vidstyle.methods import build_styliser
    from vidstyle.stylise import feedforward

    net = _randomised(build_net("lite"))
    monkeypatch.setattr(feedforward, "load_transformer", lambda model, device: (net, {"name": "tiny", "weights": {}}))
    styliser, text = build_styliser("fast", [], "tiny", optimise=OptimiseConfig(style_scale=2.0, tile=512),
                                    backend="torch")
    assert styliser.scale == 2.0 and styliser.tile == 512
    assert "style scale 2" in text and "tiles of 512 px" in text


def test_untiled_copy_without_truth_value_is_used():
    """A torch.compile'd network (OptimizedModule) raises on ``bool()``; the untiled copy must be picked by
    ``is not None`` (a run with --compile always once failed with 'TransformerNet does not support len()')."""
    from vidstyle.nets.tiling import run_network

    class NoTruth(torch.nn.Module):
        def __len__(self):
            raise TypeError("no len()")

        def forward(self, x):
            return x * 0.5

    x = torch.rand(1, 3, 16, 16)
    out = run_network(lambda t: t, x, net=None, untiled=NoTruth())
    torch.testing.assert_close(out, x * 0.5)


def test_method_line_says_when_frames_are_tiled_and_on_what(monkeypatch):
    """4K frames run in tiles on the eager network whatever the backend: the line says so, not 'onnxruntime'."""
    from vidstyle.methods import build_styliser
    from vidstyle.stylise import feedforward

    net = _randomised(build_net("lite"))
    monkeypatch.setattr(feedforward, "load_transformer", lambda model, device: (net, {"name": "tiny", "weights": {}}))
    _, small = build_styliser("fast", [], "tiny", backend="torch", frame_size=(360, 640))
    _, big = build_styliser("fast", [], "tiny", backend="torch", frame_size=(2160, 3840))
    assert "tiles" not in small
    assert "3840×2160 frames in tiles of 1024 px on eager torch (fp32)" in big
    _, never = build_styliser("fast", [], "tiny", backend="torch", frame_size=(2160, 3840),
                              optimise=OptimiseConfig(tile=0))
    assert "never tiled" in never and "tiles of" not in never
