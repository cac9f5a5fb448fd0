"""Keyframed curves (vidstyle.curves): parsing frames and times, interpolation, and one-line errors."""

from __future__ import annotations

import pytest

from vidstyle.config import ConfigError, OptimiseConfig, TemporalConfig
from vidstyle.curves import Curve, parse_key, parse_strength, parse_style_curve
from vidstyle.errors import VidstyleError


@pytest.mark.parametrize("text, frame, seconds", [
    ("0", 0, None), ("48", 48, None), ("1s", None, 1.0), ("1.5s", None, 1.5), (".5s", None, 0.5),
    ("00:12", None, 12.0), ("01:02.5", None, 62.5), ("00:00:12.5", None, 12.5), ("1:00:00", None, 3600.0),
])
def test_keys_are_frames_or_times(text, frame, seconds):
    key = parse_key(text)
    assert key.frame == frame and key.seconds == seconds


def test_linear_curve_in_frames_and_times_holds_outside_its_keys():
    c = parse_strength("0:0, 1s:1, 9s:1, 10s:0")
    assert isinstance(c, Curve)
    fps = 10
    assert [c.scalar_at(i, fps) for i in (0, 5, 10, 50, 90, 95, 100, 200)] == \
        pytest.approx([0, 0.5, 1, 1, 1, 0.5, 0, 0])
    frames = parse_strength("10:0.2, 20:0.8")
    assert frames.scalar_at(0, None) == pytest.approx(0.2)  # before the first key: held; no fps needed
    assert frames.scalar_at(15, None) == pytest.approx(0.5)
    assert frames.scalar_at(99, None) == pytest.approx(0.8)


def test_mixed_frame_and_time_keys_use_the_frame_rate():
    c = parse_strength("0:0, 2s:1")
    assert c.scalar_at(25, 25) == pytest.approx(0.5)
    assert c.scalar_at(25, 50) == pytest.approx(0.25)
    mixed = parse_strength("30:0, 1s:1")  # at 25 fps, 1 s is frame 25: before frame 30
    with pytest.raises(VidstyleError, match="keys must increase"):
        mixed.check(25)
    mixed.check(50)  # at 50 fps, 1 s is frame 50: fine


def test_smooth_interpolation_is_smoothstep():
    c = parse_strength("0:0, 10:1", interp="smooth")
    assert c.scalar_at(5, None) == pytest.approx(0.5)
    assert c.scalar_at(2, None) == pytest.approx(0.2 * 0.2 * (3 - 0.4))
    assert c.scalar_at(2, None) < parse_strength("0:0, 10:1").scalar_at(2, None)


def test_numbers_stay_numbers():
    assert parse_strength(0.25) == 0.25 and parse_strength("0.5") == 0.5 and parse_strength(1) == 1.0


@pytest.mark.parametrize("text, message", [
    ("0:0, 1s:1.5", "values are in \\[0, 1\\]"),
    ("0:0, 1q:1", "bad key '1q'"),
    ("0:0, 2.5:1", "frame numbers are whole"),
    ("1s:0, 0.5s:1", "keys must increase"),
    ("10:0, 10:1", "keys must increase"),
    ("0:zero", "bad value 'zero'"),
    ("abc", "is not KEY:VALUE"),
    (" , ", "empty curve"),
    ("00:75:1", "minutes and seconds go up to 59"),
])
def test_bad_curves_are_one_line_errors(text, message):
    with pytest.raises(VidstyleError, match=message) as e:
        parse_strength(text)
    assert "\n" not in str(e.value) and str(e.value).startswith("--strength: ")


def test_time_keys_without_a_frame_rate_are_a_clear_error():
    with pytest.raises(VidstyleError, match="frame rate"):
        parse_strength("0:0, 1s:1").scalar_at(3, None)


def test_style_curve_names_styles_by_stem_or_index():
    c = parse_style_curve("0:a, 5s:a, 7s:b", ["a", "b"])
    assert c.at(0, 10) == (1.0, 0.0) and c.at(50, 10) == (1.0, 0.0)
    assert c.at(60, 10) == pytest.approx((0.5, 0.5))
    assert c.at(70, 10) == (0.0, 1.0) and c.at(99, 10) == (0.0, 1.0)
    assert parse_style_curve("0:1, 10:0", ["a", "b"]).at(0, None) == (0.0, 1.0)
    with pytest.raises(VidstyleError, match="not one of the styles a, b"):
        parse_style_curve("0:a, 5:c", ["a", "b"])


def test_configs_validate_curves_and_normalise_numbers():
    assert OptimiseConfig(strength="0.3").strength == 0.3
    assert OptimiseConfig(strength="0:0, 1s:1").strength == "0:0, 1s:1"
    assert TemporalConfig(strength="0:0.5, 5s:0").strength == 0.5  # the peak; the curve is kept aside
    assert TemporalConfig(strength="0:0.5, 5s:0").strength_curve == "0:0.5, 5s:0"
    with pytest.raises(ConfigError, match=r"^optimise.strength: bad value '2'"):
        OptimiseConfig(strength="0:0, 1s:2")
    with pytest.raises(ConfigError, match=r"^temporal.strength: must be in \[0, 1\]"):
        TemporalConfig(strength=1.5)
    with pytest.raises(ConfigError, match=r"^optimise.style_curve: bad key"):
        OptimiseConfig(style_curve="0:a, x:b")
    with pytest.raises(ConfigError, match="strength_interp"):
        OptimiseConfig(strength_interp="cubic")


def test_bad_curve_on_the_command_line_is_one_line(cli, tmp_path):
    from clips import make_clip

    clip = make_clip(tmp_path / "in.mp4", n_frames=3)
    code, _out, err = cli("run", clip, "--style", tmp_path / "missing.jpg", "--strength", "0:0, 1s:7",
                          "-o", tmp_path / "out.mp4")
    assert code == 1
    assert err.strip().splitlines() == ["error: optimise.strength: bad value '7' at key '1s' (values are in [0, 1])"]


def test_curves_in_batch_job_files(tmp_path):
    from vidstyle.batch.jobs import load_jobs

    (tmp_path / "in.mp4").write_bytes(b"")
    (tmp_path / "s.jpg").write_bytes(b"")
    job = tmp_path / "job.toml"
    job.write_text('[[job]]\ninputs = ["in.mp4"]\nstyles = ["s.jpg"]\n[job.optimise]\nstrength = "0:0, 1s:1"\n'
                   '[job.temporal]\nstrength = "0:0.7, 2s:0"\n')
    jobs = load_jobs(job)
    assert jobs.jobs[0].configs["optimise"].strength == "0:0, 1s:1"
    assert jobs.jobs[0].configs["temporal"].strength_curve == "0:0.7, 2s:0"
    job.write_text('[[job]]\ninputs = ["in.mp4"]\nstyles = ["s.jpg"]\n[job.optimise]\nstrength = "0:0, 1s:3"\n')
    with pytest.raises(VidstyleError, match=r"job.toml:5: job\[0\].optimise.strength: bad value '3'"):
        load_jobs(job)
