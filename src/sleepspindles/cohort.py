"""Cohort runs: manifest -> per-recording pipeline -> lateralisation -> statistics -> files.

:func:`run_cohort` reads the manifest (:mod:`sleepspindles.io.manifest`), processes every row
with :func:`sleepspindles.pipeline.process_recording`, keeps only what lateralisation needs
(events summary, sigma power, N2 minutes; the signal is released after each row), then calls
:func:`sleepspindles.laterality.lateralise` and writes, through :mod:`sleepspindles.output`:

* ``laterality.csv``: one row per subject x night x pair x measure x band;
* ``cohort_stats.csv``: the tests of :mod:`sleepspindles.stats`;
* ``specificity.csv``: the main statistics with the pairs side by side;
* ``run.json`` (last): provenance, the failed rows with their errors and the notes.

A row that fails (missing file, unreadable EDF, no staging...) is recorded with its error and
the other rows go on.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from . import output
from .config import Config
from .errors import DataError
from .io.manifest import Manifest, read_manifest
from .laterality import NightData, lateralise, night_data
from .provenance import run_metadata

__all__ = ["FailedRow", "CohortResult", "run_cohort", "COHORT_FILES"]

logger = logging.getLogger(__name__)

#: Files written by :func:`run_cohort`, by key.
COHORT_FILES = {
    "laterality": "laterality.csv",
    "stats": "cohort_stats.csv",
    "specificity": "specificity.csv",
    "run": "run.json",
}


@dataclass(frozen=True)
class FailedRow:
    """A manifest row that could not be analysed."""

    row: int
    subject: str
    night: str
    recording: str
    error: str


@dataclass(frozen=True)
class CohortResult:
    """Outcome of :func:`run_cohort`.

    Attributes
    ----------
    laterality, stats, specificity : pandas.DataFrame
        The tables written to ``laterality.csv``, ``cohort_stats.csv``, ``specificity.csv``.
    failed : tuple of FailedRow
        Rows that could not be analysed, with their error messages.
    problems : tuple of str
        Notes on analysed rows (missing electrode pairs, no N2, missing scores).
    files : mapping of str to Path
        Files written, keyed as :data:`COHORT_FILES`.
    n_rows : int
        Rows in the manifest.
    """

    laterality: pd.DataFrame
    stats: pd.DataFrame
    specificity: pd.DataFrame
    failed: tuple[FailedRow, ...]
    problems: tuple[str, ...]
    files: Mapping[str, Path] = field(default_factory=dict)
    n_rows: int = 0

    @property
    def n_analysed(self) -> int:
        """Rows analysed successfully."""
        return self.n_rows - len(self.failed)

    def __str__(self) -> str:
        """A short report for the terminal: counts, files, the motor pair's N2 density tests."""
        lines = [f"cohort: {self.n_analysed} of {self.n_rows} manifest rows analysed"]
        lines += [f"  FAILED row {f.row} ({f.subject}, {f.night}): {f.error}" for f in self.failed]
        lines += [f"  note: {p}" for p in self.problems]
        stats = self.stats
        if not stats.empty:
            main = stats[(stats["role"] == "motor") & (stats["measure"] == "density_n2") & (stats["band"] == "all")
                         & stats["test"].isin(["paired_t", "one_sample_t", "pearson"])
                         & stats["variable"].isin(["C-I", "LI", "D"])]
            for r in main.itertuples(index=False):
                lines.append(f"  {r.night} {r.pair} {r.test} ({r.variable}): n={r.n} effect={r.effect_size:.3g} "
                             f"p={r.p_value:.3g} p_fdr={r.p_fdr:.3g}")
        lines += [f"  wrote {path}" for path in self.files.values()]
        return "\n".join(lines)


def run_cohort(
    manifest_path: str | Path,
    out_dir: str | Path,
    config: Config | None = None,
    *,
    process: Callable[..., Any] | None = None,
) -> CohortResult:
    """Analyse a cohort and write its tables.

    Parameters
    ----------
    manifest_path : str or Path
        Cohort manifest CSV (see :mod:`sleepspindles.io.manifest`).
    out_dir : str or Path
        Output folder (created).
    config : Config, optional
    process : callable, optional
        ``process(recording_path, hypnogram=path_or_None, config=config)`` returning an object
        with ``recording``, ``hypnogram``, ``events`` and ``summary`` (default
        :func:`sleepspindles.pipeline.process_recording`; tests pass a detector-free stand-in).

    Returns
    -------
    CohortResult

    Raises
    ------
    DataError
        When the manifest itself is unreadable or invalid (row errors name row and field).
    """
    config = config or Config()
    if process is None:
        from .pipeline import process_recording as process
    manifest = read_manifest(manifest_path)
    nights: list[NightData] = []
    failed: list[FailedRow] = []
    for rec in manifest.table.to_dict("records"):
        try:
            nights.append(_process_row(manifest, rec, config, process))
        except Exception as exc:  # noqa: BLE001 - one bad recording must not stop the cohort
            message = str(exc) if isinstance(exc, DataError) else f"{type(exc).__name__}: {exc}"
            logger.warning("%s (subject %s, night %s) failed: %s", manifest.where(rec["row"]),
                           rec["subject"], rec["night"], message)
            failed.append(FailedRow(rec["row"], rec["subject"], rec["night"], rec["recording"], message))
    result = lateralise(nights, config)
    files = _write(Path(out_dir), manifest, config, result, failed)
    return CohortResult(
        laterality=result.laterality,
        stats=result.stats,
        specificity=result.specificity,
        failed=tuple(failed),
        problems=result.problems,
        files=files,
        n_rows=len(manifest),
    )


def _process_row(manifest: Manifest, rec: dict, config: Config, process: Callable[..., Any]) -> NightData:
    """Run the pipeline on one manifest row and keep what lateralisation needs."""
    where = manifest.where(rec["row"])
    for name in ("recording", "hypnogram"):
        if rec[name] is not None and not Path(rec[name]).is_file():
            raise DataError(f"{where}: field {name!r}: file not found: {rec[name]}")
    logger.info("%s: processing %s", where, rec["recording"])
    result = process(rec["recording"], hypnogram=rec["hypnogram"], config=config)
    if result.hypnogram is None:
        raise DataError(f"{where}: no sleep stages for {rec['recording']}; N2 measures need a hypnogram")
    covariates = {name: rec[name] for name in manifest.covariates}
    return night_data(
        result.events,
        result.hypnogram,
        result.recording,
        subject=rec["subject"],
        night=rec["night"],
        trained_hand=rec["trained_hand"],
        score_pre=rec["score_pre"],
        score_post=rec["score_post"],
        covariates=covariates,
        summary=result.summary,
        config=config,
    )


def _write(out: Path, manifest: Manifest, config: Config, result, failed: list[FailedRow]) -> dict[str, Path]:
    """Write the tables, then ``run.json`` (its presence marks a complete folder)."""
    files = {
        "laterality": output.write_csv(out / COHORT_FILES["laterality"], result.laterality),
        "stats": output.write_csv(out / COHORT_FILES["stats"], result.stats),
        "specificity": output.write_csv(out / COHORT_FILES["specificity"], result.specificity),
    }
    metadata = run_metadata(
        config,
        manifest={"path": manifest.path, "rows": len(manifest), "covariates": list(manifest.covariates)},
        analysed_rows=len(manifest) - len(failed),
        failed_rows=[asdict(f) for f in failed],
        problems=list(result.problems),
        files=sorted(p.name for p in files.values()),
    )
    files["run"] = output.write_json(out / COHORT_FILES["run"], metadata)
    return files
