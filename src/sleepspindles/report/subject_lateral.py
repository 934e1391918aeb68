"""The lateralisation section of a subject report: contralateral vs ipsilateral per pair for one night."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..analysis.measures import NIGHT
from ..schema import SIGMA, SPINDLE_SUMMARY
from .figures import lateralisation_figure
from .render import Section
from .tables import MAIN_MEASURE, NOT_STAGED, measure_label

__all__ = ["PLOTTED_MEASURE", "lateral_section"]

#: The measure drawn (every whole-night measure is in the table below it).
PLOTTED_MEASURE = MAIN_MEASURE


def lateral_section(result, trained_hand: str, subject: str = "", night: str = "") -> Section:
    """Contra vs ipsi per pair, D and LI of every whole-night measure, for this recording's night.

    Parameters
    ----------
    result : sleepspindles.pipeline.RecordingResult
    trained_hand : {"left", "right"}
    subject, night : str
        Named in the title (empty: "this recording").
    """
    from ..analysis.laterality import night_from_tables, night_laterality
    from ..hypnogram import Stage

    which = " / ".join(p for p in (subject, night) if p) or "this recording"
    title = f"Lateralisation (trained hand: {trained_hand})"
    if result.hypnogram is None:
        return Section("lateralisation", title, NOT_STAGED)
    others = {name: frame for name, frame in result.tables.items() if name not in (SPINDLE_SUMMARY.name, SIGMA.name)}
    night_in = night_from_tables(result.summary, result.sigma, result.hypnogram.minutes(Stage.N2),
                                 subject=subject or "subject", night=night or "night", trained_hand=trained_hand,
                                 tables=others)
    table, problems = night_laterality(night_in, result.config)
    who = f"subject {night_in.subject!r} night {night_in.night!r}: "  # the analysis' prefix, redundant here
    notes = tuple(p.removeprefix(who) for p in problems)
    text = (f"{which}: contralateral = the hemisphere opposite the trained hand ({trained_hand}); D = contra - ipsi, "
            "LI = (contra - ipsi) / (contra + ipsi), LI > 0 means contralateral larger.")
    if not len(table):
        return Section("lateralisation", title, text, notes=notes)
    whole = table[(table["band"] == "all") & (table["window"] == NIGHT)]
    main = whole[whole["measure"] == PLOTTED_MEASURE].rename(columns={"LI": "li"})
    drawable = np.isfinite(main[["contra", "ipsi"]].to_numpy(float)).all(axis=1)
    figures = ()
    if drawable.any():
        figures = (lateralisation_figure(main[["pair", "contra", "ipsi", "li"]], measure_label(PLOTTED_MEASURE),
                                         f"Lateralisation of {measure_label(PLOTTED_MEASURE, unit=False)} "
                                         f"({PLOTTED_MEASURE}), {which}"),)
    else:
        notes += (f"Nothing to draw: no pair has a value of {PLOTTED_MEASURE} on both sides.",)
    shown = pd.DataFrame({
        "pair": whole["pair"], "contra": whole["contra_channel"], "ipsi": whole["ipsi_channel"],
        "measure (unit)": [measure_label(m) for m in whole["measure"]],
        "contra value": whole["contra"], "ipsi value": whole["ipsi"], "D": whole["D"], "LI": whole["LI"],
    })
    return Section("lateralisation", title, text, figures=figures,
                   tables=(("Every whole-night measure, all spindles (values in the measure's unit)", shown),),
                   notes=notes)
