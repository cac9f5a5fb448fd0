"""Atomic outputs: never a half-written file, never a silent overwrite."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from ..errors import VidstyleError


def check_output(path: str | Path, force: bool = False) -> Path:
    """Validate an output path before any work starts.

    Raises:
        VidstyleError: the target exists (without ``force``), is a directory, or its
        folder is missing or not writable.
    """
    path = Path(path)
    if path.is_dir():
        raise VidstyleError(f"output {path} is a directory; give a file name")
    if path.exists() and not force:
        raise VidstyleError(f"output {path} already exists; use --force to overwrite it")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise VidstyleError(f"output folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise VidstyleError(f"output folder {parent} is not writable")
    return path


def check_not_input(output: str | Path, *inputs: str | Path | None) -> None:
    """Refuse an output that is one of the inputs — the same path, or the same file through a link.

    ``--force`` must never let a render overwrite its own source (or style image).

    Raises:
        VidstyleError: ``output`` resolves to (or is the same inode as) one of ``inputs``.
    """
    out = Path(output)
    for inp in inputs:
        if inp is None:
            continue
        inp = Path(inp)
        same = os.path.abspath(out) == os.path.abspath(inp) or out.resolve() == inp.resolve()
        if not same and out.exists() and inp.exists():
            with contextlib.suppress(OSError):
                same = os.path.samefile(out, inp)
        if same:
            raise VidstyleError(f"output {out} is the input {inp}; choose another output name")


@contextlib.contextmanager
def atomic_output(path: str | Path, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    The temporary name keeps the extension (encoders pick the format from it). On
    any exception — including KeyboardInterrupt — the temporary file is removed
    and the target is untouched.
    """
    path = check_output(path, force)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.part{path.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise VidstyleError(f"nothing was written for {path}")
        if path.exists() and not force:  # appeared while we worked
            raise VidstyleError(f"output {path} appeared while rendering; use --force to overwrite it")
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
