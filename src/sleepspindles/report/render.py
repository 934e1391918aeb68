"""Rendering report sections: figures to PNG, tables to HTML, pages with jinja2, and the PDF print of a page.

Nothing here writes a file: :mod:`.subject` and :mod:`.cohort` hand the rendered text or bytes
to :mod:`sleepspindles.output`.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..config import REPORT_FORMATS
from ..errors import param_error

__all__ = ["FORMATS", "Section", "check_format", "column_formatter", "pdf_bytes", "render"]

FORMATS = REPORT_FORMATS
_DPI = 100
_PNG = {"compress_level": 1}  # zlib level 1: a third of the encoding time of the default, files ~10% larger
_MAX_HTML_ROWS = 400  # longer tables are cut (the CSV next to the report has every row)
_MAX_DECIMALS = 3
_LONG_TEXT = 40  # characters of a text cell that may wrap anywhere (paths, errors)
_PDF_PACKAGE = "weasyprint"


@dataclass(frozen=True)
class Section:
    """One block of a report: a title, an optional lead text, figures and tables.

    Attributes
    ----------
    key : str
        HTML anchor (``"density"``).
    title : str
    text : str
        A sentence saying what the section shows (plain text).
    figures : tuple of matplotlib Figure
    tables : tuple of (caption, DataFrame) or (caption, DataFrame, marked)
        ``marked``: one bool per row; marked rows are highlighted (a sign that changes...).
    notes : tuple of str
        Remarks shown in small print (skipped pairs, missing values).
    alerts : tuple of str
        Warnings shown prominently, above the figures (a channel that looks inverted).
    """

    key: str
    title: str
    text: str = ""
    figures: tuple = ()
    tables: tuple = ()
    notes: tuple = ()
    alerts: tuple = ()


def check_format(format: str) -> None:
    """Refuse a report format other than :data:`FORMATS`, or ``"pdf"`` without its printer, before any work."""
    if format not in FORMATS:
        raise param_error("format", f"one of {FORMATS}", format)
    if format == "pdf":
        _printer()


def _printer():
    """weasyprint's ``HTML`` class, or the one-line error saying how to install it."""
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:  # OSError: the package is there but pango is not
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise param_error("format", f"'html' unless the optional package {_PDF_PACKAGE} can be imported (pip install "
                                    f"'sleepspindles[pdf]'; here: {reason})", "pdf") from None
    return HTML


def pdf_bytes(html: str) -> bytes:
    """The report page printed to PDF (A4 landscape, by weasyprint): the same text, figures and tables."""
    return _printer()(string=html).write_pdf()


def _png(fig) -> str:
    """A figure as a base64 PNG data URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, pil_kwargs=_PNG)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def column_formatter(column: pd.Series) -> Callable[[Any], str]:
    """How a numeric column's cells are printed: one number of decimals for the whole column.

    Whole numbers (counts, even when stored as floats) print without decimals; values that are
    exact with at most three decimals (minutes in half-minute epochs) print with just those;
    others get three significant digits of the column's median magnitude (at most three
    decimals). A value too small for that shows two significant digits; NaN shows an en dash.
    """
    values = column.to_numpy(dtype=float, na_value=np.nan)
    finite = np.abs(values[np.isfinite(values)])
    decimals = 0
    for decimals in range(_MAX_DECIMALS + 1):
        scaled = finite * 10**decimals
        if np.allclose(scaled, np.round(scaled), rtol=0, atol=1e-6 * max(1.0, 10**decimals)):
            break
    else:
        middle = float(np.median(finite[finite > 0])) if (finite > 0).any() else 1.0
        decimals = int(np.clip(2 - math.floor(math.log10(middle)), 0, _MAX_DECIMALS))

    def cell(value) -> str:
        if value is None or pd.isna(value):
            return "\u2013"
        if 0 < abs(value) < 10**-decimals:
            return f"{value:.2g}"
        return f"{value:,.{decimals}f}".replace(",", "\u2009") if abs(value) >= 1e4 else f"{value:.{decimals}f}"

    return cell


def _text_cell(value) -> str:
    """A text cell; a long one (an error, a path) may break anywhere rather than widen the page."""
    from markupsafe import escape

    text = "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)
    return f"<td class='txt{' long' if len(text) > _LONG_TEXT else ''}'>{escape(text)}</td>"


def _html_table(frame: pd.DataFrame, marked=None) -> str:
    """A table as HTML: numbers right-aligned (``num`` class) with one format per column, text left, long tables cut.

    Rows where ``marked`` (one bool per row) is true get the ``flag`` class (highlighted).
    """
    from markupsafe import escape

    shown = frame.head(_MAX_HTML_ROWS)
    flags = np.zeros(len(shown), bool) if marked is None else np.asarray(marked, dtype=bool)[: len(shown)]
    numeric = [_is_numeric(shown[c]) for c in shown.columns]
    formats = [column_formatter(shown[c]) if n else None for c, n in zip(shown.columns, numeric)]
    head = "".join(f"<th class='{'num' if n else 'txt'}'>{escape(str(c))}</th>" for c, n in zip(shown.columns, numeric))
    body = []
    for values, flag in zip(shown.itertuples(index=False), flags):
        cells = "".join(f"<td class='num'>{fmt(v)}</td>" if fmt else _text_cell(v) for v, fmt in zip(values, formats))
        body.append(f"<tr class='flag'>{cells}</tr>" if flag else f"<tr>{cells}</tr>")
    html = f"<table class='data'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    if len(frame) > len(shown):
        html += f"<p class='note'>First {len(shown)} of {len(frame)} rows (every row is in the CSV file).</p>"
    return html


def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("sleepspindles", "report/templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, sections: list[Section], **context: Any) -> str:
    """Render sections (figures to PNG, tables to HTML) into ``template``."""
    from markupsafe import Markup

    rendered = [
        {
            "key": s.key,
            "title": s.title,
            "text": s.text,
            "notes": list(s.notes),
            "alerts": list(s.alerts),
            "images": [_png(fig) for fig in s.figures],
            "tables": [(table[0], Markup(_html_table(*table[1:]))) for table in s.tables],
        }
        for s in sections
    ]
    return _environment().get_template(template).render(sections=rendered, version=__version__, **context)
