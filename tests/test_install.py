"""A non-editable install (a built wheel) works from any folder: shipped models and presets are package data."""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_install_runs_from_another_folder(tmp_path: Path) -> None:
    from clips import make_clip

    # Build from a copy of the tree, so the build leaves nothing in the checkout.
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info",
                                                                           "__pycache__", "benchmarks", "samples"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(wheels)], check=True, capture_output=True)
    wheel = next(wheels.glob("vidstyle-*.whl"))

    # A fresh venv that reuses this interpreter's packages (torch, av, …) instead of downloading them: a .pth line
    # adds our site-packages after the venv's own (editable-install hooks there are not run: it is no site dir).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    py = venv / "bin" / "python"
    venv_site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                    check=True, capture_output=True, text=True).stdout.strip())
    (venv_site / "_reuse_parent.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([py, "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)], check=True,
                   capture_output=True)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    vidstyle = venv / "bin" / "vidstyle"
    where = subprocess.run([py, "-c", "import vidstyle; print(vidstyle.__file__)"], cwd=elsewhere, check=True,
                           capture_output=True, text=True).stdout
    assert where.startswith(str(venv_site)), where
    models = subprocess.run([vidstyle, "models"], cwd=elsewhere, capture_output=True, text=True)
    assert models.returncode == 0, models.stderr
    assert "starry-night-lite" in models.stdout

    clip = make_clip(elsewhere / "clip.mp4", n_frames=3, size=(48, 32))
    run = subprocess.run([vidstyle, "run", clip.name, "--model", "starry-night-lite", "-o", "out.mp4", "-q",
                          "--device", "cpu"], cwd=elsewhere, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "3 frames" in run.stdout and (elsewhere / "out.mp4").stat().st_size > 0
    presets = subprocess.run([py, "-c", "from vidstyle.batch.jobs import CONFIGS_DIR; "
                                        "print(sorted(p.name for p in CONFIGS_DIR.glob('*.toml')))"],
                             cwd=elsewhere, check=True, capture_output=True, text=True).stdout
    assert "fast.toml" in presets and "quality.toml" in presets
