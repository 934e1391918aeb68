"""Batch throughput: recordings per minute for N synthetic nights with 1 and 2 worker processes.

Usage: python scripts/bench_batch.py [--nights 6] [--hours 1.0] [--channels C3,C4] [--jobs 1,2]

Each run starts from an empty output folder (nothing is skipped) and includes the per-recording
report; the 2-worker run includes starting the worker processes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sleepspindles.config import Config
from sleepspindles.output import write_edf, write_text
from sleepspindles.pipeline.batch import run_batch
from sleepspindles.synthetic import make_synthetic_night


def make_cohort(folder: Path, nights: int, hours: float, channels: tuple[str, ...]) -> Path:
    """Write ``nights`` synthetic EDF+ files and their manifest into ``folder``."""
    rows = ["subject,night,recording,hypnogram,trained_hand,score_pre,score_post"]
    for i in range(nights):
        night = make_synthetic_night(duration_hours=hours, channels=channels, seed=i)
        write_edf(night.recording, folder / f"sub{i:02d}.edf")
        rows.append(f"sub{i:02d},learning,sub{i:02d}.edf,,left,10,12")
    return write_text(folder / "manifest.csv", "\n".join(rows) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=6)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--channels", default="C3,C4")
    parser.add_argument("--jobs", default="1,2")
    args = parser.parse_args()
    channels = tuple(c.strip() for c in args.channels.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        manifest = make_cohort(folder, args.nights, args.hours, channels)
        print(f"{args.nights} synthetic nights of {args.hours:g} h, {len(channels)} EEG channels")
        for jobs in (int(j) for j in args.jobs.split(",")):
            started = time.perf_counter()
            result = run_batch(manifest, folder / f"out_{jobs}", Config(), jobs=jobs, progress=False)
            minutes = (time.perf_counter() - started) / 60.0
            print(f"jobs={jobs}: {len(result.done)} processed, {len(result.failed)} failed in "
                  f"{minutes * 60:.1f} s -> {len(result.done) / minutes:.1f} recordings/min")


if __name__ == "__main__":
    main()
