"""Training a feed-forward style network (Johnson et al. 2016) with an optional two-frame temporal loss.

One step draws ``batch_size`` frame pairs ``(current, previous, flow, mask)`` —
real consecutive DAVIS frames (flow from the project's estimator, Ruder et al.
reliability) or synthetic motion of stills (analytic flow, :mod:`.motion`) —
and minimises, with ``O = net(I)``:

* content: relative MSE of VGG-19 features (relu3_1 by default) of ``O_t`` vs ``I_t``;
* style: relative Gram distances, relu1_1…relu4_1, of ``O_t`` vs the style image;
* total variation of ``O_t``;
* temporal (Huang et al. 2017, ReCoNet): ``‖M ⊙ (O_t − warp(O_{t−1}, flow))‖²`` via
  :func:`vidstyle.losses.temporal_loss`, plus optionally ReCoNet's luminance term that
  lets the output change only as much as the input's luminance did.

Without a temporal weight only ``current`` goes through the net (half the cost),
on the same data. The driver (:func:`drive`) is shared with :mod:`.distil`:
checkpoints every N steps and on Ctrl-C, ``--resume``, progress bar with losses,
fp16 safetensors + JSON model card + loss-curve PNG at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from ..config import TrainConfig
from ..errors import VidstyleError
from ..losses import content_loss, gram_matrix, style_loss, temporal_loss, tv_loss
from ..nets.transformer import TransformerNet, build_net, count_parameters
from ..progress import progress_bar
from ..weights import save_safetensors, sha256_file
from .common import LossHistory, StopOnInterrupt, load_checkpoint, plot_losses, save_checkpoint, seed_everything

#: ITU-R BT.601 luma weights (ReCoNet's luminance term).
_LUMA = (0.299, 0.587, 0.114)


def default_checkpoint(out: Path) -> Path:
    """Checkpoints live outside the repo (they hold optimiser state, ~3× the weights).

    The name carries a hash of the output's absolute path: two projects that both write
    ``models/my-style.safetensors`` never share (or resume) each other's checkpoint.
    """
    import hashlib

    where = hashlib.sha256(str(Path(out).resolve()).encode()).hexdigest()[:8]
    return Path.home() / ".cache" / "vidstyle" / "train" / f"{Path(out).stem}-{where}.ckpt.pt"


#: Options that may change on ``--resume`` (a longer run, other checkpoint cadence).
RESUMABLE_OPTIONS = ("steps", "checkpoint_every")


def training_recipe(kind: str, cfg: Any, **inputs: Any) -> dict[str, Any]:
    """Everything that shapes the trained weights except the step count: what a checkpoint is keyed by.

    ``inputs`` names the data (style SHA-256, resolved content/video folders, init/teacher weights).
    """
    import json

    config = {k: v for k, v in asdict(cfg).items() if k not in RESUMABLE_OPTIONS}
    return json.loads(json.dumps({"kind": kind, "config": config, **inputs}, sort_keys=True, default=str))


def check_recipe(saved: dict[str, Any] | None, recipe: dict[str, Any] | None, checkpoint: Path) -> None:
    """Refuse to resume a checkpoint made by a different recipe (one line naming what differs)."""
    if recipe is None:
        return
    if saved is None:
        raise VidstyleError(f"checkpoint {checkpoint} does not record its training recipe; "
                            "delete it (or drop --resume) to start afresh")
    flat = lambda d, pre="": {f"{pre}{k}": v for k0, v0 in d.items()  # noqa: E731
                              for k, v in (flat(v0, f"{k0}.").items() if isinstance(v0, dict) else [(k0, v0)])}
    a, b = flat(saved), flat(recipe)
    differ = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    if differ:
        raise VidstyleError(f"checkpoint {checkpoint} was made by another training recipe ({', '.join(differ[:6])}"
                            f"{' …' if len(differ) > 6 else ''} differ); drop --resume, or pass --checkpoint to pick another")


def check_model_output(out: Path, force: bool) -> None:
    """Before any training: the weights (and the card, loss curve beside them) can be written, and a
    finished model is never rewritten without ``--force`` — not even by ``--resume``."""
    from ..media.atomic import check_output

    if out.exists() and not force:
        raise VidstyleError(f"{out} exists (a finished model); pass --force to overwrite it")
    check_output(out, force=True)


class PairSource:
    """Draws training batches: DAVIS pairs with probability ``video_fraction`` (when given), else stills
    (turned into synthetic-motion pairs when ``pairs``)."""

    def __init__(self, content: Sequence[str | Path], size: int, video: str | Path | None, cfg: TrainConfig,
                 pairs: bool, flow_cache: str | Path | None = None) -> None:
        from .datasets import StillCrops, VideoPairs

        self.stills = StillCrops(content, size)
        self.video = VideoPairs(video, size, exclude=cfg.held_out, flow_method=cfg.flow_method,
                                cache_dir=flow_cache) if video else None
        self.cfg, self.pairs = cfg, pairs

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"stills": len(self.stills)}
        if self.video is not None:
            d.update(video_pairs=len(self.video), video_sequences=[s.name for s in self.video.sequences],
                     held_out=list(self.cfg.held_out), flow=self.cfg.flow_method)
        return d

    def sample(self, batch: int, g: torch.Generator):
        """``(current, previous | None, flow | None, mask | None)`` on the CPU."""
        from .motion import MotionConfig, synthetic_pair

        if self.video is not None and float(torch.rand(1, generator=g)) < self.cfg.video_fraction:
            return self.video.sample(batch, g)
        stills = self.stills.sample(batch, g)
        if not self.pairs or (self.video is not None and not self.cfg.synthetic_pairs):
            return stills, None, None, None
        motion = MotionConfig() if self.cfg.pair_noise is None else MotionConfig(noise=self.cfg.pair_noise)
        return synthetic_pair(stills, motion, generator=g)


class StyleCriterion:
    """Johnson et al. perceptual losses on VGG-19 against fixed style Gram matrices."""

    def __init__(self, style: torch.Tensor, cfg: TrainConfig, device, vgg_source: str = "auto") -> None:
        from ..nets.vgg import load_vgg

        self.cfg = cfg
        self.layers = tuple(dict.fromkeys(cfg.style_layers + cfg.content_layers))
        self.vgg = load_vgg(self.layers, source=vgg_source, device=device)
        with torch.no_grad():
            feats = self.vgg(style.to(device), cfg.style_layers)
        self.style_grams = {k: gram_matrix(v) for k, v in feats.items()}

    def __call__(self, output: torch.Tensor, content: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.vgg(output, self.layers)
        with torch.no_grad():
            target = self.vgg(content, self.cfg.content_layers)
        lc = sum(content_loss(feats[k], target[k], relative=True) for k in self.cfg.content_layers)
        ls = style_loss({k: gram_matrix(feats[k]) for k in self.cfg.style_layers}, self.style_grams, relative=True)
        return {"content": lc / len(self.cfg.content_layers), "style": ls, "tv": tv_loss(output)}


def luminance_loss(out_t, warped_out, in_t, warped_in, mask) -> torch.Tensor:
    """ReCoNet: ``‖M ⊙ (ΔO_Y − ΔI_Y)‖²`` — the output's luminance may change only as the input's did."""
    w = out_t.new_tensor(_LUMA).view(1, 3, 1, 1)
    d = ((out_t - warped_out) * w).sum(1, keepdim=True) - ((in_t - warped_in) * w).sum(1, keepdim=True)
    return (mask * d.pow(2)).mean()


def drive(net: torch.nn.Module, step_fn: Callable[[torch.Generator], dict[str, torch.Tensor]], cfg: TrainConfig,
          checkpoint: Path, resume: bool, progress: bool, description: str,
          extra: dict[str, Any] | None = None) -> tuple[int, LossHistory, bool, float]:
    """Run the optimisation loop with checkpoints, resume and Ctrl-C handling.

    ``step_fn(generator)`` returns named losses; their weighted sum must be under key ``"total"``.

    Returns:
        ``(steps done, history, interrupted, seconds spent in this run)``.
    """
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    step, history = 0, LossHistory()
    seed_everything(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    if resume:
        if checkpoint.exists():
            check_recipe(_saved_recipe(checkpoint), (extra or {}).get("recipe"), checkpoint)
        step, history, saved = load_checkpoint(checkpoint, net, opt)
        if "generator" in saved:
            g.set_state(saved["generator"])
    elif checkpoint.exists():
        raise VidstyleError(f"checkpoint {checkpoint} exists: pass --resume to continue it, or delete it to restart")

    def save() -> None:
        save_checkpoint(checkpoint, net, opt, step, history, {**(extra or {}), "generator": g.get_state()})

    net.train()
    interrupted, t0 = False, time.perf_counter()
    with StopOnInterrupt() as stop, progress_bar(cfg.steps, description, enabled=progress) as bar:
        bar.update(step)
        while step < cfg.steps:
            losses = step_fn(g)
            opt.zero_grad(set_to_none=True)
            losses["total"].backward()
            opt.step()
            step += 1
            history.add(step, **{k: v.item() for k, v in losses.items()})
            bar.update(1, **{k: history.recent(k) for k in losses})
            if not progress and step % 10 == 0:  # a log line for nohup runs
                print(f"step {step}/{cfg.steps} " + " ".join(f"{k} {history.recent(k):.4g}" for k in losses),
                      f"{(time.perf_counter() - t0):.0f}s", flush=True)
            if step % cfg.checkpoint_every == 0 or stop.stop:
                save()
            if stop.stop:
                interrupted = True
                break
        save()
    return step, history, interrupted, time.perf_counter() - t0


def _saved_recipe(checkpoint: Path) -> dict[str, Any] | None:
    try:
        ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    except Exception:  # noqa: BLE001 — load_checkpoint reports an unreadable file in one line
        return {}
    return (ckpt.get("extra") or {}).get("recipe")


def drive_to_end(net: torch.nn.Module, step_fn: Callable[[torch.Generator], dict[str, torch.Tensor]], cfg: TrainConfig,
                 out: Path, checkpoint: str | Path | None, resume: bool, progress: bool, description: str,
                 extra: dict[str, Any]) -> tuple[int, LossHistory, float]:
    """:func:`drive` with the default checkpoint beside nothing in the repo; an interrupted run is a clear error.

    Returns:
        ``(steps, history, seconds)`` of a run that reached ``cfg.steps``.
    """
    ckpt = Path(checkpoint) if checkpoint else default_checkpoint(out)
    steps, history, interrupted, seconds = drive(net, step_fn, cfg, ckpt, resume, progress, description, extra=extra)
    if interrupted:
        raise VidstyleError(f"interrupted at step {steps}/{cfg.steps}: checkpoint saved to {ckpt}; "
                            "rerun with --resume to continue")
    return steps, history, seconds


def finish(net: TransformerNet, out: Path, card: dict[str, Any], history: LossHistory, steps: int,
           force: bool) -> dict[str, Any]:
    """Write fp16 weights, the model card and the loss curve; return the card."""
    from ..weights import write_card

    if out.exists() and not force:
        raise VidstyleError(f"{out} exists; pass --force to overwrite it")
    meta = {**net.spec.to_metadata(), "name": card["name"], "format": "vidstyle-transformer-1"}
    digest = save_safetensors(net.state_dict(), out, metadata=meta, half=True)
    curve = plot_losses(history, out.with_name(f"{out.stem}.loss.png"), title=f"{card['name']}: training losses")
    card["training"]["steps"] = steps
    init = card["training"].get("init_from") or {}
    card["training"]["total_steps"] = steps + int(init.get("steps", 0))
    if "style_steps" not in card["training"]:
        # steps on *this* style: a parent counts only when it was trained on the same image
        same = init.get("style_sha256") and init.get("style_sha256") == (card.get("style") or {}).get("sha256")
        card["training"]["style_steps"] = steps + (int(init.get("style_steps") or 0) if same else 0)
    card["final_losses"] = {k: round(v, 6) for k, v in history.summary(20).items()}
    card["weights"] = {"file": out.name, "sha256": digest, "bytes": out.stat().st_size, "dtype": "float16",
                       "parameters": count_parameters(net)}
    card["loss_curve"] = curve.name
    card["created"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    card.setdefault("benchmark", {"speed": None, "e_warp": None})
    write_card(out, card)
    return card


def load_init(net: TransformerNet, init: str | Path | None) -> dict[str, Any] | None:
    """Load ``init``'s weights into ``net`` (fine-tuning) and return what the card records of it
    (``training.init_from``: name, checksum, steps, style and steps on that style); None without ``init``.

    Raises:
        VidstyleError: ``init`` is a network of another architecture.
    """
    if init is None:
        return None
    from ..nets.transformer import load_transformer

    src, init_card = load_transformer(init)
    if src.spec != net.spec:
        raise VidstyleError(f"--init {init} is a {src.spec.arch} network; this run trains {net.spec.arch}")
    net.load_state_dict(src.state_dict())
    training = init_card.get("training", {})
    return {"model": init_card.get("name", str(init)), "sha256": init_card.get("weights", {}).get("sha256"),
            "steps": int(training.get("total_steps", training.get("steps", 0))),
            "style_sha256": (init_card.get("style") or {}).get("sha256"), "style_steps": style_steps(init_card)}


def style_steps(card: dict[str, Any]) -> int:
    """Training steps a model's card records on its own style image (``--method auto``'s guard).

    Cards written before ``style_steps`` existed count only their own ``steps`` (a parent made with
    ``--init`` may have learnt another painting).
    """
    training = card.get("training") or {}
    try:
        return int(training.get("style_steps", training.get("steps", 0)) or 0)
    except (TypeError, ValueError):
        return 0


def style_info(style: Path, out: Path) -> dict[str, Any]:
    return {"file": style.name, "sha256": sha256_file(style), "thumbnail": f"{out.stem.removesuffix('-lite')}.style.jpg"}


def write_thumbnail(style: Path, out: Path, side: int = 256) -> None:
    """A small JPEG of the style image beside the weights (for `vidstyle models` and GUIs)."""
    from PIL import Image

    thumb = out.with_name(f"{out.stem.removesuffix('-lite')}.style.jpg")
    if thumb.exists():
        return
    with Image.open(style) as im:
        im = im.convert("RGB")
        im.thumbnail((side, side), Image.Resampling.LANCZOS)
        im.save(thumb, quality=90)


def train_style(style: str | Path, content: Sequence[str | Path], out: str | Path, cfg: TrainConfig = TrainConfig(),
                video: str | Path | None = None, init: str | Path | None = None, checkpoint: str | Path | None = None,
                resume: bool = False, device: str = "auto", vgg_source: str = "auto", force: bool = False,
                progress: bool = True, flow_cache: str | Path | None = None, name: str | None = None) -> dict[str, Any]:
    """Train a full/lite network on one style image; write ``out`` (fp16 safetensors) and its card.

    Args:
        style: style image.
        content: folders of stills (random crops of ``cfg.size``).
        out: the ``.safetensors`` to write (card: same stem, ``.json``).
        video: optional folder of DAVIS sequences for real frame pairs (``cfg.held_out`` excluded).
        init: optional model to start from (fine-tuning: a network of another style converges much faster).
        checkpoint: resumable state (default ``~/.cache/vidstyle/train/NAME.ckpt.pt``).

    Returns:
        The model card (dict). Interrupted runs save a checkpoint and write no weights.
    """
    from ..device import resolve_device
    from ..media.image import load_image, resize_long_side

    style, out = Path(style), Path(out)
    if out.suffix != ".safetensors":
        raise VidstyleError(f"--out must end in .safetensors, got {out}")
    check_model_output(out, force)
    if not style.is_file():
        raise VidstyleError(f"style image {style} not found")
    dev = resolve_device(device)
    seed_everything(cfg.seed)
    net = build_net(cfg.arch, residual=cfg.residual).to(dev)
    init_info = load_init(net, init)
    style_img = resize_long_side(load_image(style, need=cfg.style_size), cfg.style_size)
    crit = StyleCriterion(style_img, cfg, dev, vgg_source)
    temporal = cfg.temporal_weight > 0 or cfg.luminance_weight > 0
    data = PairSource(content, cfg.size, video, cfg, pairs=temporal, flow_cache=flow_cache)

    def step_fn(g: torch.Generator) -> dict[str, torch.Tensor]:
        from ..flow import warp

        cur, prev, flow, mask = data.sample(cfg.batch_size, g)
        cur = cur.to(dev)
        pair = temporal and prev is not None  # stills come unpaired with synthetic_pairs off
        if pair:
            both = net(torch.cat([cur, prev.to(dev)]))
            out_t, out_prev = both.chunk(2)
        else:
            out_t = net(cur)
        losses = crit(out_t, cur)
        total = cfg.content_weight * losses["content"] + cfg.style_weight * losses["style"] + cfg.tv_weight * losses["tv"]
        if pair:
            flow, mask = flow.to(dev), mask.to(dev)
            warped = warp(out_prev, flow)
            losses["temporal"] = temporal_loss(out_t, warped, mask)
            total = total + cfg.temporal_weight * losses["temporal"]
            if cfg.luminance_weight > 0:
                losses["luminance"] = luminance_loss(out_t, warped, cur, warp(prev.to(dev), flow), mask)
                total = total + cfg.luminance_weight * losses["luminance"]
        losses["total"] = total
        return losses

    name = name or out.stem
    steps, history, seconds = drive_to_end(net, step_fn, cfg, out, checkpoint, resume, progress, f"train {name}",
                                           extra={"config": asdict(cfg), "style": str(style),
                                                  "recipe": training_recipe(
                                                      "train", cfg, style=sha256_file(style),
                                                      content=[str(Path(c).resolve()) for c in content],
                                                      video=str(Path(video).resolve()) if video else None,
                                                      init=(init_info or {}).get("sha256"), vgg=vgg_source)})
    write_thumbnail(style, out)
    card = {
        "name": name, "arch": cfg.arch, "kind": "feedforward-transformer",
        "style": style_info(style, out),
        "training": {"content": [str(c) for c in content], "video": str(video) if video else None,
                     "data": data.describe(), "steps": steps, "size": cfg.size, "style_size": cfg.style_size,
                     "batch_size": cfg.batch_size, "lr": cfg.lr, "content_weight": cfg.content_weight,
                     "style_weight": cfg.style_weight, "tv_weight": cfg.tv_weight,
                     "temporal_weight": cfg.temporal_weight, "luminance_weight": cfg.luminance_weight,
                     "synthetic_pairs": cfg.synthetic_pairs, "pair_noise": cfg.pair_noise,
                     "content_layers": list(cfg.content_layers), "style_layers": list(cfg.style_layers),
                     "init_from": init_info, "seed": cfg.seed, "device": str(dev),
                     "seconds_last_run": round(seconds, 1), "vgg": crit.vgg.normalisation},
        "image_size": cfg.size,
    }
    return finish(net.cpu(), out, card, history, steps, force=True)


__all__ = ["train_style", "drive", "drive_to_end", "finish", "training_recipe", "check_recipe", "check_model_output",
           "style_steps", "StyleCriterion", "PairSource", "luminance_loss", "default_checkpoint",
           "style_info", "write_thumbnail"]
