"""Orchestration: one recording end to end, a batch of them, a cohort, the demo.

:mod:`.run` (load -> stage -> detect every event kind -> the tables declared in
:mod:`sleepspindles.schema`), :mod:`.tasks` (one batch row: skip when complete, compute and
write the folder as a set, or record the failure), :mod:`.executors` (a local process pool or
a Dask cluster), :mod:`.batch` (every manifest row, the cohort tables), :mod:`.shards` (a
batch cut into job-array slices and gathered back), :mod:`.cohort` (lateralisation and
statistics from the stored tables) and :mod:`.demo`.
"""

from .run import RecordingResult, analyse_recording, process_recording

__all__ = ["RecordingResult", "analyse_recording", "process_recording"]
