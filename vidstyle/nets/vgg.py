"""VGG-19 as a multi-layer feature extractor — the loss network of every method.

Layer names (``conv1_1``, ``relu1_1``, ``pool1``, …, ``relu5_4``) are defined
here and nowhere else. :class:`VGGEncoder` takes RGB images in [0, 1], applies
the normalisation its weights were trained with, runs only as deep as the
deepest requested layer, and returns every requested layer from one pass.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import VidstyleError
from ..weights import TORCHVISION_CONV_INDICES, load_vgg_state, locate_vgg

_BLOCKS = (2, 2, 4, 4, 4)


def _layer_names() -> tuple[str, ...]:
    names: list[str] = []
    for b, n in enumerate(_BLOCKS, start=1):
        for i in range(1, n + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return tuple(names)


#: Names of ``torchvision.models.vgg19().features`` modules, by index.
LAYER_NAMES: tuple[str, ...] = _layer_names()
LAYER_INDEX: dict[str, int] = {n: i for i, n in enumerate(LAYER_NAMES)}

_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def layer_index(name: str) -> int:
    try:
        return LAYER_INDEX[name]
    except KeyError:
        raise VidstyleError(f"unknown VGG-19 layer {name!r}; use names like relu4_2 or conv3_1") from None


class VGGEncoder(nn.Module):
    """Frozen VGG-19 ``features``, truncated after ``last_layer``.

    Args:
        state: a ``features``-style state dict (``"{idx}.weight"``) — see :mod:`vidstyle.weights`.
        normalisation: ``"caffe"`` or ``"torch"`` (what the weights expect).
        last_layer: deepest layer that will be requested.
        pool: ``"max"`` (as trained) or ``"avg"`` (Gatys et al.'s choice for synthesis).
        padding: ``"zeros"`` (as trained), ``"reflect"`` or ``"replicate"``. Image optimisation uses
            ``reflect``: zero padding is a mean-grey frame around the image in the network's input space,
            and the style loss painted a light line 2–4 px inside every edge of optimised stills to answer
            it (128 px chelsea × starry, 60 steps: edge band +0.028 luma over the interior with zeros,
            +0.014 with reflect; outermost pixel −0.055 vs −0.022). Maps under 2 px (deep layers of tiny
            images) are padded by replication, which reflection cannot do.
    """

    def __init__(self, state: dict[str, torch.Tensor] | None, normalisation: str, last_layer: str = "relu5_1",
                 pool: str = "max", widths: tuple[int, ...] | None = None, padding: str = "zeros") -> None:
        super().__init__()
        depth = layer_index(last_layer) + 1
        from torchvision.models.vgg import cfgs, make_layers  # torchvision's import is slow: only when built

        cfg = cfgs["E"] if widths is None else _narrow(cfgs["E"], widths)
        layers = list(make_layers(cfg).children())[:depth]  # vgg19().features, no classifier
        for i, layer in enumerate(layers):
            if isinstance(layer, nn.ReLU):
                layers[i] = nn.ReLU(inplace=False)  # conv outputs may be requested too
            elif isinstance(layer, nn.MaxPool2d) and pool == "avg":
                layers[i] = nn.AvgPool2d(2, 2)
            elif isinstance(layer, nn.Conv2d):
                layer.padding_mode = padding
        self.layers = nn.Sequential(*layers)
        if state is not None:
            self.layers.load_state_dict({k: v for k, v in state.items() if int(k.split(".")[0]) < depth})
        self.requires_grad_(False)
        self.eval()
        self.normalisation = normalisation
        self.padding = padding
        self.last_layer = last_layer
        if normalisation == "caffe":  # RGB [0,1] → BGR [0,255] − mean
            scale = torch.full((3,), 255.0)
            mean = torch.tensor(_CAFFE_MEAN_BGR[::-1])  # in RGB order; channels flipped after
        else:
            scale = 1.0 / torch.tensor(_IMAGENET_STD)
            mean = torch.tensor(_IMAGENET_MEAN) / torch.tensor(_IMAGENET_STD)
        self.register_buffer("scale", scale.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("shift", mean.view(1, 3, 1, 1), persistent=False)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """RGB [0, 1] ``N×3×H×W`` → the network's input space."""
        x = x * self.scale - self.shift
        return x.flip(1) if self.normalisation == "caffe" else x

    def forward(self, x: torch.Tensor, layers: tuple[str, ...] | list[str]) -> dict[str, torch.Tensor]:
        """Features of ``x`` (RGB in [0, 1], ``N×3×H×W``) at each named layer.

        Returns:
            ``{name: N×C×h×w}`` for every requested name, from one forward pass.
        """
        wanted = {layer_index(n): n for n in layers}
        if max(wanted) >= len(self.layers):
            raise VidstyleError(f"layer {wanted[max(wanted)]} is deeper than this encoder's last layer {self.last_layer}")
        out: dict[str, torch.Tensor] = {}
        h = self.normalise(x)
        for i, layer in enumerate(self.layers):
            if self.padding == "reflect" and isinstance(layer, nn.Conv2d) and min(h.shape[-2:]) < 2:
                h = F.conv2d(F.pad(h, (1, 1, 1, 1), mode="replicate"), layer.weight, layer.bias)
            else:
                h = layer(h)
            if i in wanted:
                out[wanted[i]] = h
                if len(out) == len(wanted):
                    break
        return out


def _narrow(cfg: list, widths: tuple[int, ...]) -> list:
    """VGG-19's layer list with block ``b``'s convs ``widths[b]`` channels wide (same layer names and depths)."""
    out, block = [], 0
    for v in cfg:
        if v == "M":
            block += 1
            out.append(v)
        else:
            out.append(widths[min(block, len(widths) - 1)])
    return out


def small_vgg(layers=("relu5_1",), widths: tuple[int, ...] = (4, 8, 8, 16, 16), seed: int = 0,
              normalisation: str = "caffe", device: torch.device | str = "cpu") -> VGGEncoder:
    """A randomly initialised, narrow VGG-19 with the real layer names — a stand-in for tests.

    Like torchvision's private ``_raft(**kwargs)`` builders: unit tests of losses and stylisers get an encoder
    with the same structure (blocks, pools, names ``relu4_2`` …) that builds in milliseconds and needs no
    weight file. Pass it as ``encoder=`` or install it for :func:`load_vgg` with the ``small_vgg`` fixture of
    ``tests/conftest.py``. Its features are meaningless; only shapes and plumbing are tested with it.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = VGGEncoder(None, normalisation, last_layer=deepest(layers), widths=widths)
    return encoder.to(device)


def deepest(layers) -> str:
    """The deepest of the given layer names."""
    return max(layers, key=layer_index)


@lru_cache(maxsize=4)
def _cached_state(source: str, path: str | None) -> tuple[dict[str, torch.Tensor], str]:
    src, found = locate_vgg(source, path)
    return load_vgg_state(src, found), str(src.meta["normalisation"])


def load_vgg(layers, source: str = "auto", path: str | Path | None = None, device: torch.device | str = "cpu",
             pool: str = "max", padding: str = "zeros") -> VGGEncoder:
    """Build a frozen :class:`VGGEncoder` deep enough for ``layers``, on ``device``.

    Weights are read (and checksummed) once per process per source.
    """
    state, norm = _cached_state(source, str(path) if path else None)
    return VGGEncoder(state, norm, last_layer=deepest(layers), pool=pool, padding=padding).to(device)


__all__ = ["LAYER_NAMES", "VGGEncoder", "load_vgg", "layer_index", "deepest", "small_vgg", "TORCHVISION_CONV_INDICES"]
