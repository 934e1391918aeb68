"""Local batch workers die with the batch process, whether it is killed (SIGKILL) or terminated (SIGTERM)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_batch import HEADER, _hypnogram

from sleepspindles.output import write_edf
from sleepspindles.synthetic import make_synthetic_night

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the workers through /proc")

N_ROWS = 8  # enough that both workers are still busy when the batch process dies


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    """One 20-min 2-channel night at 100 Hz, listed as ``N_ROWS`` subjects."""
    folder = tmp_path_factory.mktemp("signals")
    night = make_synthetic_night(hypnogram=_hypnogram(), duration_hours=1 / 3, sf=100.0, channels=("C3", "C4"),
                                 density={"C3": 3.0, "C4": 4.0}, seed=1)
    write_edf(night.recording, folder / "night.edf")
    for i in range(N_ROWS):  # a name per row (a manifest lists each recording once), one file's blocks
        os.link(folder / "night.edf", folder / f"night{i}.edf")
    rows = [f"s{i},learning,night{i}.edf,,left,," for i in range(N_ROWS)]
    (folder / "manifest.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    return folder / "manifest.csv"


def _stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (state first); None when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")  # an unreaped zombie has ended


def _workers(parent: int) -> list[int]:
    """Pool workers (spawned processes) whose parent is ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        fields = _stat(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None and int(fields[1]) == parent:
            try:
                if b"spawn_main" in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_workers_end_with_the_batch_process(manifest, tmp_path, sig):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "sleepspindles.cli", "batch", str(manifest), "--out", str(out),
                             "--jobs", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        # both workers exist and one is on a recording (its folder appears)
        while proc.poll() is None and time.monotonic() < deadline:
            workers = _workers(proc.pid)
            if len(workers) == 2 and any(p.is_dir() for p in out.glob("s*")):
                break
            time.sleep(0.05)
        assert proc.poll() is None and len(workers) == 2, "the batch ended before its workers were busy"
        os.kill(proc.pid, sig)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = [pid for pid in workers if _alive(pid)]
        assert not survivors, f"workers {survivors} outlived the batch process"
        assert len(list(out.glob("s*/run.json"))) < N_ROWS  # it was killed mid-batch
    finally:  # never leave processes of this test behind
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
