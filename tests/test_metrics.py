"""METRICS.md in code: E_warp on clips with analytic flow, flicker, SSIM, style/content distances, cuts, streaming."""

from __future__ import annotations

import pytest
import torch
from clips import make_frames
from conftest import shared_path

from vidstyle.errors import VidstyleError
from vidstyle.flow import FlowEstimator, reliability_mask, warp
from vidstyle.flow.warp import inside_frame
from vidstyle.losses import gram_matrix
from vidstyle.metrics import (
    TemporalMeter,
    content_distance,
    evaluate_clips,
    flicker_ratio,
    iter_frames,
    masked_warp_error,
    ssim_luma,
    style_distance,
    warping_error,
)

SIZE = (48, 32)  # (width, height)
MOTION = (2, 1)


class AnalyticFlow(FlowEstimator):
    """The exact flow of a clip whose content moves by ``motion`` px per frame: estimate(I_t, I_{t+k}) = k·motion.

    The offset k is recovered by finding the two frames in the clip (all frames differ).
    """

    name = "analytic"

    def __init__(self, frames: torch.Tensor, motion=MOTION) -> None:
        self.frames = frames
        self.motion = motion

    def estimate(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        k = self._t(b) - self._t(a)
        flow = torch.empty(a.shape[0], 2, *a.shape[-2:])
        flow[:, 0], flow[:, 1] = k * self.motion[0], k * self.motion[1]
        return flow

    def _t(self, x: torch.Tensor) -> int:
        for i, f in enumerate(self.frames):
            if torch.equal(f, x[0]):
                return i
        raise AssertionError("frame not from this clip")


def clip(n: int = 8, motion=MOTION, cut_at=None) -> torch.Tensor:
    """``n×3×H×W`` frames of a synthetic clip with integer motion (see tests/clips.py)."""
    frames = make_frames(n, SIZE, motion, cut_at)
    return torch.stack([torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in frames])


def warped_clip(first: torch.Tensor, n: int, motion) -> torch.Tensor:
    """O_{t+1} = O_t warped by the backward flow −motion: exactly the warped previous frame."""
    frames = [first]
    back = torch.empty(1, 2, *first.shape[-2:])
    back[:, 0], back[:, 1] = -motion[0], -motion[1]
    for _ in range(n - 1):
        frames.append(warp(frames[-1], back))
    return torch.cat(frames)


# ----------------------------------------------------------------------------- E_warp


def test_output_equal_to_warped_previous_frame_has_zero_error():
    inputs = clip()
    outputs = warped_clip(torch.rand(1, 3, SIZE[1], SIZE[0]), len(inputs), MOTION)
    for k in (1, 3):
        res = warping_error(inputs, outputs, k=k, flow=AnalyticFlow(inputs), cuts=[])
        assert res["pairs"] == len(inputs) - k
        assert res["e_warp"] < 1e-10
        assert res["input_e_warp"] < 1e-10  # the input moves exactly with the analytic flow too


def test_subpixel_motion_error_is_small_interpolation_error():
    """Half-pixel motion: bilinear warping blurs (E_t = mean (¼ ∂²O/∂x²)²), small on smooth content but not 0."""
    motion = (0.5, 0.0)
    inputs = clip()  # the flow is imposed; only the outputs need to follow it
    first = torch.nn.functional.interpolate(torch.rand(1, 3, 4, 6), size=(SIZE[1], SIZE[0]), mode="bicubic",
                                            align_corners=True).clamp(0, 1)  # smooth
    est = AnalyticFlow(inputs, motion)
    moving = warping_error(inputs, warped_clip(first, len(inputs), motion), k=1, flow=est, cuts=[])
    frozen = warping_error(inputs, first.expand(len(inputs), -1, -1, -1), k=1, flow=est, cuts=[])
    assert 0 < moving["e_warp"] < 0.05 * frozen["e_warp"]


def test_per_frame_gain_raises_error_by_the_predicted_amount():
    """O'_t = g_t·O_t with the exact-motion clip O: E_t = (g_t − g_{t+1})² · mean_M(O_t²)."""
    inputs = clip()
    gains = torch.tensor([1.0, 0.9, 1.05, 0.95, 1.0, 0.8, 1.1, 1.0])
    outputs = inputs * gains.view(-1, 1, 1, 1)
    est = AnalyticFlow(inputs)
    res = warping_error(inputs, outputs, k=1, flow=est, cuts=[])
    for t in range(len(inputs) - 1):
        fwd = est.estimate(inputs[t : t + 1], inputs[t + 1 : t + 2])
        mask = reliability_mask(fwd, -fwd).expand(1, 3, -1, -1).bool()
        expected = float((gains[t] - gains[t + 1]) ** 2 * inputs[t : t + 1][mask].pow(2).mean())
        assert res["per_frame"][t] == pytest.approx(expected, rel=1e-4, abs=1e-9)
    assert res["input_e_warp"] < 1e-10  # the input follows the flow exactly: its floor is 0


def test_independent_noise_adds_twice_its_variance():
    torch.manual_seed(1)
    inputs = clip(6)
    sigma = 0.02
    outputs = (0.2 + 0.6 * inputs) + sigma * torch.randn_like(inputs)  # stays inside [0, 1]: no clipping
    res = warping_error(inputs, outputs, k=1, flow=AnalyticFlow(inputs), cuts=[])
    assert res["e_warp"] == pytest.approx(2 * sigma**2, rel=0.1)


def test_masked_warp_error_ignores_unreliable_pixels():
    o_t = torch.zeros(1, 3, 4, 4)
    o_tk = torch.zeros(1, 3, 4, 4)
    o_tk[..., 0, 0] = 1.0  # a big error at one pixel
    mask = torch.ones(1, 1, 4, 4)
    assert float(masked_warp_error(o_t, o_tk, torch.zeros(1, 2, 4, 4), mask)) == pytest.approx(1 / 16)
    mask[..., 0, 0] = 0
    assert float(masked_warp_error(o_t, o_tk, torch.zeros(1, 2, 4, 4), mask)) == 0.0


def test_long_term_k_holds_a_bounded_ring_buffer():
    inputs = clip(14)
    meter = TemporalMeter(1, ks=(1, 10), flow=AnalyticFlow(inputs), cuts=[])
    for f in iter_frames(inputs):
        meter.update(f, [1 - f])
        assert len(meter._buffer) <= 11  # never the whole clip
    res = meter.result()["warping_error"]
    assert res[10]["pairs"] == 4 and res[1]["pairs"] == 13
    assert res[10]["outputs"][0]["mean"] < 1e-10


def test_pairs_across_cuts_are_excluded_and_counted():
    inputs = clip(10, cut_at=6)
    res = warping_error(inputs, inputs, k=1, flow=AnalyticFlow(inputs), cuts=[6])
    assert res["excluded_at_cuts"] == 1 and res["pairs"] == 8 and res["per_frame"][5] is None
    res3 = warping_error(inputs, inputs, k=3, flow=AnalyticFlow(inputs), cuts=[6])
    assert res3["excluded_at_cuts"] == 3  # pairs (3,6), (4,7), (5,8)
    assert [t for t, v in enumerate(res3["per_frame"]) if v is None] == [3, 4, 5]


def test_cuts_are_detected_on_a_synthetic_cut():
    """Two textures with the same colour statistics: only the flow failure reveals the cut."""
    inputs = clip(10, cut_at=6)
    res = warping_error(inputs, inputs, k=1)  # DIS, detection on
    assert res["cuts"] == [6] and res["excluded_at_cuts"] == 1
    assert warping_error(clip(10), k=1)["cuts"] == []


def test_cuts_on_a_real_clip_with_known_cuts():
    """bikes.mp4 (registry) has hard cuts before frames 30, 76, 137, 187 and 242 (checked by eye)."""
    import av

    path = shared_path("registry", "clips", "bikes.mp4")
    windows = [(27, 31), (73, 77)]  # around two of the cuts, kept short
    frames: dict[int, torch.Tensor] = {}
    with av.open(str(path)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if any(lo <= i <= hi for lo, hi in windows):
                rgb = frame.to_ndarray(format="rgb24")[::2, ::2].copy()  # half size
                frames[i] = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
            if i > windows[-1][1]:
                break
    found = []
    for lo, hi in windows:
        meter = TemporalMeter(0, ks=(1,))
        for i in range(lo, hi + 1):
            meter.update(frames[i])
        found += [lo + c for c in meter.result()["cuts"]]
    assert found == [30, 76]


def test_streaming_inputs_and_length_mismatch():
    inputs = clip(6)
    batches = (inputs[i : i + 4] for i in range(0, 6, 4))  # a generator of batches, like a reader
    res = warping_error(batches, list(inputs), k=1, flow=AnalyticFlow(inputs), cuts=[])
    assert res["pairs"] == 5
    with pytest.raises(VidstyleError, match="differ in length"):
        warping_error(inputs, inputs[:5], k=1, flow=AnalyticFlow(inputs), cuts=[])
    with pytest.raises(VidstyleError, match="differ in length"):
        flicker_ratio(inputs[:4], inputs, cuts=[])


# ----------------------------------------------------------------------------- flicker


def test_flicker_ratio_overall_and_static():
    inputs = clip(6)
    inputs[:, :, :8, :8] = 0.5
    inputs[1::2, :, :8, :8] += 0.004  # a static patch: sensor noise below 2/255
    n_static = 8 * 8 / (SIZE[0] * SIZE[1])
    same = flicker_ratio(inputs, inputs, cuts=[])
    assert same["overall"] == pytest.approx(1.0) and same["static"] == pytest.approx(1.0)
    assert same["input_static"] == pytest.approx(0.004, rel=1e-3)
    half = flicker_ratio(inputs, 0.5 * inputs, cuts=[])
    assert half["overall"] == pytest.approx(0.5) and half["static"] == pytest.approx(0.5)
    flicker = inputs.clone()
    flicker[1::2, :, :8, :8] = 0.6  # the static patch flickers by 0.1 in the output
    res = flicker_ratio(inputs, flicker, cuts=[])
    assert res["output_static"] == pytest.approx(0.1, rel=1e-3) and res["static"] == pytest.approx(25, rel=1e-3)
    assert res["overall"] == pytest.approx(1 + (0.1 - 0.004) * n_static / res["input_overall"], rel=1e-3)


# ----------------------------------------------------------------------------- SSIM and VGG distances


def test_ssim_luma():
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(ssim_luma(x, x), torch.ones(2), atol=1e-4)
    assert (ssim_luma(x, torch.rand(2, 3, 32, 32)) < 0.2).all()
    # luminance only: a colour change keeping luma keeps SSIM at 1
    grey = x.mean(1, keepdim=True).expand(-1, 3, -1, -1).contiguous()
    assert ssim_luma(grey, grey).min() > 0.999


class TinyEncoder(torch.nn.Module):
    """Stand-in for VGG-19: fixed random 1×1 convs per layer name (shapes like the real thing, tiny)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        names = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1", "relu4_2")
        self.convs = torch.nn.ModuleDict({n: torch.nn.Conv2d(3, 4 + i, 1) for i, n in enumerate(names)})

    def forward(self, x, layers):
        return {n: torch.relu(self.convs[n](x * 255)) for n in layers}  # "own input scaling": 0–255


def test_style_distance_matches_the_definition():
    enc = TinyEncoder()
    out, style = torch.rand(2, 3, 16, 16), torch.rand(1, 3, 16, 16)
    layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    expected = sum((gram_matrix(enc(out, [n])[n]) - gram_matrix(enc(style, [n])[n])).pow(2).sum(dim=(1, 2))
                   for n in layers) / 5
    assert torch.allclose(style_distance(out, style, enc), expected, rtol=1e-5)
    assert style_distance(style, style, enc).item() == pytest.approx(0.0, abs=1e-6)


def test_content_distance_matches_the_definition():
    enc = TinyEncoder()
    out, content = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    expected = (enc(out, ["relu4_2"])["relu4_2"] - enc(content, ["relu4_2"])["relu4_2"]).pow(2).mean(dim=(1, 2, 3))
    assert torch.allclose(content_distance(out, content, enc), expected, rtol=1e-5)


def test_evaluate_clips_reports_everything():
    inputs = clip(6)
    outs = [inputs, (inputs * 0.8 + 0.1)]
    enc = TinyEncoder()
    seen = []
    rep = evaluate_clips(inputs, outs, ks=(1, 2), flow=AnalyticFlow(inputs), cuts=[], style=torch.rand(1, 3, 20, 20),
                         encoder=enc, vgg_every=2, on_frame=lambda t, i, o: seen.append(t))
    assert seen == list(range(6)) and rep["frames"] == 6 and rep["size"] == list(SIZE)
    assert rep["pairs"]["2"]["pairs"] == 4
    o0, o1 = rep["outputs"]
    assert o0["warping_error"]["1"]["mean"] < 1e-10 and o0["ssim"] == pytest.approx(1.0, abs=1e-4)
    assert o0["content_distance"] == pytest.approx(0.0, abs=1e-6) and o1["content_distance"] > 0
    assert o1["vgg_frames"] == 3 and o1["style_distance"] > 0
    assert o1["flicker"]["ratio"] == pytest.approx(0.8, rel=1e-4)


def test_real_vgg_distances_smoke():
    from vidstyle.metrics import CONTENT_LAYER
    from vidstyle.nets.vgg import load_vgg

    enc = load_vgg(("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1", CONTENT_LAYER))
    x = torch.rand(1, 3, 32, 32)
    assert style_distance(x, x, enc).item() == pytest.approx(0.0, abs=1e-3)
    assert content_distance(x, x, enc).item() == 0.0
    assert style_distance(x, torch.rand(1, 3, 32, 32), enc).item() > 0


# ----------------------------------------------------------------------------- Sintel: GT vs DIS flow for E_warp

# Measured 2026-11-22 (recorded in benchmarks/RESULTS.md): the input's E_warp of Sintel clean pair 2→3 with DIS
# flow (METRICS.md pipeline) over E_warp with the GT flow and GT occlusions: alley_1 1.57 (2.92e-4 / 1.86e-4),
# cave_2 1.46 (4.31e-4 / 2.95e-4). DIS's sub-pixel errors raise the error on textured regions. market_5
# (0.34: DIS fails on its large motion and the mask drops those pixels) is measured but not asserted.
# Stated tolerance: the ratio lies within [1/1.8, 1.8].
SINTEL_RATIO_TOLERANCE = 1.8
SINTEL_SEQUENCES = ("alley_1", "cave_2")


def _sintel(seq):
    import cv2

    from vidstyle.flow.flo import read_flo, valid_flo

    root = shared_path("data", "flow", "sintel", seq)

    def rgb(n):
        img = cv2.imread(str(root / "clean" / f"frame_{n:04d}.png"))
        return torch.from_numpy(img[..., ::-1].copy()).permute(2, 0, 1)[None].float() / 255

    def mask(name):
        img = cv2.imread(str(root / name / "frame_0002.png"), cv2.IMREAD_UNCHANGED)
        return torch.from_numpy((img.max(-1) if img.ndim == 3 else img) > 0)[None, None]

    gt = read_flo(root / "flow" / "frame_0002.flo")
    return rgb(2), rgb(3), gt, valid_flo(gt) & ~mask("invalid"), mask("occlusions")


def sintel_ewarp_gt_and_dis(seq: str) -> tuple[float, float]:
    """Input E_warp of Sintel pair 2→3 with (a) GT flow and GT occlusions, (b) METRICS.md's DIS pipeline."""
    from kornia.filters import spatial_gradient

    a, b, gt, valid, occluded = _sintel(seq)
    f2 = gt.pow(2).sum(1, keepdim=True)
    grad2 = spatial_gradient(gt, mode="diff", normalized=True).pow(2).sum(dim=(1, 2)).unsqueeze(1)
    # the GT has no backward flow: its occlusion map stands in for the forward–backward check
    mask_gt = (valid & ~occluded & inside_frame(gt) & (grad2 <= 0.01 * f2 + 0.002)).float()
    e_gt = float(masked_warp_error(a, b, gt, mask_gt))
    e_dis = warping_error(torch.cat([a, b]), k=1, cuts=[])["e_warp"]
    return e_gt, e_dis


@pytest.mark.parametrize("seq", SINTEL_SEQUENCES)
def test_input_ewarp_with_gt_flow_vs_dis_flow(seq):
    e_gt, e_dis = sintel_ewarp_gt_and_dis(seq)
    assert e_gt > 0 and e_dis > 0
    assert 1 / SINTEL_RATIO_TOLERANCE < e_dis / e_gt < SINTEL_RATIO_TOLERANCE, (e_gt, e_dis)


def test_normalised_style_error_zero_for_the_style_and_equal_layer_weights():
    from vidstyle.metrics import normalised_style_error, style_grams

    class TwoLayer(torch.nn.Module):  # a tiny stand-in encoder: two fixed conv "layers"
        def __init__(self):
            super().__init__()
            g = torch.Generator().manual_seed(0)
            self.a = torch.nn.Conv2d(3, 4, 3)
            self.b = torch.nn.Conv2d(4, 6, 3)
            for p in self.parameters():
                p.data = torch.randn(p.shape, generator=g)

        def forward(self, x, layers):
            fa = torch.relu(self.a(x))
            return {"relu1_1": fa, "relu2_1": torch.relu(self.b(fa) * 1000)}  # very different magnitudes

    enc = TwoLayer()
    style = torch.rand(1, 3, 20, 20)
    targets = style_grams(style, enc, layers=("relu1_1", "relu2_1"))
    assert float(normalised_style_error(style, targets, enc)) < 1e-6
    err, per_layer = normalised_style_error(torch.rand(2, 3, 20, 20), targets, enc, per_layer=True)
    assert err.shape == (2,) and set(per_layer) == {"relu1_1", "relu2_1"}
    # scale-free: the ×1000 layer does not dominate
    assert 0.01 < float(per_layer["relu2_1"][0]) / float(per_layer["relu1_1"][0]) < 100
