"""`vidstyle eval` through the real entry point: JSON schema, plot, compare video, bad inputs."""

from __future__ import annotations

import json

import av
import pytest
from clips import make_clip
from conftest import SAMPLES
from PIL import Image

SIZE = (64, 48)
N = 8

#: The documented JSON schema (README, "Evaluating clips: vidstyle eval"), version 1.
TOP_KEYS = {"schema_version", "tool", "input", "stylised", "style", "frames", "size", "flow", "ks", "cuts", "pairs",
            "flicker_pairs", "outputs", "warnings"}
OUTPUT_KEYS = {"path", "warping_error", "flicker", "ssim", "style_distance", "style_error", "content_distance",
               "vgg_frames"}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """An input video, a lossless copy as a frame folder (a 'stylised' clip that matches it), a second
    'stylised' clip with other content moving the other way (lossless FFV1), and a shorter clip."""
    d = tmp_path_factory.mktemp("eval")
    return {
        "input": make_clip(d / "input.mp4", n_frames=N, size=SIZE),
        "same": make_clip(d / "same_frames", n_frames=N, size=SIZE),
        "other": make_clip(d / "other.mkv", n_frames=N, size=SIZE, seed=5, codec="ffv1", motion=(-2, 2)),
        "short": make_clip(d / "short.mp4", n_frames=N - 3, size=SIZE),
    }


def test_eval_json_schema_plot_and_compare(cli, clips, tmp_path):
    out_json, out_png, out_mp4 = tmp_path / "r.json", tmp_path / "r.png", tmp_path / "cmp.mp4"
    code, stdout, err = cli("eval", clips["same"], clips["other"], "--input", clips["input"], "--k", "1,3",
                            "--json", out_json, "--plot", out_png, "--compare", out_mp4, "--quiet")
    assert code == 0, err
    assert "input.mp4" in stdout and "(input)" in stdout and "same_frames" in stdout and f"wrote {out_json}" in stdout

    report = json.loads(out_json.read_text())
    assert set(report) == TOP_KEYS
    assert report["schema_version"] == 1
    assert report["frames"] == N and report["size"] == list(SIZE) and report["ks"] == [1, 3]
    assert report["flow"] == "dis" and report["style"] is None
    assert report["pairs"]["1"]["pairs"] + report["pairs"]["1"]["excluded_at_cuts"] + \
        report["pairs"]["1"]["empty_masks"] == N - 1
    assert set(report["input"]) == {"path", "warping_error", "flicker"}
    assert len(report["input"]["warping_error"]["3"]["per_frame"]) == N - 3
    assert len(report["outputs"]) == 2
    same, other = report["outputs"]
    for out in report["outputs"]:
        assert set(out) == OUTPUT_KEYS
        assert set(out["warping_error"]) == {"1", "3"}
        assert set(out["warping_error"]["1"]) == {"mean", "per_frame", "ratio"}
        assert set(out["flicker"]) == {"overall", "static", "ratio", "static_ratio"}
    # the lossless frames of the same content follow the input's motion: SSIM ≈ 1, E_warp near the input's floor
    assert same["ssim"] > 0.8 and other["ssim"] < 0.5
    assert same["warping_error"]["1"]["ratio"] < 2
    # content moving the other way is far less consistent with the input's flow
    assert other["warping_error"]["1"]["mean"] > 100 * same["warping_error"]["1"]["mean"]

    assert Image.open(out_png).size[0] > 500
    with av.open(str(out_mp4)) as c:
        s = c.streams.video[0]
        frames = list(c.decode(s))
    assert len(frames) == N
    assert (frames[0].width, frames[0].height) == (3 * SIZE[0] + 2 * 4, SIZE[1])


def test_eval_with_style_reports_vgg_distances(cli, clips, tmp_path):
    out_json = tmp_path / "r.json"
    code, _, err = cli("eval", clips["same"], "-i", clips["input"], "--style", SAMPLES / "starry_night.jpg",
                            "--k", "1", "--vgg-every", "4", "--json", out_json, "-q")
    assert code == 0, err
    report = json.loads(out_json.read_text())
    out = report["outputs"][0]
    assert out["vgg_frames"] == 2 and out["style_distance"] > 0 and out["content_distance"] >= 0
    assert report["style"]["size"] == max(SIZE)


def test_mismatched_frame_counts_are_rejected(cli, clips, tmp_path):
    code, _, err = cli("eval", clips["short"], "-i", clips["input"], "--k", "1", "-q", "--json", tmp_path / "r.json")
    assert code == 1
    assert err.startswith("error: frame counts differ") and "\n" not in err.strip()
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("args,message", [
    (["--k", "0"], "--k needs frame offsets"),
    (["--k", "one"], "--k must be comma-separated"),
    (["--flow", "nope"], "unknown flow method"),
])
def test_bad_options_are_one_line_errors(cli, clips, args, message):
    code, _, err = cli("eval", clips["same"], "-i", clips["input"], "-q", *args)
    assert code == 1 and message in err and err.count("\n") == 1


def test_existing_output_needs_force_and_missing_input_is_clear(cli, clips, tmp_path):
    taken = tmp_path / "taken.json"
    taken.write_text("{}")
    code, _, err = cli("eval", clips["same"], "-i", clips["input"], "--json", taken, "-q")
    assert code == 1 and "--force" in err and taken.read_text() == "{}"
    code, _, err = cli("eval", tmp_path / "missing.mp4", "-i", clips["input"], "-q")
    assert code == 1 and "missing.mp4" in err
