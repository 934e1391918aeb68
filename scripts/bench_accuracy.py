"""Accuracy of spindle detectors against the DREAMS experts, all computed in one run.

For each DREAMS excerpt, the by-event F1 (one-to-one matching, IoU >= 0.2) of every detector
against expert 1, expert 2 and the union of both, plus each expert against the other. Every
detector, YASA included, is scored only where the reference was scored
(``DreamsExcerpt.scored_window``): expert 1 scored the first 1000 s of each excerpt, so scores
against expert 1 and against the union count only the events (reference and detected) whose
midpoint is in 0-1000 s; expert 2 is scored over the whole excerpt. An expert used as a detector
is scored on the intersection of both windows.

- expert 1 / expert 2: the experts scored against each other (and against the union, which
  contains their own events, so that column flatters them);
- DREAMS automatic: the database authors' own detector (``Automatic_detection_excerptN.txt``);
- YASA defaults: ``yasa.spindles_detect`` with its defaults over the whole excerpt. Its default
  broadband band (1-30 Hz) is above the 25 Hz Nyquist frequency of the 50 Hz excerpt 3, where
  YASA fails; there only, its upper edge is lowered to 1 Hz below Nyquist (24 Hz);
- sleepspindles <method>: ``detect_spindles(recording, None, config)`` for every method in
  spindle engine (whole excerpt; ``fast`` and ``yasa`` at YASA's own band and durations,
  12-15 Hz and 0.5-2 s, ``a7`` at the project defaults);
- then the cross-validated (held-out) F1 of the A7 thresholds (``scripts/tune_accuracy.py``).

Usage::

    python scripts/bench_accuracy.py [--data ../shared/data/dreams_spindles] [--csv out.csv]

Prints a Markdown table (rows: detectors; one column per excerpt with F1 against expert 1 /
expert 2 / union; a pooled column with counts summed over excerpts; the detection time in
seconds per channel-hour).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from sleepspindles.config import Config
from sleepspindles.errors import SleepSpindlesError
from sleepspindles.evaluation.intervals import intersect_windows
from sleepspindles.evaluation.scoring import POOLED, combine_experts, evaluate
from sleepspindles.io.dreams import DreamsExcerpt, load_dreams_excerpt
from sleepspindles.output import write_csv
from sleepspindles.recording import Recording
from sleepspindles.schema import engine_names

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dreams_spindles"
REFERENCES = ("expert 1", "expert 2", "union")


@dataclass
class Detector:
    """Detections of one method on every excerpt, with timing and failures."""

    name: str
    events: dict[str, pd.DataFrame] = field(default_factory=dict)
    seconds: float = 0.0
    hours: float = 0.0
    failures: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    self_reference: str | None = None  # the reference column that is this detector itself
    scorer: str = "automatic"  # whose scored window the detections cover (DreamsExcerpt.scored_window)


#: YASA's own spindle band and durations, for the engines of YASA's method (fast, yasa).
YASA_SETTINGS = {"band": (12.0, 15.0), "duration": (0.5, 2.0)}


def yasa_broadband(sf: float) -> tuple[float, float] | None:
    """The broadband band YASA needs at ``sf``: ``None`` (its default 1-30 Hz) or 1 Hz below Nyquist."""
    return None if sf / 2 > 30.0 else (1.0, sf / 2 - 1.0)


def yasa_defaults(recording: Recording) -> pd.DataFrame:
    """``yasa.spindles_detect`` with its defaults on the whole signal (see :func:`yasa_broadband`)."""
    import yasa

    band = yasa_broadband(recording.sf)
    kwargs = {} if band is None else {"freq_broad": band}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sp = yasa.spindles_detect(
            recording.data[0], recording.sf, ch_names=list(recording.channels), verbose="error", **kwargs
        )
    if sp is None:
        return pd.DataFrame({"start": [], "end": [], "channel": []})
    summary = sp.summary()
    return pd.DataFrame({"start": summary["Start"], "end": summary["End"], "channel": summary["Channel"]})


def run_detectors(excerpts: list[DreamsExcerpt]) -> list[Detector]:
    """Every detector on every excerpt, timed."""
    from sleepspindles.detection import detect_spindles

    experts = [Detector("expert 1", self_reference="expert 1", scorer="expert1"),
               Detector("expert 2", self_reference="expert 2", scorer="expert2")]
    automatic = Detector("DREAMS automatic")
    for ex in excerpts:
        key = f"excerpt {ex.number}"
        experts[0].events[key], experts[1].events[key] = ex.expert1, ex.expert2
        automatic.events[key] = ex.automatic
    detectors = [*experts, automatic]

    def timed(det: Detector, ex: DreamsExcerpt, fn) -> None:
        key = f"excerpt {ex.number}"
        if det.hours == 0:  # untimed warm-up (imports, compilation) on the first 2 minutes
            warm = ex.recording.data[:, : int(120 * ex.recording.sf)]
            try:
                fn(replace(ex.recording, data=warm, hypnogram=None))
            except (SleepSpindlesError, ValueError):
                pass  # the timed call below reports it
        t0 = time.perf_counter()
        try:
            det.events[key] = fn(ex.recording)
        except (SleepSpindlesError, ValueError) as exc:
            det.failures[key] = f"{type(exc).__name__}: {exc}"
        det.seconds += time.perf_counter() - t0
        det.hours += ex.recording.duration / 3600.0

    yasa_det = Detector("YASA defaults")
    for ex in excerpts:
        timed(yasa_det, ex, yasa_defaults)
        band = yasa_broadband(ex.recording.sf)
        if band is not None:
            yasa_det.notes.append(f"excerpt {ex.number}: broadband band lowered to {band[0]:g}-{band[1]:g} Hz "
                                  f"(sf {ex.recording.sf:g} Hz; YASA fails with its default 1-30 Hz)")
    detectors.append(yasa_det)
    for method in engine_names("spindles"):
        config = Config().replace("detection", method=method, **({} if method == "a7" else YASA_SETTINGS))
        det = Detector(f"sleepspindles {method}")
        for ex in excerpts:
            timed(det, ex, lambda rec, config=config: detect_spindles(rec, None, config))
        detectors.append(det)
    return detectors


def score(detectors: list[Detector], excerpts: list[DreamsExcerpt], iou: float) -> pd.DataFrame:
    """Long table: detector x reference x (excerpt | pooled) with every metric of ``evaluate``."""
    refs = {
        "expert 1": {f"excerpt {ex.number}": ex.expert1 for ex in excerpts},
        "expert 2": {f"excerpt {ex.number}": ex.expert2 for ex in excerpts},
        "union": {
            f"excerpt {ex.number}": combine_experts(ex.expert1, ex.expert2, "union")
            for ex in excerpts
            if ex.expert1 is not None and ex.expert2 is not None
        },
    }
    scorer = {"expert 1": "expert1", "expert 2": "expert2", "union": "union"}
    by_key = {f"excerpt {ex.number}": ex for ex in excerpts}
    duration = {f"excerpt {ex.number}": ex.recording.duration for ex in excerpts}
    sf = {f"excerpt {ex.number}": ex.recording.sf for ex in excerpts}
    rows = []
    for det in detectors:
        for ref_name, ref in refs.items():
            if ref_name == det.self_reference:
                continue
            # A failed excerpt or a missing scoring is left out of the pool.
            keys = [k for k in ref if ref[k] is not None and det.events.get(k) is not None]
            if not keys:
                continue
            window = {k: intersect_windows(by_key[k].scored_window(scorer[ref_name]),
                                           by_key[k].scored_window(det.scorer)) for k in keys}
            result = evaluate(
                {k: ref[k] for k in keys}, {k: det.events[k] for k in keys}, iou,
                duration={k: duration[k] for k in keys}, sf={k: sf[k] for k in keys}, window=window,
            )
            table = result.table.assign(detector=det.name, reference=ref_name)
            rows.append(table)
    return pd.concat(rows, ignore_index=True)


def markdown(long: pd.DataFrame, detectors: list[Detector], excerpts: list[DreamsExcerpt]) -> str:
    """The README table: F1 vs expert 1 / expert 2 / union per excerpt and pooled."""
    columns = [f"excerpt {ex.number}" for ex in excerpts] + [POOLED]
    head = ["detector"] + [f"{c} ({int(ex.recording.sf)} Hz)" for c, ex in zip(columns, excerpts)]
    head += ["pooled", "s / channel-hour"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    f1 = long.set_index(["detector", "reference", "recording"])["f1"]
    for det in detectors:
        cells = [det.name]
        for col in columns:
            if col in det.failures or (col == POOLED and len(det.failures) == len(excerpts)):
                cells.append("fails")
                continue
            values = [f1.get((det.name, ref, col), np.nan) for ref in REFERENCES]
            cells.append(" / ".join("-" if np.isnan(v) else f"{v:.2f}" for v in values))
        speed = det.seconds / det.hours if det.hours else np.nan
        untimed = det.self_reference or det.name == "DREAMS automatic" or len(det.failures) == len(excerpts)
        cells.append("-" if untimed else f"{speed:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="DREAMS Sleep Spindles folder")
    parser.add_argument("--excerpts", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--iou", type=float, default=0.2, help="minimum IoU of a match (default 0.2)")
    parser.add_argument("--csv", type=Path, help="also write every metric (long table) to this CSV")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"{args.data}: DREAMS folder not found (pass --data)", file=sys.stderr)
        return 2
    excerpts = [load_dreams_excerpt(args.data, n) for n in args.excerpts]
    detectors = run_detectors(excerpts)
    long = score(detectors, excerpts, args.iou)
    print(f"By-event F1 against expert 1 / expert 2 / union of both (one-to-one, IoU >= {args.iou:g}; "
          "expert 1 and union scored on 0-1000 s, the part expert 1 scored, expert 2 on the whole "
          "excerpt, for every detector alike):\n")
    print(markdown(long, detectors, excerpts))
    print("\n'-': an expert against itself. The union contains each expert's own events, so the experts'"
          " union column flatters them.")
    notes = []
    for det in detectors:
        by_message: dict[str, list[str]] = {}
        for key, message in det.failures.items():
            by_message.setdefault(message, []).append(key)
        notes += [f"- {det.name} fails on {', '.join(keys)}: {msg}" for msg, keys in by_message.items()]
        notes += [f"- {det.name}, {msg}" for msg in det.notes]
    if notes:
        print("\nNotes:\n" + "\n".join(notes))
    # The a7 row uses defaults chosen by cross-validation on these very excerpts; the held-out
    # numbers below are the honest estimate (each excerpt scored with thresholds fitted on the others).
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from tune_accuracy import report, run

    print("\nA7 thresholds, leave-one-excerpt-out cross-validation (objective: mean pooled F1 vs "
          "expert 1, expert 2 and union; same windows):\n")
    print(report(run(args.data, args.excerpts)))
    if args.csv:
        write_csv(args.csv, long)
    return 0


if __name__ == "__main__":
    sys.exit(main())
