"""Temporal consistency: cut detection, flow-guided blending, reset at cuts, Ruder et al. optimisation."""

from __future__ import annotations

import pytest
import torch
from clips import analytic_flow, make_clip, make_frames

from vidstyle.config import OptimiseConfig, TemporalConfig
from vidstyle.errors import VidstyleError
from vidstyle.flow import get_estimator, reliability_mask, warp
from vidstyle.losses import temporal_loss
from vidstyle.media.reader import open_frames
from vidstyle.stylise.base import FrameState, Styliser, TemporalMode
from vidstyle.temporal import TemporalState, blend, histogram_distance, is_cut


@pytest.fixture(autouse=True)
def _one_thread():
    # The test machine's 2 cores are shared by many processes: with 2 intra-op threads torch's
    # spinning workers make small convolutions ~20× slower than with one.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def as_tensor(frames) -> torch.Tensor:
    """list of H×W×3 uint8 → N×3×H×W float [0, 1]."""
    return torch.stack([torch.from_numpy(f).permute(2, 0, 1) for f in frames]).float() / 255


class NoisyStyliser(Styliser):
    """A per-frame 'styliser' that flickers: the frame inverted plus fresh noise every call."""

    def __init__(self, amount: float = 0.2) -> None:
        self.amount = amount
        self.generator = torch.Generator().manual_seed(1)

    def stylise(self, frames, state=None):
        noise = torch.rand(frames.shape, generator=self.generator) - 0.5
        return (1 - frames + self.amount * noise).clamp(0, 1)


def run_blending(frames: torch.Tensor, styliser: Styliser, cfg: TemporalConfig, batch: int = 3):
    """The pipeline's blend loop over a tensor clip; returns (stylised, blended, observations)."""
    state = TemporalState(cfg, get_estimator("dis"))
    stylised, blended, observations = [], [], []
    for start in range(0, len(frames), batch):
        chunk = frames[start:start + batch]
        obs = state.observe(chunk)
        s = styliser.stylise(chunk)
        for i, o in enumerate(obs):
            out = state.blend(s[i:i + 1], o)
            state.commit(out)
            blended.append(out)
        stylised.append(s)
        observations += obs
    return torch.cat(stylised), torch.cat(blended), observations


def test_histogram_distance_bounds():
    a = torch.zeros(1, 3, 8, 8)
    assert histogram_distance(a, a).item() == 0.0
    assert histogram_distance(a, torch.ones(1, 3, 8, 8)).item() == pytest.approx(1.0)


def test_blend_formula():
    s, w = torch.full((1, 3, 2, 2), 0.2), torch.full((1, 3, 2, 2), 0.6)
    mask = torch.tensor([[1.0, 0.0], [1.0, 0.0]]).view(1, 1, 2, 2)
    out = blend(s, w, mask, 0.75)
    # M·(s·warped + (1−s)·stylised) + (1−M)·stylised
    expected = mask * (0.75 * w + 0.25 * s) + (1 - mask) * s
    assert torch.allclose(out, expected)
    assert torch.equal(blend(s, w, mask, 0.0), s)


def test_is_cut_rules():
    cfg = TemporalConfig(cut_threshold=0.5, cut_min_reliable=0.3, cut_flow_threshold=0.15)
    assert is_cut(0.6, None, cfg) and is_cut(0.6, 0.9, cfg)
    assert is_cut(0.2, 0.1, cfg)  # flow failure + moderate colour change
    assert not is_cut(0.05, 0.1, cfg)  # fast motion: flow fails, colours stay
    assert not is_cut(0.2, 0.8, cfg) and not is_cut(0.2, None, cfg)
    assert is_cut(0.05, 0.1, cfg, recent_reliable=0.9)  # similar colours, but the flow suddenly fails
    assert not is_cut(0.05, 0.2, cfg, recent_reliable=0.25)  # it has been failing for a while: fast motion


@pytest.mark.parametrize("cut_at", [4, 6])
def test_cut_detected_in_encoded_clip(tmp_path, cut_at):
    path = make_clip(tmp_path / "cut.mp4", n_frames=9, size=(64, 48), motion=(2, 1), cut_at=cut_at)
    state = TemporalState(TemporalConfig(), get_estimator("dis"))
    flags = []
    with open_frames(path, batch_size=4) as reader:  # a cut at 4 sits on a batch boundary, at 6 inside one
        for batch in reader:
            flags += [o.cut for o in state.observe(batch.frames)]
    assert [i for i, c in enumerate(flags) if c] == [cut_at]
    assert state.cuts == 1


def test_no_false_cut_on_smooth_motion(tmp_path):
    path = make_clip(tmp_path / "smooth.mp4", n_frames=10, size=(64, 48), motion=(3, -2))
    state = TemporalState(TemporalConfig(), get_estimator("dis"))
    with open_frames(path, batch_size=3) as reader:
        observations = [o for batch in reader for o in state.observe(batch.frames)]
    assert len(observations) == 10
    assert not any(o.cut for o in observations)
    assert all(o.reliable > 0.5 for o in observations[1:])  # the flow works on this motion
    assert all(o.state.flow is not None for o in observations[1:])


def test_cuts_without_flow_use_histograms():
    frames = as_tensor(make_frames(6, (64, 48), (1, 0), cut_at=3))
    frames[3:] = 0.4 * frames[3:]  # a much darker new shot: clearly different colours
    state = TemporalState(TemporalConfig(), estimator=None)
    obs = state.observe(frames)
    assert [o.cut for o in obs] == [False, False, False, True, False, False]
    assert all(o.state.flow is None for o in obs)


def test_blending_stabilises_a_static_clip():
    frames = as_tensor(make_frames(10, (48, 32), motion=(0, 0)))
    stylised, blended, observations = run_blending(frames, NoisyStyliser(), TemporalConfig(strength=0.7))
    mask = torch.cat([o.state.mask for o in observations[1:]])
    assert mask.mean() > 0.95  # a static scene is reliable everywhere
    flicker_raw = (stylised[1:] - stylised[:-1]).abs().mean()
    flicker = (blended[1:] - blended[:-1]).abs().mean()
    # An exponential moving average with weight 0.3 on i.i.d. noise: the differences shrink ≈ 2.4×.
    assert flicker < 0.5 * flicker_raw
    # and it converges on the per-frame mean, not somewhere else
    assert (blended[-1] - (1 - frames[-1])).abs().mean() < 0.05


def test_blending_follows_motion():
    """A styliser that is a fixed function of the content looks the same after warping: blending changes little."""
    frames = as_tensor(make_frames(6, (64, 48), motion=(2, 1)))

    class Invert(Styliser):
        def stylise(self, frames, state=None):
            return 1 - frames

    stylised, blended, _ = run_blending(frames, Invert(), TemporalConfig(strength=0.9))
    assert (blended - stylised).abs().mean() < 0.02  # no smearing of a moving scene


def test_reset_at_cut_no_ghosting():
    frames = as_tensor(make_frames(8, (64, 48), motion=(1, 1), cut_at=5))
    stylised, blended, observations = run_blending(frames, NoisyStyliser(0.3), TemporalConfig(strength=0.9))
    assert [o.cut for o in observations].index(True) == 5
    # the first frame of the new shot is exactly its per-frame stylisation …
    assert torch.equal(blended[5], stylised[5])
    # … while frames inside a shot are blended
    assert not torch.equal(blended[4], stylised[4])
    assert not torch.equal(blended[6], stylised[6])


# ---------------------------------------------------------------------------------------- Ruder et al.

@pytest.fixture(scope="module")
def encoder():
    from vidstyle.nets.vgg import load_vgg

    cfg = OptimiseConfig()
    return load_vgg(cfg.style_layers + cfg.content_layers)


@pytest.fixture(scope="module")
def style():
    g = torch.Generator().manual_seed(3)
    base = torch.rand(1, 3, 8, 8, generator=g)
    return torch.nn.functional.interpolate(base, size=(40, 40), mode="nearest")  # bold blocky pattern


def test_stylise_still_gram_cache_same_result(encoder, style):
    from vidstyle.stylise.optimise import stylise_still

    content = as_tensor(make_frames(1, (40, 32)))
    cfg = OptimiseConfig(size=40, steps=3, scales=1)
    cache: dict = {}
    plain = stylise_still(content, [style], encoder, cfg)
    cached = [stylise_still(content, [style], encoder, cfg, gram_cache=cache) for _ in range(2)]
    assert len(cache) == 1
    assert torch.allclose(plain, cached[0], atol=1e-5) and torch.allclose(plain, cached[1], atol=1e-5)


def test_ruder_lower_temporal_loss_than_per_frame(encoder, style):
    from vidstyle.stylise.ruder import OptimiseStyliser, RuderStyliser

    size, motion = (40, 32), (2, 1)
    frames = as_tensor(make_frames(3, size, motion))
    # flow from frame t to t−1 (warp(O_{t−1}, flow) ≈ O_t): the content moved by +motion
    flow = analytic_flow(size, motion, backward=True)
    mask = reliability_mask(flow, analytic_flow(size, motion))
    cfg = OptimiseConfig(steps=6, scales=1, seed=0)
    tcfg = TemporalConfig(temporal_weight=1e3, later_steps=6)

    per_frame = OptimiseStyliser([style], cfg, encoder=encoder)
    ruder = RuderStyliser([style], cfg, tcfg, encoder=encoder)
    assert ruder.temporal_mode is TemporalMode.SEQUENTIAL and per_frame.temporal_mode is TemporalMode.PER_FRAME
    outs_pf = per_frame.stylise(frames)
    outs_r = []
    for t in range(3):
        state = None if t == 0 else FrameState(outs_r[-1], frames[t - 1:t], flow, mask)
        outs_r.append(ruder.stylise(frames[t:t + 1], state))
    outs_r = torch.cat(outs_r)
    assert outs_r.shape == frames.shape and 0 <= outs_r.min() and outs_r.max() <= 1
    assert torch.allclose(outs_r[0], outs_pf[0], atol=1e-5)  # the first frame is plain Gatys

    def tloss(outs):
        return sum(temporal_loss(outs[t:t + 1], warp(outs[t - 1:t], flow), mask) for t in (1, 2))

    assert tloss(outs_r) < 0.5 * tloss(outs_pf)
    assert len(ruder._grams) == 1  # style Grams computed once for the whole clip

    # After reset() and without state (a cut), the frame is stylised exactly like per-frame.
    ruder.reset()
    again = ruder.stylise(frames[2:3], FrameState())
    assert torch.allclose(again, outs_pf[2:3], atol=1e-5)


def test_ruder_long_term_weights(encoder, style):
    """Long-term terms only cover pixels the short-term mask does not (Ruder et al. eq. 8)."""
    from vidstyle.stylise.ruder import RuderStyliser

    size, motion = (40, 32), (2, 0)
    frames = as_tensor(make_frames(4, size, motion))
    dis = get_estimator("dis")
    ruder = RuderStyliser([style], OptimiseConfig(steps=2, scales=1), TemporalConfig(long_term=(2,), later_steps=2),
                          encoder=encoder, flow_estimator=dis)
    assert ruder.long_term == [2]
    out = ruder.stylise(frames[:3])  # chained internally with the estimator
    assert out.shape == (3, 3, 32, 40)
    flow = dis.estimate(frames[3:4], frames[2:3])
    mask = reliability_mask(flow, dis.estimate(frames[2:3], frames[3:4]))
    holed = mask.clone()
    holed[..., 8:24, 12:28] = 0  # as if an occluder had hidden this block in frame t−1 only
    terms = ruder.temporal_terms(frames[3:4], FrameState(out[2:3], frames[2:3], flow, holed))
    assert len(terms) == 2
    short, long = terms[0][1], terms[1][1]
    assert float((short * long).sum()) == 0.0  # disjoint supports
    assert float(long[..., 8:24, 12:28].mean()) > 0.9  # the hidden block is constrained by frame t−2 instead


def test_flow_on_downscaled_frames_is_rescaled():
    """Above ``flow_max_side`` the flow is estimated small and brought back in full-size pixels."""
    motion = (4, 2)
    frames = as_tensor(make_frames(3, (96, 64), motion))
    full = TemporalState(TemporalConfig(flow_max_side=None), get_estimator("dis")).observe(frames)
    small = TemporalState(TemporalConfig(flow_max_side=48), get_estimator("dis")).observe(frames)
    for f, s in zip(full[1:], small[1:]):
        assert s.state.flow.shape == f.state.flow.shape == (1, 2, 64, 96)
        assert s.state.mask.shape == (1, 1, 64, 96)
        inner = s.state.flow[..., 16:-16, 16:-16]
        # content moves by +motion, so warp(previous, flow) ≈ current needs flow = −motion
        assert inner[:, 0].median().item() == pytest.approx(-motion[0], abs=0.5)
        assert inner[:, 1].median().item() == pytest.approx(-motion[1], abs=0.5)


def test_multipass_lowers_temporal_error_and_joins_windows(encoder, style):
    """Ruder's multi-pass algorithm: alternating passes leave less flicker than one pass; windows join smoothly."""
    from vidstyle.methods import build_styliser
    from vidstyle.stylise.multipass import MultiPassStyliser
    from vidstyle.stylise.ruder import RuderStyliser

    size, motion = (40, 32), (2, 1)
    frames = as_tensor(make_frames(4, size, motion))
    flow = analytic_flow(size, motion, backward=True)
    mask = reliability_mask(flow, analytic_flow(size, motion))
    dis = get_estimator("dis")
    cfg = OptimiseConfig(steps=6, scales=1, seed=0)

    def tloss(outs):
        return sum(float(temporal_loss(outs[t:t + 1], warp(outs[t - 1:t], flow), mask)) for t in range(1, len(outs)))

    single = RuderStyliser([style], cfg, TemporalConfig(temporal_weight=1e3, later_steps=4), encoder=encoder,
                           flow_estimator=dis).stylise(frames)
    tcfg = TemporalConfig(temporal_weight=1e3, later_steps=4, passes=3, pass_steps=4)
    multi = MultiPassStyliser([style], cfg, tcfg, dis, encoder=encoder)
    out = multi.stylise(frames)
    assert out.shape == frames.shape and 0 <= out.min() and out.max() <= 1
    assert tloss(out) < 0.8 * tloss(single)

    # Two windows of the same shot: the second starts from the first's last frame (the anchor) …
    multi.reset()
    joined = torch.cat([multi.stylise(frames[:2]), multi.stylise(frames[2:])])
    # … whereas after a reset (a cut) the second window starts afresh with plain Gatys.
    multi.reset()
    first = multi.stylise(frames[:2])
    multi.reset()
    cut = torch.cat([first, multi.stylise(frames[2:])])
    seam = lambda outs: float(temporal_loss(outs[2:3], warp(outs[1:2], flow), mask))  # noqa: E731
    assert seam(joined) < 0.5 * seam(cut)

    styliser, text = build_styliser("optimise-temporal", [style], optimise=cfg, temporal=tcfg, flow_estimator=dis)
    assert isinstance(styliser, MultiPassStyliser) and styliser.temporal_mode is TemporalMode.SELF_CONSISTENT and "multi-pass" in text
    with pytest.raises(VidstyleError, match="passes"):
        MultiPassStyliser([style], cfg, TemporalConfig(passes=1), dis, encoder=encoder)
