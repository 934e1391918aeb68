"""The whole ``sleepspindles run`` command against an equivalent plain YASA script, cold, same night.

Each repeat starts both as fresh processes (imports, numba cache loading and all), on the same
EDF+ night with its scored hypnogram inside, alternating which goes first:

- ours: ``sleepspindles run NIGHT.edf --out OUT`` (load, stages from the file, spindles, slow
  oscillations and coupling, every summary table, the HTML report);
- YASA: a script a lab would write: ``mne.io.read_raw_edf``, the hypnogram from the annotations,
  ``yasa.spindles_detect``, ``yasa.sw_detect`` (with ``coupling=True``), ``yasa.bandpower`` for
  sigma and SWA, and each result's summary to CSV (no report: YASA has none).

Prints min and median wall and CPU seconds of each and their ratios (CPU time is what a loaded
machine distorts least), the machine's load beside them, and
a breakdown of where our time goes (one more cold process, timed phase by phase), and the start-up:
seconds from a fresh process to our first spindle detection, beside what a process needs for
the libraries alone (numpy, numba's set-up and one cached kernel, scipy.fft, pandas).

    python scripts/bench_pipeline.py                       # 8 h x 6 channels at 256 Hz, 3 repeats
    python scripts/bench_pipeline.py --hours 4 --channels 4 --repeats 5
    python scripts/bench_pipeline.py --no-report           # ours without the report

The target (issue 14): ratio >= 5x on 8 h x 6 channels at 256 Hz.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHANNELS = ("C3", "C4", "F3", "F4", "O1", "O2")

YASA_SCRIPT = r'''
import sys
from pathlib import Path

import mne
import numpy as np
import yasa

path, out = sys.argv[1], Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
stage_of = {"Sleep stage W": 0, "Sleep stage N1": 1, "Sleep stage N2": 2, "Sleep stage N3": 3, "Sleep stage R": 4}
hypno = np.full(int(raw.times[-1] // 30) + 1, -1)
for onset, duration, text in zip(raw.annotations.onset, raw.annotations.duration, raw.annotations.description):
    if text in stage_of:
        hypno[int(round(onset / 30)) : int(round((onset + duration) / 30))] = stage_of[text]
eeg = [c for c in raw.ch_names if c.startswith("EEG")]
raw.pick(eeg)
data, sf = raw.get_data(units="uV"), raw.info["sfreq"]
up = yasa.hypno_upsample_to_data(hypno, sf_hypno=1 / 30, data=data, sf_data=sf)
sp = yasa.spindles_detect(data, sf, ch_names=eeg, hypno=up, include=(2, 3))
sp.summary().to_csv(out / "spindles.csv", index=False)
sp.summary(grp_chan=True, grp_stage=True).to_csv(out / "spindle_summary.csv")
sw = yasa.sw_detect(data, sf, ch_names=eeg, hypno=up, include=(2, 3), coupling=True)
sw.summary().to_csv(out / "slow_waves.csv", index=False)
sw.summary(grp_chan=True, grp_stage=True).to_csv(out / "sw_summary.csv")
bands = [(0.5, 4.5, "SWA"), (11, 16, "Sigma"), (0.5, 30, "Total")]
yasa.bandpower(data, sf, ch_names=eeg, hypno=up, include=(2, 3), bands=bands).to_csv(out / "bandpower.csv")
'''

PHASES_SCRIPT = r'''
import sys, time
marks = [("start", time.perf_counter())]
def mark(name):
    marks.append((name, time.perf_counter()))
from sleepspindles.config import Config
from sleepspindles.detection import RecordingContext, detect_all
from sleepspindles.io import load_recording
from sleepspindles.output import RunFolder
from sleepspindles.pipeline.run import RecordingResult, _record, run_tables
from sleepspindles.staging import stage
mark("imports (pipeline)")
config = Config()
recording = load_recording(sys.argv[1])
mark("load EDF")
hypnogram = stage(recording, config)
mark("stages")
context = RecordingContext(recording, hypnogram, config, detect_all(recording, hypnogram, config))
mark("detection: spindles, slow oscillations, coupling")
tables = run_tables(context)
mark("tables: summaries, sigma, SWA, coupling...")
result = RecordingResult(recording=recording, hypnogram=hypnogram, detections=context.detections, tables=tables,
                         config=config, record=_record(context, {}))
folder = RunFolder(sys.argv[2])
if sys.argv[3] == "report":
    import sleepspindles.report
    mark("imports (report)")
    folder.add(sleepspindles.report.write_subject_report(result, folder.path))
    mark("report")
folder.write_tables(tables)
folder.finish(result.record)
mark("write outputs")
for (_, before), (name, t) in zip(marks, marks[1:]):
    print(f"  {name:50s} {t - before:7.2f} s")
print(f"  {'total (in-process, after interpreter start)':50s} {marks[-1][1] - marks[0][1]:7.2f} s")
'''


def write_night(path: Path, hours: float, n_ch: int, sf: float) -> None:
    from sleepspindles.output import write_edf
    from sleepspindles.synthetic.night import make_synthetic_night

    night = make_synthetic_night(duration_hours=hours, sf=sf, channels=CHANNELS[:n_ch], so_density=8.0,
                                 coupled_fraction=0.3, seed=14)
    write_edf(night.recording, path)


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the process and its children) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

# Start-up: the epoch time at which ``sleepspindles run`` enters its first spindle detection (the
# EDF read, the stages and the coverage scan before it), then stop.
REACH_SCRIPT = r'''
import sys, time
import sleepspindles.detection.spindles.a7 as a7
def reached(*args, **kwargs):
    print(time.time())
    raise SystemExit(0)
a7.detect = reached
from sleepspindles import cli
cli.main(sys.argv[1:])
'''

# The libraries' own floor: what any process using them pays before its first compiled call.
LIBS_MODULE = '''
import time
import numpy as np
from numba import njit

@njit(cache=True, nogil=True)
def total(x):
    s = 0.0
    for v in x:
        s += v
    return s

total(np.zeros(8, np.float32))  # numba's one-time set-up and one cached kernel
import scipy.fft
import pandas
print(time.time())
'''


def startup(ours_cmd: list[str], folder: Path, repeats: int) -> None:
    """Print seconds from process start to our first detection, and to the libraries' first kernel call."""
    libs = folder / "startup_libs.py"
    libs.write_text(LIBS_MODULE)
    subprocess.run([sys.executable, str(libs)], check=True, capture_output=True)  # numba's cache filled once
    reach = [sys.executable, "-c", REACH_SCRIPT, *ours_cmd[1:]]
    found = {"libraries": [], "ours": []}
    for _ in range(repeats):
        for name, cmd in (("libraries", [sys.executable, str(libs)]), ("ours", reach)):
            t0 = time.time()
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            found[name].append(float(out.split()[-1]) - t0)
    lib, our = found["libraries"], found["ours"]
    print(f"start-up, {repeats} fresh processes each (load average {os.getloadavg()[0]:.2f}):\n"
          f"  the libraries alone (interpreter, numpy, numba and one cached kernel call, scipy.fft, pandas): "
          f"min {min(lib):.2f} s, median {statistics.median(lib):.2f} s\n"
          f"  `sleepspindles run` entering its first spindle detection: min {min(our):.2f} s, median "
          f"{statistics.median(our):.2f} s (ours beyond the libraries, min to min: {min(our) - min(lib):.2f} s)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hours", type=float, default=8.0)
    p.add_argument("--channels", type=int, default=6, choices=range(1, len(CHANNELS) + 1))
    p.add_argument("--sf", type=float, default=256.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-report", action="store_true", help="ours without the HTML report")
    p.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "sleepspindles_bench")
    args = p.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    night = args.dir / f"pipeline_{args.channels}ch_{args.hours:g}h_{args.sf:g}hz.edf"
    if not night.exists():
        write_night(night, args.hours, args.channels, args.sf)
    exe = str(Path(sys.executable).with_name("sleepspindles"))
    ours_cmd = [exe, "run", str(night), "--out", str(args.dir / "ours")] + (["--no-report"] if args.no_report else [])
    yasa_cmd = [sys.executable, "-c", YASA_SCRIPT, str(night), str(args.dir / "yasa")]
    print(f"night: {args.hours:g} h x {args.channels} EEG channels at {args.sf:g} Hz ({night}); "
          f"ours {'without' if args.no_report else 'with'} the report; {args.repeats} cold repeats each")
    ours, theirs = [], []
    for k in range(args.repeats):
        order = [(ours, ours_cmd), (theirs, yasa_cmd)]
        for times, cmd in order if k % 2 == 0 else order[::-1]:
            times.append(timed(cmd))
        print(f"  repeat {k + 1}: ours {ours[-1][0]:6.2f} s ({ours[-1][1]:6.2f} s CPU), YASA script "
              f"{theirs[-1][0]:6.2f} s ({theirs[-1][1]:6.2f} s CPU) "
              f"(load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)")
    for what, k in (("wall", 0), ("CPU", 1)):
        o, t = [x[k] for x in ours], [x[k] for x in theirs]
        mo, mt, do, dt = min(o), min(t), statistics.median(o), statistics.median(t)
        print(f"{what}: ours min {mo:.2f} s, median {do:.2f} s | YASA script min {mt:.2f} s, median {dt:.2f} s "
              f"| ratio YASA/ours {mt / mo:.1f}x (min), {dt / do:.1f}x (median)")
    print("where our time goes (one cold process, phase by phase):")
    out = subprocess.run([sys.executable, "-c", PHASES_SCRIPT, str(night), str(args.dir / "phases"),
                          "none" if args.no_report else "report"], capture_output=True, text=True, check=True)
    print(out.stdout.rstrip())
    startup(ours_cmd, args.dir, max(args.repeats, 5))
    return 0


if __name__ == "__main__":
    sys.exit(main())
