"""The result model of one run: computed once, then rendered as JSON, CSV, HTML and XLSX."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["error", "warning"]
FindingStatus = Literal["open", "accepted"]
InputStatus = Literal["read", "refused"]


class Finding(BaseModel):
    """One fact that needs a person's attention, with the action that resolves it."""

    model_config = ConfigDict(extra="forbid")

    id: str
    kind: str
    severity: Severity
    laestab: str | None = None
    upn: str | None = None
    pupil: str | None = None
    category: str | None = None
    start_date: dt.date | None = None
    # "AM" or "PM" for a finding about one exclusion record, which distinguishes a pupil's morning
    # and afternoon exclusions of one day. None for other findings.
    start_session: str | None = None
    field: str | None = None
    mis_value: str | None = None
    portal_value: str | None = None
    expected: str | None = None
    actual: str | None = None
    sessions: list[str] = Field(default_factory=list)
    due_date: dt.date | None = None
    age_school_days: int | None = None
    schools: list[str] = Field(default_factory=list)
    # Columns of the MIS record that the model does not know (an admission number, a comment),
    # kept as text so a data manager can find the record in the MIS.
    extra: dict[str, str] = Field(default_factory=dict)
    message: str
    action: str
    status: FindingStatus = "open"


class InputSummary(BaseModel):
    """One input file of the run and what became of it."""

    model_config = ConfigDict(extra="forbid")

    path: str
    kind: str
    sha256: str | None = None
    status: InputStatus = "read"
    records: int = 0
    rejects: int = 0
    skipped_rows: dict[str, int] = Field(default_factory=dict)
    reason: str | None = None


class Period(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: dt.date = Field(alias="from")
    to: dt.date


class School(BaseModel):
    model_config = ConfigDict(extra="forbid")

    laestab: str
    name: str | None = None


class Reject(BaseModel):
    """One rejected input row (or one problem with it)."""

    model_config = ConfigDict(extra="forbid")

    file: str
    line: int | None
    field: str | None
    value: str | None
    message: str


class Result(BaseModel):
    """Everything one reconcile run found; ``reconciliation.json`` is this model."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    generated_at: dt.datetime
    as_of: dt.date
    period: Period
    school: School
    inputs: list[InputSummary] = Field(default_factory=list)
    summary: dict[str, int] = Field(default_factory=dict)
    findings: list[Finding] = Field(default_factory=list)
    rejects: list[Reject] = Field(default_factory=list, exclude=True)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2)
