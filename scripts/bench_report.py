"""Time the subject report alone (figures, PNG encoding, HTML), on a cached analysis result.

The analysis of each synthetic night (spindles, slow oscillations, coupling, every table) runs
once and is pickled under ``--dir``; every later run loads it and times only
``write_subject_report``, in this process, ``--repeats`` times. CPU time
(``time.process_time``) is printed beside wall time: on a shared, loaded machine CPU time is the
figure to compare, wall time what a user waits.

    python scripts/bench_report.py                        # 8 h x 6 channels and 2 h x 64 channels, 256 Hz
    python scripts/bench_report.py --only 6 --repeats 5
    python scripts/bench_report.py --only 64 --profile    # cProfile of one render, top 25 by cumulative time

The target (issue 14): <= 1.5 s of rendering (CPU) for 8 h x 6 channels with SOs; the 64-channel
report bounded (a capped selection of per-channel panels, not one per channel).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pickle
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

SIX = ("C3", "C4", "F3", "F4", "O1", "O2")
# A 64-channel 10-10 cap (BioSemi 64 layout, 10-10 names).
SIXTY_FOUR = ("Fp1 AF7 AF3 F1 F3 F5 F7 FT7 FC5 FC3 FC1 C1 C3 C5 T7 TP7 CP5 CP3 CP1 P1 P3 P5 P7 P9 PO7 PO3 O1 Iz Oz "
              "POz Pz CPz Fpz Fp2 AF8 AF4 AFz Fz F2 F4 F6 F8 FT8 FC6 FC4 FC2 FCz Cz C2 C4 C6 T8 TP8 CP6 CP4 CP2 P2 "
              "P4 P6 P8 P10 PO8 PO4 O2").split()
NIGHTS = {"6": (SIX, 8.0), "64": (tuple(SIXTY_FOUR), 2.0)}


def cached_result(key: str, folder: Path, sf: float):
    """The analysed night ``key`` (``"6"`` or ``"64"``), computed and pickled on first use."""
    channels, hours = NIGHTS[key]
    path = folder / f"report_result_{key}ch_{hours:g}h_{sf:g}hz.pkl"
    if path.exists():
        with path.open("rb") as f:
            return pickle.load(f)
    from sleepspindles.config import Config
    from sleepspindles.pipeline.run import analyse_recording
    from sleepspindles.synthetic import make_synthetic_night

    print(f"  analysing a {hours:g} h x {len(channels)} channel night once (cached in {path})", flush=True)
    night = make_synthetic_night(duration_hours=hours, sf=sf, channels=channels, so_density=8.0,
                                 coupled_fraction=0.3, seed=14)
    result = analyse_recording(night.recording, Config())
    with path.open("wb") as f:
        pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
    return result


def render_once(result, out: Path, hand: str | None) -> tuple[float, float]:
    """(CPU s, wall s) of one ``write_subject_report``."""
    from sleepspindles.report import write_subject_report

    cpu, wall = time.process_time(), time.perf_counter()
    write_subject_report(result, out, trained_hand=hand)
    return time.process_time() - cpu, time.perf_counter() - wall


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=sorted(NIGHTS), help="one night only")
    p.add_argument("--sf", type=float, default=256.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--hand", choices=("left", "right"), help="add the lateralisation section")
    p.add_argument("--profile", action="store_true", help="print a cProfile of one render instead of timing")
    p.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "sleepspindles_bench")
    args = p.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    import sleepspindles.report  # noqa: F401  (imports are not rendering)

    for key in [args.only] if args.only else sorted(NIGHTS, key=int):
        channels, hours = NIGHTS[key]
        result = cached_result(key, args.dir, args.sf)
        out = args.dir / f"report_{key}ch"
        render_once(result, out, args.hand)  # warm-up: matplotlib's font cache, jinja2's template
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(render_once, result, out, args.hand)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
            continue
        times = [render_once(result, out, args.hand) for _ in range(args.repeats)]
        cpu, wall = [t[0] for t in times], [t[1] for t in times]
        size = (out / "report.html").stat().st_size / 1e6
        print(f"{hours:g} h x {len(channels)} channels: CPU min {min(cpu):.2f} s, median {statistics.median(cpu):.2f} s"
              f" | wall min {min(wall):.2f} s, median {statistics.median(wall):.2f} s | report.html {size:.1f} MB "
              f"(load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
