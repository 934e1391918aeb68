"""The slow-oscillation part of the subject report: sections, figures, the polarity flag, and its absence."""

from __future__ import annotations

import dataclasses
import html as html_lib
import io
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_report import png_sources, sections_of

from sleepspindles.config import Config
from sleepspindles.pipeline.run import analyse_recording
from sleepspindles.recording import Recording
from sleepspindles.report import figures_so as FS
from sleepspindles.report import subject_sections, write_subject_report
from sleepspindles.report.channels import channel_styles, homologous_groups, order_channels
from sleepspindles.report.view import SIGMA_PAD, SO_HALF_WIDTH
from sleepspindles.report.windows import evenly_spaced, event_windows, locked_average
from sleepspindles.schema import COUPLING, PHASE_CONVENTION, SLOW_OSCILLATIONS, SWA
from sleepspindles.synthetic import make_synthetic_night

SO_SECTIONS = ("so", "so_waveform", "coupling", "swa")
CHANNELS = ("C3", "C4", "Cz")
INVERTED = "C4"


@pytest.fixture(scope="module")
def so_result():
    """A 1-h night with global SOs and SO-locked spindles on three channels, C4 recorded upside down."""
    night = make_synthetic_night(duration_hours=1.0, sf=128.0, channels=CHANNELS, so_density=8,
                                 coupled_fraction=0.5, so_shared_fraction=0.5, seed=2)
    rec = night.recording
    data = np.array(rec.data, dtype=np.float32)
    data[rec.index(INVERTED)] *= -1
    return analyse_recording(dataclasses.replace(rec, data=data), Config())


@pytest.fixture(scope="module")
def so_html(so_result, tmp_path_factory):
    path = write_subject_report(so_result, tmp_path_factory.mktemp("so"), subject="sub-01", night="n1")
    return path.read_text(encoding="utf-8")


def assert_valid_pngs(images: list[bytes]) -> None:
    for data in images:
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2000
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            assert img.width > 300 and img.height > 150


def section(result, key: str):
    return next(s for s in subject_sections(result) if s.key == key)


def test_so_sections_have_their_figures(so_html):
    found = sections_of(so_html)
    keys = list(found)
    # no trained hand: the lateralisation panel's one-line note, then the SO sections
    assert keys[keys.index("fastslow") + 1 : keys.index("tables")] == ["lateralisation", *SO_SECTIONS]
    for key in SO_SECTIONS[:-1]:
        images = png_sources(found[key])
        assert len(images) == 1, key
        assert_valid_pngs(images)
    # A 1-h night is one sleep cycle: nothing to draw across cycles, and the report says so.
    assert not png_sources(found["swa"])
    assert "1 sleep cycle(s): no change across cycles to draw" in html_lib.unescape(found["swa"])
    assert not re.search(r'(src|href)="(?!data:|#)', so_html)


def test_phase_convention_and_coupling_table(so_result, so_html):
    text = html_lib.unescape(sections_of(so_html)["coupling"])
    assert PHASE_CONVENTION in text
    for header in ("coupled (%)", "SOs with a spindle (%)", "mean phase (deg)", "PPC", "surrogate p"):
        assert f">{header}</th>" in text
    coupling = so_result.tables[COUPLING.name]
    assert text.count("<tr>") == int((coupling["band"] == "all").sum()) + 1


def test_engine_flags_the_inverted_channel_and_the_report_shows_it(so_result, so_html):
    polarity = so_result.tables["so_summary"].drop_duplicates("channel").set_index("channel")["polarity"]
    assert polarity[INVERTED].startswith("looks inverted")
    assert (polarity.drop(INVERTED) == "ok").all()
    so_part = html_lib.unescape(sections_of(so_html)["so"])
    alerts = re.findall(r'<p class="alert"[^>]*>(.*?)</p>', so_part, flags=re.DOTALL)
    assert len(alerts) == 1 and alerts[0].startswith(f"Channel {INVERTED} looks inverted")
    assert "Flagged, not flipped" in alerts[0]
    assert "absolute: negative peak <= -40.0 uV, peak-to-peak >= 75.0 uV" in so_part  # the criterion applied
    assert f'<div class="v">{INVERTED}</div>' in sections_of(so_html)["overview"]


def test_rose_panels_match_the_coupling_table(so_result):
    """One plain axes holds every rose (homologues side by side): wedge areas are the phase counts."""
    fig = section(so_result, "coupling").figures[0]
    (ax,) = fig.axes
    rows = so_result.tables[COUPLING.name].query("band == 'all' and stage == 'N2+N3'").set_index("channel")
    labels = [t.get_text() for t in ax.texts if ": n = " in t.get_text()]
    assert [label.split(":")[0] for label in labels] == ["C3", "C4", "Cz"]  # the pair side by side
    wedges, _, arrows = ax.collections
    assert len(wedges.get_paths()) == len(labels) * FS.PHASE_BINS
    for k, label in enumerate(labels):
        channel = label.split(":")[0]
        n = int(rows.loc[channel, "n_coupled"])
        assert label.startswith(f"{channel}: n = {n}\nPPC")
        paths = wedges.get_paths()[k * FS.PHASE_BINS : (k + 1) * FS.PHASE_BINS]
        area = np.array([np.hypot(*(path.vertices[1] - path.vertices[0])) for path in paths]) ** 2
        assert area.max() == pytest.approx(1.0)  # the ring is the tallest bin
        counts = area * n / area.sum()  # every coupled spindle in one bin: whole counts
        np.testing.assert_allclose(counts, np.round(counts), atol=1e-6)
    assert len(arrows.get_segments()) == len(labels)  # one circular-mean arrow per channel


def test_swa_figure_and_tables(so_result):
    # The 1-h night is one sleep cycle: two more cycles (lower SWA) make the across-cycle figure.
    swa = so_result.tables[SWA.name]
    first = swa[swa["window"] == "cycle 1"]
    later = [first.assign(window=f"cycle {k}", power=first["power"] / k) for k in (2, 3)]
    swa = pd.concat([swa, *later], ignore_index=True)
    sec = section(dataclasses.replace(so_result, tables={**so_result.tables, SWA.name: swa}), "swa")
    cycles = swa[swa["window"].str.startswith("cycle ")]
    lines = {line.get_label(): line for line in sec.figures[0].axes[0].lines}
    assert list(lines) == order_channels(CHANNELS)  # the legend front to back, as every figure
    for channel, line in lines.items():
        np.testing.assert_allclose(line.get_ydata(), cycles.loc[cycles["channel"] == channel, "power"])
    (_, power), (_, relative) = sec.tables
    assert list(power["channel"]) == order_channels(CHANNELS)
    assert "first 60 min NREM (uV^2)" in power.columns and "N3" in relative.columns
    first = swa.query("channel == 'C3' and window == 'first 60 min NREM'")["power"].item()
    assert power.set_index("channel").loc["C3", "first 60 min NREM (uV^2)"] == first


def test_empty_tables_leave_their_sections_out(so_result):
    no_so = dataclasses.replace(so_result, tables={**so_result.tables, SLOW_OSCILLATIONS.name: SLOW_OSCILLATIONS.empty()})
    sections = {s.key: s for s in subject_sections(no_so)}
    assert "so_waveform" not in sections and "coupling" not in sections
    assert sections["so"].figures == () and sections["so"].text.startswith("No slow oscillation met the criteria")
    assert len(sections["so"].tables) == 1  # the criteria still say what the SOs had to meet
    empty = {COUPLING.name: COUPLING.empty(), SWA.name: SWA.empty()}
    keys = [s.key for s in subject_sections(dataclasses.replace(so_result, tables={**so_result.tables, **empty}))]
    assert "coupling" not in keys and "swa" not in keys and "so_waveform" in keys


def test_no_coupled_spindle_gives_a_note_not_an_empty_chart(so_result):
    spindles = so_result.events.assign(so_coupled=False, so_phase=np.nan)
    res = dataclasses.replace(so_result, tables={**so_result.tables, "spindles": spindles})
    sec = section(res, "coupling")
    assert sec.figures == () and "no phase to plot" in sec.notes[0]


def test_report_without_slow_oscillations(tmp_path):
    night = make_synthetic_night(duration_hours=0.5, sf=128.0, channels=("C3", "C4"), so_density=8, seed=4)
    config = Config().replace("slow_oscillations", enabled=False)
    res = analyse_recording(night.recording, config)
    assert SLOW_OSCILLATIONS.name not in res.tables
    html = write_subject_report(res, tmp_path).read_text(encoding="utf-8")
    found = sections_of(html)
    assert not set(SO_SECTIONS) & set(found)
    assert "Slow oscillations" not in found["overview"] and "Polarity" not in html
    images = png_sources(html)
    assert len(images) == 6  # the spindle figures only (staging is one figure)
    assert_valid_pngs(images)


def test_trough_locked_average_hand_computed():
    sf, n = 100.0, 12_000
    data = np.zeros((2, n))
    troughs = np.arange(10.0, 110.0, 10.0)
    t = np.arange(n) / sf
    for t0 in troughs:
        data[0, int(t0 * sf)] = -80.0
        burst = (t >= t0 + 0.3) & (t < t0 + 0.7)  # a 13-Hz, 20-uV spindle in the up-state
        data[0, burst] += 20.0 * np.sin(2 * np.pi * 13.0 * t[burst])
    rec = Recording(data=data, sf=sf, channels=("C3", "C4"), kinds=("eeg", "eeg"))
    half = SO_HALF_WIDTH + SIGMA_PAD  # the report's windows: padded for the sigma filter
    asks = {"C3": [(np.r_[troughs, 1.0], half)], "C4": [(np.empty(0), half)]}  # 1.0 s: too near the start
    windows = event_windows(rec, asks)
    assert list(windows) == ["C3", "C4"]
    c3 = locked_average(windows["C3"][0], sf, SIGMA_PAD, (11.0, 16.0))
    assert c3.n == len(troughs) and len(c3.time) == 2 * int(SO_HALF_WIDTH * sf) + 1
    centre = len(c3.time) // 2
    assert c3.time[centre] == 0 and c3.mean[centre] == -80.0 and c3.sem[centre] == 0
    peak = c3.time[np.argmax(c3.sigma)]
    assert 0.35 <= peak <= 0.65 and 15.0 < c3.sigma.max() < 22.0
    assert c3.sigma[c3.time < -0.5].max() < 2.0
    c4 = locked_average(windows["C4"][0], sf, SIGMA_PAD, (11.0, 16.0))
    assert c4.n == 0 and np.isnan(c4.mean).all()


def test_homologous_groups_and_event_cap():
    groups = homologous_groups(["Cz", "C4", "F3", "C3", "O2", "O1", "T7"])
    assert groups == [("F3",), ("T7",), ("C3", "C4"), ("Cz",), ("O1", "O2")]
    picked = evenly_spaced(np.arange(1000.0))
    assert len(picked) == 300 and picked[0] == 0 and picked[-1] == 999
    assert len(evenly_spaced(np.arange(5.0))) == 5


def test_swa_cycles_figure_draws_one_line_per_channel_and_needs_two_cycles():
    styles = channel_styles(CHANNELS)
    table = pd.DataFrame({"C3": [40.0, 25.0, 12.0], "C4": [35.0, 20.0, 10.0], "Cz": [38.0, 22.0, 11.0]},
                         index=pd.Index([1, 2, 3], name="cycle"))
    fig = FS.swa_cycles_figure(table, (0.5, 4.5), styles)
    assert [line.get_label() for line in fig.axes[0].get_lines()] == list(CHANNELS)
    np.testing.assert_array_equal(fig.axes[0].get_lines()[0].get_ydata(), [40.0, 25.0, 12.0])
    assert FS.swa_cycles_figure(table.iloc[:1], (0.5, 4.5), styles) is None
