"""The Python API; the CLI is a thin shell over these functions.

>>> from vidstyle import stylise_image                      # doctest: +SKIP
>>> stylise_image("photo.jpg", ["starry.jpg"], "out.png")    # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from .config import OptimiseConfig
from .device import resolve_device, use_all_cores
from .errors import VidstyleError
from .exposure import follow_exposure
from .media.atomic import check_not_input, check_output
from .media.image import image_format, load_image, resize_long_side, save_image
from .nets.vgg import load_vgg
from .progress import progress_bar
from .stylise.optimise import stylise_still

PathLike = str | Path


def _init(init: str) -> str | torch.Tensor:
    return init if init in ("content", "noise") else load_image(init)


def stylise_image(content: PathLike | torch.Tensor, styles: Sequence[PathLike | torch.Tensor],
                  output: PathLike | None = None, cfg: OptimiseConfig = OptimiseConfig(), device: str = "auto",
                  force: bool = False, progress: bool = True, method: str = "optimise", model: PathLike | None = None,
                  on_method: Callable[[str], None] | None = None) -> torch.Tensor:
    """Stylise one image — Gatys et al. optimisation by default, or any method of :mod:`vidstyle.methods`.

    Args:
        content: path or ``1×3×H×W`` RGB [0, 1] tensor.
        styles: paths or tensors; blended by ``cfg.style_blend``.
        output: where to write the result (atomic; refuses to overwrite without ``force``).
        cfg: every option (size, steps, weights, pyramid, colour preservation, …).
        device: ``auto``, ``cpu`` or ``cuda``.
        method: ``optimise`` (best quality), ``auto``, ``fast`` (a trained network, ``model``), ``adain``, ``wct``.
        model: a shipped model name or ``.safetensors`` path (implies ``fast`` with ``method="auto"``).
        on_method: called with a one-line description of the method chosen.

    Returns:
        ``1×3×H'×W'`` RGB [0, 1] on the CPU, long side ``cfg.size``.
    """
    if output is not None:
        check_not_input(output, *(p for p in [content, *styles] if not isinstance(p, torch.Tensor)))
        image_format(output)  # an unknown extension fails now, not after the optimisation
        check_output(output, force)  # fail before minutes of work, not after
    dev = resolve_device(device)
    if dev.type == "cpu":
        use_all_cores()
    content_t = load_image(content, need=cfg.size) if not isinstance(content, torch.Tensor) else content
    content_t = resize_long_side(content_t, cfg.size).to(dev)
    if method != "optimise" or model is not None:
        from .methods import build_styliser

        styliser, text = build_styliser("fast" if model is not None and method == "optimise" else method, list(styles),
                                        model, optimise=cfg, device=dev)
        if on_method is not None:
            on_method(text)
        with torch.inference_mode():
            out = follow_exposure(styliser.stylise(content_t), content_t).cpu()
        if output is not None:
            save_image(out, output, force)
        return out
    need = max(16, round(max(content_t.shape[-2:]) * cfg.style_scale))  # the style's size in stylise_still
    style_ts = [s.to(dev) if isinstance(s, torch.Tensor) else load_image(s, need=need).to(dev) for s in styles]
    if not style_ts:
        raise VidstyleError("no style image given; pass at least one --style")
    encoder = load_vgg(cfg.style_layers + cfg.content_layers, cfg.vgg_source, device=dev, padding="reflect")
    if on_method is not None:
        on_method(f"optimise: Gatys et al., {cfg.steps} {cfg.optimizer} steps over {cfg.scales} scale(s)")
    with progress_bar(None, "stylising", enabled=progress) as bar:
        out = stylise_still(content_t, style_ts, encoder, cfg, init=_init(cfg.init), bar=bar)
    out = follow_exposure(out.detach(), content_t).cpu()
    if output is not None:
        save_image(out, output, force)
    return out


def stylise_texture(styles: Sequence[PathLike | torch.Tensor], output: PathLike | None = None,
                    cfg: OptimiseConfig = OptimiseConfig(init="noise", content_weight=0.0),
                    shape: tuple[int, int] | None = None, device: str = "auto", force: bool = False,
                    progress: bool = True) -> torch.Tensor:
    """Texture synthesis: match the style's Gram statistics from noise, no content image.

    ``shape`` is the output ``(H, W)``; default a square of side ``cfg.size``.
    """
    if output is not None:
        check_not_input(output, *(p for p in styles if not isinstance(p, torch.Tensor)))
        image_format(output)
        check_output(output, force)
    dev = resolve_device(device)
    if dev.type == "cpu":
        use_all_cores()
    shape = shape or (cfg.size, cfg.size)
    need = max(16, round(max(shape) * cfg.style_scale))
    style_ts = [s.to(dev) if isinstance(s, torch.Tensor) else load_image(s, need=need).to(dev) for s in styles]
    if not style_ts:
        raise VidstyleError("no style image given")
    encoder = load_vgg(cfg.style_layers, cfg.vgg_source, device=dev, padding="reflect")
    with progress_bar(None, "synthesising", enabled=progress) as bar:
        out = stylise_still(None, style_ts, encoder, cfg, init="noise", texture_shape=shape, bar=bar).cpu()
    if output is not None:
        save_image(out, output, force)
    return out


def stylise_video(*args, **kwargs):  # replaced by the video pipeline (vidstyle.pipeline)
    from .pipeline import stylise_video as impl

    return impl(*args, **kwargs)


__all__ = ["stylise_image", "stylise_texture", "stylise_video"]
