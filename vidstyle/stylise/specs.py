"""The built-in methods, declared: name, aliases, description, needs, temporal mode, options, ``auto`` rank.

Declarations only — this module imports no styliser and no torch, so ``vidstyle --help`` lists every method
cheaply. Each builder and ``can_serve`` check is named as ``"module:function"`` (:func:`~.registry.lazy`) and
its module — the styliser's own ``stylise/`` file — is imported on the first call.
"""

from __future__ import annotations

from ..config import OptimiseConfig, TemporalConfig
from .registry import MethodSpec, Need, TemporalMode, lazy, register_method

register_method(MethodSpec(
    name="optimise", builder=lazy("vidstyle.stylise.ruder:build_optimise"), temporal=TemporalMode.PER_FRAME,
    needs=frozenset({Need.STYLE}), options=OptimiseConfig, paper="Gatys et al. 2016",
    description="Gatys et al. optimisation of every frame (best quality per frame; the pipeline blends with flow)"))
register_method(MethodSpec(
    name="optimise-temporal", aliases=("ruder",), builder=lazy("vidstyle.stylise.ruder:build_ruder"),
    temporal=TemporalMode.SEQUENTIAL, needs=frozenset({Need.STYLE}), options=TemporalConfig, auto_rank=100,
    paper="Ruder et al. 2016",
    description="warped initialisation + temporal loss from the previous frame; --passes N: multi-pass"))
register_method(MethodSpec(
    name="fast", builder=lazy("vidstyle.stylise.feedforward:build_fast"), temporal=TemporalMode.PER_FRAME,
    needs=frozenset({Need.MODEL, Need.STYLE}), auto_rank=10, can_serve=lazy("vidstyle.stylise.feedforward:can_serve_fast"),
    paper="Johnson et al. 2016",
    description="a trained feed-forward network: --model NAME, or the shipped model trained on --style"))
register_method(MethodSpec(
    name="magenta", builder=lazy("vidstyle.stylise.magenta:build_magenta"), temporal=TemporalMode.PER_FRAME,
    needs=frozenset({Need.STYLE}), auto_rank=15, can_serve=lazy("vidstyle.stylise.magenta:can_serve_magenta"),
    options=OptimiseConfig, native_strength=True, paper="Ghiasi et al. 2017 (Magenta's arbitrary stylisation network)",
    description="any painting, crisp strokes, one fast pass per frame: the style-embedding network"))
register_method(MethodSpec(
    name="adain", builder=lazy("vidstyle.stylise.arbitrary:builder_for", "adain"), temporal=TemporalMode.PER_FRAME,
    needs=frozenset({Need.STYLE, Need.DECODERS}), auto_rank=20,
    can_serve=lazy("vidstyle.stylise.arbitrary:can_serve_for", "adain"), native_strength=True,
    paper="Huang & Belongie 2017",
    description="any style image in one pass: relu4_1 features get the style's mean/std, a trained decoder renders them"))
register_method(MethodSpec(
    name="wct", builder=lazy("vidstyle.stylise.arbitrary:builder_for", "wct"), temporal=TemporalMode.PER_FRAME,
    needs=frozenset({Need.STYLE, Need.DECODERS}), auto_rank=21,
    can_serve=lazy("vidstyle.stylise.arbitrary:can_serve_for", "wct"), native_strength=True, paper="Li et al. 2017",
    description="any style image: whitening/colouring of VGG features, coarse to fine, with trained inversion decoders"))
register_method(MethodSpec(
    name="style-swap", builder=lazy("vidstyle.stylise.style_swap:build_style_swap"), temporal=TemporalMode.PER_FRAME,
    needs=frozenset({Need.STYLE, Need.DECODERS}), can_serve=lazy("vidstyle.stylise.style_swap:can_serve_style_swap"),
    native_strength=True, paper="Chen & Schmidt 2016",
    description="any style image in one pass: each 3×3 relu3_1 feature patch becomes its best-matching style patch, "
                "decoded by an inversion network"))
