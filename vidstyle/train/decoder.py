"""Training the decoders of the arbitrary-style methods (WCT and AdaIN) on the project's VGG-19.

* ``wct``: feature inversion only — ``D(E(x)) ≈ x`` with a pixel MSE plus a relative feature
  MSE at the decoder's level (Li et al. 2017). Content photos only, no paintings.
* ``adain`` (relu4_1): ``t = AdaIN(E(c), E(s))``, loss = ``content_weight·‖E(D(t)) − t‖²/‖t‖²`` +
  ``style_weight·mean_l (‖μ_l(D(t)) − μ_l(s)‖² + ‖σ_l(D(t)) − σ_l(s)‖²) / (‖μ_l(s)‖² + ‖σ_l(s)‖²)`` over
  relu1_1…relu4_1 (Huang & Belongie 2017, with scale-free relative terms), plus
  ``identity_weight·‖D(E(c)) − c‖²``, the identity loss of SANet (Park & Lee 2019): without it a
  few thousand CPU steps leave the relu4_1 decoder unable to draw a photo at all.

Images are random ``size×size`` crops in RGB [0, 1] (:class:`vidstyle.train.datasets.StillCrops`).
The style statistics of ``style_crops`` random crops per painting are computed once at start (no
style encoder pass per step). The loop, checkpoints and resume are :func:`vidstyle.train.loop.drive`'s.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..config import DecoderTrainConfig
from ..errors import VidstyleError
from ..nets.decoder import LEVELS, Decoder, load_decoder
from ..nets.vgg import VGGEncoder
from ..stylise.adain import adain, mean_std
from ..weights import model_weights, save_safetensors
from .common import LossHistory, plot_losses
from .datasets import StillCrops
from .loop import default_checkpoint, drive


@torch.no_grad()
def style_statistics(encoder: VGGEncoder, bank: StillCrops, crops: int, layers: Sequence[str],
                     device: torch.device, generator: torch.Generator) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Mean/std (each ``K×C×1×1``, on the CPU) at ``layers`` of ``K ≈ crops × paintings`` random painting crops."""
    stats: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {layer: [] for layer in layers}
    for _ in range(-(-len(bank) * crops // 4)):
        feats = encoder(bank.sample(4, generator).to(device), layers)
        for layer in layers:
            stats[layer].append(tuple(t.cpu() for t in mean_std(feats[layer])))
    return {layer: (torch.cat([m for m, _ in v]), torch.cat([s for _, s in v])) for layer, v in stats.items()}


class DecoderLoss:
    """The training loss of one method: ``__call__(content N×3×S×S, generator) -> {name: scalar}`` with ``total``."""

    def __init__(self, cfg: DecoderTrainConfig, encoder: VGGEncoder, decoder: Decoder,
                 style_stats: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None) -> None:
        self.cfg, self.encoder, self.decoder, self.style_stats = cfg, encoder, decoder, style_stats

    def __call__(self, content: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        if cfg.method == "wct":
            with torch.no_grad():
                target = self.encoder(content, [cfg.level])[cfg.level]
            out = self.decoder(target)
            feat = self.encoder(out, [cfg.level])[cfg.level]
            pixel = F.mse_loss(out, content)
            feature = F.mse_loss(feat, target) / target.pow(2).mean().clamp_min(1e-8)  # scale-free across levels
            return {"total": cfg.pixel_weight * pixel + cfg.feature_weight * feature, "pixel": pixel, "feature": feature}
        assert self.style_stats is not None, "adain needs style statistics"
        n = content.shape[0]
        pick = torch.randint(len(self.style_stats["relu4_1"][0]), (n,), generator=generator)
        with torch.no_grad():
            fc = self.encoder(content, ["relu4_1"])["relu4_1"]
            s_mean, s_std = (t[pick].to(content.device) for t in self.style_stats["relu4_1"])
            target = adain(fc, s_mean, s_std)
        out = self.decoder(target)
        feats = self.encoder(out, cfg.style_layers)
        # Relative terms (each divided by its target's power), as everywhere in vidstyle.losses: Caffe-scale
        # relu1_1 statistics are ~10³× relu4_1's, and with raw MSEs the shallow style terms swamp the
        # content term — the decoder then collapses to one texture whatever the input.
        c_loss = F.mse_loss(feats["relu4_1"], target) / target.pow(2).mean().clamp_min(1e-8)
        s_loss = content.new_zeros(())
        for layer in cfg.style_layers:
            m, s = mean_std(feats[layer])
            tm, ts = (t[pick].to(content.device) for t in self.style_stats[layer])
            power = (tm.pow(2).mean() + ts.pow(2).mean()).clamp_min(1e-8)
            s_loss = s_loss + (F.mse_loss(m, tm, reduction="sum") + F.mse_loss(s, ts, reduction="sum")) / (power * tm.numel())
        s_loss = s_loss / len(cfg.style_layers)
        losses = {"content": c_loss, "style": s_loss}
        total = cfg.content_weight * c_loss + cfg.style_weight * s_loss
        if cfg.identity_weight > 0:  # D(E(c)) ≈ c: a pixel-level signal that teaches the decoder to render images
            losses["identity"] = F.mse_loss(self.decoder(fc), content)
            total = total + cfg.identity_weight * losses["identity"]
        return {"total": total, **losses}


@torch.no_grad()
def solve_linear_decoder(decoder: Decoder, encoder: VGGEncoder, contents: StillCrops, generator: torch.Generator,
                         batches: int = 8, batch_size: int = 4, ridge: float = 1e-6) -> float:
    """Set a ``relu1_1`` decoder (one 3×3 conv, linear) to its least-squares optimum; return the pixel MSE.

    ``x ≈ W·patches(relu1_1(x)) + b`` is ridge regression: accumulate the normal equations over a few
    batches in float64 and solve — seconds instead of thousands of noisy gradient steps. Gradient steps
    then only fine-tune (they add the feature term).
    """
    conv = next(m for m in decoder.layers if isinstance(m, torch.nn.Conv2d))
    if decoder.level != "relu1_1" or len(list(decoder.parameters())) != 2:
        raise VidstyleError("only the relu1_1 decoder is linear")
    device = conv.weight.device
    k = conv.in_channels * 9 + 1
    gram = torch.zeros(k, k, dtype=torch.float64, device=device)
    cross = torch.zeros(k, 3, dtype=torch.float64, device=device)
    for _ in range(batches):
        x = contents.sample(batch_size, generator).to(device)
        f = encoder(x, ["relu1_1"])["relu1_1"] * decoder.input_scale
        cols = F.unfold(F.pad(f, (1, 1, 1, 1), mode="reflect"), 3)  # N×(C·9)×P, same order as conv weights
        cols = torch.cat([cols, torch.ones_like(cols[:, :1])], 1).transpose(1, 2).reshape(-1, k).double()
        gram += cols.T @ cols
        cross += cols.T @ x.flatten(2).transpose(1, 2).reshape(-1, 3).double()
    gram += ridge * gram.diagonal().mean() * torch.eye(k, dtype=torch.float64, device=device)
    sol = torch.linalg.solve(gram, cross)  # k×3
    conv.weight.copy_(sol[:-1].T.reshape_as(conv.weight))
    conv.bias.copy_(sol[-1])
    x = contents.sample(batch_size, generator).to(device)
    return float(F.mse_loss(decoder(encoder(x, ["relu1_1"])["relu1_1"]), x))


def init_decoder(decoder: Decoder, path: str | Path, normalisation: str) -> int:
    """Start ``decoder`` from trained weights of the same or a shallower level (its mirrored tail).

    The decoder of ``reluK_1`` ends with exactly the layers of the ``relu(K−1)_1`` decoder, so a
    trained shallower decoder gives the deep one an image-rendering tail to begin with (curriculum).
    Returns the number of convs copied.
    """
    meta = model_weights(path, verify=False).load()[1]
    other = load_decoder(path, meta.get("method", "wct"), meta.get("level", decoder.level), normalisation)
    return decoder.init_from(other)


def write_decoder(decoder: Decoder, out: Path, cfg: DecoderTrainConfig, steps: int, history: LossHistory,
                  vgg_normalisation: str, seconds: float, data: dict[str, Any], interrupted: bool = False) -> dict[str, Any]:
    """fp16 weights + JSON model card (keys of :data:`vidstyle.weights.CARD_KEYS`) + loss-curve PNG."""
    from ..nets.decoder import card_path
    from ..weights import write_card

    name = out.stem
    meta = {"format": "vidstyle-decoder-1", "arch": "vgg19-mirror-decoder", "method": cfg.method, "level": cfg.level,
            "vgg_normalisation": vgg_normalisation, "steps": str(steps)}
    digest = save_safetensors(decoder.state_dict(), out, metadata=meta, half=True)
    curve = plot_losses(history, out.with_name(f"{name}.loss.png"), title=f"{name}: training losses") \
        if history.data else None
    card = {
        "name": name, "arch": f"decoder-{cfg.method}", "kind": "decoder", "method": cfg.method, "level": cfg.level,
        "vgg_normalisation": vgg_normalisation,
        "style": {"file": None, "note": "arbitrary style: any painting at run time"},
        "training": {"steps": steps, "interrupted": interrupted, "seconds_this_run": round(seconds),
                     "config": asdict(cfg), **data},
        "final_losses": {k: round(v, 6) for k, v in history.summary(20).items()},
        "weights": {"file": out.name, "sha256": digest, "bytes": out.stat().st_size, "dtype": "float16",
                    "parameters": sum(p.numel() for p in decoder.parameters())},
        "loss_curve": curve.name if curve else None,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "benchmark": {"speed": None, "e_warp": None},
    }
    write_card(out, card)
    assert card_path(out).is_file()
    return card


def _card_says_interrupted(out: Path) -> bool:
    import json

    try:
        return bool(json.loads(out.with_suffix(".json").read_text())["training"].get("interrupted"))
    except (OSError, ValueError, KeyError, TypeError):
        return False


def train_decoder(cfg: DecoderTrainConfig, content: Sequence[str | Path], styles: Sequence[str | Path], out: str | Path,
                  encoder: VGGEncoder, checkpoint: str | Path | None = None, resume: bool = False,
                  init: str | Path | None = None, device: torch.device | str = "cpu",
                  progress: bool = True, force: bool = False) -> dict[str, Any]:
    """Train (or resume) a decoder; write ``out`` (fp16 safetensors), its model card and ``.loss.png``.

    Checkpoints, Ctrl-C/SIGTERM and ``resume`` behave as in ``vidstyle train`` (:func:`vidstyle.train.loop.drive`):
    a checkpoint every ``cfg.checkpoint_every`` steps and on interruption. An interrupted run also writes
    the weights reached so far (the card says ``interrupted`` and the steps actually trained).

    Args:
        content: folders of content photos.
        styles: folders of paintings (``adain`` only); stems in ``cfg.hold_out`` are never used.
        encoder: VGG-19 deep enough for the loss layers.
        checkpoint: default ``~/.cache/vidstyle/train/<out stem>.ckpt.pt``.
        init: start from a trained decoder of the same or a shallower level (:func:`init_decoder`).
        progress: progress bar; without it, a log line every 10 steps.

    Returns:
        The model card.
    """
    if cfg.level not in LEVELS:
        raise VidstyleError(f"--level must be one of {', '.join(LEVELS)}, got {cfg.level}")
    if cfg.method == "adain" and cfg.level != "relu4_1":
        raise VidstyleError("the AdaIN decoder works at relu4_1 only; use --level relu4_1")
    if cfg.method == "adain" and not styles:
        raise VidstyleError("AdaIN decoder training needs paintings: pass --styles DIR")
    device = torch.device(device)
    out = Path(out)
    from .loop import check_model_output, training_recipe

    if out.suffix != ".safetensors":
        raise VidstyleError(f"--out must end in .safetensors, got {out}")
    # --resume may overwrite the weights an *interrupted* run wrote, never a finished decoder
    partial = resume and out.is_file() and _card_says_interrupted(out)
    check_model_output(out, force or partial)
    recipe = training_recipe("decoder", cfg, content=[str(Path(c).resolve()) for c in content],
                             styles=[str(Path(p).resolve()) for p in styles],
                             init=str(Path(init).resolve()) if init is not None else None, vgg=encoder.normalisation)
    checkpoint = Path(checkpoint) if checkpoint else default_checkpoint(out)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)

    contents = StillCrops(content, cfg.size, scale=1.15)
    data: dict[str, Any] = {"content_images": len(contents), "content_folders": [str(c) for c in content]}
    style_stats = None
    if cfg.method == "adain":
        paintings = StillCrops(styles, cfg.size, scale=1.5)
        keep = [i for i, f in enumerate(paintings.files) if f.stem not in set(cfg.hold_out)]
        paintings.files = [paintings.files[i] for i in keep]
        paintings.images = [paintings.images[i] for i in keep]
        if not keep:
            raise VidstyleError(f"every painting in {', '.join(map(str, styles))} is held out; add more paintings")
        style_stats = style_statistics(encoder, paintings, cfg.style_crops, cfg.style_layers, device,
                                       torch.Generator().manual_seed(cfg.seed + 1))
        data.update(paintings=[f.name for f in paintings.files], held_out=list(cfg.hold_out))

    decoder = Decoder(cfg.level).to(device)
    if not resume:
        with torch.no_grad():  # condition the first conv: features of unit RMS whatever the level
            probe = encoder(contents.sample(8, torch.Generator().manual_seed(cfg.seed + 2)).to(device), [cfg.level])
            decoder.input_scale.fill_(float(probe[cfg.level].pow(2).mean().rsqrt()))
    if init is not None and not resume:
        data["init"] = {"from": Path(init).name, "convs_copied": init_decoder(decoder, init, encoder.normalisation)}
    elif cfg.level == "relu1_1" and not resume:
        mse = solve_linear_decoder(decoder, encoder, contents, torch.Generator().manual_seed(cfg.seed + 3))
        data["init"] = {"least_squares_pixel_mse": mse}
        print(f"relu1_1 decoder solved by least squares: pixel MSE {mse:.3g}", flush=True)
    loss_fn = DecoderLoss(cfg, encoder, decoder, style_stats)

    def step_fn(generator: torch.Generator) -> dict[str, torch.Tensor]:
        return loss_fn(contents.sample(cfg.batch_size, generator).to(device), generator)

    steps, history, interrupted, seconds = drive(decoder, step_fn, cfg, checkpoint, resume, progress,  # type: ignore[arg-type]
                                                 f"train {cfg.method} decoder {cfg.level}", extra={"recipe": recipe})
    decoder.eval()
    card = write_decoder(decoder, out, cfg, steps, history, encoder.normalisation, seconds, data, interrupted)
    if interrupted:
        raise VidstyleError(f"interrupted at step {steps}/{cfg.steps}: weights so far written to {out}, checkpoint "
                            f"{checkpoint}; continue with --resume")
    return card


__all__ = ["DecoderLoss", "init_decoder", "solve_linear_decoder", "style_statistics", "train_decoder", "write_decoder"]
