"""Training the geometric-matching regressors (affine, TPS) of geometric style transfer (arXiv:2007.05471).

Training data is made automatically, as in the seed: a crop ``I_a`` (240 px) of a photo, random parameters
``Θ`` (:func:`vidstyle.nets.geometry.random_params`), ``I_b`` = ``I_a`` warped by ``Θ`` and stylised with
a random training painting by the style-embedding network (:mod:`vidstyle.nets.magenta`, one fast pass).

On our CPUs VGG-19 up to pool4 costs ~2 s per 240 px image (measured under the shared load, 2026-12-01),
so the triples are made **once** into a *bank* (:func:`make_bank`: pool4 features of ``I_a`` and of every
``I_b``, ``Θ``, and 120 px copies of both images for the image loss) and the regressors train over it
(:func:`train_regressor`, Adam; checkpoints / resume / progress from :func:`vidstyle.train.loop.drive`).
Half of a bank's pairs are affine, half TPS; each regressor trains on all of them, the ground truth of the
other kind being exact (affine → TPS) or the least-squares fit (TPS → affine).

Losses (``loss``): ``image`` — the seed's ``‖I_b − M_Θ̂(I_a)‖²`` (mean over pixels, at 120 px); ``grid`` —
Rocco et al.'s grid loss, the mean squared distance between the 10×10 grid points mapped by ``Θ̂`` and ``Θ``;
``image+grid`` — their sum (``grid_weight`` on the grid term).

    python -m vidstyle.train.geometry bank --content DIR ... --out BANK.pt --pairs 600
    python -m vidstyle.train.geometry train --bank BANK.pt --kind affine --out models/geometry-affine.safetensors
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import VidstyleError
from ..media.atomic import replacing
from ..nets.geometry import (
    GEOMETRY_LAYER,
    GEOMETRY_SIZE,
    GeometryRegressor,
    affine_to_tps,
    check_kind,
    grid_loss,
    match_input,
    point_error_px,
    random_params,
    tps_to_affine,
    warp_image,
)

#: Paintings never used for training (evaluation only), by file stem.
HELD_OUT_PAINTINGS = ("munch_the_scream", "VincentVanGoghBridge_background")
LOSSES = ("image", "grid", "image+grid")


@dataclass(frozen=True)
class GeometryTrainConfig:
    """Regressor training over a bank."""

    kind: str = "affine"
    loss: str = "image+grid"
    grid_weight: float = 1.0
    steps: int = 1000
    batch_size: int = 16
    lr: float = 5e-4
    widths: tuple[int, int] = (64, 32)  # half Rocco et al.'s: a 400-pair bank, 2 CPU cores
    checkpoint_every: int = 100
    seed: int = 0


def list_paintings(folders: Sequence[str | Path], exclude: Sequence[str] = HELD_OUT_PAINTINGS,
                   only: Sequence[str] | None = None) -> list[Path]:
    """Painting files in ``folders`` (stems in ``exclude`` left out; ``only`` keeps just those stems)."""
    from .datasets import list_images

    files = [p for p in list_images(folders) if p.stem not in exclude]
    if only is not None:
        files = [p for p in files if p.stem in only]
    if not files:
        raise VidstyleError(f"no paintings found in {', '.join(map(str, folders))}")
    return files


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


@torch.no_grad()
def make_bank(content: Sequence[str | Path], paintings: Sequence[str | Path], out: str | Path, pairs: int = 600,
              per_crop: int = 3, size: int = GEOMETRY_SIZE, image_size: int = 120, seed: int = 0,
              resume: bool = False, progress: bool = True, encoder=None, stylise=None) -> dict[str, Any]:
    """Make ``pairs`` training triples and save them to ``out`` (``torch.save``; a checkpoint every 10 crops).

    Args:
        content: photo folders (random ``size`` crops, as for feed-forward training).
        paintings: style images for ``I_b`` (a random one per pair).
        per_crop: pairs per crop ``I_a`` (its features are computed once); kinds alternate affine / TPS.
        encoder: VGG encoder (default: the project's VGG-19 up to pool4); ``stylise(images, painting_index)``:
            the styliser (default: the style-embedding network) — both injectable for tests.

    Returns:
        The bank dict (see the module docstring).
    """
    from ..media.image import load_image
    from ..progress import progress_bar
    from .datasets import StillCrops

    out = Path(out)
    paintings = [Path(p) for p in paintings]
    if encoder is None:
        from ..nets.vgg import load_vgg

        encoder = load_vgg((GEOMETRY_LAYER,))
    if stylise is None:
        from ..nets.magenta import fuse_magenta, load_predictor, load_transformer
        from ..stylise.magenta import style_views

        predictor, generator = load_predictor(), fuse_magenta(load_transformer())
        zs = torch.cat([predictor(style_views(load_image(p))).mean(0, keepdim=True) for p in paintings])

        def stylise(images: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
            return torch.cat([generator(images[i:i + 1], zs[int(w)].unsqueeze(0)) for i, w in enumerate(which)]).clamp(0, 1)

    crops = StillCrops(content, size)
    n_crops = -(-pairs // per_crop)
    bank: dict[str, Any] = {"fa": [], "fb": [], "crop": [], "kind": [], "theta_affine": [], "theta_tps": [],
                            "painting": [], "ia": [], "ib": [], "done": 0}
    g = torch.Generator().manual_seed(seed)
    if resume and out.is_file():
        bank = torch.load(out, weights_only=False)
        g.set_state(bank["generator"])
    small = (image_size, image_size)

    def save() -> None:
        bank.update(generator=g.get_state(), content=[str(c) for c in content], paintings=[p.name for p in paintings],
                    size=size, image_size=image_size, per_crop=per_crop, seed=seed, layer=GEOMETRY_LAYER,
                    content_files=len(crops))
        with replacing(out) as tmp:
            torch.save(bank, tmp)

    t0 = time.perf_counter()
    with progress_bar(n_crops, f"bank {out.name}", enabled=progress) as bar:
        bar.update(bank["done"])
        while bank["done"] < n_crops:
            c = bank["done"]
            ia = crops.sample(1, g)
            kinds = ["affine" if (c * per_crop + j) % 2 == 0 else "tps" for j in range(per_crop)]
            thetas = [random_params(k, 1, g) for k in kinds]
            warped = torch.cat([warp_image(ia, t, k) for t, k in zip(thetas, kinds)])
            which = torch.randint(len(paintings), (per_crop,), generator=g)
            ib = stylise(warped, which)
            feats = encoder(torch.cat([ia, ib]), (GEOMETRY_LAYER,))[GEOMETRY_LAYER].half()
            bank["fa"].append(feats[:1])
            bank["ia"].append(_to_uint8(F.interpolate(ia, size=small, mode="bilinear", antialias=True)))
            for j, (t, k) in enumerate(zip(thetas, kinds)):
                bank["fb"].append(feats[1 + j:2 + j])
                bank["ib"].append(_to_uint8(F.interpolate(ib[j:j + 1], size=small, mode="bilinear", antialias=True)))
                bank["crop"].append(c)
                bank["kind"].append(k)
                bank["theta_affine"].append(t if k == "affine" else tps_to_affine(t))
                bank["theta_tps"].append(affine_to_tps(t) if k == "affine" else t)
                bank["painting"].append(int(which[j]))
            bank["done"] += 1
            bar.update(1)
            if not progress and bank["done"] % 10 == 0:
                print(f"bank {bank['done']}/{n_crops} crops {time.perf_counter() - t0:.0f}s", flush=True)
            if bank["done"] % 10 == 0:
                save()
    save()
    return bank


class Bank:
    """A saved bank as tensors: correlation inputs, both kinds' ground truth, 120 px images."""

    def __init__(self, path: str | Path, limit: int | None = None) -> None:
        path = Path(path)
        if not path.is_file():
            raise VidstyleError(f"bank not found: {path} (make it with `python -m vidstyle.train.geometry bank`)")
        raw = torch.load(path, weights_only=False)
        n = len(raw["fb"]) if limit is None else min(limit, len(raw["fb"]))
        self.path, self.meta = path, {k: raw.get(k) for k in ("content", "paintings", "size", "seed", "content_files")}
        self.crop = torch.tensor(raw["crop"][:n])
        self.fa = torch.cat(raw["fa"]).float()
        self.fb = torch.cat(raw["fb"][:n]).float()
        self.corr = torch.cat([match_input(self.fa[self.crop[i:i + 64]], self.fb[i:i + 64]) for i in range(0, n, 64)])
        self.theta = {"affine": torch.cat(raw["theta_affine"][:n]), "tps": torch.cat(raw["theta_tps"][:n])}
        self.kind = raw["kind"][:n]
        self.ia = torch.cat(raw["ia"])
        self.ib = torch.cat(raw["ib"][:n])
        self.painting = raw["painting"][:n]

    def __len__(self) -> int:
        return len(self.fb)

    def images(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(I_a, I_b)`` at 120 px, float in [0, 1], for pair indices ``idx``."""
        return self.ia[self.crop[idx]].float() / 255, self.ib[idx].float() / 255


def pair_losses(net: GeometryRegressor, bank: Bank, idx: torch.Tensor, cfg: GeometryTrainConfig) -> dict[str, torch.Tensor]:
    """The named losses of one batch (``total`` is what is minimised; ``err_px`` is for the log)."""
    pred = net(bank.corr[idx])
    truth = bank.theta[cfg.kind][idx]
    losses: dict[str, torch.Tensor] = {}
    total = pred.new_zeros(())
    if "image" in cfg.loss:
        ia, ib = bank.images(idx)
        losses["image"] = (warp_image(ia, pred, cfg.kind) - ib).pow(2).mean()
        total = total + losses["image"]
    if "grid" in cfg.loss:
        losses["grid"] = grid_loss(pred, truth, cfg.kind)
        total = total + cfg.grid_weight * losses["grid"]
    with torch.no_grad():
        losses["err_px"] = point_error_px(pred, truth, cfg.kind).mean()
    losses["total"] = total
    return losses


def train_regressor(bank: str | Path | Bank, out: str | Path, cfg: GeometryTrainConfig = GeometryTrainConfig(),
                    checkpoint: str | Path | None = None, resume: bool = False, progress: bool = True,
                    name: str | None = None, force: bool = False, limit: int | None = None,
                    write: bool = True) -> tuple[GeometryRegressor, dict[str, Any]]:
    """Train a regressor over ``bank``; write fp16 ``out`` + JSON card (+ loss curve) unless ``write`` is False.

    Returns:
        ``(network in eval mode, card)``.
    """
    from ..config import TrainConfig
    from ..weights import save_safetensors, write_card
    from .common import plot_losses
    from .loop import drive_to_end

    check_kind(cfg.kind)
    if cfg.loss not in LOSSES:
        raise VidstyleError(f"unknown loss {cfg.loss!r}; choose from {', '.join(LOSSES)}")
    out = Path(out)
    if write and out.suffix != ".safetensors":
        raise VidstyleError(f"--out must end in .safetensors, got {out}")
    if write and out.exists() and not force and not resume:
        raise VidstyleError(f"{out} exists; pass --force to overwrite it")
    data = bank if isinstance(bank, Bank) else Bank(bank, limit)
    torch.manual_seed(cfg.seed)
    net = GeometryRegressor(cfg.kind, grid=data.corr.shape[-1], widths=cfg.widths)
    loop_cfg = TrainConfig(steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                           checkpoint_every=cfg.checkpoint_every, seed=cfg.seed)

    def step_fn(g: torch.Generator) -> dict[str, torch.Tensor]:
        return pair_losses(net, data, torch.randint(len(data), (cfg.batch_size,), generator=g), cfg)

    name = name or out.stem
    steps, history, seconds = drive_to_end(net, step_fn, loop_cfg, out, checkpoint, resume, progress,
                                           f"train {name}", extra={"config": asdict(cfg)})
    net.eval()
    card: dict[str, Any] = {
        "name": name, "arch": f"geometry-regressor-{cfg.kind}", "kind": "geometry-regressor",
        "style": None,
        "training": {"bank": str(data.path), "pairs": len(data), "bank_meta": data.meta,
                     "held_out_paintings": list(HELD_OUT_PAINTINGS), **asdict(cfg), "steps": steps,
                     "seconds_last_run": round(seconds, 1), "device": "cpu"},
        "image_size": GEOMETRY_SIZE, "layer": GEOMETRY_LAYER,
        "final_losses": {k: round(v, 6) for k, v in history.summary(50).items()},
        "benchmark": {"heldout_error_px": None},
    }
    if write:
        digest = save_safetensors(net.state_dict(), out, metadata={**net.metadata(), "name": name}, half=True)
        curve = plot_losses(history, out.with_name(f"{out.stem}.loss.png"), title=f"{name}: training losses")
        card["weights"] = {"file": out.name, "sha256": digest, "bytes": out.stat().st_size, "dtype": "float16",
                           "parameters": sum(p.numel() for p in net.parameters())}
        card["loss_curve"] = curve.name
        card["created"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        write_card(out, card)
    return net, card


@torch.no_grad()
def evaluate(net: GeometryRegressor | None, bank: Bank, kind: str) -> dict[str, float]:
    """Mean point error (px at 240 px) of the regressor (None: identity) on every pair of ``bank``."""
    truth = bank.theta[kind]
    if net is None:
        pred = torch.zeros_like(truth)
    else:
        net.eval()
        pred = torch.cat([net(bank.corr[i:i + 64]) for i in range(0, len(bank), 64)])
    err = point_error_px(pred, truth, kind)
    return {"mean_px": float(err.mean()), "median_px": float(err.median())}


def _main() -> None:  # pragma: no cover - a thin command line for background runs
    import typer

    app = typer.Typer(add_completion=False)

    @app.command()
    def bank(content: list[Path] = typer.Option(...), paintings: list[Path] = typer.Option(...),
             out: Path = typer.Option(...), pairs: int = 600, per_crop: int = 3, seed: int = 0,
             held_out: bool = typer.Option(False, help="Use only the held-out paintings (evaluation banks).")
             ) -> None:
        files = list_paintings(paintings, exclude=() if held_out else HELD_OUT_PAINTINGS,
                               only=HELD_OUT_PAINTINGS if held_out else None)
        print(f"{len(files)} paintings: {', '.join(p.stem for p in files)}", flush=True)
        torch.set_num_threads(2)
        make_bank(content, files, out, pairs=pairs, per_crop=per_crop, seed=seed, resume=True, progress=False)

    @app.command()
    def train(bank: Path = typer.Option(...), out: Path = typer.Option(...), kind: str = "affine",
              loss: str = "image+grid", steps: int = 1000, batch_size: int = 16, lr: float = 5e-4,
              grid_weight: float = 1.0, resume: bool = False, force: bool = False,
              checkpoint: Path | None = None, limit: int | None = None, eval_bank: Path | None = None) -> None:
        torch.set_num_threads(2)
        random.seed(0)
        cfg = GeometryTrainConfig(kind=kind, loss=loss, steps=steps, batch_size=batch_size, lr=lr, grid_weight=grid_weight)
        net, card = train_regressor(bank, out, cfg, checkpoint=checkpoint, resume=resume, progress=False,
                                    force=force, limit=limit)
        if eval_bank is not None:
            held = Bank(eval_bank)
            print("held-out:", {"regressor": evaluate(net, held, kind), "identity": evaluate(None, held, kind)}, flush=True)

    app()


if __name__ == "__main__":  # pragma: no cover
    _main()
