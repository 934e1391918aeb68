"""Cohort manifest: parsing, path resolution, covariates, and row errors naming row and field."""

from pathlib import Path

import numpy as np
import pytest

from sleepspindles.analysis.laterality import percent_gain
from sleepspindles.errors import DataError, SleepSpindlesError
from sleepspindles.io.manifest import read_manifest

HEADER = "subject,night,recording,hypnogram,trained_hand,score_pre,score_post,age,sex\n"


def _write(tmp_path: Path, body: str, header: str = HEADER, name: str = "manifest.csv") -> Path:
    path = tmp_path / name
    path.write_text(header + body, encoding="utf-8")
    return path


def test_parses_rows_resolves_paths_and_keeps_covariates(tmp_path):
    path = _write(
        tmp_path,
        "S1,baseline,edf/s1_base.edf,,Left,,,31,F\n"
        "S1,post,edf/s1_post.edf,hyp/s1.txt,left,10,12.5,31,F\n"
        f"S2,post,{tmp_path / 'abs.edf'},,RIGHT,8,,45,M\n",
    )
    man = read_manifest(path)
    t = man.table
    assert len(man) == 3 and man.covariates == ("age", "sex")
    assert list(t["row"]) == [1, 2, 3]
    assert t.loc[0, "recording"] == str((tmp_path / "edf" / "s1_base.edf").resolve())
    assert t.loc[0, "hypnogram"] is None
    assert t.loc[1, "hypnogram"] == str((tmp_path / "hyp" / "s1.txt").resolve())
    assert t.loc[2, "recording"] == str((tmp_path / "abs.edf").resolve())
    assert list(t["trained_hand"]) == ["left", "left", "right"]
    assert np.isnan(t.loc[0, "score_pre"]) and t.loc[1, "score_post"] == 12.5 and np.isnan(t.loc[2, "score_post"])
    assert list(t["age"]) == ["31", "31", "45"]
    assert man.path == str(path.resolve())


def test_optional_columns_may_be_absent(tmp_path):
    path = _write(tmp_path, "S1,post,a.edf,left\n", header="subject,night,recording,trained_hand\n")
    t = read_manifest(path).table
    assert t.loc[0, "hypnogram"] is None and np.isnan(t.loc[0, "score_pre"])


@pytest.mark.parametrize(
    "body, message",
    [
        ("S1,post,a.edf,,left,1,2,3,F\nS2,post,b.edf,,right,1,2,3,F\nS3,post,c.edf,,lft,1,2,3,F\n",
         "manifest.csv row 3: field 'trained_hand' must be 'left' or 'right'; got 'lft'"),
        ("S1,post,a.edf,,left,ten,2,3,F\n", "manifest.csv row 1: field 'score_pre' must be a number or empty; got 'ten'"),
        ("S1,post,a.edf,,left,1,inf,3,F\n", "manifest.csv row 1: field 'score_post' must be a finite number"),
        ("S1,post,a.edf,,left,1,2,3,F\n,post,b.edf,,left,1,2,3,F\n", "manifest.csv row 2: field 'subject' is empty"),
        ("S1,post,,,left,1,2,3,F\n", "manifest.csv row 1: field 'recording' is empty"),
        ("S1,post,a.edf,,left,1,2,3\n", "manifest.csv row 1: has 8 fields but the header has 9"),
        ("S1,post,a.edf,,left,1,2,3,F\nS1,post,b.edf,,left,1,2,3,F\n",
         "manifest.csv row 2: field 'night' repeats subject 'S1' night 'post' of row 1"),
        ("S1,baseline,a.edf,,left,,,3,F\nS1,post,b.edf,,right,1,2,3,F\n",
         "manifest.csv row 2: field 'trained_hand' is 'right' but subject 'S1' has 'left' in row 1"),
        # the same night counted twice, under another subject or night (it is one recording)
        ("S1,post,a.edf,,left,1,2,3,F\nS2,post,./a.edf,,left,1,2,3,F\n",
         "manifest.csv row 2: field 'recording' repeats the recording of row 1"),
        # one subject (night) split in two by its spelling
        ("S03,post,a.edf,,left,1,2,3,F\ns03,baseline,b.edf,,left,1,2,3,F\n",
         "manifest.csv row 2: field 'subject' is 's03' but row 1 spells it 'S03'; use one spelling"),
        ("S1,post,a.edf,,left,1,2,3,F\nS2,Post,b.edf,,left,1,2,3,F\n",
         "manifest.csv row 2: field 'night' is 'Post' but row 1 spells it 'post'"),
    ],
)
def test_bad_rows_name_the_row_and_the_field(tmp_path, body, message):
    with pytest.raises(DataError) as info:
        read_manifest(_write(tmp_path, body))
    assert message in str(info.value)
    assert isinstance(info.value, SleepSpindlesError)


@pytest.mark.parametrize(
    "header, body, fragment",
    [
        ("subject,night,recording,score_pre\n", "S1,post,a.edf,1\n", "lacks required column(s) ['trained_hand']"),
        ("subject,night,recording,trained_hand,age,age\n", "S1,post,a.edf,left,1,2\n", "repeats column(s) ['age']"),
        (HEADER, "", "has a header but no rows"),
        ("", "", "manifest is empty"),
    ],
)
def test_bad_files_name_the_file(tmp_path, header, body, fragment):
    path = _write(tmp_path, body, header=header)
    with pytest.raises(DataError) as info:
        read_manifest(path)
    assert str(path.resolve()) in str(info.value) and fragment in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="cannot read manifest"):
        read_manifest(tmp_path / "nope.csv")


def test_percent_gain_hand_computed():
    gain = percent_gain([10.0, 8.0, np.nan, 0.0, -4.0], [12.5, 6.0, 3.0, 2.0, -2.0])
    np.testing.assert_allclose(gain, [25.0, -25.0, np.nan, np.nan, 50.0])


def test_a_batch_reads_rows_without_a_trained_hand_a_cohort_does_not(tmp_path):
    no_column = _write(tmp_path, "S1,post,a.edf\nS2,post,b.edf\n", header="subject,night,recording\n")
    assert [r.trained_hand for r in read_manifest(no_column, hand=False).rows] == [None, None]
    with pytest.raises(DataError, match=r"lacks required column\(s\) \['trained_hand'\]"):
        read_manifest(no_column)
    empty = _write(tmp_path, "S1,post,a.edf,,,,,,\nS2,post,b.edf,,Left,,,,\n", name="empty.csv")
    assert [r.trained_hand for r in read_manifest(empty, hand=False).rows] == [None, "left"]
    with pytest.raises(DataError, match="row 1: field 'trained_hand' is empty"):
        read_manifest(empty)
    mixed = _write(tmp_path, "S1,baseline,a.edf,,,,,,\nS1,post,b.edf,,left,,,,\n", name="mixed.csv")
    with pytest.raises(DataError, match="row 2: field 'trained_hand' is 'left' but subject 'S1' has 'empty' in row 1"):
        read_manifest(mixed, hand=False)  # one subject, one hand, also in a batch
    wrong = _write(tmp_path, "S1,post,a.edf,,lft,,,,\n", name="wrong.csv")  # a value given is still checked
    with pytest.raises(DataError, match="must be 'left' or 'right'; got 'lft'"):
        read_manifest(wrong, hand=False)
