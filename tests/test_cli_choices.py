"""CLI choice lists come from the registries; help output; quiet mode (issues #13 and #20)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import vidstyle.pipeline
from vidstyle.pipeline import PipelineStats


@pytest.fixture
def fake_run(monkeypatch):
    """Replace the pipeline behind ``vidstyle run``; record its keyword arguments."""
    calls: list[dict] = []

    def stylise_video(input, output, **kw):
        calls.append(kw)
        if kw.get("on_method"):
            kw["on_method"]("fake: method line")
        return PipelineStats(frames=1, output=Path("o.mp4"))

    monkeypatch.setattr(vidstyle.pipeline, "stylise_video", stylise_video)
    return calls


def test_run_accepts_every_registered_flow_method_and_alias(cli, fake_run) -> None:
    from vidstyle.flow import available_estimators
    from vidstyle.methods import method_choices

    for flow in ["auto", *available_estimators()]:  # dis-fast was rejected before
        code, _, err = cli("run", "in.mp4", "-s", "s.jpg", "--flow", flow)
        assert code == 0, err
        assert fake_run[-1]["flow"].method == flow
    for method in method_choices():
        code, _, err = cli("run", "in.mp4", "-s", "s.jpg", "--method", method)
        assert code == 0, err
        assert fake_run[-1]["method"] == method
    code, _, err = cli("run", "in.mp4", "-s", "s.jpg", "--method", "adian")
    assert code == 2 and "adian" in err


def test_run_choice_lists_come_from_registries(cli, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # one row per option
    from vidstyle.config import BACKENDS
    from vidstyle.media.codecs import CODECS, PRESETS
    from vidstyle.methods import method_choices

    code, out, _ = cli("run", "--help")
    flat = re.sub(r"[│\s]+", "", out)
    assert code == 0
    for values in (method_choices(), list(CODECS), list(PRESETS), list(BACKENDS), ["auto", "always", "never"]):
        assert "|".join(values) in flat


@pytest.mark.parametrize("device, ok", [("cpu", True), ("cuda:1", True), ("CUDA", True), ("auto", True),
                                        ("mps", True), ("gpu", False), ("cuda:x", False)])
def test_device_names(cli, fake_run, monkeypatch, device: str, ok: bool) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    code, _, err = cli("run", "in.mp4", "-s", "s.jpg", "--device", device)
    assert (code == 0) == ok, err
    if ok:
        assert fake_run[-1]["device"] == device.lower()
    else:
        assert "allowed values are auto, cpu, cuda, cuda:N, mps" in err


def test_quiet_prints_no_method_line(cli, fake_run) -> None:
    code, _, err = cli("run", "in.mp4", "-s", "s.jpg", "-q")
    assert code == 0 and "method:" not in err
    code, _, err = cli("run", "in.mp4", "-s", "s.jpg")
    assert code == 0 and "method: fake: method line" in err


@pytest.mark.parametrize("command", [[], ["run"], ["image"], ["texture"], ["train"], ["train-decoder"], ["batch"],
                                     ["eval"], ["webcam"], ["models"], ["export"], ["methods"]])
def test_help_has_no_bool_metavar_and_plain_usage(cli, command: list[str]) -> None:
    code, out, _ = cli(*command, "--help")
    assert code == 0
    assert "<bool>" not in out
    usage = next(line for line in out.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage


def test_help_texts_and_defaults(cli, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # one row per option
    def options(*command: str) -> str:
        code, out, _ = cli(*command, "--help")
        assert code == 0
        return out

    def described(out: str, flag: str) -> bool:  # the option's row has a help text after its type column
        row = next(line for line in out.splitlines() if re.search(rf"{flag}\b", line))
        return bool(re.search(rf"{flag}\s+(-\w\s+)?<[^>]+>(\s+\[[^\]]*\])?\s+\w", row))

    image = options("image")
    for flag in ("--style-weight", "--content-weight", "--tv-weight"):
        assert described(image, flag), flag
    for command in ("train", "train-decoder"):
        out = options(command)
        for flag in ("--batch-size", "--lr", "--checkpoint-every"):
            assert described(out, flag), (command, flag)
    flat = re.sub(r"[│\s]+", " ", image)
    assert re.search(r"\[default: \(?512\)?\]", flat) and re.search(r"\[default: \(?200\)?\]", flat)  # --size, --steps
