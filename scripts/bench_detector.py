"""Time our spindle detector against YASA on a synthetic night, each in its own subprocess.

Prints, for each engine: milliseconds per channel-hour, wall and CPU (warm: the second call in
the process), the cold first call (wall and CPU, one-time costs included), peak RSS (MB); then
the ratios YASA/ours warm and cold, wall and CPU; ours on 1 thread and on ``--parallel``
threads (channel groups in a thread pool) with the speed-up; the machine's load average before
and after each run (CPU time is the steadier measure on a shared machine: wall time waits for
cores other processes hold); and the by-event F1 (IoU >= 0.5) between our and YASA's events.

    python scripts/bench_detector.py                       # a7, 8 h, 6 channels, 256 Hz
    python scripts/bench_detector.py --hours 1 --channels 2 --sf 100
    python scripts/bench_detector.py --big                 # 64 channels, 8 h, 256 Hz, ours only
    python scripts/bench_detector.py --parallel 4          # the speed-up of 4 threads over 1
    python scripts/bench_detector.py --method fast         # the fast engine (YASA's method; parity F1)

The signal (coloured noise plus 11.5-15 Hz waxing-waning bursts, float64) is generated inside
each subprocess, one channel at a time, so the raw data is the only large allocation. BLAS and
numba run single-threaded unless more threads are asked (YASA always single-threaded).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_night(hours: float, n_ch: int, sf: float, seed: int = 0):
    """(data float64 (n_ch, n), sf): coloured noise and a waxing-waning burst every ~7 s."""
    import numpy as np
    from scipy.signal import lfilter

    n = int(hours * 3600 * sf)
    data = np.empty((n_ch, n))
    period = int(7.1 * sf)
    for c in range(n_ch):
        rng = np.random.default_rng([seed, c])
        data[c] = rng.standard_normal(n)
        data[c] = lfilter([3.0], [1, -0.95], data[c]) + 2.0 * rng.standard_normal(n)
        for s0 in range(int(3 * sf), n - period, period):
            d = rng.uniform(0.6, 1.8)
            m = int(d * sf)
            tt = np.arange(m) / sf
            a, f = rng.uniform(15, 40), rng.uniform(11.5, 15)
            data[c, s0 : s0 + m] += a * np.sin(np.pi * tt / d) ** 2 * np.sin(2 * np.pi * f * tt)
    return data


#: YASA's own spindle band and durations: YASA and the fast engine (its method) are compared at them.
YASA_SETTINGS = {"band": (12.0, 15.0), "duration": (0.5, 2.0)}


def _child(args) -> None:
    """Run one engine and write timing, peak RSS and events to a JSON file."""
    import resource

    from sleepspindles.config import DetectionConfig
    from sleepspindles.recording import Recording

    data = make_night(args.hours, args.channels, args.sf)
    rec = Recording(data, args.sf, tuple(f"E{i}" for i in range(args.channels)))
    del data
    if args.engine in ("fast", "a7"):
        from sleepspindles.detection.spindles import a7, fast

        engine = fast if args.engine == "fast" else a7
        yasa_like = YASA_SETTINGS if args.engine == "fast" else {}
        cfg = DetectionConfig(method=args.engine, n_jobs=args.threads, **yasa_like)
    else:
        from sleepspindles.detection.spindles import yasa_ref as engine

        cfg = DetectionConfig(method="yasa", **YASA_SETTINGS)
    # Cold: the first call in a fresh process, one-time costs included (ours loads numba's cached
    # kernels, YASA's wrapper imports yasa). Warm: the same call again.
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    t0, c0 = time.perf_counter(), time.process_time()
    engine.detect(rec, None, cfg)
    cold, cold_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    res = engine.detect(rec, None, cfg)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    ev = res.events
    out = {
        "floor_seconds": _a7_floor(rec, cfg) if args.engine == "a7" else float("nan"),
        "seconds": elapsed,
        "cold_seconds": cold,
        "cold_cpu_seconds": cold_cpu,
        "cpu_seconds": cpu,
        "threads": args.threads,
        "load": [load_before, os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "raw_mb": args.channels * rec.n_samples * 8 / 2**20,
        "channel_hours": args.channels * args.hours,
        "blas": _blas_info(),
        "events": {c: ev[c].tolist() for c in ("channel", "start", "end")},
    }
    Path(args.out).write_text(json.dumps(out))


def _a7_floor(rec, cfg) -> float:
    """Seconds of what any step of A7 here stands on, run alone: the block transforms and the periodogram ratio.

    Every block's native forward FFT, its sigma (analytic) and broadband inverse FFTs and A7's
    relative sigma power (a periodogram ratio per 0.1 s window), in the engine's own plan and
    buffers; everything else (window features, baselines, decisions, events, parameters) left out.
    """
    import numpy as np

    from sleepspindles.detection.core import streaming as st
    from sleepspindles.detection.spindles import a7
    from sleepspindles.detection.spindles.kernels_a7_periodogram import periodogram_ratio

    setup = a7._setup(rec, None, cfg)
    plan, rows = setup.plan, list(range(len(rec.channels)))
    work, include = st.Work.new(len(rows), plan), np.ones(plan.l_int, np.bool_)
    t0 = time.perf_counter()
    for k in range(plan.n_blocks):
        blk = st.block(st.spectrum(rec.data, rows, k, plan, False, work), k, plan, include, analytic=True,
                       broad=True, work=work)
        c0, c1 = plan.core(k)
        n_win = min(-(-(c1 - c0) // setup.step), setup.n_win - c0 // setup.step)
        for i in rows:
            periodogram_ratio(blk.broad[i], plan.margin, setup.step, setup.win, n_win, *setup.periodogram)
    return time.perf_counter() - t0


def _blas_info() -> str:
    """BLAS kernel and thread count seen by this process (threadpoolctl, when installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return "; ".join(f"{i['internal_api']} {i.get('architecture', '?')} x{i['num_threads']}" for i in threadpool_info())


def _run(engine: str, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        env = dict(os.environ)
        threads = "1" if engine == "yasa" else str(args.threads)
        env.update(OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads,
                   NUMBA_NUM_THREADS=threads)
        cmd = [sys.executable, __file__, "--child", engine, "--out", str(out), "--hours", str(args.hours),
               "--channels", str(args.channels), "--sf", str(args.sf), "--threads", str(args.threads)]
        subprocess.run(cmd, check=True, env=env)
        return json.loads(out.read_text())


def _f1(a: dict, b: dict) -> float:
    import numpy as np

    from sleepspindles.evaluation.matching import match_events

    tp = n_a = n_b = 0
    for ch in sorted(set(a["channel"]) | set(b["channel"])):
        sa = [i for i, c in enumerate(a["channel"]) if c == ch]
        sb = [i for i, c in enumerate(b["channel"]) if c == ch]
        m = match_events(np.take(a["start"], sa), np.take(a["end"], sa), np.take(b["start"], sb),
                         np.take(b["end"], sb), iou=0.5)
        tp, n_a, n_b = tp + m.n_matched, n_a + len(sa), n_b + len(sb)
    return 2 * tp / (n_a + n_b) if n_a + n_b else float("nan")


def _report(name: str, r: dict) -> None:
    chh = r["channel_hours"]
    budget = 1.5 * r["raw_mb"] + 300
    print(f"{name}: warm {1000 * r['seconds'] / chh:.1f} ms wall, {1000 * r['cpu_seconds'] / chh:.1f} ms CPU per "
          f"channel-hour ({r['seconds']:.2f} s wall, {r['cpu_seconds']:.2f} s CPU); cold first call "
          f"{r['cold_seconds']:.2f} s wall, {r['cold_cpu_seconds']:.2f} s CPU; {len(r['events']['start'])} events\n"
          f"       peak RSS {r['peak_rss_mb']:.0f} MB (raw float64 {r['raw_mb']:.0f} MB; budget 1.5x+300 = "
          f"{budget:.0f} MB); load average {r['load'][0]:.2f} before, {r['load'][1]:.2f} after; BLAS: {r['blas']}")


def _thread_settings() -> str:
    """The machine's cores, load and thread-related environment (they change the timings)."""
    names = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
             "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
    env = ", ".join(f"{n}={os.environ.get(n, 'unset')}" for n in names)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"machine: {os.cpu_count()} cores, load average {load:.2f}; {env} "
            f"(children get *_NUM_THREADS = their thread count)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hours", type=float, default=8.0)
    p.add_argument("--channels", type=int, default=6)
    p.add_argument("--sf", type=float, default=256.0)
    p.add_argument("--threads", type=int, default=1, help="n_jobs of our run compared with YASA (YASA: always 1)")
    p.add_argument("--parallel", type=int, default=2,
                   help="also time ours with this many threads for the speed-up over 1 (0: skip)")
    p.add_argument("--big", action="store_true", help="64 channels, 8 h, 256 Hz, 2 threads, ours only")
    p.add_argument("--no-yasa", action="store_true", help="time our engine only")
    p.add_argument("--method", choices=("fast", "a7"), default="a7",
                   help="our engine to time: a7 (the default method) or fast (YASA's method, parity F1 printed)")
    p.add_argument("--child", choices=("fast", "a7", "yasa"), help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        args.engine = args.child
        _child(args)
        return 0
    if args.big:
        args.hours, args.channels, args.sf, args.threads, args.no_yasa = 8.0, 64, 256.0, 2, True
    print(f"night: {args.hours:g} h x {args.channels} channels at {args.sf:g} Hz; ours: {args.method}")
    print(_thread_settings())
    ours = _run(args.method, args)
    _report(f"ours ({args.method}, {args.threads} thread{'s' if args.threads > 1 else ''})", ours)
    if args.parallel and args.parallel != args.threads:
        par = _run(args.method, argparse.Namespace(**{**vars(args), "threads": args.parallel}))
        _report(f"ours ({args.method}, {args.parallel} threads)", par)
        one, many = (ours, par) if args.threads == 1 else (par, ours)
        print(f"speed-up of {many['threads']} threads over {one['threads']}: "
              f"{one['seconds'] / many['seconds']:.2f}x wall "
              f"(CPU {many['cpu_seconds'] / one['cpu_seconds']:.2f}x the serial run's: what the threads cost "
              f"beyond it; with other processes on the cores, wall time waits for them)")
    if args.no_yasa:
        return 0
    ref = _run("yasa", args)
    _report("yasa", ref)
    print(f"ratio YASA/ours, warm: {ref['seconds'] / ours['seconds']:.1f}x wall, "
          f"{ref['cpu_seconds'] / ours['cpu_seconds']:.1f}x CPU; cold (first call in a fresh process): "
          f"{ref['cold_seconds'] / ours['cold_seconds']:.1f}x wall, "
          f"{ref['cold_cpu_seconds'] / ours['cold_cpu_seconds']:.1f}x CPU")
    if args.method == "a7":
        floor = 1000 * ours["floor_seconds"] / ours["channel_hours"]
        print(f"of ours, the transforms and the periodogram ratio alone (every other step left out): "
              f"{floor:.1f} ms wall per channel-hour, {ref['seconds'] / ours['floor_seconds']:.1f}x YASA; "
              f"50x YASA leaves {1000 * ref['seconds'] / 50 / ours['channel_hours'] - floor:.1f} ms per "
              f"channel-hour for the rest, which takes {1000 * ours['seconds'] / ours['channel_hours'] - floor:.1f} ms")
    label = "parity F1" if args.method == "fast" else "agreement F1 (a7 is a different method)"
    print(f"{label} (IoU >= 0.5): {_f1(ref['events'], ours['events']):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
