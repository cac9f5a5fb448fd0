"""The weights the project trains and ships: ``models/NAME.safetensors`` declared by ``models/NAME.json``.

A model card is the declaration of its weight file: its ``kind`` (feed-forward transformer, AdaIN/WCT decoder,
geometry regressor, texture network, magenta generator, …), style image and its SHA-256, training data and steps,
final losses, and ``weights.sha256`` — checked on every load, so a corrupt or swapped file is one clear error
instead of garbage frames. Models are discovered from the cards in the folder (:func:`list_models`), never from a
list in the code: a new card and weight file is a new model.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import VidstyleError, WeightsError
from .core import Weights, sha256_file

#: Keys every model card must have (tests check the shipped ones).
CARD_KEYS = ("name", "arch", "style", "training", "final_losses", "weights", "benchmark")
#: ``kind`` of a feed-forward style network's card (the default of cards without one).
FEEDFORWARD = "feedforward-transformer"
#: ``kind`` of an any-style generator's card (``vidstyle train-multistyle``: run with ``--method magenta --model``).
GENERATOR = "magenta-generator"
#: The kinds ``vidstyle models`` lists by default: what ``--model`` can render with.
STYLISERS = (FEEDFORWARD, GENERATOR)


def models_dir() -> Path:
    """Folder of the weights the project ships (``$VIDSTYLE_MODELS`` overrides): package data, found through
    ``importlib.resources`` so a non-editable install finds them too."""
    from ..config import package_data

    env = os.environ.get("VIDSTYLE_MODELS")
    return Path(env) if env else package_data("models")


def card_path(weights: str | Path) -> Path:
    """The JSON model card beside a weight file."""
    return Path(weights).with_suffix(".json")


def write_card(weights: str | Path, card: dict[str, Any]) -> Path:
    """Write the JSON card beside ``weights`` atomically."""
    from ..media.atomic import replacing

    path = card_path(weights)
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(card, indent=2, sort_keys=False) + "\n")
    return path


def read_card(weights: str | Path) -> dict[str, Any]:
    """The card of a weight file.

    Raises:
        WeightsError: missing, unreadable or not a JSON object.
    """
    path = card_path(weights)
    if not path.is_file():
        raise WeightsError(f"model card {path} is missing; a model needs its .json card (written by vidstyle train)")
    try:
        card = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise WeightsError(f"cannot read model card {path}: {e}") from None
    if not isinstance(card, dict):
        raise WeightsError(f"model card {path} is not a JSON object")
    return card


def update_card(model_file: str | Path, **changes: Any) -> dict[str, Any]:
    """Merge ``changes`` into nested dicts of the card of ``model_file`` (e.g. ``benchmark={...}``) and rewrite it."""
    card = read_card(model_file)
    for k, v in changes.items():
        if isinstance(v, dict) and isinstance(card.get(k), dict):
            card[k].update(v)
        else:
            card[k] = v
    write_card(model_file, card)
    return card


def resolve_model(model: str | Path) -> Path:
    """A model name (``starry-night``, ``starry-night-lite``) or a path → the weight file."""
    p = Path(model)
    if p.suffix == ".safetensors" or p.exists():
        if not p.is_file():
            raise VidstyleError(f"model file not found: {p}")
        return p
    candidate = models_dir() / f"{model}.safetensors"
    if candidate.is_file():
        return candidate
    names = ", ".join(m.name for m in list_models()) or "none installed"
    raise VidstyleError(f"unknown model {model!r}; installed: {names} (see `vidstyle models`)")


def model_weights(model: str | Path, verify: bool = True, missing: str | None = None) -> Weights:
    """The declared entry of a trained model — a name in the models folder or a ``.safetensors`` file — from its card.

    Args:
        verify: the card (and its ``weights.sha256``) is required; without it a card is read when present but the
            file is not checked (a user's work in progress).
        missing: the one-line message when ``model`` is a path that does not exist (default: "model file not found").

    Returns:
        a :class:`Weights` with ``source="models"``, ``path`` the file, ``meta`` the card (``{}`` without one).

    Raises:
        WeightsError: missing/unreadable card or no ``weights.sha256`` (when ``verify``), or ``missing``.
        VidstyleError: an unknown name or missing file.
    """
    if missing is not None and Path(model).suffix == ".safetensors" and not Path(model).is_file():
        raise WeightsError(missing)
    path = resolve_model(model)
    card = read_card(path) if verify or card_path(path).is_file() else {}
    sha = (card.get("weights") or {}).get("sha256", "") if isinstance(card.get("weights"), dict) else ""
    if verify and not sha:
        raise WeightsError(f"model card {card_path(path)} has no weights.sha256; retrain or rewrite the card")
    return Weights(name=str(card.get("name", path.stem)), file=path.name, sha256=sha if verify else "",
                   source="models", meta=card, path=path)


def model_kind(entry: Weights) -> str:
    """The ``kind`` of a model entry's card (feed-forward networks' cards may omit it)."""
    return str(entry.meta.get("kind", FEEDFORWARD))


@dataclass(frozen=True)
class ModelInfo:
    """One installed model, as listed by ``vidstyle models``."""

    name: str
    arch: str
    kind: str
    path: Path
    card: Path
    size_mb: float
    style_file: str
    thumbnail: Path | None
    steps: int | None
    problem: str | None = None  # why the model cannot be used (missing/broken card), listed with ``broken=True``

    def verified(self) -> bool:
        """The card is sound and the file's SHA-256 matches it."""
        if self.problem is not None:
            return False
        try:
            model_weights(self.path).locate()
        except (WeightsError, VidstyleError):
            return False
        return True


def list_models(folder: str | Path | None = None, kind: str | tuple[str, ...] | None = FEEDFORWARD,
                broken: bool = False) -> list[ModelInfo]:
    """Models (weights with a card) in ``folder`` (default: :func:`models_dir`), sorted by file name.

    ``kind`` filters on the card's ``kind`` (feed-forward stylisers by default; None lists every kind, e.g. the
    decoders of arbitrary style transfer too). ``broken=True`` also lists weight files whose card is missing or
    unreadable, with ``problem`` saying why.
    """
    folder = Path(folder) if folder else models_dir()
    out = []
    for w in sorted(folder.glob("*.safetensors")) if folder.is_dir() else []:
        try:
            card = read_card(w)
        except WeightsError as e:
            if broken:
                out.append(ModelInfo(name=w.stem, arch="?", kind="?", path=w, card=card_path(w),
                                     size_mb=w.stat().st_size / 1e6, style_file="-", thumbnail=None, steps=None,
                                     problem=str(e)))
            continue
        if kind is not None and card.get("kind", FEEDFORWARD) not in ((kind,) if isinstance(kind, str) else kind):
            continue
        style = card.get("style") or {}
        thumb = style.get("thumbnail")
        thumb_path = (folder / thumb) if thumb else None
        out.append(ModelInfo(name=card.get("name", w.stem), arch=card.get("arch", "?"),
                             kind=card.get("kind", FEEDFORWARD), path=w, card=card_path(w),
                             size_mb=w.stat().st_size / 1e6, style_file=style.get("file") or "-",
                             thumbnail=thumb_path if thumb_path and thumb_path.is_file() else None,
                             steps=card.get("training", {}).get("total_steps", card.get("training", {}).get("steps"))))
    return out


def find_model_for_style(style_path: str | Path, arch: str = "full", folder: str | Path | None = None) -> str | None:
    """Name of an installed feed-forward model trained on this style image, or None.

    Matches by SHA-256 of the style file first, then by file stem (``starry_night.jpg`` ↔ a card whose
    style file is ``starry_night.jpg``, or a model named ``starry-night``). Prefers ``arch``.
    """
    style_path = Path(style_path)
    models = list_models(folder)
    if not models:
        return None
    digest = sha256_file(style_path) if style_path.is_file() else None
    stem = style_path.stem.lower().replace("_", "-")

    def rank(m: ModelInfo) -> tuple[int, int] | None:
        card = read_card(m.path)
        style = card.get("style", {})
        if digest and style.get("sha256") == digest:
            hit = 0
        elif Path(style.get("file", "")).stem.lower().replace("_", "-") == stem or m.name.removesuffix("-lite") == stem:
            hit = 1
        else:
            return None
        return hit, 0 if m.arch == arch else 1

    scored = [(r, m.name) for m in models if (r := rank(m)) is not None and "notemporal" not in m.name]
    return min(scored)[1] if scored else None


__all__ = ["CARD_KEYS", "FEEDFORWARD", "ModelInfo", "card_path", "find_model_for_style", "list_models", "model_kind",
           "model_weights", "models_dir", "read_card", "resolve_model", "update_card", "write_card"]
