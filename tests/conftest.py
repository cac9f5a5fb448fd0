"""Shared fixtures: paths to ../shared (skip cleanly when absent) and isolation of the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SAMPLES = ROOT / "samples"


@pytest.fixture(autouse=True)
def _deterministic(monkeypatch):
    torch.manual_seed(0)
    monkeypatch.setenv("NO_COLOR", "1")


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test when it is not there (e.g. data/ is absent)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run ``vidstyle ARGS…`` in-process through the real entry point; return ``(exit_code, stdout, stderr)``."""
    from vidstyle.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr("sys.argv", ["vidstyle", *map(str, args)])
        code = 0
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def small_vgg(monkeypatch):
    """Install a narrow, randomly initialised VGG-19 (:func:`vidstyle.nets.vgg.small_vgg`) wherever vidstyle loads
    the loss network, so a unit test of losses or stylisers need not read the real 80 MB weights. Returns the
    builder (``small_vgg(layers)``)."""
    import vidstyle.api
    import vidstyle.nets.vgg
    import vidstyle.stylise.arbitrary
    import vidstyle.stylise.ruder
    from vidstyle.nets.vgg import small_vgg as build

    def load(layers, source="auto", path=None, device="cpu", pool="max", padding="zeros"):
        return build(layers, device=device)

    for module in (vidstyle.nets.vgg, vidstyle.api, vidstyle.stylise.ruder, vidstyle.stylise.arbitrary):
        monkeypatch.setattr(module, "load_vgg", load)
    return build


@pytest.fixture
def one_thread(monkeypatch):
    """One torch intra-op thread, also for code that calls ``use_all_cores`` (2 cores shared by many processes:
    one thread is far faster than two here)."""
    import vidstyle.device

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setattr(vidstyle.device, "use_all_cores", lambda: 1)
    yield
    torch.set_num_threads(n)
