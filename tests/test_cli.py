"""The command line: help, the run and demo commands end to end, and one-line errors."""

import json
import os
import sys

import pandas as pd
import pytest

from sleepspindles.cli import _config, build_parser, main
from sleepspindles.config import Config
from sleepspindles.output import write_edf
from sleepspindles.pipeline.run import expected_tables
from sleepspindles.schema import SIGMA, SPINDLE_SUMMARY, SPINDLES
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


def test_run_writes_events_summary_and_provenance(edf_night, tmp_path, capsys, monkeypatch):
    path, night = edf_night
    out = tmp_path / "out"
    monkeypatch.chdir(path.parent)  # the recording named relative to the working folder
    assert main(["run", path.name, "--channels", "C3", "--method", "yasa", "--no-report", "--no-slow-oscillations",
                 "--out", str(out)]) == 0
    events = pd.read_csv(out / "events.csv")
    summary = pd.read_csv(out / "summary.csv")
    run = json.loads((out / "run.json").read_text())
    assert list(events.columns) == list(SPINDLES.names) and set(events.channel) == {"C3"}
    assert list(summary.columns) == list(SPINDLE_SUMMARY.names)
    sigma = pd.read_csv(out / "sigma.csv")
    assert list(sigma.columns) == list(SIGMA.names) and set(sigma.channel) == {"C3"}
    assert run["files"] == ["events.csv", "sigma.csv", "summary.csv", "trains.csv", "windows.csv"]
    assert run["staging"]["source"] == "scored"  # stage annotations inside the EDF+
    assert run["config"]["detection"]["method"] == "yasa"
    assert len(run["inputs"]["recording"]["sha256"]) == 64
    assert run["inputs"]["recording"]["path"] == str(path.resolve())  # the folder is read from anywhere (export)
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
    cfg.write_text("report:\n  format: docx\n")
    assert main(["run", str(edf_night[0]), "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(cfg) in err and "'report.format' parameter must be one of ('html', 'pdf'); got 'docx'" in err


def test_load_flags_reference_auto_and_hypnogram_scheme():
    parser = build_parser()
    for argv in (["run", "n.edf"], ["batch", "m.csv"], ["cohort", "m.csv"]):
        args = parser.parse_args([*argv, "--out", "o", "--reference", "auto", "--hypnogram-scheme", "rk"])
        load = _config(args).load
        assert (load.reference, load.hypnogram_scheme) == ("auto", "rk")
        aasm = parser.parse_args([*argv, "--out", "o", "--hypnogram-scheme", "aasm"])
        assert _config(aasm).load.hypnogram_scheme == "aasm"
    run_help = parser._subparsers._group_actions[0].choices["run"].format_help()
    assert "auto (default)" in run_help and "Rechtschaffen" in run_help


def test_rerun_replaces_the_outputs_as_a_set(edf_night, tmp_path):
    """A rerun without a report removes the old report and leftover temporary files, nothing else."""
    out = tmp_path / "out"
    out.mkdir()
    for name in ("report.html", ".events.csv.a1b2c3d4.part", "notes.txt"):
        (out / name).write_text("from an earlier run")
    assert main(["run", str(edf_night[0]), "--channels", "C3", "--no-report", "--trained-hand", "right",
                 "--out", str(out)]) == 0
    assert json.loads((out / "run.json").read_text())["trained_hand"] == "right"  # provenance of the laterality
    tables = sorted(t.file for t in expected_tables(Config()))
    assert tables == ["coupling.csv", "events.csv", "sigma.csv", "slow_oscillations.csv", "so_summary.csv",
                      "summary.csv", "swa.csv", "trains.csv", "windows.csv"]
    assert sorted(p.name for p in out.iterdir()) == sorted([*tables, "notes.txt", "run.json"])
    assert json.loads((out / "run.json").read_text())["files"] == tables
    # turning slow oscillations off removes their tables from the folder at the next run
    assert main(["run", str(edf_night[0]), "--channels", "C3", "--no-report", "--no-slow-oscillations",
                 "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["events.csv", "notes.txt", "run.json", "sigma.csv",
                                                     "summary.csv", "trains.csv", "windows.csv"]
    assert json.loads((out / "run.json").read_text())["trained_hand"] is None


def _manifest(tmp_path):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("subject,night,recording,trained_hand\nS1,post,absent.edf,left\n")
    return manifest


COMMANDS = {  # argv before --out; every input is bad or absent, so only an early --out check names --out
    "run": lambda tmp: ["run", str(tmp / "absent.edf")],
    "demo": lambda tmp: ["demo", "--hours", "0.2"],
    "batch": lambda tmp: ["batch", str(_manifest(tmp))],
    "cohort": lambda tmp: ["cohort", str(_manifest(tmp))],
}


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("sleepspindles: error: ") and "\n" not in err
    return err.removeprefix("sleepspindles: error: ")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_out_that_is_a_file_fails_before_any_work(command, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("x")
    assert main([*COMMANDS[command](tmp_path), "--out", str(taken)]) == 2
    assert _error(capsys) == f"{taken}: --out must be a folder; a file of that name exists"
    under = taken / "sub"
    assert main([*COMMANDS[command](tmp_path), "--out", str(under)]) == 2
    assert _error(capsys).startswith(f"{under}: cannot write to this output folder (")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_read_only_out_fails_before_any_work(command, tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert main([*COMMANDS[command](tmp_path), "--out", str(folder)]) == 2
    finally:
        folder.chmod(0o755)
    assert _error(capsys).startswith(f"{folder}: cannot write to this output folder (")


def test_config_not_utf8_exit_2(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes("detection:\n  stages: [N2]  # réglé\n".encode("latin-1"))
    assert main(["run", str(tmp_path / "absent.edf"), "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert _error(capsys) == f"{cfg}: not UTF-8 text (byte 0xe9 at position 30)"


def test_format_pdf_prints_the_report_and_a_missing_printer_fails_first(edf_night, tmp_path, monkeypatch):
    pytest.importorskip("weasyprint", reason="the optional 'pdf' extra (weasyprint) is not installed")
    out = tmp_path / "pdf"
    assert main(["run", str(edf_night[0]), "--channels", "C3", "--no-slow-oscillations", "--format", "pdf",
                 "--out", str(out)]) == 0
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF") and not (out / "report.html").exists()
    assert json.loads((out / "run.json").read_text())["config"]["report"]["format"] == "pdf"
    import sys

    monkeypatch.setitem(sys.modules, "weasyprint", None)  # the extra not installed: an error before any work
    again = tmp_path / "again"
    assert main(["run", str(edf_night[0]), "--format", "pdf", "--out", str(again)]) == 2
    assert not again.exists() or not any(again.iterdir())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tunables: Linux only")
def test_command_tunes_the_allocator_for_itself_and_its_workers_unless_the_user_did(tmp_path, monkeypatch):
    # The batch workers are fresh processes: they get the setting through the environment.
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000")
    main(["evaluate", "--reference", str(tmp_path / "none.csv"), "--detected", str(tmp_path / "none.csv")])
    assert os.environ["MALLOC_MMAP_THRESHOLD_"] == str(64 << 20)
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "1000"


def test_no_staging_with_a_hypnogram_or_stages_is_refused_before_any_work(edf_night, tmp_path, capsys):
    path, _ = edf_night
    for extra in (["--hypnogram", str(path)], ["--stages", "N2"]):
        out = tmp_path / extra[0].strip("-")
        assert main(["run", str(path), "--no-staging", *extra, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "'--no-staging' parameter must be used without --hypnogram or --stages" in err and extra[0] in err
        assert not out.exists()


@pytest.mark.parametrize(("n_references", "extra", "flag"), [(1, ["--window", "1000", "0"], "--window"),
                                                          (3, [], "--reference")])
def test_evaluate_errors_name_the_flag(tmp_path, capsys, n_references, extra, flag):
    events = tmp_path / "a.csv"
    events.write_text("channel,start,end\nC3,1.0,2.0\n")
    argv = ["evaluate", "--reference", *[str(events)] * n_references, "--detected", str(events), *extra]
    assert main(argv) == 2
    assert f"The '{flag}' parameter must be" in capsys.readouterr().err


def test_hypnogram_epoch_flag_reads_a_text_hypnogram_of_20_s_rows(edf_night, tmp_path, capsys):
    path, night = edf_night  # 45 min: 135 rows of 20 s
    rows = tmp_path / "hyp20.txt"
    rows.write_text("\n".join(["W"] * 15 + ["N2"] * 120) + "\n")
    base = ["run", str(path), "--hypnogram", str(rows), "--channels", "C3", "--no-report", "--no-slow-oscillations"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 2  # read as 30 s rows, the file is 67.5 min long
    assert "load.hypnogram_epoch, --hypnogram-epoch" in capsys.readouterr().err
    assert main([*base, "--hypnogram-epoch", "20", "--out", str(tmp_path / "b")]) == 0
    staging = json.loads((tmp_path / "b" / "run.json").read_text())["staging"]
    assert staging["epoch_length"] == 20.0 and staging["stage_minutes"]["N2"] == 40.0
    assert json.loads((tmp_path / "b" / "run.json").read_text())["config"]["load"]["hypnogram_epoch"] == 20.0
