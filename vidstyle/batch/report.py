"""The morning report: ``report.json`` for tools and ``report.html`` for a supervisor.

Per output: status, frames, chunks, render time, frames per second, attempts,
errors, and a strip of thumbnails taken evenly through the rendered file.
"""

from __future__ import annotations

import datetime
import html
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..media.atomic import replacing
from .state import write_json_atomic

if TYPE_CHECKING:
    from .outcome import BatchResult, ShotOutcome
    from .plan import Plan, Shot

THUMB_HEIGHT = 90
THUMB_COUNT = 6


def thumbnail_strip(video: Path, out: Path, count: int = THUMB_COUNT, height: int = THUMB_HEIGHT) -> Path | None:
    """Save ``count`` frames taken evenly through ``video`` side by side as one PNG (``height`` pixels tall).

    Returns:
        ``out``, or None when the video cannot be read.
    """
    from ..errors import VidstyleError
    from ..media.image import save_image
    from ..media.reader import open_frames

    try:
        with open_frames(video, batch_size=8) as reader:
            n = reader.info.frame_count or 1
            w, h = reader.info.width, reader.info.height
            size = max(2, round(max(w, h) * height / h))
    except VidstyleError:
        return None
    wanted = sorted({round(i * (n - 1) / max(1, count - 1)) for i in range(count)})
    picked: list[torch.Tensor] = []
    with open_frames(video, size=size, batch_size=8) as reader:
        for batch in reader:
            for frame, index in zip(batch.frames, batch.indices):
                if index in wanted:
                    picked.append(frame)
            if len(picked) == len(wanted):
                break
    if not picked:
        return None
    gap = torch.ones(3, picked[0].shape[1], 4)
    row = torch.cat([t for f in picked for t in (f, gap)][:-1], dim=2)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_image(row[None], out, force=True)
    return out


def measure_ewarp(shot: Shot) -> dict[str, Any]:
    """Temporal warping error (METRICS.md, k = 1, DIS flow on the inputs) of a finished output.

    The input is decoded at the output's size over the shot's frames; pairs across the
    shot's cuts are excluded. Returns ``{"e_warp", "input_e_warp", "ratio", "pairs"}``.
    """
    from ..media.reader import open_frames
    from ..metrics import warping_error

    with open_frames(shot.output, prefetch=0) as out_reader:
        size = max(out_reader.info.width, out_reader.info.height)
    with open_frames(shot.input, size=size, frames=(shot.first, shot.first + shot.n_frames), batch_size=8) as ins, \
            open_frames(shot.output, batch_size=8) as outs:
        res = warping_error(ins, outs, k=1, cuts=list(shot.cuts))
    return {k: res[k] for k in ("e_warp", "input_e_warp", "ratio", "pairs")}


def _row(o: ShotOutcome, report_dir: Path) -> dict[str, Any]:
    s = o.shot
    return {
        "job": s.job, "input": str(s.input), "style": s.style_name, "styles": [str(p) for p in s.styles],
        "model": s.model, "method": s.method, "output": str(s.output), "status": o.status,
        "frames": s.n_frames, "first_frame": s.first, "cuts": list(s.cuts),
        "chunks": len(s.chunks), "chunks_done": o.chunks_done, "chunks_rendered_this_run": o.chunks_rendered,
        "render_seconds": round(o.render_seconds, 3), "assemble_seconds": round(o.assemble_seconds, 3),
        "fps": round(s.n_frames / o.render_seconds, 3) if o.render_seconds > 0 and o.chunks_done == len(s.chunks)
        else None,
        "attempts": o.attempts, "errors": o.errors, "e_warp": o.e_warp,
        "thumbnail": os.path.relpath(o.thumbnail, report_dir) if o.thumbnail else None,
    }


_CSS = """body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:6px 10px;text-align:left;vertical-align:top;font-size:14px}
th{background:#f3f3f3}.done,.cached{color:#17752b;font-weight:600}.failed{color:#b3261e;font-weight:600}
.pending{color:#8a6d00;font-weight:600}img{display:block;max-width:560px;height:auto;border:1px solid #ccc}
.err{color:#b3261e;font-size:12px;white-space:pre-wrap}.num{text-align:right;font-variant-numeric:tabular-nums}"""


def _html(rows: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    e = html.escape
    out = ["<!doctype html><html><head><meta charset='utf-8'><title>vidstyle batch report</title>",
           f"<style>{_CSS}</style></head><body>",
           f"<h1>vidstyle batch report</h1><p>{e(summary['job_file'])} — finished {e(summary['finished'])} — "
           f"<b>{summary['done']}/{summary['outputs']}</b> outputs rendered, wall time {summary['wall_seconds']:.1f} s"
           "</p><table><tr><th>job</th><th>input × style</th><th>status</th><th class=num>frames</th>"
           "<th class=num>chunks</th><th class=num>time (s)</th><th class=num>fps</th><th class=num>E_warp "
           "(input)</th><th>thumbnails</th></tr>"]
    for r in rows:
        thumb = f"<img src='{e(r['thumbnail'])}' alt='thumbnails'>" if r["thumbnail"] else "—"
        errs = "".join(f"<div class=err>{e(x)}</div>" for x in r["errors"])
        fps = f"{r['fps']:.2f}" if r["fps"] else "—"
        ew = r["e_warp"]
        ewarp = (f"{ew['e_warp']:.5f} ({ew['input_e_warp']:.5f})" if ew and ew.get("e_warp") is not None
                 and ew.get("input_e_warp") is not None else "—")
        out.append(f"<tr><td>{e(r['job'])}</td><td>{e(Path(r['input']).name)} × {e(r['style'])}<br>"
                   f"<small>→ {e(r['output'])}</small>{errs}</td><td class='{e(r['status'])}'>{e(r['status'])}</td>"
                   f"<td class=num>{r['frames']}</td><td class=num>{r['chunks_done']}/{r['chunks']}</td>"
                   f"<td class=num>{r['render_seconds']:.1f}</td><td class=num>{fps}</td><td class=num>{ewarp}</td>"
                   f"<td>{thumb}</td></tr>")
    out.append("</table></body></html>")
    return "\n".join(out)


def write_report(plan: Plan, result: BatchResult) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` (and thumbnail strips) into the batch's report folder."""
    report_dir = plan.job_file.report_dir
    report_dir.mkdir(parents=True, exist_ok=True)
    for o in result.outcomes:
        if o.status in ("done", "cached") and o.shot.output.is_file():
            name = f"{o.shot.job}__{o.shot.input.stem}__{o.shot.style_name}.png"
            o.thumbnail = thumbnail_strip(o.shot.output, report_dir / "thumbs" / name)
    rows = [_row(o, report_dir) for o in result.outcomes]
    summary = {"job_file": str(plan.job_file.path), "outputs": len(rows),
               "done": sum(r["status"] in ("done", "cached") for r in rows),
               "failed": sum(r["status"] == "failed" for r in rows), "wall_seconds": round(result.wall_seconds, 3),
               "finished": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}
    json_path, html_path = report_dir / "report.json", report_dir / "report.html"
    write_json_atomic(json_path, {"summary": summary, "outputs": rows})
    with replacing(html_path) as tmp:
        tmp.write_text(_html(rows, summary))
    return json_path, html_path


__all__ = ["measure_ewarp", "thumbnail_strip", "write_report"]
