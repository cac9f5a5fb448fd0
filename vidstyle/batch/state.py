"""The resumable state file: which chunks are finished, written atomically after every change.

The state is a record, not the only truth: a chunk file is renamed into place only
when complete and its name carries a hash of everything that shaped it
(:func:`vidstyle.batch.plan.Shot.chunk_key`), so a chunk file found on disk is a
finished chunk even when a kill -9 hit between its rename and the state update
(:meth:`BatchState.adopt`). The state adds what files cannot say: how many times a
chunk was rendered, how long it took, the failures, and finished outputs.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import VidstyleError
from ..media.atomic import temp_path

STATE_VERSION = 1


class BatchLocked(VidstyleError):
    """Another coordinator is running the same job file."""


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file beside ``path``, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        with open(tmp, "w") as f:
            json.dump(data, f, separators=(",", ":"), sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def batch_lock(state_path: Path) -> Iterator[None]:
    """Hold an exclusive lock beside the state file while a batch runs.

    Two coordinators on one state file would overwrite each other's records. The lock
    is an ``flock``, which the kernel drops when its process dies (even by kill -9),
    so a crash never leaves a stale lock behind.

    Raises:
        VidstyleError: another process holds the lock.
    """
    import fcntl

    state_path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = state_path.with_suffix(".lock")
    with open(lock_path, "a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            other = f.read().strip() or "?"
            raise BatchLocked(f"another vidstyle batch (pid {other}) is running this job file "
                                f"({lock_path}); wait for it or stop it first") from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


class BatchState:
    """``{"chunks": {key: {...}}, "shots": {shot_id: {...}}, "cuts": {...}}`` persisted at ``path``.

    Only the coordinating process writes it (workers report back), so there are no
    concurrent writers; every mutation is saved at once.
    """

    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only  # --dry-run: use what is recorded, never write
        self.data: dict[str, Any] = {"version": STATE_VERSION, "chunks": {}, "shots": {}, "probes": {}}
        if self.path.exists():
            try:
                loaded = json.loads(self.path.read_text())
            except (OSError, json.JSONDecodeError) as e:
                raise VidstyleError(f"state file {self.path} is unreadable ({e}); delete it to start over "
                                    "(finished chunk files are picked up again)") from None
            if loaded.get("version") == STATE_VERSION:
                for key in self.data:
                    self.data[key] = loaded.get(key, self.data[key])

    def save(self) -> None:
        if not self.read_only:
            write_json_atomic(self.path, self.data)

    # ---- chunks
    def chunk(self, key: str) -> dict[str, Any]:
        return self.data["chunks"].get(key, {})

    def chunk_done(self, key: str, path: Path) -> bool:
        """True when ``key`` is recorded finished and its file is still there."""
        return self.chunk(key).get("status") == "done" and path.is_file()

    def adopt(self, key: str, path: Path, frames: int) -> bool:
        """Record a complete chunk file found on disk but missing from the state (killed mid-update)."""
        if path.is_file() and self.chunk(key).get("status") != "done":
            entry = self.data["chunks"].setdefault(key, {"renders": 0, "attempts": 0})
            entry.update(status="done", path=str(path), frames=frames, adopted=True)
            self.save()
            return True
        return False

    def record_chunk(self, key: str, *, status: str, path: Path | None = None, frames: int = 0,
                     seconds: float = 0.0, error: str | None = None, details: str = "") -> dict[str, Any]:
        entry = self.data["chunks"].setdefault(key, {"renders": 0, "attempts": 0})
        entry["attempts"] += 1
        entry["status"] = status
        entry["updated"] = time.time()
        if status == "done":
            entry.update(renders=entry["renders"] + 1, path=str(path), frames=frames, seconds=seconds)
            entry.pop("error", None)
            entry.pop("traceback", None)
        else:
            entry["error"] = error
            if details:
                entry["traceback"] = details  # the worker's, for whoever debugs it in the morning
        self.save()
        return entry

    # ---- shots (one output file each)
    def shot(self, shot_id: str) -> dict[str, Any]:
        return self.data["shots"].get(shot_id, {})

    def record_shot(self, shot_id: str, **fields: Any) -> None:
        self.data["shots"].setdefault(shot_id, {}).update(fields, updated=time.time())
        self.save()

    # ---- cached probes of inputs (frame count, cuts)
    def probe(self, key: str) -> dict[str, Any] | None:
        return self.data["probes"].get(key)

    def record_probe(self, key: str, value: dict[str, Any]) -> None:
        self.data["probes"][key] = value
        self.save()


__all__ = ["STATE_VERSION", "BatchLocked", "BatchState", "batch_lock", "write_json_atomic"]
