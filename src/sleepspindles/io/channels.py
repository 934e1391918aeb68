"""Channel labels: what a PSG label such as ``"EEG C3-A2"`` names, and how to derive channels.

:func:`normalise_channel` turns a label into a :class:`ChannelLabel` (electrode name in canonical
10-20/10-10 capitalisation, recorded reference, kind). :func:`plan_channels` decides, from the
labels of a file, which signals to read and how to combine them into the requested channels and
reference (as recorded, linked mastoids or average); the plan is a list of :class:`Derivation`,
each a weighted sum of file signals, applied with :func:`apply_plan`. No I/O here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import DataError, file_error, param_error

__all__ = [
    "ChannelLabel",
    "Derivation",
    "normalise_channel",
    "plan_channels",
    "apply_plan",
    "homologue",
    "REFERENCES",
]

logger = logging.getLogger(__name__)

#: Re-referencing modes understood by :func:`plan_channels`.
REFERENCES = ("auto", "as-recorded", "linked-mastoid", "average")

#: Mastoid and earlobe electrodes: references, never searched for spindles.
_MASTOIDS = ("M1", "M2", "A1", "A2")
#: The left/right pairs whose mean is the linked-mastoid (or linked-ear) reference.
_MASTOID_PAIRS = (("M1", "M2"), ("A1", "A2"))

# 10-20/10-10 electrode: a site prefix then a number (1-10) or "z" (midline).
# 10-20, 10-10 and 10-5 sites (Oostenveld & Praamstra 2001: "FCC3h", "AFp4h", "NFpz"); longest first.
_ELECTRODE = re.compile(
    r"(NFP|AFP|AFF|FFC|FFT|FCC|FTT|CCP|CPP|TTP|TPP|PPO|POO|OI|FP|AF|FC|FT|CP|TP|PO|F|C|T|P|O|I|N|M|A)"
    r"(Z|10|[1-9])(H?)",
    re.IGNORECASE,
)
_SITE_CASE = {"FP": "Fp", "AFP": "AFp", "NFP": "NFp"}  # every other prefix is all capitals (AF3, FCC1h...)
# Eye-movement electrode names; the value is the canonical spelling.
_EOG_NAMES = {
    "E1": "E1", "E2": "E2", "LOC": "LOC", "ROC": "ROC", "EOG": "EOG",
    "EOG1": "EOG1", "EOG2": "EOG2", "EOGL": "EOGL", "EOGR": "EOGR",
    "EOG(L)": "EOGL", "EOG(R)": "EOGR", "LEOG": "EOGL", "REOG": "EOGR",
}  # fmt: skip
# Reference spellings that are not single electrodes.
_SPECIAL_REFERENCES = {
    "REF": None, "DEVICE": None,
    "AVG": "average", "AV": "average", "AVERAGE": "average", "CAR": "average",
    "LE": "linked-mastoid", "A1A2": "linked-mastoid", "M1M2": "linked-mastoid",
    "A1+A2": "linked-mastoid", "M1+M2": "linked-mastoid", "LM": "linked-mastoid",
}  # fmt: skip
# "EEG ", "EOG_" ... type prefixes that some systems put before the derivation.
_TYPE_PREFIX = re.compile(r"(EEG|EOG|EMG)[\s_]+", re.IGNORECASE)
# One token, or two tokens joined by a derivation separator; nothing else.
_DERIVATION = re.compile(r"([A-Za-z0-9()+]+)(?:\s*[-:/_]\s*([A-Za-z0-9()+]+))?")
_EMG_WORDS = re.compile(r"EMG|CHIN|SUBMENTAL|MENTALIS", re.IGNORECASE)
_EOG_WORDS = re.compile(r"EOG|\bLOC\b|\bROC\b", re.IGNORECASE)
_BARE_EEG = re.compile(r"EEG\s*\d?\s*(\(\w+\))?", re.IGNORECASE)  # SHHS "EEG", "EEG(sec)", "EEG2"


@dataclass(frozen=True)
class ChannelLabel:
    """What a channel label names.

    Parameters
    ----------
    name : str
        Canonical name: the electrode in 10-20/10-10 capitalisation (``"C3"``, ``"Fp1"``,
        ``"Cz"``), the eye electrode for EOG (``"E1"``, ``"LOC"``, ``"EOG1"``), or the cleaned
        label when it names no electrode (``"EMG chin"``, ``"ECG"``).
    reference : str or None
        The reference electrode written in the label (``"M2"``, ``"A1"``, ``"Cz"``),
        ``"linked-mastoid"`` or ``"average"`` for such spellings, ``None`` when the label gives
        none (device reference).
    kind : str
        ``"eeg"`` (searched for spindles), ``"eog"``, ``"emg"``, ``"ref"`` (a mastoid or earlobe
        electrode M1, M2, A1, A2: used for re-referencing only) or ``"other"``.
    label : str
        The label as given.
    """

    name: str
    reference: str | None
    kind: str
    label: str = ""


@dataclass(frozen=True)
class Derivation:
    """One output channel as a weighted sum of file signals.

    Parameters
    ----------
    name : str
        Canonical channel name in the recording.
    kind : str
        ``"eeg"``, ``"eog"`` or ``"emg"``.
    label : str
        The file label of the main signal (``"C3-M2"``).
    reference : str or None
        Reference of the result: as recorded (``"M2"``, ``None``), ``"linked-mastoid"`` or
        ``"average"``.
    terms : tuple of (int, float)
        ``(index of the file signal, weight)`` pairs; the channel is their weighted sum.
    """

    name: str
    kind: str
    label: str
    reference: str | None
    terms: tuple[tuple[int, float], ...]

    @property
    def main(self) -> int:
        """File index of the signal the channel mainly is (largest weight; the first on a tie)."""
        return max(self.terms, key=lambda term: term[1])[0]

    @property
    def reference_terms(self) -> tuple[tuple[int, float], ...]:
        """The terms beside the main signal's unit weight: the channel is ``main + sum(reference_terms)``."""
        main = self.main
        terms = ((i, w - (1.0 if i == main else 0.0)) for i, w in self.terms)
        return tuple((i, w) for i, w in terms if w != 0.0)


def _electrode(token: str) -> str | None:
    """Canonical 10-20/10-10/10-5 spelling of ``token`` (``"FP1"`` -> ``"Fp1"``, ``"fcc3H"`` -> ``"FCC3h"``), or None."""
    match = _ELECTRODE.fullmatch(token)
    if match is None:
        return None
    site, number, half = match.group(1).upper(), match.group(2).lower(), match.group(3).lower()
    if site in ("M", "A") and (number not in ("1", "2") or half):
        return None  # only M1/M2/A1/A2 exist among these
    if site in ("N", "I") and number != "z" and not (site == "I" and number in ("1", "2")):
        return None
    if half and number == "z":
        return None  # half positions lie between two numbered ones, never on the midline
    return _SITE_CASE.get(site, site) + number + half


def _reference(token: str | None) -> str | None:
    """Canonical reference for the second half of a derivation label."""
    if token is None:
        return None
    key = token.upper()
    if key in _SPECIAL_REFERENCES:
        return _SPECIAL_REFERENCES[key]
    return _electrode(token) or _EOG_NAMES.get(key) or token


def normalise_channel(label: str) -> ChannelLabel:
    """Parse a channel label such as ``"EEG C3-A2"``, ``"C3:M2"``, ``"FPZ"`` or ``"E1-M2"``.

    Only labels that are exactly an electrode (optionally with a type prefix and a reference
    after ``-``, ``:``, ``/`` or ``_``) count as EEG: ``"C3 ImpÃ©dance"`` or ``"C3-M2 (Imp)"``
    are impedance channels and come back as ``"other"``.

    Parameters
    ----------
    label : str
        The label as written in the file.

    Returns
    -------
    ChannelLabel
    """
    text = " ".join(str(label).split())
    if not text.isascii():  # mis-decoded accents: impedance and other device channels
        return ChannelLabel(text, None, "other", str(label))
    prefix_match = _TYPE_PREFIX.match(text)
    prefix = prefix_match.group(1).upper() if prefix_match else None
    rest = text[prefix_match.end() :] if prefix_match else text
    match = _DERIVATION.fullmatch(rest)
    if match is not None:
        first, second = match.group(1), match.group(2)
        electrode = _electrode(first)
        if electrode is not None and prefix in (None, "EEG"):
            kind = "ref" if electrode in _MASTOIDS else "eeg"
            return ChannelLabel(electrode, _reference(second), kind, str(label))
        eog = _EOG_NAMES.get(first.upper())
        if eog is not None and prefix in (None, "EOG"):
            return ChannelLabel(eog, _reference(second), "eog", str(label))
        if _EMG_WORDS.search(text) and prefix is None and second is not None:
            return ChannelLabel(first, _reference(second), "emg", str(label))
    if prefix == "EOG" or _EOG_WORDS.search(text):
        return ChannelLabel(text, None, "eog", str(label))
    if _EMG_WORDS.search(text):
        return ChannelLabel(text, None, "emg", str(label))
    if _BARE_EEG.fullmatch(text):
        return ChannelLabel(text, None, "eeg", str(label))
    return ChannelLabel(text, None, "other", str(label))


def _laterality(name: str) -> int:
    """-1 for left-hemisphere electrodes (odd number), +1 for right (even), 0 for midline."""
    digits = re.sub(r"\D", "", name)
    return 0 if not digits else (-1 if int(digits) % 2 else 1)


def homologue(name: str) -> str | None:
    """The mirror electrode of a 10-20/10-10/10-5 name (``C3`` -> ``C4``, ``FCC5h`` -> ``FCC6h``), or None.

    The numbering is odd on the left and even on the right, mirrored pairs differing by one;
    midline (``Cz``) and non-electrode names have none.
    """
    match = _ELECTRODE.fullmatch(name)
    if match is None or match.group(2).lower() == "z" or name in _MASTOIDS:
        return None
    number = int(match.group(2))
    return f"{name[: match.start(2)]}{number + 1 if number % 2 else number - 1}{match.group(3)}"


def _as_recorded_choice(candidates: list[tuple[int, ChannelLabel]]) -> tuple[int, ChannelLabel]:
    """Among signals with one canonical name, prefer a mastoid derivation (contralateral first)."""
    if len(candidates) == 1:
        return candidates[0]

    def rank(item: tuple[int, ChannelLabel]) -> int:
        ref = item[1].reference
        if ref not in _MASTOIDS:
            return 2
        # Contralateral mastoid (C3-M2, C4-M1) is the AASM montage; ipsilateral comes next.
        return 0 if _laterality(ref) != _laterality(item[1].name) else 1

    chosen = min(candidates, key=rank)  # min is stable: ties keep file order
    # Signals with the same name and reference are not told apart by any rule: say which one is used.
    tied = sum(c.reference == chosen[1].reference for _, c in candidates) > 1
    logger.log(logging.WARNING if tied else logging.INFO,
               "channel %s: using %r (signal %d of the file) among %s (as recorded, mastoid derivation preferred%s)",
               chosen[1].name, chosen[1].label, chosen[0] + 1, [c.label for _, c in candidates],
               "; the others with the same name and reference are not analysed" if tied else "")
    return chosen


def _linked_mastoid_terms(
    candidates: list[tuple[int, ChannelLabel]], refs: list[tuple[int, ChannelLabel]]
) -> tuple[tuple[int, float], ...] | None:
    """Weights giving ``X - (Ma + Mb) / 2`` from the signals of electrode X, or None if impossible."""
    referential = {c.name: i for i, c in refs if c.reference is None}
    by_ref = {c.reference: i for i, c in candidates}
    if "linked-mastoid" in by_ref:
        return ((by_ref["linked-mastoid"], 1.0),)
    for left, right in _MASTOID_PAIRS:
        if None in by_ref and left in referential and right in referential:
            return ((by_ref[None], 1.0), (referential[left], -0.5), (referential[right], -0.5))
        if left in by_ref and right in by_ref:
            return ((by_ref[left], 0.5), (by_ref[right], 0.5))
        for near, far in ((left, right), (right, left)):
            if near not in by_ref:
                continue
            # X-near - (far-near)/2 = X - (near+far)/2; the pair may be recorded either way round.
            for i, c in refs:
                if (c.name, c.reference) == (far, near):
                    return ((by_ref[near], 1.0), (i, -0.5))
                if (c.name, c.reference) == (near, far):
                    return ((by_ref[near], 1.0), (i, 0.5))
    return None


def _describe(parsed: Sequence[ChannelLabel]) -> str:
    """``"C3 ('C3', 'C3-M2'), E1 ('E1-M2')"``: the usable channels of a file, for messages."""
    groups: dict[str, list[str]] = {}
    for c in parsed:
        if c.kind in ("eeg", "eog", "emg"):
            groups.setdefault(c.name, []).append(c.label)
    if not groups:
        return "none (labels: " + ", ".join(repr(c.label) for c in parsed) + ")"
    return ", ".join(f"{n} ({', '.join(repr(x) for x in labs)})" for n, labs in groups.items())


def _wanted_eeg(
    parsed: list[ChannelLabel], channels: Sequence[str] | None, source: str | None
) -> dict[str, str | None]:
    """Requested EEG names mapped to a forced file label (asked by full label) or None."""
    eeg_names = list(dict.fromkeys(c.name for c in parsed if c.kind == "eeg"))
    if channels is None or len(channels) == 0:
        return {n: None for n in eeg_names}
    if isinstance(channels, str):
        channels = [channels]
    usable = {c.name for c in parsed if c.kind in ("eeg", "eog", "emg")}
    wanted: dict[str, str | None] = {}
    missing = []
    for asked in channels:
        exact = next((c for c in parsed if c.label == asked and c.kind in ("eeg", "eog", "emg")), None)
        name = exact.name if exact is not None else normalise_channel(asked).name
        if name not in usable:
            missing.append(asked)
        elif name in eeg_names:
            # A full label ("C3-M1") picks that signal; a bare name ("C3") leaves the choice.
            wanted[name] = exact.label if exact is not None and exact.label != name else None
    if missing:
        raise file_error(
            source,
            f"channel(s) {', '.join(repr(m) for m in missing)} not found; channels present: "
            + _describe(parsed),
        )
    return wanted


def plan_channels(
    labels: Sequence[str],
    channels: Sequence[str] | None = None,
    reference: str = "as-recorded",
    source: str | None = None,
) -> tuple[Derivation, ...]:
    """Decide which file signals make each output channel.

    Parameters
    ----------
    labels : sequence of str
        Every signal label of the file, in file order (indices in the plan refer to it).
    channels : sequence of str, optional
        EEG channels to keep, by canonical name (``"C3"``) or exact file label (``"C3-M2"``);
        default every EEG channel. EOG and EMG channels are always kept (for staging), as
        recorded whatever ``reference`` says.
    reference : {"auto", "as-recorded", "linked-mastoid", "average"}
        ``"auto"`` is ``"as-recorded"`` when every kept EEG channel has the same recorded
        reference, else ``"linked-mastoid"`` when it can be computed for all of them (C3-M2 and
        C4-M1 differ by the mastoids alone, so a left/right comparison needs a common one), else
        ``"as-recorded"`` (the references then differ; lateralisation refuses such pairs).
        ``"as-recorded"`` keeps each signal as in the file; when a name occurs more than once
        (Nox files carry referential ``C3`` and bipolar ``C3-M2``) the mastoid derivation wins,
        the contralateral one first. ``"linked-mastoid"`` gives ``X - (M1 + M2) / 2`` (or
        A1/A2) from referential channels, or from mastoid derivations (``X-M1`` with ``X-M2``,
        or ``X-M2`` with an ``M1-M2`` derivation). ``"average"`` subtracts the mean of all EEG
        signals sharing the most common reference (mastoids excluded).
    source : str, optional
        File name, for messages.

    Returns
    -------
    tuple of Derivation
        EEG channels first (file order), then EOG, then EMG.

    Raises
    ------
    ConfigError
        Unknown ``reference``.
    DataError
        A requested channel is absent (the message lists the channels present), the file has
        no EEG channel, or the reference cannot be computed.
    """
    if reference not in REFERENCES:
        raise param_error("reference", f"one of {REFERENCES}", reference)
    parsed = [normalise_channel(lab) for lab in labels]
    wanted = _wanted_eeg(parsed, channels, source)
    if not wanted:
        raise file_error(source, "no EEG channel recognised; channels present: " + _describe(parsed))
    groups: dict[str, list[tuple[int, ChannelLabel]]] = {}
    for i, c in enumerate(parsed):
        if c.kind in ("eeg", "eog", "emg"):
            groups.setdefault(c.name, []).append((i, c))
    refs = [(i, c) for i, c in enumerate(parsed) if c.kind == "ref"]
    if reference == "linked-mastoid":
        eeg = _plan_linked_mastoid(wanted, groups, refs, source)
    elif reference == "average":
        eeg = _plan_average(wanted, groups, source)
    else:
        eeg = _plan_as_recorded(wanted, groups)
        if reference == "auto" and len({d.reference for d in eeg}) > 1:
            eeg = _auto_linked_mastoid(eeg, wanted, groups, refs, source)
    others = []
    for kind in ("eog", "emg"):
        for name, cands in groups.items():
            if cands[0][1].kind == kind:
                i, c = _as_recorded_choice(cands)
                others.append(Derivation(name, kind, c.label, c.reference, ((i, 1.0),)))
    return tuple(eeg) + tuple(others)


def _plan_as_recorded(wanted, groups) -> list[Derivation]:
    """EEG derivations as recorded (a mastoid derivation preferred among a name's signals)."""
    eeg = []
    for name, forced in wanted.items():
        cands = [g for g in groups[name] if forced is None or g[1].label == forced]
        i, c = _as_recorded_choice(cands)
        eeg.append(Derivation(name, "eeg", c.label, c.reference, ((i, 1.0),)))
    return eeg


def _auto_linked_mastoid(as_recorded: list[Derivation], wanted, groups, refs, source) -> list[Derivation]:
    """Linked mastoids for ``reference="auto"`` when the as-recorded references differ, if possible."""
    recorded = ", ".join(f"{d.name} against {d.reference or 'the device reference'}" for d in as_recorded)
    try:
        linked = _plan_linked_mastoid(wanted, groups, refs, source)
    except DataError:
        logger.warning(
            "%s: EEG references differ (%s) and linked mastoids cannot be computed; channels kept as "
            "recorded, and left/right pairs on different references are not lateralised",
            source, recorded,
        )  # fmt: skip
        return as_recorded
    logger.info("%s: EEG references differ (%s); re-referenced to linked mastoids", source, recorded)
    return linked


def _plan_linked_mastoid(wanted, groups, refs, source) -> list[Derivation]:
    """EEG derivations re-referenced to linked mastoids (see :func:`plan_channels`)."""
    out, impossible = [], []
    for name, forced in wanted.items():
        cands = [g for g in groups[name] if forced is None or g[1].label == forced]
        terms = _linked_mastoid_terms(cands, refs)
        if terms is None:
            impossible.append(f"{name} ({', '.join(repr(c.label) for _, c in cands)})")
            continue
        main = next(c for i, c in cands if i == terms[0][0])
        out.append(Derivation(name, "eeg", main.label, "linked-mastoid", terms))
    if impossible:
        raise file_error(
            source,
            "cannot compute a linked-mastoid reference for " + "; ".join(impossible) + ": it needs "
            "referential channels plus both M1 and M2 (or A1 and A2), both X-M1 and X-M2, or X-M2 "
            "with an M1-M2 derivation. Mastoid signals present: "
            + (", ".join(repr(c.label) for _, c in refs) or "none")
            + ". Use reference as-recorded (--reference, load.reference) or choose other channels.",
        )
    return out


def _plan_average(wanted, groups, source) -> list[Derivation]:
    """EEG derivations re-referenced to the average of the EEG signals sharing one reference."""
    by_ref: dict[str | None, dict[str, tuple[int, ChannelLabel]]] = {}
    for name, cands in groups.items():
        for i, c in cands:
            if c.kind == "eeg":
                by_ref.setdefault(c.reference, {}).setdefault(name, (i, c))
    # The largest group sharing one reference; on a tie the device reference (None) first.
    ref = max(by_ref, key=lambda r: (len(by_ref[r]), r is None))
    pool = by_ref[ref]
    absent = [n for n in wanted if n not in pool]
    if len(pool) < 2 or absent:
        raise file_error(
            source,
            "cannot compute an average reference: it needs at least two EEG channels with a "
            f"common reference, including every requested one; the largest such group "
            f"(reference {ref or 'device'}) is {sorted(pool)}"
            + (f" and lacks {absent}" if absent else "")
            + ". Use reference as-recorded (--reference, load.reference).",
        )
    weight = 1.0 / len(pool)
    out = []
    for name in wanted:
        i_main, c = pool[name]
        terms = [(i, (1.0 if i == i_main else 0.0) - weight) for i, _ in pool.values()]
        out.append(Derivation(name, "eeg", c.label, "average", tuple(terms)))
    return out


def apply_plan(data: np.ndarray, rows: Sequence[int], plan: Sequence[Derivation]) -> np.ndarray:
    """Compute the planned channels from loaded signals.

    Parameters
    ----------
    data : numpy.ndarray, shape (n_loaded, n_samples)
        The loaded file signals.
    rows : sequence of int
        File index of each row of ``data``.
    plan : sequence of Derivation
        From :func:`plan_channels`.

    Returns
    -------
    numpy.ndarray, shape (len(plan), n_samples)
        ``data`` itself when every channel is its row of ``data`` unchanged, in order.
    """
    position = {int(r): k for k, r in enumerate(rows)}
    if all(not d.reference_terms for d in plan) and [position[d.main] for d in plan] == list(range(len(data))):
        return data  # every channel is its signal unchanged, in order: nothing to compute or copy
    result = np.empty((len(plan), data.shape[1]), dtype=np.float64)
    # Each channel is its main signal plus a reference part (the negated mastoid mean, the
    # negated average...) that channels share: each distinct part is summed once, term by term
    # in a fixed order. So every sample's value depends on that sample alone, never on the
    # span read (as a BLAS product's could): a night read block by block equals the night read
    # whole, bit for bit. A single-term channel is a plain copy (a NaN elsewhere cannot leak in).
    shared: dict[tuple[tuple[int, float], ...], np.ndarray] = {}
    for out, derivation in enumerate(plan):
        ref = derivation.reference_terms
        if ref and ref not in shared:
            part = np.multiply(data[position[ref[0][0]]], ref[0][1])
            for index, weight in ref[1:]:
                part += data[position[index]] * weight
            shared[ref] = part
        main = data[position[derivation.main]]
        if ref:
            np.add(main, shared[ref], out=result[out])
        else:
            result[out] = main
    return result
