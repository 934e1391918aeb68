"""The building blocks of the schema: a column, a table, an engine, an event kind."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["Column", "Engine", "EventKind", "TableSchema", "resolve"]

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
        out = frame.assign(**absent).loc[:, list(self.names)]
        wrong = {name: dtype for name, dtype in self.dtypes.items() if str(out[name].dtype) != dtype}
        out = out.astype(wrong) if wrong else out.copy()
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
