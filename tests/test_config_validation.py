"""Config dataclasses validate on construction; presets and batch jobs report every problem before any work."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidstyle import config
from vidstyle.batch import load_jobs
from vidstyle.config import ConfigError, allowed_values
from vidstyle.errors import VidstyleError

CONFIGS = [config.OptimiseConfig, config.FlowConfig, config.TemporalConfig, config.VideoConfig, config.TrainConfig,
           config.DecoderTrainConfig, config.LiveConfig]
LITERALS = [(cls, f.name) for cls in CONFIGS for f in dataclasses.fields(cls) if allowed_values(cls, f.name)]


def test_defaults_are_valid() -> None:
    for cls in CONFIGS:
        cls()
    # registry-backed defaults are real entries of their registries
    from vidstyle.flow import available_estimators
    from vidstyle.media.writer import CODECS

    assert config.FlowConfig().method in available_estimators()
    assert config.LiveConfig().flow_method in available_estimators()
    assert config.VideoConfig().codec in CODECS and config.LiveConfig().record_codec in CODECS
    from vidstyle.media.codecs import PRESETS

    assert config.VideoConfig().preset in PRESETS and config.LiveConfig().record_preset in PRESETS


def test_vgg_sources_match_the_weights_module() -> None:
    from vidstyle.weights import VGG_SOURCES

    assert set(allowed_values(config.OptimiseConfig, "vgg_source")) == {"auto", *VGG_SOURCES}


@pytest.mark.parametrize("cls, name", LITERALS, ids=[f"{c.__name__}.{n}" for c, n in LITERALS])
def test_every_literal_field_rejects_other_values(cls, name: str) -> None:
    allowed = [v for v in allowed_values(cls, name) if v is not None]
    with pytest.raises(ConfigError) as err:
        cls(**{name: "bogus"})
    assert err.value.key == name
    assert str(err.value) == f"{cls.SECTION}.{name}: allowed values are {', '.join(allowed)} (got 'bogus')"
    for value in allowed:
        cls(**{name: value})


@pytest.mark.parametrize("cls, changes, key", [
    (config.OptimiseConfig, {"preserve_color": "hist"}, "preserve_color"),
    (config.OptimiseConfig, {"optimizer": "lbfgz"}, "optimizer"),
    (config.OptimiseConfig, {"steps": 0}, "steps"),
    (config.OptimiseConfig, {"size": -3}, "size"),
    (config.VideoConfig, {"compile": "sometimes"}, "compile"),
    (config.VideoConfig, {"codec": "h266"}, "codec"),
    (config.VideoConfig, {"preset": "superfastest"}, "preset"),  # failed only when the encoder opened
    (config.LiveConfig, {"record_preset": "turbo"}, "record_preset"),
    (config.VideoConfig, {"start": 5.0, "end": 2.0}, "end"),
    (config.VideoConfig, {"crf": 99}, "crf"),
    (config.FlowConfig, {"method": "dis-fastt"}, "method"),
    (config.TemporalConfig, {"strength": 1.5}, "strength"),
    (config.TemporalConfig, {"long_term": (1,)}, "long_term"),
    (config.LiveConfig, {"internal_scale": 0.0}, "internal_scale"),
    (config.TrainConfig, {"batch_size": 0}, "batch_size"),
])
def test_bad_values_name_the_key(cls, changes: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        cls(**changes)
    assert err.value.key == key and str(err.value).startswith(f"{cls.SECTION}.{key}: ")


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    return path


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    (tmp_path / "shots").mkdir()
    (tmp_path / "shots" / "a.mp4").write_bytes(b"")
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(tmp_path / "red.png")
    return tmp_path


def test_preset_values_are_validated_with_lines(scene: Path) -> None:
    preset = _write(scene / "mine.toml", """
        [optimise]
        steps = 10
        preserve_color = "hist"

        [video]
        compile = "sometimes"
        """)
    job = _write(scene / "job.toml", """
        [[job]]
        inputs = ["shots/a.mp4"]
        styles = ["red.png"]
        preset = "mine.toml"
        """)
    with pytest.raises(VidstyleError) as err:
        load_jobs(job)
    lines = str(err.value).splitlines()
    assert f"{preset}:3: optimise.preserve_color: allowed values are none, luminance, histogram (got 'hist')" in lines
    assert f"{preset}:6: video.compile: allowed values are auto, always, never (got 'sometimes')" in lines


def test_batch_reports_every_problem_in_one_run(scene: Path) -> None:
    """Three typos, one run (issue #20: it took three runs); a bad method is caught before rendering (#13)."""
    (scene / "styles_dir").mkdir()
    job = _write(scene / "job.toml", """
        [defaults]
        chunk_frames = 10
        warmpu = 3

        [[job]]
        inputs = ["shots/a.mp4"]
        styles = ["red.png", "styles_dir"]
        method = "adian"
        [job.optimise]
        preserve_color = "hist"
        steps = 0
        [job.temporal]
        strenght = 1.0
        """)
    with pytest.raises(VidstyleError) as err:
        load_jobs(job)
    lines = str(err.value).splitlines()
    expected = [
        (3, "defaults.warmpu: unknown key"),
        (7, "job[0].styles[1]: style image 'styles_dir' is a folder"),
        (8, "job[0].method: allowed values are auto, optimise, optimise-temporal, ruder, fast, magenta, adain, wct, style-swap (got 'adian')"),
        (10, "job[0].optimise.preserve_color: allowed values are none, luminance, histogram (got 'hist')"),
        (11, "job[0].optimise.steps: must be a whole number >= 1, got 0"),
        (13, "job[0].temporal.strenght: unknown key"),
    ]
    for line, text in expected:
        assert any(x.startswith(f"{job}:{line}: {text}") for x in lines), (line, text, lines)
    assert len(lines) == len(expected)


def test_batch_cli_prints_each_problem_on_its_own_line(scene: Path, cli) -> None:
    job = _write(scene / "job.toml", """
        [[job]]
        inputs = ["shots/missing.mp4"]
        styles = ["nope.png"]
        """)
    code, out, err = cli("batch", job, "--dry-run")
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 2 and all(x.startswith(f"error: {job}:") for x in lines)
    assert "Traceback" not in err


def test_binary_job_file_is_one_line(scene: Path, cli) -> None:
    job = scene / "job.toml"
    job.write_bytes(bytes(range(256)) * 4)
    code, _, err = cli("batch", job, "--dry-run")
    assert code == 1
    assert err.strip().splitlines() == [f"error: {job}: not a TOML job file (not UTF-8 text)"]


def test_dry_run_writes_nothing(tmp_path: Path, cli) -> None:
    from clips import make_clip

    make_clip(tmp_path / "a.mp4", n_frames=4, size=(32, 24))
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(tmp_path / "red.png")
    job = _write(tmp_path / "job.toml", """
        [[job]]
        inputs = ["a.mp4"]
        styles = ["red.png"]
        """)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, out, err = cli("batch", job, "--dry-run")
    assert code == 0, err
    assert "1 outputs" in out
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # no state, lock or work dir


def test_run_style_folder_says_folder(tmp_path: Path, cli) -> None:
    from clips import make_clip

    clip = make_clip(tmp_path / "a.mp4", n_frames=2, size=(32, 24))
    (tmp_path / "styles").mkdir()
    code, _, err = cli("run", clip, "-s", tmp_path / "styles", "-o", tmp_path / "o.mp4", "-q")
    assert code == 1
    assert err.strip() == f"error: style image {tmp_path / 'styles'} is a folder; pass an image file"


def test_image_sequences_read_every_accepted_suffix(tmp_path: Path) -> None:
    """One suffix set: a folder of .bmp/.tif/.webp frames passes batch validation and also reads."""
    from vidstyle.media.reader import open_frames

    for suffix in (".bmp", ".tif", ".webp"):
        folder = tmp_path / suffix[1:]
        folder.mkdir()
        for i in range(3):
            Image.fromarray(np.full((16, 24, 3), 40 * i, np.uint8)).save(folder / f"{i:05d}{suffix}")
        with open_frames(folder) as reader:
            assert sum(len(b.frames) for b in reader) == 3
