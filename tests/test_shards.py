"""Cluster runs: sharded batches (job arrays) and gather; Dask retries and worker memory.

Shards 1..N gathered equal one unsharded batch; a shard rerun skips its rows; a missing shard or a
bad --shard is a one-line error. On Dask, a task whose worker is killed once succeeds on retry.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from test_batch import HEADER, write_nights
from test_batch_signals import _workers

from sleepspindles.cli import build_parser, main
from sleepspindles.config import BatchConfig, Config, load_config
from sleepspindles.errors import ConfigError
from sleepspindles.io.results import read_status
from sleepspindles.output import write_status
from sleepspindles.pipeline.batch import cohort_files, gather_batch, run_batch
from sleepspindles.pipeline.executors import dask_client, executor
from sleepspindles.pipeline.shards import Shard, assign, select
from sleepspindles.pipeline.tasks import make_tasks
from sleepspindles.schema import STATUS

N = 2
GOOD = ("s1", "s2")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    """Two good 20-min 2-channel EDF+ nights and a truncated one (row 2): three rows for two shards."""
    folder = tmp_path_factory.mktemp("shards")
    first, *others = write_nights(folder, GOOD, seed=20)
    (folder / "manifest.csv").write_text("\n".join([HEADER, first, "s5,learning,broken.edf,,left,,", *others]) + "\n")
    return folder / "manifest.csv"


@pytest.fixture(scope="module")
def unsharded(manifest, tmp_path_factory):
    """The same manifest as one batch, in its own folder."""
    return run_batch(manifest, tmp_path_factory.mktemp("whole"), Config(), jobs=1, progress=False)


@pytest.fixture(scope="module")
def shards(manifest, tmp_path_factory):
    """Shards 1..N of the manifest run one after the other into one folder (not gathered)."""
    out = tmp_path_factory.mktemp("sharded")
    return out, [run_batch(manifest, out, Config(), jobs=1, shard=f"{i}/{N}", progress=False) for i in range(1, N + 1)]


@pytest.fixture
def copy(shards, tmp_path) -> Path:
    """A copy of the sharded folder, for tests that change it."""
    shutil.copytree(shards[0], tmp_path / "out")
    return tmp_path / "out"


def _status(path: Path) -> pd.DataFrame:
    """``status.csv`` without the timing column, recording folders by name (the two runs have their own)."""
    frame = pd.read_csv(path, keep_default_na=False).drop(columns="seconds")
    return frame.assign(out_dir=[Path(p).name for p in frame["out_dir"]])


def test_shards_gathered_equal_one_unsharded_batch(manifest, unsharded, shards):
    out, results = shards
    # each shard wrote only its status: no cohort table, status.csv or report until gather
    assert sorted(p.name for p in out.glob("*.*")) == [f"status-shard-{i}-of-{N}.csv" for i in range(1, N + 1)]
    labels = [[f"{r.subject}/{r.night}" for r in result.rows] for result in results]
    assert sorted(len(rows) for rows in labels) == [1, 2]  # 3 rows dealt round-robin over 2 shards
    assert sorted(label for rows in labels for label in rows) == sorted(f"{r.subject}/learning" for r in unsharded.rows)
    assert str(results[0]).startswith(f"batch shard 1/{N}: {len(labels[0])} recording(s) in ")
    assert f"status in {out / f'status-shard-1-of-{N}.csv'}" in str(results[0])

    gathered = gather_batch(manifest, out)
    assert gathered.failed == unsharded.failed == ["s5/learning"] and len(gathered.done) == len(GOOD)
    assert str(gathered).startswith("gather: 3 recording(s) in ") and "1 failed" in str(gathered)
    assert set(gathered.files) == set(unsharded.files)
    for key, name in cohort_files().items():
        ours, theirs = gathered.out_dir / name, unsharded.out_dir / name
        if key == STATUS.name:
            pd.testing.assert_frame_equal(_status(ours), _status(theirs))
        elif name.endswith(".parquet"):
            pd.testing.assert_frame_equal(pd.read_parquet(ours), pd.read_parquet(theirs))
        else:
            assert ours.read_bytes() == theirs.read_bytes(), name
    assert "Batch report" in (out / "cohort_report.html").read_text(encoding="utf-8")


def test_a_shard_rerun_skips_its_complete_rows(manifest, shards, copy, capsys):
    first = shards[1]
    for shard, before in enumerate(first, start=1):
        runs = {r.out_dir: (Path(r.out_dir) / "run.json").read_bytes() for r in before.rows if r.succeeded}
        code = main(["batch", str(manifest), "--out", str(copy), "--shard", f"{shard}/{N}"])
        assert code == (1 if before.failed else 0)  # as a batch: 1 when a row failed
        assert capsys.readouterr().out.startswith(f"batch shard {shard}/{N}: ")
        rows = read_status(copy / f"status-shard-{shard}-of-{N}.csv")
        assert [r.status for r in rows] == ["failed" if r.subject == "s5" else "skipped" for r in rows]
        for folder, run in runs.items():  # not recomputed: same provenance
            assert (copy / Path(folder).name / "run.json").read_bytes() == run
    assert main(["gather", str(manifest), "--out", str(copy)]) == 1  # the broken recording
    assert pd.read_csv(copy / STATUS.file)["status"].tolist() == ["skipped", "failed", "skipped"]


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("sleepspindles: error: ") and "\n" not in err
    return err.removeprefix("sleepspindles: error: ")


def test_gather_needs_every_shard_of_one_count(manifest, copy, tmp_path, capsys):
    (copy / STATUS.file).unlink()  # written by the gather of the first test
    (copy / f"status-shard-2-of-{N}.csv").unlink()
    assert main(["gather", str(manifest), "--out", str(copy)]) == 2
    assert _error(capsys) == (f"{copy}: shard(s) 2 of {N} did not finish (no status-shard-2-of-{N}.csv); run them "
                              f"with --shard I/{N}, then gather again")
    assert not (copy / STATUS.file).exists()
    shutil.copy(copy / f"status-shard-1-of-{N}.csv", copy / "status-shard-1-of-3.csv")  # an earlier run's
    assert main(["gather", str(manifest), "--out", str(copy)]) == 2
    assert _error(capsys) == (f"{copy}: shard statuses of different shard counts (status-shard-*-of-{N}.csv, "
                              f"status-shard-*-of-3.csv); remove those of the earlier run, then gather again")
    assert main(["gather", str(manifest), "--out", str(tmp_path / "none")]) == 2
    assert _error(capsys).startswith(f"{tmp_path / 'none'}: no status-shard-I-of-N.csv: run 'sleepspindles batch")


def test_rows_a_shard_did_not_finish_fail_naming_the_shard(manifest, copy):
    tasks = make_tasks(manifest, copy, Config())
    owners = dict(zip((t.subject for t in tasks), assign(tasks, N)))
    (copy / "s2_learning" / "run.json").unlink()  # shard rerun, killed in s2 after the status was written
    status = copy / f"status-shard-{owners['s1']}-of-{N}.csv"
    write_status(status, [r for r in read_status(status) if r.subject != "s1"])  # the manifest gained s1 since
    result = gather_batch(manifest, copy)
    errors = result.status.set_index("subject")["error"]
    assert result.failed == ["s1/learning", "s5/learning", "s2/learning"]
    assert errors["s2"] == (f"incomplete folder {copy / 's2_learning'} (no run.json): shard {owners['s2']} of {N} "
                            f"did not finish this row; rerun shard {owners['s2']} of {N}, then gather")
    assert errors["s1"] == (f"no status: shard {owners['s1']} of {N} did not process this row (status-shard-"
                            f"{owners['s1']}-of-{N}.csv does not list it; was the manifest changed?); rerun shard "
                            f"{owners['s1']} of {N}, then gather")
    assert pd.read_parquet(copy / cohort_files()["spindles"]).empty


def test_rows_whose_recording_changed_since_the_shard_fail_instead_of_reusing_its_folder(manifest, copy):
    """s1 and s2 swapped in the manifest after the shards ran: their folders hold the other night's tables."""
    swapped = manifest.with_name("swapped.csv")
    swapped.write_text("\n".join([HEADER, "s1,learning,s2.edf,,right,10,11", "s5,learning,broken.edf,,left,,",
                                  "s2,learning,s1.edf,,left,10,12"]) + "\n")
    result = gather_batch(swapped, copy)
    errors = result.status.set_index("subject")["error"]
    assert result.failed == ["s1/learning", "s5/learning", "s2/learning"]
    for subject, file in (("s1", "s2.edf"), ("s2", "s1.edf")):
        assert f"was made from other input than {manifest.parent / file} as it is now" in errors[subject]
    assert pd.read_parquet(copy / cohort_files()["spindles"]).empty


@pytest.mark.parametrize("value", ["5/4", "0/3", "3", "1/0", "a/b", "-1/2", ""])
def test_bad_shard_is_a_one_line_error_before_any_work(manifest, tmp_path, capsys, value):
    assert main(["batch", str(manifest), "--out", str(tmp_path / "out"), f"--shard={value}"]) == 2
    assert _error(capsys) == f"The 'shard' parameter must be I/N with 1 <= I <= N; got {value!r}."
    assert not (tmp_path / "out").exists()


def test_slices_are_balanced_and_independent_of_row_order(tmp_path):
    rows = [f"p{i:02d},{night},p{i}_{night}.edf,left" for i in range(7) for night in ("baseline", "learning")]
    forward, backward = tmp_path / "f.csv", tmp_path / "b.csv"
    forward.write_text("\n".join(["subject,night,recording,trained_hand", *rows]) + "\n")
    backward.write_text("\n".join(["subject,night,recording,trained_hand", *rows[::-1]]) + "\n")

    def slices(path: Path, count: int) -> list[set[str]]:
        tasks = make_tasks(path, tmp_path / "out", Config())
        return [{f"{t.subject}/{t.night}" for t in select(tasks, Shard(i, count))} for i in range(1, count + 1)]

    for count in (1, 3, 4, 14, 20):
        ours = slices(forward, count)
        assert ours == slices(backward, count)  # the same recordings, whatever the order of the rows
        sizes = [len(s) for s in ours]
        assert sum(sizes) == len(rows) and max(sizes) - min(sizes) <= 1  # balanced: at most one row apart
        assert set().union(*ours) == {r.split(",")[0] + "/" + r.split(",")[1] for r in rows}
    # SHA-256 ranks: the same on every machine and in every version (a running job array relies on it)
    assert slices(forward, 4) == [{"p02/baseline", "p03/baseline", "p03/learning", "p06/baseline"},
                                  {"p00/baseline", "p04/learning", "p05/baseline", "p05/learning"},
                                  {"p01/baseline", "p01/learning", "p06/learning"},
                                  {"p00/learning", "p02/learning", "p04/baseline"}]
    assert Shard.parse(" 2 / 4 ") == Shard(2, 4) and str(Shard(2, 4)) == "2/4"


def test_help_lists_gather():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert "gather" in parser.format_help() and commands["gather"].description
    assert "--shard" in commands["batch"].format_help() and "--shard" not in commands["cohort"].format_help()
    assert parser.parse_args(["batch", "m.csv", "--out", "o", "--shard", "2/4"]).shard == "2/4"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the worker through /proc")
def test_a_task_whose_worker_is_killed_once_succeeds_on_retry(manifest, tmp_path):
    """On a LocalCluster of ours (``scheduler: local``), ``batch.retries: 1`` puts a lost task back once."""
    pytest.importorskip("distributed")
    rows = tmp_path / "one.csv"
    rows.write_text(f"{HEADER}\ns1,learning,{manifest.parent / 's1.edf'},,right,,\n")
    out, before, killed = tmp_path / "out", set(_workers(os.getpid())), []

    def kill_the_worker_once_busy() -> None:  # SIGKILL, as the OOM killer would
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            workers = set(_workers(os.getpid())) - before
            if workers and (out / "s1_learning").is_dir():  # the task has started on it
                for pid in workers:
                    os.kill(pid, signal.SIGKILL)
                killed.extend(workers)
            time.sleep(0.02)

    killer = threading.Thread(target=kill_the_worker_once_busy, daemon=True)
    killer.start()
    result = run_batch(rows, out, Config().replace("batch", retries=1), jobs=1, scheduler="local", progress=False)
    killer.join()
    assert len(killed) == 1, "the worker was not killed while busy"
    assert result.done == ["s1/learning"] and not result.failed and (out / "s1_learning" / "run.json").is_file()


def test_local_cluster_takes_retries_and_worker_memory_from_the_config():
    pytest.importorskip("distributed")
    import dask

    with dask_client("local", 1, BatchConfig(retries=0, worker_memory="1.5GB")) as client:
        scheduler = client.cluster.scheduler
        assert scheduler.allowed_failures == 0  # a lost task is not put back: KilledWorker, a failed row
        assert [w.memory_limit for w in scheduler.workers.values()] == [1_500_000_000]
        assert [w.nthreads for w in scheduler.workers.values()] == [1]
    assert dask.config.get("distributed.scheduler.allowed-failures") == 3  # only that cluster's scheduler


def test_dask_map_gets_the_retries(tmp_path):
    """``client.map(..., retries=n)``, seen by a spy around a real in-process client."""
    distributed = pytest.importorskip("distributed")
    rows = tmp_path / "m.csv"
    rows.write_text(f"{HEADER}\na,post,absent_a.edf,,left,,\nb,post,absent_b.edf,,left,,\n")
    tasks = make_tasks(rows, tmp_path / "out", Config())

    class Spy:
        def __init__(self, client) -> None:
            self.client, self.calls = client, []

        def map(self, *args, **kwargs):
            self.calls.append(kwargs)
            return self.client.map(*args, **kwargs)

        def cancel(self, futures) -> None:
            self.client.cancel(futures)

    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        spy = Spy(client)
        done = list(executor(tasks, 1, spy, 2))
    assert [c["retries"] for c in spy.calls] == [2]
    assert sorted(r.subject for r in done) == ["a", "b"] and all("recording file not found" in r.error for r in done)


@pytest.mark.parametrize("key, value, must", [
    ("retries", -1, "an integer >= 0"),
    ("retries", 1.5, "an integer"),
    ("worker_memory", "lots", "a size such as '4GB' or '512MiB', or null"),
    ("worker_memory", "0GB", "a size such as '4GB' or '512MiB', or null"),
])
def test_bad_batch_keys_are_config_errors(key, value, must):
    with pytest.raises(ConfigError) as info:
        load_config(None, {"batch": {key: value}})
    assert str(info.value) == f"The 'batch.{key}' parameter must be {must}; got {value!r}."
    assert load_config(None, {"batch": {"retries": 0, "worker_memory": "512 MiB"}}).batch.worker_memory == "512 MiB"
