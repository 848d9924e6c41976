"""The result model of a bulk import: ``la-overview.json``, rendered as CSV, HTML and XLSX too."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sync_agent.result import Finding, InputSummary, Period, Reject

SchoolStatus = Literal["ok", "failed"]


class SchoolPush(BaseModel):
    """A school's push: a plan only (``planned``), or what the send did."""

    model_config = ConfigDict(extra="forbid")

    sent: bool
    planned: int = 0
    delivered: int = 0
    already_there: int = 0
    rejected: int = 0
    failed: int = 0
    file: str | None = None


class SchoolSummary(BaseModel):
    """One school of the import, as the LA officer sees it in the overview."""

    model_config = ConfigDict(extra="forbid")

    laestab: str
    name: str | None = None
    status: SchoolStatus
    reason: str | None = None
    records_read: int = 0
    rejects: int = 0
    open_findings: dict[str, int] = Field(default_factory=dict)
    errors: int = 0
    missing_on_portal: int = 0
    oldest_unreported_school_days: int | None = None
    report: str | None = None
    exit_code: int = 0
    resumed: bool = False
    push: SchoolPush | None = None


class La(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    name: str | None = None


class LaOverview(BaseModel):
    """Everything one bulk import found; ``la-overview.json`` is this model."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    generated_at: dt.datetime
    as_of: dt.date
    period: Period
    la: La
    portal: InputSummary | None = None
    # Every row of the LA portal export that failed validation; ``la-portal-rejects.csv`` lists them.
    portal_rejects: list[Reject] = Field(default_factory=list)
    summary: dict[str, int] = Field(default_factory=dict)
    findings: list[Finding] = Field(default_factory=list)
    schools: list[SchoolSummary] = Field(default_factory=list)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2)
