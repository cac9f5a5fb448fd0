"""The trained feed-forward models the project ships: model cards, listing, checksummed loading.

A model is ``models/NAME.safetensors`` (fp16 weights, network spec in its metadata)
beside ``models/NAME.json``, its model card: style image and its SHA-256, training
data and steps, final losses, and the SHA-256 of the weight file — checked on every
load, so a corrupt or swapped file is one clear error instead of garbage frames.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import VidstyleError, WeightsError
from .weights import models_dir, sha256_file

#: Keys every model card must have (tests check the shipped ones).
CARD_KEYS = ("name", "arch", "style", "training", "final_losses", "weights", "benchmark")


def card_path(weights: str | Path) -> Path:
    return Path(weights).with_suffix(".json")


def write_card(weights: str | Path, card: dict[str, Any]) -> Path:
    """Write the JSON card beside ``weights`` atomically."""
    path = card_path(weights)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(json.dumps(card, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)
    return path


def read_card(weights: str | Path) -> dict[str, Any]:
    path = card_path(weights)
    if not path.is_file():
        raise WeightsError(f"model card {path} is missing; a model needs its .json card (written by vidstyle train)")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise WeightsError(f"cannot read model card {path}: {e}") from None


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


FEEDFORWARD = "feedforward-transformer"


def list_models(folder: str | Path | None = None, kind: str | None = FEEDFORWARD, broken: bool = False) -> list[ModelInfo]:
    """Models (weights with a card) in ``folder`` (default: the repo's ``models/``), sorted by name.

    ``kind`` filters on the card's ``kind`` (feed-forward stylisers by default; None lists
    every kind, e.g. the decoders of arbitrary style transfer too). ``broken=True`` also lists
    weight files whose card is missing or unreadable, with ``problem`` saying why.
    """
    folder = Path(folder) if folder else models_dir()
    out = []
    for w in sorted(folder.glob("*.safetensors")) if folder.is_dir() else []:
        try:
            card = read_card(w)
            if not isinstance(card, dict):
                raise WeightsError(f"model card {card_path(w)} is not a JSON object")
        except WeightsError as e:
            if broken:
                out.append(ModelInfo(name=w.stem, arch="?", kind="?", path=w, card=card_path(w),
                                     size_mb=w.stat().st_size / 1e6, style_file="-", thumbnail=None, steps=None,
                                     problem=str(e)))
            continue
        if kind is not None and card.get("kind", FEEDFORWARD) != kind:
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


def load_transformer(model: str | Path, device="cpu", verify: bool = True):
    """Load a shipped/trained :class:`~vidstyle.nets.transformer.TransformerNet` (float32, eval mode).

    The weight file's SHA-256 must match its model card (when ``verify``).

    Returns:
        ``(net, card)``.

    Raises:
        WeightsError: missing card, checksum mismatch, corrupt file or wrong tensors — one line each.
    """
    from .nets.transformer import NetSpec, TransformerNet
    from .weights import load_safetensors

    path = resolve_model(model)
    card = read_card(path) if verify or card_path(path).is_file() else {}
    kind = card.get("kind", FEEDFORWARD) if isinstance(card, dict) else FEEDFORWARD
    if kind != FEEDFORWARD:
        raise WeightsError(f"{path} is a {kind} ({card.get('name', path.stem)}), not a feed-forward style network; "
                           "only those can be used with --model or exported (see `vidstyle models`)")
    expected = card.get("weights", {}).get("sha256") if verify else None
    if verify and not expected:
        raise WeightsError(f"model card {card_path(path)} has no weights.sha256; retrain or rewrite the card")
    tensors, meta = load_safetensors(path, expected)
    net = TransformerNet(NetSpec.from_metadata(meta))
    try:
        net.load_state_dict(tensors)
    except RuntimeError as e:
        raise WeightsError(f"{path} does not match its network ({meta.get('arch')}): {str(e).splitlines()[0]}") from None
    return net.to(device).eval(), card


def find_model_for_style(style_path: str | Path, arch: str = "full", folder: str | Path | None = None) -> str | None:
    """Name of an installed model trained on this style image, or None.

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


__all__ = ["CARD_KEYS", "FEEDFORWARD", "card_path", "write_card", "read_card", "update_card", "ModelInfo", "list_models",
           "resolve_model", "load_transformer", "find_model_for_style"]
