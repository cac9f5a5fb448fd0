"""Training a style-conditioned Johnson generator (:mod:`vidstyle.nets.multistyle`) over many paintings.

``vidstyle train-multistyle --arch johnson-half --inject film``: G_θ(x, z) learns, for the embedding z of a random
view of a random training painting (:func:`~.teacher.style_bank`: the whole painting + crops with hue jitter;
held-out paintings never seen), to reproduce the Ghiasi et al. teacher's rendering ``T = teacher(x, z)``
(forward only, no gradients). Per step, with ``O = G(x, z)`` (:func:`~.teacher.distil_step_fn`):

* ``pixel``: L1(O, T) (``cfg.pixel_weight``);
* ``feature``: relative MSE of VGG-19 relu2_2 / relu3_1 features of O vs T (``cfg.feature_weight``,
  ``cfg.feature_layers``);
* ``temporal``: the two-frame loss on real DAVIS pairs (``cfg.temporal_weight``; held-out sequences excluded);
* optionally the seed's perceptual losses against the painting itself (``cfg.style_weight`` > 0: relative
  Gram distance at ``cfg.style_layers`` to the painting the view came from, plus ``cfg.tv_weight`` TV) —
  a VGG backward through relu4_1, several times the cost of the distillation terms on a CPU.

The style predictor e_ψ is the teacher's, frozen (``--encoder ghiasi``), or a small VGG-Gram encoder
(:class:`~vidstyle.nets.multistyle.GramEncoder`, ``--encoder gram``) trained jointly with G — the teacher still
sees its own embedding of the same view, the student the encoder's. The seed's second phase (``--init GEN
--freeze-generator``) keeps G fixed and fine-tunes only that encoder. The loop, checkpoints, resume and the
loss curve are :mod:`.loop`'s; the weights (fp16) and card are written as the magenta-temporal generator's
(``kind = "magenta-generator"``), so ``--method magenta --model NAME`` and ``vidstyle webcam`` load either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ..config import TrainConfig
from ..errors import VidstyleError
from ..losses import gram_matrix, style_loss, tv_loss


def painting_grams(paintings: Sequence[Path], vgg, layers: Sequence[str], side: int, device) -> list[dict[str, torch.Tensor]]:
    """Each painting's Gram matrices at ``layers`` (long side ``side``), for the optional style loss."""
    from ..media.image import load_image, resize_long_side

    out = []
    with torch.no_grad():
        for p in paintings:
            img = resize_long_side(load_image(p), side).to(device)
            out.append({k: gram_matrix(v) for k, v in vgg(img, tuple(layers)).items()})
    return out


def with_style_loss(student: torch.nn.Module, distil, vgg, grams: list[dict[str, torch.Tensor]], painting_of,
                    cfg: TrainConfig):
    """``distil``'s step with the seed's style terms added: the relative Gram loss of each current output frame against
    its painting's Grams (``grams[painting_of()[i]]``, at ``cfg.style_layers``; ``cfg.style_weight``) and TV
    (``cfg.tv_weight``). Returns ``(step_fn, hook)``; remove the hook (it records the student's outputs) after training.
    """
    outputs: list[torch.Tensor] = []
    hook = student.register_forward_hook(lambda _m, _i, o: outputs.append(o))

    def step_fn(g: torch.Generator) -> dict[str, torch.Tensor]:
        outputs.clear()
        losses = distil(g)
        y = outputs[-1][:cfg.batch_size]  # the current frames (a pair's previous frames follow)
        feats = vgg(y, cfg.style_layers)
        ls = torch.stack([style_loss({k: gram_matrix(feats[k][i:i + 1]) for k in cfg.style_layers},
                                     grams[int(p)], relative=True) for i, p in enumerate(painting_of())]).mean()
        losses["style"], losses["tv"] = ls, tv_loss(y)
        losses["total"] = losses["total"] + cfg.style_weight * ls + cfg.tv_weight * losses["tv"]
        return losses

    return step_fn, hook


def train_multistyle(styles: Sequence[str | Path], content: Sequence[str | Path], out: str | Path,
                     cfg: TrainConfig = TrainConfig(), inject: str = "film", arch: str = "johnson-half",
                     video: str | Path | None = None, held_out_styles: Sequence[str] | None = None,
                     style_views_per_painting: int = 8, hue: float = 0.05, checkpoint: str | Path | None = None,
                     resume: bool = False, device: str = "auto", force: bool = False, progress: bool = True,
                     flow_cache: str | Path | None = None, name: str | None = None, vgg_source: str = "auto",
                     encoder: str = "ghiasi", init: str | Path | None = None, freeze_generator: bool = False,
                     predictor=None, transformer=None, vgg=None) -> dict[str, Any]:
    """Train a :class:`~vidstyle.nets.multistyle.MultiStyleNet` by distillation; write ``out`` (fp16) + card.

    Args:
        styles: folders of paintings or painting files; ``held_out_styles`` stems are dropped.
        content, video: stills and DAVIS sequences (``cfg.held_out`` excluded), as :func:`~.loop.train_style`.
        inject, arch: the generator (:data:`~vidstyle.nets.multistyle.INJECTIONS`, ``MULTI_ARCHS``).
        encoder: ``ghiasi`` (the teacher's frozen predictor) or ``gram`` (trained with the generator).
        init: a generator saved by this function to start from (its inject/arch/encoder win over the arguments).
        freeze_generator: train only the style encoder (phase 2 of the seed; needs ``init`` with ``encoder=gram``).
        predictor, transformer, vgg: networks instead of the release's / VGG-19 (tests).

    Returns:
        The card.
    """
    from ..device import resolve_device
    from ..nets.magenta import GENERATOR_KIND
    from ..nets.multistyle import MultiStyleNet, build_multistyle
    from ..weights import resolve_model, sha256_file
    from .common import seed_everything
    from .loop import PairSource, check_model_output, drive_to_end
    from .teacher import (
        HELD_OUT_PAINTINGS,
        TEACHER,
        _save_generator,
        any_style_record,
        distil_step_fn,
        list_paintings,
        style_bank_views,
        teacher_networks,
    )

    out = Path(out)
    held = tuple(held_out_styles) if held_out_styles is not None else HELD_OUT_PAINTINGS
    if out.suffix != ".safetensors":
        raise VidstyleError(f"--out must end in .safetensors, got {out}")
    check_model_output(out, force)  # a finished model is rewritten only with --force, as every trainer does
    dev = resolve_device(device)
    seed_everything(cfg.seed)
    init_info = None
    if init is not None:
        from ..nets.magenta import load_generator_weights

        loaded = load_generator_weights(init)
        if not isinstance(loaded, MultiStyleNet):
            raise VidstyleError(f"--init {init} is not a Johnson multi-style generator")
        net = loaded.train().requires_grad_(True).to(dev)
        inject, encoder = net.spec.inject, net.spec.encoder
        init_info = {"model": str(init), "sha256": sha256_file(resolve_model(str(init)))}
    else:
        gram_dim = 0
        if encoder == "gram" and vgg is not None:  # an injected loss network: its statistics' length
            from ..nets.multistyle import gram_features

            with torch.no_grad():
                gram_dim = gram_features(vgg, torch.rand(1, 3, 64, 64, device=dev)).shape[1]
        net = build_multistyle(inject, arch, encoder=encoder, gram_dim=gram_dim).to(dev)
    if freeze_generator:
        if net.style_encoder is None or init is None:
            raise VidstyleError("--freeze-generator fine-tunes a trained Gram encoder: pass --init GENERATOR "
                                "trained with --encoder gram")
        net.requires_grad_(False)
        net.style_encoder.requires_grad_(True)
    pred, teacher = teacher_networks(dev, predictor, transformer)
    paintings = list_paintings(styles, held)
    views = style_bank_views(paintings, views=style_views_per_painting, hue=hue, seed=cfg.seed)
    with torch.no_grad():
        bank = torch.stack([pred(v.to(dev)) for v in views]).cpu()
    n_views = bank.shape[1]
    flat = bank.flatten(0, 1)
    needs_vgg = cfg.feature_weight > 0 or cfg.style_weight > 0 or net.style_encoder is not None
    if vgg is None and needs_vgg:
        from ..nets.multistyle import GRAM_LAYERS, STAT_LAYERS
        from ..nets.vgg import load_vgg

        layers = cfg.feature_layers + cfg.style_layers + GRAM_LAYERS + STAT_LAYERS
        vgg = load_vgg(tuple(dict.fromkeys(layers)), source=vgg_source, device=dev)
    if net.style_encoder is not None:  # the student's input: VGG statistics of the same views, after the teacher's z
        from ..nets.multistyle import gram_features

        with torch.no_grad():
            stats = torch.cat([gram_features(vgg, v.to(dev)).cpu() for v in views])
        flat = torch.cat([flat, stats], 1)
        teacher = _TeacherOnZ(teacher, bank.shape[-1])
        student: torch.nn.Module = _StudentWithEncoder(net, bank.shape[-1])
    else:
        student = net
    grams = painting_grams(paintings, vgg, cfg.style_layers, cfg.style_size, dev) if cfg.style_weight > 0 else None
    picked: list[torch.Tensor] = []

    def pick(g: torch.Generator) -> torch.Tensor:
        idx = torch.randint(len(flat), (cfg.batch_size,), generator=g)
        picked[:] = [idx // n_views]  # the paintings of this step's views, for the style loss
        return flat[idx]

    data = PairSource(content, cfg.size, video, cfg, pairs=cfg.temporal_weight > 0, flow_cache=flow_cache)
    distil = distil_step_fn(student, teacher, pick, data, cfg, dev, vgg if cfg.feature_weight > 0 else None,
                            student_takes_z=True)
    hook = None
    if grams is not None:
        assert vgg is not None
        step_fn, hook = with_style_loss(student, distil, vgg, grams, lambda: picked[0], cfg)
    else:
        step_fn = distil
    name = name or out.stem
    recipe = {"inject": inject, "arch": arch, "encoder": encoder, "freeze_generator": freeze_generator,
              "paintings": [p.name for p in paintings]}
    try:
        steps, history, seconds = drive_to_end(student, step_fn, cfg, out, checkpoint, resume, progress,
                                               f"multistyle {name}",
                                               extra={"config": asdict(cfg), "teacher": TEACHER, "recipe": recipe})
    finally:
        if hook is not None:
            hook.remove()
    spec = net.spec
    card = {
        "name": name, "arch": f"{arch}-{inject}", "kind": GENERATOR_KIND,
        "style": {"file": None, "note": "arbitrary style: any painting's embedding (the magenta predictor's) at run time"},
        "generator": {"family": "johnson", "inject": spec.inject, "width": spec.width, "blocks": spec.blocks,
                      "embed_dim": spec.embed_dim,
                      "encoder": {"ghiasi": "ghiasi (frozen magenta style predictor)",
                                  "gram": "gram (VGG-19 Gram/statistics → FC, trained; inside this file)"}[spec.encoder]},
        "training": {"method": "multistyle-distillation", "teacher": TEACHER, "init_from": init_info,
                     "phase": "encoder fine-tune (generator frozen)" if freeze_generator else "joint",
                     **any_style_record(paintings, held, style_views_per_painting, hue, content, video, data, cfg,
                                        dev, seconds),
                     "feature_weight": cfg.feature_weight, "feature_layers": list(cfg.feature_layers),
                     "style_weight": cfg.style_weight,
                     "style_layers": list(cfg.style_layers) if cfg.style_weight > 0 else [],
                     "tv_weight": cfg.tv_weight if cfg.style_weight > 0 else 0.0},
        "image_size": cfg.size,
    }
    return _save_generator(net.cpu().eval(), out, card, history, steps, metadata={**spec.to_metadata(), "name": name})


class _TeacherOnZ(torch.nn.Module):
    """The teacher fed the first ``dim`` columns of the packed per-sample input (its own embedding of the view)."""

    def __init__(self, teacher: torch.nn.Module, dim: int) -> None:
        super().__init__()
        self.teacher, self.dim = teacher, dim

    def forward(self, x: torch.Tensor, packed: torch.Tensor) -> torch.Tensor:
        return self.teacher(x, packed[:, :self.dim])


class _StudentWithEncoder(torch.nn.Module):
    """The student with a Gram encoder: the embedding is ``style_encoder(VGG statistics)``, the packed input's rest."""

    def __init__(self, net: torch.nn.Module, dim: int) -> None:
        super().__init__()
        self.net, self.dim = net, dim

    def forward(self, x: torch.Tensor, packed: torch.Tensor) -> torch.Tensor:
        return self.net(x, self.net.style_encoder(packed[:, self.dim:]))

    def state_dict(self, *args: Any, **kwargs: Any) -> Any:  # checkpoints hold the generator's own keys
        return self.net.state_dict(*args, **kwargs)

    def load_state_dict(self, state: Any, *args: Any, **kwargs: Any) -> Any:
        return self.net.load_state_dict(state, *args, **kwargs)


__all__ = ["train_multistyle", "painting_grams"]
