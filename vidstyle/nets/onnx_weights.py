"""Reading the float weights of a quantise-dequantise (QDQ) ONNX graph into PyTorch layers.

tf2onnx's int8 graphs store each conv weight and bias as an integer initializer feeding a
``DequantizeLinear`` node: ``w = (q − zero_point) · scale``, with ``scale``/``zero_point`` scalars (per tensor) or
vectors along ``axis`` (per channel; ONNX's default axis is 1). Conv weights are already in ONNX's (= PyTorch's)
``out×in/groups×kH×kW`` layout — tf2onnx transposed TensorFlow's ``HWIO``/NHWC when it converted — so the only
layout mapping left is for 1×1 convs on a vector, which become ``nn.Linear`` (``out×in×1×1`` → ``out×in``).

:func:`conv_weights` finds every ``Conv`` node and names it by its weight initializer's scope (the name without
``/weights`` or ``/depthwise_weights``); :func:`load_into` copies them into a ``{scope: layer}`` map and checks that
every layer got a weight of the right shape — a graph that does not match is a :class:`WeightsError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import WeightsError

_WEIGHT_SUFFIXES = ("/depthwise_weights", "/weights")


def dequantise(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int = 1) -> np.ndarray:
    """``(q − zero_point) · scale`` as float32; per-channel ``scale``/``zero_point`` broadcast along ``axis``."""
    x = q.astype(np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    zp = np.zeros_like(scale) if zero_point is None else np.asarray(zero_point, dtype=np.float64)
    if scale.ndim == 1 and x.ndim > 1:
        shape = [1] * x.ndim
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return ((x - zp) * scale).astype(np.float32)


def _graph_values(model: Any) -> dict[str, np.ndarray]:
    """Every initializer, plus the output of every ``DequantizeLinear`` of an initializer (dequantised)."""
    from onnx import helper, numpy_helper

    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in values:
            continue
        axis = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), 1)
        zp = values[node.input[2]] if len(node.input) > 2 and node.input[2] else None
        values[node.output[0]] = dequantise(values[node.input[0]], values[node.input[1]], zp, axis)
    return values


def _scope(name: str) -> str:
    for suffix in _WEIGHT_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def conv_weights(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """``{scope: (weight, bias or None)}`` for every ``Conv`` node of the ONNX file at ``path``, as float32.

    The scope is the weight initializer's name without its ``/weights`` suffix (for QDQ graphs, the name of the
    quantised initializer behind the ``DequantizeLinear``).

    Raises:
        WeightsError: unreadable file, or a conv whose weight is not a constant.
    """
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as e:  # protobuf's DecodeError, OSError…
        raise WeightsError(f"cannot read ONNX weight file {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    values = _graph_values(model)
    producer = {o: n for n in model.graph.node for o in n.output}

    def source_name(tensor: str) -> str:  # the initializer behind a DequantizeLinear, else the tensor itself
        node = producer.get(tensor)
        return node.input[0] if node is not None and node.op_type == "DequantizeLinear" else tensor

    out: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        if node.input[1] not in values:
            raise WeightsError(f"{path}: conv {node.name or node.output[0]} has no constant weight")
        bias = values.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        out[_scope(source_name(node.input[1]))] = (values[node.input[1]], bias)
    return out


def load_into(layers: dict[str, nn.Module], weights: dict[str, tuple[np.ndarray, np.ndarray | None]],
              source: str | Path) -> None:
    """Copy ``weights`` (from :func:`conv_weights`) into ``layers`` (``nn.Conv2d`` or ``nn.Linear`` by scope).

    Raises:
        WeightsError: a layer without a weight in the file, or a shape that does not match.
    """
    missing = sorted(set(layers) - set(weights))
    if missing:
        raise WeightsError(f"{source} is not the expected network: no weights for {missing[0]}"
                           + (f" and {len(missing) - 1} more layers" if len(missing) > 1 else ""))
    with torch.no_grad():
        for scope, layer in layers.items():
            w, b = weights[scope]
            target = layer.weight
            if isinstance(layer, nn.Linear) and w.ndim == 4:
                w = w.reshape(w.shape[0], w.shape[1])
            if tuple(w.shape) != tuple(target.shape):
                raise WeightsError(f"{source}: {scope} has shape {tuple(w.shape)}, the network expects "
                                   f"{tuple(target.shape)}")
            target.copy_(torch.from_numpy(w))
            if layer.bias is None:
                if b is not None and np.any(b):
                    raise WeightsError(f"{source}: {scope} has a bias the network does not expect")
            else:
                layer.bias.copy_(torch.from_numpy(b.reshape(-1)) if b is not None else torch.zeros_like(layer.bias))


__all__ = ["conv_weights", "dequantise", "load_into"]
