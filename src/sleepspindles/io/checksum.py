"""Input checksums, so outputs say exactly which file made them (and resumed runs can tell)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..errors import file_error
from ..records import InputFile

__all__ = ["input_file", "sha256_file"]


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(chunk), b""):
                digest.update(block)
    except OSError as exc:
        raise file_error(path, f"cannot read file ({exc.strerror})") from None
    return digest.hexdigest()


def input_file(path: str | Path) -> InputFile:
    """An input as ``run.json`` records it: its absolute path (a run folder is read from anywhere) and SHA-256."""
    return InputFile(str(Path(path).resolve()), sha256_file(path))
