"""Leave-one-excerpt-out tuning of the A7 thresholds on the DREAMS excerpts.

For each excerpt held out, the thresholds of :data:`sleepspindles.evaluation.tuning.GRID` with the best pooled
F1 on the *other* excerpts are chosen and the held-out excerpt is scored with them (F1 against
expert 1, expert 2 and their union, one-to-one matching, IoU >= 0.2, whole excerpt searched).
Each reference is scored inside the window its scorer scored (``DreamsExcerpt.scored_window``):
expert 1 and the union on the first 1000 s, expert 2 on the whole excerpt; references and
detections alike count only when their midpoint is inside. The fold objective is the mean F1 over
the three references by default (see :mod:`sleepspindles.evaluation.tuning` for why).
Prints every fold, the mean cross-validated F1 and the defaults suggested by the folds (median
per threshold), which ``configs/default.yaml`` uses; then the ablation that says which settings
are worth tuning at all: the same cross-validation with one setting at a time pinned at A7's
published value (``sleepspindles.config.A7_PUBLISHED``), and with all of them pinned (the
``a7.preset: reference`` thresholds, no tuning). A setting should depart from its published value
only when pinning it lowers the held-out F1. With four recordings, differences of a few hundredths
are within the noise of one excerpt.

Usage::

    python scripts/tune_accuracy.py [--data ../shared/data/dreams_spindles] [--objective mean]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sleepspindles.config import A7_PUBLISHED, DetectionConfig
from sleepspindles.detection.spindles.a7 import a7_features
from sleepspindles.evaluation.scoring import combine_experts
from sleepspindles.evaluation.tuning import (
    GRID,
    CrossValidation,
    TuningRecording,
    consensus,
    cross_validate,
    pinned_ablation,
    score_grid,
)
from sleepspindles.io.dreams import load_dreams_excerpt

#: Reference name -> the scorer whose window applies (``DreamsExcerpt.scored_window``).
SCORERS = {"expert 1": "expert1", "expert 2": "expert2", "union": "union"}
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dreams_spindles"


def dreams_recordings(folder: Path, numbers: list[int], base: DetectionConfig) -> list[TuningRecording]:
    """A7 features of ``base`` (whole excerpt, no hypnogram), the three references and their scored windows."""
    out = []
    for n in numbers:
        ex = load_dreams_excerpt(folder, n)
        refs = {"expert 1": ex.expert1, "expert 2": ex.expert2, "union": combine_experts(ex.expert1, ex.expert2)}
        windows = {name: ex.scored_window(scorer) for name, scorer in SCORERS.items()}
        out.append(TuningRecording(f"excerpt {n}", a7_features(ex.recording, None, base)[0], refs, windows))
    return out


#: A7's published value of every setting of ``GRID`` (grid key -> value).
PUBLISHED = {key: A7_PUBLISHED[key.removeprefix("a7.")] for key in GRID}


def run(folder: Path, numbers: list[int], objective: str = "mean", ablation: bool = False
        ) -> CrossValidation | dict[str, CrossValidation]:
    """Cross-validate on the DREAMS excerpts ``numbers`` with the package's default settings as base.

    The base's preset is ``default``: a ``reference`` base would turn a grid threshold equal to the
    project's default into the published one (that preset supplies defaults, see ``A7Config``).
    ``ablation``: return :func:`~sleepspindles.evaluation.tuning.pinned_ablation` (whose
    ``"tune all"`` entry is the plain cross-validation) instead.
    """
    base = DetectionConfig(method="a7")
    recordings = dreams_recordings(folder, numbers, base)
    if ablation:
        return pinned_ablation(recordings, base, PUBLISHED, GRID, objective)
    return cross_validate(recordings, base, GRID, objective, score_grid(recordings, base, GRID))


def ablation_report(runs: dict[str, CrossValidation]) -> str:
    """Markdown: held-out mean F1 per reference (and their mean) of each pinned cross-validation."""
    refs = list(runs["tune all"].mean_f1)
    lines = ["| settings tuned by the folds | " + " | ".join(refs) + " | mean | chosen by the folds |",
             "|" + "---|" * (len(refs) + 3)]
    for label, cv in runs.items():
        mean = cv.mean_f1
        text = {"tune all": "all", "pin all": "none (published values: `a7.preset: reference`)"}.get(
            label, f"all but `{label.removeprefix('pin ')}` (published)")
        varied = [k for k in cv.folds[0].params if len({repr(f.params[k]) for f in cv.folds}) > 1]
        fixed = {k: v for k, v in cv.folds[0].params.items() if k not in varied and PUBLISHED.get(k) != v}
        chosen = ", ".join([f"{k.removeprefix('a7.')} {v}" for k, v in fixed.items()]
                           + [f"{k.removeprefix('a7.')} varies" for k in varied]) or "-"
        lines.append(f"| {text} | " + " | ".join(f"{mean[r]:.3f}" for r in refs)
                     + f" | {sum(mean.values()) / len(mean):.3f} | {chosen} |")
    return "\n".join(lines)


def report(cv: CrossValidation) -> str:
    """Markdown: one row per fold, then the mean held-out F1."""
    refs = list(cv.folds[0].test_f1)
    keys = list(cv.folds[0].params)
    lines = [f"| held out | {' | '.join(keys)} | train F1 ({cv.objective}) | " + " | ".join(refs) + " |",
             "|" + "---|" * (len(keys) + 2 + len(refs))]
    for f in cv.folds:
        lines.append(f"| {f.held_out} | " + " | ".join(str(f.params[k]) for k in keys)
                     + f" | {f.train_f1:.3f} | " + " | ".join(f"{f.test_f1[r]:.3f}" for r in refs) + " |")
    mean = cv.mean_f1
    lines.append("| **mean (held out)** | " + " | ".join("" for _ in keys) + " | | "
                 + " | ".join(f"**{mean[r]:.3f}**" for r in refs) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="DREAMS Sleep Spindles folder")
    parser.add_argument("--excerpts", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--objective", default="mean", choices=("union", "expert 1", "expert 2", "mean"))
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"{args.data}: DREAMS folder not found (pass --data)", file=sys.stderr)
        return 2
    runs = run(args.data, args.excerpts, args.objective, ablation=True)
    cv = runs["tune all"]
    print(f"Leave-one-excerpt-out cross-validation of A7 thresholds (objective: pooled training F1 vs "
          f"{args.objective}; expert 1 and union scored on 0-1000 s, expert 2 on the whole excerpt; grid: {', '.join(f'{k} {list(v)}' for k, v in GRID.items())}):\n")
    print(report(cv))
    print(f"\nSuggested defaults (median over folds, most frequent for non-numeric): {consensus(cv)}")
    published = ", ".join(f"{key.removeprefix('a7.')} {value}" for key, value in PUBLISHED.items())
    print(f"\nWhich settings are worth tuning: the same cross-validation with settings pinned at A7's published "
          f"values ({published}); held-out mean F1 (chosen: what the folds chose other than the published value):\n")
    print(ablation_report(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
