"""The Python API; the CLI is a thin shell over these functions.

>>> from vidstyle import stylise_image                      # doctest: +SKIP
>>> stylise_image("photo.jpg", ["starry.jpg"], "out.png")    # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from .config import OptimiseConfig, replace
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
                  on_method: Callable[[str], None] | None = None, *, mask: PathLike | torch.Tensor | None = None,
                  invert_mask: bool = False, feather: float = 0.0, content_mask: PathLike | None = None,
                  style_masks: Sequence[PathLike] | None = None, doodle: bool = False,
                  geometry_style: PathLike | torch.Tensor | None = None, geometry: str | None = None,
                  geometry_strength: float = 1.0, geometry_only: bool = False) -> torch.Tensor:
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
        mask: a matte (image path or ``1×1×h×w`` tensor, white = stylise): only inside it is stylised, composited
            with the content by :func:`vidstyle.matte.composite` (every method; optimisation also masks its
            style loss to it). ``invert_mask`` stylises outside instead; ``feather`` softens the edge (pixels).
        content_mask, style_masks: label images (same colour = same region; one style mask per style) for
            semantic style transfer — Gram losses per region pair (optimisation only).
        doodle: the content image *is* a label map (``content_mask``): paint it from the style's regions,
            with no content loss and noise initialisation.
        geometry_style: geometric style transfer (:mod:`vidstyle.stylise.geometric`): warp the content toward
            this image's geometry first; ``geometry`` ``affine`` (default) or ``tps``; ``geometry_strength`` 0..1;
            ``geometry_only`` returns the warped content.

    Returns:
        ``1×3×H'×W'`` RGB [0, 1] on the CPU, long side ``cfg.size``.
    """
    if isinstance(cfg.strength, str) or cfg.style_curve is not None:
        raise VidstyleError("strength and style curves change over a clip; for an image give --strength as a number "
                            "(and --style-weights to blend styles)")
    if output is not None:
        check_not_input(output, *(p for p in [content, *styles] if not isinstance(p, torch.Tensor)))
        image_format(output)  # an unknown extension fails now, not after the optimisation
        check_output(output, force)  # fail before minutes of work, not after
    dev = resolve_device(device)
    if dev.type == "cpu":
        use_all_cores()
    content_t = load_image(content, need=cfg.size) if not isinstance(content, torch.Tensor) else content
    content_t = resize_long_side(content_t, cfg.size).to(dev)
    matte = None
    if mask is not None:
        from .matte import load_matte, prepare_matte

        raw = mask if isinstance(mask, torch.Tensor) else load_matte(mask)
        matte = prepare_matte(raw, tuple(content_t.shape[-2:]), invert_mask, feather, what=f"--mask {mask}"
                              if not isinstance(mask, torch.Tensor) else "mask").to(dev)
    if doodle:
        if content_mask is None and not isinstance(content, torch.Tensor):
            content_mask = content
        if content_mask is None or not style_masks:
            raise VidstyleError("--doodle paints a label map: give it as the content image and --style-mask for each style")
        cfg = replace(cfg, content_weight=0.0, laplacian_weight=0.0, init="noise")
    semantic = content_mask is not None or bool(style_masks)
    if geometry_style is not None or geometry_only:
        from .stylise.geometric import stylise_image_geometric

        out = stylise_image_geometric(content_t, styles, geometry_style, cfg, kind=geometry or "affine",
                                      strength=geometry_strength, geometry_only=geometry_only, method=method,
                                      model=model, device=dev, progress=progress, on_method=on_method)
        if output is not None:
            save_image(out, output, force)
        return out
    if method != "optimise" or model is not None:
        if semantic:
            raise VidstyleError("--content-mask/--style-mask/--doodle work with --method optimise only; "
                                "use --mask for the other methods")
        from .methods import build_styliser

        styliser, text = build_styliser("auto" if model is not None and method == "optimise" else method, list(styles),
                                        model, optimise=cfg, device=dev,
                                        frame_size=(content_t.shape[-2], content_t.shape[-1]))
        if on_method is not None:
            on_method(text)
        with torch.inference_mode():
            out = follow_exposure(styliser.stylise(content_t), content_t).cpu()
        if matte is not None:
            from .matte import composite

            if out.shape != content_t.shape:  # a method that rounds the size: composite at the content's
                out = torch.nn.functional.interpolate(out, size=content_t.shape[-2:], mode="bilinear", align_corners=False)
            out = composite(out, content_t.cpu(), matte.cpu())
        if output is not None:
            save_image(out, output, force)
        return out
    need = max(16, round(max(content_t.shape[-2:]) * cfg.style_scale))  # the style's size in stylise_still
    style_ts = [s.to(dev) if isinstance(s, torch.Tensor) else load_image(s, need=need).to(dev) for s in styles]
    if not style_ts:
        raise VidstyleError("no style image given; pass at least one --style")
    regions: dict = {}
    if semantic:
        from .matte import load_label_map, region_masks

        if content_mask is None or not style_masks:
            raise VidstyleError("semantic style transfer needs both --content-mask and --style-mask (one per --style)")
        if len(style_masks) != len(style_ts):
            raise VidstyleError(f"{len(style_masks)} --style-mask given for {len(style_ts)} style images; give one per --style")
        if matte is not None:
            raise VidstyleError("--mask cannot be combined with --content-mask/--style-mask/--doodle")
        cm, sms, _ = region_masks(load_label_map(content_mask, "--content-mask"),
                                  [load_label_map(p, f"--style-mask {p}") for p in style_masks],
                                  tuple(content_t.shape[-2:]), [tuple(s.shape[-2:]) for s in style_ts],
                                  [f"--style-mask {p}" for p in style_masks])
        regions = {"content_masks": cm, "style_masks": [m.to(dev) for m in sms]}
    elif matte is not None:  # style loss only inside the matte, against the whole style image
        regions = {"content_masks": matte, "style_masks": [torch.ones(1, 1, *s.shape[-2:], device=dev) for s in style_ts]}
    extra_layers = (cfg.mrf_layers if cfg.mrf_weight > 0 else ()) + (cfg.histogram_layers if cfg.histogram_weight > 0 else ())
    encoder = load_vgg(cfg.style_layers + cfg.content_layers + extra_layers, cfg.vgg_source, device=dev,
                       padding="reflect")
    if on_method is not None:
        blend = f", strength {cfg.strength:g} (pixel blend with the photo)" if cfg.strength < 1 else ""
        on_method(f"optimise: Gatys et al., {cfg.steps} {cfg.optimizer} steps over {cfg.scales} scale(s){blend}")
    with progress_bar(None, "stylising", enabled=progress) as bar:
        out = stylise_still(content_t, style_ts, encoder, cfg, init=_init(cfg.init), bar=bar, **regions)
    out = follow_exposure(out.detach(), content_t)
    if cfg.strength < 1:
        out = torch.lerp(content_t[..., :out.shape[-2], :out.shape[-1]].to(out), out, cfg.strength)
    out = out.cpu()
    if matte is not None:
        from .matte import composite

        out = composite(out, content_t.cpu(), matte.cpu())
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


def sample_texture(model: PathLike, output: PathLike | None = None, shape: tuple[int, int] = (512, 512), seed: int = 0,
                   device: str = "auto", force: bool = False, tileable: bool | None = None) -> torch.Tensor:
    """One sample of a trained texture network (Ulyanov et al. 2016), ``shape = (H, W)``; seeds give different samples.

    ``tileable``: ``True`` samples with circular padding (the sample tiles seamlessly), ``False`` with reflection
    padding, ``None`` as the network was trained (:func:`vidstyle.nets.texture.with_padding`).

    Returns ``1×3×H×W`` RGB [0, 1] on the CPU.
    """
    from .nets.texture import with_padding
    from .train.texture import load_texture_net

    if output is not None:
        check_output(output, force)
    dev = resolve_device(device)
    if dev.type == "cpu":
        use_all_cores()
    net, _ = load_texture_net(model, device=dev)
    if tileable is not None:
        net = with_padding(net, tileable)
    with torch.inference_mode():
        out = net.sample(1, shape[0], shape[1], seed=seed).cpu()
    if output is not None:
        save_image(out, output, force)
    return out


def stylise_video(*args, **kwargs):  # replaced by the video pipeline (vidstyle.pipeline)
    from .pipeline import stylise_video as impl

    return impl(*args, **kwargs)


__all__ = ["stylise_image", "stylise_texture", "sample_texture", "stylise_video"]
