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


# ----------------------------------------------------------------------------- sleep cycles
def _night(*pieces, epoch_length=30.0, offset=0.0):
    """A hypnogram from (stage, minutes) pieces."""
    per_min = 60.0 / epoch_length
    codes = [int(Stage.parse(s)) for s, m in pieces for _ in range(int(round(m * per_min)))]
    return Hypnogram(codes, epoch_length, offset)


def _bounds(hyp, **kwargs):
    return [(c.index, c.start, c.nrem_end, c.end) for c in hyp.cycles(**kwargs)]


def test_textbook_night_has_four_cycles():
    hyp = _night(("W", 10), ("N1", 5), ("N2", 20), ("N3", 30), ("N2", 10), ("REM", 10),
                 ("N2", 30), ("N3", 20), ("N2", 10), ("REM", 15),
                 ("N1", 3), ("N2", 40), ("REM", 20),
                 ("W", 2), ("N2", 40), ("REM", 25), ("W", 10))
    # Sleep onset is the first N2 epoch (30), not N1; the final wake belongs to no cycle.
    assert _bounds(hyp) == [(1, 30, 150, 170), (2, 170, 290, 320), (3, 320, 406, 446), (4, 446, 530, 580)]
    first = hyp.cycles()[0]
    assert (first.start_time, first.nrem_end_time, first.end_time) == (900.0, 4500.0, 5100.0)


def test_night_without_rem_is_one_cycle_to_the_last_sleep_epoch():
    hyp = _night(("W", 10), ("N2", 60), ("N3", 30), ("N1", 2), ("W", 5))
    assert _bounds(hyp) == [(1, 20, 204, 204)]  # nrem_end == end: no REM period


def test_short_nrem_between_rem_runs_is_merged_into_the_rem_period():
    hyp = _night(("N2", 30), ("REM", 10), ("N2", 5), ("REM", 10), ("N2", 30), ("REM", 10))
    # The 5 min of N2 (< 15) do not start a cycle: cycle 1's REM period spans both runs.
    assert _bounds(hyp) == [(1, 0, 60, 110), (2, 110, 170, 190)]
    assert _bounds(hyp, min_nrem_minutes=5.0) == [(1, 0, 60, 80), (2, 80, 90, 110), (3, 110, 170, 190)]


def test_short_later_rem_stays_inside_the_nrem_period():
    hyp = _night(("N2", 30), ("REM", 10), ("N2", 20), ("REM", 2), ("N2", 20), ("REM", 10))
    assert _bounds(hyp) == [(1, 0, 60, 80), (2, 80, 164, 184)]
    assert _bounds(hyp, min_rem_minutes=1.0) == [(1, 0, 60, 80), (2, 80, 120, 124), (3, 124, 164, 184)]


def test_first_rem_period_shorter_than_five_minutes_closes_cycle_one():
    hyp = _night(("W", 5), ("N2", 30), ("N3", 20), ("REM", 2), ("N2", 40), ("REM", 10))
    assert _bounds(hyp) == [(1, 10, 110, 114), (2, 114, 194, 214)]


def test_rem_too_soon_after_onset_does_not_close_a_cycle():
    hyp = _night(("N2", 5), ("REM", 3), ("N2", 30), ("REM", 10))
    assert _bounds(hyp) == [(1, 0, 76, 96)]


def test_short_last_nrem_stretch_joins_the_last_cycle():
    hyp = _night(("N2", 30), ("REM", 10), ("N2", 10), ("W", 5))
    assert _bounds(hyp) == [(1, 0, 60, 100)]
    longer = _night(("N2", 30), ("REM", 10), ("N2", 20), ("W", 5))
    assert _bounds(longer) == [(1, 0, 60, 80), (2, 80, 120, 120)]


def test_cycles_respect_offset_and_epoch_length():
    hyp = _night(("W", 1), ("N2", 20), ("REM", 5), ("N2", 20), epoch_length=20.0, offset=12.5)
    cycles = hyp.cycles()
    assert _bounds(hyp) == [(1, 3, 63, 78), (2, 78, 138, 138)]
    assert cycles[0].start_time == 12.5 + 3 * 20.0 and cycles[1].end_time == 12.5 + 138 * 20.0


@pytest.mark.parametrize("stages", [[], [0] * 20, [0, 1, 1, 4, 0], [-2] * 5])
def test_no_sleep_onset_gives_no_cycles(stages):
    assert Hypnogram(stages).cycles() == ()
    assert Hypnogram(stages).sleep_onset() is None


def test_cycle_thresholds_are_validated():
    with pytest.raises(ConfigError, match="min_rem_minutes"):
        Hypnogram([2, 4]).cycles(min_rem_minutes=-1)
