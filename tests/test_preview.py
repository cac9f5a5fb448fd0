"""``vidstyle preview`` and ``vidstyle run --preview``: the sheet's grid, seeking to the frames, estimates, errors."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from vidstyle.config import TemporalConfig
from vidstyle.errors import VidstyleError
from vidstyle.media.sheet import contact_sheet
from vidstyle.preview import Look, parse_times, preview_output_for, render_preview, spread_indices
from vidstyle.stylise.base import Styliser

from clips import make_clip


class Invert(Styliser):
    """An injected tiny 'network' standing in for a method (counts its frames)."""

    def __init__(self) -> None:
        self.frames = 0

    def stylise(self, frames, state=None):
        self.frames += len(frames)
        return 1 - frames


@pytest.fixture
def injected(monkeypatch):
    """Every method builds :class:`Invert` (the preview builds through vidstyle.methods.build_styliser)."""
    import vidstyle.methods

    built = []

    def build(method, styles, model=None, **kw):
        built.append((method, [str(s) for s in styles], kw.get("optimise")))
        assert kw.get("precision") in ("fp32", "int8", "auto")
        return Invert(), f"{method}: injected"

    monkeypatch.setattr(vidstyle.methods, "build_styliser", build)
    return built


def test_contact_sheet_grid():
    tiles = [[torch.full((1, 3, 40, 60), (r * 3 + c) / 8) for c in range(3)] for r in range(2)]
    sheet = contact_sheet(tiles, ["a", "b", "c"], ["r0", "r1"], pad=6)
    # each tile's centre has its own grey, in a rows × columns grid right of the row labels, below the header
    w, h = sheet.size
    xs = [w - 6 - (60 + 6) * (3 - c) + 30 for c in range(3)]
    ys = [h - 6 - (40 + 6) * (2 - r) + 20 for r in range(2)]
    for r in range(2):
        for c in range(3):
            assert abs(sheet.getpixel((xs[c], ys[r]))[0] - round(255 * (r * 3 + c) / 8)) <= 1
    with pytest.raises(ValueError, match="rows × columns"):
        contact_sheet(tiles, ["a", "b"], ["r0", "r1"])


def test_spread_and_times():
    assert spread_indices(90, 3) == [15, 45, 75]
    assert spread_indices(2, 5) == [0, 1]
    assert parse_times("00:12, 40.5s,3") == [12.0, 40.5, 3.0]
    with pytest.raises(VidstyleError, match="is not a time"):
        parse_times("12,48f")
    assert preview_output_for(__import__("pathlib").Path("out/clip__a.mp4")).as_posix() == "out/clip__a.preview.png"


def test_preview_writes_a_sheet_with_the_right_grid(tmp_path, injected):
    clip = make_clip(tmp_path / "in.mp4", n_frames=30, size=(64, 48))
    looks = [Look("fast", (tmp_path / f"{n}.jpg",)) for n in ("a", "b")] + [Look("adain", (tmp_path / "a.jpg",))]
    out = tmp_path / "sheet.png"
    result = render_preview(clip, looks, out, frames=4, device="cpu", thumb=None, progress=False)
    assert (result.rows, result.columns) == (4, 4)  # 4 frames × (original + 3 looks)
    assert result.indices == [3, 11, 18, 26]  # spread over the 30 frames
    assert [m for m, _, _ in injected] == ["fast", "fast", "adain"]
    with Image.open(out) as img:
        w, h = img.size
    assert w >= 4 * 64 and h >= 4 * 48
    for timing in result.looks:
        assert len(timing.frame_ms) == 4 and timing.estimate_s > 0
        assert timing.uses_flow and result.flow_ms is not None  # the default render blends along the flow
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]
    with pytest.raises(VidstyleError, match="already exists; use --force"):
        render_preview(clip, looks, out, frames=2, device="cpu", progress=False)
    again = render_preview(clip, looks[:1], out, at=[0.2, 1.0], device="cpu", progress=False, force=True)
    assert (again.rows, again.columns) == (2, 2) and again.indices == [5, 25]  # 25 fps


def test_preview_rows_are_the_frames_at_those_indices(tmp_path, injected):
    from vidstyle.media.reader import open_frames

    clip = make_clip(tmp_path / "in.mp4", n_frames=20, size=(64, 48))
    with open_frames(clip, prefetch=0) as reader:
        every = torch.cat([b.frames for b in reader])
        batch = reader.read_at([17, 2, 9])
    assert batch.indices == [2, 9, 17]
    torch.testing.assert_close(batch.frames, every[[2, 9, 17]])


def test_preview_errors(tmp_path, injected):
    clip = make_clip(tmp_path / "in.mp4", n_frames=10, size=(64, 48))
    look = [Look("fast", (tmp_path / "a.jpg",))]
    with pytest.raises(VidstyleError, match="past the end"):
        render_preview(clip, look, tmp_path / "s.png", at=[5.0], device="cpu", progress=False)
    with pytest.raises(VidstyleError, match="unknown image extension"):
        render_preview(clip, look, tmp_path / "s.mp4", device="cpu", progress=False)
    with pytest.raises(VidstyleError, match="either --frames or --at"):
        render_preview(clip, look, tmp_path / "s.png", frames=2, at=[0.1], device="cpu", progress=False)


def test_preview_command(tmp_path, cli, injected):
    clip = make_clip(tmp_path / "in.mp4", n_frames=12, size=(64, 48))
    out = tmp_path / "sheet.png"
    code, stdout, err = cli("preview", clip, "-s", tmp_path / "a.jpg", "-s", tmp_path / "b.jpg", "--method", "fast",
                            "--method", "adain", "--strength", "1", "--strength", "0.5", "--frames", "2",
                            "-o", out, "--quiet", "--device", "cpu")
    assert code == 0, err
    assert len(injected) == 2 * 2 * 2  # styles × methods × strengths
    assert sorted({cfg.strength for _, _, cfg in injected}) == [0.5, 1.0]
    assert "wrote preview of 2 frames × 8 looks" in stdout and out.is_file()
    code, _, err = cli("preview", clip, "-s", tmp_path / "a.jpg", "--at", "00:30", "-o", tmp_path / "x.png", "-q")
    assert code == 1 and err.strip().splitlines() == [
        "error: --at 00:30.0 is past the end of " f"{clip} (its duration is 00:00.5)"]


def test_run_preview_writes_only_the_sheet(tmp_path, cli, injected):
    clip = make_clip(tmp_path / "in.mp4", n_frames=12, size=(64, 48))
    out = tmp_path / "out.mp4"
    code, stdout, err = cli("run", clip, "-s", tmp_path / "a.jpg", "--method", "fast", "--strength", "0:0, 10:1",
                            "-o", out, "--preview", "-q", "--device", "cpu")
    assert code == 0, err
    assert not out.exists() and (tmp_path / "out.preview.png").is_file()
    assert "the full render would take" in stdout
    assert injected[0][2].strength == "0:0, 10:1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.preview.png"]
    custom = tmp_path / "look.jpg"
    code, _, err = cli("run", clip, "-s", tmp_path / "a.jpg", "--method", "fast", "--preview-out", custom, "-q")
    assert code == 0, err
    assert custom.is_file()


def test_preview_of_a_range_spreads_rows_over_it(tmp_path, injected):
    clip = make_clip(tmp_path / "in.mp4", n_frames=30, size=(64, 48))
    result = render_preview(clip, [Look("fast", (tmp_path / "a.jpg",))], tmp_path / "s.png", start=0.4, end=0.8,
                            device="cpu", progress=False, temporal=TemporalConfig(enabled=False))
    assert result.indices == [11, 15, 18] and result.frame_count == 10  # frames 10–19 (25 fps), spread
    assert result.flow_ms is None and not result.looks[0].uses_flow  # --no-temporal: no flow in the estimate
