"""Sleep-stage vocabularies and numeric code schemes of scored hypnograms.

The labels of Rechtschaffen & Kales and AASM (``W``, ``N1``... ``S4``, ``REM``, ``?``, ``MT``),
the numeric code tables (AASM/YASA integers, R&K with NSRR's 6 and 9, DREAMS, NSRR
``EventConcept`` codes), the parsing of EDF+ stage annotations and of text labels, and the
decision of what bare numeric codes in a text hypnogram mean (an error when it is ambiguous).
The readers of :mod:`sleepspindles.io.hypnogram` use them.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ..errors import file_error
from ..hypnogram import Stage

__all__ = ["SCHEMES", "RK_LABELS", "DREAMS_CODES", "NSRR_CODES", "annotation_label", "stage_code",
           "parse_label", "describe_codes", "numeric_codes"]

logger = logging.getLogger(__name__)

# Numeric codes of Rechtschaffen & Kales (Sleep-EDF "Sleep stage 4", NSRR "Stage 4 sleep|4"):
# stages 3 and 4 are both N3 and 5 is REM.
_RK_CODES = {"0": Stage.W, "1": Stage.N1, "2": Stage.N2, "3": Stage.N3, "4": Stage.N3, "5": Stage.REM}
# Stage names after "Sleep stage " / "Stage " prefixes are removed, upper-cased, spaces dropped.
# Digits here are R&K stages (4 = stage 4 = N3), as in Sleep-EDF annotations.
RK_LABELS: dict[str, Stage] = {
    "W": Stage.W, "WAKE": Stage.W, "N1": Stage.N1, "S1": Stage.N1, "N2": Stage.N2, "S2": Stage.N2,
    "N3": Stage.N3, "N4": Stage.N3, "S3": Stage.N3, "S4": Stage.N3, "SWS": Stage.N3,
    "R": Stage.REM, "REM": Stage.REM,
    "?": Stage.UNSCORED, "UNSCORED": Stage.UNSCORED, "UNS": Stage.UNSCORED, "U": Stage.UNSCORED,
    "MOVEMENTTIME": Stage.ARTEFACT, "MOVEMENT": Stage.ARTEFACT, "MT": Stage.ARTEFACT,
    "M": Stage.ARTEFACT, "ART": Stage.ARTEFACT, "ARTEFACT": Stage.ARTEFACT,
    "ARTIFACT": Stage.ARTEFACT,
    **_RK_CODES,
}  # fmt: skip

#: Numeric stage-code schemes of text hypnograms (``None``: decided from the file when it can be).
SCHEMES = (None, "aasm", "rk")
# "aasm" is YASA's integers (4 = REM); "rk" adds NSRR's 6 (movement) and 9 (unscored).
_SCHEME_CODES: dict[str, dict[str, Stage]] = {
    "aasm": {"0": Stage.W, "1": Stage.N1, "2": Stage.N2, "3": Stage.N3, "4": Stage.REM,
             "-1": Stage.ARTEFACT, "-2": Stage.UNSCORED},
    "rk": {**_RK_CODES, "6": Stage.ARTEFACT, "9": Stage.UNSCORED},
}  # fmt: skip
_SCHEME_NAMES = {"aasm": "AASM/YASA", "rk": "Rechtschaffen & Kales"}
_RK_ONLY_CODES = frozenset(_SCHEME_CODES["rk"]) - frozenset(_SCHEME_CODES["aasm"])
_AMBIGUOUS = (
    "numeric stage codes 0-4 without a 5 are ambiguous: 4 is REM in AASM/YASA numbering and "
    "stage 4 (N3) in Rechtschaffen & Kales; pass hypnogram_scheme='aasm' or 'rk' (config "
    "load.hypnogram_scheme, CLI --hypnogram-scheme)"
)
DREAMS_CODES = {5: Stage.W, 4: Stage.REM, 3: Stage.N1, 2: Stage.N2, 1: Stage.N3, 0: Stage.N3,
                 -1: Stage.UNSCORED, -2: Stage.ARTEFACT}  # fmt: skip
# NSRR EventConcept codes after the "|" are R&K's.
NSRR_CODES = _SCHEME_CODES["rk"]
# "Sleep stage N2", "Sleep stage: 4", "sleep_stage_?"; not "Sleep stages ..." (a letter follows).
_STAGE_ANNOTATION = re.compile(r"\s*sleep[\s_]*stage(?![a-z])[\s:_-]*(.*?)\s*", re.IGNORECASE)
_MOVEMENT_ANNOTATION = re.compile(r"\s*movement(\s+time)?\s*", re.IGNORECASE)
_LABEL_PREFIX = re.compile(r"^(SLEEP\s*STAGE|STAGE)[\s_:]*", re.IGNORECASE)
_CODE = re.compile(r"([+-]?[0-9]+)(?:\.0*)?")  # "2", "-1", "2.0" (a float column written by pandas)


def annotation_label(description: str) -> str | None:
    """The stage label of an EDF+ stage annotation (``"N2"``, ``"4"``, ``"?"``); None for others."""
    if _MOVEMENT_ANNOTATION.fullmatch(description):
        return "MOVEMENT"
    match = _STAGE_ANNOTATION.fullmatch(description)
    return None if match is None else match.group(1).upper().replace(" ", "")


def stage_code(value: str) -> str | None:
    """The integer a bare numeric stage code stands for (``"2.0"`` -> ``"2"``), or None."""
    match = _CODE.fullmatch(value.strip())
    return None if match is None else str(int(match.group(1)))


def parse_label(value: str, numeric: dict[str, Stage]) -> Stage | None:
    code = stage_code(value)
    if code is not None:
        return numeric.get(code)
    # "Stage 4" / "Sleep stage 4" are R&K labels (AASM has no stage 4), not bare codes.
    return RK_LABELS.get(_LABEL_PREFIX.sub("", value.strip()).upper().replace(" ", ""))


def describe_codes(table: dict[str, Stage]) -> str:
    return ", ".join(f"{code} {stage.name}" for code, stage in table.items())


def numeric_codes(values: list[str], scheme: str | None, path: Path) -> dict[str, Stage]:
    """The code table for the bare numbers among ``values``: ``scheme``'s, or decided from them."""
    codes = {c for c in map(stage_code, values) if c is not None}
    if scheme is None:
        if codes & _RK_ONLY_CODES:
            logger.info("%s: numeric stage code(s) %s present: reading codes as R&K (4 = N3, 5 = REM)",
                        path, ", ".join(sorted(codes & _RK_ONLY_CODES)))  # fmt: skip
            return _SCHEME_CODES["rk"]
        if "4" in codes:
            raise file_error(path, _AMBIGUOUS)
        return _SCHEME_CODES["aasm"]  # codes 0-3 mean the same in both schemes
    table = _SCHEME_CODES[scheme]
    foreign = sorted(codes - set(table), key=int)
    if foreign:
        other = next(s for s in _SCHEME_CODES if s != scheme)
        hint = (f"; is it {_SCHEME_NAMES[other]} numbering (hypnogram_scheme={other!r})?"
                if set(foreign) <= set(_SCHEME_CODES[other]) else "")  # fmt: skip
        raise file_error(
            path, f"hypnogram_scheme={scheme!r} but the file has numeric stage code(s) "
            f"{', '.join(foreign)}, which {_SCHEME_NAMES[scheme]} numbering ({describe_codes(table)}) "
            f"does not have{hint}"
        )  # fmt: skip
    return table
