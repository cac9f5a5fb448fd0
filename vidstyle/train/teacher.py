"""Distillation from Ghiasi et al.'s arbitrary-style network (the *teacher*, :mod:`vidstyle.nets.magenta`).

``vidstyle train --teacher magenta --style PAINTING``: a per-style :class:`~vidstyle.nets.transformer.TransformerNet`
learns to reproduce the teacher's rendering of the painting (the generator conditioned on the painting's
embedding z = e_ψ(style_views(painting, "resize"))). Per step, with ``O = student(I)`` and ``T = teacher(I, z)``
(fused teacher, forward only, no gradients):

* ``pixel``: L1(O, T) on both frames of a pair (``cfg.pixel_weight``);
* ``feature`` (optional, ``cfg.feature_weight``): relative MSE of VGG-19 features of O vs T at
  ``cfg.feature_layers`` (relu2_2, relu3_1), averaged over the layers;
* ``temporal``: the two-frame loss of ``vidstyle train`` on real DAVIS pairs, ``‖M ⊙ (O_t − warp(O_{t−1}))‖²``
  (:func:`vidstyle.losses.temporal_loss`, ``cfg.temporal_weight``). Steps drawing stills have no pair.

No VGG backward (unless ``feature_weight``): an order of magnitude cheaper than the perceptual losses on the CPU.
The loop, checkpoints, resume, card and loss curve are :mod:`.loop`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..config import TrainConfig
from ..errors import VidstyleError
from ..losses import feature_distillation_loss, temporal_loss

#: Name of the teacher on the command line (``--teacher magenta``) and in cards.
TEACHER = "magenta"
#: How the teacher's predictor sees the painting (what ``MagentaStyliser`` uses by default).
STYLE_VIEW = "resize"


def teacher_networks(device="cpu", predictor=None, transformer=None):
    """``(predictor, fused generator)`` in eval mode without gradients (the release's unless given)."""
    from ..nets.magenta import fuse_magenta, load_predictor, load_transformer

    pred = (predictor if predictor is not None else load_predictor()).to(device).eval().requires_grad_(False)
    gen = fuse_magenta(transformer if transformer is not None else load_transformer()).to(device)
    return pred, gen


@torch.no_grad()
def style_embedding(predictor, style: str | Path | torch.Tensor, view: str = STYLE_VIEW) -> torch.Tensor:
    """``1×100``: the predictor's embedding of a painting (path or ``1×3×H×W`` in [0, 1])."""
    from ..media.image import load_image
    from ..stylise.magenta import style_views

    img = load_image(style) if not isinstance(style, torch.Tensor) else style
    dev = next(predictor.parameters()).device
    return predictor(style_views(img.to(dev, torch.float32), view)).mean(0, keepdim=True)


def distil_step_fn(student, teacher, z: torch.Tensor, data, cfg: TrainConfig, device, vgg=None,
                   student_takes_z: bool = False):
    """One step's losses for a student mimicking ``teacher(x, z)`` with the temporal loss on pairs.

    ``data.sample(batch, g)`` → ``(current, previous | None, flow | None, mask | None)`` (see
    :class:`~.loop.PairSource`). ``z``: ``1×E`` (one style) or a callable ``g → B×E`` (a style per sample).
    ``student_takes_z``: the student is conditional (``student(x, z)``, the magenta-temporal fine-tune).
    """
    from ..flow import warp

    def step_fn(g: torch.Generator) -> dict[str, torch.Tensor]:
        cur, prev, flow, mask = data.sample(cfg.batch_size, g)
        pair = cfg.temporal_weight > 0 and prev is not None
        x = torch.cat([cur, prev]) if pair else cur
        x = x.to(device)
        zz = z(g) if callable(z) else z
        zz = zz.to(device)
        if pair and zz.shape[0] > 1:
            zz = torch.cat([zz, zz])
        with torch.no_grad():
            target = teacher(x, zz)
        y = student(x, zz) if student_takes_z else student(x)
        losses = {"pixel": F.l1_loss(y, target)}
        total = cfg.pixel_weight * losses["pixel"]
        if vgg is not None and cfg.feature_weight > 0:
            with torch.no_grad():
                ft = vgg(target, cfg.feature_layers)
            losses["feature"] = feature_distillation_loss(vgg(y, cfg.feature_layers), ft)
            total = total + cfg.feature_weight * losses["feature"]
        if pair:
            out_t, out_prev = y.chunk(2)
            losses["temporal"] = temporal_loss(out_t, warp(out_prev, flow.to(device)), mask.to(device))
            total = total + cfg.temporal_weight * losses["temporal"]
        losses["total"] = total
        return losses

    return step_fn


def distil_magenta(style: str | Path, content: Sequence[str | Path], out: str | Path, cfg: TrainConfig = TrainConfig(),
                   video: str | Path | None = None, init: str | Path | None = None,
                   checkpoint: str | Path | None = None, resume: bool = False, device: str = "auto",
                   force: bool = False, progress: bool = True, flow_cache: str | Path | None = None,
                   name: str | None = None, vgg_source: str = "auto", predictor=None, transformer=None,
                   **_: Any) -> dict[str, Any]:
    """Train a per-style ``cfg.arch`` network on the teacher's rendering of ``style``; write weights + card.

    Args:
        style: the painting (its embedding conditions the teacher).
        content, video: stills and DAVIS sequences (``cfg.held_out`` excluded), as :func:`~.loop.train_style`.
        init: a shipped/trained model of the same arch to start from (e.g. the old per-style net).
        predictor, transformer: teacher networks instead of the release's (tests).

    Returns:
        The card (``training.method = "distillation"``, ``training.teacher = "magenta"``).
    """
    from ..device import resolve_device
    from ..nets.transformer import build_net
    from .common import seed_everything
    from .loop import PairSource, check_model_output, drive_to_end, finish, load_init, style_info, write_thumbnail

    style, out = Path(style), Path(out)
    if out.suffix != ".safetensors":
        raise VidstyleError(f"--out must end in .safetensors, got {out}")
    if not style.is_file():
        raise VidstyleError(f"style image not found: {style}")
    check_model_output(out, force)
    dev = resolve_device(device)
    seed_everything(cfg.seed)
    pred, teacher = teacher_networks(dev, predictor, transformer)
    z = style_embedding(pred, style)
    net = build_net(cfg.arch, residual=cfg.residual).to(dev)
    init_info = load_init(net, init)
    vgg = None
    if cfg.feature_weight > 0:
        from ..nets.vgg import load_vgg

        vgg = load_vgg(cfg.feature_layers, source=vgg_source, device=dev)
    data = PairSource(content, cfg.size, video, cfg, pairs=cfg.temporal_weight > 0, flow_cache=flow_cache)
    step_fn = distil_step_fn(net, teacher, z, data, cfg, dev, vgg)
    name = name or out.stem
    steps, history, seconds = drive_to_end(net, step_fn, cfg, out, checkpoint, resume, progress, f"distil {name}",
                                           extra={"config": asdict(cfg), "style": str(style), "teacher": TEACHER})
    write_thumbnail(style, out)
    from ..weights import MagentaWeights

    card = {
        "name": name, "arch": cfg.arch, "kind": "feedforward-transformer",
        "style": style_info(style, out),
        "training": {"method": "distillation", "teacher": TEACHER,
                     "teacher_weights": MagentaWeights.TRANSFORMER.weights.name,
                     "teacher_style_view": STYLE_VIEW, "teacher_fused": True,
                     "teacher_embedding": [round(float(v), 5) for v in z.flatten()],
                     "content": [str(c) for c in content], "video": str(video) if video else None,
                     "data": data.describe(), "steps": steps, "size": cfg.size, "batch_size": cfg.batch_size,
                     "lr": cfg.lr, "pixel_weight": cfg.pixel_weight, "feature_weight": cfg.feature_weight,
                     "feature_layers": list(cfg.feature_layers), "temporal_weight": cfg.temporal_weight, "video_fraction": cfg.video_fraction,
                     "synthetic_pairs": cfg.synthetic_pairs, "init_from": init_info, "seed": cfg.seed,
                     "device": str(dev), "seconds_last_run": round(seconds, 1),
                     },
        "image_size": cfg.size,
    }
    return finish(net.cpu(), out, card, history, steps, force=True)


# ------------------------------------------------------------------ magenta-temporal: fine-tune the teacher itself

#: Paintings never trained on by the any-style nets (the same as the arbitrary decoders' hold-out).
HELD_OUT_PAINTINGS = ("munch_the_scream", "VincentVanGoghBridge_background")


def list_paintings(folders: Sequence[str | Path], held_out: Sequence[str] = HELD_OUT_PAINTINGS) -> list[Path]:
    """Images in ``folders`` (or image files given directly) minus the held-out stems."""
    from .datasets import IMAGE_SUFFIXES, list_images

    files: list[Path] = []
    for f in map(Path, folders):
        files += [f] if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES else list_images([f])
    files = [f for f in files if f.stem not in set(held_out)]
    if not files:
        raise VidstyleError("no training paintings left after the hold-out")
    return files


def _hue_rotate(x: torch.Tensor, angle: float) -> torch.Tensor:
    """Rotate the chroma of ``1×3×H×W`` RGB in YIQ space by ``angle`` radians (luma kept), clamped to [0, 1]."""
    import math

    to_yiq = x.new_tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    c, s = math.cos(angle), math.sin(angle)
    rot = x.new_tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    m = torch.linalg.inv(to_yiq) @ rot @ to_yiq
    return torch.einsum("ij,njhw->nihw", m, x).clamp(0, 1)


@torch.no_grad()
def style_bank(paintings: Sequence[Path], predictor, views: int = 8, min_crop: float = 0.5, hue: float = 0.05,
               seed: int = 0, long_side: int = 512) -> torch.Tensor:
    """``P×views×100`` embeddings of :func:`style_bank_views`: view 0 is the painting as ``MagentaStyliser`` sees
    it (whole, resized); the others are random crops (side ``min_crop``…1 of the short side; i.e. scale
    augmentation too) with a random hue rotation of up to ``±hue`` turns, so the embedding space around each
    painting is covered."""
    return torch.stack([predictor(v) for v in style_bank_views(paintings, views, min_crop, hue, seed, long_side)])


@torch.no_grad()
def style_bank_views(paintings: Sequence[Path], views: int = 8, min_crop: float = 0.5, hue: float = 0.05,
                     seed: int = 0, long_side: int = 512) -> list[torch.Tensor]:
    """The views :func:`style_bank` embeds: per painting ``views×3×256×256`` in [0, 1] (deterministic in ``seed``)."""
    import math

    from ..media.image import load_image, resize_long_side
    from ..stylise.magenta import style_views

    g = torch.Generator().manual_seed(seed)
    out = []
    for p in paintings:
        img = load_image(p)
        if max(img.shape[-2:]) > long_side:
            img = resize_long_side(img, long_side)
        h, w = img.shape[-2:]
        crops = [style_views(img, STYLE_VIEW)]
        for _ in range(views - 1):
            f = min_crop + (1 - min_crop) * float(torch.rand(1, generator=g))
            s = max(16, int(f * min(h, w)))
            y = int(torch.randint(h - s + 1, (1,), generator=g))
            x = int(torch.randint(w - s + 1, (1,), generator=g))
            a = (2 * float(torch.rand(1, generator=g)) - 1) * hue * 2 * math.pi
            crops.append(style_views(_hue_rotate(img[..., y:y + s, x:x + s], a), STYLE_VIEW))
        out.append(torch.cat(crops))
    return out


def _save_generator(net, out: Path, card: dict[str, Any], history, steps: int,
                    metadata: dict[str, str] | None = None) -> dict[str, Any]:
    """fp16 safetensors + card + loss curve for a fine-tuned magenta generator or a multi-style generator
    (``metadata``: its safetensors metadata; default the magenta generator's) (cf. :func:`.loop.finish`)."""
    from datetime import datetime, timezone

    from ..nets.magenta import generator_metadata
    from ..nets.transformer import count_parameters
    from ..weights import save_safetensors, write_card
    from .common import plot_losses

    meta = metadata if metadata is not None else generator_metadata(net, card["name"])
    digest = save_safetensors(net.state_dict(), out, metadata=meta, half=True)
    curve = plot_losses(history, out.with_name(f"{out.stem}.loss.png"), title=f"{card['name']}: training losses")
    card["training"]["steps"] = card["training"]["total_steps"] = steps
    card["final_losses"] = {k: round(v, 6) for k, v in history.summary(20).items()}
    card["weights"] = {"file": out.name, "sha256": digest, "bytes": out.stat().st_size, "dtype": "float16",
                       "parameters": count_parameters(net)}
    card["loss_curve"] = curve.name
    card["created"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    card.setdefault("benchmark", {"speed": None, "e_warp": None})
    write_card(out, card)
    return card


def any_style_record(paintings: Sequence[Path], held_out: Sequence[str], views: int, hue: float,
                     content: Sequence[str | Path], video: str | Path | None, data, cfg: TrainConfig, device,
                     seconds: float) -> dict[str, Any]:
    """The ``training`` entries every any-style generator's card has: paintings (with checksums), hold-out,
    augmentation, data, the common hyper-parameters and the run's time."""
    from ..weights import sha256_file

    return {"paintings": [{"file": p.name, "sha256": sha256_file(p)} for p in paintings],
            "held_out_paintings": list(held_out),
            "augmentation": {"views_per_painting": views, "crop": [0.5, 1.0], "hue_turns": hue, "view0": STYLE_VIEW},
            "content": [str(c) for c in content], "video": str(video) if video else None,
            "data": data.describe(), "size": cfg.size, "batch_size": cfg.batch_size, "lr": cfg.lr,
            "pixel_weight": cfg.pixel_weight, "temporal_weight": cfg.temporal_weight,
            **({"feature_weight": cfg.feature_weight, "feature_layers": list(cfg.feature_layers)}
               if cfg.feature_weight else {}),
            "video_fraction": cfg.video_fraction, "synthetic_pairs": cfg.synthetic_pairs, "seed": cfg.seed,
            "device": str(device), "seconds_last_run": round(seconds, 1)}


def finetune_magenta_temporal(styles: Sequence[str | Path], content: Sequence[str | Path], out: str | Path,
                              cfg: TrainConfig = TrainConfig(), video: str | Path | None = None,
                              held_out_styles: Sequence[str] = HELD_OUT_PAINTINGS, style_views_per_painting: int = 8,
                              hue: float = 0.05, checkpoint: str | Path | None = None, resume: bool = False,
                              device: str = "auto", force: bool = False, progress: bool = True,
                              flow_cache: str | Path | None = None, name: str | None = None,
                              predictor=None, transformer=None, vgg_source: str = "auto", vgg=None,
                              style_weight: float = 0.0, **_: Any) -> dict[str, Any]:
    """Fine-tune the teacher's generator with the two-frame temporal loss on real pairs plus L1 distillation to
    its frozen copy, over the (augmented) embeddings of the training paintings — an any-style network that is
    stable without blending. With ``cfg.feature_weight > 0`` the distillation also matches the frozen copy's
    VGG features at ``cfg.feature_layers`` (brush texture the L1 term alone lets the temporal term smooth away;
    ``vgg``: a loss network instead of VGG-19, for tests). ``style_weight > 0`` adds the seed's relative Gram loss of
    each output against its view's painting (at ``cfg.style_layers``, the painting at ``cfg.style_size``; no TV
    term — ``cfg.style_weight`` and ``cfg.tv_weight`` are ``vidstyle train``'s and are not used here). Writes ``out`` (fp16, loaded by
    :func:`vidstyle.nets.magenta.load_generator_weights`) and its card (``kind = "magenta-generator"``).
    """
    import copy

    from ..device import resolve_device
    from ..nets.magenta import GENERATOR_KIND, load_transformer
    from .common import seed_everything
    from .loop import PairSource, check_model_output, drive_to_end

    out = Path(out)
    if out.suffix != ".safetensors":
        raise VidstyleError(f"--out must end in .safetensors, got {out}")
    check_model_output(out, force)  # a finished model is rewritten only with --force, as every trainer does
    dev = resolve_device(device)
    seed_everything(cfg.seed)
    base = transformer if transformer is not None else load_transformer()
    pred, teacher = teacher_networks(dev, predictor, base)
    student = copy.deepcopy(base).to(dev).train().requires_grad_(True)
    paintings = list_paintings(styles, held_out_styles)
    bank = style_bank(paintings, pred, views=style_views_per_painting, hue=hue, seed=cfg.seed).cpu()
    n_views = bank.shape[1]
    flat = bank.flatten(0, 1)
    picked: list[torch.Tensor] = [torch.zeros(0, dtype=torch.long)]

    def pick(g: torch.Generator) -> torch.Tensor:
        idx = torch.randint(len(flat), (cfg.batch_size,), generator=g)
        picked[0] = idx // n_views  # the paintings of this step's views, for the optional style loss
        return flat[idx]

    data = PairSource(content, cfg.size, video, cfg, pairs=cfg.temporal_weight > 0, flow_cache=flow_cache)
    if vgg is None and (cfg.feature_weight > 0 or style_weight > 0):
        from ..nets.vgg import load_vgg

        layers = cfg.feature_layers + (cfg.style_layers if style_weight > 0 else ())
        vgg = load_vgg(tuple(dict.fromkeys(layers)), source=vgg_source, device=dev)
    step_fn = distil_step_fn(student, teacher, pick, data, cfg, dev, vgg if cfg.feature_weight > 0 else None,
                             student_takes_z=True)
    hook = None
    if style_weight > 0:  # the seed's Gram loss against each view's painting, on top of the distillation
        from ..config import replace
        from .multistyle import painting_grams, with_style_loss

        grams = painting_grams(paintings, vgg, cfg.style_layers, cfg.style_size, dev)
        step_fn, hook = with_style_loss(student, step_fn, vgg, grams, lambda: picked[0],
                                        replace(cfg, style_weight=style_weight, tv_weight=0.0))
    name = name or out.stem
    try:
        steps, history, seconds = drive_to_end(student, step_fn, cfg, out, checkpoint, resume, progress,
                                               f"finetune {name}", extra={"config": asdict(cfg), "teacher": TEACHER,
                                                                          "style_weight": style_weight})
    finally:
        if hook is not None:
            hook.remove()
    card = {
        "name": name, "arch": "magenta", "kind": GENERATOR_KIND,
        "style": {"file": None, "note": "arbitrary style: any painting's embedding at run time"},
        "training": {"method": "temporal-finetune", "teacher": TEACHER, "init_from": TEACHER,
                     **any_style_record(paintings, held_out_styles, style_views_per_painting, hue, content, video,
                                        data, cfg, dev, seconds),
                     **({"style_weight": style_weight, "style_layers": list(cfg.style_layers),
                         "style_size": cfg.style_size} if style_weight > 0 else {})},
        "image_size": cfg.size,
    }
    return _save_generator(student.cpu().eval(), out, card, history, steps)


__all__ = ["TEACHER", "STYLE_VIEW", "HELD_OUT_PAINTINGS", "teacher_networks", "style_embedding", "distil_step_fn",
           "distil_magenta", "list_paintings", "style_bank", "style_bank_views", "finetune_magenta_temporal"]
