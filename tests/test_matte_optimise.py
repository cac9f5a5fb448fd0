"""Mattes in video for optimisation: `vidstyle run --method optimise|optimise-temporal --mask` takes the style loss
only inside each frame's own matte (as `vidstyle image --mask`), besides compositing through it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_matte_video import H, N, W, _frames, _matte_array, _write_video

from vidstyle.config import OptimiseConfig, TemporalConfig, VideoConfig

from clips import make_clip


@pytest.mark.parametrize("method,passes", [("optimise", 1), ("optimise-temporal", 1), ("optimise-temporal", 2)])
def test_each_frame_is_optimised_with_its_own_matte(tmp_path, small_vgg, one_thread, monkeypatch, method, passes):
    import vidstyle.stylise.ruder as ruder
    from vidstyle.pipeline import stylise_video

    seen: list[torch.Tensor | None] = []
    real = ruder.stylise_still

    def spy(content, styles, encoder, cfg, **kw):
        seen.append(kw.get("content_masks"))
        return real(content, styles, encoder, cfg, **kw)

    monkeypatch.setattr(ruder, "stylise_still", spy)
    clip = make_clip(tmp_path / "clip.mp4", n_frames=N, size=(W, H))
    style = tmp_path / "style.png"
    from PIL import Image

    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(style)
    matte = _write_video(tmp_path / "matte.mkv", [_matte_array(i) for i in range(N)])
    lines: list[str] = []
    stats = stylise_video(clip, tmp_path / "out.mp4", styles=[style], method=method, mask=matte, progress=False,
                          device="cpu", optimise=OptimiseConfig(steps=2, scales=1), on_method=lines.append,
                          video=VideoConfig(batch_size=2), temporal=TemporalConfig(passes=passes))
    assert stats.frames == N and "style loss inside the matte" in lines[0]
    assert len(seen) == N * passes and all(m is not None for m in seen)
    for i, m in enumerate(seen[:N] if passes == 1 else []):  # frame i got matte i: white left of x = 16·(i + 1)
        col = m[0, 0].mean(0)  # type: ignore[index]
        edge = 16 * (i + 1)
        assert col[: edge - 2].min() > 0.9 and (edge + 2 >= W or col[edge + 2:].max() < 0.1), i
    out, inp = _frames(tmp_path / "out.mp4"), _frames(clip)
    for k in range(N):  # outside the matte: the input (the composite)
        edge = 16 * (k + 1)
        if edge + 4 < W:
            assert np.abs(out[k][:, edge + 4:] - inp[k][:, edge + 4:]).mean() < 0.03
