"""Atomic outputs: never a half-written file, never a silent overwrite."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from ..errors import VidstyleError

try:
    import fcntl
except ImportError:  # Windows: no flock; stale temporaries are then left alone
    fcntl = None  # type: ignore[assignment]


def hold(tmp: Path) -> int | None:
    """Create ``tmp`` (a file, or an existing folder) if needed and take an exclusive ``flock`` on it.

    The kernel drops the lock when the process dies — even by ``kill -9`` — so a later run can tell
    a temporary that a live render is writing from one a dead render left behind
    (:func:`remove_stale_parts`). Returns the descriptor to close when done (None without flock).
    """
    if fcntl is None:
        return None
    fd = os.open(tmp, os.O_RDONLY) if tmp.is_dir() else os.open(tmp, os.O_CREAT | os.O_WRONLY, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def release(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def remove_stale_parts(path: str | Path) -> list[Path]:
    """Delete the hidden temporaries of ``path`` (``.STEM.xxxxxxxx.partEXT`` files, ``.NAME.xxxxxxxx.part``
    folders) that no live process holds (see :func:`hold`); return what was removed.

    A render killed by ``kill -9`` (or a power cut) cannot clean up after itself; the next render of
    the same output does it. Temporaries of a render still running are locked, and left alone.
    """
    if fcntl is None:
        return []
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    pattern = re.compile("|".join((re.escape(f".{path.stem}.") + r"[0-9a-f]{8}\.part" + re.escape(path.suffix),
                                   re.escape(f".{path.name}.") + r"[0-9a-f]{8}\.part")))
    removed = []
    try:
        candidates = [p for p in parent.iterdir() if pattern.fullmatch(p.name)]
    except OSError:
        return []
    for p in candidates:
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # a live render holds it
        try:
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p)
        finally:
            os.close(fd)
    return removed


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


def temp_path(path: str | Path) -> Path:
    """A unique hidden temporary beside ``path``: ``.STEM.xxxxxxxx.partEXT``.

    The extension is kept (encoders and ``torch.save``/``savefig`` pick the format from it), the random part makes
    two processes or threads writing the same file never share a temporary, and :func:`remove_stale_parts`
    recognises the name.
    """
    path = Path(path)
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.part{path.suffix}")


@contextlib.contextmanager
def replacing(path: str | Path, mode: int | None = None) -> Iterator[Path]:
    """Yield a unique temporary (:func:`temp_path`) beside ``path``; rename it onto ``path`` on success.

    For files the program owns and rewrites on purpose (checkpoints, model cards, weights, reports, caches): an
    existing ``path`` is replaced, but only by a complete file — readers see the old or the new one, never half of
    one. On any exception the temporary is removed and ``path`` is untouched. ``mode`` (e.g. ``0o644``) is applied
    to the temporary before the rename. The parent folder is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_output(path: str | Path, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    The temporary name keeps the extension (encoders pick the format from it). On
    any exception — including KeyboardInterrupt — the temporary file is removed
    and the target is untouched.
    """
    path = check_output(path, force)
    remove_stale_parts(path)
    tmp = temp_path(path)
    fd = hold(tmp)  # created empty and locked: a later run knows it is ours while we live
    try:
        yield tmp
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise VidstyleError(f"nothing was written for {path}")
        if path.exists() and not force:  # appeared while we worked
            raise VidstyleError(f"output {path} appeared while rendering; use --force to overwrite it")
        os.replace(tmp, path)
    finally:
        release(fd)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
