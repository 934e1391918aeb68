"""Command-line interface: ``sleepspindles run | demo | cohort | batch | gather | evaluate``.

The only place logging is configured. Every user error (a :class:`SleepSpindlesError`) is
printed as one line naming the file or parameter and exits with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from . import __version__
from .config import HYPNOGRAM_SCHEMES, REFERENCE_MODES, REPORT_FORMATS, Config, load_config
from .errors import SleepSpindlesError, param_error
from .schema import SPINDLE_KIND

__all__ = ["main", "build_parser"]

logger = logging.getLogger("sleepspindles")

EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2


def _config(args: argparse.Namespace) -> Config:
    """The config file plus the flags that override it."""
    overrides: dict[str, dict] = {}
    if getattr(args, "channels", None):
        overrides.setdefault("load", {})["channels"] = args.channels
    if getattr(args, "reference", None):
        overrides.setdefault("load", {})["reference"] = args.reference
    if getattr(args, "hypnogram_scheme", None):
        overrides.setdefault("load", {})["hypnogram_scheme"] = args.hypnogram_scheme
    if getattr(args, "hypnogram_epoch", None) is not None:
        overrides.setdefault("load", {})["hypnogram_epoch"] = args.hypnogram_epoch
    if getattr(args, "stream", False):
        overrides.setdefault("load", {})["preload"] = False
    if getattr(args, "method", None):
        overrides.setdefault("detection", {})["method"] = args.method
    if getattr(args, "stages", None):
        overrides.setdefault("detection", {})["stages"] = args.stages
    if getattr(args, "n_jobs", None) is not None:
        overrides.setdefault("detection", {})["n_jobs"] = args.n_jobs
    if getattr(args, "no_slow_oscillations", False):
        overrides.setdefault("slow_oscillations", {})["enabled"] = False
    if getattr(args, "format", None):
        overrides.setdefault("report", {})["format"] = args.format
    config = load_config(getattr(args, "config", None), overrides)
    if config.report.format != "html" and not getattr(args, "no_report", False):
        from .report import check_format  # a PDF printer missing fails now, before any work

        check_format(config.report.format)
    return config


def _print_bids(files: dict) -> None:
    """One line about the BIDS derivatives written (nothing when none were asked for)."""
    if files:
        print(f"BIDS derivatives: {len(files)} files in {files['dataset_description'].parent}")


def _cmd_run(args: argparse.Namespace) -> int:
    from .output import RunFolder
    from .pipeline.bids_run import bids_output
    from .pipeline.run import process_recording

    contradicted = [flag for flag, value in (("--hypnogram", args.hypnogram), ("--stages", args.stages)) if value]
    if args.no_staging and contradicted:  # the whole recording is searched, unstaged: they would be ignored
        raise param_error("--no-staging", "used without --hypnogram or --stages (it searches the whole recording)",
                          " and ".join(contradicted))
    config = _config(args)
    folder = RunFolder(args.out)  # a bad --out fails now, not after the detection
    result = process_recording(args.recording, args.hypnogram, config, staging=not args.no_staging)
    if not args.no_report:
        from .report import write_subject_report  # matplotlib only when a report is wanted

        folder.add(write_subject_report(result, folder.path, trained_hand=args.trained_hand))
    folder.write_tables(result.tables)
    files = folder.finish(dataclasses.replace(result.record, trained_hand=args.trained_hand))
    _print_bids(bids_output(args, folder.path))
    found = ", ".join(f"{len(d.events)} {name.replace('_', ' ')}" for name, d in result.detections.items())
    print(f"{found} on {len(result.recording.eeg_channels)} channel(s); staging: {result.record.staging.source}; "
          f"outputs in {folder.path} ({', '.join(files)})")
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from .pipeline.demo import run_demo

    print(run_demo(Path(args.out), hours=args.hours, seed=args.seed, config=_config(args), report=not args.no_report))
    return EXIT_OK


def _cmd_cohort(args: argparse.Namespace) -> int:
    from .pipeline.bids_run import bids_options, bids_output, cohort_source
    from .pipeline.cohort import run_cohort

    source = cohort_source(args.manifest, **bids_options(args))
    result = run_cohort(source, Path(args.out), _config(args), jobs=args.jobs, scheduler=args.scheduler,
                        references=tuple(args.references))
    print(result)
    _print_bids(bids_output(args, args.out, source, result.laterality))
    return EXIT_FAILURES if result.failed else EXIT_OK


def _cmd_batch(args: argparse.Namespace) -> int:
    from .pipeline.batch import run_batch
    from .pipeline.bids_run import bids_options, bids_output, cohort_source

    source = cohort_source(args.manifest, **bids_options(args))
    result = run_batch(source, Path(args.out), _config(args), jobs=args.jobs, scheduler=args.scheduler,
                       shard=args.shard)
    print(result)
    if args.shard is None:  # a shard's folder is not complete: 'gather' writes the derivatives
        _print_bids(bids_output(args, args.out, source))
    return EXIT_FAILURES if result.failed else EXIT_OK


def _cmd_gather(args: argparse.Namespace) -> int:
    from .pipeline.batch import gather_batch
    from .pipeline.bids_run import bids_options, bids_output, cohort_source

    source = cohort_source(args.manifest, **bids_options(args))
    result = gather_batch(source, Path(args.out))
    print(result)
    _print_bids(bids_output(args, args.out, source))
    return EXIT_FAILURES if result.failed else EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation.scoring import evaluate_files

    # The flags' own names in the message (the library names its parameters).
    if len(args.reference) > 2:
        raise param_error("--reference", "one or two files", " ".join(map(str, args.reference)))
    if args.window is not None and not 0 <= args.window[0] < args.window[1]:
        raise param_error("--window", "START END seconds with 0 <= START < END", " ".join(map(str, args.window)))
    result = evaluate_files(
        args.reference, args.detected, iou=args.iou, how=args.how, duration=args.duration, sf=args.sf,
        window=args.window,
    )
    print(result)
    return EXIT_OK


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="YAML config (see configs/default.yaml); flags override it")
    p.add_argument("--method", choices=[e.name for e in SPINDLE_KIND.engines],
                   help="spindle engine: " + "; ".join(f"{e.name}: {e.description}" for e in SPINDLE_KIND.engines))
    p.add_argument("--stages", help="stages searched for spindles, comma-separated (default N2,N3)")
    p.add_argument("--n-jobs", dest="n_jobs", type=int, help="parallel channel workers (-1 = all cores)")
    p.add_argument("--no-slow-oscillations", dest="no_slow_oscillations", action="store_true",
                   help="skip slow oscillations, slow-wave activity and SO-spindle coupling "
                        "(config slow_oscillations.enabled)")
    p.add_argument("--format", choices=REPORT_FORMATS,
                   help="report format: html (default; one self-contained page) or pdf (the same page printed; "
                        "pip install 'sleepspindles[pdf]'); config report.format")


def _load_args(p: argparse.ArgumentParser) -> None:
    """How recordings are read (``load`` section of the config): run, batch, cohort."""
    p.add_argument("--reference", choices=REFERENCE_MODES,
                   help="re-reference EEG before detection: auto (default): as recorded when every EEG channel "
                        "has the same reference, else linked mastoids when M1/M2 or A1/A2 allow it")
    p.add_argument("--hypnogram-scheme", dest="hypnogram_scheme", choices=[s for s in HYPNOGRAM_SCHEMES if s],
                   help="numeric codes of a text hypnogram: aasm = 0 W,1 N1,2 N2,3 N3,4 REM (as YASA); "
                        "rk = Rechtschaffen & Kales, 5 = REM; needed when the file has 0-4 without a 5")
    p.add_argument("--hypnogram-epoch", dest="hypnogram_epoch", type=float, metavar="SECONDS",
                   help="seconds per row of a text hypnogram (default 30; 5 for DREAMS); config load.hypnogram_epoch")
    p.add_argument("--stream", action="store_true",
                   help="read the signals from the file block by block instead of loading them (memory bounded "
                        "by block size, for high-density or very long nights; config load.preload: false)")


def _cmd_export(args: argparse.Namespace) -> int:
    from .pipeline.bids_run import export_run

    files = export_run(args.run_dir, args.to, source=args.source, out=args.out)
    print("wrote " + ", ".join(str(path) for path in files.values()))
    return EXIT_OK


def _manifest_args(p: argparse.ArgumentParser) -> None:
    """Arguments shared by the manifest commands (batch, cohort)."""
    from .pipeline.bids_run import add_bids_arguments

    p.add_argument("manifest", type=Path, help="cohort manifest CSV, or a BIDS root (EEG-BIDS: subjects and sessions "
                                               "from the tree, trained hand and scores from participants.tsv and "
                                               "sessions.tsv, bad channels from _channels.tsv, stages from "
                                               "_events.tsv)")
    p.add_argument("--out", type=Path, required=True, help="output folder (created)")
    add_bids_arguments(p)
    p.add_argument("--jobs", type=int, help="local worker processes (default: batch.jobs of the config, 1)")
    p.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786, or 'local' to start a Dask "
                                       "LocalCluster of --jobs worker processes (batch.worker_memory each)")
    _load_args(p)
    _common(p)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="sleepspindles",
        description="Sleep spindle detection and hemispheric lateralisation for PSG recordings.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from .pipeline.bids_run import add_bids_arguments  # the BIDS options of run, batch, cohort, gather

    p = sub.add_parser("run", help="detect spindles in one recording", description=(
        "Load an EDF/EDF+/BDF recording, stage it (scored hypnogram, stage annotations in the "
        "EDF+, or automatic staging with YASA), detect spindles per EEG channel and write "
        "events.csv, summary.csv, run.json and report.html to --out."))
    p.add_argument("recording", type=Path, help="EDF, EDF+ or BDF file")
    p.add_argument("--hypnogram", type=Path, help="hypnogram file (EDF+ annotations, text, CSV, NSRR XML)")
    p.add_argument("--channels", help="EEG channels to analyse, comma-separated canonical names (e.g. C3,C4)")
    _load_args(p)
    p.add_argument("--no-staging", action="store_true", help="search the whole recording, no staging")
    p.add_argument("--trained-hand", dest="trained_hand", choices=["left", "right"],
                   help="hand trained before sleep: adds the lateralisation panel to the report")
    p.add_argument("--no-report", action="store_true", help="do not write the report (report.html or report.pdf)")
    p.add_argument("--out", type=Path, required=True, help="output folder (created)")
    add_bids_arguments(p, inputs=False)
    _common(p)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("demo", help="make a synthetic night and run the pipeline on it", description=(
        "Generate a synthetic PSG night with planted spindles (known ground truth, a planted "
        "left/right asymmetry), write it as EDF+, run the same path as 'run' on it and score the "
        "detections against the planted spindles."))
    p.add_argument("--out", type=Path, required=True, help="output folder (created)")
    p.add_argument("--hours", type=float, default=2.0, help="length of the synthetic night (default 2)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--no-report", action="store_true", help="do not write the report (report.html or report.pdf)")
    _common(p)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("cohort", help="lateralisation statistics over a cohort manifest", description=(
        "Process every recording of a manifest (CSV: subject,night,recording,hypnogram,trained_hand,"
        "score_pre,score_post) as 'batch' does (parallel, resumable, failures recorded), then write "
        "laterality.csv, cohort_stats.csv, specificity.csv, clusters.csv, cohort_report.html and run.json."))
    _manifest_args(p)
    p.add_argument("--references", nargs="+", choices=REFERENCE_MODES, default=(),
                   metavar="MODE", help="also rerun the cohort under each of these references (auto, as-recorded, "
                   "linked-mastoid, average), each in OUT/reference-MODE/, and compare their contra-ipsi tests side "
                   "by side in reference_robustness.csv (a pair whose effect changes sign is flagged)")
    p.set_defaults(func=_cmd_cohort)

    p = sub.add_parser("batch", help="process a manifest in parallel, resumable", description=(
        "Process every recording of a manifest with a local process pool or a Dask cluster; "
        "completed recordings are skipped on rerun; failures are recorded, not fatal. The manifest's "
        "trained_hand column is optional here (rows without one get reports without lateralisation). On a "
        "cluster's job array, each array task runs one --shard; 'gather' then writes the cohort tables."))
    _manifest_args(p)
    p.add_argument("--shard", metavar="I/N",
                   help="process only shard I of N of the manifest rows (a job array: --array=1-N and --shard "
                        "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT); writes status-shard-I-of-N.csv instead "
                        "of the cohort tables: run 'gather' once every shard is done")
    p.set_defaults(func=_cmd_batch)

    p = sub.add_parser("gather", help="merge the shards of a sharded batch into the cohort tables", description=(
        "Once 'batch --shard I/N' has run for every I on the same manifest and --out: check that every "
        "manifest row has a status, and write the cohort tables, status.csv and cohort_report.html as one "
        "unsharded batch would. A row that its shard did not finish is reported as failed (rerun that "
        "shard, then gather again); a missing shard status is an error."))
    p.add_argument("manifest", type=Path, help="cohort manifest CSV or BIDS root (the one the shards ran, with the "
                                               "same BIDS filters)")
    p.add_argument("--out", type=Path, required=True, help="output folder of the shards")
    add_bids_arguments(p)
    p.set_defaults(func=_cmd_gather)

    p = sub.add_parser("export", help="detections for review (EDF+, FIF, CSV), or a reviewer's annotations back",
                       description=(
        "Write a run folder's detections as annotations 'spindle C3', 'slow oscillation C4' beside the signal "
        "(--to edf: EDF+ for EDFbrowser; --to fif: MNE FIF, each event also on its channel) or alone (--to csv). "
        "With --from FILE (a reviewer's corrected EDF+, FIF or CSV), --to csv writes its events as "
        "RUN_DIR/reviewed_events.csv (and reviewed_slow_oscillations.csv), which 'evaluate' scores."))
    p.add_argument("run_dir", type=Path, help="a finished run folder (run.json, events.csv)")
    p.add_argument("--to", choices=["edf", "fif", "csv"], required=True, help="output format")
    p.add_argument("--from", dest="source", type=Path, metavar="FILE",
                   help="read the events from this file's annotations instead of the run's detections")
    p.add_argument("--out", type=Path, help="output file (default RUN_DIR/review.edf, review_raw.fif or "
                                            "review_annotations.csv; with --from and --to csv, a folder)")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("evaluate", help="score detected events against reference events", description=(
        "By-event precision, recall and F1 (one-to-one matching at an IoU threshold), by-sample "
        "F1 and Cohen's kappa. Files: our events.csv or the DREAMS scoring format."))
    p.add_argument("--reference", type=Path, nargs="+", required=True,
                   help="reference event file(s); two files are combined with --how")
    p.add_argument("--detected", type=Path, required=True, help="detected events file")
    p.add_argument("--iou", type=float, default=0.2, help="minimum intersection over union (default 0.2)")
    p.add_argument("--how", choices=["union", "intersection"], default="union",
                   help="how two reference files are combined (default union)")
    p.add_argument("--duration", type=float, help="recording length in seconds (needed for Cohen's kappa)")
    p.add_argument("--sf", type=float, help="sampling rate in Hz for by-sample scores (default 0.01 s grid)")
    p.add_argument("--window", type=float, nargs=2, metavar=("START", "END"),
                   help="score only events whose midpoint is in [START, END) s: the part the reference scored")
    p.set_defaults(func=_cmd_evaluate)
    return parser


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if verbosity < 2:
        for noisy in ("mne", "numba", "distributed", "matplotlib"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


# glibc malloc tunables (mallopt parameter, value) set by the command (see _tune_allocator).
_ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": (-3, 64 << 20), "MALLOC_TRIM_THRESHOLD_": (-1, 128 << 20)}


def _tune_allocator() -> None:
    """Let this process and the batch workers it starts reuse their freed multi-megabyte temporaries.

    The streamed filtering works block by block, and the FFTs allocate temporaries the size of a
    block that glibc serves from fresh pages and hands back to the system at every free: about
    1,000 page faults per block and channel group, 0.2-0.4 s of a 1 s slow-oscillation pass on an
    8 h x 6 channel night. Blocks below 64 MB then come from the heap, and up to 128 MB of freed
    heap is kept; larger arrays (whole recordings) are still returned at once. Set here with
    ``mallopt`` and, for the workers (glibc reads them at start), as environment variables; a
    value the user set is left alone. A process-wide setting: the command's, never the
    library's. Nothing is done elsewhere than Linux with glibc.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return
    for name, (parameter, value) in _ALLOCATOR.items():
        if name not in os.environ:  # glibc applied the user's own at start
            os.environ[name] = str(value)
            mallopt(parameter, value)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sleepspindles`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    _tune_allocator()
    try:
        return args.func(args)
    except SleepSpindlesError as exc:
        print(f"sleepspindles: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("sleepspindles: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
