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
- SUMOv2: the deep-learning detector of Kaulen et al. (2022), run by its authors' code on these
  excerpts (``../shared/data/sumov2_dreams/excerptN.npz``, trained on MASS/MODA, so out of
  domain here); the row is left out when that folder is absent;
- DREAMS automatic: the database authors' own detector (``Automatic_detection_excerptN.txt``);
- YASA defaults: ``yasa.spindles_detect`` with its defaults over the whole excerpt. Its default
  broadband band (1-30 Hz) is above the 25 Hz Nyquist frequency of the 50 Hz excerpt 3, where
  YASA fails; there only, its upper edge is lowered to 1 Hz below Nyquist (24 Hz);
- sleepspindles fast / a7 / a7 reference: ``detect_spindles(recording, None, config)`` over the
  whole excerpt; ``fast`` at YASA's own band and durations (12-15 Hz, 0.5-2 s), ``a7`` at the
  project defaults, ``a7 reference`` with ``detection.a7.preset: reference`` (A7 as its authors
  run it: their filters, relative power, published thresholds and 0.3-2.5 s);
- then the cross-validated (held-out) F1 of the A7 thresholds (``scripts/tune_accuracy.py``),
  and the mean over excerpts of every detector's F1 beside it: for a detector with nothing
  fitted on these excerpts, that mean is already a held-out estimate; for ``a7`` at the project
  defaults (chosen on these four excerpts) it is in-sample, and the cross-validated row is the
  honest one.

Usage::

    python scripts/bench_accuracy.py [--data ../shared/data/dreams_spindles] [--sumo DIR] [--csv out.csv]

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
from sleepspindles.io.events import read_events
from sleepspindles.output import write_csv
from sleepspindles.recording import Recording

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dreams_spindles"
DEFAULT_SUMO = DEFAULT_DATA.parent / "sumov2_dreams"
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


#: YASA's own spindle band and durations, for the engine of YASA's method (fast).
YASA_SETTINGS = {"band": (12.0, 15.0), "duration": (0.5, 2.0)}
#: Our engines benchmarked: row label -> changes of the ``detection`` config section.
ENGINES = {
    "sleepspindles fast": {"method": "fast", **YASA_SETTINGS},
    "sleepspindles a7": {"method": "a7"},
    "sleepspindles a7 reference": {"method": "a7", "a7": {"preset": "reference"}},
}


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


def sumo_detector(folder: Path, excerpts: list[DreamsExcerpt]) -> Detector | None:
    """SUMOv2's detections of the excerpts (``excerptN.npz``), or None when the folder is absent."""
    if not folder.is_dir():
        return None
    sumo = Detector("SUMOv2")
    for ex in excerpts:
        path = folder / f"excerpt{ex.number}.npz"
        if path.is_file():
            sumo.events[f"excerpt {ex.number}"] = read_events(path)
        else:
            sumo.failures[f"excerpt {ex.number}"] = f"{path.name} not in {folder}"
    return sumo


def run_detectors(excerpts: list[DreamsExcerpt], sumo: Detector | None = None) -> list[Detector]:
    """Every detector on every excerpt, timed (``sumo``: SUMOv2's stored detections, when present)."""
    from sleepspindles.detection import detect_spindles

    experts = [Detector("expert 1", self_reference="expert 1", scorer="expert1"),
               Detector("expert 2", self_reference="expert 2", scorer="expert2")]
    automatic = Detector("DREAMS automatic")
    for ex in excerpts:
        key = f"excerpt {ex.number}"
        experts[0].events[key], experts[1].events[key] = ex.expert1, ex.expert2
        automatic.events[key] = ex.automatic
    detectors = [*experts, *([sumo] if sumo is not None else []), automatic]

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
    for label, changes in ENGINES.items():
        config = Config().replace("detection", **changes)
        det = Detector(label)
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
        untimed = det.hours == 0 or len(det.failures) == len(excerpts)  # stored detections (experts, ...)
        cells.append("-" if untimed else f"{speed:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: Whether each detector's settings were chosen on these excerpts (absent: no).
FITTED_HERE = {"sleepspindles a7": "yes: in-sample, optimistic",
               "DREAMS automatic": "unknown (the database authors' own detector)"}


def mean_table(long: pd.DataFrame, detectors: list[Detector], cv) -> str:
    """Markdown: each detector's mean over excerpts of its per-excerpt F1, with the cross-validated a7."""
    per = long[long.recording != POOLED].groupby(["detector", "reference"])["f1"]
    mean, n = per.mean(), per.size()
    lines = ["| detector | expert 1 | expert 2 | union | mean | fitted on DREAMS? |", "|---|---|---|---|---|---|"]

    def row(name: str, values: list[float], fitted: str) -> None:
        finite = [v for v in values if not np.isnan(v)]
        avg = f"{np.mean(finite):.3f}" if len(finite) == len(values) else "-"
        lines.append(f"| {name} | " + " | ".join("-" if np.isnan(v) else f"{v:.3f}" for v in values)
                     + f" | {avg} | {fitted} |")

    def f1(name: str, ref: str) -> float:
        return mean.get((name, ref), np.nan) if n.get((name, ref), 0) == len(detectors_by[name].events) else np.nan

    detectors_by = {det.name: det for det in detectors}
    if {"expert 1", "expert 2"} <= set(detectors_by):
        row("expert 1 vs expert 2", [f1("expert 2", "expert 1"), f1("expert 1", "expert 2"), np.nan],
            "- (each expert scored against the other)")
    for det in detectors:
        if det.self_reference is not None:
            continue
        row(det.name, [f1(det.name, ref) for ref in REFERENCES], FITTED_HERE.get(det.name, "no"))
        if det.name == "sleepspindles a7":
            row("sleepspindles a7, thresholds cross-validated", [cv.mean_f1[r] for r in REFERENCES],
                "held out: each excerpt scored with thresholds fitted on the other three")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="DREAMS Sleep Spindles folder")
    parser.add_argument("--sumo", type=Path, default=DEFAULT_SUMO, help="SUMOv2's detections (excerptN.npz)")
    parser.add_argument("--excerpts", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--iou", type=float, default=0.2, help="minimum IoU of a match (default 0.2)")
    parser.add_argument("--csv", type=Path, help="also write every metric (long table) to this CSV")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"{args.data}: DREAMS folder not found (pass --data)", file=sys.stderr)
        return 2
    excerpts = [load_dreams_excerpt(args.data, n) for n in args.excerpts]
    sumo = sumo_detector(args.sumo, excerpts)
    detectors = run_detectors(excerpts, sumo)
    long = score(detectors, excerpts, args.iou)
    print(f"By-event F1 against expert 1 / expert 2 / union of both (one-to-one, IoU >= {args.iou:g}; "
          "expert 1 and union scored on 0-1000 s, the part expert 1 scored, expert 2 on the whole "
          "excerpt, for every detector alike):\n")
    print(markdown(long, detectors, excerpts))
    print("\n'-': an expert against itself. The union contains each expert's own events, so the experts'"
          " union column flatters them.")
    if sumo is None:
        print(f"\nSUMOv2 left out: {args.sumo} not found (pass --sumo).")
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

    cv = run(args.data, args.excerpts)
    print("\nA7 thresholds, leave-one-excerpt-out cross-validation (objective: mean pooled F1 vs "
          "expert 1, expert 2 and union; same windows):\n")
    print(report(cv))
    print("\nMean over the excerpts of each detector's F1 (the pooled column above sums counts instead); "
          "for a detector with nothing fitted on DREAMS this is a held-out estimate:\n")
    print(mean_table(long, detectors, cv))
    if args.csv:
        write_csv(args.csv, long)
    return 0


if __name__ == "__main__":
    sys.exit(main())
