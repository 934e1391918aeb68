"""What a report's labels tell the reader: an unstaged recording's stage group, the sections it cannot have."""

from __future__ import annotations

import html as html_lib
import re
from types import SimpleNamespace

import numpy as np
import pytest
from test_report import sections_of, sleep_hypnogram

from sleepspindles.config import Config
from sleepspindles.pipeline.run import analyse_recording
from sleepspindles.report import subject_sections, write_subject_report
from sleepspindles.synthetic import make_synthetic_night

UNSTAGED = "whole recording (not staged)"


@pytest.fixture(scope="module")
def unstaged(tmp_path_factory):
    """A night analysed without its hypnogram (``--no-staging``): result, sections and page (trained hand left)."""
    night = make_synthetic_night(hypnogram=sleep_hypnogram(24), duration_hours=0.4, sf=128.0, channels=("C3", "C4"),
                                 so_density=8, coupled_fraction=0.5, seed=5)
    result = analyse_recording(night.recording.with_hypnogram(None), Config(), staging=False)
    page = write_subject_report(result, tmp_path_factory.mktemp("unstaged"), trained_hand="left")
    sections = {s.key: s for s in subject_sections(result, trained_hand="left")}
    return result, sections, html_lib.unescape(page.read_text(encoding="utf-8"))


def _shown_text(sections) -> list[str]:
    """Every string a reader sees: leads, notes, table captions, headers and cells, figure texts and legends."""
    texts = []
    for s in sections.values():
        texts += [s.text, *s.notes, *s.alerts]
        for caption, table, *_ in s.tables:
            texts += [caption, *map(str, table.columns), *map(str, table.astype(str).to_numpy().ravel())]
        for fig in s.figures:
            texts += [t.get_text() for t in fig.texts]
            for ax in fig.axes:
                texts += [ax.get_title(), *(t.get_text() for t in ax.texts)]
                legend = ax.get_legend()
                texts += [t.get_text() for t in legend.get_texts()] if legend else []
    return texts


def test_unstaged_report_says_the_whole_recording_was_searched(unstaged):
    result, sections, page = unstaged
    assert set(result.events["stage"]) == {"UNSCORED"}  # what the tables hold, never what the reader is shown
    overview = re.sub(r"<[^>]+>", " ", sections_of(page)["overview"])
    assert re.search(r"Detection\s+a7, whole recording \(not staged\)", overview)
    assert "stages N2, N3" not in overview
    assert re.search(rf"Mean density, {re.escape(UNSTAGED)}\s+\d", overview)
    shown = _shown_text(sections)
    assert not [t for t in shown if "UNSCORED" in t]
    assert "UNSCORED" not in re.sub(r"<[^>]+>", " ", page.split('id="metadata"')[0])  # metadata echoes the config
    # the density legend, the per-channel table, the SO and coupling tables name the whole recording
    (density,) = sections["density"].figures
    assert [" ".join(t.get_text().split()) for t in density.axes[0].get_legend().get_texts()] == [UNSTAGED]
    assert sections["fastslow"].figures[0].texts[0].get_text() == f"Fast vs slow spindles, {UNSTAGED}"
    assert f"density {UNSTAGED} (1/min)" in sections["density"].tables[0][1].columns
    assert set(sections["tables"].tables[0][1]["stage"]) == {UNSTAGED}
    assert set(sections["so"].tables[1][1]["stage"]) == {UNSTAGED}


def test_unstaged_report_says_why_swa_and_lateralisation_are_missing(unstaged):
    _, sections, page = unstaged
    found = sections_of(page)
    for key, title in (("swa", "Slow-wave activity across the night"), ("lateralisation", "Lateralisation")):
        assert key in found and title in found[key]
        assert sections[key].text == "Not available: the recording was not staged."
        assert sections[key].figures == () and sections[key].tables == ()


def _one_channel_figures():
    """The average SO and the coupling rose of a single channel: the narrowest figures (6 in) of a report."""
    import numpy as np
    import pandas as pd

    from sleepspindles.report import figures_so as FS
    from sleepspindles.report.channels import channel_styles
    from sleepspindles.report.windows import LockedAverage

    time = np.linspace(-1.5, 1.5, 385)
    average = LockedAverage(time, -40 * np.cos(np.pi * time), np.full_like(time, 2.0), 3 + np.sin(time), 120)
    styles = channel_styles(["C3"])
    stats = pd.DataFrame({"n_coupled": [42], "phase_deg": [-20.0], "mvl": [0.4], "ppc": [0.15],
                          "surrogate_p": [0.002]}, index=pd.Index(["C3"], name="channel"))
    phases = {"C3": np.random.default_rng(0).vonmises(-0.3, 2.0, 42) * 180 / np.pi}
    return (FS.so_waveform_figure({"C3": average}, (11.0, 16.0), styles),
            FS.coupling_rose_figure(phases, stats, "N2+N3", styles))


@pytest.mark.parametrize("which", [0, 1], ids=["average SO", "coupling rose"])
def test_titles_of_single_channel_figures_fit_the_figure(which):
    """The title wraps inside a narrow figure and stays above its panels, every word of it kept."""
    fig = _one_channel_figures()[which]
    assert fig.get_size_inches()[0] <= 6.0
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    (title,) = fig.texts
    box = title.get_window_extent(renderer)
    assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1
    assert len(title.get_text().splitlines()) > 2  # wrapped: two lines did not fit 6 in
    panels = [ax.get_window_extent(renderer) for ax in fig.axes]
    assert all(box.y0 >= panel.y1 for panel in panels)  # the panels begin below the title's last line
    assert title.get_text().split()[-1] in ("dashed", "1)")  # wrapped, not cut: the last word is there


def test_stage_minutes_read_the_same_in_the_bars_and_the_table():
    """36.5 min is '36.5' on its bar (it was '36', rounded half to even), and a stage with 0 min is in both."""
    from sleepspindles.hypnogram import Hypnogram
    from sleepspindles.report import figures as F
    from sleepspindles.report.subject import _stage_table

    hyp = Hypnogram(np.array([0] * 3 + [2] * 73 + [3] * 20), 30.0)  # W 1.5, N2 36.5, N3 10 min; no N1, no REM
    figure = F.staging_figure(hyp, hyp.n_epochs * 30.0)
    labels = [t.get_text() for t in figure.axes[1].texts]
    assert labels == ["1.5", "0", "36.5", "10", "0"]

    result = SimpleNamespace(hypnogram=hyp, recording=SimpleNamespace(duration=hyp.n_epochs * 30.0))
    table = _stage_table(result)
    assert table["stage"].tolist() == list(F.SLEEP_STAGES) and table["time (min)"].tolist() == [1.5, 0, 36.5, 10, 0]
