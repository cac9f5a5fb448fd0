"""Expand a job file into shots (one output file each) and their chunks.

``job × input × (style | model)`` → :class:`Shot`; each shot is split by
:func:`vidstyle.batch.chunks.chunk_bounds` after probing its input (exact frame count
and hard cuts, cached in the state file). Every shot and chunk has a content hash
of what shapes its pixels (input file identity, style files, method, every config
value, frame range), so resuming never mixes chunks rendered under other settings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import TemporalConfig
from ..errors import VidstyleError
from .chunks import Chunk, chunk_bounds
from .jobs import Job, JobFile, keyframe_image_paths, mask_path
from .state import BatchState


@dataclass(frozen=True)
class Shot:
    """One output file: an input rendered in one style (or with one model), in chunks.

    ``first`` is the input frame index of shot frame 0 (from the job's ``frames``);
    chunk frame numbers are relative to it.
    """

    job: str
    input: Path
    style_name: str
    styles: tuple[Path, ...]
    model: str | None
    method: str
    output: Path
    device: str
    configs: dict[str, Any]
    shot_id: str
    first: int
    n_frames: int
    cuts: tuple[int, ...]
    chunks: tuple[Chunk, ...]
    retries: int
    ewarp: bool = False
    pts: tuple[int, ...] = dataclasses.field(default=(), repr=False)  # source timestamps of the shot's frames
    mask: Path | None = None  # frame-aligned matte of the input (vidstyle.matte_video)
    invert_mask: bool = False
    feather: float = 0.0

    def chunk_key(self, chunk: Chunk) -> str:
        return f"{self.shot_id}-{chunk.warm_start:06d}-{chunk.start:06d}-{chunk.end:06d}"

    def chunk_path(self, work_dir: Path, chunk: Chunk) -> Path:
        """Lossless intermediate of one chunk (FFV1 in Matroska)."""
        return work_dir / "chunks" / self.shot_id / f"{self.chunk_key(chunk)}.mkv"

    @property
    def label(self) -> str:
        return f"{self.job}: {self.input.name} × {self.style_name}"


@dataclass(frozen=True)
class Plan:
    """Every shot of a job file, with the batch folders."""

    job_file: JobFile
    shots: tuple[Shot, ...]

    @property
    def work_dir(self) -> Path:
        return self.job_file.work_dir

    @property
    def state_path(self) -> Path:
        return self.job_file.state_path

    def describe(self) -> str:
        """The expanded plan as text (``--dry-run``)."""
        lines = [f"job file {self.job_file.path}: {len(self.shots)} outputs, "
                 f"{sum(len(s.chunks) for s in self.shots)} chunks, "
                 f"{sum(s.n_frames for s in self.shots)} frames "
                 f"({sum(c.end - c.warm_start for s in self.shots for c in s.chunks)} rendered with warm-up)"]
        for shot in self.shots:  # frame numbers are the input's own
            f0 = shot.first
            cuts = f", cuts at {', '.join(str(f0 + c) for c in shot.cuts)}" if shot.cuts else ""
            n = len(shot.chunks)
            lines.append(f"  [{shot.job}] {shot.input} × {shot.style_name} ({shot.method}) -> {shot.output}")
            if shot.mask is not None:
                lines.append(f"      mask {shot.mask}" + (" (inverted)" if shot.invert_mask else "") +
                             (f", feather {shot.feather:g} px" if shot.feather else ""))
            key = shot.configs.get("keyframes")
            if key is not None and key.active:
                from ..keyframes import describe

                lines.append(f"      {describe(key, None)} (one chunk: keyframes carry across the shot)")
            lines.append(f"      frames {f0}-{f0 + shot.n_frames - 1} ({shot.n_frames}){cuts}; "
                         f"{n} chunk{'s' if n != 1 else ''} (+warm-up):")
            lines.append("      " + "  ".join(
                f"{f0 + c.start}-{f0 + c.end - 1}" + (f"(+{c.warmup})" if c.warmup else "") for c in shot.chunks))
        return "\n".join(lines)


def _file_identity(path: Path) -> list:
    """What identifies a file's contents cheaply: path, size and modification time (a folder: its images)."""
    if path.is_dir():
        return [str(path)] + [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(path.iterdir())]
    st = path.stat()
    return [str(path), st.st_size, st.st_mtime_ns]


def _digest(obj: Any, n: int = 12) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def _configs_repr(configs: dict[str, Any]) -> dict[str, Any]:
    """The configs as plain data for a shot's id; keyframes only when asked for (ids of other shots stay as they
    were before batch jobs took keyframes, so their finished chunks are reused)."""
    return {name: dataclasses.asdict(cfg) for name, cfg in sorted(configs.items())
            if name != "keyframes" or cfg.active}


PROBE_SIZE = 128  # long side for counting frames and finding cuts: cheap, and enough for histograms and flow


def probe_input(path: Path, temporal: TemporalConfig | None = None) -> dict[str, Any]:
    """Decode ``path`` once at a small size: exact frame count, timestamps and hard cuts.

    Cuts are decided by the pipeline's own rule (:class:`vidstyle.temporal.TemporalState`:
    colour-histogram jump, or a flow failure with a moderate colour change), so chunks
    end where the styliser resets anyway. The flow here is always DIS (fast at this size,
    even when the render uses DeepFlow or RAFT): cut alignment saves warm-up work and hides
    seams, it does not decide correctness.

    Returns:
        ``{"frames": int, "pts": [int, …], "cuts": [int, …]}``; a cut ``c`` is a hard cut
        between frames ``c-1`` and ``c``.
    """
    from ..flow import get_estimator
    from ..media.reader import open_frames
    from ..temporal import TemporalState

    temporal = temporal or TemporalConfig()
    estimator = get_estimator("dis", device="cpu") if temporal.enabled else None
    state = TemporalState(temporal, estimator)
    n, pts, cuts = 0, [], []
    with open_frames(path, prefetch=0) as reader:
        small = max(reader.info.width, reader.info.height) <= PROBE_SIZE
    with open_frames(path, size=None if small else PROBE_SIZE, batch_size=16) as reader:
        for batch in reader:
            for obs, p in zip(state.observe(batch.frames), batch.pts):
                if obs.cut:
                    cuts.append(n)
                pts.append(int(p))
                n += 1
        stopped = reader.stopped_early
    if n == 0:
        raise VidstyleError(stopped or f"{path}: no frames to render")
    probe = {"frames": n, "pts": pts, "cuts": cuts}
    if stopped:  # render what decodes and say so (build_plan warns), as `vidstyle run` does
        probe["warning"] = f"{stopped}; rendering the {n} frames that decode"
    return probe


def _checked_matte(job_file: JobFile, job: Job, inp: Path, frames: int) -> Path:
    """The job's matte for ``inp``, checked against it (exact frame count, aspect ratio) before anything renders."""
    from ..matte_video import validate_matte
    from ..media.reader import open_frames

    assert job.settings.mask is not None
    matte = mask_path(job.settings.mask, job.name, inp, job_file.path.parent)
    with open_frames(inp, prefetch=0) as reader:
        hw = (reader.info.height, reader.info.width)
    try:
        validate_matte(matte, hw, frames, "mask")
    except VidstyleError as e:
        raise VidstyleError(f"{job_file.path}: job {job.name!r}: {e} ({inp.name})") from None
    return matte


def _keyframe_configs(job_file: JobFile, job: Job, inp: Path, first: int, last: int
                      ) -> tuple[dict[str, Any], list]:
    """The job's configs for one input, with its painted keyframes filled in, and the identities of those images
    (a repainted keyframe renders again). Keyframes outside the shot's frames are an error before any work."""
    images = keyframe_image_paths(job, inp, job_file.path.parent)
    key = dataclasses.replace(job.configs["keyframes"], images=images) if images else job.configs["keyframes"]
    wanted = sorted(set(key.frames) | {f for f, _ in images})
    outside = [f for f in wanted if not first <= f <= last]
    if outside:
        raise VidstyleError(f"{job_file.path}: job {job.name!r}: keyframe {', '.join(map(str, outside))} is outside "
                            f"the frames {first}–{last} rendered from {inp.name}")
    return {**job.configs, "keyframes": key}, [[f, _file_identity(p)] for f, p in images]


def _render_variants(job: Job) -> list[tuple[str, tuple[Path, ...], str | None]]:
    """``(style_name, style paths, model)`` for each render of a job."""
    out = [("+".join(p.stem for p in group), group, None) for group in job.styles]
    out += [(Path(m).stem if m.endswith(".safetensors") else m, (), m) for m in job.models]
    return out


def build_plan(job_file: JobFile, state: BatchState | None = None) -> Plan:
    """Expand every job into shots and chunks (probing each input once; cached in ``state``).

    Raises:
        VidstyleError: two renders would write the same output file, or an input
        cannot be decoded, or a job's frame range is outside its input.
    """
    shots: list[Shot] = []
    outputs: dict[Path, str] = {}
    for job in job_file.jobs:
        s = job.settings
        for inp in job.inputs:
            ident = _file_identity(inp)
            temporal = job.configs["temporal"]
            probe_key = _digest([ident, PROBE_SIZE, dataclasses.asdict(temporal)])
            probe = state.probe(probe_key) if state is not None else None
            if probe is None:
                probe = probe_input(inp, temporal)
                probe["identity"] = ident
                if state is not None:
                    state.record_probe(probe_key, probe)
            if probe.get("warning"):
                import warnings

                warnings.warn(probe["warning"], stacklevel=2)
            total = probe["frames"]
            first, last = (s.frames if s.frames is not None else (0, total - 1))
            if first >= total:
                raise VidstyleError(f"{job_file.path}: job {job.name!r}: frames {list(s.frames)} start after the "
                                    f"end of {inp} ({total} frames)")
            last = min(last, total - 1)
            n = last - first + 1
            cuts = tuple(c - first for c in probe["cuts"] if first < c <= last)
            configs, key_ids = _keyframe_configs(job_file, job, inp, first, last)
            if configs["keyframes"].active:  # keyframes carry across the whole shot: it renders as one chunk
                chunks = tuple(chunk_bounds(n, n))
            else:
                chunks = tuple(chunk_bounds(n, s.chunk_frames, s.warmup, cuts, s.cut_snap))
            matte = _checked_matte(job_file, job, inp, total) if s.mask is not None else None
            for style_name, styles, model in _render_variants(job):
                fields = {"job": job.name, "input_stem": inp.stem, "input_name": inp.name, "style": style_name,
                          "method": s.method, "preset": s.preset or "default"}
                out = Path(s.output.format(**fields))
                out = out if out.is_absolute() else (job_file.path.parent / out)
                out = out.resolve()
                label = f"{job.name}: {inp.name} × {style_name}"
                if out in outputs:
                    raise VidstyleError(f"{job_file.path}: {label} and {outputs[out]} both write {out}; "
                                        "put {input_stem} and {style} in the output template")
                outputs[out] = label
                mask_key = [_file_identity(matte), s.invert_mask, s.feather] if matte is not None else None
                shot_id = _digest([ident, [_file_identity(p) for p in styles], model, s.method,
                                   _configs_repr(configs), first, n] + ([mask_key] if mask_key else [])
                                  + ([key_ids] if key_ids else []))
                shots.append(Shot(job=job.name, input=inp, style_name=style_name, styles=styles, model=model,
                                  method=s.method, output=out, device=s.device, configs=configs,
                                  shot_id=shot_id, first=first, n_frames=n, cuts=cuts, chunks=chunks,
                                  retries=s.retries, ewarp=s.ewarp, pts=tuple(probe["pts"][first:last + 1]),
                                  mask=matte, invert_mask=s.invert_mask, feather=s.feather))
    return Plan(job_file=job_file, shots=tuple(shots))


__all__ = ["Plan", "Shot", "build_plan", "probe_input"]
