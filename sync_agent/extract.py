"""The extract step: choose the connector a mapping's format needs and read one export with it."""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

from sync_agent.connectors.rawtable import RawTable
from sync_agent.errors import InputRefused
from sync_agent.mapping import Mapping

logger = logging.getLogger(__name__)


def extract(path: Path, mapping: Mapping) -> RawTable:
    """Read ``path`` with the connector for ``mapping``'s format; raise InputRefused if unusable."""
    if not path.is_file():
        raise InputRefused(str(path), "file not found; check the path in the configuration")
    if mapping.spec.mapping.layout != "records":
        # Register layouts (a week per row, a CTF marks string) are unpacked into one row per
        # session by the attendance connectors.
        from sync_agent.connectors.attendance_layouts import read_attendance_layout

        return read_attendance_layout(path, mapping)
    if mapping.format == "delimited":
        from sync_agent.connectors.delimited import DEFAULT_FOOTER_PATTERNS, read_delimited

        options = mapping.spec.delimited
        return read_delimited(
            path,
            known_columns=mapping.known_columns(),
            footer_patterns=(options.footer_patterns if options and options.footer_patterns else DEFAULT_FOOTER_PATTERNS),
            delimiter=options.delimiter if options else None,
            encoding=options.encoding if options else None,
        )
    if mapping.format == "xml":
        from sync_agent.connectors.xml_reader import read_xml

        fields = {name: spec.paths for name, spec in mapping.spec.fields.items() if spec.paths}
        fields.update({name: spec.paths for name, spec in mapping.spec.extra.items()})
        return read_xml(path, record_path=mapping.spec.xml.record_path, fields=fields)
    from sync_agent.connectors.portal_json import read_portal_json

    return read_portal_json(path)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def wait_until_settled(path: Path, settle_seconds: float, *, sleep=time.sleep, clock=time.time) -> None:
    """Refuse ``path`` if its size or modification time changes within ``settle_seconds``.

    A file last modified longer ago than ``settle_seconds`` is taken as settled without waiting,
    so an interactive run only waits for a file that is being written right now.
    """
    if settle_seconds <= 0 or not path.is_file():
        return
    before = path.stat()
    quiet_for = clock() - before.st_mtime
    if quiet_for >= settle_seconds:
        return
    sleep(settle_seconds - max(quiet_for, 0))
    after = path.stat()
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise InputRefused(
            str(path),
            f"is still being written (its size or modification time changed within {settle_seconds:g} seconds); "
            "the next run will read it once the MIS has finished the export",
        )
