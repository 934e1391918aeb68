"""Time our slow-oscillation (SO) detection, coupling and SWA against ``yasa.sw_detect(coupling=True)``.

The same synthetic night (SOs planted at 8 per minute of N3, 30 % of them global, half the
spindles inside an SO at a von Mises phase, kappa 4) and its spindle detection are computed once by
a first subprocess (not timed) and written to a temporary folder; each engine then runs in its
own subprocess, first on a 2-minute all-N3 night (one-time costs out of the timing: numba's
kernels, YASA's imports), then on the night. The parent stays small: on Linux a child's
``ru_maxrss`` starts at its parent's RSS at the fork.

* ours: ``detect_kind("slow_oscillations", ...)`` given the spindle detection computed
  beforehand, then the producers of the three derived tables,
  ``coupling_table``, ``swa_table`` and ``so_summary_table``;
* YASA: ``yasa.sw_detect(..., coupling=True)`` (SOs, ``PhaseAtSigmaPeak`` and ``ndPAC``; YASA
  has no SWA table). It receives float64 (its own conversion is not timed) and the per-sample
  hypnogram it requires.

YASA runs ``--repeat`` times (default 3), each in its own child, and our child (``--repeat`` runs)
before, between and after them: ours takes a second and YASA a quarter of a minute, so the
alternation lets both engines' runs span the same minutes of the shared machine, its slower spells
and its quieter ones alike; min and median over each engine's runs are reported, the ratio of
the minima judged. Both children run under the glibc allocator settings the ``sleepspindles`` command
sets for itself (``--allocator command``, the default; ``default`` for glibc's own), so the
reference gets the same reuse of freed block-sized buffers as our command.

Both use the same criteria (:data:`YASA_SW`, :func:`matched_config`): YASA's upper amplitude
limits are disabled and our cycle length is bounded as YASA's is, by the sums of the half-wave
bounds (0.4-2.5 s instead of our default 0.8-2 s). Prints per engine: seconds (wall and CPU),
seconds per channel-hour, peak RSS (``resource.getrusage``, and what it was before the timed
run); the ratio YASA/ours; the by-event SO agreement F1 (IoU >= 0.5); the machine's cores and load.

    python scripts/bench_slow_oscillations.py                        # 8 h x 6 channels x 256 Hz
    python scripts/bench_slow_oscillations.py --hours 1 --channels 2 --sf 100

The helpers that pair the two detections (:func:`so_agreement`, :func:`phase_pairs`) are also
the ones ``tests/test_so_yasa.py`` asserts on.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:  # run as a file or loaded by the tests: the sibling benchmark's helpers
    sys.path.insert(0, str(_HERE))
import bench_detector  # its BLAS and machine reports

from sleepspindles.config import Config, DetectionConfig
from sleepspindles.evaluation.matching import Matches, match_events

#: ``yasa.sw_detect`` settings matching our engine: its defaults with the upper amplitude limits off.
YASA_SW = {"freq_sw": (0.3, 1.5), "dur_neg": (0.3, 1.5), "dur_pos": (0.1, 1.0), "amp_neg": (40.0, math.inf),
           "amp_pos": (0.0, math.inf), "amp_ptp": (75.0, math.inf)}
#: Seconds on each side of an SO's negative peak where YASA looks for the sigma peak (its ``time``).
YASA_WINDOW = 1.0
#: Our spindle's sigma peak and YASA's sigma peak this close (s): both tools read the phase at one spindle.
SAME_PEAK = 0.05
#: The synthetic night of the benchmark and of the cross-check test (plus duration, rate, channels, seed).
NIGHT = {"so_density": 8.0, "so_shared_fraction": 0.3, "coupled_fraction": 0.5, "coupling_kappa": 4.0}
CHANNELS = ("F3", "F4", "C3", "C4", "O1", "O2", "P3", "P4")
IOU = 0.5
TARGET = 20.0  # the speed-up over YASA we aim at


def matched_config(config: Config | None = None) -> Config:
    """``config`` (default ``Config()``) with the SO criteria of :data:`YASA_SW`.

    YASA bounds the cycle only through its half-waves: a cycle is between
    ``dur_neg[0] + dur_pos[0]`` and ``dur_neg[1] + dur_pos[1]`` long, so our ``crossing`` takes
    those sums; the amplitude criterion is absolute (trough <= -40 uV, peak-to-peak >= 75 uV).
    """
    config = config or Config()
    so = replace(config.slow_oscillations, band=YASA_SW["freq_sw"], neg_duration=YASA_SW["dur_neg"],
                 pos_duration=YASA_SW["dur_pos"],
                 crossing=(YASA_SW["dur_neg"][0] + YASA_SW["dur_pos"][0], YASA_SW["dur_neg"][1] + YASA_SW["dur_pos"][1]),
                 amplitude="absolute", neg_max=-YASA_SW["amp_neg"][0], ptp_min=YASA_SW["amp_ptp"][0],
                 stages=("N2", "N3"))
    return replace(config, slow_oscillations=so)


def yasa_slow_waves(data: np.ndarray, sf: float, channels, hypno: np.ndarray | None,
                    spindle_band: tuple[float, float]) -> pd.DataFrame:
    """``yasa.sw_detect`` with :data:`YASA_SW`, N2/N3 and coupling in ``spindle_band``: its events table.

    ``hypno`` is YASA's per-sample stage array (our codes are YASA's). Empty when YASA finds nothing.
    """
    import yasa

    empty = pd.DataFrame(columns=["Start", "NegPeak", "End", "SigmaPeak", "PhaseAtSigmaPeak", "ndPAC", "Channel"])
    if hypno is not None and not np.isin(hypno, (2, 3)).any():
        return empty  # YASA refuses a hypnogram without the stages included
    found = yasa.sw_detect(data, sf, list(channels), hypno=hypno, include=(2, 3) if hypno is not None else None,
                           coupling=True, coupling_params={"freq_sp": tuple(spindle_band), "time": YASA_WINDOW},
                           **YASA_SW)
    return empty if found is None else found.summary()


def yasa_phase_to_ours(phase_rad) -> np.ndarray:
    """YASA's ``PhaseAtSigmaPeak`` (radians) in our convention (degrees, ``schema.PHASE_CONVENTION``).

    Both are the angle of the Hilbert analytic signal of the SO-band signal (YASA:
    ``np.angle(scipy.signal.hilbert(data_filt))``), so 0 is the up-state peak, +-180 the trough
    and +90 the down-going zero crossing in both: the conversion is radians to degrees, with no
    sign change and no offset (verified on a pure cosine in ``tests/test_so_yasa.py``).
    """
    return np.degrees(np.asarray(phase_rad, dtype=np.float64))


def so_agreement(ours: pd.DataFrame, theirs: pd.DataFrame, iou: float = IOU) -> dict[str, Matches]:
    """Per channel, YASA's SOs (reference) matched one-to-one to ours (detections) at ``iou``.

    Start and end are compared as they are: YASA's are the sample before each zero crossing,
    ours the sample after (at our 100 Hz internal rate); IoU absorbs the sample.
    """
    out = {}
    for ch in sorted(set(ours["channel"]) | set(theirs["Channel"])):
        a, b = ours[ours["channel"] == ch], theirs[theirs["Channel"] == ch]
        out[ch] = match_events(b["Start"].to_numpy(float), b["End"].to_numpy(float), a["start"].to_numpy(float),
                               a["end"].to_numpy(float), iou=iou)
    return out


def pooled_f1(matches: dict[str, Matches]) -> float:
    """By-event F1 over all channels: ``2 TP / (n_ours + n_yasa)``."""
    total = sum(m.n_ref + m.n_det for m in matches.values())
    return 2 * sum(m.n_matched for m in matches.values()) / total if total else math.nan


def phase_pairs(spindles: pd.DataFrame, ours: pd.DataFrame, theirs: pd.DataFrame,
                matches: dict[str, Matches]) -> pd.DataFrame:
    """Our coupled spindles whose SO matches a YASA SO, with both phases (degrees, our convention).

    Columns: ``channel``, ``sigma_peak`` (our spindle's), ``ours`` (its ``so_phase``), ``yasa``
    (that SO's ``PhaseAtSigmaPeak`` converted by :func:`yasa_phase_to_ours`), ``yasa_sigma_peak``
    and ``in_window`` (our sigma peak within :data:`YASA_WINDOW` of the SO's negative peak: only
    then can YASA's sigma peak be our spindle's), ``same_peak`` (the two sigma peaks within
    :data:`SAME_PEAK`: the two phases are read at the same spindle, to the filters' difference).
    """
    rows = []
    coupled = spindles[spindles["so_coupled"].to_numpy(dtype=bool, na_value=False)]
    for ch, m in matches.items():
        a = ours[ours["channel"] == ch]
        b = theirs[theirs["Channel"] == ch]
        partner = dict(zip(m.det.tolist(), m.ref.tolist()))  # position in a -> position in b
        start, end = a["start"].to_numpy(float), a["end"].to_numpy(float)
        for _, sp in coupled[coupled["channel"] == ch].iterrows():
            # the SO holding the peak (the engine's grid: nearest interval, as coupling_table does)
            k = int(np.argmin(np.maximum(np.maximum(start - sp["sigma_peak"], sp["sigma_peak"] - end), 0.0)))
            if k not in partner:
                continue
            y = b.iloc[partner[k]]
            rows.append({"channel": ch, "sigma_peak": sp["sigma_peak"], "ours": sp["so_phase"],
                         "yasa": float(yasa_phase_to_ours(y["PhaseAtSigmaPeak"])), "yasa_sigma_peak": y["SigmaPeak"],
                         "in_window": abs(sp["sigma_peak"] - y["NegPeak"]) <= YASA_WINDOW,
                         "same_peak": abs(sp["sigma_peak"] - y["SigmaPeak"]) <= SAME_PEAK})
    types = {"channel": object, "sigma_peak": float, "ours": float, "yasa": float, "yasa_sigma_peak": float,
             "in_window": bool, "same_peak": bool}
    return pd.DataFrame(rows, columns=list(types)).astype(types)


# --------------------------------------------------------------------------- the benchmark
def _night(hours: float, n_ch: int, sf: float, hypnogram=None):
    from sleepspindles.synthetic import make_synthetic_night

    return make_synthetic_night(duration_hours=hours, sf=sf, channels=CHANNELS[:n_ch], hypnogram=hypnogram, seed=0,
                                **NIGHT)


def _warm_night(sf: float):
    """2 minutes of N3 with SOs and coupled spindles: every kernel of both engines runs."""
    from sleepspindles.hypnogram import Hypnogram

    return _night(2 / 60, 1, sf, hypnogram=Hypnogram(np.full(4, 3, dtype=np.int8), 30.0)).recording


def _ours(rec, config: Config, spindles) -> tuple[pd.DataFrame, dict]:
    """SO detection then the three producers; their events and seconds (wall) per step."""
    from sleepspindles.analysis.coupling import coupling_table
    from sleepspindles.analysis.slow_waves import so_summary_table, swa_table
    from sleepspindles.detection import RecordingContext, detect_kind

    t0, c0 = time.perf_counter(), time.process_time()
    so = detect_kind("slow_oscillations", rec, rec.hypnogram, config, {"spindles": spindles}, spindles.coverage)
    t1, c1 = time.perf_counter(), time.process_time()
    found = {"spindles": replace(spindles, events=so.tables["spindles"]), "slow_oscillations": so}
    context = RecordingContext(rec, rec.hypnogram, config, found)
    coupling_table(context)
    swa_table(context)
    so_summary_table(context)
    return so.events, {"so": (t1 - t0, c1 - c0), "tables": (time.perf_counter() - t1, time.process_time() - c1)}


def _child(args) -> int:
    """Prepare the night (``prepare``) or run engine ``args.child`` on it; write timings, RSS and its SO events."""
    import resource

    from sleepspindles.hypnogram import Hypnogram
    from sleepspindles.recording import Recording

    def rss() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    folder = Path(args.folder)
    if args.child == "prepare":
        _prepare(folder, args)
        return 0
    meta = json.loads((folder / "night.json").read_text())
    hyp = Hypnogram(np.load(folder / "stages.npy"), meta["epoch_length"])
    data = np.load(folder / "data.npy")
    config = matched_config(Config(detection=DetectionConfig(n_jobs=args.threads)))
    warm = _warm_night(args.sf)
    if args.child == "ours":
        spindles = pickle.loads((folder / "spindles.pkl").read_bytes())
        warm_spindles = pickle.loads((folder / "warm_spindles.pkl").read_bytes())
        data.flags.writeable = False  # so that Recording keeps it rather than copying it
        rec = Recording(data, args.sf, tuple(meta["channels"]), hypnogram=hyp)
        # The warm-up night's samples as the night's (read-only float32): the same compiled kernels serve both.
        warm_data = np.array(warm.data, dtype=data.dtype)
        warm_data.flags.writeable = False
        _ours(Recording(warm_data, args.sf, warm.channels, hypnogram=warm.hypnogram), config, warm_spindles)
        before = rss()
        runs = _timed(lambda: _ours(rec, config, spindles), args.repeat)
        events, steps = runs[0][2]  # the first run's (the cold one's) steps
        out = {"channel": events["channel"].tolist(), "start": events["start"].tolist(), "end": events["end"].tolist()}
    else:
        yasa_slow_waves(warm.data.astype(np.float64), args.sf, warm.channels,
                        warm.hypnogram.to_samples(args.sf, warm.n_samples), config.detection.band)
        hypno = hyp.to_samples(args.sf, data.shape[1])
        data = data.astype(np.float64)  # YASA works in float64 (it would convert itself)
        before = rss()
        runs = _timed(lambda: yasa_slow_waves(data, args.sf, meta["channels"], hypno, config.detection.band),
                      args.repeat)
        events, steps = runs[0][2], {}
        out = {"channel": events["Channel"].tolist(), "start": events["Start"].tolist(), "end": events["End"].tolist()}
    result = {"runs": [run[:2] for run in runs], "peak_rss_mb": rss(),
              "rss_before_mb": before, "raw_mb": data.nbytes / 2**20, "channel_hours": meta["channel_hours"],
              "blas": bench_detector._blas_info(), "steps": steps, "events": out}
    Path(args.out).write_text(json.dumps(result))
    return 0


def _timed(run, repeat: int) -> list[tuple[float, float, object]]:
    """``repeat`` calls of ``run``: (wall seconds, CPU seconds, its result) of each, in order."""
    out = []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = run()
        out.append((time.perf_counter() - t0, time.process_time() - c0, result))
    return out


def _prepare(folder: Path, args) -> None:
    """Write the night (float32 data, stages) and the spindle detections (night and warm-up) to ``folder``."""
    from sleepspindles.detection import detect_kind

    t0 = time.perf_counter()
    night = _night(args.hours, args.channels, args.sf)
    rec = night.recording
    np.save(folder / "data.npy", np.ascontiguousarray(rec.data))
    np.save(folder / "stages.npy", rec.hypnogram.stages)
    meta = {"channels": list(rec.channels), "epoch_length": rec.hypnogram.epoch_length,
            "channel_hours": len(rec.channels) * rec.duration / 3600}
    (folder / "night.json").write_text(json.dumps(meta))
    config = matched_config(Config(detection=DetectionConfig(n_jobs=args.threads)))
    for name, one in (("spindles", rec), ("warm_spindles", _warm_night(args.sf))):
        found = detect_kind("spindles", one, one.hypnogram, config)
        (folder / f"{name}.pkl").write_bytes(pickle.dumps(found))
    print(f"prepared in {time.perf_counter() - t0:.0f} s (not timed): {len(night.so_truth)} planted SOs, "
          f"stages {rec.hypnogram.stage_minutes()} min")


def _command(engine: str, folder: Path, args, repeat: int = 1) -> list[str]:
    return [sys.executable, __file__, "--child", engine, "--folder", str(folder), "--out", str(folder / f"{engine}.json"),
            "--hours", str(args.hours), "--channels", str(args.channels), "--sf", str(args.sf), "--threads",
            str(args.threads), "--repeat", str(repeat)]


def _allocator(args) -> dict[str, str]:
    """The glibc settings both children get: the ``sleepspindles`` command's (``--allocator command``) or none."""
    if args.allocator == "default":
        return {}
    from sleepspindles.cli import _ALLOCATOR

    return {name: os.environ.get(name, str(value)) for name, (_, value) in _ALLOCATOR.items()}


def _run(engine: str, folder: Path, args, repeat: int) -> dict:
    env = dict(os.environ)
    threads = "1" if engine == "yasa" else str(args.threads)
    env.update(OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads,
               NUMBA_NUM_THREADS=threads, **_allocator(args))
    subprocess.run(_command(engine, folder, args, repeat), check=True, env=env)
    return _summarised(json.loads((folder / f"{engine}.json").read_text()))


def _summarised(result: dict, more: dict | None = None) -> dict:
    """``result`` with the min and median (wall, CPU) of its runs and of ``more``'s (another child's)."""
    if more is not None:
        result = {**result, "runs": result["runs"] + more["runs"],
                  "peak_rss_mb": max(result["peak_rss_mb"], more["peak_rss_mb"])}
    walls, cpus = (np.array(x) for x in zip(*result["runs"]))
    return {**result, "seconds": walls.min(), "cpu_seconds": cpus.min(), "median": np.median(walls),
            "median_cpu": np.median(cpus)}


def _report(name: str, r: dict) -> None:
    per = r["seconds"] / r["channel_hours"]
    steps = ", ".join(f"{k} {wall:.2f} s ({cpu:.2f} s CPU)" for k, (wall, cpu) in r["steps"].items())
    print(f"{name:5s}: min {r['seconds']:6.2f} s ({r['cpu_seconds']:.2f} s CPU), median {r['median']:.2f} s "
          f"({r['median_cpu']:.2f} s CPU) of {len(r['runs'])} runs; first run's steps: {steps or '-'}; "
          f"{per:.4f} s per channel-hour, peak RSS {r['peak_rss_mb']:.0f} MB (before the timed runs "
          f"{r['rss_before_mb']:.0f} MB; raw {r['raw_mb']:.0f} MB), {len(r['events']['start'])} SOs\n"
          f"       BLAS: {r['blas']}")


def _events(r: dict, yasa_names: bool) -> pd.DataFrame:
    e = pd.DataFrame(r["events"])
    return e.rename(columns={"channel": "Channel", "start": "Start", "end": "End"}) if yasa_names else e


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for hidden in ("--child", "--folder", "--out"):  # the subprocesses' arguments
        p.add_argument(hidden, help=argparse.SUPPRESS)
    p.add_argument("--hours", type=float, default=8.0)
    p.add_argument("--channels", type=int, default=6, choices=range(1, len(CHANNELS) + 1))
    p.add_argument("--sf", type=float, default=256.0)
    p.add_argument("--threads", type=int, default=1, help="n_jobs of our engine (YASA: always 1)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per engine (min and median reported)")
    p.add_argument("--allocator", choices=("command", "default"), default="command",
                   help="glibc malloc settings of both children: those the sleepspindles command sets, or none")
    args = p.parse_args(argv)
    return _child(args) if args.child else _parent(args)


def _parent(args) -> int:
    """Prepare the night, run both children, print the comparison."""
    print(f"night: {args.hours:g} h x {args.channels} channels at {args.sf:g} Hz; ours with n_jobs={args.threads}; "
          f"criteria {YASA_SW} (cycle {matched_config().slow_oscillations.crossing} s)")
    print(bench_detector._thread_settings())
    print(f"allocator (both children): {_allocator(args) or 'glibc defaults'}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # in a subprocess too: a child's ru_maxrss starts at its parent's RSS when forked
        subprocess.run(_command("prepare", folder, args), check=True)
        # A run of ours takes a second, one of YASA's a quarter of a minute: the children alternate
        # (ours, YASA, ours, ..., ours) so that both engines' runs span the same minutes of this
        # shared machine, its slower spells and its quieter ones alike.
        ours = _run("ours", folder, args, args.repeat)
        ref = None
        for _ in range(args.repeat):
            one = _run("yasa", folder, args, 1)
            ref = one if ref is None else _summarised(ref, one)
            ours = _summarised(ours, _run("ours", folder, args, args.repeat))
        _report("ours", ours)
        _report("yasa", ref)
    wall, cpu = ref["seconds"] / ours["seconds"], ref["cpu_seconds"] / ours["cpu_seconds"]
    print(f"ratio YASA/ours (min over runs): {wall:.1f}x wall, {cpu:.1f}x CPU; of the medians: "
          f"{ref['median'] / ours['median']:.1f}x wall, {ref['median_cpu'] / ours['median_cpu']:.1f}x CPU "
          f"(target >= {TARGET:g}x: {'met' if min(wall, cpu) >= TARGET else 'NOT met'}; ours includes the coupling, "
          f"SWA and SO summary tables, YASA's coupling)")
    so_wall, so_cpu = ours["steps"]["so"]
    print(f"ratio YASA/our SO detection alone (first run, with the spindles' SO phases and surrogates): "
          f"{ref['seconds'] / so_wall:.1f}x wall, {ref['cpu_seconds'] / so_cpu:.1f}x CPU")
    matches = so_agreement(_events(ours, False), _events(ref, True))
    print(f"SO agreement F1 (IoU >= {IOU}): {pooled_f1(matches):.4f} "
          f"({sum(m.n_matched for m in matches.values())} matched; ours {sum(m.n_det for m in matches.values())}, "
          f"YASA {sum(m.n_ref for m in matches.values())})")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
