"""The output codecs, declared once (``--codec`` choices, config validation, :class:`~.writer.VideoWriter`).

Imports nothing: the CLI lists them without loading PyAV or torch.
"""

from __future__ import annotations

#: codec name → (FFmpeg encoder, pixel format)
CODECS: dict[str, tuple[str, str]] = {
    "h264": ("libx264", "yuv420p"),
    "h265": ("libx265", "yuv420p"),
    "vp9": ("libvpx-vp9", "yuv420p"),
    "av1": ("libsvtav1", "yuv420p"),
    "prores": ("prores_ks", "yuv422p10le"),
    "ffv1": ("ffv1", "bgr0"),  # lossless RGB: frames decode back bit-exactly
}

#: Encoder speed presets (x264/x265 names, fastest first; mapped onto SVT-AV1's numbers for av1, ignored by the
#: other codecs).
PRESETS: tuple[str, ...] = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
                            "veryslow", "placebo")

__all__ = ["CODECS", "PRESETS"]
