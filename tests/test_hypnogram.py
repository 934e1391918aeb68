"""Hypnogram and Stage: parsing, minutes, per-sample expansion."""

import pytest

from sleepspindles import Hypnogram, Stage
from sleepspindles.errors import ConfigError
from sleepspindles.hypnogram import parse_stages


@pytest.mark.parametrize(
    "value, expected",
    [("N2", Stage.N2), ("2", Stage.N2), (2, Stage.N2), ("R", Stage.REM), ("rem", Stage.REM),
     ("SWS", Stage.N3), ("wake", Stage.W), ("?", Stage.UNSCORED), (-1, Stage.ARTEFACT)],
)
def test_stage_parse(value, expected):
    assert Stage.parse(value) is expected


@pytest.mark.parametrize("value", ["N5", 7, "", True])
def test_stage_parse_rejects(value):
    with pytest.raises(ConfigError, match="The 'stage' parameter must be"):
        Stage.parse(value)


def test_parse_stages_sorted_unique():
    assert parse_stages("N3,N2,2") == (Stage.N2, Stage.N3)
    with pytest.raises(ConfigError):
        parse_stages([])


def test_minutes_and_samples():
    hyp = Hypnogram([0, 2, 2, 3, 4, -1], epoch_length=30, offset=10)
    assert hyp.minutes("N2") == 1.0
    assert hyp.minutes(["N2", "N3"]) == 1.5
    assert hyp.minutes() == 2.0  # N1-REM, not wake or artefact
    per = hyp.to_samples(sf=2.0, n_samples=400)
    assert (per[:20] == Stage.UNSCORED).all()  # before the offset
    assert (per[20:80] == Stage.W).all() and (per[80:200] == Stage.N2).all()
    assert (per[380:] == Stage.UNSCORED).all()  # after the last epoch (10 + 180 s)
    assert list(hyp.stage_at([9.9, 10.0, 45.0, 189.9, 190.0])) == [-2, 0, 2, -1, -2]


def test_hypnogram_is_immutable_and_validated():
    hyp = Hypnogram([2, 2])
    with pytest.raises(ValueError):
        hyp.stages[0] = 3
    with pytest.raises(ConfigError, match="stage codes"):
        Hypnogram([2, 9])
    with pytest.raises(ConfigError, match="epoch_length"):
        Hypnogram([2], epoch_length=0)
