"""Channel-label parsing and the re-referencing plan (pure functions, no files)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from sleepspindles.errors import ConfigError, DataError
from sleepspindles.io.channels import apply_plan, homologue, normalise_channel, plan_channels


@pytest.mark.parametrize(
    ("label", "name", "reference"),
    [
        ("EEG C3-A2", "C3", "A2"),
        ("C3-M2", "C3", "M2"),
        ("C3:A2", "C3", "A2"),
        ("C3", "C3", None),
        ("EEG Fpz-Cz", "Fpz", "Cz"),
        ("FP1", "Fp1", None),
        ("CZ", "Cz", None),
        ("FPZ", "Fpz", None),
        ("CZ-A1", "Cz", "A1"),
        ("EEG C3-REF", "C3", None),
        ("c4 - m1", "C4", "M1"),
        ("Pz-Oz", "Pz", "Oz"),
        ("FP1-A1", "Fp1", "A1"),
        ("C3-AVG", "C3", "average"),
        ("C3-A1A2", "C3", "linked-mastoid"),
    ],
)
def test_eeg_labels(label, name, reference):
    parsed = normalise_channel(label)
    assert (parsed.name, parsed.reference, parsed.kind) == (name, reference, "eeg")
    assert parsed.label == label


@pytest.mark.parametrize(
    ("label", "name", "reference"),
    [
        ("EOG", "EOG", None),
        ("E1", "E1", None),
        ("E2", "E2", None),
        ("LOC", "LOC", None),
        ("ROC-A1", "ROC", "A1"),
        ("EOG horizontal", "EOG horizontal", None),
        ("E1-M2", "E1", "M2"),
        ("EOG1-A1", "EOG1", "A1"),
        ("EOG E2-M1", "E2", "M1"),
    ],
)
def test_eog_labels(label, name, reference):
    parsed = normalise_channel(label)
    assert (parsed.name, parsed.reference, parsed.kind) == (name, reference, "eog")


@pytest.mark.parametrize("label", ["EMG", "chin", "EMG submental", "EMG1", "Chin1-Chin2", "EMG chin"])
def test_emg_labels(label):
    assert normalise_channel(label).kind == "emg"


@pytest.mark.parametrize("label", ["M1", "M2", "A1", "A2", "EEG A1"])
def test_mastoids_are_references_not_eeg(label):
    assert normalise_channel(label).kind == "ref"


@pytest.mark.parametrize(
    "label",
    [
        "ECG", "Resp", "SpO2", "SAO2", "Audio Volume dB", "C3 ImpÃ©dance", "C3-M2 (Imp)",
        "C3 Impedance", "M1M2", "1-F", "F", "Left Leg", "Heart Rate", "PR", "POS", "X Axis",
    ],
)  # fmt: skip
def test_other_labels_are_not_eeg(label):
    parsed = normalise_channel(label)
    assert parsed.kind == "other"
    assert parsed.name != "C3"


@pytest.mark.parametrize(
    "label, name, mirror",
    [("EEG FCC3h", "FCC3h", "FCC4h"), ("afp4H", "AFp4h", "AFp3h"), ("TPP9h-M2", "TPP9h", "TPP10h"),
     ("POO10h", "POO10h", "POO9h"), ("NFpz", "NFpz", None), ("I1", "I1", "I2"), ("FT10", "FT10", "FT9")],
)  # fmt: skip
def test_ten_five_names_are_eeg_with_their_mirror(label, name, mirror):
    # High-density montages name the 10-5 half positions ("FCC3h", between FC3 and C3).
    parsed = normalise_channel(label)
    assert (parsed.kind, parsed.name, homologue(parsed.name)) == ("eeg", name, mirror)


@pytest.mark.parametrize("label", ["Czh", "M1h", "N1", "FCCz9"])
def test_impossible_ten_five_names_are_not_eeg(label):
    assert normalise_channel(label).kind != "eeg"


def test_shared_reference_part_is_summed_once_and_exactly():
    # Average reference over 5 signals: every channel is its signal minus the same mean; each
    # value depends on its own sample only, so any span gives the same bits.
    labels = ["C3", "C4", "O1", "O2", "Fz"]
    plan = plan_channels(labels, reference="average")
    data = np.random.default_rng(1).normal(0, 30, (5, 1001))
    whole = apply_plan(data, range(5), plan)
    np.testing.assert_allclose(whole, data - data.mean(axis=0), atol=1e-12)
    for a, b in [(0, 7), (3, 999), (500, 1001)]:
        np.testing.assert_array_equal(apply_plan(data[:, a:b], range(5), plan), whole[:, a:b])


# A Nox-like montage: referential channels, their device derivations, mastoids, impedances.
NOX = ["C3", "C3 ImpÃ©dance", "C3-M2", "C4", "C4-M1", "E1", "E1-M2", "M1", "M2", "ECG"]


def test_as_recorded_prefers_the_mastoid_derivation():
    plan = plan_channels(NOX)
    assert [(d.name, d.label, d.reference, d.kind) for d in plan] == [
        ("C3", "C3-M2", "M2", "eeg"),
        ("C4", "C4-M1", "M1", "eeg"),
        ("E1", "E1-M2", "M2", "eog"),
    ]
    assert plan[0].terms == ((NOX.index("C3-M2"), 1.0),)


def test_as_recorded_exact_label_forces_that_signal():
    plan = plan_channels(NOX, channels=["C3"])
    assert plan[0].label == "C3-M2"
    plan = plan_channels(NOX + ["C3-M1"], channels=["C3-M1"])
    assert (plan[0].label, plan[0].reference) == ("C3-M1", "M1")


def test_contralateral_mastoid_wins_over_ipsilateral():
    plan = plan_channels(["C3-M1", "C3-M2"])
    assert plan[0].label == "C3-M2"


def test_linked_mastoid_from_referential_channels():
    plan = plan_channels(NOX, channels=["C3", "C4"], reference="linked-mastoid")
    c3 = plan[0]
    assert c3.reference == "linked-mastoid"
    assert dict(c3.terms) == {NOX.index("C3"): 1.0, NOX.index("M1"): -0.5, NOX.index("M2"): -0.5}
    # Numerically: X - (M1 + M2) / 2.
    rng = np.random.default_rng(0)
    data = rng.normal(size=(len(NOX), 50))
    out = apply_plan(data, range(len(NOX)), plan)
    want = data[NOX.index("C3")] - (data[NOX.index("M1")] + data[NOX.index("M2")]) / 2
    np.testing.assert_allclose(out[0], want)


@pytest.mark.parametrize(
    "labels",
    [
        ["C3-M1", "C3-M2"],  # both derivations: their mean
        ["C3-M2", "M1-M2"],  # one derivation plus the mastoid pair
        ["C3-M2", "M2-M1"],  # the pair recorded the other way round
        ["C3-A2", "A1-A2"],  # earlobes
    ],
)
def test_linked_mastoid_from_derivations(labels):
    rng = np.random.default_rng(1)
    x, m1, m2 = rng.normal(size=(3, 40))
    values = {"C3": x, "M1": m1, "M2": m2, "A1": m1, "A2": m2}
    data = []
    for lab in labels:
        a, b = lab.split("-")
        data.append(values[a] - values[b])
    plan = plan_channels(labels, reference="linked-mastoid")
    assert [d.name for d in plan] == ["C3"]
    out = apply_plan(np.array(data), range(len(labels)), plan)
    np.testing.assert_allclose(out[0], x - (m1 + m2) / 2)


def test_linked_mastoid_impossible_is_a_clear_error():
    with pytest.raises(DataError, match=r"cannot compute a linked-mastoid reference for C3 \('C3-A1'\)"):
        plan_channels(["C3-A1", "O1-A1", "ECG"], ["C3"], "linked-mastoid", source="x.edf")


def test_average_reference_uses_all_referential_eeg():
    labels = ["C3", "C4", "O1", "C3-M2", "M1", "M2"]
    plan = plan_channels(labels, channels=["C3"], reference="average")
    assert plan[0].reference == "average"
    data = np.arange(len(labels) * 4, dtype=float).reshape(len(labels), 4) ** 2
    out = apply_plan(data, range(len(labels)), plan)
    np.testing.assert_allclose(out[0], data[0] - data[[0, 1, 2]].mean(axis=0))


def test_average_reference_needs_two_channels():
    with pytest.raises(DataError, match="average reference"):
        plan_channels(["C3-A1", "EOG1-A1"], reference="average")


def test_absent_channel_lists_present_ones():
    with pytest.raises(DataError, match=r"'Cz' not found; channels present: C3 \('C3', 'C3-M2'\), C4"):
        plan_channels(NOX, channels=["C3", "Cz"], source="nox.edf")


def test_no_eeg_at_all():
    with pytest.raises(DataError, match="no EEG channel"):
        plan_channels(["ECG", "SpO2"], source="f.edf")


def test_unknown_reference_mode():
    with pytest.raises(ConfigError, match="'reference' parameter"):
        plan_channels(NOX, reference="bipolar")


def test_apply_plan_keeps_nan_local():
    data = np.array([[1.0, 2.0], [np.nan, np.nan]])
    plan = plan_channels(["C3", "C4"])
    out = apply_plan(data, [0, 1], plan)
    np.testing.assert_array_equal(out[0], [1.0, 2.0])
    assert np.isnan(out[1]).all()


def test_two_signals_with_one_name_and_reference_warn_which_is_used(caplog):
    with caplog.at_level(logging.INFO, logger="sleepspindles.io.channels"):
        plan = plan_channels(["C3-A2", "C3-A2", "C4-A1"])
    assert [d.name for d in plan] == ["C3", "C4"] and plan[0].main == 0
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "signal 1 of the file" in warned[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="sleepspindles.io.channels"):
        plan_channels(["C3-M2", "C3-A1"])  # told apart by the rule: no warning
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
