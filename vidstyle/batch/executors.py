"""Where chunks render: a local process pool, or Ray tasks across a cluster.

Both executors run the same picklable :func:`render_chunk` on a :class:`ChunkTask`
and report ``(task, result_or_exception)`` as chunks finish (``submit`` / ``wait_one``); retries and bookkeeping
live in the coordinator (:mod:`vidstyle.batch.run`), so both behave the same.
Inputs and outputs are absolute paths: with Ray they must be on storage every node sees.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import VidstyleError


@dataclass(frozen=True)
class ChunkTask:
    """Everything a worker needs to render one chunk (plain data: it is pickled to other processes/nodes).

    The chunk renders input frames ``[first, end)`` (absolute indices) and keeps all
    but the first ``discard`` (the warm-up), writing ``frames`` frames to ``output``
    as lossless FFV1/Matroska.
    """

    key: str
    label: str
    input: str
    output: str
    styles: tuple[str, ...]
    model: str | None
    method: str
    configs: dict[str, Any]
    device: str
    first: int
    end: int
    discard: int
    frames: int
    attempt: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChunkResult:
    key: str
    frames: int
    seconds: float
    host: str


class ChunkError(Exception):
    """A chunk failed in a worker; carries the worker's one-line reason and traceback text."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details

    def __reduce__(self):  # keep the traceback text when pickled back from a worker process or node
        return (ChunkError, (str(self), self.details))


def render_chunk(task: ChunkTask) -> ChunkResult:
    """Render one chunk to ``task.output`` (atomically) with the video pipeline.

    Deterministic: the seed is fixed, the warm-up always starts from the same frame and
    a pool worker always gets the same share of cores, so a chunk re-rendered after a
    crash (same command) is identical to the one it replaces.

    Raises:
        ChunkError: anything went wrong (the message is one line; the traceback is kept).
    """
    import dataclasses
    import socket

    import torch

    from ..config import KeyframeConfig, VideoConfig
    from ..pipeline import stylise_video

    t0 = time.perf_counter()
    try:
        cfg = dict(task.configs)
        seed = cfg["optimise"].seed if "optimise" in cfg else 0
        torch.manual_seed(seed)
        video = dataclasses.replace(cfg.get("video", VideoConfig()), codec="ffv1", audio=False, start=None, end=None)
        out = Path(task.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        stats = stylise_video(task.input, out, styles=[Path(s) for s in task.styles], model=task.model,
                              method=task.method, video=video, temporal=cfg["temporal"], flow=cfg["flow"],
                              optimise=cfg["optimise"], device=task.device, force=True, progress=False,
                              frames=(task.first, task.end), discard_first=task.discard,
                              mask=task.extra.get("mask"), invert_mask=bool(task.extra.get("invert_mask", False)),
                              feather=float(task.extra.get("feather", 0.0)),
                              keyframes=cfg.get("keyframes", KeyframeConfig()))
        written = getattr(stats, "frames", task.frames)
        if written != task.frames:
            out.unlink(missing_ok=True)
            raise VidstyleError(f"wrote {written} frames, expected {task.frames}")
    except Exception as e:  # noqa: BLE001 - every failure is reported, retried, never fatal to the batch
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ChunkError(f"{type(e).__name__}: {msg}", traceback.format_exc()) from None
    return ChunkResult(task.key, task.frames, time.perf_counter() - t0, socket.gethostname())


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def default_workers() -> int:
    """One worker per GPU when there are GPUs, else one per core."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else cpu_count()


def _die_with_parent(parent: int | None) -> None:
    """Make this worker exit when the coordinator dies, however it dies (``kill -9`` included).

    Linux: the kernel sends SIGKILL on the parent's death (``prctl(PR_SET_PDEATHSIG)``); elsewhere a
    daemon thread polls the parent pid. Without it, a killed coordinator's workers kept rendering
    (~0.9 GB each) and competed with the resumed run. Their temporary chunk files are removed by
    the next run.
    """
    import signal
    import sys
    import threading

    if parent is None:
        return
    armed = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(1, signal.SIGKILL, 0, 0, 0) == 0  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent:  # the coordinator died before the signal was armed
        os._exit(1)
    if not armed:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, name="vidstyle-parent-watch", daemon=True).start()


def _init_worker(counter: Any, workers: int, gpus: int, parent: int | None = None) -> None:
    """Pool-worker start-up: die with the coordinator, ignore Ctrl-C (the coordinator handles it) and
    take a share of the machine.

    With GPUs, worker ``i`` sees only GPU ``i mod gpus``. Without, it is pinned to its own
    ``cores / workers`` CPUs, so ``use_all_cores()`` in the pipeline sizes torch's threads to
    that share instead of every worker oversubscribing every core.
    """
    import signal

    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with counter.get_lock():
        slot = counter.value % workers
        counter.value += 1
    if gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(slot % gpus)  # read when CUDA initialises, i.e. later
        return
    try:
        cores = sorted(os.sched_getaffinity(0))
    except AttributeError:  # macOS / Windows: no affinity API; threads stay torch's default
        return
    share = max(1, len(cores) // workers)
    mine = cores[(slot * share) % len(cores):][:share]
    os.sched_setaffinity(0, mine)


class InlineExecutor:
    """Render chunks one after another in this process (debugging, tiny jobs, tests).

    The same :func:`render_chunk` as the pool, so results are identical; no isolation:
    a crash in a chunk takes the coordinator down with it (the state survives).
    """

    workers = 1

    def __init__(self) -> None:
        self._queue: list[ChunkTask] = []

    def submit(self, task: ChunkTask) -> None:
        self._queue.append(task)

    @property
    def busy(self) -> int:
        return len(self._queue)

    def wait_one(self) -> tuple[ChunkTask, ChunkResult | Exception]:
        task = self._queue.pop(0)
        try:
            return task, render_chunk(task)
        except ChunkError as e:
            return task, e

    def close(self, abort: bool = False) -> None:
        self._queue.clear()


class LocalExecutor:
    """A pool of ``workers`` processes; ``submit`` chunks, ``wait_one`` for the next to finish.

    Uses ``spawn`` (not ``fork``): forking a process that already ran torch threads can
    deadlock. A worker that dies (killed, out of memory) breaks a ``ProcessPoolExecutor``
    as a whole, so the pool is rebuilt and only the chunks that were running fail.
    """

    def __init__(self, workers: int, gpus: int = 0) -> None:
        self.workers, self.gpus = workers, gpus
        self._ctx = multiprocessing.get_context("spawn")
        self._counter = self._ctx.Value("i", 0)
        self._pool: cf.ProcessPoolExecutor | None = None
        self._futures: dict[cf.Future, ChunkTask] = {}

    def _ensure_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=self._ctx,
                                                initializer=_init_worker,
                                                initargs=(self._counter, self.workers, self.gpus, os.getpid()))
        return self._pool

    def submit(self, task: ChunkTask) -> None:
        self._futures[self._ensure_pool().submit(render_chunk, task)] = task

    @property
    def busy(self) -> int:
        return len(self._futures)

    def wait_one(self) -> tuple[ChunkTask, ChunkResult | Exception]:
        done, _ = cf.wait(self._futures, return_when=cf.FIRST_COMPLETED)
        fut = next(iter(done))
        task = self._futures.pop(fut)
        try:
            return task, fut.result()
        except cf.process.BrokenProcessPool as e:
            # the pool is unusable: resubmit every other chunk on a fresh pool, fail this one
            others = list(self._futures.values())
            self._futures.clear()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            for t in others:
                self.submit(t)
            return task, ChunkError(f"worker process died ({e})")
        except Exception as e:  # noqa: BLE001
            return task, e

    def close(self, abort: bool = False) -> None:
        """Shut the pool down; ``abort`` (Ctrl-C, errors) also stops chunks mid-render."""
        if self._pool is None:
            return
        processes = list(getattr(self._pool, "_processes", {}).values())  # no public API to stop workers
        self._pool.shutdown(wait=not abort, cancel_futures=True)
        if abort:
            for proc in processes:
                proc.terminate()  # its temporary chunk file is removed by the next run
        self._pool = None


class RayExecutor:
    """Chunks as Ray tasks, one GPU each when the cluster has GPUs.

    ``address`` None starts a local Ray instance with ``workers`` CPUs; ``"auto"`` or
    ``"ray://host:port"`` joins a running cluster (paths must be on shared storage).
    """

    def __init__(self, workers: int | None, address: str | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise VidstyleError("--executor ray needs Ray: pip install 'vidstyle[ray]'") from None
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            if address:
                ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
            else:
                ray.init(num_cpus=workers or cpu_count(), include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING)
            self._started = True
        gpus = ray.cluster_resources().get("GPU", 0)
        self.workers = int(ray.cluster_resources().get("GPU" if gpus else "CPU", 1))
        self._remote = ray.remote(num_cpus=1, num_gpus=1 if gpus else 0, max_retries=0)(render_chunk)
        self._refs: dict[Any, ChunkTask] = {}

    def submit(self, task: ChunkTask) -> None:
        self._refs[self._remote.remote(task)] = task

    @property
    def busy(self) -> int:
        return len(self._refs)

    def wait_one(self) -> tuple[ChunkTask, ChunkResult | Exception]:
        done, _ = self._ray.wait(list(self._refs), num_returns=1)
        task = self._refs.pop(done[0])
        try:
            return task, self._ray.get(done[0])
        except Exception as e:  # noqa: BLE001 - RayTaskError wraps the worker's ChunkError
            cause = getattr(e, "cause", None)
            return task, cause if isinstance(cause, Exception) else ChunkError(str(e).splitlines()[0])

    def close(self, abort: bool = False) -> None:
        for ref in self._refs:
            self._ray.cancel(ref, force=True)
        self._refs.clear()
        if self._started:
            self._ray.shutdown()


def make_executor(kind: str, workers: int | None = None, address: str | None = None
                  ) -> InlineExecutor | LocalExecutor | RayExecutor:
    """``local`` (default: one process per GPU, else per core), ``ray``, or ``inline`` (this process)."""
    if kind == "inline":
        return InlineExecutor()
    if kind == "local":
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return LocalExecutor(workers or default_workers(), gpus)
    if kind == "ray":
        return RayExecutor(workers, address)
    raise VidstyleError(f"unknown executor {kind!r}; use local, ray or inline")


__all__ = [
    "ChunkError",
    "ChunkResult",
    "ChunkTask",
    "InlineExecutor",
    "LocalExecutor",
    "RayExecutor",
    "cpu_count",
    "default_workers",
    "make_executor",
    "render_chunk",
]
