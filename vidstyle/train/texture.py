"""Training a texture network (Ulyanov et al. 2016) on one texture image with the Gram loss.

Each step draws ``batch_size`` noise pyramids, generates samples of ``size``×``size`` and
minimises the relative Gram loss (:func:`vidstyle.losses.style_loss`) to the texture's
Gram matrices on relu1_1…relu5_1. The loop is :func:`vidstyle.train.loop.drive`
(checkpoints, Ctrl-C, ``--resume``, progress); the result is fp16 safetensors with the
:class:`~vidstyle.nets.texture.TextureSpec` in its metadata, a JSON card (texture image
and SHA-256, steps, final losses, weights' SHA-256) and a loss-curve PNG.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from ..config import TextureTrainConfig
from ..errors import VidstyleError, WeightsError
from ..losses import gram_matrix, style_loss
from ..nets.texture import TextureNet, TextureSpec, count_parameters
from ..nets.vgg import VGGEncoder

#: ``kind`` of texture-network model cards (``vidstyle models --all`` lists them).
TEXTURE_KIND = "texture-network"
FORMAT = "vidstyle-texture-1"


def train_texture(texture: str | Path, out: str | Path, encoder: VGGEncoder, cfg: TextureTrainConfig = TextureTrainConfig(),
                  checkpoint: str | Path | None = None, resume: bool = False, force: bool = False,
                  progress: bool = True, name: str | None = None) -> dict[str, Any]:
    """Train a generator for ``texture``; write ``out`` (fp16 safetensors), its card and loss curve.

    Args:
        texture: the texture (style) image.
        out: ``models/NAME-texture.safetensors``.
        encoder: VGG-19 reaching the deepest of ``cfg.style_layers`` (a small stand-in works in tests).

    Returns:
        The model card.
    """
    from ..media.image import load_image, resize_long_side
    from ..weights import save_safetensors, sha256_file, write_card
    from .common import plot_losses
    from .loop import drive_to_end

    texture, out = Path(texture), Path(out)
    if out.suffix != ".safetensors":
        raise VidstyleError(f"--out must end in .safetensors, got {out}")
    if out.exists() and not force and not resume:
        raise VidstyleError(f"{out} exists; pass --force to overwrite it")
    device = next(encoder.parameters()).device
    style = resize_long_side(load_image(texture), cfg.style_size or cfg.size).to(device)
    with torch.no_grad():
        targets = {k: gram_matrix(v) for k, v in encoder(style, cfg.style_layers).items()}
    torch.manual_seed(cfg.seed)
    net = TextureNet(TextureSpec(scales=cfg.scales, channels=cfg.channels, tileable=cfg.tileable)).to(device)

    def step_fn(g: torch.Generator) -> dict[str, torch.Tensor]:
        x = net(net.noise(cfg.batch_size, cfg.size, cfg.size, g, device))
        feats = encoder(x, cfg.style_layers)
        loss = style_loss({k: gram_matrix(v) for k, v in feats.items()}, targets, relative=True)
        return {"style": loss, "total": loss}

    name = name or out.stem
    steps, history, seconds = drive_to_end(net, step_fn, cfg, out, checkpoint, resume, progress, f"train {name}",
                                           extra={"config": asdict(cfg), "texture": str(texture)})
    net = net.cpu().eval()
    meta = {**net.spec.to_metadata(), "name": name, "format": FORMAT}
    digest = save_safetensors(net.state_dict(), out, metadata=meta, half=True)
    curve = plot_losses(history, out.with_name(f"{out.stem}.loss.png"), title=f"{name}: training loss")
    card = {
        "name": name, "arch": f"texture-{cfg.scales}x{cfg.channels}", "kind": TEXTURE_KIND,
        "style": {"file": texture.name, "sha256": sha256_file(texture)},
        "training": {"steps": steps, "total_steps": steps, "size": cfg.size, "style_size": cfg.style_size or cfg.size,
                     "batch_size": cfg.batch_size, "lr": cfg.lr, "style_layers": list(cfg.style_layers),
                     "tileable": cfg.tileable, "seed": cfg.seed, "device": str(device),
                     "seconds_last_run": round(seconds, 1), "vgg": encoder.normalisation},
        "final_losses": {k: round(v, 6) for k, v in history.summary(20).items()},
        "weights": {"file": out.name, "sha256": digest, "bytes": out.stat().st_size, "dtype": "float16",
                    "parameters": count_parameters(net)},
        "loss_curve": curve.name,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "benchmark": {"speed": None, "e_warp": None},
    }
    write_card(out, card)
    return card


def load_texture_net(model: str | Path, device: torch.device | str = "cpu", verify: bool = True
                     ) -> tuple[TextureNet, dict[str, Any]]:
    """Load a trained texture network by name (``starry-night-texture`` or ``starry-night``) or path.

    The weights' SHA-256 must match the card's. Returns ``(net in eval mode, card)``.
    """
    from ..weights import model_kind, model_weights, models_dir

    p = Path(str(model))
    if p.suffix != ".safetensors" and not p.exists() and not str(model).endswith("-texture"):
        if (models_dir() / f"{model}-texture.safetensors").is_file():
            model = f"{model}-texture"
    entry = model_weights(model, verify)
    if entry.meta and model_kind(entry) != TEXTURE_KIND:
        raise WeightsError(f"{entry.path} is a {entry.meta.get('kind', 'feed-forward')} model, not a texture network "
                           "(train one with `vidstyle train-texture`)")
    tensors, meta = entry.load()
    if meta.get("format") != FORMAT:
        raise WeightsError(f"{entry.path} is not a texture network (format {meta.get('format')!r})")
    net = TextureNet(TextureSpec.from_metadata(meta))
    try:
        net.load_state_dict(tensors)
    except RuntimeError as e:
        raise WeightsError(f"{entry.path} does not match its texture network: {str(e).splitlines()[0]}") from None
    return net.to(device).eval(), dict(entry.meta)


__all__ = ["train_texture", "load_texture_net", "TEXTURE_KIND"]
