"""Mattes in video (vidstyle.matte_video): ``vidstyle run --mask`` with a matte video, folder or still, streamed and
composited per frame; frame alignment (also for batch chunks that start mid-clip); errors up front."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from clips import make_clip
from PIL import Image

from vidstyle.errors import VidstyleError
from vidstyle.stylise.base import Styliser

W, H, N = 64, 48, 3


class Invert(Styliser):
    def stylise(self, frames, state=None):
        return 1 - frames


@pytest.fixture(autouse=True)
def _invert_styliser(monkeypatch):
    import vidstyle.device
    import vidstyle.methods

    monkeypatch.setattr(vidstyle.methods, "build_styliser", lambda *a, **k: (Invert(), "invert (test)"))
    monkeypatch.setattr(vidstyle.device, "use_all_cores", lambda: 1)


def _matte_array(i: int, w: int = W, h: int = H) -> np.ndarray:
    """Frame ``i``'s matte: white left of x = 16·(i + 1), black right of it (it moves: alignment is visible)."""
    a = np.zeros((h, w), np.uint8)
    a[:, : 16 * (i + 1) * w // W] = 255
    return a


def _write_video(path: Path, arrays: list[np.ndarray]) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = arrays[0].shape[1], arrays[0].shape[0], "gray"
        s.codec_context.time_base = Fraction(1, 25)
        for i, a in enumerate(arrays):
            f = av.VideoFrame.from_ndarray(a, format="gray")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def _frames(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]).astype(np.float32) / 255


@pytest.fixture
def clip(tmp_path) -> Path:
    return make_clip(tmp_path / "clip.mp4", n_frames=N, size=(W, H))


def _check_composite(out: np.ndarray, inp: np.ndarray, first: int = 0, invert: bool = False) -> None:
    for k in range(len(out)):
        edge = 16 * (first + k + 1)
        inside, outside = (slice(edge + 4, None), slice(0, edge - 4)) if invert else \
            (slice(0, edge - 4), slice(edge + 4, None))
        if outside.start is None or outside.start < W:
            d_out = np.abs(out[k][:, outside] - inp[first + k][:, outside]).mean()
            assert d_out < 0.03, f"frame {k}: outside the matte differs from the input by {d_out:.3f}"
        if inside.stop is None or inside.stop > 0:
            d_in = np.abs(out[k][:, inside] - (1 - inp[first + k][:, inside])).mean()
            assert d_in < 0.05, f"frame {k}: inside the matte is not stylised ({d_in:.3f})"


@pytest.mark.parametrize("kind", ["video", "folder"])
def test_matte_keeps_outside_pixels(tmp_path, clip, kind):
    from vidstyle.pipeline import stylise_video

    arrays = [_matte_array(i) for i in range(N)]
    if kind == "video":
        matte = _write_video(tmp_path / "matte.mkv", arrays)
    else:
        matte = tmp_path / "matte"
        matte.mkdir()
        for i, a in enumerate(arrays):
            Image.fromarray(a).save(matte / f"{i:05d}.png")
    out = tmp_path / "out.mp4"
    stats = stylise_video(clip, out, styles=[], method="fast", mask=matte, progress=False, device="cpu")
    assert stats.frames == N
    _check_composite(_frames(out), _frames(clip))


def test_inverted_still_matte_with_feather(tmp_path, clip):
    from vidstyle.pipeline import stylise_video

    still = tmp_path / "m.png"
    Image.fromarray(_matte_array(0)).save(still)  # the same matte for every frame
    out = tmp_path / "out.mp4"
    stylise_video(clip, out, styles=[], method="fast", mask=still, invert_mask=True, feather=2, progress=False,
                  device="cpu")
    o, i = _frames(out), _frames(clip)
    assert np.abs(o[:, :, :8] - i[:, :, :8]).mean() < 0.03  # inverted: the white part is kept
    assert np.abs(o[:, :, 28:] - (1 - i[:, :, 28:])).mean() < 0.05


def test_chunk_starting_mid_clip_stays_aligned(tmp_path, clip):
    """A batch chunk renders frames [1, 3) with one warm-up frame discarded: the matte follows the indices."""
    from vidstyle.pipeline import stylise_video

    matte = _write_video(tmp_path / "matte.mkv", [_matte_array(i) for i in range(N)])
    out = tmp_path / "out.mkv"
    from vidstyle.config import VideoConfig

    stats = stylise_video(clip, out, styles=[], method="fast", mask=matte, frames=(1, 3), discard_first=1,
                          video=VideoConfig(codec="ffv1", audio=False), progress=False, device="cpu")
    assert stats.frames == 1
    _check_composite(_frames(out), _frames(clip), first=2)


def test_matte_with_keyframes_waits_in_a_spool(tmp_path, clip, monkeypatch):
    """Keyframes read the whole clip before writing: the inputs wait in a spool (memory 0: all on disk, removed
    after), and the composite is the same as without keyframes."""
    import tempfile

    from vidstyle.config import KeyframeConfig
    from vidstyle.pipeline import stylise_video

    spool_root = tmp_path / "tmp"
    spool_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool_root))
    matte = _write_video(tmp_path / "matte.mkv", [_matte_array(i) for i in range(N)])
    inp = _frames(clip)
    painted = tmp_path / "k0.png"
    Image.fromarray(((1 - inp[0]) * 255).round().astype(np.uint8)).save(painted)  # the painted keyframe = the look
    out = tmp_path / "out.mp4"
    stats = stylise_video(clip, out, styles=[], method="fast", mask=matte, progress=False, device="cpu",
                          keyframes=KeyframeConfig(images=((0, painted),), memory_mb=0))
    assert stats.frames == N and "keyframes" in stats.method
    _check_composite(_frames(out), inp)
    assert not list(spool_root.iterdir())  # the spools' folders are gone


@pytest.mark.parametrize("case", ["frames", "aspect", "missing", "short-folder"])
def test_bad_mattes_fail_up_front_in_one_line(tmp_path, clip, case):
    from vidstyle.pipeline import stylise_video

    if case == "frames":
        matte = _write_video(tmp_path / "m.mkv", [_matte_array(i) for i in range(N - 1)])
        expect = "has 2 frames but clip.mp4 has 3"
    elif case == "aspect":
        matte = _write_video(tmp_path / "m.mkv", [np.zeros((48, 48), np.uint8)] * N)
        expect = "aspect ratio"
    elif case == "missing":
        matte, expect = tmp_path / "nope.mp4", "file not found"
    else:
        matte = tmp_path / "m"
        matte.mkdir()
        Image.fromarray(_matte_array(0)).save(matte / "0.png")
        expect = "has 1 frames but the clip has 3"
    out = tmp_path / "out.mp4"
    with pytest.raises(VidstyleError) as e:
        stylise_video(clip, out, styles=[], method="fast", mask=matte, progress=False, device="cpu")
    assert expect in str(e.value) and "\n" not in str(e.value)
    assert not out.exists()


def test_matte_source_streams_and_allows_empty_frames(tmp_path):
    from vidstyle.matte_video import MatteSource

    arrays = [np.zeros((H, W), np.uint8), _matte_array(1), _matte_array(2)]  # frame 0 selects nothing: allowed
    src = MatteSource(_write_video(tmp_path / "m.mkv", arrays), (H, W))
    m = src.for_indices([0, 1])
    assert m.shape == (2, 1, H, W) and float(m[0].max()) == 0.0
    assert float(m[1, 0, :, :30].mean()) == pytest.approx(1.0) and float(m[1, 0, :, 34:].mean()) == 0.0
    assert float(src.for_indices([2])[0, 0, :, :46].mean()) == pytest.approx(1.0)
    with pytest.raises(VidstyleError, match="ends before frame 3"):
        src.for_indices([3])
    src.close()


def test_cli_run_mask_errors(cli, tmp_path, clip):
    code, _, err = cli("run", clip, "--model", "x", "--feather", "2", "-o", tmp_path / "o.mp4")
    assert code == 1 and "--mask" in err and "Traceback" not in err
    short = _write_video(tmp_path / "m.mkv", [_matte_array(0)])
    code, _, err = cli("run", clip, "--model", "x", "--mask", short, "-o", tmp_path / "o.mp4")
    assert code == 1 and "frame-aligned" in err and len(err.strip().splitlines()) == 1, err


def test_compositor_answers_for_the_batch_being_stylised_and_the_one_read_ahead():
    """The pipeline reads batch k+1 while batch k is stylised (``observed_batches``): ``matte_at`` keeps answering
    for both, and forgets older batches."""
    import torch

    from vidstyle.matte_video import MatteCompositor

    comp = MatteCompositor(source=None)  # type: ignore[arg-type]  # hold/matte_at do not touch the source
    batches = [{i: torch.full((1, 1, 2, 2), float(i)) for i in range(k, k + 2)} for k in (0, 2, 4)]
    comp.hold(batches[0])
    comp.hold(batches[1])
    assert comp.matte_at(0) is not None and comp.matte_at(3) is not None
    comp.hold(batches[2])
    assert comp.matte_at(1) is None and float(comp.matte_at(2)[0, 0, 0, 0]) == 2 and comp.matte_at(5) is not None
