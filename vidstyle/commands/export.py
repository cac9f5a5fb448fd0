"""``vidstyle export``: a trained feed-forward model as ONNX (for onnxruntime, TensorRT, browsers…)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..cli import ForceOpt, app


@app.command()
def export(
    model: Annotated[str, typer.Argument(help="Model name (see `vidstyle models`) or .safetensors path.")],
    onnx: Annotated[Path, typer.Option("--onnx", help="The .onnx file to write (dynamic batch, height and width).")],
    force: ForceOpt = False,
) -> None:
    """Export a feed-forward model to ONNX; checked against PyTorch when onnxruntime is installed."""
    from ..nets.onnx import OPSET, export_onnx
    from ..nets.transformer import load_transformer

    net, card = load_transformer(model)
    info = export_onnx(net, onnx, force=force)
    diff = info["max_abs_diff"]
    check = "not checked (onnxruntime not installed)" if diff != diff else f"max |Δ| vs PyTorch {diff:.1e}"
    typer.echo(f"wrote {onnx} ({card.get('name', model)}, opset {OPSET}; {check})")
