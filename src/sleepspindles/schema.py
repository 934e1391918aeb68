"""Every table the pipeline produces, and every kind of event it detects, declared once.

A :class:`TableSchema` names a table, its per-recording file, its cohort file and its columns
(with dtype, unit and meaning); :meth:`TableSchema.conform` gives any frame exactly those
columns, and :meth:`TableSchema.empty` an empty table (never ``None``). An :class:`EventKind`
(spindles; slow oscillations next) is a detector's room: its events table, its engines (looked
up by name, imported only when used) and the config section that configures it. Tables
derived from the detections (a summary, sigma power) declare the function that computes them
(``"module:function"``, called with a :class:`~sleepspindles.pipeline.run.RecordingContext`)
and the kinds they need.

The pipeline, the run folder's writer and reader, the batch's cohort tables and the status
columns are all produced from these declarations: adding a kind means declaring its tables and
its engines here and writing them, not editing the pipeline.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd

__all__ = [
    "Column",
    "TableSchema",
    "Engine",
    "EventKind",
    "SPINDLES",
    "SPINDLE_SUMMARY",
    "SIGMA",
    "EVENT_KINDS",
    "RUN_TABLES",
    "STATUS",
    "LATERALITY",
    "STATS",
    "kind",
    "engine_names",
    "resolve",
]


@dataclass(frozen=True)
class Column:
    """One column: name, pandas dtype, unit (``"-"`` when none) and meaning."""

    name: str
    dtype: str
    unit: str = "-"
    description: str = ""


@dataclass(frozen=True)
class TableSchema:
    """A table's name, files and columns.

    Attributes
    ----------
    name : str
        Key of the table (``"spindles"``, ``"spindle_summary"``).
    columns : tuple of Column
    file : str
        File in a recording's output folder (``""`` for cohort-level tables).
    cohort_file : str
        Parquet file gathering every recording's rows in a batch (``""`` when none).
    cohort_csv : str
        A CSV copy of the cohort table for spreadsheets (``""`` when none).
    sort : tuple of str
        Row order of :meth:`conform`.
    producer : str
        ``"module:function"`` computing the table from a recording context (derived tables).
    requires : tuple of str
        Event kinds the producer needs; the table is skipped when one is not detected.
    """

    name: str
    columns: tuple[Column, ...]
    file: str = ""
    cohort_file: str = ""
    cohort_csv: str = ""
    sort: tuple[str, ...] = ()
    producer: str = ""
    requires: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Column names, in order."""
        return tuple(c.name for c in self.columns)

    @property
    def dtypes(self) -> dict[str, str]:
        """Column name -> pandas dtype."""
        return {c.name: c.dtype for c in self.columns}

    def empty(self) -> pd.DataFrame:
        """A table with these columns and no rows."""
        return pd.DataFrame({c.name: pd.Series(dtype=c.dtype) for c in self.columns})

    def conform(self, frame: pd.DataFrame | None) -> pd.DataFrame:
        """``frame`` with exactly these columns, dtypes and row order (empty for None or no rows).

        Raises
        ------
        ValueError
            When a column is missing (the caller names the file or engine).
        """
        if frame is None or len(frame) == 0:
            return self.empty()
        missing = [c for c in self.names if c not in frame.columns]
        if missing:
            raise ValueError(f"{self.name} table lacks column(s) {missing}")
        out = frame.loc[:, list(self.names)].astype(self.dtypes)
        if self.sort:
            out = out.sort_values(list(self.sort), kind="stable")
        return out.reset_index(drop=True)


@dataclass(frozen=True)
class Engine:
    """A detection engine: its name, the module whose ``detect`` runs it, and what it is."""

    name: str
    module: str
    description: str

    def load(self) -> Callable[..., Any]:
        """The engine's ``detect(recording, hypnogram, cfg)`` (imported on first use)."""
        return importlib.import_module(self.module).detect


@dataclass(frozen=True)
class EventKind:
    """A kind of event the pipeline detects.

    Attributes
    ----------
    name : str
        ``"spindles"``; also the name of its events table.
    noun : str
        Singular for messages (``"spindle"``).
    events : TableSchema
    engines : tuple of Engine
        The first is the default.
    config_section : str
        Section of :class:`~sleepspindles.config.Config` that configures it (``method`` picks
        the engine, ``enabled``, when the section has it, turns the kind off).
    uses : tuple of str
        Earlier kinds whose results its engines receive (``detect(..., previous)``).
    count_column : str
        Its column in ``status.csv`` (default ``n_<name>``).
    """

    name: str
    noun: str
    events: TableSchema
    engines: tuple[Engine, ...]
    config_section: str
    uses: tuple[str, ...] = ()
    count_column: str = field(default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "count_column", self.count_column or f"n_{self.name}")

    def engine(self, name: str) -> Engine:
        """The engine called ``name`` (a KeyError lists the known ones)."""
        for engine in self.engines:
            if engine.name == name:
                return engine
        raise KeyError(f"{self.noun} engine {name!r}; known: {[e.name for e in self.engines]}")


def resolve(path: str) -> Callable[..., Any]:
    """The function named by ``"package.module:function"`` (imported on first use)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


# ----------------------------------------------------------------------------- spindles
_CHANNEL = Column("channel", "object", "-", "canonical channel name (C3)")
_STAGE = Column("stage", "object", "-", "sleep stage at the event's peak (N2, N3...; UNSCORED without staging)")

SPINDLES = TableSchema(
    name="spindles",
    file="events.csv",
    cohort_file="events.parquet",
    sort=("channel", "start"),
    columns=(
        _CHANNEL,
        _STAGE,
        Column("start", "float64", "s", "onset, from the recording start"),
        Column("peak", "float64", "s", "most prominent sigma-band peak"),
        Column("end", "float64", "s", "offset"),
        Column("duration", "float64", "s", "end - start"),
        Column("amplitude", "float64", "uV", "peak-to-peak amplitude of the detrended broadband signal"),
        Column("rms", "float64", "uV", "root mean square of the detrended broadband signal"),
        Column("frequency", "float64", "Hz", "median instantaneous frequency in the sigma band"),
        Column("oscillations", "int64", "-", "number of positive peaks of the sigma-filtered signal"),
        Column("symmetry", "float64", "-", "position of the peak within the event (0 start, 1 end)"),
    ),
)

SPINDLE_SUMMARY = TableSchema(
    name="spindle_summary",
    file="summary.csv",
    cohort_file="summaries.parquet",
    cohort_csv="summaries.csv",
    producer="sleepspindles.analysis.summary:summary_table",
    requires=("spindles",),
    columns=(
        _CHANNEL,
        Column("stage", "object", "-", "stage or union of stages (N2, N3, N2+N3; UNSCORED)"),
        Column("band", "object", "-", "all, fast (>= summary.fast_threshold) or slow spindles"),
        Column("n_spindles", "int64", "-", "spindles counted"),
        Column("minutes", "float64", "min", "time analysed: scored minutes minus excluded_minutes"),
        Column("excluded_minutes", "float64", "min", "scored time with a NaN or flat signal, not analysed"),
        Column("density", "float64", "1/min", "spindles per analysed minute (NaN when none, see note)"),
        Column("duration", "float64", "s", "mean duration"),
        Column("amplitude", "float64", "uV", "mean peak-to-peak amplitude"),
        Column("rms", "float64", "uV", "mean RMS"),
        Column("frequency", "float64", "Hz", "mean frequency"),
        Column("reference", "object", "-", "the channel's reference (unstated when the file names none)"),
        Column("note", "object", "-", "why a rate is NaN or rests on less than the scored time"),
    ),
)

SIGMA = TableSchema(
    name="sigma",
    file="sigma.csv",
    cohort_file="sigmas.parquet",
    producer="sleepspindles.analysis.spectral:sigma_table_of",
    requires=("spindles",),
    columns=(
        _CHANNEL,
        Column("band", "object", "-", "all (the spindle band) or its slow/fast halves"),
        Column("stages", "object", "-", "stages whose epochs were averaged (N2)"),
        Column("low", "float64", "Hz", "band's lower edge"),
        Column("high", "float64", "Hz", "band's upper edge"),
        Column("n_epochs", "int64", "-", "epochs averaged (those with a NaN or constant signal left out)"),
        Column("power", "float64", "uV^2", "Welch power in the band"),
        Column("relative", "float64", "-", "power / power in laterality.total_band"),
    ),
)

SPINDLE_KIND = EventKind(
    name="spindles",
    noun="spindle",
    events=SPINDLES,
    config_section="detection",
    engines=(
        Engine("a7", "sleepspindles.detection.spindles.a7",
               "A7 features with local-baseline thresholds (Lacourse et al. 2019), streamed; the default"),
        Engine("fast", "sleepspindles.detection.spindles.fast",
               "YASA's method (relative power, correlation, RMS), streamed with compiled kernels"),
        Engine("yasa", "sleepspindles.detection.spindles.yasa_ref", "the reference yasa.spindles_detect"),
    ),
)

#: Every event kind, in the order the pipeline detects them.
EVENT_KINDS: tuple[EventKind, ...] = (SPINDLE_KIND,)
#: Every per-recording table, in the order they are computed and written.
RUN_TABLES: tuple[TableSchema, ...] = (SPINDLES, SPINDLE_SUMMARY, SIGMA)


def kind(name: str) -> EventKind:
    """The event kind called ``name``."""
    for k in EVENT_KINDS:
        if k.name == name:
            return k
    raise KeyError(f"event kind {name!r}; known: {[k.name for k in EVENT_KINDS]}")


def engine_names(kind_name: str) -> tuple[str, ...]:
    """Names of the engines of an event kind (config validation and the CLI's choices)."""
    return tuple(e.name for e in kind(kind_name).engines)


# ----------------------------------------------------------------------------- cohort level
STATUS = TableSchema(
    name="status",
    file="status.csv",
    columns=(
        Column("row", "int64", "-", "manifest row (1 = first data line)"),
        Column("subject", "object"),
        Column("night", "object"),
        Column("recording", "object", "-", "the recording file"),
        Column("status", "object", "-", "done (computed now), skipped (already complete and current) or failed"),
        *(Column(k.count_column, "int64", "-", f"{k.noun}s detected (-1 when failed)") for k in EVENT_KINDS),
        Column("seconds", "float64", "s", "wall time of the row"),
        Column("error", "object", "-", "why the row failed"),
        Column("out_dir", "object", "-", "the recording's output folder"),
        Column("dropped_channels", "object", "-", "channels left out of the recording, with the reason"),
    ),
)

LATERALITY = TableSchema(
    name="laterality",
    file="laterality.csv",
    columns=(
        Column("subject", "object"),
        Column("night", "object"),
        Column("trained_hand", "object", "-", "left or right"),
        Column("pair", "object", "-", "homologous pair, left first (C3/C4)"),
        Column("role", "object", "-", "motor (the first configured pair present) or control"),
        Column("contra_channel", "object", "-", "channel opposite the trained hand"),
        Column("ipsi_channel", "object", "-", "channel on the trained hand's side"),
        Column("reference", "object", "-", "reference the values rest on (M2 vs M1 when they differ)"),
        Column("measure", "object", "-", "what is compared (density_n2, sigma_abs...)"),
        Column("band", "object", "-", "all, fast or slow"),
        Column("contra", "float64", "measure's", "contralateral value C"),
        Column("ipsi", "float64", "measure's", "ipsilateral value I"),
        Column("D", "float64", "measure's", "C - I"),
        Column("LI", "float64", "-", "(C - I) / (C + I)"),
        Column("n2_minutes", "float64", "min", "minutes of N2 in the night"),
        Column("score_pre", "float64", "-", "behavioural score before sleep"),
        Column("score_post", "float64", "-", "behavioural score after sleep"),
        Column("gain", "float64", "%", "100 (post - pre) / |pre| of the subject's learning night"),
    ),
)

STATS = TableSchema(
    name="stats",
    file="cohort_stats.csv",
    columns=(
        Column("night", "object", "-", "night tested, or post-baseline for the within-subject contrast"),
        Column("pair", "object"),
        Column("role", "object"),
        Column("measure", "object"),
        Column("band", "object"),
        Column("test", "object", "-", "paired_t, wilcoxon, sign_flip, one_sample_t, pearson..."),
        Column("variable", "object", "-", "C-I, LI, D, contra or ipsi"),
        Column("n", "int64", "-", "subjects with a finite value"),
        Column("statistic", "float64", "-", "the test's statistic"),
        Column("p_value", "float64"),
        Column("p_fdr", "float64", "-", "Benjamini-Hochberg across pairs and bands"),
        Column("estimate", "float64", "measure's", "location: mean D, median D, mean LI, r"),
        Column("ci_low", "float64", "measure's", "bootstrap 95% interval of the estimate"),
        Column("ci_high", "float64", "measure's"),
        Column("effect_size", "float64", "-", "positive = contralateral larger / grows with gain"),
        Column("effect_ci_low", "float64"),
        Column("effect_ci_high", "float64"),
        Column("note", "object", "-", "why a test is missing or degenerate"),
    ),
)
