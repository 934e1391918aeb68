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
    "SLOW_OSCILLATIONS",
    "SO_SUMMARY",
    "SWA",
    "COUPLING",
    "SPINDLE_KIND",
    "SO_KIND",
    "PHASE_CONVENTION",
    "EVENT_KINDS",
    "RUN_TABLES",
    "STATUS",
    "LATERALITY",
    "STATS",
    "kind",
    "engine_names",
    "resolve",
]


_REQUIRED = object()  # a Column's default: none, the column must be there


@dataclass(frozen=True)
class Column:
    """One column: name, pandas dtype, unit (``"-"`` when none), meaning, and an optional default.

    A column with a ``default`` may be absent from a frame given to :meth:`TableSchema.conform`
    (it is then filled with the default): a later step that did not run (coupling without slow
    oscillations) leaves it "not computed", never a made-up value. A column with ``default_from``
    takes that other column's values when absent (a planted-truth table knows one spindle peak).
    """

    name: str
    dtype: str
    unit: str = "-"
    description: str = ""
    default: Any = _REQUIRED
    default_from: str = ""  # when absent, a copy of this other column (a table that knows one peak)


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
        filled = {c.name: frame[c.default_from] for c in self.columns
                  if c.name not in frame.columns and c.default_from in frame.columns}
        frame = frame.assign(**filled)
        missing = [c.name for c in self.columns if c.name not in frame.columns and c.default is _REQUIRED]
        if missing:
            raise ValueError(f"{self.name} table lacks column(s) {missing}")
        absent = {c.name: c.default for c in self.columns if c.name not in frame.columns}
        out = frame.assign(**absent).loc[:, list(self.names)].astype(self.dtypes)
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


#: How every SO phase is reported (coupling.csv, events.csv, the reports, run.json).
PHASE_CONVENTION = ("0 deg = SO positive peak (up-state), +-180 deg = trough (down-state), +90 deg = the "
                    "down-going zero crossing (angle of the Hilbert analytic SO-band signal)")

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
        Column("peak", "float64", "s", "most prominent peak of the detrended broadband signal (YASA's)"),
        Column("sigma_peak", "float64", "s", "maximum of the sigma-band amplitude envelope: where the SO phase "
               "of a coupled spindle is read", default_from="peak"),
        Column("end", "float64", "s", "offset"),
        Column("duration", "float64", "s", "end - start"),
        Column("amplitude", "float64", "uV", "peak-to-peak amplitude of the detrended broadband signal"),
        Column("rms", "float64", "uV", "root mean square of the detrended broadband signal"),
        Column("frequency", "float64", "Hz", "median instantaneous frequency in the sigma band"),
        Column("oscillations", "int64", "-", "number of positive peaks of the sigma-filtered signal"),
        Column("symmetry", "float64", "-", "position of the peak within the event (0 start, 1 end)"),
        Column("so_coupled", "boolean", "-", "peak inside a slow oscillation of its channel (empty: SOs not "
               "detected)", default=pd.NA),
        Column("so_phase", "float64", "deg", f"phase of the SO-band signal at the peak, coupled spindles only; "
               f"{PHASE_CONVENTION}", default=float("nan")),
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

# ----------------------------------------------------------------------------- slow oscillations
SLOW_OSCILLATIONS = TableSchema(
    name="slow_oscillations",
    file="slow_oscillations.csv",
    cohort_file="slow_oscillations.parquet",
    sort=("channel", "start"),
    columns=(
        _CHANNEL,
        Column("stage", "object", "-", "sleep stage at the negative peak"),
        Column("start", "float64", "s", "positive-to-negative zero crossing"),
        Column("neg_peak", "float64", "s", "negative peak (down-state)"),
        Column("mid_crossing", "float64", "s", "negative-to-positive zero crossing"),
        Column("pos_peak", "float64", "s", "positive peak (up-state)"),
        Column("end", "float64", "s", "next positive-to-negative zero crossing"),
        Column("duration", "float64", "s", "end - start"),
        Column("val_neg", "float64", "uV", "SO-band signal at the negative peak"),
        Column("val_pos", "float64", "uV", "SO-band signal at the positive peak"),
        Column("ptp", "float64", "uV", "val_pos - val_neg"),
        Column("slope", "float64", "uV/s", "ptp / (pos_peak - neg_peak): the down-to-up slope"),
        Column("frequency", "float64", "Hz", "1 / duration"),
    ),
)

SO_SUMMARY = TableSchema(
    name="so_summary",
    file="so_summary.csv",
    cohort_file="so_summaries.parquet",
    producer="sleepspindles.analysis.slow_waves:so_summary_table",
    requires=("slow_oscillations",),
    columns=(
        _CHANNEL,
        Column("stage", "object", "-", "stage or union of stages searched"),
        Column("n_so", "int64", "-", "slow oscillations counted"),
        Column("minutes", "float64", "min", "time analysed"),
        Column("excluded_minutes", "float64", "min", "scored time with a NaN or flat signal, not analysed"),
        Column("density", "float64", "1/min", "SOs per analysed minute (NaN when none, see note)"),
        Column("duration", "float64", "s", "mean duration"),
        Column("val_neg", "float64", "uV", "mean negative peak"),
        Column("ptp", "float64", "uV", "mean peak-to-peak amplitude"),
        Column("slope", "float64", "uV/s", "mean down-to-up slope"),
        Column("frequency", "float64", "Hz", "mean frequency"),
        Column("threshold", "object", "-", "the amplitude criterion applied (absolute, or relative per channel "
               "or pooled over the homologous pair, with the thresholds in uV)"),
        Column("polarity", "object", "-", "'ok', or why the channel looks inverted (flagged, never flipped)"),
        Column("reference", "object", "-", "the channel's reference"),
        Column("note", "object", "-", "why a rate is NaN or rests on less than the scored time"),
    ),
)

SWA = TableSchema(
    name="swa",
    file="swa.csv",
    cohort_file="swa.parquet",
    producer="sleepspindles.analysis.slow_waves:swa_table",
    requires=("slow_oscillations",),
    columns=(
        _CHANNEL,
        Column("window", "object", "-", "a stage (N2, N3, NREM), a sleep cycle (cycle 1...) or the first minutes "
               "of NREM (first 60 min NREM)"),
        Column("stages", "object", "-", "stages whose epochs are averaged"),
        Column("start", "float64", "s", "window start"),
        Column("end", "float64", "s", "window end"),
        Column("n_epochs", "int64", "-", "epochs averaged (with a NaN or constant signal left out)"),
        Column("low", "float64", "Hz", "SWA band's lower edge"),
        Column("high", "float64", "Hz", "SWA band's upper edge"),
        Column("power", "float64", "uV^2", "Welch power in the SWA band"),
        Column("relative", "float64", "-", "power / power from the SWA band's low edge to the top of "
               "laterality.total_band (0.5-30 Hz)"),
    ),
)

COUPLING = TableSchema(
    name="coupling",
    file="coupling.csv",
    cohort_file="coupling.parquet",
    producer="sleepspindles.analysis.coupling:coupling_table",
    requires=("spindles", "slow_oscillations"),
    columns=(
        _CHANNEL,
        Column("stage", "object", "-", "stage or union of stages (of the spindle peaks)"),
        Column("band", "object", "-", "all, fast or slow spindles"),
        Column("n_spindles", "int64", "-", "spindles"),
        Column("n_so", "int64", "-", "slow oscillations"),
        Column("n_coupled", "int64", "-", "spindles whose peak lies inside an SO of their channel"),
        Column("pct_coupled", "float64", "%", "coupled spindles, of the spindles"),
        Column("pct_so_with_spindle", "float64", "%", "SOs holding a spindle peak, of the SOs"),
        Column("coupled_density", "float64", "1/min", "coupled spindles per analysed minute"),
        Column("uncoupled_density", "float64", "1/min", "uncoupled spindles per analysed minute"),
        Column("phase_deg", "float64", "deg", f"circular mean SO phase of the coupled spindles; {PHASE_CONVENTION}"),
        Column("mvl", "float64", "-", "mean vector length (grows as events get fewer: compare ppc instead)"),
        Column("ppc", "float64", "-", "pairwise phase consistency (Vinck 2010), unbiased by the number of spindles"),
        Column("rayleigh_z", "float64", "-", "Rayleigh's z"),
        Column("rayleigh_p", "float64", "-", "Rayleigh's asymptotic p (anti-conservative; see surrogate_p)"),
        Column("surrogate_z", "float64", "-", "(mvl - mean of surrogates) / their sd"),
        Column("surrogate_p", "float64", "-", "(1 + surrogates with mvl >= observed) / (1 + n_surrogates)"),
        Column("n_surrogates", "int64", "-", "surrogates: spindle peaks shuffled uniformly within their SO"),
        Column("seed", "int64", "-", "seed of the surrogates"),
        Column("note", "object", "-", "why a value is NaN"),
    ),
)

SO_KIND = EventKind(
    name="slow_oscillations",
    noun="slow oscillation",
    events=SLOW_OSCILLATIONS,
    config_section="slow_oscillations",
    uses=("spindles",),
    count_column="n_so",
    engines=(
        Engine("zero_crossing", "sleepspindles.detection.slow_oscillations.engine",
               "consecutive zero crossings of the SO-band signal with half-wave and amplitude criteria, streamed"),
    ),
)

#: Every event kind, in the order the pipeline detects them.
EVENT_KINDS: tuple[EventKind, ...] = (SPINDLE_KIND, SO_KIND)
#: Every per-recording table, in the order they are computed and written.
RUN_TABLES: tuple[TableSchema, ...] = (SPINDLES, SPINDLE_SUMMARY, SIGMA, SLOW_OSCILLATIONS, SO_SUMMARY, SWA, COUPLING)


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
