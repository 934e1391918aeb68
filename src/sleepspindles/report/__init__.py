"""Self-contained reports: one HTML file per recording (figures embedded), one per cohort.

Figures come from :mod:`.figures`, :mod:`.figures_so` and :mod:`.figures_cohort` (matplotlib, no
pyplot); the sections of a recording's report are assembled in :mod:`.subject` (slow oscillations
in :mod:`.subject_so`), the cohort's in :mod:`.cohort`, the tables they show shaped in
:mod:`.tables` and :mod:`.cohort_tables`, and everything rendered by :mod:`.render` with jinja2
from ``report/templates``. ``format="pdf"`` prints that same HTML page to PDF with weasyprint
(the optional ``pdf`` extra: ``pip install 'sleepspindles[pdf]'``); without it the report
functions raise a one-line :class:`~sleepspindles.errors.ConfigError` before any work. Files are
written atomically through :mod:`sleepspindles.output`.
"""

from __future__ import annotations

from .cohort import MAIN_MEASURE, cohort_sections, write_cohort_report
from .render import FORMATS, Section, check_format
from .subject import subject_sections, write_subject_report

__all__ = ["FORMATS", "MAIN_MEASURE", "Section", "check_format", "cohort_sections", "subject_sections",
           "write_cohort_report", "write_subject_report"]
