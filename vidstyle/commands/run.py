"""``vidstyle run``: stylise a video (or a folder of frames) through the streaming pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..cli import (
    DeviceOpt,
    ForceOpt,
    QuietOpt,
    StepsOpt,
    StrengthInterpOpt,
    StrengthOpt,
    StyleScaleOpt,
    StyleViewOpt,
    TileOpt,
    app,
    choices,
    literal_choices,
    parse_floats,
)
from ..config import GeometryConfig, KeyframeConfig, VideoConfig
from ..errors import VidstyleError


def _method_names() -> list[str]:
    from ..stylise.registry import method_choices

    return method_choices()


def _flow_names() -> list[str]:
    from ..flow import available_estimators

    return ["auto", *available_estimators()]


def _codec_names() -> list[str]:
    from ..media.codecs import CODECS

    return list(CODECS)


def _preset_names() -> list[str]:
    from ..media.codecs import PRESETS

    return list(PRESETS)


def _backend_names() -> list[str]:
    from ..config import BACKENDS

    return list(BACKENDS)


# Every choice list comes from its registry (methods, flow estimators, codecs, backends) or config Literal.
Method = choices("Method", _method_names())
Flow = choices("Flow", _flow_names())
Codec = choices("Codec", _codec_names())
Preset = choices("Preset", _preset_names())
Backend = choices("Backend", _backend_names())
Compile = literal_choices("Compile", VideoConfig, "compile")
Precision = literal_choices("Precision", VideoConfig, "precision")
GeometryKind = literal_choices("GeometryKind", GeometryConfig, "kind")


def _method_help() -> str:
    return "Stylisation method; auto picks the fastest available for the style (`vidstyle methods` describes each)."


@app.command()
def run(
    input: Annotated[Path, typer.Argument(help="Video file, or a folder of frames (00000.jpg, …).")],
    style: Annotated[list[Path] | None, typer.Option("--style", "-s", help="Style image (repeat to blend several).")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Output video (default: INPUT__STYLE.mp4); no extension = PNG frames.")] = None,
    model: Annotated[str | None, typer.Option(help="Feed-forward model name or .safetensors path (method fast).")] = None,
    method: Annotated[Method, typer.Option(help=_method_help())] = "auto",  # type: ignore[valid-type, assignment]
    style_weights: Annotated[str | None, typer.Option(help="Blend weights for several styles, e.g. 0.7,0.3.")] = None,
    strength: StrengthOpt = None,
    strength_interp: StrengthInterpOpt = None,
    style_curve: Annotated[str | None, typer.Option(metavar="CURVE", help="Style transitions over the clip, e.g. \"0:a, 5s:a, 7s:b\" (styles by file stem or 0-based index): cross-faded in the method's style space (magenta, adain, wct), else in pixels.")] = None,
    style_view: StyleViewOpt = None,
    style_scale: StyleScaleOpt = None,
    tile: TileOpt = None,
    mask: Annotated[Path | None, typer.Option(help="Matte (white = stylise), frame-aligned: a video, a folder of frames or one still image.")] = None,
    invert_mask: Annotated[bool, typer.Option("--invert-mask", help="Stylise outside the --mask instead.")] = False,
    feather: Annotated[float, typer.Option(min=0.0, help="Soften the --mask edge over this many pixels.")] = 0.0,
    size: Annotated[int | None, typer.Option(min=16, show_default="the input's", help="Long side of the output in pixels.")] = None,
    flow: Annotated[Flow, typer.Option(help="Optical flow for temporal consistency.")] = "dis",  # type: ignore[valid-type, assignment]
    flow_weights: Annotated[Path | None, typer.Option(help="RAFT weight file (.pth).")] = None,
    temporal_strength: Annotated[str | None, typer.Option(metavar="S|CURVE", show_default="0.7", help="Weight of the warped previous frame in reliable regions, 0–1, or a keyframed curve like --strength.")] = None,
    no_temporal: Annotated[bool, typer.Option("--no-temporal", help="Stylise every frame on its own (no flow).")] = False,
    batch_size: Annotated[int | None, typer.Option(min=1, show_default=str(VideoConfig.batch_size), help="Frames per batch (the multi-pass window).")] = None,
    start: Annotated[float | None, typer.Option(min=0.0, help="Start time in seconds.")] = None,
    end: Annotated[float | None, typer.Option(min=0.0, help="End time in seconds.")] = None,
    steps: StepsOpt = None,
    later_steps: Annotated[int | None, typer.Option(min=1, help="Ruder: iterations after a shot's first frame.")] = None,
    long_term: Annotated[str | None, typer.Option(help="Ruder: long-term loss frame offsets, e.g. 2,4.")] = None,
    passes: Annotated[int | None, typer.Option(min=1, help="Ruder: > 1 runs the multi-pass algorithm over each batch of frames.")] = None,
    pass_steps: Annotated[int | None, typer.Option(min=1, help="Ruder multi-pass: iterations per frame in passes after the first.")] = None,
    crf: Annotated[int | None, typer.Option(min=0, max=63, help="Encoder quality (lower is better).")] = None,
    preset: Annotated[Preset | None, typer.Option(show_default=VideoConfig.preset, help="Encoder speed preset (x264/x265 names; mapped for av1).")] = None,  # type: ignore[valid-type]
    codec: Annotated[Codec, typer.Option(help="Video codec.")] = VideoConfig.codec,  # type: ignore[valid-type, assignment]
    no_audio: Annotated[bool, typer.Option("--no-audio", help="Drop the audio.")] = False,
    backend: Annotated[Backend, typer.Option(help="Feed-forward inference: onnx (onnxruntime), torch, or auto: onnxruntime on the CPU (fastest measured, no compile wait) unless the network is compiled, torch on CUDA.")] = "auto",  # type: ignore[valid-type, assignment]
    compile: Annotated[Compile, typer.Option(help="torch.compile the networks; auto: long clips (≥ 40 M pixels in all), where it pays back.")] = VideoConfig.compile,  # type: ignore[valid-type, assignment]
    precision: Annotated[Precision, typer.Option(help="CPU precision of the per-frame networks: fp32; bf16 (torch, on CPUs with AMX/AVX-512 BF16: ~2× faster, mean |Δ| ~0.002); int8 (onnxruntime, quantised once per network, calibrated on real frames); or auto (bf16 where the CPU has it, else int8 where it measured faster and within 0.01 mean |Δ|).")] = VideoConfig.precision,  # type: ignore[valid-type, assignment]
    keyframes: Annotated[str | None, typer.Option(help="Keyframe-guided: stylise these frames with --keyframe-method and carry them along the flow to the others, e.g. 0,48,96 or every:48.")] = None,
    keyframe_images: Annotated[str | None, typer.Option(help="Keyframe-guided: painted frames taken as given, FRAME:IMAGE pairs at the rendered size, e.g. 0:k0.png,48:k48.png.")] = None,
    keyframe_method: Annotated[Method, typer.Option(help="Method that stylises the --keyframes (--method fills what they do not reach).")] = KeyframeConfig.method,  # type: ignore[valid-type, assignment]
    device: DeviceOpt = "auto",
    force: ForceOpt = False,
    quiet: QuietOpt = False,
    preview: Annotated[bool, typer.Option("--preview", help="Render only a contact sheet of a few frames (with the full render's estimated time) and stop.")] = False,
    preview_out: Annotated[Path | None, typer.Option(help="Where --preview writes the sheet (default: OUTPUT.preview.png).")] = None,
    geometry_style: Annotated[Path | None, typer.Option(help="Geometric style transfer: warp every frame toward this image's geometry first (one transform per shot, re-estimated after a cut; same output size).")] = None,
    geometry: Annotated[GeometryKind, typer.Option(help="Geometric transform (with --geometry-style).")] = GeometryConfig.kind,  # type: ignore[valid-type, assignment]
    geometry_strength: Annotated[float, typer.Option(min=0.0, max=1.0, help="0 = no warp … 1 = the full estimated transform.")] = GeometryConfig.strength,
) -> None:
    """Stylise a video with temporal consistency: decode → flow → stylise → blend → encode."""
    from ..config import (
        FlowConfig,
        OptimiseConfig,
        TemporalConfig,
        VideoConfig,
        replace,
    )
    from ..pipeline import stylise_video

    video = replace(VideoConfig(), size=size, batch_size=batch_size, start=start, end=end, crf=crf, preset=None if preset is None else str(preset.value),
                    codec=str(codec.value), audio=False if no_audio else None, compile=str(compile.value),
                    precision=str(precision.value))
    offsets = parse_floats(long_term, "--long-term")
    if offsets is not None and any(o < 2 or o != int(o) for o in offsets):
        raise VidstyleError(f"--long-term takes whole frame offsets of 2 or more, got {long_term!r}")
    interp = str(strength_interp.value) if strength_interp else None
    temporal = replace(TemporalConfig(), strength=temporal_strength, strength_interp=interp, later_steps=later_steps, passes=passes,
                       pass_steps=pass_steps, enabled=False if no_temporal else None,
                       long_term=tuple(int(o) for o in offsets) if offsets is not None else None)
    flow_cfg = replace(FlowConfig(), method=str(flow.value), weights=flow_weights)
    if mask is None and (invert_mask or feather):
        raise VidstyleError("--invert-mask and --feather apply to a --mask; give one")
    optimise = replace(OptimiseConfig(), steps=steps, strength=strength, strength_interp=interp, style_curve=style_curve,
                       style_scale=style_scale, tile=tile,
                       style_view=str(style_view.value) if style_view else None,
                       style_blend=parse_floats(style_weights, "--style-weights"),
                       precision=str(precision.value) if str(precision.value) in ("auto", "bf16") else None)
    geometry_cfg = GeometryConfig(style=geometry_style, kind=str(geometry.value), strength=geometry_strength)  # type: ignore[arg-type]
    if geometry_style is None and (geometry.value != GeometryConfig.kind or geometry_strength != GeometryConfig.strength):
        raise VidstyleError("--geometry and --geometry-strength apply to a --geometry-style; give one")
    if geometry_cfg.active and (preview or preview_out is not None):
        raise VidstyleError("--preview does not render --geometry-style yet; run without --preview")
    if preview or preview_out is not None:
        from ..pipeline import default_video_output
        from ..preview import Look, format_duration, preview_output_for, render_preview

        sheet = preview_out or preview_output_for(output or default_video_output(input, style or [], model))
        result = render_preview(input, [Look(str(method.value), tuple(style or []), optimise, model)], sheet,
                                size=size, start=start, end=end, temporal=temporal, flow=flow_cfg, device=device,
                                backend=str(backend.value), precision=video.precision,
                                force=force, progress=not quiet,
                                on_look=None if quiet else lambda text: typer.echo(f"method: {text}", err=True))
        typer.echo(f"wrote {result.summary()}; the full render would take ≈ "
                   f"{format_duration(result.looks[0].estimate_s)}")
        return
    from ..keyframes import parse_keyframe_images, parse_keyframes

    key_frames, every = parse_keyframes(keyframes)
    key_cfg = KeyframeConfig(frames=key_frames, every=every, images=parse_keyframe_images(keyframe_images),
                             method=str(keyframe_method.value))
    stats = stylise_video(input, output, styles=style or [], model=model, method=str(method.value), video=video,
                          temporal=temporal, flow=flow_cfg, optimise=optimise, device=device, force=force,
                          progress=not quiet, backend=str(backend.value), mask=mask, invert_mask=invert_mask,
                          feather=feather, keyframes=key_cfg, geometry=geometry_cfg,
                          on_method=None if quiet else lambda text: typer.echo(f"method: {text}", err=True))
    if stats.stopped_early:
        typer.echo(f"warning: {stats.stopped_early}; wrote the {stats.frames} frames that decoded", err=True)
    typer.echo(f"wrote {stats.summary()}")
