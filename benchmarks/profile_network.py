"""Where a per-frame network's time goes: torch profiler table of one network at one size and precision.

    python benchmarks/profile_network.py [--model starry-night | --magenta] [--size 640x360] [--precision bf16]
           [--fused] [--rows 15]

``--fused``: profile the fused inference form (:mod:`vidstyle.nets.fused` / ``fuse_magenta``) instead of the plain
net. Prints the mean ms per frame (after warm-up) and the profiler's ops by self CPU time over 3 frames; the ops
that move memory (``aten::copy_``, ``clone``, ``pixel_shuffle``) against the convolutions show layout problems.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="starry-night")
    p.add_argument("--magenta", action="store_true", help="the style-embedding generator (a random embedding)")
    p.add_argument("--size", default="640x360")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="bf16")
    p.add_argument("--fused", action="store_true")
    p.add_argument("--rows", type=int, default=15)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from vidstyle.nets.bf16 import Bf16Net

    w, h = (int(v) for v in args.size.split("x"))
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    extra: tuple[torch.Tensor, ...] = ()
    if args.magenta:
        from vidstyle.nets.magenta import fuse_magenta, load_transformer

        net = load_transformer()
        extra = (0.3 * torch.randn(1, 100, generator=torch.Generator().manual_seed(0)),)
        fused = fuse_magenta(net)
    else:
        from vidstyle.nets.fused import fuse_for_inference
        from vidstyle.nets.transformer import load_transformer as load_net

        net, _card = load_net(args.model)
        fused = fuse_for_inference(net)
    base = (fused if args.fused else net).eval().requires_grad_(False)
    run = Bf16Net(base) if args.precision == "bf16" else base
    with torch.inference_mode():
        for _ in range(3):
            run(x, *extra)
        t = time.perf_counter()
        for _ in range(5):
            run(x, *extra)
        ms = (time.perf_counter() - t) / 5 * 1000
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(3):
                run(x, *extra)
    name = "magenta generator" if args.magenta else args.model
    print(f"{name} {'fused' if args.fused else 'plain'} {args.precision} at {args.size}: {ms:.1f} ms/frame")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
