"""Snapshot what a user sees (events, summaries, sigma power, laterality) on fixed inputs.

Run it once before a refactor and once after, then compare the two folders::

    python scripts/snapshot_outputs.py --out /tmp/before      # on the old code
    python scripts/snapshot_outputs.py --out /tmp/after       # on the new code
    python scripts/snapshot_outputs.py --compare /tmp/before /tmp/after

Inputs: the demo night (2 h, 6 channels, a7 and fast), every DREAMS excerpt in
``../shared/data`` (whole excerpt and staged N2+N3, a7 and fast; ``excerpt3.edf`` through the
file pipeline), a 64-channel synthetic night (1 h, 256 Hz, a7 and fast, 2 threads) and a small
synthetic cohort through laterality and its statistics. The comparison prints, per table, whether
it is identical (same columns, same values to 1e-9 relative) and the first difference otherwise.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _config(method: str, **detection):
    """Settings as before the one-band config: fast at YASA's band and durations, a7 at its own."""
    import sleepspindles as ss

    if method == "fast":
        detection = {"band": (12.0, 15.0), "duration": (0.5, 2.0), **detection}
    return ss.load_config(None, {"detection": {"method": method, **detection}})


def _save(out: Path, name: str, frame: pd.DataFrame) -> None:
    frame.to_csv(out / f"{name}.csv", index=False)
    print(f"  {name}: {len(frame)} rows")


def _demo(out: Path) -> None:
    import sleepspindles as ss
    from sleepspindles.pipeline.demo import DEMO_CHANNELS, DEMO_DENSITY
    from sleepspindles.synthetic import SyntheticConfig

    night = ss.make_synthetic_night(SyntheticConfig(duration_hours=2.0, channels=DEMO_CHANNELS,
                                                    density=DEMO_DENSITY, seed=0))
    with tempfile.TemporaryDirectory() as tmp:
        from sleepspindles.output import write_edf

        path = Path(tmp) / "demo.edf"
        write_edf(night.recording, path)
        for method in ("a7", "fast"):
            result = ss.process_recording(path, None, _config(method))
            _save(out, f"demo_{method}_events", result.events)
            _save(out, f"demo_{method}_summary", result.summary)
            _save(out, f"demo_{method}_sigma", result.sigma)


def _dreams(out: Path) -> None:
    import sleepspindles as ss
    from sleepspindles.io.dreams import load_dreams_excerpt

    folder = SHARED / "dreams_spindles"
    if not folder.is_dir():
        print(f"  DREAMS skipped: {folder} absent")
        return
    for n in (1, 2, 3, 4):
        excerpt = load_dreams_excerpt(folder, n)
        rec = excerpt.recording
        for method in ("a7", "fast"):
            cfg = _config(method)
            events = ss.detect_spindles(rec, None, cfg)
            _save(out, f"dreams{n}_{method}_whole_events", events)
            _save(out, f"dreams{n}_{method}_whole_summary", ss.summarize(events, None, rec, cfg))
            if excerpt.hypnogram is not None:
                events = ss.detect_spindles(rec, excerpt.hypnogram, cfg)
                _save(out, f"dreams{n}_{method}_staged_events", events)
                _save(out, f"dreams{n}_{method}_staged_summary", ss.summarize(events, excerpt.hypnogram, rec, cfg))
    edf = folder / "excerpt3.edf"
    if edf.is_file():
        result = ss.process_recording(edf, folder / "Hypnogram_excerpt3.txt", _config("a7"))
        _save(out, "excerpt3edf_a7_events", result.events)
        _save(out, "excerpt3edf_a7_summary", result.summary)
        _save(out, "excerpt3edf_a7_sigma", result.sigma)


def _big(out: Path) -> None:
    import sleepspindles as ss

    names = [f"E{i:02d}" for i in range(64)]
    night = ss.make_synthetic_night(duration_hours=1.0, channels=tuple(names), density=2.0, seed=3)
    for method in ("a7", "fast"):
        cfg = _config(method, n_jobs=2)
        events = ss.detect_spindles(night.recording, night.recording.hypnogram, cfg)
        _save(out, f"big64_{method}_events", events)
        _save(out, f"big64_{method}_summary", ss.summarize(events, night.recording.hypnogram, night.recording, cfg))


def _cohort(out: Path) -> None:
    import sleepspindles as ss
    from sleepspindles.analysis.laterality import night_data

    cfg = _config("a7")
    nights = []
    for s in range(6):
        hand = "left" if s % 2 == 0 else "right"
        for k, label in enumerate(("baseline", "post")):
            boost = 1.0 if label == "post" else 0.0
            contra = "C4" if hand == "left" else "C3"
            density = {"C3": 2.0, "C4": 2.0, "F3": 2.0, "F4": 2.0}
            density[contra] += boost
            night = ss.make_synthetic_night(duration_hours=1.5, channels=("F3", "F4", "C3", "C4"),
                                            density=density, seed=100 + 2 * s + k, sf=128.0)
            rec = night.recording
            events = ss.detect_spindles(rec, rec.hypnogram, cfg)
            nights.append(night_data(events, rec.hypnogram, rec, subject=f"s{s}", night=label, trained_hand=hand,
                                     score_pre=10.0, score_post=12.0 + s, config=cfg))
    result = ss.lateralise(nights, cfg)
    _save(out, "cohort_laterality", result.laterality)
    _save(out, "cohort_stats", result.stats)


def snapshot(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, step in (("demo", _demo), ("dreams", _dreams), ("64 channels", _big), ("cohort", _cohort)):
        print(name)
        step(out)


def _first_difference(a: pd.DataFrame, b: pd.DataFrame) -> str | None:
    """The first difference of the columns both tables have (NaN equals NaN), or None."""
    if len(a) != len(b):
        return f"{len(a)} rows vs {len(b)}"
    for column in [c for c in a.columns if c in b.columns]:
        x, y = a[column], b[column]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            same = np.isclose(x.to_numpy(float), y.to_numpy(float), rtol=1e-9, atol=1e-12, equal_nan=True)
        else:
            same = (x.astype(object).fillna("").astype(str) == y.astype(object).fillna("").astype(str)).to_numpy()
        if not same.all():
            k = int(np.flatnonzero(~same)[0])
            return f"column {column!r} row {k}: {x.iloc[k]!r} vs {y.iloc[k]!r} ({int((~same).sum())} rows differ)"
    return None


def compare(before: Path, after: Path) -> int:
    """Print, per table, whether the columns both versions have are identical; 1 when any differs."""
    names = sorted(p.stem for p in before.glob("*.csv"))
    missing = sorted({p.stem for p in after.glob("*.csv")} ^ set(names))
    bad = 0
    for name in names:
        if not (after / f"{name}.csv").is_file():
            continue
        a, b = (pd.read_csv(d / f"{name}.csv", keep_default_na=False, na_values=[""]) for d in (before, after))
        diff = _first_difference(a, b)
        added = [c for c in b.columns if c not in a.columns]
        removed = [c for c in a.columns if c not in b.columns]
        extra = "".join(f"; {label} columns {cols}" for label, cols in (("new", added), ("removed", removed)) if cols)
        print(f"{'identical' if diff is None else 'DIFFERENT'}  {name} ({len(a)} rows){extra}"
              f"{'' if diff is None else ': ' + diff}")
        bad += diff is not None or bool(removed)
    if missing:
        print(f"tables in only one folder: {missing}")
    print(f"{len(names) - bad} of {len(names)} tables identical in every column both versions have")
    return 1 if bad or missing else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="write a snapshot here")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        return compare(*args.compare)
    if args.out is None:
        parser.error("give --out or --compare")
    snapshot(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
