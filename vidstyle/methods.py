"""Choosing a styliser by method name (``vidstyle run --method …``).

======================  ============================================================================
``optimise``            Gatys et al. per frame (:class:`~vidstyle.stylise.ruder.OptimiseStyliser`);
                        the pipeline adds flow-guided blending.
``optimise-temporal``   Ruder et al. 2016 (:class:`~vidstyle.stylise.ruder.RuderStyliser`), alias ``ruder``.
``fast``                a trained feed-forward network (``--model``, or the shipped model for the style).
``adain`` / ``wct``     arbitrary style with a trained decoder (any style image, one forward pass).
``auto``                ``fast`` when a shipped model trained for at least ``MIN_AUTO_MODEL_STEPS`` matches the
                        style (or ``--model`` is given), else
                        ``adain`` then ``wct`` when their decoder weights are installed, else ``optimise-temporal``.
                        AdaIN comes first: on 6 paintings it scored lower style *and* content distances than
                        WCT-3 (benchmarks/RESULTS.md) and is ~2× faster; WCT-3 looks sharper but blotchier.
======================  ============================================================================

Heavy modules (networks, weights) are imported only for the method chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from .config import MIN_AUTO_MODEL_STEPS, OptimiseConfig, TemporalConfig
from .errors import VidstyleError
from .flow import FlowEstimator
from .media.image import load_image
from .stylise.base import Styliser

METHODS: tuple[str, ...] = ("auto", "optimise", "optimise-temporal", "ruder", "fast", "adain", "wct")
#: The arbitrary-style methods ``auto`` tries, in order (see the table above).
AUTO_ARBITRARY_ORDER: tuple[str, ...] = ("adain", "wct")


def _load_styles(styles: Sequence[Path | str | torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    return [(s if isinstance(s, torch.Tensor) else load_image(s)).to(device) for s in styles]


def _need_styles(styles: Sequence, method: str) -> None:
    if not styles:
        raise VidstyleError(f"--method {method} needs a style image; pass --style PATH")


def _style_names(styles: Sequence) -> str:
    return ", ".join(Path(s).name if not isinstance(s, torch.Tensor) else "tensor" for s in styles)


def _fast(model: str | Path, device: torch.device, backend: str = "auto", compile: bool = False) -> tuple[Styliser, str]:
    try:
        from .stylise.feedforward import FeedForwardStyliser
    except ImportError as e:
        raise VidstyleError(f"the feed-forward method is not available in this installation ({e})") from None
    styliser = FeedForwardStyliser(model, device=device, backend=backend, compile=compile and backend != "onnx")
    where = " (onnxruntime)" if styliser.backend == "onnx" else " (torch.compile)" if compile else ""
    return styliser, f"fast: feed-forward network {getattr(styliser, 'name', model)}{where}"


def _arbitrary(method: str, styles: Sequence, optimise: OptimiseConfig, device: torch.device,
               compile: bool = False) -> tuple[Styliser, str]:
    try:
        from .stylise.arbitrary import ArbitraryStyliser
    except ImportError as e:
        raise VidstyleError(f"the {method} method is not available in this installation ({e})") from None
    colour = optimise.preserve_color if optimise.preserve_color != "none" else False
    styliser = ArbitraryStyliser(list(styles), method=method, style_weights=optimise.style_blend,
                                 preserve_color=colour, device=device, vgg_source=optimise.vgg_source, compile=compile)
    how = " (torch.compile)" if compile else ""
    return styliser, f"{method}: arbitrary style transfer with a trained decoder{how}, style {_style_names(styles)}"


def _optimise(method: str, styles: Sequence, optimise: OptimiseConfig, temporal: TemporalConfig,
              device: torch.device, flow_estimator: FlowEstimator | None) -> tuple[Styliser, str]:
    from .stylise.ruder import OptimiseStyliser, RuderStyliser

    images = _load_styles(styles, device)
    if method == "optimise":
        text = (f"optimise: Gatys et al. per frame, {optimise.steps} {optimise.optimizer} steps, "
                f"style {_style_names(styles)}")
        return OptimiseStyliser(images, optimise, device=device), text
    if temporal.passes > 1:
        from .stylise.multipass import MultiPassStyliser

        if flow_estimator is None:
            raise VidstyleError("multi-pass optimisation needs optical flow; drop --no-temporal")
        mp = MultiPassStyliser(images, optimise, temporal, flow_estimator, device=device)
        return mp, (f"optimise-temporal: Ruder et al. 2016 multi-pass, {temporal.passes} alternating passes per "
                    f"window of frames ({optimise.steps} steps on a shot's first frame, {mp.later_steps} in the first "
                    f"pass after it, {mp.pass_steps} per later pass), style {_style_names(styles)}")
    styliser = RuderStyliser(images, optimise, temporal, device=device, flow_estimator=flow_estimator)
    extra = f", long-term offsets {list(styliser.long_term)}" if styliser.long_term else ""
    return styliser, (f"optimise-temporal: Ruder et al. 2016 (warped init + temporal loss), {optimise.steps} "
                      f"steps on a shot's first frame, {styliser.later_steps} after{extra}, style {_style_names(styles)}")


def build_styliser(method: str, styles: Sequence[Path | str | torch.Tensor], model: str | Path | None = None, *,
                   optimise: OptimiseConfig = OptimiseConfig(), temporal: TemporalConfig = TemporalConfig(),
                   device: torch.device | str = "cpu",
                   flow_estimator: FlowEstimator | None = None, backend: str = "auto",
                   compile: bool = False) -> tuple[Styliser, str]:
    """Build the styliser for ``method`` and say, in one line, what was chosen.

    Args:
        method: one of :data:`METHODS`.
        styles: style image paths (or ``1×3×H×W`` tensors); several are blended by ``optimise.style_blend``.
        model: a feed-forward model name or ``.safetensors`` path (method ``fast``/``auto``).
        optimise: Gatys options (steps, weights, colour preservation, VGG source).
        temporal: Ruder options (temporal weight, later steps, long-term offsets).
        device: working device.
        flow_estimator: lets the Ruder styliser compute long-term flows.
        backend: feed-forward inference, ``auto``, ``torch`` or ``onnx`` (onnxruntime, CPU); see
            :func:`vidstyle.stylise.feedforward.pick_backend`.
        compile: ``torch.compile`` the feed-forward / AdaIN / WCT networks (for long clips).

    Returns:
        ``(styliser, description)``.

    Raises:
        VidstyleError: unknown method, missing style/model, weights not installed.
    """
    device = torch.device(device)
    method = {"ruder": "optimise-temporal"}.get(method, method)
    if method not in METHODS:
        raise VidstyleError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if method == "fast":
        if model is None:
            _need_styles(styles, method)
            model = _shipped_model(styles)
            if model is None:
                raise VidstyleError(f"no shipped model matches the style {_style_names(styles)}; "
                                    "pass --model NAME (see `vidstyle models`) or use --method auto")
        return _fast(model, device, backend, compile)
    if method in ("adain", "wct"):
        _need_styles(styles, method)
        return _arbitrary(method, styles, optimise, device, compile)
    if method in ("optimise", "optimise-temporal"):
        _need_styles(styles, method)
        return _optimise(method, styles, optimise, temporal, device, flow_estimator)
    # auto
    if model is not None:
        return _fast(model, device, backend, compile)
    _need_styles(styles, method)
    shipped = _shipped_model(styles)
    reasons = []
    if shipped is not None:
        steps = _trained_steps(shipped)
        if steps >= MIN_AUTO_MODEL_STEPS:
            styliser, text = _fast(shipped, device, backend, compile)
            return styliser, f"auto → {text} (trained on this style)"
        reasons.append(f"shipped model {shipped} has only {steps} training steps (use --model {shipped} to force it)")
    for arbitrary in AUTO_ARBITRARY_ORDER:
        try:
            styliser, text = _arbitrary(arbitrary, styles, optimise, device, compile)
            return styliser, f"auto → {text}" + (f" ({'; '.join(reasons)})" if reasons else "")
        except VidstyleError as e:  # WeightsError: decoder not installed/trained
            reasons.append(f"{arbitrary}: {str(e).split(';')[0]}")
    styliser, text = _optimise("optimise-temporal", styles, optimise, temporal, device, flow_estimator)
    why = "no shipped model for this style" + (f"; {'; '.join(reasons)}" if reasons else "")
    return styliser, f"auto → {text} ({why})"


def _trained_steps(model: str) -> int:
    """Training steps a shipped model's card records on its own style (``training.style_steps``: a parent
    from ``--init`` counts only when trained on the same painting); 0 when unknown."""
    from .models_registry import read_card, resolve_model
    from .train.loop import style_steps

    try:
        return style_steps(read_card(resolve_model(model)))
    except (VidstyleError, OSError, ValueError, TypeError):
        return 0


def _shipped_model(styles: Sequence) -> str | None:
    """A shipped feed-forward model trained on the (single) style image, if any."""
    if len(styles) != 1 or isinstance(styles[0], torch.Tensor):
        return None
    try:
        from .stylise.feedforward import find_model_for_style
    except ImportError:
        return None
    return find_model_for_style(styles[0])


__all__ = ["METHODS", "build_styliser"]
