"""How long ``vidstyle preview`` takes, and how close its render-time estimate comes to the real render.

1. Wall time of the whole command (``python -m vidstyle preview CLIP -s A -s B --method magenta``: start-up, seeking,
   two look builds, 3 rows each, the sheet), ``--runs`` times, median.
2. With ``--validate``: the sheet's estimate for the first style, then the real ``vidstyle run`` of the same look
   (wall time of the command), side by side.

    nice -n 5 python benchmarks/bench_preview.py --clip ../shared/data/clips/chaplin.mp4 \\
        --style ../shared/data/styles/vangogh_starry_night.jpg --style ../shared/data/styles/munch_the_scream.jpg \\
        --runs 3 --validate --append
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _vidstyle(*args: str) -> tuple[float, str]:
    """Run ``python -m vidstyle ARGS`` with this tree first on the path; wall seconds and stdout."""
    import os

    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "vidstyle", *args], capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"vidstyle {' '.join(args)} failed: {done.stderr.strip()}")
    return seconds, done.stdout


def _seconds(text: str) -> float:
    """``≈ 4.9 min`` / ``≈ 41 s`` / ``≈ 1.2 h`` in a preview line → seconds."""
    m = re.search(r"≈ ([\d.]+) (s|min|h)\b", text)
    if not m:
        raise ValueError(f"no estimate in {text!r}")
    return float(m.group(1)) * {"s": 1, "min": 60, "h": 3600}[m.group(2)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, required=True)
    ap.add_argument("--style", type=Path, action="append", required=True)
    ap.add_argument("--method", default="magenta")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--validate", action="store_true", help="also run the full render of the first look")
    ap.add_argument("--sheet", type=Path, default=None, help="keep the last sheet here")
    ap.add_argument("--append", action="store_true", help="append the results to benchmarks/RESULTS.md")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        sheet = args.sheet or Path(tmp) / "sheet.png"
        styles = [a for s in args.style for a in ("-s", str(s))]
        walls, out = [], ""
        for _ in range(args.runs):
            wall, out = _vidstyle("preview", str(args.clip), *styles, "--method", args.method, "-o", str(sheet),
                                  "--force", "-q", "--device", "cpu")
            walls.append(wall)
            print(f"preview: {wall:.1f} s", flush=True)
        lines = [ln.strip() for ln in out.splitlines() if "≈" in ln]
        rows = [f"| preview wall time (median of {args.runs}) | {statistics.median(walls):.1f} s "
                f"(runs: {', '.join(f'{w:.1f}' for w in walls)}) |"]
        rows += [f"| estimate, {ln.split(':')[0]} | {ln.split(':', 1)[1].strip()} |" for ln in lines]
        if args.validate:
            estimate = _seconds(lines[0])
            video = Path(tmp) / "full.mp4"
            wall, _ = _vidstyle("run", str(args.clip), "-s", str(args.style[0]), "--method", args.method,
                                "-o", str(video), "-q", "--device", "cpu")
            print(f"full render: {wall:.1f} s (estimate {estimate:.0f} s)", flush=True)
            rows.append(f"| full `vidstyle run` of the first look (wall) | {wall:.1f} s — the estimate was "
                        f"{estimate:.0f} s ({estimate / wall:.2f}× the real time) |")
    body = "| what | measured |\n|---|---|\n" + "\n".join(rows)
    print(body)
    if args.append:
        from results_md import append_section

        append_section(
            f"vidstyle preview: {args.clip.name}, {len(args.style)} paintings, {args.method}",
            "Default size (the input's), 3 rows; one contact sheet per run. The machine was shared with other agents "
            "(see the load average), so absolute times are under load; the estimate and the real render ran "
            "minutes apart, under whatever load there was then.", body)


if __name__ == "__main__":
    main()
