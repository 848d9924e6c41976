"""Writer of Capita ONE B2B exclusion XML files, for an LA that imports files instead of a REST API.

Each ``<Exclusion>`` follows the ONE 3.72 shape: ``Category``, ``Reasons/Reason`` (up to three, main
reason first), ``StartDate``, ``StartTime`` (AM/PM, the first session), ``EndDate`` and
``SchoolDays`` (decimal days, sessions / 2). The end session has no element in that shape, and a
permanent exclusion has no ``EndDate`` or ``SchoolDays``.

ONE's wrapper around ``<Exclusion>`` is not public, so this writer uses its own::

    <B2BExclusions version="1">
      <Header>
        <LAESTAB>9402001</LAESTAB>
        <CreatedAt>2025-03-14T07:00:02+00:00</CreatedAt>
        <Software>sync-agent 0.1.0</Software>
        <RecordCount>2</RecordCount>
      </Header>
      <Pupils>
        <Pupil>
          <UPN>…</UPN><Surname>…</Surname><Forename>…</Forename><DOB>2012-02-14</DOB>
          <Exclusions><Exclusion>…</Exclusion></Exclusions>
        </Pupil>
      </Pupils>
    </B2BExclusions>

Names and DOB are left out when the record has none. The file is written to a temporary file in the
target folder, flushed to disk, then renamed into place, so an importer never sees half a file.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lxml import etree

from sync_agent import __version__
from sync_agent.errors import ConfigError
from sync_agent.reports.safety import make_private_dir

WRAPPER_VERSION = "1"
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_PUPIL_FIELDS = (("surname", "Surname"), ("forename", "Forename"), ("date_of_birth", "DOB"))


def b2b_file_name(laestab: str, created_at: dt.datetime) -> str:
    """Return ``exclusions-<LAESTAB>-<UTC timestamp>.xml``, which sorts by creation time."""
    stamp = created_at.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"exclusions-{laestab}-{stamp}.xml"


def build_document(laestab: str, payloads: Sequence[Mapping[str, Any]], created_at: dt.datetime) -> etree._Element:
    """Return the XML tree for one school's exclusions, one ``Pupil`` per UPN in first-seen order."""
    root = etree.Element("B2BExclusions", version=WRAPPER_VERSION)
    header = etree.SubElement(root, "Header")
    _text(header, "LAESTAB", laestab)
    _text(header, "CreatedAt", created_at.isoformat(timespec="seconds"))
    _text(header, "Software", f"sync-agent {__version__}")
    _text(header, "RecordCount", str(len(payloads)))
    pupils = etree.SubElement(root, "Pupils")
    by_upn: dict[str, etree._Element] = {}
    for payload in payloads:
        upn = str(payload["upn"]).strip().upper()
        if upn not in by_upn:
            by_upn[upn] = _pupil(pupils, upn, payload)
        _exclusion(by_upn[upn], payload)
    return root


def write_b2b_file(
    out_dir: Path, laestab: str, payloads: Sequence[Mapping[str, Any]], *, created_at: dt.datetime | None = None
) -> Path:
    """Write one B2B exclusions file into ``out_dir`` and return its path.

    The file appears complete or not at all, and is readable by its owner only, since it contains
    pupil data. Missing folders up to ``out_dir`` are created owner-only. Raises ``ConfigError``
    when ``out_dir`` cannot be written.
    """
    created_at = created_at or dt.datetime.now(dt.timezone.utc)
    target = Path(out_dir) / b2b_file_name(laestab, created_at)
    data = etree.tostring(build_document(laestab, payloads, created_at), xml_declaration=True,
                          encoding="UTF-8", pretty_print=True)
    try:
        make_private_dir(out_dir)
        _write_atomically(target, data)
    except OSError as exc:
        raise ConfigError(f"[push] b2b_dir {out_dir}: cannot write the B2B file ({exc}); check the folder and its permissions") from exc
    return target


def _write_atomically(target: Path, data: bytes) -> None:
    handle = tempfile.NamedTemporaryFile(dir=target.parent, prefix=".", suffix=".tmp", delete=False)
    try:
        with handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, target)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _pupil(parent: etree._Element, upn: str, payload: Mapping[str, Any]) -> etree._Element:
    pupil = etree.SubElement(parent, "Pupil")
    _text(pupil, "UPN", upn)
    for name, tag in _PUPIL_FIELDS:
        if payload.get(name):
            _text(pupil, tag, str(payload[name]))
    etree.SubElement(pupil, "Exclusions")
    return pupil


def _exclusion(pupil: etree._Element, payload: Mapping[str, Any]) -> None:
    element = etree.SubElement(pupil.find("Exclusions"), "Exclusion")
    _text(element, "Category", str(payload["category"]))
    reasons = etree.SubElement(element, "Reasons")
    for code in payload.get("reasons") or []:
        _text(reasons, "Reason", str(code))
    _text(element, "StartDate", str(payload["start_date"]))
    _text(element, "StartTime", str(payload["start_session"]))
    if payload.get("end_date"):
        _text(element, "EndDate", str(payload["end_date"]))
    if payload.get("sessions") is not None:
        _text(element, "SchoolDays", f"{float(payload['sessions']) / 2:.1f}")


def _text(parent: etree._Element, tag: str, value: str) -> etree._Element:
    element = etree.SubElement(parent, tag)
    # XML 1.0 cannot carry control characters, and lxml raises on them.
    element.text = _XML_INVALID.sub("", value)
    return element
