"""The command line: help, the run and demo commands end to end, and one-line errors."""

import json

import pandas as pd
import pytest

from sleepspindles.cli import build_parser, main
from sleepspindles.events import EVENT_COLUMNS
from sleepspindles.output import write_edf
from sleepspindles.spectral import SIGMA_COLUMNS
from sleepspindles.summary import SUMMARY_COLUMNS
from sleepspindles.synthetic import SyntheticConfig, make_synthetic_night


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "demo", "cohort", "batch", "evaluate"):
        assert command in out
    for command in ("run", "demo", "cohort", "batch", "evaluate"):
        sub = build_parser()._subparsers._group_actions[0].choices[command]
        assert sub.description, f"'{command}' has no description"
    for command in ("cohort", "batch"):  # both run on the batch engine
        args = build_parser().parse_args([command, "m.csv", "--out", "o", "--jobs", "3", "--scheduler", "tcp://h:1"])
        assert (args.jobs, args.scheduler) == (3, "tcp://h:1")


@pytest.fixture(scope="module")
def edf_night(tmp_path_factory):
    night = make_synthetic_night(SyntheticConfig(duration_hours=0.75, sf=128.0, seed=2))
    path = tmp_path_factory.mktemp("cli") / "night.edf"
    write_edf(night.recording, path)
    return path, night


def test_run_writes_events_summary_and_provenance(edf_night, tmp_path, capsys):
    path, night = edf_night
    out = tmp_path / "out"
    assert main(["run", str(path), "--channels", "C3", "--method", "yasa", "--no-report", "--out", str(out)]) == 0
    events = pd.read_csv(out / "events.csv")
    summary = pd.read_csv(out / "summary.csv")
    run = json.loads((out / "run.json").read_text())
    assert list(events.columns) == list(EVENT_COLUMNS) and set(events.channel) == {"C3"}
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    sigma = pd.read_csv(out / "sigma.csv")
    assert list(sigma.columns) == list(SIGMA_COLUMNS) and set(sigma.channel) == {"C3"}
    assert run["files"] == ["events.csv", "sigma.csv", "summary.csv"]
    assert run["staging"]["source"] == "scored"  # stage annotations inside the EDF+
    assert run["config"]["detection"]["method"] == "yasa"
    assert len(run["inputs"]["recording"]["sha256"]) == 64
    assert run["versions"]["yasa"] != "absent"
    truth = night.truth[night.truth.channel == "C3"]
    assert len(events) >= 0.7 * len(truth)
    assert "spindles on 1 channel" in capsys.readouterr().out


def test_user_errors_are_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "notes.edf"
    bad.write_text("this is not an EDF file\n")
    assert main(["run", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sleepspindles: error: ") and str(bad) in err and "\n" not in err
    assert not (tmp_path / "o" / "run.json").exists()


def test_bad_config_key_exit_2(tmp_path, edf_night, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("detection:\n  thresh_rsm: 2\n")
    assert main(["run", str(edf_night[0]), "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert "'detection.thresh_rsm'" in capsys.readouterr().err
