"""Batch job files: TOML parsing and validation, with errors that name file, line and key.

A job file holds ``[defaults]`` and a list of ``[[job]]`` tables::

    [defaults]
    preset = "fast"                                   # configs/fast.toml (or a path)
    output = "renders/{input_stem}__{style}.mp4"      # {job} {input_stem} {input_name} {style} {method} {preset}
    chunk_frames = 48                                 # frames per chunk
    warmup = 8                                        # frames rendered before a chunk and discarded

    [[job]]
    name = "shot010"
    inputs = ["plates/sh010.mp4", "plates/sh02*.mp4", "plates/sh030_frames/"]
    styles = ["styles/starry.jpg", ["styles/scream.jpg", "styles/udnie.jpg"]]   # a nested list is a blend
    mask = "roto/{input_stem}_matte.mp4"              # optional frame-aligned matte per input (white = stylise)
    [job.temporal]                                    # per-job overrides of vidstyle.config dataclasses
    strength = 0.8
    [job.keyframes]                                   # keyframe-guided (vidstyle.keyframes): one chunk per shot
    frames = [0, 48]
    method = "optimise"
    images = [[96, "paint/{input_stem}_0096.png"]]    # painted keyframes: [frame, image template] pairs

Everything is checked before anything renders: unknown keys, wrong types, inputs
that match nothing, missing style files, unknown template fields.
Relative paths are relative to the job file's folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import re
import string
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import (
    IMAGE_SUFFIXES,
    ConfigError,
    FlowConfig,
    KeyframeConfig,
    OptimiseConfig,
    TemporalConfig,
    VideoConfig,
    load_preset,
    package_data,
)
from ..errors import VidstyleError

#: Folder holding the named presets (``quality``, ``fast``, ``realtime``) and example jobs (package data).
CONFIGS_DIR = package_data("configs")

#: Config sections a job may override, and the dataclass each loads into.
SECTIONS: dict[str, type] = {"optimise": OptimiseConfig, "flow": FlowConfig, "temporal": TemporalConfig,
                             "video": VideoConfig, "keyframes": KeyframeConfig}

#: Fields allowed in an output template.
TEMPLATE_FIELDS = ("job", "input_stem", "input_name", "style", "method", "preset")

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".y4m")


@dataclass(frozen=True)
class Settings:
    """Scalar settings shared by ``[defaults]`` and each ``[[job]]`` (job wins)."""

    method: str = "auto"
    preset: str | None = None
    output: str = "renders/{input_stem}__{style}.mp4"
    chunk_frames: int = 48
    warmup: int = 8
    cut_snap: int = 12  # a chunk end moves to a cut at most this many frames away
    device: str = "auto"
    retries: int = 2
    frames: tuple[int, int] | None = None  # (first, last) frame indices, inclusive
    ewarp: bool = False  # measure the temporal warping error (METRICS.md) of each output for the report
    mask: str | None = None  # matte per input (video, frame folder or still; {input_stem} {input_name} {job})
    invert_mask: bool = False  # stylise outside the mask
    feather: float = 0.0  # soften the mask's edge over this many pixels


#: Fields allowed in a ``mask`` template (and in a painted keyframe's, ``[job.keyframes] images``).
MASK_FIELDS = ("job", "input_stem", "input_name")


#: Keys only ``[defaults]`` may hold (they concern the whole batch).
BATCH_KEYS = {"work_dir": "renders/.vidstyle-batch", "report_dir": "renders"}

#: Keys only a ``[[job]]`` may hold.
JOB_KEYS = ("name", "inputs", "styles", "models")


@dataclass(frozen=True)
class Job:
    """One validated ``[[job]]``, merged with the defaults and its preset.

    ``styles`` holds one tuple per render: a single style image, or several to blend.
    ``models`` are feed-forward / arbitrary-style model names or files (one render each).
    """

    name: str
    index: int
    inputs: tuple[Path, ...]
    styles: tuple[tuple[Path, ...], ...]
    models: tuple[str, ...]
    settings: Settings
    configs: dict[str, Any] = field(default_factory=dict)  # section -> dataclass instance
    keyframe_images: tuple[tuple[int, str], ...] = ()  # [job.keyframes] images: (frame, path template) pairs


@dataclass(frozen=True)
class JobFile:
    """A parsed job file: where it is, batch-wide folders, and its jobs."""

    path: Path
    work_dir: Path
    report_dir: Path
    jobs: tuple[Job, ...]

    @property
    def state_path(self) -> Path:
        """The resumable state file of this job file (see :mod:`vidstyle.batch.state`)."""
        return self.work_dir / f"{self.path.stem}.state.json"


# ---------------------------------------------------------------- line lookup

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\.\"' ]+?)\s*=")


def _split_key(text: str) -> list[str]:
    return [p.strip().strip("\"'") for p in text.split(".")]


def key_lines(text: str) -> dict[tuple, int]:
    """Map key paths to 1-based line numbers, e.g. ``("job", 1, "temporal", "strength") -> 17``.

    Array-of-tables entries are numbered from 0; table headers map too (``("job", 1)``).
    A light scanner, good for ordinary job files (multi-line strings are not special-cased).
    """
    lines: dict[tuple, int] = {}
    counts: dict[str, int] = {}
    current: tuple = ()
    for no, line in enumerate(text.splitlines(), 1):
        m = _HEADER.match(line)
        if m:
            parts = _split_key(m.group(2))
            path: list = []
            for i, p in enumerate(parts):
                path.append(p)
                if i == len(parts) - 1 and m.group(1) == "[[":
                    name = ".".join(map(str, path))
                    counts[name] = counts.get(name, -1) + 1
                    path.append(counts[name])
                elif ".".join(map(str, path)) in counts:  # [job.temporal] belongs to the latest [[job]]
                    path.append(counts[".".join(map(str, path))])
            current = tuple(path)
            lines.setdefault(current, no)
            continue
        m = _KEY.match(line)
        if m and not line.lstrip().startswith("#"):
            lines.setdefault(current + tuple(_split_key(m.group(1))), no)
    return lines


class _Where:
    """Formats ``file:line: key`` for errors about a key path, and collects every problem of a file."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.lines = path, key_lines(text)
        self.problems: list[str] = []

    def error(self, keypath: tuple, message: str) -> VidstyleError:
        line = None
        for n in range(len(keypath), 0, -1):  # the key's own line, else its table's
            line = self.lines.get(tuple(keypath[:n]))
            if line is not None:
                break
        shown = ".".join(f"[{k}]" if isinstance(k, int) else k for k in keypath).replace(".[", "[")
        at = f"{self.path}:{line}" if line else str(self.path)
        return VidstyleError(f"{at}: {shown}: {message}")

    @contextlib.contextmanager
    def collect(self) -> Iterator[None]:
        """Record a :class:`VidstyleError` raised inside and carry on with the next check."""
        try:
            yield
        except VidstyleError as e:
            if str(e) not in self.problems:
                self.problems.append(str(e))

    def raise_problems(self) -> None:
        """One :class:`VidstyleError` listing every problem found, one ``FILE:LINE: key: what`` line each."""
        if self.problems:
            raise VidstyleError("\n".join(self.problems))


# ---------------------------------------------------------------- validation helpers

def _check_type(where: _Where, keypath: tuple, value: Any, default: Any) -> Any:
    """Check ``value`` against the type of ``default``; lists become tuples."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, (tuple, list)):
        ok = isinstance(value, list)
    elif isinstance(default, (str, Path)):
        ok = isinstance(value, str)
    else:  # None default: accept plain scalars and lists
        ok = isinstance(value, (int, float, str, list)) and not isinstance(value, bool)
    if not ok:
        want = type(default).__name__ if default is not None else "a number, string or list"
        raise where.error(keypath, f"expected {want}, got {type(value).__name__} {value!r}")
    return tuple(value) if isinstance(value, list) else value


def _takes_text(cls: type, key: str) -> bool:
    """Text is allowed beside the default's type: the field is typed ``float | str`` or listed in the config's
    ``CURVES`` (a number or a keyframed curve)."""
    import typing

    return key in getattr(cls, "CURVES", ()) or str in typing.get_args(typing.get_type_hints(cls).get(key))


def _section(where: _Where, keypath: tuple, values: Any, cls: type, base: Any) -> Any:
    """``base`` with the table's values; every bad key or value is recorded (the good ones still apply)."""
    if not isinstance(values, dict):
        raise where.error(keypath, f"expected a table [{keypath[-1]}], got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    changes = {}
    for key, value in values.items():
        with where.collect():
            if key not in fields:
                raise where.error(keypath + (key,), f"unknown key; known: {', '.join(sorted(fields))}")
            if not (isinstance(value, str) and _takes_text(cls, key)):  # e.g. strength: a number or a curve
                value = _check_type(where, keypath + (key,), value, getattr(base, key))
            _validated(where, keypath, base, {key: value})  # this value on its own
            changes[key] = value
    return _validated(where, keypath, base, changes)


def _validated(where: _Where, keypath: tuple, base: Any, changes: dict[str, Any]) -> Any:
    """``dataclasses.replace(base, **changes)``; the config's own validation errors name their key."""
    try:
        return dataclasses.replace(base, **changes)
    except ConfigError as e:
        raise where.error(keypath + (e.key,), e.reason) from None
    except (TypeError, ValueError) as e:
        raise where.error(keypath, str(e)) from None


def _settings(where: _Where, keypath: tuple, table: dict, base: Settings) -> Settings:
    changes = {}
    for f in dataclasses.fields(Settings):
        if f.name not in table:
            continue
        with where.collect():
            changes[f.name] = _setting(where, keypath + (f.name,), f.name, table[f.name], base)
    settings = dataclasses.replace(base, **changes)
    with where.collect():
        try:
            names = {n for _, n, _, _ in string.Formatter().parse(settings.output) if n is not None}
        except ValueError as e:
            raise where.error(keypath + ("output",), f"bad template {settings.output!r}: {e}") from None
        unknown = names - set(TEMPLATE_FIELDS)
        if unknown:
            raise where.error(keypath + ("output",), f"unknown template field {{{min(unknown)}}}; "
                                                     f"use {', '.join('{' + t + '}' for t in TEMPLATE_FIELDS)}")
    return settings


def _setting(where: _Where, kp: tuple, name: str, value: Any, base: Settings) -> Any:
    """One checked value of :class:`Settings`."""
    if name == "frames":
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)
                and 0 <= value[0] <= value[1]):
            raise where.error(kp, f"expected [first, last] frame indices with first <= last, got {value!r}")
        return tuple(value)
    if name == "preset":
        if not isinstance(value, str):
            raise where.error(kp, f"expected a preset name or path, got {value!r}")
        return value
    if name == "mask":
        if not isinstance(value, str) or not value:
            raise where.error(kp, f"expected a matte path or template such as \"roto/{{input_stem}}_matte.mp4\", "
                                  f"got {value!r}")
        return _path_template(where, kp, value)
    value = _check_type(where, kp, value, getattr(base, name))
    if name == "feather" and value < 0:
        raise where.error(kp, f"must be >= 0 pixels, got {value}")
    if name == "chunk_frames" and value < 1 or name in ("warmup", "cut_snap", "retries") and value < 0:
        raise where.error(kp, f"must be {'>= 1' if name == 'chunk_frames' else '>= 0'}, got {value}")
    if name == "method":
        from ..stylise.registry import method_choices

        if value not in method_choices():
            raise where.error(kp, f"allowed values are {', '.join(method_choices())} (got {value!r})")
    if name == "device":
        from ..device import check_device_name

        try:
            check_device_name(value)
        except VidstyleError as e:
            raise where.error(kp, str(e)) from None
    return value


def _path_template(where: _Where, kp: tuple, value: str) -> str:
    """A per-input path template (``mask``, painted keyframes): only :data:`MASK_FIELDS` may appear."""
    try:
        fields = {n for _, n, _, _ in string.Formatter().parse(value) if n is not None}
    except ValueError as e:
        raise where.error(kp, f"bad template {value!r}: {e}") from None
    if fields - set(MASK_FIELDS):
        raise where.error(kp, f"unknown template field {{{min(fields - set(MASK_FIELDS))}}}; "
                              f"use {', '.join('{' + t + '}' for t in MASK_FIELDS)}")
    return value


def _keyframe_images(where: _Where, kp: tuple, value: Any) -> tuple[tuple[int, str], ...]:
    """``[job.keyframes] images = [[48, "paint/{input_stem}_0048.png"], …]`` → ``((48, template), …)``."""
    if not isinstance(value, list) or not all(isinstance(v, list) and len(v) == 2 for v in value):
        raise where.error(kp, f"expected [[frame, \"image\"], …] pairs, e.g. [[48, \"paint/{{input_stem}}_0048.png\"]]"
                              f", got {value!r}")
    pairs: list[tuple[int, str]] = []
    for frame, template in value:
        if not isinstance(frame, int) or isinstance(frame, bool) or frame < 0:
            raise where.error(kp, f"a keyframe's frame must be an integer >= 0, got {frame!r}")
        if not isinstance(template, str) or not template:
            raise where.error(kp, f"a keyframe's image must be a path or template, got {template!r}")
        if any(f == frame for f, _ in pairs):
            raise where.error(kp, f"frame {frame} has two keyframe images")
        pairs.append((frame, _path_template(where, kp, template)))
    return tuple(sorted(pairs))


def keyframe_image_paths(job: Job, input: Path, base: Path) -> tuple[tuple[int, Path], ...]:
    """A job's painted keyframes for one input (templates filled in, relative to the job file's folder)."""
    return tuple((f, mask_path(t, job.name, input, base)) for f, t in job.keyframe_images)


def preset_path(name: str, base: Path) -> Path:
    """A preset name (``fast``) → ``configs/fast.toml``; anything with a suffix or slash is a path."""
    if "/" in name or name.endswith(".toml"):
        p = Path(name)
        return p if p.is_absolute() else base / p
    return CONFIGS_DIR / f"{name}.toml"


def load_preset_configs(path: Path) -> tuple[str | None, dict[str, Any]]:
    """Load a preset file: its ``method`` (top-level key, optional) and every config section."""
    configs, problems = {}, []
    for name, cls in SECTIONS.items():
        try:
            configs[name] = load_preset(path, name, cls)
        except VidstyleError as e:
            problems.append(str(e))
    if problems:
        raise VidstyleError("\n".join(problems))
    try:
        method = tomllib.loads(path.read_text()).get("method")
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise VidstyleError(f"cannot read preset {path}: {e}") from None
    return method, configs


def _expand_inputs(where: _Where, keypath: tuple, values: Any, base: Path) -> tuple[Path, ...]:
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise where.error(keypath, "expected a non-empty list of files, globs or image-sequence folders")
    found: list[Path] = []
    for i, pattern in enumerate(values):
        with where.collect():
            _expand_one(where, keypath + (i,), pattern, base, found)
    return tuple(found)


def _expand_one(where: _Where, keypath: tuple, pattern: str, base: Path, found: list[Path]) -> None:
    """Add the inputs one ``inputs`` entry names to ``found``; ``keypath`` is the entry's own."""
    full = pattern if Path(pattern).is_absolute() else str(base / pattern)
    matches = sorted(glob.glob(full)) if glob.has_magic(pattern) else [full]
    matches = [m for m in matches if Path(m).is_dir() or Path(m).suffix.lower() in VIDEO_SUFFIXES
               or not glob.has_magic(pattern)]
    if not matches:
        raise where.error(keypath, f"{pattern!r} matches no video file or folder")
    for m in matches:
        p = Path(m).resolve()
        if not p.exists():
            raise where.error(keypath, f"input {pattern!r} does not exist ({p})")
        if p.is_dir() and not any(c.suffix.lower() in IMAGE_SUFFIXES for c in p.iterdir()):
            raise where.error(keypath, f"folder {pattern!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        if p not in found:
            found.append(p)


def _styles(where: _Where, keypath: tuple, values: Any, base: Path) -> tuple[tuple[Path, ...], ...]:
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list):
        raise where.error(keypath, f"expected a list of style images, got {values!r}")
    out = []
    for i, v in enumerate(values):
        group = v if isinstance(v, list) else [v]
        if not group or not all(isinstance(s, str) for s in group):
            where.problems.append(str(where.error(keypath + (i,),
                                                  f"expected an image path or a list of paths to blend, got {v!r}")))
            continue
        paths = []
        for s in group:
            p = (base / s).resolve() if not Path(s).is_absolute() else Path(s)
            if p.is_dir():
                where.problems.append(str(where.error(keypath + (i,), f"style image {s!r} is a folder ({p}); "
                                                                      "name an image file")))
            elif not p.is_file():
                where.problems.append(str(where.error(keypath + (i,), f"style image {s!r} not found ({p})")))
            paths.append(p)
        out.append(tuple(paths))
    return tuple(out)


def mask_path(template: str, job: str, input: Path, base: Path) -> Path:
    """A job's per-input path template (``mask``, ``[job.keyframes] images``) filled in for one input (relative paths
    are relative to the job file's folder)."""
    p = Path(template.format(job=job, input_stem=input.stem, input_name=input.name))
    return (p if p.is_absolute() else base / p).resolve()


# ---------------------------------------------------------------- entry point

def load_jobs(path: str | Path) -> JobFile:
    """Parse and validate a job file, reporting every problem at once.

    Raises:
        VidstyleError: one ``FILE:LINE: key: what is wrong`` line per problem found.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise VidstyleError(f"cannot read job file {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise VidstyleError(f"{path}: not a TOML job file (not UTF-8 text)") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise VidstyleError(f"{path}: not valid TOML: {e}") from None
    where = _Where(path, text)
    base = path.resolve().parent

    for key in data:
        if key not in ("defaults", "job"):
            where.problems.append(str(where.error((key,), "unknown top-level key; use [defaults] and [[job]] tables")))
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        where.problems.append(str(where.error(("defaults",), "expected a table [defaults]")))
        defaults = {}
    raw_jobs = data.get("job", [])
    if not isinstance(raw_jobs, list) or not raw_jobs:
        where.problems.append(str(where.error(("job",), "no jobs; add at least one [[job]] table")) if "job" in data
                              else f"{path}: no jobs; add at least one [[job]] table")
        raw_jobs = []

    allowed_defaults = {f.name for f in dataclasses.fields(Settings)} | set(BATCH_KEYS) | set(SECTIONS) | \
        {"inputs", "styles", "models"}
    for key in defaults:
        if key not in allowed_defaults:
            where.problems.append(str(where.error(("defaults", key),
                                                  f"unknown key; known: {', '.join(sorted(allowed_defaults))}")))
    batch = {}
    for key, default in BATCH_KEYS.items():
        value = defaults.get(key, default)
        if not isinstance(value, str):
            where.problems.append(str(where.error(("defaults", key), f"expected a folder path, got {value!r}")))
            value = default
        batch[key] = (base / value).resolve()
    default_settings = _settings(where, ("defaults",), defaults, Settings())

    jobs = []
    names: set[str] = set()
    allowed_job = {f.name for f in dataclasses.fields(Settings)} | set(SECTIONS) | set(JOB_KEYS)
    for i, table in enumerate(raw_jobs):
        kp = ("job", i)
        if not isinstance(table, dict):
            where.problems.append(str(where.error(kp, "expected a [[job]] table")))
            continue
        for key in table:
            if key not in allowed_job:
                where.problems.append(str(where.error(kp + (key,),
                                                      f"unknown key; known: {', '.join(sorted(allowed_job))}")))
        job = _job(where, kp, i, table, defaults, default_settings, names, base)
        if job is not None:
            jobs.append(job)
    where.raise_problems()
    return JobFile(path=path.resolve(), work_dir=batch["work_dir"], report_dir=batch["report_dir"], jobs=tuple(jobs))


def _job(where: _Where, kp: tuple, i: int, table: dict, defaults: dict, default_settings: Settings,
         names: set[str], base: Path) -> Job | None:
    """One ``[[job]]`` merged with the defaults and its preset (None when it has problems, all recorded)."""
    before = len(where.problems)
    settings = _settings(where, kp, table, default_settings)
    name = table.get("name", f"job{i + 1}")
    if not isinstance(name, str) or not re.fullmatch(r"[\w.\-]+", name):
        where.problems.append(str(where.error(kp + ("name",),
                                              f"expected a name of letters, digits, '_', '-', '.', got {name!r}")))
    elif name in names:
        where.problems.append(str(where.error(kp + ("name",), f"duplicate job name {name!r}")))
    names.add(str(name))

    # config sections: preset < [defaults.X] < [job.X]
    method, configs = None, {n: cls() for n, cls in SECTIONS.items()}
    if settings.preset is not None:
        with where.collect():
            pp = preset_path(settings.preset, base)
            origin = kp if "preset" in table else ("defaults",)
            if not pp.is_file():
                known = sorted(p.stem for p in CONFIGS_DIR.glob("*.toml")) if CONFIGS_DIR.is_dir() else []
                raise where.error(origin + ("preset",), f"preset {settings.preset!r} not found ({pp}); "
                                                        f"known: {', '.join(known)}")
            method, configs = load_preset_configs(pp)
            if method is not None:
                from ..stylise.registry import method_choices

                if method not in method_choices():
                    raise VidstyleError(f"{pp}: method: allowed values are {', '.join(method_choices())} "
                                        f"(got {method!r})")
    key_images: tuple[tuple[int, str], ...] = ()
    for sec, cls in SECTIONS.items():
        for origin, src in ((("defaults",), defaults), (kp, table)):
            if sec not in src:
                continue
            values = src[sec]
            if sec == "keyframes" and isinstance(values, dict) and "images" in values:  # per-input templates
                values = dict(values)
                with where.collect():
                    key_images = _keyframe_images(where, origin + (sec, "images"), values.pop("images"))
            with where.collect():
                configs[sec] = _section(where, origin + (sec,), values, cls, configs[sec])
            if isinstance(src[sec], dict):
                for key in ("start", "end"):  # chunks address frames, not seconds
                    if sec == "video" and key in src[sec]:
                        where.problems.append(str(where.error(origin + (sec, key), "not used by batch renders; "
                                                              "select frames with frames = [first, last]")))
    if method is not None and "method" not in table and "method" not in defaults:
        settings = dataclasses.replace(settings, method=method)

    inputs: tuple[Path, ...] = ()
    src = table if "inputs" in table else defaults
    with where.collect():
        if "inputs" not in src:
            raise where.error(kp, "no inputs; add inputs = [\"clip.mp4\", \"shots/*.mp4\", \"frames/\"]")
        inputs = _expand_inputs(where, (kp if src is table else ("defaults",)) + ("inputs",), src["inputs"], base)
    styles: tuple = ()
    src = table if "styles" in table else defaults
    if "styles" in src:
        styles = _styles(where, (kp if src is table else ("defaults",)) + ("styles",), src["styles"], base)
    models = table.get("models", defaults.get("models", []))
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        where.problems.append(str(where.error(kp + ("models",),
                                              f"expected a list of model names or files, got {models!r}")))
        models = []
    models = tuple(str((base / m).resolve()) if ("/" in m or m.endswith(".safetensors")) else m for m in models)
    if not styles and not models and not ("styles" in table or "styles" in defaults):
        where.problems.append(str(where.error(kp, "no styles and no models; add styles = [\"style.jpg\"] or "
                                                  "models = [\"name\"]")))
    if settings.mask is not None:
        origin = kp if "mask" in table else ("defaults",)
        for inp in inputs:
            matte = mask_path(settings.mask, str(name), inp, base)
            if not matte.exists():
                where.problems.append(str(where.error(origin + ("mask",), f"matte {matte} for input {inp.name} "
                                                                         "not found")))
    for frame, template in key_images:
        origin = kp if isinstance(table.get("keyframes"), dict) and "images" in table["keyframes"] else ("defaults",)
        for inp in inputs:
            image = mask_path(template, str(name), inp, base)
            if not image.is_file():
                where.problems.append(str(where.error(origin + ("keyframes", "images"),
                                                      f"keyframe image {image} (frame {frame}) for input "
                                                      f"{inp.name} not found")))
    if len(where.problems) > before:
        return None
    return Job(name=str(name), index=i, inputs=inputs, styles=styles, models=models, settings=settings,
               configs=configs, keyframe_images=key_images)


__all__ = [
    "CONFIGS_DIR",
    "SECTIONS",
    "TEMPLATE_FIELDS",
    "Job",
    "JobFile",
    "Settings",
    "key_lines",
    "keyframe_image_paths",
    "load_jobs",
    "load_preset_configs",
    "mask_path",
    "preset_path",
]
