"""Wall time of a family sweep: 30 sizes (1e6 to 1e19 MACs per inference) x 6 hardware,
over the machine's cores (issue 12 target: <= 30 s on the 2-core development machine).

    .venv/bin/python benchmarks/bench_sweep.py [--family gpt] [--sizes 30] [--workers N]

Prints the wall time, the load average before and after (the machine is shared: a loaded
machine is slower), and the same sweep's time with one worker when --serial is given.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

HWS = ["pcm-hermes", "freespace", "mzi-mems", "rram", "sram-cim", "charge-jia2020"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", default="gpt")
    ap.add_argument("--sizes", type=int, default=30)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--serial", action="store_true", help="also time one worker")
    a = ap.parse_args()
    t0 = time.perf_counter()
    import analogc  # noqa: F401 - import time is part of a command's time
    from analogc.sweep import sweep

    t_imp = time.perf_counter() - t0
    print(f"cores {os.cpu_count()}, load average before {os.getloadavg()[0]:.2f}")
    t = time.perf_counter()
    df = sweep(family=a.family, sizes=a.sizes, hws=HWS, workers=a.workers, progress=True)
    wall = time.perf_counter() - t
    print(f"{a.family}: {df['model'].nunique()} sizes x {df['hw'].nunique()} hardware = {len(df)} rows, "
          f"MACs {df['macs'].min():.3g}..{df['macs'].max():.3g}: {wall:.1f} s "
          f"(+{t_imp:.1f} s import); load average after {os.getloadavg()[0]:.2f}")
    if a.serial:
        t = time.perf_counter()
        sweep(family=a.family, sizes=a.sizes, hws=HWS, workers=1)
        one = time.perf_counter() - t
        print(f"one worker: {one:.1f} s -> {one / wall:.2f}x from {a.workers or os.cpu_count()} workers")


if __name__ == "__main__":
    main()
