"""The embedded demo: a synthetic night written as EDF+, run through the real pipeline, scored.

Everything a first-time user needs to see the tool work, with ground truth: the planted spindles
(and a planted left/right asymmetry as after left-hand training, C4 denser than C3) and slow
oscillations, with a share of the spindles locked to the SO up-state, are known, so the demo
reports how many of each the detectors recovered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..config import Config
from ..evaluation.scoring import evaluate
from ..synthetic.night import SyntheticConfig, make_synthetic_night
from .run import RecordingResult, process_recording

__all__ = ["DEMO_CHANNELS", "DEMO_DENSITY", "DemoResult", "run_demo", "score_against_truth"]

#: Channels of the demo night and planted N2 spindle densities (per minute): right hemisphere
#: (C4, F4, P4) denser at the motor pair only, as after training the left hand.
DEMO_CHANNELS = ("F3", "F4", "C3", "C4", "P3", "P4")
DEMO_DENSITY = {"F3": 2.0, "F4": 2.0, "C3": 2.0, "C4": 3.0, "P3": 2.0, "P4": 2.0}
DEMO_TRAINED_HAND = "left"
#: Slow oscillations per minute of N3 (a quarter of that in N2), 30% of them global, and the share
#: of spindles planted inside an SO near its up-state (von Mises around 0 deg, kappa 2).
DEMO_SO = {"so_density": 8.0, "so_shared_fraction": 0.3, "coupled_fraction": 0.4, "coupling_phase": 0.0,
           "coupling_kappa": 2.0}


@dataclass(frozen=True)
class DemoResult:
    """What the demo made.

    Attributes
    ----------
    result : RecordingResult
        The pipeline's result on the demo EDF file.
    edf_path : Path
        The synthetic EDF+ file.
    scores : pandas.DataFrame
        Per channel: planted, detected, matched, recall, precision, f1 (IoU >= 0.2).
    so_scores : pandas.DataFrame
        The same for the slow oscillations (IoU >= 0.5; empty when they were not detected).
    """

    result: RecordingResult
    edf_path: Path
    scores: pd.DataFrame
    so_scores: pd.DataFrame

    def __str__(self) -> str:
        s = self.scores
        total = s[["planted", "detected", "matched"]].sum()
        head = (f"demo: {len(self.result.events)} spindles detected on {len(s)} channels of "
                f"{self.edf_path.name} ({self.result.recording.duration / 3600:.1f} h); ")
        if not total.planted:  # a night too short to reach N2 has nothing to recover
            return head + f"no spindle was planted (no N2/N3 in so short a night); outputs in {self.edf_path.parent}"
        so = self.so_scores[["planted", "detected", "matched"]].sum()
        so_line = (f"; {int(so.detected)} slow oscillations, against the {int(so.planted)} planted: recall "
                   f"{so.matched / so.planted:.2f}, precision {so.matched / max(so.detected, 1):.2f}") if so.planted else ""
        return head + (
            f"against the {int(total.planted)} planted: recall {total.matched / total.planted:.2f}, precision "
            f"{total.matched / max(total.detected, 1):.2f}{so_line}; outputs in {self.edf_path.parent}"
        )


def score_against_truth(truth: pd.DataFrame, events: pd.DataFrame, iou: float = 0.2) -> pd.DataFrame:
    """Per-channel recall, precision and F1 of ``events`` against planted ``truth``.

    A thin view of :func:`sleepspindles.evaluation.scoring.evaluate` (the same one-to-one matching).
    """
    table = evaluate(truth, events, iou=iou).per_recording
    scores = table.rename(columns={"n_ref": "planted", "n_det": "detected", "tp": "matched"})
    return scores.loc[:, ["channel", "planted", "detected", "matched", "recall", "precision", "f1"]]


def run_demo(
    out_dir: Path, hours: float = 2.0, seed: int = 0, config: Config | None = None, *, report: bool = False
) -> DemoResult:
    """Make the demo night, write it as EDF+, run the pipeline on the file, write all outputs.

    The folder is written as a set (:class:`sleepspindles.output.RunFolder`): files of an earlier
    run that this one does not write are removed, and ``run.json`` comes last.

    Parameters
    ----------
    out_dir : Path
        Output folder: ``demo.edf``, ``truth.csv``, ``scores.csv`` and the usual run outputs.
    hours : float
        Length of the synthetic night.
    seed : int
        Random seed (the same seed gives the same night).
    config : Config, optional
        Pipeline settings.
    report : bool
        Also write ``report.html`` (with the lateralisation panel for :data:`DEMO_TRAINED_HAND`).

    Returns
    -------
    DemoResult

    Raises
    ------
    DataError
        When ``out_dir`` cannot be written (checked before the night is made).
    """
    from ..output import RunFolder, write_csv, write_edf
    from ..report import write_subject_report

    folder = RunFolder(out_dir)
    night = make_synthetic_night(
        SyntheticConfig(duration_hours=hours, channels=DEMO_CHANNELS, density=DEMO_DENSITY, seed=seed, **DEMO_SO)
    )
    edf_path = folder.add(write_edf(night.recording, folder.path / "demo.edf"))
    folder.add(write_csv(folder.path / "truth.csv", night.truth))
    result = process_recording(edf_path, None, config)
    scores = score_against_truth(night.truth, result.events)
    so_events = result.tables.get("slow_oscillations")
    so_scores = score_against_truth(night.so_truth, so_events, iou=0.5) if so_events is not None else scores.iloc[:0]
    folder.add(write_csv(folder.path / "scores.csv", scores))
    if report:
        folder.add(write_subject_report(result, folder.path, trained_hand=DEMO_TRAINED_HAND))
    demo_info = {"seed": seed, "hours": hours, "planted_density": DEMO_DENSITY, "trained_hand": DEMO_TRAINED_HAND}
    folder.write_tables(result.tables)
    folder.finish(result.record.with_(extra={"demo": demo_info}))
    return DemoResult(result=result, edf_path=edf_path, scores=scores, so_scores=so_scores)
