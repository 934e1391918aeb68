"""Calibrate the a7 engine's per-spindle confidence on the DREAMS excerpts, leave one excerpt out.

Every a7 detection of the DREAMS excerpts (whole excerpt, no hypnogram, the project's defaults)
is labelled right when it matches one-to-one (IoU >= 0.2) the reference:
the union of the two experts on the 1000 s both scored (``DreamsExcerpt.scored_window("union")``),
expert 2 after it (expert 1 scored nothing there). Its model inputs are
:func:`sleepspindles.detection.spindles.confidence.model_inputs` (how far each A7 feature exceeds
its published threshold on average over the event, and the duration).

Printed: the calibration table under leave-one-excerpt-out (each excerpt's events scored by a
logistic model fitted on the other three excerpts' events: bins of confidence, events per bin,
mean confidence, fraction right), the same for the detections of ``a7.preset: reference`` (same
features, published thresholds; each excerpt's scored by the model fitted on the other excerpts'
default detections), and the coefficients fitted on all four excerpts, which ``COEFFICIENTS`` in
``src/sleepspindles/detection/spindles/confidence.py`` holds.

Inputs considered and left out (held-out log-loss and the >= 0.8 bin, default preset, measured
when the model was chosen): the maximum instead of the mean of each feature over the event (no
better); the quality measures sigma_snr, peak_prominence and rms_ratio (AUC 0.812 -> 0.814 with
sigma_snr, lower with all three: not worth tying the confidence to the second pass); the spindle
frequency (AUC 0.85, but it learns that DREAMS' false detections sit near 11 Hz and would mark
genuine slow spindles down on frontal channels).

Usage::

    python scripts/calibrate_confidence.py [--data ../shared/data/dreams_spindles]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from sleepspindles.config import A7Config, DetectionConfig
from sleepspindles.detection.spindles.a7 import a7_features, decide_segments
from sleepspindles.detection.spindles.confidence import INPUTS, model_inputs
from sleepspindles.evaluation.calibration import calibration_table, fit_logistic, leave_one_group_out
from sleepspindles.evaluation.intervals import in_window
from sleepspindles.evaluation.matching import match_events
from sleepspindles.evaluation.scoring import combine_experts
from sleepspindles.io.dreams import DreamsExcerpt, load_dreams_excerpt

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dreams_spindles"
PRESETS = ("default", "reference")


def right_reference(ex: DreamsExcerpt) -> pd.DataFrame:
    """The experts' union where both scored, expert 2 elsewhere (midpoint rule)."""
    window = ex.scored_window("union")
    union = combine_experts(ex.expert1, ex.expert2)
    union = union[in_window(union.start, union.end, window)]
    after = ex.expert2[~in_window(ex.expert2.start, ex.expert2.end, window)]
    return pd.concat([union[["start", "end"]], after[["start", "end"]]], ignore_index=True)


def labelled_events(folder: Path, numbers: list[int], preset: str) -> pd.DataFrame:
    """Every a7 detection of the excerpts ``numbers``: excerpt, start, end, model inputs, right."""
    cfg = DetectionConfig(method="a7", a7=A7Config(preset=preset))
    frames = []
    for n in numbers:
        ex = load_dreams_excerpt(folder, n)
        feat = a7_features(ex.recording, None, cfg)[0]
        starts, lasts = decide_segments(feat, cfg)
        start, end = starts * feat.segment, (lasts + 1) * feat.segment
        ref = right_reference(ex)
        m = match_events(ref.start, ref.end, start, end, iou=0.2)
        right = np.zeros(start.size, dtype=bool)
        right[m.det] = True
        frame = pd.DataFrame(model_inputs(feat, starts, lasts), columns=list(INPUTS))
        frames.append(frame.assign(excerpt=n, start=start, end=end, right=right))
    return pd.concat(frames, ignore_index=True)


def held_out(train: pd.DataFrame, scored: pd.DataFrame) -> np.ndarray:
    """Confidence of each ``scored`` event from the model fitted on the ``train`` events of the other excerpts."""
    return leave_one_group_out(train[list(INPUTS)], train["right"], train["excerpt"],
                               evaluate=(scored[list(INPUTS)], scored["excerpt"]))


def markdown(table: pd.DataFrame) -> str:
    """The calibration table as Markdown."""
    lines = ["| confidence (held out) | events | mean confidence | fraction right |", "|---|---|---|---|"]
    for row in table.itertuples(index=False):
        mean = "-" if np.isnan(row.mean_confidence) else f"{row.mean_confidence:.2f}"
        right = "-" if np.isnan(row.fraction_right) else f"{row.fraction_right:.2f}"
        lines.append(f"| {row.confidence} | {row.n_events} | {mean} | {right} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="DREAMS Sleep Spindles folder")
    parser.add_argument("--excerpts", type=int, nargs="+", default=[1, 2, 3, 4])
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"{args.data}: DREAMS folder not found (pass --data)", file=sys.stderr)
        return 2
    train = labelled_events(args.data, args.excerpts, "default")
    for preset in PRESETS:
        events = train if preset == "default" else labelled_events(args.data, args.excerpts, preset)
        conf = held_out(train, events)
        top = conf >= 0.8
        print(f"\n### a7, preset {preset!r}: {len(events)} detections, {events.right.mean():.2f} right overall\n")
        print(markdown(calibration_table(conf, events.right)))
        print(f"\nConfidence >= 0.8 (held out): {int(top.sum())} events, {events.right[top].mean():.3f} right.")
    coef = fit_logistic(train[list(INPUTS)], train["right"])
    print(f"\nCOEFFICIENTS (intercept, {', '.join(INPUTS)}), fitted on every default detection:\n"
          f"    ({', '.join(f'{c:.4f}' for c in coef)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
