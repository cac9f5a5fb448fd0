"""Final assembly: the finished chunks of a shot, in order, into one file with the source's audio.

Chunks are lossless (FFV1), so the only lossy step is this one encode, done once;
the frames get the source's own timestamps (variable frame rate survives) and the
writer copies the source's audio for the rendered range. The output appears
atomically: a kill during assembly leaves the previous file (or none), never half a file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from ..errors import VidstyleError
from .plan import Shot


def assemble_shot(shot: Shot, chunk_paths: Sequence[Path], force: bool = False) -> Path:
    """Concatenate ``chunk_paths`` (FFV1/MKV, in order) into ``shot.output``.

    Frame ``i`` of the output gets ``shot.pts[i]`` (source time base), so timing and
    audio sync match the source exactly.

    Raises:
        VidstyleError: a chunk is missing or unreadable, or the chunks do not hold
        exactly ``shot.n_frames`` frames.
    """
    from ..media.reader import open_frames
    from ..media.writer import VideoWriter

    missing = [p for p in chunk_paths if not Path(p).is_file()]
    if missing:
        raise VidstyleError(f"chunk {missing[0]} is missing; run the batch again to re-render it")
    with open_frames(chunk_paths[0]) as first:
        width, height = first.info.width, first.info.height
    whole = shot.first == 0 and len(shot.pts) == shot.n_frames and shot.n_frames >= (
        _source_frames(shot.input) or shot.n_frames)
    # a part of the clip: the writer shifts timestamps to start at 0 and cuts the audio to match
    selection = None if whole else (shot.first, shot.first + shot.n_frames)
    with open_frames(shot.input, frames=selection, prefetch=0) as src:
        info = dataclasses.replace(src.info, width=width, height=height)
    video = shot.configs["video"]
    shot.output.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with VideoWriter(shot.output, info, codec=video.codec, crf=video.crf, preset=video.preset, audio=video.audio,
                     force=force) as writer:
        for path in chunk_paths:
            with open_frames(path, batch_size=8) as reader:
                for batch in reader:
                    n = batch.frames.shape[0]
                    if written + n > shot.n_frames:
                        raise VidstyleError(f"chunk {path} holds more frames than planned; delete it and rerun")
                    writer.write(batch.frames, list(shot.pts[written:written + n]))
                    written += n
        if written != shot.n_frames:
            raise VidstyleError(f"chunks of {shot.output.name} hold {written} frames, expected {shot.n_frames}; "
                                f"delete {Path(chunk_paths[0]).parent} and rerun")
    return shot.output


def _source_frames(path: Path) -> int | None:
    from ..media.reader import open_frames

    with open_frames(path, prefetch=0) as reader:
        return reader.info.source_frame_count


__all__ = ["assemble_shot"]
