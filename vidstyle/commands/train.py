"""``vidstyle train``: train a feed-forward style network (or distil a lite one from a full teacher)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..cli import DeviceOpt, FeatureLayersOpt, ForceOpt, QuietOpt, SeedOpt, VggOpt, app, parse_names
from ..config import MULTISTYLE_ARCHS, MULTISTYLE_ENCODERS, MULTISTYLE_INJECTIONS, TrainConfig


class Arch(str, Enum):
    full = "full"
    lite = "lite"


@app.command()
def train(
    content: Annotated[list[Path], typer.Option("--content", help="Folder of training photos (repeatable).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Weights to write, models/NAME.safetensors (+ NAME.json card).")],
    style: Annotated[Optional[Path], typer.Option("--style", "-s", help="Style image (not needed with --teacher).")] = None,
    video: Annotated[Optional[Path], typer.Option(help="Folder of DAVIS-style frame sequences for real frame pairs.")] = None,
    arch: Annotated[Arch, typer.Option(help="full (Johnson et al.) or lite (real time).")] = Arch.full,
    residual: Annotated[bool, typer.Option("--residual/--plain", help="Global identity skip σ(logit(I)+net(I)) or plain Johnson output.")] = False,
    size: Annotated[Optional[int], typer.Option(min=32, show_default=str(TrainConfig.size), help="Side of the square training crops.")] = None,
    style_size: Annotated[Optional[int], typer.Option(min=32, help="Long side of the style image for its Gram matrices.")] = None,
    steps: Annotated[Optional[int], typer.Option(min=1, show_default=str(TrainConfig.steps), help="Total optimiser steps (including resumed ones).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, show_default=str(TrainConfig.batch_size), help="Crops (or frame pairs) per optimiser step.")] = None,
    lr: Annotated[Optional[float], typer.Option(min=0.0, show_default=str(TrainConfig.lr), help="Adam learning rate.")] = None,
    style_weight: Annotated[Optional[float], typer.Option(min=0.0, show_default=str(TrainConfig.style_weight), help="Weight of the style (Gram) loss.")] = None,
    content_weight: Annotated[Optional[float], typer.Option(min=0.0, show_default=str(TrainConfig.content_weight), help="Weight of the content loss.")] = None,
    tv_weight: Annotated[Optional[float], typer.Option(min=0.0, show_default=str(TrainConfig.tv_weight), help="Weight of the total-variation loss.")] = None,
    temporal_weight: Annotated[Optional[float], typer.Option(min=0.0, help="Two-frame temporal loss weight (0 = off).")] = None,
    luminance_weight: Annotated[Optional[float], typer.Option(min=0.0, help="ReCoNet luminance term (needs pairs).")] = None,
    pair_noise: Annotated[Optional[float], typer.Option(min=0.0, max=0.5, help="Noise std on each frame of a synthetic-motion pair (default 0.02).")] = None,
    synthetic_pairs: Annotated[bool, typer.Option("--synthetic-pairs/--video-pairs-only", help="With --video: also make synthetic-motion pairs from the stills for the temporal loss (default), or use real pairs only.")] = True,
    teacher: Annotated[Optional[Path], typer.Option(help="Distil: mimic this trained model (usually with --arch lite), or `magenta` (with --style): the arbitrary-style network's rendering of that painting.")] = None,
    pixel_weight: Annotated[Optional[float], typer.Option(min=0.0, help="Distillation: L1 to the teacher's output.")] = None,
    feature_weight: Annotated[Optional[float], typer.Option(min=0.0, help="Distillation: VGG feature loss to the teacher's output (at --feature-layers).")] = None,
    feature_layers: FeatureLayersOpt = None,
    video_fraction: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="Share of steps drawing DAVIS pairs when --video is given (default 0.5).")] = None,
    init: Annotated[Optional[str], typer.Option(help="Start from this model's weights (fine-tune another style).")] = None,
    name: Annotated[Optional[str], typer.Option(help="Model name in its card (default: the file stem).")] = None,
    checkpoint: Annotated[Optional[Path], typer.Option(help="Checkpoint file (default ~/.cache/vidstyle/train/NAME.ckpt.pt).")] = None,
    checkpoint_every: Annotated[Optional[int], typer.Option(min=1, show_default=str(TrainConfig.checkpoint_every), help="Save a checkpoint every N steps.")] = None,
    flow_cache: Annotated[Optional[Path], typer.Option(help="Folder caching the flows of --video pairs.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the checkpoint.")] = False,
    seed: SeedOpt = None,
    vgg: VggOpt = "auto",
    threads: Annotated[Optional[int], typer.Option(min=1, help="CPU threads (default: all usable cores).")] = None,
    device: DeviceOpt = "auto",
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train a feed-forward style network; Ctrl-C saves a checkpoint (resume with --resume)."""
    import torch

    from ..config import TrainConfig, replace
    from ..device import use_all_cores
    from ..errors import VidstyleError

    if threads:
        torch.set_num_threads(threads)
    else:
        use_all_cores()
    cfg = replace(TrainConfig(), arch=arch.value, residual=residual, size=size, style_size=style_size, steps=steps, batch_size=batch_size,
                  lr=lr, style_weight=style_weight, content_weight=content_weight, tv_weight=tv_weight,
                  temporal_weight=temporal_weight, luminance_weight=luminance_weight, pair_noise=pair_noise,
                  synthetic_pairs=synthetic_pairs, pixel_weight=pixel_weight, feature_weight=feature_weight,
                  feature_layers=parse_names(feature_layers), video_fraction=video_fraction,
                  checkpoint_every=checkpoint_every, seed=seed)
    common = dict(content=content, out=out, cfg=cfg, video=video, checkpoint=checkpoint, resume=resume,
                  device=device, force=force, progress=not quiet, name=name)
    if teacher is not None and str(teacher) == "magenta":
        if style is None:
            raise VidstyleError("--teacher magenta needs --style PAINTING (the painting whose rendering is distilled)")
        from ..train.teacher import distil_magenta

        card = distil_magenta(style=style, init=init, vgg_source=vgg, flow_cache=flow_cache, **common)
    elif teacher is not None:
        from ..train.distil import distil

        card = distil(teacher=teacher, vgg_source=vgg, **common)
    else:
        if style is None:
            raise VidstyleError("--style is required (or --teacher to distil a trained model)")
        from ..train.loop import train_style

        card = train_style(style=style, init=init, vgg_source=vgg, flow_cache=flow_cache, **common)
    losses = "  ".join(f"{k} {v:.4g}" for k, v in card["final_losses"].items())
    typer.echo(f"wrote {out} ({card['arch']}, {card['training']['steps']} steps; {losses})")


#: ``--arch`` of train-multistyle: the teacher itself, or a style-conditioned Johnson generator of a named size.
MultiArch = Enum("MultiArch", {a.replace("-", "_"): a for a in ("magenta", *MULTISTYLE_ARCHS)}, type=str)  # type: ignore[misc]
Inject = Enum("Inject", {i: i for i in MULTISTYLE_INJECTIONS}, type=str)  # type: ignore[misc]
Encoder = Enum("Encoder", {e: e for e in MULTISTYLE_ENCODERS}, type=str)  # type: ignore[misc]


@app.command("train-multistyle")
def train_multistyle(
    styles: Annotated[list[Path], typer.Option("--styles", help="Folder of paintings or one painting (repeatable).")],
    content: Annotated[list[Path], typer.Option("--content", help="Folder of training photos (repeatable).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Weights to write, models/NAME.safetensors (+ NAME.json card).")],
    video: Annotated[Optional[Path], typer.Option(help="Folder of DAVIS-style sequences for real frame pairs.")] = None,
    arch: Annotated[MultiArch, typer.Option(help="magenta: fine-tune the Ghiasi et al. generator itself (temporal loss + L1 and VGG features to its frozen copy; unset options default to the shipped magenta-temporal recipe: temporal weight 180, feature weight 1, style weight 2, lr 5e-5, 192 px, 400 steps); johnson / johnson-half / johnson-lite: train a style-conditioned Johnson generator (widths 32/16/8) by distillation from it.")] = MultiArch.magenta,  # type: ignore[attr-defined]
    encoder: Annotated[Encoder, typer.Option(help="Johnson generators: the style encoder e_ψ — ghiasi (the teacher's predictor, frozen) or gram (VGG-Gram → FC, trained with the generator).")] = Encoder.ghiasi,  # type: ignore[attr-defined]
    init: Annotated[Optional[str], typer.Option(help="Johnson generators: start from this trained generator (name or file).")] = None,
    freeze_generator: Annotated[bool, typer.Option("--freeze-generator", help="With --init and a gram encoder: fine-tune only the encoder (the seed's second phase).")] = False,
    inject: Annotated[Inject, typer.Option(help="Johnson generators: how the style embedding enters (concat, add1x1, film, cin).")] = Inject.film,  # type: ignore[attr-defined]
    hold_out: Annotated[Optional[list[str]], typer.Option("--hold-out", help="Painting stems never trained on (default: munch_the_scream, VincentVanGoghBridge_background).")] = None,
    views: Annotated[int, typer.Option(min=1, help="Embeddings per painting: the whole painting + random crops with hue jitter.")] = 8,
    hue: Annotated[float, typer.Option(min=0.0, max=0.5, help="Hue jitter of the crops, in turns (±).")] = 0.05,
    size: Annotated[Optional[int], typer.Option(min=32, help="Side of the square training crops.")] = None,
    steps: Annotated[Optional[int], typer.Option(min=1)] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1)] = None,
    lr: Annotated[Optional[float], typer.Option(min=0.0)] = None,
    pixel_weight: Annotated[Optional[float], typer.Option(min=0.0, help="L1 to the frozen teacher's output.")] = None,
    temporal_weight: Annotated[Optional[float], typer.Option(min=0.0, help="Two-frame temporal loss weight.")] = None,
    feature_weight: Annotated[Optional[float], typer.Option(min=0.0, help="VGG feature loss to the teacher's output, at --feature-layers (default 1).")] = None,
    feature_layers: FeatureLayersOpt = None,
    style_weight: Annotated[Optional[float], typer.Option(min=0.0, help="Gram style loss of the output against its painting itself, on top of the distillation (default: 2 for --arch magenta, the shipped recipe; 0 for the Johnson generators).")] = None,
    video_fraction: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="Share of steps drawing DAVIS pairs.")] = None,
    name: Annotated[Optional[str], typer.Option(help="Model name in its card (default: the file stem).")] = None,
    checkpoint: Annotated[Optional[Path], typer.Option(help="Checkpoint file (default ~/.cache/vidstyle/train/NAME.ckpt.pt).")] = None,
    checkpoint_every: Annotated[Optional[int], typer.Option(min=1)] = None,
    flow_cache: Annotated[Optional[Path], typer.Option(help="Folder caching the flows of --video pairs.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the checkpoint.")] = False,
    seed: SeedOpt = None,
    threads: Annotated[Optional[int], typer.Option(min=1, help="CPU threads (default: all usable cores).")] = None,
    device: DeviceOpt = "auto",
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train an any-style network over many paintings: fine-tune the magenta generator, or distil a style-conditioned
    Johnson generator from it."""
    import torch

    from ..config import TrainConfig, replace
    from ..device import use_all_cores
    from ..train.teacher import HELD_OUT_PAINTINGS, finetune_magenta_temporal

    if threads:
        torch.set_num_threads(threads)
    else:
        use_all_cores()
    from ..errors import VidstyleError

    johnson = arch.value != "magenta"
    if not johnson and (init or freeze_generator or encoder.value != "ghiasi"):
        raise VidstyleError("--encoder, --init and --freeze-generator are for the Johnson generators (--arch johnson…)")
    from ..config import MAGENTA_TEMPORAL_RECIPE, MAGENTA_TEMPORAL_STYLE_WEIGHT

    base = TrainConfig() if johnson else replace(TrainConfig(), **MAGENTA_TEMPORAL_RECIPE)
    cfg = replace(base, size=size, steps=steps, batch_size=batch_size, lr=lr, pixel_weight=pixel_weight,
                  temporal_weight=temporal_weight if temporal_weight is not None or not johnson else 10.0,
                  feature_weight=feature_weight if feature_weight is not None or not johnson else 1.0,
                  feature_layers=parse_names(feature_layers),
                  style_weight=(style_weight or 0.0) if johnson else None,
                  video_fraction=video_fraction, synthetic_pairs=False, checkpoint_every=checkpoint_every, seed=seed)
    if johnson:
        from ..train.multistyle import train_multistyle as train_johnson

        card = train_johnson(styles=styles, content=content, out=out, cfg=cfg, inject=inject.value, arch=arch.value,
                             video=video, held_out_styles=tuple(hold_out) if hold_out else None,
                             style_views_per_painting=views, hue=hue, checkpoint=checkpoint, resume=resume,
                             device=device, force=force, progress=not quiet, flow_cache=flow_cache, name=name,
                             encoder=encoder.value, init=init, freeze_generator=freeze_generator)
        losses = "  ".join(f"{k} {v:.4g}" for k, v in card["final_losses"].items())
        typer.echo(f"wrote {out} ({card['arch']}, {card['training']['steps']} steps, "
                   f"{len(card['training']['paintings'])} paintings; {losses})")
        return
    card = finetune_magenta_temporal(styles=styles, content=content, out=out, cfg=cfg, video=video,
                                     held_out_styles=tuple(hold_out) if hold_out else HELD_OUT_PAINTINGS,
                                     style_views_per_painting=views, hue=hue, checkpoint=checkpoint, resume=resume,
                                     device=device, force=force, progress=not quiet, flow_cache=flow_cache,
                                     name=name,
                                     style_weight=MAGENTA_TEMPORAL_STYLE_WEIGHT if style_weight is None else style_weight)
    losses = "  ".join(f"{k} {v:.4g}" for k, v in card["final_losses"].items())
    typer.echo(f"wrote {out} ({card['arch']}, {card['training']['steps']} steps, "
               f"{len(card['training']['paintings'])} paintings; {losses})")
