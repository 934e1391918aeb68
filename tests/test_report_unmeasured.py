"""Subject and cohort reports of what was not measured: a channel marked bad, thin bins, tests of too few subjects."""

from __future__ import annotations

import dataclasses
import html as html_lib
import re

import numpy as np
import pandas as pd
import pytest
from test_report import sections_of, sleep_hypnogram

from sleepspindles.config import Config
from sleepspindles.hypnogram import Hypnogram
from sleepspindles.pipeline.run import analyse_recording
from sleepspindles.recording import DroppedChannel
from sleepspindles.report import figures as F
from sleepspindles.report import write_subject_report
from sleepspindles.report.channels import channel_styles
from sleepspindles.report.cohort_tables import model_table
from sleepspindles.synthetic import make_synthetic_night

MARKED = "marked bad (the test's manifest)"
NAN_SECONDS = (300.0, 360.0)  # inside the N2 of sleep_hypnogram (epochs 6-23): 1 min excluded on C3


@pytest.fixture(scope="module")
def marked():
    """C4 marked bad (dropped by the loader, as a manifest's bad_channels does), a NaN minute on C3."""
    night = make_synthetic_night(hypnogram=sleep_hypnogram(), duration_hours=0.4, sf=128.0,
                                 channels=("C3", "C4", "F3", "F4"), seed=3)
    rec = night.recording.pick(["C3", "F3", "F4"])
    data = np.array(rec.data, dtype=np.float32)
    data[rec.index("C3"), int(NAN_SECONDS[0] * rec.sf):int(NAN_SECONDS[1] * rec.sf)] = np.nan
    rec = dataclasses.replace(rec, data=data, dropped=(DroppedChannel("C4", MARKED),))
    return analyse_recording(rec, Config())


@pytest.fixture(scope="module")
def marked_page(marked, tmp_path_factory) -> dict[str, str]:
    path = write_subject_report(marked, tmp_path_factory.mktemp("marked"), trained_hand="left")
    return sections_of(html_lib.unescape(path.read_text(encoding="utf-8")))


def _fact(overview: str, key: str) -> str:
    found = re.search(rf'<div class="k">{re.escape(key)}</div><div class="v">(.*?)</div>', overview)
    assert found, key
    return found.group(1)


def _rows(fragment: str, channel: str) -> list[list[str]]:
    """The cells of every table row of ``channel`` in an HTML fragment."""
    rows = re.findall(r"<tr>(.*?)</tr>", fragment, flags=re.DOTALL)
    cells = [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r, flags=re.DOTALL) for r in rows]
    return [c for c in cells if c and c[0].strip() == channel]


def test_a_channel_marked_bad_is_not_measured_not_signal_quality_excluded_time(marked, marked_page):
    """sub03's C4 (marked bad) read "Excluded time 90.5 channel-min ... NaN, flat or unusable signal"."""
    assert marked.detection.excluded_seconds["C4"] > 60.0  # the detection counts all its time excluded
    overview = marked_page["overview"]
    assert _fact(overview, "Excluded time").startswith("1.0 channel-min")  # C3's NaN minute only
    assert MARKED in _fact(overview, "Channels not measured")
    excluded_row = re.search(r"<td>Excluded time</td><td>(.*?)</td></tr>", marked_page["metadata"], flags=re.DOTALL)
    text = " ".join(excluded_row.group(1).split())
    assert "C3: 60.0 s" in text and "C4:" not in text
    assert "Not counted: C4, not measured" in text
    assert f"channel C4 not measured: {MARKED}" in marked_page["metadata"]  # the reason, from the detection


def test_counts_of_a_channel_not_measured_show_a_dash_not_zero(marked, marked_page):
    """A 0 beside C4 read "measured, none found"; the CSV tables keep their 0."""
    density = _rows(marked_page["density"], "C4")
    assert density and all(cell == "\u2013" for cell in density[0][1:])
    so = _rows(marked_page["so"], "C4")
    assert [r[1] for r in so][1:] == ["N2", "N3", "N2+N3"]  # the criteria row, then one per stage group
    assert MARKED in so[0][2]  # the polarity check says why, not "not checked: no SO"
    assert all(r[2] == "\u2013" for r in so[1:])  # the SO count
    coupling = _rows(marked_page["coupling"], "C4")
    assert coupling and all(r[2] == "\u2013" and r[3] == "\u2013" for r in coupling)
    summary = _rows(marked_page["tables"], "C4")
    assert len(summary) == 9 and all(r[3] == "\u2013" for r in summary)
    assert (marked.summary.loc[marked.summary["channel"] == "C4", "n_spindles"] == 0).all()
    measured = _rows(marked_page["density"], "C3")[0]
    assert measured[1] == str(int(marked.summary.query("channel == 'C3' and stage == 'N2' and band == 'all'")
                                  ["n_spindles"].item()))


def test_slow_fast_label_sits_above_the_frequency_bars():
    """The label's white box covered the tallest bin, at the 13-Hz threshold."""
    rng = np.random.default_rng(1)
    events = pd.DataFrame({"channel": "C3", "duration": rng.uniform(0.5, 2.0, 500),
                           "frequency": np.clip(rng.normal(13.0, 0.3, 500), 11, 16),
                           "amplitude": rng.uniform(40, 200, 500)})
    fig = F.distributions_figure(events, 13.0, channel_styles(["C3"]))
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[1]
    label = next(t for t in ax.texts if t.get_text() == "slow | fast")
    box, frame = label.get_window_extent(renderer), ax.get_window_extent(renderer)
    assert box.y0 >= frame.y1  # outside the axes: no bar can be under it
    assert box.y1 <= fig.bbox.y1 and label.get_bbox_patch() is None
    title = next(t for t in fig.texts if t.get_text().startswith("Distributions"))
    assert not box.overlaps(title.get_window_extent(renderer))


def test_bins_with_little_searched_time_are_drawn_apart():
    """A 1-min N2 bin with 2 spindles drew as 2/min on the line, like a full bin."""
    hyp = Hypnogram(np.array([0] * 18 + [2] * 102, dtype=np.int8), 30.0)  # 1 min of N2 in the first 10-min bin
    events = pd.DataFrame({"channel": ["C3"] * 5, "peak": [560.0, 590.0, 700.0, 1300.0, 2500.0]})
    per_bin = F.night_density(events, hyp, 3600.0, [2], ["C3"])
    minutes = F.night_minutes(hyp, 3600.0, [2])
    np.testing.assert_allclose(minutes, [1.0, 10.0, 10.0, 10.0, 10.0, 10.0])
    assert per_bin["C3"].iloc[0] == pytest.approx(2.0)  # the table keeps the thin bin's rate
    styles = channel_styles(["C3"])
    ax = F.night_density_figure(per_bin, 10.0, styles, minutes=minutes).axes[0]
    line = next(x for x in ax.get_lines() if x.get_label() == "C3")
    assert np.isnan(line.get_ydata()[0]) and np.isfinite(line.get_ydata()[1:]).all()
    thin = [x for x in ax.get_lines() if x.get_label().startswith("bin with < 5 min")]
    assert len(thin) == 1 and thin[0].get_ydata().tolist() == [2.0]
    assert thin[0].get_markerfacecolor() == "none"
    assert "bin with < 5 min" in " ".join(t.get_text() for t in ax.get_legend().get_texts())
    unmarked = F.night_density_figure(per_bin, 10.0, styles).axes[0]  # without minutes: as before
    assert len(unmarked.get_lines()) == 1


def test_dependent_correlation_table_gives_each_nights_n_and_note():
    """All "–" with an empty note, and n = 2 (the learning night's) where only 1 subject had a baseline."""
    base = {"pair": "C3/C4", "band": "all", "window": "night", "test": "steiger", "measure": "density_n2",
            "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan}
    need = "at least 4 needed"
    stats = pd.DataFrame([
        {**base, "night": "baseline", "n": 1, "note": f"only 1 subject(s) with finite values; {need}"},
        {**base, "night": "learning", "n": 2, "note": f"only 2 subject(s) with finite values; {need}"},
        {**base, "night": "learning-baseline", "n": 1, "note": f"only 1 subject(s) with finite values; {need}"},
    ])
    table = model_table(stats, "C3/C4")["tests"]
    row = table.iloc[0]
    assert row["n (baseline / learning / learning-baseline)"] == "1 / 2 / 1"
    assert row["note"] == (f"baseline, learning-baseline: only 1 subject(s) with finite values; {need}. "
                           f"learning: only 2 subject(s) with finite values; {need}.")
    same = model_table(stats.assign(n=3, note="x"), "C3/C4")["tests"].iloc[0]
    assert same["n"] == 3 and same["note"] == "x"
