"""Distillation: a lite network learns to mimic a trained full network (no VGG needed).

The teacher runs in inference mode on the same random crops; the student
minimises the L1 distance to the teacher's output (``pixel_weight``), plus
optionally a relative MSE on VGG-19 features (``feature_weight`` at ``feature_layers``) that sharpens
texture at a higher cost. An order of magnitude cheaper per step than training
with the perceptual losses, since the full net only runs forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..config import TrainConfig
from ..errors import VidstyleError
from ..losses import feature_distillation_loss
from ..nets.transformer import build_net
from .loop import check_model_output, drive_to_end, finish, style_steps, training_recipe


def distil(teacher: str | Path, content: Sequence[str | Path], out: str | Path, cfg: TrainConfig = TrainConfig(),
           video: str | Path | None = None, checkpoint: str | Path | None = None, resume: bool = False,
           device: str = "auto", force: bool = False, progress: bool = True, name: str | None = None,
           vgg_source: str = "auto", **_: Any) -> dict[str, Any]:
    """Train ``cfg.arch`` (normally ``lite``) to reproduce ``teacher``'s outputs; write weights + card.

    Args:
        teacher: a trained model (name or ``.safetensors``), checksum-verified.
        content: folders of stills; ``video`` adds DAVIS frames (held-out sequences excluded).

    Returns:
        The model card of the student (style fields copied from the teacher's card).
    """
    from ..device import resolve_device
    from ..nets.transformer import load_transformer
    from .datasets import StillCrops, VideoPairs

    out = Path(out)
    if out.suffix != ".safetensors":
        raise VidstyleError(f"--out must end in .safetensors, got {out}")
    check_model_output(out, force)
    if cfg.arch == "full":
        cfg = replace(cfg, arch="lite")
    dev = resolve_device(device)
    teacher_net, teacher_card = load_transformer(teacher, device=dev)
    teacher_net.requires_grad_(False)
    student = build_net(cfg.arch, residual=cfg.residual).to(dev)
    stills = StillCrops(content, cfg.size)
    frames = VideoPairs(video, cfg.size, exclude=cfg.held_out) if video else None
    vgg = None
    if cfg.feature_weight > 0:
        from ..nets.vgg import load_vgg

        vgg = load_vgg(cfg.feature_layers, source=vgg_source, device=dev)

    def step_fn(g: torch.Generator) -> dict[str, torch.Tensor]:
        if frames is not None and float(torch.rand(1, generator=g)) < cfg.video_fraction:
            x = _frames_only(frames, cfg.batch_size, g)
        else:
            x = stills.sample(cfg.batch_size, g)
        x = x.to(dev)
        with torch.no_grad():
            target = teacher_net(x)
        y = student(x)
        losses = {"pixel": F.l1_loss(y, target)}
        total = cfg.pixel_weight * losses["pixel"]
        if vgg is not None:
            with torch.no_grad():
                ft = vgg(target, cfg.feature_layers)
            losses["feature"] = feature_distillation_loss(vgg(y, cfg.feature_layers), ft)
            total = total + cfg.feature_weight * losses["feature"]
        losses["total"] = total
        return losses

    name = name or out.stem
    steps, history, seconds = drive_to_end(student, step_fn, cfg, out, checkpoint, resume, progress, f"distil {name}",
                                           extra={"config": asdict(cfg), "teacher": str(teacher),
                                                  "recipe": training_recipe(
                                                      "distil", cfg, teacher=teacher_card.get("weights", {}).get("sha256"),
                                                      content=[str(Path(c).resolve()) for c in content],
                                                      video=str(Path(video).resolve()) if video else None,
                                                      vgg=vgg_source if cfg.feature_weight > 0 else None)})
    card = {
        "name": name, "arch": cfg.arch, "kind": "feedforward-transformer",
        "style": teacher_card.get("style", {}),
        "training": {"method": "distillation", "teacher": teacher_card.get("name"),
                     "teacher_sha256": teacher_card.get("weights", {}).get("sha256"),
                     "content": [str(c) for c in content], "video": str(video) if video else None,
                     "steps": steps, "size": cfg.size, "batch_size": cfg.batch_size, "lr": cfg.lr,
                     "pixel_weight": cfg.pixel_weight, "feature_weight": cfg.feature_weight, "seed": cfg.seed,
                     "device": str(dev), "seconds_last_run": round(seconds, 1),
                     "teacher_training": teacher_card.get("training"),
                     "style_steps": style_steps(teacher_card)},  # the student learns what its teacher learnt
        "image_size": cfg.size,
    }
    return finish(student.cpu(), out, card, history, steps, force=True)


def _frames_only(frames, batch: int, g: torch.Generator) -> torch.Tensor:
    """Random crops of single video frames (no flow needed): reuse the pair sampler's crops without flow."""
    from .datasets import _load_resized, _to_tensor

    out = []
    s = frames.size
    for _ in range(batch):
        cur_p, _prev = frames.pairs[int(torch.randint(len(frames.pairs), (1,), generator=g))]
        img = _load_resized(cur_p, frames.short)
        h, w = img.shape[:2]
        y = int(torch.randint(h - s + 1, (1,), generator=g))
        x = int(torch.randint(w - s + 1, (1,), generator=g))
        out.append(_to_tensor(img[y:y + s, x:x + s]))
    return torch.stack(out)


__all__ = ["distil"]
