"""The cohort report: every measure, the model table, scalp maps and clusters, reference robustness, status.

Detector-free: the laterality table is simulated (two nights, both hands, a planted
contralateral effect on the learning night at the motor pair) and goes through the real
statistics (:func:`cohort_stats`), cluster test and reference comparison, as ``run_cohort`` does.
"""

from __future__ import annotations

import html as html_lib
import re

import numpy as np
import pandas as pd
import pytest
from _laterality_data import simulated_hemispheres
from test_report import pdf_objects, png_sources, sections_of

from sleepspindles.analysis.laterality import LateralityResult
from sleepspindles.analysis.scalp import scalp_clusters
from sleepspindles.analysis.stats import cohort_stats, reference_robustness, specificity_table
from sleepspindles.config import Config
from sleepspindles.report import cohort_sections, write_cohort_report
from sleepspindles.report.cohort_tables import SMALL_N, correlation_caveat, robustness_table, status_table
from sleepspindles.report.figures_cohort import li_gain_figure

N_SUBJECTS = 8
PAIRS = (("C3/C4", "motor"), ("F3/F4", "control"), ("P3/P4", "control"), ("O1/O2", "control"),
         ("Fp1/Fp2", "scalp"), ("T7/T8", "scalp"))
MEASURES = ("density_n2n3", "density_n2", "sigma_abs")
COHORT_SECTIONS = ["overview", "paired", "measures", "windows", "gain", "stats", "models", "maps", "robustness",
                   "status"]
LONG_ERROR = ("/data/cohort/site-b/night-2/S09.edf: not an EDF/BDF file: the header's first 8 bytes are 'x' "
              "(expected '0       '); the file is truncated or damaged, or it is another format")


def _laterality() -> pd.DataFrame:
    """Two nights x both hands x every pair; phases for the circular test; per-cycle windows of one rate."""
    parts = [simulated_hemispheres(N_SUBJECTS, 30 + k, effect=0.8, asymmetry=0.3, measure=m, pairs=PAIRS,
                                   counts=m != "sigma_abs") for k, m in enumerate(MEASURES)]
    phase = simulated_hemispheres(N_SUBJECTS, 40, measure="coupling_phase", pairs=PAIRS[:4])
    rng = np.random.default_rng(4)
    phase["contra"], phase["ipsi"] = rng.uniform(-60, 0, len(phase)), rng.uniform(-60, 0, len(phase))
    phase["D"], phase["LI"] = phase["contra"] - phase["ipsi"], np.nan
    windows = [simulated_hemispheres(N_SUBJECTS, 50 + k, effect=0.8 if k == 0 else 0.0, measure="spindle_density",
                                     pairs=PAIRS[:1], counts=True).assign(window=f"cycle {k + 1}") for k in range(2)]
    lat = pd.concat([*parts, phase, *windows], ignore_index=True)
    gains = dict(zip(sorted(lat["subject"].unique()), np.linspace(5.0, 40.0, N_SUBJECTS)))
    lat["gain"] = lat["subject"].map(gains)
    return lat


@pytest.fixture(scope="module")
def cohort():
    config = Config().replace("laterality", n_boot=100, n_perm=100, n_cluster_perm=100)
    lat = _laterality()
    stats = cohort_stats(lat, config)
    result = LateralityResult(lat, stats, specificity_table(stats), ("subject 'S03': a note",),
                              scalp_clusters(lat, config))
    flipped = stats.copy()  # a second reference under which the F3/F4 post-night difference has the other sign
    row = (flipped["pair"] == "F3/F4") & (flipped["night"] == "post") & (flipped["measure"] == "density_n2n3")
    flipped.loc[row, ["estimate", "ci_low", "ci_high"]] = -flipped.loc[row, ["estimate", "ci_high", "ci_low"]].to_numpy()
    robustness = reference_robustness({"as-recorded": stats, "average": flipped})
    return result, robustness, config


@pytest.fixture(scope="module")
def status():
    return pd.DataFrame({
        "row": [1, 2, 3], "subject": ["S00", "S01", "S09"], "night": ["post"] * 3,
        "recording": ["S00.edf", "S01.edf", "S09.edf"], "status": ["done", "skipped", "failed"],
        "n_spindles": [940, 1012, -1], "n_so": [2100, 1990, -1], "seconds": [31.25, 0.02, 0.4],
        "error": ["", "", LONG_ERROR], "out_dir": ["/o/S00_post", "/o/S01_post", "/o/S09_post"],
        "dropped_channels": ["", "", ""]})


@pytest.fixture(scope="module")
def page(cohort, status, tmp_path_factory):
    result, robustness, config = cohort
    path = write_cohort_report(result, status, tmp_path_factory.mktemp("cohort"), robustness=robustness,
                               config=config)
    return sections_of(path.read_text(encoding="utf-8"))


def test_every_part_of_the_cohort_is_shown(page):
    assert list(page) == COHORT_SECTIONS
    figures = {"paired": 1, "measures": 1, "windows": 1, "gain": 1, "stats": 0, "models": 0, "maps": 1,
               "robustness": 0, "status": 0}
    assert {key: len(png_sources(page[key])) for key in figures} == figures
    # "skipped" reads "reused" everywhere, facts included
    assert '<div class="k">Reused</div>' in page["overview"] and "Skipped" not in page["overview"]


def test_every_measure_panel_names_its_measure_and_test(cohort):
    result, _, config = cohort
    section = next(s for s in cohort_sections(result, pd.DataFrame(), config=config) if s.key == "measures")
    (figure,) = section.figures
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert len(titles) == len(MEASURES) + 1  # + the phase
    assert any(t.startswith("spindle density, N2+N3 (1/min)\nC-I ") for t in titles)
    assert any(t.startswith("coupling phase (deg)") for t in titles)  # a circular difference, not two means
    motor = result.stats.query("pair == 'C3/C4' and night == 'post' and measure == 'density_n2' and band == 'all' "
                               "and window == 'night' and test == 'paired_t'").iloc[0]
    assert any(f"p = {motor['p_value']:.2g}" in t for t in titles if t.startswith("spindle density, N2 "))


def test_every_measure_panel_says_its_p_is_uncorrected_and_gives_the_fdr_p(cohort):
    """A panel's bare p is uncorrected: it is labelled so, with cohort_stats.csv's p_fdr beside it."""
    result, _, config = cohort
    section = next(s for s in cohort_sections(result, pd.DataFrame(), config=config) if s.key == "measures")
    titles = [ax.get_title() for ax in section.figures[0].axes if ax.get_title()]
    motor = result.stats.query("pair == 'C3/C4' and night == 'post' and band == 'all' and window == 'night' "
                               "and test == 'paired_t' and measure == 'density_n2'").iloc[0]
    assert motor["p_fdr"] != motor["p_value"]
    (title,) = [t for t in titles if t.startswith("spindle density, N2 ")]
    assert f"uncorr. p = {motor['p_value']:.2g} (FDR {motor['p_fdr']:.2g})" in title
    assert all("uncorr. p = " in t and "(FDR " in t for t in titles)
    assert "uncorrected" in section.text and "p_fdr" in section.text


def test_li_gain_figure_names_its_night_and_measure_and_flags_a_small_n():
    fig = li_gain_figure(np.linspace(-0.2, 0.2, 8), np.linspace(0, 30, 8) + [0, 3, -2, 1, 0, -3, 2, 1], pair="C3/C4",
                         measure="spindle density, N2+N3", night="post")
    title = fig.texts[0].get_text()
    assert "spindle density, N2+N3" in title and "night post" in title and "n = 8" in title
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(f"n = 8 < {SMALL_N}: exploratory" in t for t in legend)
    big = li_gain_figure(np.linspace(-0.2, 0.2, 30), np.linspace(0, 30, 30), pair="C3/C4", measure="m", night="n")
    assert not any("exploratory" in t.get_text() for t in big.axes[0].get_legend().get_texts())


def test_small_control_pair_correlations_carry_a_caveat(page, cohort):
    text = html_lib.unescape(page["stats"])
    rows = re.findall(r"<tr>(.*?)</tr>", text, flags=re.DOTALL)
    control_pearson = [r for r in rows if ">F3/F4<" in r and ">pearson<" in r]
    assert control_pearson and all(f"n = {N_SUBJECTS} < {SMALL_N}: exploratory" in r for r in control_pearson)
    assert "significant" not in text.lower()
    assert correlation_caveat("pearson", 25, 0.4, 0.1, 0.6) == ""  # enough subjects
    assert correlation_caveat("paired_t", 8, 0.4, 0.1, 0.6) == ""  # not a correlation
    assert correlation_caveat("pearson", 8, np.nan, np.nan, np.nan) == ""  # nothing computed


def test_model_table_holds_every_model_term_of_the_motor_pair(page, cohort):
    result = cohort[0]
    text = html_lib.unescape(page["models"])
    models = result.stats.query("pair == 'C3/C4' and band == 'all' and window == 'night' "
                                "and test in ['mixedlm', 'gee_poisson', 'gee_negbin']")
    assert {"mixedlm", "gee_poisson"} <= set(models["test"])
    for term in models["variable"].unique():
        assert f">{term}</th>" in text
    row = models.query("test == 'mixedlm' and measure == 'density_n2n3' and variable == 'contra-ipsi:post'").iloc[0]
    cell = (f"{row['estimate']:.3g}\u00a0[{row['ci_low']:.3g},\u00a0{row['ci_high']:.3g}], "
            f"p\u00a0=\u00a0{row['p_value']:.2g}")
    assert cell in text
    steiger = result.stats.query("pair == 'C3/C4' and band == 'all' and window == 'night' and test == 'steiger'")
    assert ">steiger<" in text and ">circular<" in text and len(steiger)


def test_scalp_maps_and_the_cluster_table(page, cohort):
    result, _, config = cohort
    section = next(s for s in cohort_sections(result, pd.DataFrame(), config=config) if s.key == "maps")
    (figure,) = section.figures
    maps = [ax for ax in figure.axes if ax.get_title()]
    assert maps[0].get_title() == "spindle density, N2+N3 (1/min)"  # the main measure first
    night = "post-baseline"  # the change from the baseline night, when there is one
    assert f"Night {night}" in section.text
    (_, table), = section.tables
    assert len(table) == (result.clusters["night"] == night).sum()


def test_reference_panel_highlights_the_rows_that_change_sign(page, cohort):
    _, robustness, _ = cohort
    table, marked = robustness_table(robustness)
    flipped = table.loc[marked]
    assert len(flipped) >= 1 and set(flipped["pair"]) == {"F3/F4"}
    assert {"as-recorded", "average"} <= set(table.columns)
    assert page["robustness"].count("<tr class='flag'>") == int(marked.sum())
    assert "spindle density, N2+N3 changes sign with the reference at F3/F4" in html_lib.unescape(page["robustness"])


def test_status_says_reused_shows_no_negative_count_and_the_whole_error(page, status):
    table = status_table(status)
    assert table["status"].tolist() == ["done", "reused", "failed"]
    assert table["spindles"].isna().tolist() == [False, False, True]
    text = html_lib.unescape(page["status"])
    assert ">-1<" not in text and ">reused<" in text and ">skipped<" not in text
    assert f"<td class='txt long'>{LONG_ERROR}</td>" in text  # whole, in a cell that wraps
    assert "<th class='num'>time (s)</th>" in text and ">940<" in text and ">940.00<" not in text


def test_batch_report_and_the_old_call_still_work(cohort, status, tmp_path):
    result = cohort[0]
    old = write_cohort_report(result, status, tmp_path / "a").read_text(encoding="utf-8")  # no robustness, no config
    assert list(sections_of(old)) == [k for k in COHORT_SECTIONS if k != "robustness"]
    batch = write_cohort_report(None, status, tmp_path / "b", title="Batch report").read_text(encoding="utf-8")
    assert list(sections_of(batch)) == ["overview", "status"] and "Batch report" in batch


def test_cohort_pdf_is_the_page_printed(cohort, status, tmp_path):
    pytest.importorskip("weasyprint")
    result, robustness, config = cohort
    path = write_cohort_report(result, status, tmp_path, robustness=robustness, config=config, format="pdf")
    objects = pdf_objects(path.read_bytes())
    assert path.name == "cohort_report.pdf" and objects.startswith(b"%PDF")
    for title in (b"Contralateral vs ipsilateral", b"Models of the asymmetry", b"Reference robustness", b"Recordings"):
        assert b"/Title (" + title + b")" in objects
    assert len(re.findall(rb"/Subtype\s*/Image", objects)) >= 5


def _windows_cohort(effect: float, seed: int = 63, n: int = N_SUBJECTS) -> LateralityResult:
    """A cohort of the motor pair: the main measure over the night, spindle density per cycle (``effect`` in cycle 1)."""
    night = simulated_hemispheres(n, seed, effect=effect, measure="density_n2n3", counts=True)
    windows = [simulated_hemispheres(n, seed + 1 + k, effect=effect if k == 0 else 0.0,
                                     measure="spindle_density", counts=True).assign(window=f"cycle {k + 1}")
               for k in range(2)]
    lat = pd.concat([night, *windows], ignore_index=True)
    stats = cohort_stats(lat, Config().replace("laterality", n_boot=100, n_perm=100))
    return LateralityResult(lat, stats, specificity_table(stats), (), pd.DataFrame())


def _window_rows(estimates, p_fdr, measure="spindle_density"):
    """paired_t C-I rows of the motor pair per window, as cohort_stats.csv holds them."""
    k = len(estimates)
    return pd.DataFrame({"night": ["post"] * k, "pair": ["C3/C4"] * k, "measure": [measure] * k, "band": ["all"] * k,
                         "window": [f"cycle {i + 1}" for i in range(k)], "test": ["paired_t"] * k,
                         "variable": ["C-I"] * k, "n": [8] * k, "estimate": estimates,
                         "ci_low": [e - 0.3 for e in estimates], "ci_high": [e + 0.3 for e in estimates],
                         "p_value": [p / 2 for p in p_fdr], "p_fdr": p_fdr})


def test_windows_text_says_what_the_numbers_show():
    from sleepspindles.report.cohort_tables import windows_summary

    null = windows_summary(_window_rows([0.05, -0.12, 0.02], [0.7, 0.4, 0.9]))
    assert null.startswith("No window of any measure differs from 0.")
    assert "spindle density (1/min): no window differs from 0 (largest |C-I|, in cycle 2: -0.12" in null
    assert "p (FDR) = 0.4" in null and "effect" not in null
    planted = windows_summary(pd.concat([_window_rows([0.9, 0.1], [0.002, 0.6]),
                                         _window_rows([0.2, 0.1], [0.3, 0.5], measure="so_density")]))
    assert not planted.startswith("No window")
    assert "spindle density (1/min): 1 of 2 windows differ from 0; the largest |C-I| is in cycle 1: 0.9" in planted
    assert "p = 0.001, p (FDR) = 0.002" in planted
    assert "SO density (1/min): no window differs from 0" in planted  # each measure in its own unit


@pytest.mark.parametrize("effect", [0.0, 0.8])
def test_windows_section_asserts_no_effect_the_numbers_do_not_show(effect):
    result = _windows_cohort(effect)
    (section,) = [s for s in cohort_sections(result, pd.DataFrame()) if s.key == "windows"]
    assert "lives early" not in section.text and len(section.figures) == 1
    rows = result.stats.query("test == 'paired_t' and variable == 'C-I' and band == 'all' and window != 'night' "
                              "and night != 'baseline'")  # the learning night and its change from baseline
    differs = (rows["p_fdr"] < 0.05).any()
    assert differs == bool(effect)  # the planted effect is found, the null is not
    assert ("No window of any measure differs from 0" in section.text) == (not differs)
    top = rows.loc[rows["estimate"].abs().idxmax()]
    named = f"{top['window']} (night {top['night']}): {top['estimate']:.3g}\u00a0[{top['ci_low']:.3g},"
    assert named in section.text and f"p (FDR) = {top['p_fdr']:.2g}" in section.text
    assert ("2 of 4 windows differ from 0" in section.text) == differs  # cycle 1 of both nights, not cycle 2


def test_windows_of_too_few_subjects_say_no_window_could_be_tested_and_draw_no_empty_axes():
    """Two subjects: no window has a test, so neither "no window differs" nor a figure of empty axes."""
    result = _windows_cohort(0.8, n=2)
    rows = result.stats.query("test == 'paired_t' and window != 'night'")
    assert len(rows) and rows["estimate"].isna().all()  # the real statistics refused every window
    (section,) = [s for s in cohort_sections(result, pd.DataFrame()) if s.key == "windows"]
    assert section.figures == ()
    assert "No window of any measure could be tested even in the window with the most subjects: only 2 subject(s)" \
        in section.text
    assert "differs from 0." not in section.text and "no test (too few subjects)" not in section.text


def test_every_measure_titles_fit_their_panels():
    """Five panels a row: each title (measure, C-I [interval], p) stays inside the figure and off its neighbours."""
    from sleepspindles.report.figures_cohort import measures_figure

    measures = ("density_n2", "density_n2n3", "sigma_abs", "sigma_rel", "coupling_ppc")
    rng = np.random.default_rng(0)
    lat = pd.DataFrame([{"subject": f"S{s}", "measure": m, "trained_hand": "right", "contra": rng.normal(2, 0.1),
                         "ipsi": rng.normal(1.5, 0.1)} for m in measures for s in range(6)])
    stats = pd.DataFrame({"measure": measures, "test": "paired_t", "estimate": -0.0748, "ci_low": -0.133,
                          "ci_high": -0.00797, "p_value": 0.0059, "p_fdr": 0.0177})
    fig = measures_figure(lat, stats, "post", "C3/C4")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert len(axes) == len(measures)
    boxes = [ax.title.get_window_extent(renderer) for ax in axes]
    for k, box in enumerate(boxes):
        assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1, axes[k].get_title()
        assert not any(box.overlaps(other) for j, other in enumerate(boxes) if j != k)
        assert not any(box.overlaps(t.get_window_extent(renderer)) for t in (*fig.texts, *fig.legends))
    assert all("uncorr. p = 0.0059 (FDR 0.018)" in ax.get_title() for ax in axes)
