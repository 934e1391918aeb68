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

import pandas as pd

from .base import Column, Engine, EventKind, TableSchema, resolve
from .cohort import CLUSTERS, LATERALITY, ROBUSTNESS, STATS

__all__ = [
    "CLUSTERS",
    "COUPLING",
    "EVENT_KINDS",
    "LATERALITY",
    "PHASE_CONVENTION",
    "ROBUSTNESS",
    "RUN_TABLES",
    "SIGMA",
    "SLOW_OSCILLATIONS",
    "SO_KIND",
    "SO_SUMMARY",
    "SPINDLES",
    "SPINDLE_KIND",
    "SPINDLE_SUMMARY",
    "STATS",
    "STATUS",
    "SWA",
    "TRAINS",
    "WINDOWS",
    "Column",
    "Engine",
    "EventKind",
    "TableSchema",
    "engine_names",
    "kind",
    "resolve",
]

#: How every SO phase is reported (coupling.csv, events.csv, the reports, run.json).
PHASE_CONVENTION = ("0 deg = SO positive peak (up-state), +-180 deg = trough (down-state), +90 deg = the "
                    "down-going zero crossing (angle of the Hilbert analytic SO-band signal)")

# ----------------------------------------------------------------------------- spindles
_CHANNEL = Column("channel", "object", "-", "canonical channel name (C3)")
_STAGE = Column("stage", "object", "-", "sleep stage at the event's peak (N2, N3...; UNSCORED without staging)")
# Columns of every rate table (spindle, SO and train summaries).
_EXCLUDED_MINUTES = Column("excluded_minutes", "float64", "min", "scored time with a NaN or flat signal, not analysed")
_RATE_NOTE = Column("note", "object", "-", "why a rate is NaN or rests on less than the scored time")
_REFERENCE = Column("reference", "object", "-", "the channel's reference")

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
        Column("confidence", "float64", "-", "probability that an expert marks it, 0-1 (a7's calibrated model; "
               "NaN: not computed, fast and yasa)", default=float("nan")),
        Column("sigma_snr", "float64", "dB", "sigma power in the event over that of the 30 s around it (NaN: "
               "under 10 s usable)", default=float("nan")),
        Column("rms_ratio", "float64", "-", "broadband RMS in the event over that of the 30 s around it",
               default=float("nan")),
        Column("peak_prominence", "float64", "dB", "the event's sigma spectral peak over its 1/f fit",
               default=float("nan")),
        Column("so_coupled", "boolean", "-", "sigma_peak inside a slow oscillation of its channel (empty: SOs "
               "not detected)", default=pd.NA),
        Column("so_phase", "float64", "deg", f"phase of the SO-band signal at sigma_peak, coupled spindles only; "
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
        _EXCLUDED_MINUTES,
        Column("density", "float64", "1/min", "spindles per analysed minute (NaN when none, see note)"),
        Column("duration", "float64", "s", "mean duration"),
        Column("amplitude", "float64", "uV", "mean peak-to-peak amplitude"),
        Column("rms", "float64", "uV", "mean RMS"),
        Column("frequency", "float64", "Hz", "mean frequency"),
        Column("reference", "object", "-", "the channel's reference (unstated when the file names none)"),
        _RATE_NOTE,
    ),
)

SIGMA = TableSchema(
    name="sigma",
    file="sigma.csv",
    cohort_file="sigmas.parquet",
    producer="sleepspindles.analysis.epoch_powers:sigma_table_of",
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
        _EXCLUDED_MINUTES,
        Column("density", "float64", "1/min", "SOs per analysed minute (NaN when none, see note)"),
        Column("duration", "float64", "s", "mean duration"),
        Column("val_neg", "float64", "uV", "mean negative peak"),
        Column("ptp", "float64", "uV", "mean peak-to-peak amplitude"),
        Column("slope", "float64", "uV/s", "mean down-to-up slope"),
        Column("frequency", "float64", "Hz", "mean frequency"),
        Column("threshold", "object", "-", "the amplitude criterion applied (absolute, or relative per channel "
               "or pooled over the homologous pair, with the thresholds in uV)"),
        Column("polarity", "object", "-", "'ok', or why the channel looks inverted (flagged, never flipped)"),
        _REFERENCE,
        _RATE_NOTE,
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

TRAINS = TableSchema(
    name="trains",
    file="trains.csv",
    cohort_file="trains.parquet",
    producer="sleepspindles.analysis.trains:trains_table",
    requires=("spindles",),
    columns=(
        _CHANNEL,
        Column("stage", "object", "-", "stage or union of stages (N2, N3, N2+N3; UNSCORED)"),
        Column("n_spindles", "int64", "-", "spindles of the stage group"),
        Column("n_trains", "int64", "-", "trains: runs of at least 2 spindles, each starting at most max_gap "
               "after the previous one ended"),
        Column("n_in_trains", "int64", "-", "spindles belonging to a train"),
        Column("minutes", "float64", "min", "time analysed"),
        _EXCLUDED_MINUTES,
        Column("train_density", "float64", "1/min", "trains per analysed minute (NaN when none, see note)"),
        Column("fraction_in_trains", "float64", "-", "n_in_trains / n_spindles (NaN without spindles)"),
        Column("mean_train_length", "float64", "-", "spindles per train (NaN without a train)"),
        Column("max_gap", "float64", "s", "the largest end-to-start gap within a train (6 s)"),
        _REFERENCE,
        _RATE_NOTE,
    ),
)

WINDOWS = TableSchema(
    name="windows",
    file="windows.csv",
    cohort_file="windows.parquet",
    producer="sleepspindles.analysis.windows:windows_table",
    requires=("spindles",),
    columns=(
        _CHANNEL,
        Column("window", "object", "-", "night, cycle 1..., first 20 min N2 or first 60 min NREM"),
        Column("stages", "object", "-", "stages whose epochs the window holds"),
        Column("start", "float64", "s", "first epoch's start (NaN for a window without epochs)"),
        Column("end", "float64", "s", "last epoch's end"),
        Column("measure", "object", "-", "spindle_density, so_density or coupled_density"),
        Column("n_events", "int64", "-", "events counted in the window (spindle peaks, SO negative peaks)"),
        Column("minutes", "float64", "min", "time analysed in the window, in the stages the measure's events "
               "are searched in"),
        Column("value", "float64", "1/min", "n_events / minutes (NaN without analysed time)"),
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
RUN_TABLES: tuple[TableSchema, ...] = (SPINDLES, SPINDLE_SUMMARY, SIGMA, SLOW_OSCILLATIONS, SO_SUMMARY, SWA, COUPLING,
                                     TRAINS, WINDOWS)


def kind(name: str) -> EventKind:
    """The event kind called ``name``."""
    for k in EVENT_KINDS:
        if k.name == name:
            return k
    raise KeyError(f"event kind {name!r}; known: {[k.name for k in EVENT_KINDS]}")


def engine_names(kind_name: str) -> tuple[str, ...]:
    """Names of the engines of an event kind (config validation and the CLI's choices)."""
    return tuple(e.name for e in kind(kind_name).engines)

# The batch status table: one count column per event kind.
STATUS = TableSchema(
    name="status",
    file="status.csv",
    columns=(
        Column("row", "int64", "-", "manifest row (1 = first data line)"),
        Column("subject", "object"),
        Column("night", "object"),
        Column("recording", "object", "-", "the recording file"),
        Column("status", "object", "-", "done (computed now), skipped (already complete and current) or failed"),
        *(Column(k.count_column, "int64", "-", f"{k.noun}s detected (-1 when failed or not searched: the kind "
                 "turned off)") for k in EVENT_KINDS),
        Column("seconds", "float64", "s", "wall time of the row"),
        Column("error", "object", "-", "why the row failed"),
        Column("out_dir", "object", "-", "the recording's output folder"),
        Column("dropped_channels", "object", "-", "channels left out of the recording, with the reason"),
    ),
)
