"""Peak memory of ``sleepspindles run`` on nights bigger than memory would allow loaded whole.

Writes a high-density EDF to disk (once; reused while its parameters match), then runs the whole
command a user runs, ``sleepspindles run NIGHT.edf --hypnogram NIGHT.txt --out OUT``, in a fresh
process, and prints its wall time and peak RSS beside what merely loading the night whole with
mne (``read_raw_edf(preload=True)``) takes, in the same run.

    python scripts/bench_memory.py                               # 64 ch, 8 h, 512 Hz (~1.9 GB file)
    python scripts/bench_memory.py --channels 256 --sf 500       # 256 ch, 8 h, 500 Hz (~7.4 GB file)
    python scripts/bench_memory.py --hours 1 --channels 16       # a quick check

The night: four synthetic EEG channels (spindles, slow oscillations, a scored hypnogram) from
the project's generator, each recording channel one of them with its own gain plus independent
noise, labelled with 10-20/10-10/10-5 names (C3 and C4 among them). The target (issue 14): peak
RSS <= 1.5 GB for 64 channels x 8 h x 512 Hz, whose samples alone are 7.5 GB as float64.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_BASE = ("C3", "C4", "F3", "F4")
_RECORD_S = 1  # seconds per EDF data record
_PHYS = 1000.0  # +-uV mapped onto the int16 range
_STAGE_LABELS = {0: "W", 1: "N1", 2: "N2", 3: "N3", 4: "R", -1: "?", -2: "?"}


def electrode_names(n: int) -> list[str]:
    """``n`` distinct scalp electrode names, 10-20 first, then 10-10, then 10-5 half positions."""
    from sleepspindles.io.channels import normalise_channel

    sites_1020 = ["Fp", "F", "C", "P", "O", "T"]
    sites_1010 = ["AF", "FC", "FT", "CP", "TP", "PO"]
    sites_105 = ["AFp", "AFF", "FFC", "FFT", "FCC", "FTT", "CCP", "CPP", "TTP", "TPP", "PPO", "POO", "OI"]
    names: list[str] = list(_BASE)
    for sites, suffix in ((sites_1020, ""), (sites_1010, ""), (sites_105, "h")):
        for site in sites:
            for number in [*range(1, 11), "z"]:
                name = f"{site}{number}{suffix if number != 'z' else ''}"
                if name not in names and normalise_channel(name).kind == "eeg":
                    names.append(name)
    if n > len(names):
        raise SystemExit(f"at most {len(names)} electrode names are available; asked for {n}")
    return names[:n]


def _header(labels: list[str], sf: int, n_records: int) -> bytes:
    """An EDF header: every signal in uV, +-_PHYS over the int16 range, 1-s records."""
    ns = len(labels)

    def field(values, width):
        return "".join(str(v)[:width].ljust(width) for v in values)

    head = ("0".ljust(8) + "X X X X".ljust(80) + "Startdate 01-JAN-2026 X X X".ljust(80) + "01.01.26" + "22.00.00"
            + str(256 * (ns + 1)).ljust(8) + "".ljust(44) + str(n_records).ljust(8) + str(_RECORD_S).ljust(8)
            + str(ns).ljust(4))  # fmt: skip
    head += field([f"EEG {lab}" for lab in labels], 16) + field([""] * ns, 80) + field(["uV"] * ns, 8)
    head += field([-_PHYS] * ns, 8) + field([_PHYS] * ns, 8) + field([-32768] * ns, 8) + field([32767] * ns, 8)
    head += field([""] * ns, 80) + field([sf * _RECORD_S] * ns, 8) + field([""] * ns, 32)
    return head.encode("ascii")


def write_night(path: Path, n_ch: int, hours: float, sf: int) -> Path:
    """Write the benchmark night (EDF) and its hypnogram (``path.with_suffix('.txt')``)."""
    from sleepspindles.synthetic.night import make_synthetic_night

    t0 = time.perf_counter()
    night = make_synthetic_night(duration_hours=hours, sf=sf, channels=_BASE, so_density=8.0, coupled_fraction=0.3,
                                 seed=14)
    base = np.asarray(night.recording.data, dtype=np.float32)
    hyp = night.recording.hypnogram
    labels = electrode_names(n_ch)
    spr = sf * _RECORD_S
    n_records = base.shape[1] // spr
    rng = np.random.default_rng(14)
    bank = rng.normal(0.0, 3.0, 1 << 20).astype(np.float32)  # independent noise: a shifted bank per channel
    gains = rng.uniform(0.7, 1.3, n_ch).astype(np.float32)
    shifts = rng.integers(0, bank.size, n_ch)
    scale = np.float32(32767 / _PHYS)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as out:
        out.write(_header(labels, sf, n_records))
        per_chunk = 60  # records per write
        for r0 in range(0, n_records, per_chunk):
            r1 = min(r0 + per_chunk, n_records)
            a, b = r0 * spr, r1 * spr
            chunk = np.empty((r1 - r0, n_ch, spr), dtype="<i2")
            for c in range(n_ch):
                idx = (np.arange(a, b) + shifts[c]) % bank.size
                values = base[c % len(_BASE), a:b] * gains[c] + bank[idx]
                chunk[:, c, :] = np.clip(np.round(values * scale), -32768, 32767).reshape(r1 - r0, spr)
            out.write(chunk.tobytes())
    tmp.replace(path)
    stages = [_STAGE_LABELS[int(s)] for s in hyp.stages]
    path.with_suffix(".txt").write_text("\n".join(stages) + "\n")
    print(f"wrote {path} ({path.stat().st_size / 2**30:.2f} GB) in {time.perf_counter() - t0:.0f} s")
    return path


def measure(cmd: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB, exit code) of ``cmd`` in a fresh process."""
    wrapper = ("import resource, subprocess, sys, time; t = time.perf_counter(); rc = subprocess.run(sys.argv[1:]"
               ").returncode; print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,"
               " rc)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    wall, rss_kb, rc = out.stdout.split()[-3:]
    return float(wall), int(rss_kb) / 1024, int(rc)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--sf", type=int, default=512)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "sleepspindles_bench")
    parser.add_argument("--no-mne", action="store_true", help="skip loading the night whole with mne")
    parser.add_argument("--no-report", action="store_true", help="pass --no-report to the run")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"night_{args.channels}ch_{args.hours:g}h_{args.sf}hz.edf"
    if not path.exists() or not path.with_suffix(".txt").exists():
        write_night(path, args.channels, args.hours, args.sf)
    n_values = args.channels * args.hours * 3600 * args.sf
    print(f"night: {args.channels} channels x {args.hours:g} h x {args.sf} Hz, file {path.stat().st_size / 2**30:.2f} GB,"
          f" {n_values * 8 / 2**30:.1f} GB as float64; machine load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    exe = str(Path(sys.executable).with_name("sleepspindles"))
    out_dir = args.dir / f"out_{path.stem}"
    run = [exe, "run", str(path), "--hypnogram", str(path.with_suffix(".txt")), "--out", str(out_dir)]
    wall, rss, rc = measure(run + (["--no-report"] if args.no_report else []))
    print(f"sleepspindles run: {wall:7.1f} s  peak RSS {rss:7.0f} MB  (exit {rc})")
    if not args.no_mne and n_values * 8 < 0.6 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"):
        load = [sys.executable, "-c", f"import mne; mne.io.read_raw_edf({str(path)!r}, preload=True, verbose='error')"]
        wall_mne, rss_mne, _ = measure(load)
        print(f"mne read_raw_edf(preload=True) alone: {wall_mne:7.1f} s  peak RSS {rss_mne:7.0f} MB  "
              f"(ratio of peak RSS mne/ours {rss_mne / rss:.1f}x)")
    print(f"peak RSS per GB of float64 samples: {rss / (n_values * 8 / 2**30):.0f} MB; max RSS of this process "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
