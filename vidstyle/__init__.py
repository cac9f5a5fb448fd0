"""vidstyle — turn videos into moving paintings.

Public API (imported lazily so ``import vidstyle`` stays cheap)::

    from vidstyle import stylise_image, stylise_video
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["stylise_image", "stylise_texture", "stylise_video", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("stylise_image", "stylise_texture", "stylise_video"):
        from . import api

        return getattr(api, name)
    raise AttributeError(name)
