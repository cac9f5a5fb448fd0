"""The method registry: every stylisation method, declared once, next to its styliser.

A method is a :class:`MethodSpec` — its name and aliases, a one-line description, what it
needs (a style image, a trained model, decoder weights), its options dataclass, its
:class:`TemporalMode` and a builder — registered by its own ``stylise/`` module with
:func:`register_method`. Everything else reads this registry: ``--method`` choices and help,
batch-job validation, the ``auto`` policy (:mod:`vidstyle.methods`) and the README methods table.

This module imports no method and no torch. The modules of :data:`METHOD_MODULES` are imported on
the first lookup (:func:`get_method`, :func:`list_methods`); they hold declarations only
(:mod:`vidstyle.stylise.specs`), whose builders name the styliser module to import on the first
call (:func:`lazy`), so listing the methods (``--help``, ``vidstyle methods``) stays cheap. Adding a
method is one declaration there::

    register_method(MethodSpec(
        name="mine", description="what it does, in one line", builder=lazy("vidstyle.stylise.mine:build"),
        temporal=TemporalMode.PER_FRAME, needs=frozenset({Need.STYLE}), options=OptimiseConfig))
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import VidstyleError

if TYPE_CHECKING:
    import torch

    from ..config import OptimiseConfig, TemporalConfig
    from ..flow import FlowEstimator
    from .base import Styliser

#: Modules that register the built-in methods, imported on first lookup (in this order, which is the
#: order of ``--help`` and of the README table).
#: They must not import torch (a test checks that ``import vidstyle.cli`` does not).
METHOD_MODULES: tuple[str, ...] = ("vidstyle.stylise.specs",)


class TemporalMode(str, Enum):
    """How a styliser deals with time; the pipeline picks its loop from it (:func:`vidstyle.pipeline.run_pipeline`).

    * ``PER_FRAME``: frames are independent; the pipeline stylises whole batches and blends the warped
      previous output in where the flow is reliable.
    * ``SEQUENTIAL``: the styliser uses the previous output and the flow itself; the pipeline calls it one
      frame at a time with a complete :class:`FrameState` and blends nothing.
    * ``SELF_CONSISTENT``: the styliser makes a window of frames consistent itself (e.g. multi-pass); the
      pipeline hands it the window (split at cuts) with every frame's :class:`FrameState` in
      ``state.window`` — the flows it already estimated — and neither blends nor re-estimates.
    """

    PER_FRAME = "per-frame"
    SEQUENTIAL = "sequential"
    SELF_CONSISTENT = "self-consistent"


class Need(str, Enum):
    """What a method needs to run."""

    STYLE = "style image"
    MODEL = "trained model"
    DECODERS = "decoder weights"


@dataclass(frozen=True)
class BuildRequest:
    """Everything a builder may use. Builders take what they need and ignore the rest.

    Attributes:
        styles: style image paths or ``1×3×H×W`` tensors (several are blended by ``optimise.style_blend``).
        model: a trained model name or file (``--model``), or None.
        optimise: Gatys / colour-preservation / VGG options (from :func:`vidstyle.methods.build_styliser`: strength 1
            and no style curve — strength and style over time are applied on top of the styliser built here).
        temporal: temporal options (Ruder weights, passes).
        device: working device.
        flow_estimator: the pipeline's flow estimator (None without temporal consistency).
        backend: feed-forward inference backend (``auto``, ``torch``, ``onnx``).
        precision: ``fp32``, ``bf16`` (:mod:`vidstyle.nets.bf16`), ``int8`` (:mod:`vidstyle.nets.int8`) or ``auto``
            for the feed-forward and style-embedding networks on the CPU.
        compile: ``torch.compile`` the networks.
        frame_size: ``(height, width)`` of the frames to render when known (the method line says whether they
            will be tiled, :mod:`vidstyle.nets.tiling`), else None.
    """

    styles: Sequence[Path | str | torch.Tensor] = ()
    model: str | Path | None = None
    optimise: OptimiseConfig | None = None
    temporal: TemporalConfig | None = None
    device: Any = "cpu"
    flow_estimator: FlowEstimator | None = None
    backend: str = "auto"
    compile: bool = False
    precision: str = "fp32"
    frame_size: tuple[int, int] | None = None

    def style_names(self) -> str:
        return ", ".join(Path(s).name if not hasattr(s, "shape") else "tensor" for s in self.styles)  # type: ignore[arg-type]


#: ``builder(request) -> (styliser, one-line description of what was built)``
Builder = Callable[[BuildRequest], "tuple[Styliser, str]"]
#: ``check(request) -> None`` when the method can serve the request, else the reason it cannot (one line).
Check = Callable[[BuildRequest], "str | None"]


@dataclass(frozen=True)
class MethodSpec:
    """One stylisation method.

    Attributes:
        name: the ``--method`` value (kebab-case).
        description: one line for ``--help`` and the README table.
        builder: builds the styliser (heavy imports belong inside it).
        temporal: how the pipeline treats the styliser (:class:`TemporalMode`); the styliser's own
            ``temporal_mode`` is what the pipeline reads (a builder may return a styliser of another mode,
            e.g. ``optimise-temporal --passes 3`` is self-consistent).
        needs: what the method needs (:class:`Need`).
        options: the config dataclass holding its options (documentation; ``None``: none).
        aliases: other accepted names.
        auto_rank: position in the ``auto`` policy (lower first); None: ``auto`` never picks it.
        can_serve: for ``auto``: None when the method can serve the request, else why not.
        paper: citation for the README table.
        native_strength: the builder applies ``optimise.strength`` in the method's own space (embedding, features);
            otherwise :func:`vidstyle.methods.build_styliser` blends pixels with the frame (per-frame methods only).
    """

    name: str
    description: str
    builder: Builder
    temporal: TemporalMode = TemporalMode.PER_FRAME
    needs: frozenset[Need] = frozenset({Need.STYLE})
    options: type | None = None
    aliases: tuple[str, ...] = ()
    auto_rank: int | None = None
    can_serve: Check | None = None
    paper: str = ""
    native_strength: bool = False
    module: str = field(default="", compare=False)

    def build(self, request: BuildRequest) -> tuple[Styliser, str]:
        """Check the request's needs, then build. Raises :class:`VidstyleError` for a missing style."""
        if Need.STYLE in self.needs and not request.styles and not (Need.MODEL in self.needs and request.model):
            raise VidstyleError(f"--method {self.name} needs a style image; pass --style PATH")
        try:
            return self.builder(request)
        except ImportError as e:  # the styliser's module (imported on this first build) lacks a dependency
            raise VidstyleError(f"--method {self.name} cannot be used here: {e}") from None


def lazy(target: str, *args: Any) -> Callable[[BuildRequest], Any]:
    """A builder or check named ``"package.module:function"``: the module is imported on the first call.

    With ``args``, ``function(*args)`` is a factory whose result is called (``lazy("m:builder_for", "adain")``).
    The target is resolved once; the returned callable takes the :class:`BuildRequest`.
    """
    module, _, attr = target.partition(":")
    if not module or not attr:
        raise ValueError(f"lazy target must be 'module:function', got {target!r}")

    @functools.cache
    def resolve() -> Callable[[BuildRequest], Any]:
        fn = getattr(importlib.import_module(module), attr)
        return fn(*args) if args else fn  # type: ignore[no-any-return]

    def call(request: BuildRequest) -> Any:
        return resolve()(request)

    call.__qualname__ = call.__name__ = f"lazy({target})"
    call.target = target  # type: ignore[attr-defined]
    return call


_METHODS: dict[str, MethodSpec] = {}
_ALIASES: dict[str, str] = {}
_FAILED: dict[str, str] = {}  # module -> why it could not be imported
_loaded = False

#: Names no method may take (``auto`` is the policy of :mod:`vidstyle.methods`).
RESERVED = ("auto",)


def register_method(spec: MethodSpec) -> MethodSpec:
    """Add ``spec`` to the registry and return it.

    Raises:
        ValueError: the name or an alias is taken (by a method or an alias) or reserved.
    """
    for name in (spec.name, *spec.aliases):
        if name in RESERVED:
            raise ValueError(f"method name {name!r} is reserved")
        if name in _METHODS or name in _ALIASES:
            owner = name if name in _METHODS else _ALIASES[name]
            raise ValueError(f"method name {name!r} is already registered (by {owner!r})")
    if not spec.module:
        import sys

        caller = sys._getframe(1).f_globals.get("__name__", "")
        spec = dataclasses.replace(spec, module=caller)
    _METHODS[spec.name] = spec
    for alias in spec.aliases:
        _ALIASES[alias] = spec.name
    return spec


def unregister_method(name: str) -> None:
    """Remove a method and its aliases (tests)."""
    spec = _METHODS.pop(name)
    for alias in spec.aliases:
        _ALIASES.pop(alias, None)


def load_methods() -> None:
    """Import every module of :data:`METHOD_MODULES` once (each registers its methods).

    A module that fails to import (an optional dependency missing) is remembered, not fatal:
    its methods are then unknown, and :func:`get_method` says why.
    """
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in METHOD_MODULES:
        try:
            importlib.import_module(module)
        except ImportError as e:
            _FAILED[module] = str(e)


def list_methods() -> list[MethodSpec]:
    """Every registered method: those of :data:`METHOD_MODULES` in that order (whatever order the modules happened
    to be imported in), then any others in registration order."""
    load_methods()
    order = {m: i for i, m in enumerate(METHOD_MODULES)}
    return sorted(_METHODS.values(), key=lambda s: order.get(s.module, len(order)))


def method_names(aliases: bool = True) -> list[str]:
    """Registered names (and aliases), in registration order: the ``--method`` choices without ``auto``."""
    names = []
    for spec in list_methods():
        names.append(spec.name)
        if aliases:
            names.extend(spec.aliases)
    return names


def method_choices() -> list[str]:
    """Every accepted ``--method`` value: ``auto`` (the policy of :mod:`vidstyle.methods`), then each registered
    name and alias."""
    return [*RESERVED, *method_names()]


def get_method(name: str) -> MethodSpec:
    """The spec registered under ``name`` or one of its aliases.

    Raises:
        VidstyleError: unknown name (the message lists the known ones).
    """
    load_methods()
    name = _ALIASES.get(name, name)
    if name not in _METHODS:
        known = ", ".join(["auto", *method_names()])
        why = "".join(f"; {m} could not be imported ({e})" for m, e in _FAILED.items())
        raise VidstyleError(f"unknown method {name!r}; choose from {known}{why}")
    return _METHODS[name]


def methods_table() -> str:
    """The README's methods table (Markdown), generated from the registry (a test keeps the README in step)."""
    rows = ["| method | aliases | temporal mode | needs | paper | what it does |", "|---|---|---|---|---|---|"]
    for spec in list_methods():
        aliases = ", ".join(f"`{a}`" for a in spec.aliases)
        needs = ", ".join(sorted(n.value for n in spec.needs))
        rows.append(f"| `{spec.name}` | {aliases} | {spec.temporal.value} | {needs} | {spec.paper} | "
                    f"{spec.description} |")
    return "\n".join(rows)


__all__ = [
    "METHOD_MODULES", "methods_table", "BuildRequest", "MethodSpec", "Need", "TemporalMode", "get_method", "lazy",
    "list_methods", "load_methods", "method_choices", "method_names", "register_method", "unregister_method",
]
