"""Subject and cohort reports: structure of the HTML/PDF, figure helpers against hand-computed values."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest

from sleepspindles.config import Config
from sleepspindles.errors import ConfigError
from sleepspindles.hypnogram import Hypnogram, Stage
from sleepspindles.pipeline.run import analyse_recording
from sleepspindles.report import figures as F
from sleepspindles.report import write_cohort_report, write_subject_report
from sleepspindles.synthetic import make_synthetic_night

SUBJECT_SECTIONS = ("overview", "staging", "density", "waveforms", "night", "distributions", "fastslow",
                    "lateralisation", "tables", "metadata")
# Figures per section of a staged subject report with a trained hand.
SUBJECT_FIGURES = {"staging": 2, "density": 1, "waveforms": 1, "night": 1, "distributions": 1, "fastslow": 1,
                   "lateralisation": 1}


def sleep_hypnogram(minutes: float = 24.0) -> Hypnogram:
    """Mostly N2/N3 stages (30-s epochs), with some wake and REM."""
    pattern = [Stage.W] * 4 + [Stage.N1] * 2 + [Stage.N2] * 18 + [Stage.N3] * 10 + [Stage.REM] * 4
    n = int(minutes * 2)
    stages = (pattern + [Stage.N2] * n)[:n]
    return Hypnogram(np.array([int(s) for s in stages], dtype=np.int8), 30.0, source="scored")


@pytest.fixture(scope="module")
def result():
    night = make_synthetic_night(hypnogram=sleep_hypnogram(), duration_hours=0.4, sf=128.0,
                                 channels=("C3", "C4"), density={"C3": 3.0, "C4": 4.0}, seed=3)
    return analyse_recording(night.recording, Config())


def sections_of(html: str) -> dict[str, str]:
    """``{section id: its HTML}`` for every ``<section id=...>`` of a page."""
    parts = re.split(r"<section id=\"", html)[1:]
    return {p.split('"', 1)[0]: p.split("</section>", 1)[0] for p in parts}


def png_sources(fragment: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', fragment)]


def test_subject_html_has_every_section_and_figure(result, tmp_path):
    path = write_subject_report(result, tmp_path, trained_hand="left", subject="sub-01", night="learning")
    assert path == tmp_path / "report.html"
    html = path.read_text(encoding="utf-8")
    found = sections_of(html)
    assert list(found) == list(SUBJECT_SECTIONS)
    for key, n in SUBJECT_FIGURES.items():
        images = png_sources(found[key])
        assert len(images) == n, key
        assert all(img.startswith(b"\x89PNG\r\n\x1a\n") and len(img) > 2000 for img in images)
    # Self-contained: no external script, stylesheet or image.
    assert not re.search(r'(src|href)="(?!data:|#)', html)
    # The headline count and the summary table are the result's own numbers.
    assert f'<div class="v">{len(result.events)}</div>' in found["overview"]
    assert found["tables"].count("<tr>") == len(result.summary) + 1
    assert "sub-01 / learning" in html
    # Lateralisation panel: C4 contralateral to the left hand; its LI equals the density LI.
    summ = result.summary.query("band == 'all' and stage == 'N2+N3'").set_index("channel")["density"]
    li = (summ["C4"] - summ["C3"]) / (summ["C4"] + summ["C3"])
    assert f"{li:.3f}" in found["lateralisation"]
    assert "yasa" in found["metadata"] and "fast_threshold" in found["metadata"]


def test_subject_html_without_hand_has_no_lateralisation(result, tmp_path):
    html = write_subject_report(result, tmp_path).read_text(encoding="utf-8")
    assert "lateralisation" not in sections_of(html)
    assert len(png_sources(html)) == sum(SUBJECT_FIGURES.values()) - 1


def test_subject_pdf(result, tmp_path):
    path = write_subject_report(result, tmp_path, trained_hand="right", format="pdf")
    data = path.read_bytes()
    assert path.suffix == ".pdf" and data.startswith(b"%PDF")
    # Title page + 8 figures + at least one page per table.
    assert len(re.findall(rb"/Type\s*/Page\b", data)) >= 1 + sum(SUBJECT_FIGURES.values()) + 3


def test_bad_format_and_hand(result, tmp_path):
    with pytest.raises(ConfigError, match="'format'"):
        write_subject_report(result, tmp_path, format="docx")
    with pytest.raises(ConfigError, match="'trained_hand'"):
        write_subject_report(result, tmp_path, trained_hand="both")
    assert not list(tmp_path.iterdir())


def test_unstaged_recording_report(tmp_path):
    night = make_synthetic_night(hypnogram=sleep_hypnogram(10), duration_hours=10 / 60, sf=128.0,
                                 channels=("Cz",), seed=1)
    res = analyse_recording(night.recording.with_hypnogram(None), Config(), staging=False)
    html = write_subject_report(res, tmp_path).read_text(encoding="utf-8")
    assert "none (whole recording searched)" in sections_of(html)["staging"]


def test_order_channels_and_hemisphere():
    assert F.order_channels(["O1", "C4", "Cz", "C3", "F4", "F3", "EOG1"]) == ["F3", "F4", "C3", "Cz", "C4", "O1",
                                                                               "EOG1"]
    assert [F.hemisphere(c) for c in ("C3", "C4", "Cz", "FC5", "E1x")] == ["left", "right", "midline", "left",
                                                                          "midline"]


def test_night_density_hand_computed():
    # 60 min, 30-s epochs: first 20 min wake, then N2; a 1-h recording gets 10-min bins.
    hyp = Hypnogram(np.array([0] * 40 + [2] * 80, dtype=np.int8), 30.0)
    events = pd.DataFrame({"channel": ["C3"] * 5 + ["C4"], "peak": [1300.0, 1500.0, 1700.0, 2000.0, 3500.0, 100.0]})
    table = F.night_density(events, hyp, 3600.0, [Stage.N2], ["C3", "C4"])
    # Bins 0-10 and 10-20 min have no N2 (NaN); 20-30 min: 3 C3 peaks in 10 min of N2, etc.
    np.testing.assert_allclose(table["C3"].to_numpy(), [np.nan, np.nan, 0.3, 0.1, 0.0, 0.1])
    np.testing.assert_allclose(table["C4"].to_numpy(), [np.nan, np.nan, 0.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(table.index.to_numpy(), np.arange(6) / 6)
    assert F.night_bin_minutes(8 * 3600) == 60 and F.night_bin_minutes(2 * 3600) == 30


def test_peak_windows():
    signal = np.arange(100, dtype=float)
    seg = F._peak_windows(signal, 10.0, np.array([0.5, 5.0, 9.5]))  # only 5.0 s has a whole +/- 1 s window
    np.testing.assert_array_equal(seg, [np.arange(40, 61)])


def test_cohort_report(result, tmp_path):
    from sleepspindles.analysis.laterality import lateralise, night_data

    nights = [
        night_data(result.events, result.hypnogram, result.recording, subject=f"s{i}", night="learning",
                   trained_hand=hand, score_pre=10.0, score_post=11.0 + i, summary=result.summary,
                   config=result.config)
        for i, hand in enumerate(["left", "left", "right", "left"])
    ]
    lat = lateralise(nights, result.config.replace("laterality", n_boot=200, n_perm=200))
    status = pd.DataFrame({"subject": ["s0", "s1", "s2", "s3", "s4"], "night": ["learning"] * 5,
                           "status": ["done"] * 4 + ["failed"], "error": [""] * 4 + ["x.edf: not an EDF file"]})
    html = write_cohort_report(lat, status, tmp_path).read_text(encoding="utf-8")
    found = sections_of(html)
    assert list(found) == ["overview", "paired", "gain", "stats", "status"]
    assert len(png_sources(found["paired"])) == 1 and len(png_sources(found["gain"])) == 1
    assert "x.edf: not an EDF file" in found["status"]
    stats = lat.stats.query("measure == 'density_n2n3' and band == 'all'")
    assert len(stats) and found["stats"].count("<tr>") == len(stats) + 1
    only_status = write_cohort_report(None, status, tmp_path / "b").read_text(encoding="utf-8")
    assert list(sections_of(only_status)) == ["overview", "status"]
