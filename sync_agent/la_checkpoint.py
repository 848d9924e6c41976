"""Per-school checkpoints of a bulk import, so a rerun after a crash redoes only unfinished schools.

A school's checkpoint is the folder ``<out>/.checkpoints/<LAESTAB>/`` holding ``result.json`` (the
school's Result), ``exclusions.parquet``, ``marks.parquet`` and ``register.parquet`` (what the
LA-wide checks read), ``pushable.parquet`` (the MIS records a push would send) and, written last,
``done.json`` with the checkpoint key. The key is a SHA-256 over the school's configuration, the
bytes of every file it reads (exports, mapping files, term dates), its slice of the LA portal, the
as-of date, the academic year, the release and the checkpoint format, so a checkpoint whose inputs
or configuration changed is never used.

A school's marks run to tens of thousands of rows, so they are not read back with the rest:
``register.parquet`` lists the pupils on the school's register, each with whether it marks them
``E``, and ``sync_agent.la_marks`` reads from ``marks.parquet`` only the pupils it needs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from sync_agent import __version__
from sync_agent.la_checks import EXCLUDED_CODE
from sync_agent.reports.safety import make_private_dir, open_private, write_private_bytes
from sync_agent.result import Result

logger = logging.getLogger(__name__)

CHECKPOINT_FOLDER = ".checkpoints"
DONE_FILE = "done.json"
RESULT_FILE = "result.json"
EXCLUSIONS_FILE = "exclusions.parquet"
MARKS_FILE = "marks.parquet"
REGISTER_FILE = "register.parquet"
PUSHABLE_FILE = "pushable.parquet"
# Part of every key: a checkpoint written in an older layout is never read as this one.
CHECKPOINT_FORMAT = "2"


@dataclass
class Checkpoint:
    """The files a finished school leaves for the LA-wide steps.

    ``marks`` (``MARK_COLUMNS`` of ``la_checks``, None without a register) is written but never
    read back here; ``sync_agent.la_marks`` reads the marks it needs from the files.
    """

    result: Result
    exclusions: pd.DataFrame
    pushable: pd.DataFrame
    exit_code: int
    marks: pd.DataFrame | None = None


def checkpoint_dir(out_dir: Path, laestab: str) -> Path:
    return out_dir / CHECKPOINT_FOLDER / laestab


def checkpoint_key(config_json: str, files: list[Path], portal_hash: str, *, as_of: str, academic_year: str | None) -> str:
    """Return the key that a checkpoint must carry to be reused for these inputs and settings."""
    digest = hashlib.sha256()
    for part in (__version__, CHECKPOINT_FORMAT, config_json, portal_hash, as_of, academic_year or ""):
        digest.update(part.encode("utf-8") + b"\0")
    for path in sorted(files):
        digest.update(str(path).encode("utf-8") + b"\0")
        digest.update(_file_digest(path) + b"\0")
    return digest.hexdigest()


def _file_digest(path: Path) -> bytes:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        # A missing or unreadable file still gives a key; the school run reports the file itself.
        return f"unreadable: {exc.strerror}".encode()
    return digest.digest()


def write_checkpoint(folder: Path, key: str, checkpoint: Checkpoint) -> None:
    """Write a school's checkpoint; ``done.json`` goes last, so a crash mid-way leaves none."""
    make_private_dir(folder.parent.parent)
    make_private_dir(folder.parent)
    make_private_dir(folder)
    (folder / DONE_FILE).unlink(missing_ok=True)
    write_private_bytes(folder / RESULT_FILE, checkpoint.result.to_json().encode("utf-8"))
    _write_parquet(checkpoint.exclusions, folder / EXCLUSIONS_FILE)
    if checkpoint.marks is not None:
        _write_parquet(checkpoint.marks, folder / MARKS_FILE)
        _write_parquet(register_pupils(checkpoint.marks), folder / REGISTER_FILE)
    else:
        (folder / MARKS_FILE).unlink(missing_ok=True)
        (folder / REGISTER_FILE).unlink(missing_ok=True)
    _write_parquet(checkpoint.pushable, folder / PUSHABLE_FILE)
    temporary = folder / f".{DONE_FILE}.{os.getpid()}"
    with open_private(temporary, "w", encoding="utf-8") as handle:
        json.dump({"key": key, "exit_code": checkpoint.exit_code, "marks": checkpoint.marks is not None}, handle)
    os.replace(temporary, folder / DONE_FILE)


def read_checkpoint(folder: Path, key: str) -> Checkpoint | None:
    """Return the checkpoint in ``folder`` when it is complete, readable and carries ``key``, else None.

    The marks are not read, but their files must be there with readable Parquet metadata, so the
    LA-wide check that reads them later does not fail half-way through an import.
    """
    done = _read_done(folder)
    if done is None or done.get("key") != key:
        return None
    try:
        result = Result.model_validate_json((folder / RESULT_FILE).read_bytes())
        exclusions = pd.read_parquet(folder / EXCLUSIONS_FILE)
        pushable = pd.read_parquet(folder / PUSHABLE_FILE)
        if done.get("marks"):
            pq.read_metadata(folder / MARKS_FILE)
            pq.read_metadata(folder / REGISTER_FILE)
    except (OSError, ValueError) as exc:
        # pyarrow's ArrowInvalid, raised for a damaged Parquet file, is a ValueError.
        logger.warning("checkpoint %s cannot be read (%s); the school is run again", folder, exc)
        return None
    return Checkpoint(result, exclusions, pushable, int(done.get("exit_code", 0)))


def register_pupils(marks: pd.DataFrame) -> pd.DataFrame:
    """Return one row per UPN in ``marks``: ``upn`` and ``excluded`` (marked ``E`` at least once)."""
    codes, pupils = pd.factorize(marks["upn"])
    excluded = np.zeros(len(pupils), dtype=bool)
    excluded[codes[(marks["code"] == EXCLUDED_CODE).to_numpy()]] = True
    return pd.DataFrame({"upn": np.asarray(pupils, dtype=object).astype(str), "excluded": excluded})


def _read_done(folder: Path) -> dict | None:
    try:
        return json.loads((folder / DONE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.warning("checkpoint marker %s cannot be read (%s); the school is run again", folder / DONE_FILE, exc)
        return None


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    with open_private(path, "wb") as handle:
        frame.to_parquet(handle, index=False)
