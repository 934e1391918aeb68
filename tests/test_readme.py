"""The README's tables follow the schema: every column of the events tables, with its unit."""

from pathlib import Path

import pytest

from sleepspindles.schema import SLOW_OSCILLATIONS, SPINDLES

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("table", [SPINDLES, SLOW_OSCILLATIONS], ids=lambda t: t.file)
def test_readme_documents_every_events_column_with_its_unit(table):
    start = README.index(f"`{table.file}`, one row per")
    rows = README[start:].split("\n\n")[1].splitlines()[2:]
    documented = [tuple(cell.strip() for cell in row.strip("|").split("|")[:2]) for row in rows]
    assert documented == [(c.name, c.unit) for c in table.columns]
