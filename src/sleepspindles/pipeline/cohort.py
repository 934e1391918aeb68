"""Cohort runs: a batch run (per-recording folders) -> lateralisation -> statistics -> files.

:func:`run_cohort` runs :func:`sleepspindles.batch.run_batch` on the manifest (parallel on a
local pool or a Dask cluster, resumable, failure-isolated: one folder per recording with
``events.csv``, ``summary.csv``, ``sigma.csv``, ``report.html`` and ``run.json``, plus
``status.csv`` and the gathered parquet tables), then builds every completed recording's
:class:`~sleepspindles.analysis.laterality.NightData` from its stored tables (summary, sigma power, N2
minutes; the signal is never reloaded), calls :func:`sleepspindles.analysis.laterality.lateralise` and
writes, through :mod:`sleepspindles.output`:

* ``laterality.csv``: one row per subject x night x pair x measure x band x window;
* ``cohort_stats.csv``: the tests and models of :mod:`sleepspindles.analysis.stats`;
* ``specificity.csv``: the main statistics with the pairs side by side;
* ``clusters.csv``: the whole-scalp cluster tests (:mod:`sleepspindles.analysis.scalp`);
* ``cohort_report.html``: statistics, figures and every recording's status;
* ``reference_robustness.csv`` (with ``references``): the C-I tests under each reference;
* ``run.json`` (last): provenance, the failed rows with their errors and the notes.

With ``references``, the whole cohort is rerun under each re-referencing mode in its own batch
folder ``<out>/reference-<mode>/`` (every file above, resumable like the main run), and
``reference_robustness.csv`` puts their paired C-I tests side by side, flagging a pair whose
effect changes sign with the reference.

A row that fails (missing file, unreadable EDF, no staging...) is recorded with its error and
the other rows go on; a rerun skips every recording whose folder is complete and current.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

import pandas as pd

from .. import output
from ..analysis.laterality import LateralityResult, NightData, lateralise, night_from_tables
from ..analysis.measures import MAIN_MEASURE, NIGHT
from ..analysis.stats import reference_robustness
from ..config import REFERENCE_MODES, Config, config_to_dict
from ..errors import DataError, SleepSpindlesError, param_error
from ..io.manifest import Manifest, ManifestRow, read_manifest
from ..io.results import read_run_tables
from ..records import StatusRow, now, package_versions
from .batch import BatchResult, run_batch

__all__ = ["FailedRow", "CohortResult", "run_cohort", "COHORT_FILES", "ROBUSTNESS_FILE"]

logger = logging.getLogger(__name__)

#: Files written by :func:`run_cohort` besides the batch files (:func:`sleepspindles.pipeline.batch.cohort_files`), by key.
COHORT_FILES = {
    "laterality": "laterality.csv",
    "stats": "cohort_stats.csv",
    "specificity": "specificity.csv",
    "clusters": "clusters.csv",
    "report": "cohort_report.html",
    "run": "run.json",
}
#: The side-by-side table of a run with ``references``.
ROBUSTNESS_FILE = "reference_robustness.csv"


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
    laterality, stats, specificity, clusters : pandas.DataFrame
        The tables written to ``laterality.csv``, ``cohort_stats.csv``, ``specificity.csv``,
        ``clusters.csv``.
    failed : tuple of FailedRow
        Rows that could not be analysed, with their error messages.
    problems : tuple of str
        Notes on analysed rows (missing electrode pairs, no N2, missing scores).
    status : pandas.DataFrame
        The batch status table (:data:`sleepspindles.schema.STATUS`): ``done``,
        ``skipped`` (already complete) or ``failed`` per manifest row.
    files : mapping of str to Path
        Files written, keyed as :data:`COHORT_FILES` and :data:`sleepspindles.batch.BATCH_FILES`.
    n_rows : int
        Rows in the manifest.
    seconds : float
        Wall time of the whole run.
    robustness : pandas.DataFrame
        ``reference_robustness.csv`` (empty without ``references``).
    references : mapping of str to CohortResult
        The rerun under each reference, by mode.
    """

    laterality: pd.DataFrame
    stats: pd.DataFrame
    specificity: pd.DataFrame
    failed: tuple[FailedRow, ...]
    problems: tuple[str, ...]
    status: pd.DataFrame = field(default_factory=pd.DataFrame)
    files: Mapping[str, Path] = field(default_factory=dict)
    n_rows: int = 0
    seconds: float = 0.0
    clusters: pd.DataFrame = field(default_factory=pd.DataFrame)
    robustness: pd.DataFrame = field(default_factory=pd.DataFrame)
    references: Mapping[str, "CohortResult"] = field(default_factory=dict)

    @property
    def n_analysed(self) -> int:
        """Rows analysed successfully."""
        return self.n_rows - len(self.failed)

    def __str__(self) -> str:
        """A short report for the terminal: counts, files, the motor pair's tests of the main measure (named)."""
        counts = self.status["status"].value_counts() if len(self.status) else pd.Series(dtype=int)
        lines = [f"cohort: {self.n_analysed} of {self.n_rows} manifest rows analysed in {self.seconds:.1f} s "
                 f"({counts.get('done', 0)} recording(s) processed, {counts.get('skipped', 0)} already complete)"]
        lines += [f"  FAILED row {f.row} ({f.subject}, {f.night}): {f.error}" for f in self.failed]
        lines += [f"  note: {p}" for p in self.problems]
        stats = self.stats
        if not stats.empty:
            main = stats[(stats["role"] == "motor") & (stats["measure"] == MAIN_MEASURE) & (stats["band"] == "all")
                         & (stats["window"] == NIGHT)
                         & stats["test"].isin(["paired_t", "one_sample_t", "pearson"])
                         & stats["variable"].isin(["C-I", "LI", "D"])]
            for r in main.itertuples(index=False):
                lines.append(f"  {r.night} {r.pair} {r.measure} (whole night), {r.test} of {r.variable}: n={r.n} "
                             f"estimate={r.estimate:.3g} [{r.ci_low:.3g}, {r.ci_high:.3g}] "
                             f"effect size={r.effect_size:.3g} p={r.p_value:.3g} p_fdr={r.p_fdr:.3g}")
        if len(self.clusters):
            found = self.clusters[self.clusters["p_value"] < 0.05]
            lines += [f"  cluster {r.night} {r.measure} ({r.sign}): {r.pairs} p={r.p_value:.3g}"
                      for r in found.itertuples(index=False)]
        if len(self.robustness):
            flipped = self.robustness.loc[self.robustness["sign_changes"].astype(bool)]
            changed = sorted(set(flipped["pair"] + " " + flipped["measure"] + " " + flipped["band"]))
            lines.append(f"  references {', '.join(self.references)}: {len(changed)} pair x measure x band(s) change sign"
                         + (f" ({'; '.join(changed[:5])}{'...' if len(changed) > 5 else ''})" if changed else ""))
        lines += [f"  wrote {path}" for key, path in self.files.items() if key in COHORT_FILES or key == "robustness"]
        return "\n".join(lines)


def run_cohort(
    manifest_path: str | Path,
    out_dir: str | Path,
    config: Config | None = None,
    *,
    jobs: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    references: Sequence[str] = (),
) -> CohortResult:
    """Analyse a cohort: batch-process its recordings, lateralise, test, and write every table.

    Parameters
    ----------
    manifest_path : str or Path
        Cohort manifest CSV (see :mod:`sleepspindles.io.manifest`).
    out_dir : str or Path
        Output folder (created): one sub-folder per recording plus the cohort files.
    config : Config, optional
    jobs : int, optional
        Local worker processes (default ``config.batch.jobs``); 1 runs in this process.
    scheduler : str, optional
        Dask scheduler address (default ``config.batch.scheduler``); see
        :func:`sleepspindles.batch.run_batch`.
    progress : bool
        Show a progress bar (only on a terminal).
    references : sequence of str
        Re-referencing modes (``as-recorded``, ``linked-mastoid``, ``average``...) to rerun the
        cohort under, each in ``<out>/reference-<mode>/``, for ``reference_robustness.csv``.

    Returns
    -------
    CohortResult

    Raises
    ------
    DataError
        When the manifest itself is unreadable or invalid (row errors name row and field).
    ConfigError
        For an unknown reference mode.
    """
    started = time.perf_counter()
    config = config or Config()
    for mode in references:
        if mode not in REFERENCE_MODES:
            raise param_error("references", f"modes among {REFERENCE_MODES}", mode)
    manifest = read_manifest(manifest_path)  # a bad manifest stops here, before any work
    output.prepare_folder(out_dir, rewrite=True)  # killed from here on, the folder does not look complete
    batch = run_batch(manifest_path, out_dir, config, jobs, scheduler, progress=progress, report=False)
    nights, failed = _nights(manifest, batch.rows)
    result = lateralise(nights, config)
    reruns = {mode: run_cohort(manifest_path, Path(out_dir) / f"reference-{mode}",
                               config.replace("load", reference=mode), jobs=jobs, scheduler=scheduler,
                               progress=progress) for mode in dict.fromkeys(references)}
    robustness = reference_robustness({mode: rerun.stats for mode, rerun in reruns.items()})
    files = _write(Path(out_dir), manifest, config, result, batch, failed, robustness if reruns else None)
    return CohortResult(
        laterality=result.laterality,
        stats=result.stats,
        specificity=result.specificity,
        failed=tuple(failed),
        problems=result.problems,
        status=batch.status,
        files=files,
        n_rows=len(manifest),
        seconds=time.perf_counter() - started,
        clusters=result.clusters,
        robustness=robustness,
        references=reruns,
    )


def _nights(manifest: Manifest, rows: tuple[StatusRow, ...]) -> tuple[list[NightData], list[FailedRow]]:
    """NightData of every completed recording (from its folder); failed rows in manifest order."""
    nights: list[NightData] = []
    failed: list[FailedRow] = []
    seen: dict[str, int] = {}  # recording SHA-256 -> the first row that analysed it
    for st in sorted(rows, key=lambda r: r.row):
        rec = manifest.row(st.row)
        if not st.succeeded:  # already logged by the batch
            error = st.error or "failed"
        else:
            try:
                night, digest = _night(manifest, rec, st.out_dir)
                if digest is not None:  # copies under two names: one night must not count twice
                    if digest in seen:
                        raise DataError(f"{manifest.where(rec.row)}: {rec.recording} is the same recording as row "
                                        f"{seen[digest]} (SHA-256 {digest[:12]}...); each night is one recording")
                    seen[digest] = rec.row
                nights.append(night)
                continue
            except SleepSpindlesError as exc:  # an unusable folder fails its row only
                error = str(exc)
                logger.warning("%s (subject %s, night %s) failed: %s", manifest.where(rec.row), rec.subject,
                               rec.night, error)
        failed.append(FailedRow(rec.row, rec.subject, rec.night, rec.recording, error))
    return nights, failed


def _night(manifest: Manifest, rec: ManifestRow, folder: str) -> tuple[NightData, str | None]:
    """One row's NightData from the summary, sigma power and N2 minutes stored in its folder, and its recording's SHA-256."""
    stored = read_run_tables(folder)
    if not stored.record.staged:
        raise DataError(f"{manifest.where(rec.row)}: no sleep stages for {rec.recording}; N2 measures need a hypnogram")
    return night_from_tables(
        stored.summary,
        stored.sigma,
        stored.record.n2_minutes,
        subject=rec.subject,
        night=rec.night,
        trained_hand=rec.trained_hand,
        score_pre=rec.score_pre,
        score_post=rec.score_post,
        covariates=dict(rec.covariates),
        tables={name: frame for name, frame in stored.tables.items() if name not in ("spindle_summary", "sigma")},
    ), getattr(stored.record.inputs.get("recording"), "sha256", None)


def _write(out: Path, manifest: Manifest, config: Config, result: LateralityResult, batch: BatchResult,
           failed: list[FailedRow], robustness: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write the tables and the cohort report, then ``run.json`` (its presence marks a complete folder).

    Returns the batch files and these, by key.
    """
    from ..report import write_cohort_report

    files = {
        **batch.files,
        "laterality": output.write_csv(out / COHORT_FILES["laterality"], result.laterality),
        "stats": output.write_csv(out / COHORT_FILES["stats"], result.stats),
        "specificity": output.write_csv(out / COHORT_FILES["specificity"], result.specificity),
        "clusters": output.write_csv(out / COHORT_FILES["clusters"], result.clusters),
        "report": write_cohort_report(result, batch.status, out, robustness=robustness, config=config),
    }
    if robustness is not None:
        files["robustness"] = output.write_csv(out / ROBUSTNESS_FILE, robustness)
    metadata = {
        "created": now(),
        "versions": package_versions(),
        "config": config_to_dict(config),
        "manifest": {"path": manifest.path, "rows": len(manifest), "covariates": list(manifest.covariates)},
        "recordings": {state: sum(r.status == state for r in batch.rows) for state in ("done", "skipped", "failed")},
        "analysed_rows": len(manifest) - len(failed),
        "failed_rows": [asdict(f) for f in failed],
        "problems": list(result.problems),
        "files": sorted(p.name for p in files.values()),
    }
    files["run"] = output.write_json(out / COHORT_FILES["run"], metadata)
    return files
