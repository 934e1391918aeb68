"""Slow oscillations (SO) and SO-spindle coupling on the DREAMS excerpts: a markdown table for the README.

Every excerpt of the DREAMS Sleep Spindles database (``excerptN.txt`` with its 5 s R&K hypnogram,
read by :func:`sleepspindles.io.dreams.load_dreams_excerpt`) and the EDF of excerpt 3 (all its EEG
channels, through :func:`sleepspindles.pipeline.process_recording` with ``Hypnogram_excerpt3.txt``)
go through the whole pipeline with the default configuration (scored stages, spindles by A7, SOs
by the zero-crossing engine in N2 and N3 with the absolute criterion). Per recording and channel
the table gives the analysed minutes of N2 and N3, the SOs found in each (count and density per
analysed minute), the spindles of N2+N3, how many are coupled (their ``sigma_peak`` inside an SO)
and, per band (all, fast >= ``summary.fast_threshold`` Hz, slow), the preferred SO phase (circular
mean of ``so_phase``; 0 deg = up-state peak, +-180 = trough) with the pairwise phase consistency
(PPC) and the surrogate test's p (``slow_oscillations.n_surrogates`` surrogates, seed recorded in
the coupling table). With fewer than two coupled spindles there is no phase ("-").

    python scripts/so_dreams.py [--folder ../shared/data/dreams_spindles]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

from sleepspindles.config import Config
from sleepspindles.io.dreams import load_dreams_excerpt
from sleepspindles.pipeline import analyse_recording, process_recording
from sleepspindles.pipeline.run import RecordingResult

FOLDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "dreams_spindles"
BANDS = ("all", "fast", "slow")
UNION = "N2+N3"


def recordings(folder: Path, config: Config) -> list[tuple[str, RecordingResult]]:
    """``(label, result)`` of each excerpt's text file present, then of ``excerpt3.edf`` when present."""
    out = []
    for n in sorted(int(p.stem.removeprefix("excerpt")) for p in folder.glob("excerpt*.txt")):
        excerpt = load_dreams_excerpt(folder, n)
        if excerpt.hypnogram is None:
            print(f"excerpt{n}.txt: no hypnogram, skipped", file=sys.stderr)
            continue
        out.append((f"excerpt{n}.txt", analyse_recording(excerpt.recording, config)))
    edf, hyp = folder / "excerpt3.edf", folder / "Hypnogram_excerpt3.txt"
    if edf.is_file() and hyp.is_file():
        out.append((edf.name, process_recording(edf, hypnogram=hyp, config=config)))
    return out


def _phase(row: pd.Series) -> str:
    if not math.isfinite(row["phase_deg"]):
        return f"- (n {int(row['n_coupled'])})"
    return (f"{round(row['phase_deg']) + 0:+d} deg (PPC {row['ppc']:.2f}, p {row['surrogate_p']:.3g}, "
            f"n {int(row['n_coupled'])})")


def _so(summary: pd.DataFrame, stage: str) -> tuple[str, str]:
    """(analysed minutes, "count (density /min)") of one stage of one channel."""
    row = summary[summary["stage"] == stage].iloc[0]
    density = f"{row['density']:.2f}/min" if math.isfinite(row["density"]) else "-"
    return f"{row['minutes']:.1f}", f"{int(row['n_so'])} ({density})"


def table_rows(label: str, result: RecordingResult) -> list[dict[str, str]]:
    """One row per EEG channel of a recording's SO summary and coupling tables."""
    so, coupling = result.tables["so_summary"], result.tables["coupling"]
    rows = []
    for channel in so["channel"].drop_duplicates():
        mine = so[so["channel"] == channel]
        pooled = coupling[(coupling["channel"] == channel) & (coupling["stage"] == UNION)].set_index("band")
        (n2_min, n2_so), (n3_min, n3_so) = _so(mine, "N2"), _so(mine, "N3")
        rows.append({"recording": label, "channel": channel, "N2 min": n2_min, "N3 min": n3_min,
                     "SOs N2": n2_so, "SOs N3": n3_so, "spindles N2+N3": str(int(pooled.loc["all", "n_spindles"])),
                     "coupled": str(int(pooled.loc["all", "n_coupled"])),
                     **{f"phase {band}": _phase(pooled.loc[band]) for band in BANDS}})
    return rows


def markdown(rows: list[dict[str, str]]) -> str:
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r[c] for c in head) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--folder", type=Path, default=FOLDER, help="the DREAMS Sleep Spindles folder")
    args = p.parse_args(argv)
    if not args.folder.is_dir():
        print(f"no DREAMS folder at {args.folder}", file=sys.stderr)
        return 1
    config = Config()
    results = recordings(args.folder, config)
    rows = [row for label, result in results for row in table_rows(label, result)]
    so = config.slow_oscillations
    print(markdown(rows))
    print()
    print(f"SOs: {so.band[0]:g}-{so.band[1]:g} Hz, cycle {so.crossing[0]:g}-{so.crossing[1]:g} s, trough <= "
          f"{so.neg_max:g} uV and peak-to-peak >= {so.ptp_min:g} uV, in N2 and N3 of the scored 5 s R&K hypnogram "
          f"(stages 3 and 4 as N3); spindles by {config.detection.method}; fast >= {config.summary.fast_threshold:g} "
          f"Hz; phase 0 deg = SO up-state peak, +-180 = trough; p: surrogate test of the mean vector length "
          f"({so.n_surrogates} surrogates, seed {so.seed}).")
    scarce = sorted({r["recording"] for r in rows if float(r["N3 min"]) < 5})
    print(f"Each excerpt is 30 minutes; N3 is scarce in {', '.join(scarce) or 'none'} (under 5 minutes), so its "
          "SO density rests on few SOs, and with few coupled spindles per excerpt the preferred phases are "
          "anecdotal: read them as a check that the pipeline runs on real PSG, not as findings. excerpt3.edf is the "
          "same night as excerpt3.txt, with all its EEG channels (50 Hz).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
