"""Video decode/encode (PyAV): timing, audio, rotation, atomic output, sequences, damaged inputs."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from clips import analytic_flow, analytic_valid, clip_pts, make_clip, make_frames
from conftest import shared_path

from vidstyle.errors import MediaError, VidstyleError
from vidstyle.media.reader import VideoReader, even_size, open_frames
from vidstyle.media.writer import CODECS, VideoWriter


def _read_all(path, **kw) -> tuple[torch.Tensor, list[int], list[int], VideoReader]:
    with open_frames(path, **kw) as reader:
        batches = list(reader)
    frames = torch.cat([b.frames for b in batches])
    pts = [p for b in batches for p in b.pts]
    indices = [i for b in batches for i in b.indices]
    return frames, pts, indices, reader


def _copy(src, dst, **writer_kw) -> Path:
    with open_frames(src, batch_size=5) as reader, VideoWriter(dst, reader.info, **writer_kw) as writer:
        for batch in reader:
            writer.write(batch.frames, batch.pts)
    return Path(dst)


def _seconds(path) -> list[float]:
    with av.open(str(path)) as c:
        return [float(f.pts * f.time_base) for f in c.decode(video=0)]


def _audio_packets(path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.dts is not None]


def _reference(n: int, **kw) -> torch.Tensor:
    return torch.from_numpy(np.stack(make_frames(n, **kw))).permute(0, 3, 1, 2).float() / 255


# -- synthetic clips --------------------------------------------------------------------------------
def test_make_frames_move_by_the_analytic_flow():
    from vidstyle.flow import warp

    a, b = (_reference(2)[i : i + 1] for i in range(2))
    flow = analytic_flow((64, 48), (2, 1))
    valid = analytic_valid((64, 48), (2, 1))
    assert torch.equal(flow[0, :, 0, 0], torch.tensor([2.0, 1.0]))
    err = (warp(b, flow) - a).abs() * valid
    assert err.max() < 1e-5  # integer shift: warping is exact wherever the target is inside
    back = (warp(a, analytic_flow((64, 48), (2, 1), backward=True)) - b).abs()
    assert (back * analytic_valid((64, 48), (2, 1), backward=True)).max() < 1e-5
    assert valid.sum() == (64 - 2) * (48 - 1)


def test_cut_changes_content():
    from vidstyle.flow import warp

    frames = _reference(6, cut_at=3)
    flow, valid = analytic_flow(n=5), analytic_valid(n=5)
    residual = ((warp(frames[1:], flow) - frames[:-1]).abs() * valid).mean(dim=(1, 2, 3))
    assert residual[[0, 1, 3, 4]].max() < 1e-6  # motion-compensated: identical except across the cut
    assert residual[2] > 0.05


# -- reading ----------------------------------------------------------------------------------------
def test_read_frames_pts_and_content(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", n_frames=10)
    frames, pts, indices, reader = _read_all(clip, batch_size=4)
    info = reader.info
    assert frames.shape == (10, 3, 48, 64) and frames.dtype == torch.float32
    assert 0 <= frames.min() and frames.max() <= 1
    assert indices == list(range(10))
    assert info.fps == 25 and info.frame_count == 10 and info.rotation == 0 and not info.has_audio
    assert [float(p * info.time_base) for p in pts] == pytest.approx([i / 25 for i in range(10)])
    assert (frames - _reference(10)).abs().mean() < 0.06  # H.264 at crf 12, 4:2:0 chroma
    assert reader.stopped_early is None


def test_lossless_roundtrip_is_exact(tmp_path):
    clip = make_clip(tmp_path / "a.mkv", n_frames=5, codec="ffv1")
    out = _copy(clip, tmp_path / "b.mkv", codec="ffv1")
    a, _, _, _ = _read_all(clip)
    b, _, _, _ = _read_all(out)
    assert torch.equal(a, _reference(5)) and torch.equal(b, a)


def test_resize_keeps_aspect_and_even(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", n_frames=3, size=(64, 48))
    frames, _, _, reader = _read_all(clip, size=30)
    assert (reader.info.width, reader.info.height) == (30, 22) == (frames.shape[3], frames.shape[2])
    assert even_size(1280, 720, 512) == (512, 288)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_is_applied(tmp_path, rotation):
    clip = make_clip(tmp_path / "r.mp4", n_frames=3, rotation=rotation)
    frames, _, _, reader = _read_all(clip)
    assert reader.info.rotation == rotation
    expected = torch.rot90(_reference(3), rotation // 90, dims=(2, 3))  # counter-clockwise
    assert frames.shape == expected.shape
    assert (frames - expected).abs().mean() < 0.06


def test_real_rotated_clip_is_upright():
    path = shared_path("data", "clips", "fire2_handheld_rot180.mp4")
    with open_frames(path, size=64, frames=(0, 2)) as reader:
        batch = next(iter(reader))
    assert reader.info.rotation == 180 and (reader.info.width, reader.info.height) == (64, 36)
    # Upright: the floor (bottom) of this indoor shot is darker than the wall at the top.
    assert batch.frames[0, :, :12].mean() > batch.frames[0, :, -12:].mean()


def test_select_by_index_and_time(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", n_frames=12)
    _, _, indices, reader = _read_all(clip, frames=(3, 7))
    assert indices == [3, 4, 5, 6] and reader.info.frame_count == 4 and reader.info.trimmed
    _, _, indices, _ = _read_all(clip, start=0.1, end=0.3)  # 25 fps: t = 0.12 … 0.28
    assert indices == [3, 4, 5, 6, 7]


def test_early_break_stops_decoder(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", n_frames=12)
    with open_frames(clip, batch_size=1, prefetch=1) as reader:
        for batch in reader:
            break
        assert not reader._threads  # the decode thread was joined
    assert batch.indices == [0]


def test_synchronous_mode_matches_threaded(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", n_frames=5)
    a, pa, _, _ = _read_all(clip, prefetch=0)
    b, pb, _, _ = _read_all(clip, prefetch=3)
    assert torch.equal(a, b) and pa == pb


def test_image_sequence_reading(tmp_path):
    folder = make_clip(tmp_path / "seq", n_frames=4)
    frames, pts, indices, reader = _read_all(folder, fps=10)
    info = reader.info
    assert info.is_sequence and info.fps == 10 and info.time_base == Fraction(1, 10)
    assert pts == indices == [0, 1, 2, 3]
    assert torch.equal(frames, _reference(4))  # PNG is lossless


@pytest.mark.parametrize("make_bad", ["missing", "text", "empty_folder", "empty_file"])
def test_bad_inputs_raise_media_error(tmp_path, make_bad):
    path = tmp_path / "bad.mp4"
    if make_bad == "text":
        path.write_text("this is not a video\n" * 50)
    elif make_bad == "empty_folder":
        path = tmp_path / "frames"
        path.mkdir()
    elif make_bad == "empty_file":
        path.write_bytes(b"")
    with pytest.raises(MediaError) as err:
        open_frames(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = tmp_path / "a.m4a"
    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("aac", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        c.mux(s.encode(frame))
        c.mux(s.encode(None))
    with pytest.raises(MediaError, match="no video stream"):
        open_frames(path)


def test_truncated_file_decodes_partially(tmp_path):
    clip = make_clip(tmp_path / "a.mkv", n_frames=24, size=(96, 64))
    data = clip.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 6 // 10])
    with open_frames(cut, batch_size=4) as reader:
        n = sum(len(b.pts) for b in reader)
        assert 0 < n < 24
        # Matroska has no frame index: the sign is fewer frames than the header's duration promises.
        assert reader.stopped_early is not None and "truncated" in reader.stopped_early


def test_truncated_mp4_sets_stopped_early(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", n_frames=24, size=(96, 64))
    # Move the index (moov) to the front, like a streamable file, then cut the data short.
    fast = tmp_path / "fast.mp4"
    with av.open(str(clip)) as src, av.open(str(fast), "w", options={"movflags": "faststart"}) as dst:
        out = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = out
                dst.mux(packet)
    data = fast.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])
    with open_frames(cut, batch_size=4) as reader:
        n = sum(len(b.pts) for b in reader)
        assert 0 < n < 24
        assert reader.stopped_early is not None and "frame" in reader.stopped_early


# -- writing ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("vfr", [False, True])
def test_roundtrip_keeps_frame_count_and_timestamps(tmp_path, vfr):
    clip = make_clip(tmp_path / "a.mp4", n_frames=9, vfr=vfr)
    out = _copy(clip, tmp_path / "b.mp4", preset="ultrafast")
    pts, tb = clip_pts(9, vfr=vfr)
    expected = [float(p * tb) for p in pts]
    assert _seconds(clip) == pytest.approx(expected)
    assert _seconds(out) == pytest.approx(expected)


def test_audio_is_copied_bit_exact_and_in_sync(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", n_frames=10, audio=True)
    out = _copy(clip, tmp_path / "b.mp4", preset="ultrafast")
    assert _audio_packets(out) == _audio_packets(clip)
    with av.open(str(out)) as c:  # interleaved as written, not all audio after all video
        pos = {"audio": [], "video": []}
        for p in c.demux():
            if p.dts is not None:
                pos[p.stream.type].append(p.pos)
    assert min(pos["audio"]) < max(pos["video"])
    with av.open(str(out)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert a.codec_context.name == "aac"
        video_s = float(v.duration * v.time_base)
        audio_s = float(a.duration * a.time_base)
    assert abs(audio_s - video_s) <= 1 / 25 + 1e-6


def test_audio_dropped_on_request_and_absent_input(tmp_path):
    with_audio = make_clip(tmp_path / "a.mp4", n_frames=4, audio=True)
    silent = make_clip(tmp_path / "s.mp4", n_frames=4)
    for src, kw, name in [(with_audio, {"audio": False}, "x.mp4"), (silent, {}, "y.mp4")]:
        out = _copy(src, tmp_path / name, **kw)
        with av.open(str(out)) as c:
            assert len(c.streams.audio) == 0 and c.streams.video[0].frames == 4


def test_audio_transcoded_when_container_needs_it(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", n_frames=6, audio=True)
    out = _copy(clip, tmp_path / "b.webm", codec="vp9")
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "vp9"
        assert c.streams.audio[0].codec_context.name == "opus"
        samples = sum(f.samples for f in c.decode(audio=0))
    assert samples / 48000 == pytest.approx(6 / 25, abs=0.03)


def test_trimmed_range_shifts_video_and_audio_together(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", n_frames=25, audio=True)
    out = tmp_path / "b.mp4"
    with open_frames(clip, start=0.4, end=0.8) as reader, VideoWriter(out, reader.info, preset="ultrafast") as w:
        for batch in reader:
            w.write(batch.frames, batch.pts)
    times = _seconds(out)
    assert times == pytest.approx([i / 25 for i in range(10)])
    with av.open(str(out)) as c:
        a = c.streams.audio[0]
        packets = [p for p in c.demux(a) if p.dts is not None]
    first = float(packets[0].pts * packets[0].time_base)
    last_end = float((packets[-1].pts + packets[-1].duration) * packets[-1].time_base)
    assert 0 <= first < 1024 / 48000 + 1e-6  # the first AAC packet at or after 0.4 s, shifted to ~0
    assert 0.4 - 1024 / 48000 <= last_end <= 0.4 + 1024 / 48000


def test_odd_size_is_padded(tmp_path):
    clip = make_clip(tmp_path / "a.mkv", n_frames=2, size=(33, 21), codec="ffv1")
    out = _copy(clip, tmp_path / "b.mp4", preset="ultrafast")
    frames, _, _, reader = _read_all(out)
    assert (reader.info.width, reader.info.height) == (34, 22)
    src, _, _, _ = _read_all(clip)
    assert (frames[..., :21, :33] - src).abs().mean() < 0.06


def test_existing_target_needs_force(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", n_frames=2)
    target = tmp_path / "b.mp4"
    target.write_bytes(b"keep me")
    info = open_frames(clip).info
    with pytest.raises(VidstyleError, match="--force"):
        VideoWriter(target, info)
    assert target.read_bytes() == b"keep me"
    _copy(clip, target, force=True)
    assert open_frames(target).info.frame_count == 2


@pytest.mark.parametrize("threaded", [True, False])
@pytest.mark.parametrize("name", ["b.mp4", "frames_out"])
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_exception_mid_write_leaves_nothing(tmp_path, threaded, name, error):
    clip = make_clip(tmp_path / "a.mp4", n_frames=8, audio=True)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with (pytest.raises(error), open_frames(clip, batch_size=2) as reader,
          VideoWriter(out_dir / name, reader.info, threaded=threaded) as w):
        for i, batch in enumerate(reader):
            w.write(batch.frames, batch.pts)
            if i == 1:
                raise error("boom")
    assert list(out_dir.iterdir()) == []


def test_codec_container_mismatch_and_unknown_codec(tmp_path):
    info = open_frames(make_clip(tmp_path / "a.mp4", n_frames=2)).info
    with pytest.raises(MediaError, match="cannot hold"):
        VideoWriter(tmp_path / "b.webm", info, codec="h264")
    with pytest.raises(MediaError, match="unknown codec"):
        VideoWriter(tmp_path / "b.mp4", info, codec="divx")
    assert list(tmp_path.iterdir()) == [tmp_path / "a.mp4"]
    assert set(CODECS) == {"h264", "h265", "vp9", "av1", "prores", "ffv1"}


def test_image_sequence_output(tmp_path):
    clip = make_clip(tmp_path / "a.mkv", n_frames=5, codec="ffv1")
    out = _copy(clip, tmp_path / "frames")
    assert sorted(p.name for p in out.iterdir()) == [f"{i:05d}.png" for i in range(5)]
    a, _, _, _ = _read_all(clip)
    b, _, _, _ = _read_all(out)
    assert torch.equal(a, b)
    with pytest.raises(VidstyleError, match="--force"):
        _copy(clip, out)
    _copy(clip, out, force=True)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_write_checks_shapes(tmp_path):
    info = open_frames(make_clip(tmp_path / "a.mp4", n_frames=2)).info
    with VideoWriter(tmp_path / "b.mp4", info, threaded=False) as w:
        with pytest.raises(ValueError, match="timestamps"):
            w.write(torch.zeros(2, 3, 48, 64), [0])
        with pytest.raises(ValueError, match="expects 64×48"):
            w.write(torch.zeros(1, 3, 32, 32), [0])
        w.write(torch.zeros(1, 3, 48, 64), [0])
    assert open_frames(tmp_path / "b.mp4").info.frame_count == 1


def test_truncated_mp4_without_index_is_a_clear_error(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", n_frames=6)  # PyAV writes the index (moov) last
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[:-200])
    with pytest.raises(MediaError, match="truncated"):
        open_frames(cut)


@pytest.mark.parametrize("size", [(34, 22), (50, 28)])
def test_widths_not_multiple_of_16_decode_fully(tmp_path, size):
    # Regression: FFmpeg's unscaled yuv420p→gbrp conversion dropped the last columns.
    clip = make_clip(tmp_path / "a.mp4", n_frames=2, size=size)
    frames, _, _, _ = _read_all(clip)
    assert (frames - _reference(2, size=size)).abs().amax(dim=(0, 1, 2)).max() < 0.35
    assert (frames - _reference(2, size=size)).abs()[..., -2:].mean() < 0.08


def test_real_mp3_audio_trimmed_copy(tmp_path):
    src = shared_path("data", "clips", "plane_field_mp3audio.mp4")
    out = tmp_path / "b.mp4"
    with open_frames(src, size=64, start=1.0, end=1.4) as reader, \
            VideoWriter(out, reader.info, preset="ultrafast") as w:
        for batch in reader:
            w.write(batch.frames, batch.pts)
    with av.open(str(out)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert v.frames == 10 and a.codec_context.codec.canonical_name == "mp3"  # copied, not re-encoded
        packets = [p for p in c.demux(a) if p.dts is not None]
    start = float(packets[0].pts * packets[0].time_base)
    end = float((packets[-1].pts + packets[-1].duration) * packets[-1].time_base)
    assert 0 <= start < 1152 / 44100 + 1e-6 and abs(end - 0.4) <= 1152 / 44100 + 1e-6


def test_rotation_with_resize(tmp_path):
    clip = make_clip(tmp_path / "r.mp4", n_frames=2, rotation=90)
    frames, _, _, reader = _read_all(clip, size=32)
    assert (reader.info.width, reader.info.height) == (24, 32) and frames.shape[-2:] == (32, 24)


def test_unknown_output_extension(tmp_path):
    info = open_frames(make_clip(tmp_path / "a.mp4", n_frames=2)).info
    with pytest.raises(MediaError, match="unsupported output extension"):
        VideoWriter(tmp_path / "b.png", info)


def test_davis_sequence_folder():
    folder = shared_path("data", "video", "blackswan")
    with open_frames(folder, size=64, frames=(0, 3)) as reader:
        batch = next(iter(reader))
    assert reader.info.is_sequence and reader.info.source_frame_count >= 40
    assert batch.frames.shape == (3, 3, 36, 64) and batch.indices == [0, 1, 2]


def test_output_colours_are_tagged_bt709_and_preserved(tmp_path):
    # Flat 8×8 colour blocks: no loss from 4:2:0 chroma subsampling, so only the colour matrix counts.
    blocks = np.repeat(np.repeat(make_frames(1, size=(64, 48))[0][::8, ::8], 8, 0), 8, 1)
    frames = torch.from_numpy(np.ascontiguousarray(blocks)).permute(2, 0, 1)[None].float() / 255
    info = open_frames(make_clip(tmp_path / "a.mp4", n_frames=1)).info
    with VideoWriter(tmp_path / "b.mp4", info, crf=0) as w:
        w.write(frames, [0])
    with av.open(str(tmp_path / "b.mp4")) as c:
        frame = next(c.decode(video=0))
        assert (int(frame.colorspace), int(frame.color_range)) == (1, 1)  # BT.709, limited range
        as_player = torch.from_numpy(frame.to_ndarray(format="rgb24", src_colorspace=1)).permute(2, 0, 1) / 255
    back, _, _, _ = _read_all(tmp_path / "b.mp4")
    assert (back - frames).abs().mean() < 0.02
    assert (as_player - frames[0]).abs().mean() < 0.02
