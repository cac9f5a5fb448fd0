"""Decoders that invert VGG-19 features back to images (for WCT and AdaIN).

A decoder for level ``reluK_1`` is the mirror image of :class:`vidstyle.nets.vgg.VGGEncoder`
up to that layer: every 3×3 conv ``a→b`` of the encoder becomes a conv ``b→a`` (reflection
padding, ReLU), every max-pool becomes a 2× nearest-neighbour upsample, and the last conv
maps to RGB without an activation (Huang & Belongie 2017; Li et al. 2017). Its input is
``N×C×h×w`` features at that level, its output ``N×3×(h·2^(K−1))×(w·2^(K−1))`` RGB that is
in [0, 1] after training (callers clamp).

Trained weights live in ``models/decoder-<method>-<level>.safetensors`` beside a JSON model
card (``.json``, same stem) that records the file's SHA-256, the level, the VGG-19 weights
the decoder was trained against, the steps actually trained and the final losses.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import WeightsError
from ..weights import card_path, model_weights, models_dir

#: Levels a decoder can be built for (the first ReLU of each VGG block).
LEVELS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def _encoder_ops(level: str) -> list[tuple[int, int] | str]:
    """The encoder's convs ``(in, out)`` and pools ``"M"`` from the input up to ``level``'s conv."""
    if level not in LEVELS:
        raise WeightsError(f"no decoder for layer {level!r}; use one of {', '.join(LEVELS)}")
    from torchvision.models.vgg import cfgs  # torchvision's import is slow: only when a decoder is built

    block = int(level[4])
    ops: list[tuple[int, int] | str] = []
    channels, current, first_in_block = 3, 1, True
    for v in cfgs["E"]:
        if v == "M":
            ops.append("M")
            current, first_in_block = current + 1, True
            continue
        ops.append((channels, int(v)))
        channels = int(v)
        if current == block and first_in_block:
            break  # reluK_1's conv: the deepest one the decoder mirrors
        first_in_block = False
    return ops


class Decoder(nn.Module):
    """Mirror of VGG-19 from ``level`` back to RGB.

    Args:
        level: ``relu1_1`` … ``relu5_1``.

    ``forward(features N×C×h×w) -> N×3×H×W`` (unclamped; ≈[0, 1] once trained). The buffer
    ``input_scale`` (scalar) multiplies the features first.
    """

    def __init__(self, level: str = "relu4_1") -> None:
        super().__init__()
        self.level = level
        layers: list[nn.Module] = []
        ops = _encoder_ops(level)
        for i, op in enumerate(reversed(ops)):
            if op == "M":
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
                continue
            c_in, c_out = op  # encoder direction; the decoder maps c_out → c_in
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(c_out, c_in, 3)]
            if i < len(ops) - 1:
                layers.append(nn.ReLU())
        self.layers = nn.Sequential(*layers)
        # Features are divided by their typical RMS before the first conv (set once from training data,
        # saved with the weights): caffe-scale relu1_1 features reach the hundreds, relu4_1 ones are ~1,
        # and the same Adam step size must suit every level.
        self.register_buffer("input_scale", torch.ones(()))

    @property
    def in_channels(self) -> int:
        return next(m for m in self.layers if isinstance(m, nn.Conv2d)).in_channels

    @property
    def scale(self) -> int:
        """Spatial factor between input features and output image."""
        return 2 ** sum(isinstance(m, nn.Upsample) for m in self.layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features * self.input_scale)

    def init_from(self, other: Decoder) -> int:
        """Copy the weights of a decoder of the same or a shallower level into this one's matching tail.

        The decoder of ``reluK_1`` ends with exactly the layers of the ``relu(K−1)_1`` decoder.
        Returns the number of convs copied.
        """
        mine, theirs = list(self.layers), list(other.layers)
        if len(theirs) > len(mine):
            raise WeightsError(f"cannot start a {self.level} decoder from a deeper {other.level} one")
        offset = len(mine) - len(theirs)
        copied = 0
        with torch.no_grad():
            for i, layer in enumerate(theirs):
                if isinstance(layer, nn.Conv2d):
                    target = mine[offset + i]
                    assert isinstance(target, nn.Conv2d) and target.weight.shape == layer.weight.shape
                    target.weight.copy_(layer.weight)
                    target.bias.copy_(layer.bias)
                    copied += 1
            if other.level == self.level:
                self.input_scale.copy_(other.input_scale)
        return copied


def default_decoder_path(method: str, level: str) -> Path:
    """``models/decoder-<method>-<level>.safetensors`` (``$VIDSTYLE_MODELS`` overrides the folder)."""
    return models_dir() / f"decoder-{method}-{level}.safetensors"


def train_hint(method: str, level: str) -> str:
    return (f"train it with `vidstyle train-decoder --method {method} --level {level} "
            f"--content DIR{' --styles DIR' if method == 'adain' else ''} --out {default_decoder_path(method, level)}`")


def load_decoder(path: str | Path | None = None, method: str = "adain", level: str = "relu4_1",
                 vgg_normalisation: str | None = None, device: torch.device | str = "cpu") -> Decoder:
    """Load trained decoder weights into a :class:`Decoder`, in eval mode on ``device``.

    Args:
        path: weight file; default :func:`default_decoder_path` for ``method``/``level``. Its model card (when
            present) declares it and its SHA-256 is checked (:func:`vidstyle.weights.model_weights`).
        vgg_normalisation: normalisation of the encoder the caller uses (``caffe``/``torch``);
            a decoder trained against another VGG-19 would produce garbage, so that is an error.

    Raises:
        WeightsError: missing file (with how to train it), checksum mismatch against the model
            card, unreadable file, or weights of another level/architecture.
    """
    path = Path(path) if path is not None else default_decoder_path(method, level)
    if not path.is_file():
        raise WeightsError(f"decoder weights for {method} at {level} not found: {path}; {train_hint(method, level)}")
    tensors, meta = model_weights(path, verify=card_path(path).is_file()).load()
    file_level = meta.get("level", level)
    if file_level != level:
        raise WeightsError(f"{path} is a decoder for {file_level}, not {level}; pass the right file or {train_hint(method, level)}")
    if vgg_normalisation and meta.get("vgg_normalisation", vgg_normalisation) != vgg_normalisation:
        raise WeightsError(f"{path} was trained against {meta['vgg_normalisation']}-normalised VGG-19 weights, but the "
                           f"loaded VGG-19 is {vgg_normalisation}-normalised; use the same --vgg source or retrain")
    decoder = Decoder(level)
    try:
        decoder.load_state_dict(tensors)
    except RuntimeError:
        raise WeightsError(f"{path} does not hold a VGG-19 mirror decoder for {level} (wrong tensor names or shapes); "
                           f"{train_hint(method, level)}") from None
    return decoder.to(device).eval().requires_grad_(False)


__all__ = ["LEVELS", "Decoder", "card_path", "default_decoder_path", "load_decoder", "train_hint"]
