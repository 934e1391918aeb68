"""Subject and cohort reports: structure of the HTML/PDF, figure helpers against hand-computed values."""

from __future__ import annotations

import base64
import colorsys
import html as html_lib
import re
import sys
import zlib
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb

from sleepspindles.config import Config
from sleepspindles.errors import ConfigError, SleepSpindlesError
from sleepspindles.hypnogram import Hypnogram, Stage
from sleepspindles.pipeline.run import analyse_recording
from sleepspindles.report import figures as F
from sleepspindles.report import subject_sections, write_cohort_report, write_subject_report
from sleepspindles.report.channels import channel_styles, hemisphere, order_channels
from sleepspindles.report.render import column_formatter
from sleepspindles.report.windows import peak_windows
from sleepspindles.synthetic import make_synthetic_night

SUBJECT_SECTIONS = ("overview", "staging", "density", "waveforms", "night", "distributions", "fastslow",
                    "lateralisation", "so", "so_waveform", "coupling", "swa", "tables", "metadata")
# Figures per section of a staged subject report with a trained hand (the background's N3 delta
# waves give slow oscillations, so the SO sections are there: tests/test_report_so.py tests them).
# Staging is one figure: the hypnogram and the minutes per stage side by side. The 24-min night is
# one sleep cycle: SWA has its tables but no across-cycle figure.
SUBJECT_FIGURES = {"staging": 1, "density": 1, "waveforms": 1, "night": 1, "distributions": 1, "fastslow": 1,
                   "lateralisation": 1, "so": 1, "so_waveform": 1, "coupling": 1, "swa": 0}


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


SECTION_TITLES = {"staging": "Sleep staging", "density": "Spindle density", "waveforms": "Average spindle waveform",
                  "night": "Density across the night", "distributions": "Spindle properties",
                  "fastslow": "Fast and slow spindles", "so": "Slow oscillations", "tables": "Spindle summary table"}


def render_html(result, folder, **kwargs) -> str:
    return write_subject_report(result, folder, trained_hand="right", **kwargs).read_text(encoding="utf-8")


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


def test_staging_figure_has_the_hypnogram_and_the_minutes_per_stage(result):
    staging = next(s for s in subject_sections(result) if s.key == "staging")
    (figure,) = staging.figures
    hypnogram, minutes = figure.axes
    assert "Hypnogram" in hypnogram.get_title(loc="left") and minutes.get_xlabel() == "Minutes"
    drawn = {t.get_text(): float(p.get_width()) for t, p in zip(minutes.get_yticklabels(), minutes.patches)}
    assert drawn == pytest.approx({k: v for k, v in result.hypnogram.stage_minutes().items() if k in drawn})


def test_subject_html_without_hand_says_why_there_is_no_lateralisation(result, tmp_path):
    html = write_subject_report(result, tmp_path).read_text(encoding="utf-8")
    found = sections_of(html)
    assert list(found) == list(SUBJECT_SECTIONS)  # a one-line note in the panel's place
    assert not png_sources(found["lateralisation"]) and "<table" not in found["lateralisation"]
    assert "needs the trained hand" in found["lateralisation"] and "--trained-hand left|right" in found["lateralisation"]
    assert "trained_hand" in found["lateralisation"]  # the manifest column of batch and cohort
    assert len(png_sources(html)) == sum(SUBJECT_FIGURES.values()) - 1


def pdf_objects(data: bytes) -> bytes:
    """A PDF's bytes with every Flate stream decompressed after them (weasyprint packs objects in streams)."""
    parts = [data]
    for match in re.finditer(rb"stream\r?\n", data):
        try:
            parts.append(zlib.decompressobj().decompress(data[match.end():]))
        except zlib.error:
            continue
    return b"\n".join(parts)


def test_subject_pdf_is_the_html_page_printed(result, tmp_path):
    pytest.importorskip("weasyprint")
    path = write_subject_report(result, tmp_path, trained_hand="right", format="pdf")
    data = path.read_bytes()
    assert path == tmp_path / "report.pdf" and data.startswith(b"%PDF")
    objects = pdf_objects(data)
    # The page's own headings are the PDF's bookmarks, in page order; every figure is an image in it.
    html = render_html(result, tmp_path / "html")
    titles = [t.decode("latin-1").replace("\\(", "(").replace("\\)", ")")
              for t in re.findall(rb"/Title\s*\(((?:[^()\\]|\\.)*)\)", objects)]
    assert [t for t in titles if t in SECTION_TITLES.values()] == [SECTION_TITLES[k] for k in sections_of(html)
                                                                   if k in SECTION_TITLES]
    assert len(set(re.findall(rb"/Subtype\s*/Image", objects))) and \
        len(re.findall(rb"/Subtype\s*/Image", objects)) >= sum(SUBJECT_FIGURES.values())
    assert len(re.findall(rb"/Type\s*/Page\b", objects)) >= 3


def test_pdf_without_weasyprint_is_a_one_line_error_before_any_work(result, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import weasyprint -> ImportError
    for write in (lambda: write_subject_report(result, tmp_path, format="pdf"),
                  lambda: write_cohort_report(None, pd.DataFrame({"status": ["done"]}), tmp_path, format="pdf")):
        with pytest.raises(SleepSpindlesError) as raised:
            write()
        message = str(raised.value)
        assert "\n" not in message and "'format'" in message and "pip install 'sleepspindles[pdf]'" in message
    assert not list(tmp_path.iterdir())


def test_bad_format_and_hand(result, tmp_path):
    with pytest.raises(ConfigError, match="'format'"):
        write_subject_report(result, tmp_path, format="docx")
    with pytest.raises(ConfigError, match="'trained_hand'"):
        write_subject_report(result, tmp_path, trained_hand="both")
    assert not list(tmp_path.iterdir())


def test_metadata_says_which_segment_of_an_edf_plus_d_file_was_analysed(result, tmp_path):
    # As run.json records an EDF+D file's longest segment kept (load.longest_segment: true).
    info = replace(result.record.recording, segment_offset_seconds=900.0, discarded_seconds=600.0)
    html = render_html(replace(result, record=result.record.with_(recording=info)), tmp_path / "edfd")
    metadata = html[html.index('<section id="metadata">'):]
    assert ("analysed data: the longest continuous segment of the file, 1440 s from 900 s into it (600 s of "
            "recorded data in its other segments discarded); event and stage times count from") in metadata
    assert "longest continuous segment" not in render_html(result, tmp_path / "continuous")


def test_metadata_says_a_value_shared_by_every_channel_once(result, tmp_path):
    from sleepspindles.report.subject import collapsed

    assert "<td>References</td><td>linked-mastoid (all 2 channels)</td>" in render_html(result, tmp_path / "known")
    info = replace(result.record.recording, references=(None, None))  # an EDF that states no reference
    html = render_html(replace(result, record=result.record.with_(recording=info)), tmp_path / "unknown")
    metadata = sections_of(html)["metadata"]
    assert metadata.count("not stated") == 1
    assert "<td>References</td><td>not stated in the file (all 2 channels)</td>" in metadata
    six = ("C3", "C4", "F3", "F4", "O1", "O2")
    assert collapsed((None,) * 6, six, missing="not stated in the file") == "not stated in the file (all 6 channels)"
    assert collapsed(("M2", "M1", "M2", None, "", "M2"), six, missing="not stated") == \
        "M2 (C3, F3, O2); M1 (C4); not stated (F4, O1)"
    assert collapsed(("Cz",), ("C3",)) == "Cz (C3)" and collapsed((), ()) == "none"


def test_unstaged_recording_report(tmp_path):
    night = make_synthetic_night(hypnogram=sleep_hypnogram(10), duration_hours=10 / 60, sf=128.0,
                                 channels=("Cz",), seed=1)
    res = analyse_recording(night.recording.with_hypnogram(None), Config(), staging=False)
    html = write_subject_report(res, tmp_path).read_text(encoding="utf-8")
    assert "none (whole recording searched)" in sections_of(html)["staging"]


def test_order_channels_and_hemisphere():
    assert order_channels(["O1", "C4", "Cz", "C3", "F4", "F3", "EOG1"]) == ["F3", "F4", "C3", "Cz", "C4", "O1", "EOG1"]
    assert [hemisphere(c) for c in ("C3", "C4", "Cz", "FC5", "E1x")] == ["left", "right", "midline", "left",
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
    seg = peak_windows(signal, 10.0, np.array([0.5, 5.0, 9.5]), 1.0)  # only 5.0 s has a whole +/- 1 s window
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
    # one pair (no scalp map: the statistics say why), one night (no baseline), every measure of the night
    assert list(found) == ["overview", "paired", "measures", "gain", "stats", "models", "status"]
    for key in ("paired", "measures", "gain"):
        assert len(png_sources(found[key])) == 1, key
    assert "x.edf: not an EDF file" in found["status"]
    assert "No scalp map or cluster test: 1 pair(s) with positions" in found["stats"]
    stats = lat.stats.query("measure == 'density_n2n3' and band == 'all' and window == 'night'")
    per_night = stats[~stats["test"].isin(["mixedlm", "gee_poisson", "gee_negbin", "steiger", "circular"])]
    assert len(per_night) and found["stats"].count("<tr>") == len(per_night) + 1
    only_status = write_cohort_report(None, status, tmp_path / "b").read_text(encoding="utf-8")
    assert list(sections_of(only_status)) == ["overview", "status"]


# ---------------------------------------------------------------- issue 15: what a reviewer found


def test_channels_of_one_hemisphere_are_told_apart_and_homologues_paired():
    """DREAMS excerpt3's Fp1/C3/O1 were one colour: now a hue per site, shared by the homologue, lighter on the right."""
    channels = ["Fp1", "C3", "O1", "Fp2", "C4", "O2", "Cz"]
    styles = channel_styles(channels)
    colours = [styles[c].colour for c in channels]
    assert len(set(colours)) == len(channels)
    hue = {c: colorsys.rgb_to_hsv(*to_rgb(styles[c].colour))[0] for c in channels}
    for left, right in (("Fp1", "Fp2"), ("C3", "C4"), ("O1", "O2")):
        assert hue[left] == pytest.approx(hue[right], abs=0.02)
        assert styles[left].linestyle != styles[right].linestyle
    assert len({round(hue[c], 2) for c in ("Fp1", "C3", "O1", "Cz")}) == 4
    many = channel_styles([f"{site}{k}" for site in ("F", "FC", "C", "CP", "P", "PO", "AF", "TP") for k in (1, 3, 5)])
    assert len({s.colour for s in many.values()}) == len(many)
    table = pd.DataFrame({c: [1.0, 2.0] for c in channels}, index=[0.0, 1.0])
    lines = F.night_density_figure(table, 60.0, styles).axes[0].get_lines()
    assert len({line.get_color() for line in lines}) == len(channels)


def test_duration_bins_are_whole_quantisation_steps():
    """0.1-s durations (with end - start float noise) in bins of whole steps: no on/off comb."""
    rng = np.random.default_rng(0)
    durations = rng.integers(5, 21, 4000) * 0.1 + 100.0 - 100.0 + rng.normal(0, 1e-12, 4000)
    edges = F.aligned_bins(durations)
    steps = (edges - 0.05) / 0.1
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-6)  # every edge halfway between two steps
    assert len(set(np.round(np.diff(edges), 9))) == 1
    counts = np.histogram(durations, edges)[0]
    assert counts.min() > 0.7 * counts.max()  # uniform steps -> a flat histogram
    comb = np.histogram(durations, np.histogram_bin_edges(durations, 30))[0]
    assert (comb == 0).any()  # what unaligned bins drew
    events = pd.DataFrame({"channel": "C3", "duration": durations, "frequency": 13.0, "amplitude": 50.0})
    axis = F.distributions_figure(events, 13.0, channel_styles(["C3"])).axes[0]
    drawn = np.unique(np.round(np.concatenate([p.get_xy()[:, 0] for p in axis.patches]), 9))
    assert set(drawn) <= set(np.round(edges, 9))


def test_tables_carry_units_and_counts_print_as_integers(result, tmp_path):
    html = html_lib.unescape(write_subject_report(result, tmp_path).read_text(encoding="utf-8"))
    found = sections_of(html)
    n = int(result.summary.query("channel == 'C3' and stage == 'N2+N3' and band == 'all'")["n_spindles"].item())
    assert f"<td class='num'>{n}</td>" in found["density"] and f">{n}.00<" not in html
    for header in ("density N2+N3 (1/min)", "spindles N2+N3"):
        assert f">{header}</th>" in found["density"]
    for header in ("spindles", "minutes (min)", "excluded (min)", "density (1/min)", "duration (s)", "amplitude (uV)",
                   "frequency (Hz)"):
        assert f">{header}</th>" in found["tables"]
    assert ">time (min)</th>" in found["staging"]
    format_ = column_formatter(pd.Series([94.0, 3.0, np.nan]))
    assert [format_(v) for v in (94.0, 3.0, np.nan)] == ["94", "3", "\u2013"]


@pytest.fixture(scope="module")
def unsearched():
    """20 min of wake, N1 and REM: no epoch of the stages searched for spindles (N2, N3)."""
    stages = [Stage.W] * 16 + [Stage.N1] * 8 + [Stage.REM] * 16
    hyp = Hypnogram(np.array([int(s) for s in stages], dtype=np.int8), 30.0, source="scored")
    night = make_synthetic_night(hypnogram=hyp, duration_hours=20 / 60, sf=128.0, channels=("C3", "C4"), seed=7)
    return analyse_recording(night.recording, Config())


def test_recording_without_n2_draws_no_broken_chart_and_says_why(unsearched):
    sections = {s.key: s for s in subject_sections(unsearched, trained_hand="left")}
    assert "no N2/N3 epoch" in sections["staging"].alerts[0]
    for key in ("density", "waveforms", "night", "distributions", "fastslow"):
        assert sections[key].figures == (), key
        assert "Nothing to draw: the recording has no N2/N3 epoch" in sections[key].notes[0], key
    assert sections["lateralisation"].figures == ()
    assert any(note.startswith("Nothing to draw") for note in sections["lateralisation"].notes)
    assert_no_negative_time_or_count([f for s in sections.values() for f in s.figures])


def assert_no_negative_time_or_count(figures) -> None:
    """Axes of time, counts and rates start at 0 or above."""
    for figure in figures:
        for ax in figure.axes:
            for label, limits in ((ax.get_xlabel(), ax.get_xlim()), (ax.get_ylabel(), ax.get_ylim())):
                if any(word in label for word in ("(h)", "Minutes", "/ min", "Spindles", "(1/min)")):
                    assert min(limits) >= 0, (label, limits)


def test_recording_with_n3_but_no_n2_has_sane_charts():
    stages = [Stage.W] * 10 + [Stage.N1] * 10 + [Stage.N3] * 14 + [Stage.REM] * 6
    hyp = Hypnogram(np.array([int(s) for s in stages], dtype=np.int8), 30.0, source="scored")
    night = make_synthetic_night(hypnogram=hyp, duration_hours=20 / 60, sf=128.0, channels=("C3", "C4"), seed=8)
    res = analyse_recording(night.recording, Config())
    sections = {s.key: s for s in subject_sections(res, trained_hand="left")}
    assert any("N2: no N2 time" in note for note in sections["density"].notes)
    assert_no_negative_time_or_count([f for s in sections.values() for f in s.figures])
