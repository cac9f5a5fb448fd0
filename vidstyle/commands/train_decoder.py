"""``vidstyle train-decoder``: train the decoder of the WCT or AdaIN arbitrary-style method."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..cli import DeviceOpt, ForceOpt, QuietOpt, SeedOpt, VggOpt, app, literal_choices
from ..config import DecoderTrainConfig as Defaults

DecoderMethod = literal_choices("DecoderMethod", Defaults, "method")


@app.command("train-decoder")
def train_decoder(
    method: Annotated[DecoderMethod, typer.Option(help="wct: feature inversion; adain: AdaIN content+style loss.")],  # type: ignore[valid-type]
    content: Annotated[list[Path], typer.Option("--content", help="Folder of content photos; repeatable.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output weights, e.g. models/decoder-adain-relu4_1.safetensors.")],
    level: Annotated[str, typer.Option(help="VGG-19 level the decoder inverts: relu1_1 … relu5_1.")] = "relu4_1",
    styles: Annotated[list[Path] | None, typer.Option("--styles", help="Folder of paintings (adain); repeatable.")] = None,
    steps: Annotated[int | None, typer.Option(min=1, show_default=str(Defaults.steps), help="Total optimiser steps.")] = None,
    size: Annotated[int | None, typer.Option(min=32, show_default=str(Defaults.size), help="Training crop side in pixels.")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, show_default=str(Defaults.batch_size), help="Crops per optimiser step.")] = None,
    lr: Annotated[float | None, typer.Option(min=0.0, show_default=str(Defaults.lr), help="Adam learning rate (decayed as lr / (1 + lr_decay·step)).")] = None,
    style_weight: Annotated[float | None, typer.Option(min=0.0, help="adain: weight of the relative style term.")] = None,
    content_weight: Annotated[float | None, typer.Option(min=0.0, help="adain: weight of the relative content term.")] = None,
    checkpoint: Annotated[Path | None, typer.Option(help="Training-state file (default ~/.cache/vidstyle/train/OUT-STEM.ckpt.pt).")] = None,
    checkpoint_every: Annotated[int | None, typer.Option(min=1, show_default=str(Defaults.checkpoint_every), help="Save a checkpoint every N steps.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the checkpoint.")] = False,
    init: Annotated[Path | None, typer.Option(help="Start from a trained decoder of the same or a shallower level.")] = None,
    seed: SeedOpt = None,
    vgg: VggOpt = "auto",
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads (default: all usable cores).")] = None,
    device: DeviceOpt = "auto",
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train a decoder for arbitrary style transfer (WCT or AdaIN); checkpoints, Ctrl-C saves, --resume continues."""
    import torch

    from ..config import DecoderTrainConfig, replace
    from ..device import resolve_device, use_all_cores
    from ..errors import VidstyleError
    from ..nets.vgg import load_vgg
    from ..train.decoder import train_decoder as run

    if out.exists() and not (force or resume):
        raise VidstyleError(f"{out} exists; pass --force to overwrite or --resume to continue training")
    from ..media.atomic import check_output

    check_output(out, force=True)  # folder missing / not writable: say so before loading VGG or training
    if threads:
        torch.set_num_threads(threads)
    else:
        use_all_cores()
    cfg = replace(DecoderTrainConfig(method=str(method.value), level=level), steps=steps, size=size,
                  batch_size=batch_size, lr=lr, style_weight=style_weight, content_weight=content_weight,
                  checkpoint_every=checkpoint_every, seed=seed)
    dev = resolve_device(device)
    layers = cfg.style_layers if cfg.method == "adain" else (cfg.level,)
    encoder = load_vgg(layers, source=vgg, device=dev)
    card = run(cfg, content, styles or [], out, encoder, checkpoint=checkpoint, resume=resume, init=init, device=dev,
               progress=not quiet, force=force)
    typer.echo(f"wrote {out} ({card['training']['steps']} steps, losses {card['final_losses']})")
