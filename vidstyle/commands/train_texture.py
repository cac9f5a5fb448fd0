"""``vidstyle train-texture``: train a texture network (Ulyanov et al. 2016) on one texture image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..cli import DeviceOpt, ForceOpt, QuietOpt, SeedOpt, VggOpt, app


@app.command("train-texture")
def train_texture(
    texture: Annotated[Path, typer.Argument(help="Texture (style) image.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output weights, e.g. models/NAME-texture.safetensors.")],
    steps: Annotated[Optional[int], typer.Option(min=1, help="Adam steps.")] = None,
    size: Annotated[Optional[int], typer.Option(min=32, help="Side of the square training samples.")] = None,
    style_size: Annotated[Optional[int], typer.Option(min=32, help="Long side of the texture image (default: --size).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1)] = None,
    lr: Annotated[Optional[float], typer.Option(min=0.0)] = None,
    tileable: Annotated[bool, typer.Option("--tileable", help="Circular padding: samples tile seamlessly.")] = False,
    checkpoint: Annotated[Optional[Path], typer.Option(help="Training-state file (default ~/.cache/vidstyle/train/OUT-STEM.ckpt.pt).")] = None,
    checkpoint_every: Annotated[Optional[int], typer.Option(min=1)] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the checkpoint.")] = False,
    seed: SeedOpt = None,
    vgg: VggOpt = "auto",
    threads: Annotated[Optional[int], typer.Option(min=1, help="CPU threads (default: all usable cores).")] = None,
    device: DeviceOpt = "auto",
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train a feed-forward texture generator; then `vidstyle texture --model NAME --seed N` samples it."""
    import torch

    from ..config import TextureTrainConfig, replace
    from ..device import resolve_device, use_all_cores
    from ..errors import VidstyleError
    from ..nets.vgg import load_vgg
    from ..train.texture import train_texture as run

    if out.suffix != ".safetensors":
        raise VidstyleError(f"--out must end in .safetensors, got {out}")
    if out.exists() and not (force or resume):
        raise VidstyleError(f"{out} exists; pass --force to overwrite or --resume to continue training")
    if not out.parent.is_dir():
        raise VidstyleError(f"output folder {out.parent} does not exist")
    if threads:
        torch.set_num_threads(threads)
    else:
        use_all_cores()
    cfg = replace(TextureTrainConfig(tileable=tileable), steps=steps, size=size, style_size=style_size,
                  batch_size=batch_size, lr=lr, checkpoint_every=checkpoint_every, seed=seed)
    dev = resolve_device(device)
    encoder = load_vgg(cfg.style_layers, source=vgg, device=dev)
    card = run(texture, out, encoder, cfg, checkpoint=checkpoint, resume=resume, force=force, progress=not quiet)
    typer.echo(f"wrote {out} ({card['training']['steps']} steps, losses {card['final_losses']})")
