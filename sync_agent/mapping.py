"""Mapping files: how one export shape's columns and values become canonical fields.

A mapping file is TOML. ``[mapping]`` names the shape (``kind`` and ``format``); ``[fields]`` gives,
for each canonical field, the source columns (delimited text, JSON) or element paths (XML) to read,
first one present wins, with an optional value table, date formats, a conversion and a default;
``[extra]`` keeps further columns as text; ``[tables]`` adds source values to the built-in value
tables or defines new ones. Built-in mappings ship inside the package and are found by name; any
other value of ``mapping =`` is a path to a mapping file. A mapping file is validated when loaded,
and every error names the file and the key path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sync_agent.codelists import categories, reason_codes
from sync_agent.config import format_validation_error, read_toml
from sync_agent.errors import ConfigError, MappingError
from sync_agent.textnorm import normalise_label

Kind = Literal["exclusions", "portal", "attendance", "pupils"]

DATE_FIELDS = frozenset(
    {"date_of_birth", "start_date", "end_date", "parents_notified_on", "la_notified_on", "provision_from", "date",
     "on_roll_from", "on_roll_to"}
)
_EXCLUSION_FIELDS = {
    "laestab", "upn", "surname", "forename", "date_of_birth", "category", "reason_1", "reason_2", "reason_3",
    "start_date", "start_session", "end_date", "end_session", "sessions", "status", "parents_notified_on",
    "la_notified_on", "provision_from", "provision_type",
}
FIELDS_BY_KIND: dict[str, frozenset[str]] = {
    "exclusions": frozenset(_EXCLUSION_FIELDS),
    "portal": frozenset(_EXCLUSION_FIELDS | {"portal_id"}),
    "attendance": frozenset({"laestab", "upn", "date", "session", "code"}),
    "pupils": frozenset({"laestab", "upn", "surname", "forename", "date_of_birth", "on_roll_from", "on_roll_to"}),
}
_CONVERTED_FIELD = {"days_to_sessions": "sessions", "end_session_from_sessions": "end_session"}
DEFAULT_DATE_FORMATS = {"delimited": ["%d/%m/%Y"], "xml": ["%Y-%m-%d"], "json": ["%Y-%m-%d"]}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class FieldSpec(_Strict):
    columns: list[str] = Field(default_factory=list)
    paths: list[str] = Field(default_factory=list)
    required: bool = False
    table: str | None = None
    date_formats: list[str] | None = None
    # days_to_sessions: decimal school days (1.5) become half-day sessions (3).
    # end_session_from_sessions: a blank end session follows from the start session and the
    # number of sessions, for export shapes that carry no end session (Capita ONE B2B XML).
    convert: Literal["days_to_sessions", "end_session_from_sessions"] | None = None
    default: str | None = None
    blank_values: list[str] = Field(default_factory=list)


class ExtraSpec(_Strict):
    columns: list[str] = Field(default_factory=list)
    paths: list[str] = Field(default_factory=list)


class MappingHeader(_Strict):
    name: str
    kind: Kind
    format: Literal["delimited", "xml", "json"]
    description: str = ""
    follows: str = ""
    # Columns the mapping does not name (an admission number, a comment) are kept as text in extra.
    keep_unmapped_columns: bool = False
    # How records sit in the export: one per row or element ("records"), one row per pupil per
    # week with a column per session ("wide-week"), or a CTF marks string per pupil ("ctf-marks").
    layout: Literal["records", "wide-week", "ctf-marks"] = "records"


class DelimitedOptions(_Strict):
    delimiter: str | None = None
    encoding: str | None = None
    footer_patterns: list[str] | None = None


class XmlOptions(_Strict):
    record_path: str


class MappingFile(_Strict):
    mapping: MappingHeader
    delimited: DelimitedOptions | None = None
    xml: XmlOptions | None = None
    fields: dict[str, FieldSpec]
    extra: dict[str, ExtraSpec] = Field(default_factory=dict)
    tables: dict[str, dict[str, list[str]]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> MappingFile:
        fmt = self.mapping.format
        allowed = FIELDS_BY_KIND[self.mapping.kind]
        for name, spec in self.fields.items():
            if name not in allowed:
                raise ValueError(
                    f"fields.{name}: unknown field for kind {self.mapping.kind!r}; known fields: {', '.join(sorted(allowed))}"
                )
            self._check_locators(f"fields.{name}", spec.columns, spec.paths, fmt, needs_one=spec.default is None)
            if spec.table is not None and spec.table not in BUILT_IN_TABLES and spec.table not in self.tables:
                raise ValueError(f"fields.{name}.table: table {spec.table!r} is neither built in nor under [tables]")
            if spec.convert is not None and name != _CONVERTED_FIELD[spec.convert]:
                raise ValueError(
                    f"fields.{name}.convert: {spec.convert!r} applies to fields.{_CONVERTED_FIELD[spec.convert]} only"
                )
            if spec.date_formats is not None and name not in DATE_FIELDS:
                raise ValueError(f"fields.{name}.date_formats: {name} is not a date field")
        for name, spec in self.extra.items():
            self._check_locators(f"extra.{name}", spec.columns, spec.paths, fmt, needs_one=True)
        if fmt == "xml" and self.xml is None:
            raise ValueError("[xml] record_path is required for format = \"xml\"")
        if fmt != "xml" and self.xml is not None:
            raise ValueError(f"[xml] is only for format = \"xml\", not {fmt!r}")
        if fmt != "delimited" and self.delimited is not None:
            raise ValueError(f"[delimited] is only for format = \"delimited\", not {fmt!r}")
        return self

    @staticmethod
    def _check_locators(where: str, columns: list[str], paths: list[str], fmt: str, needs_one: bool) -> None:
        if fmt == "xml" and columns:
            raise ValueError(f"{where}.columns: an XML mapping names elements with paths, not columns")
        if fmt != "xml" and paths:
            raise ValueError(f"{where}.paths: only an XML mapping uses paths; use columns")
        if needs_one and not (columns or paths):
            raise ValueError(f"{where}: give at least one {'path' if fmt == 'xml' else 'column'}")
        for path in paths:
            if not path or path.startswith("/") or "//" in path or any(c in path for c in "*()|"):
                raise ValueError(f"{where}.paths: {path!r} is not a relative path such as Reasons/Reason[1] or ../UPN")


@dataclass(frozen=True)
class Mapping:
    """A loaded, validated mapping file with its value tables compiled for lookup."""

    name: str
    source: str  # "built-in mapping sims-csv" or the file path, for messages
    path: Path | None
    spec: MappingFile
    lookups: dict[str, dict[str, str]]  # table name -> normalised source value -> canonical value
    digest: str  # SHA-256 of the file's bytes, for a run's fingerprint

    @property
    def kind(self) -> str:
        return self.spec.mapping.kind

    @property
    def format(self) -> str:
        return self.spec.mapping.format

    def date_formats(self, field: str) -> list[str]:
        spec = self.spec.fields[field]
        return spec.date_formats or DEFAULT_DATE_FORMATS[self.format]

    def known_columns(self) -> list[str]:
        """Return every column name the mapping may read, for finding an export's header row."""
        names = [c for spec in self.spec.fields.values() for c in spec.columns]
        names += [c for spec in self.spec.extra.values() for c in spec.columns]
        return names


def _built_in_tables() -> dict[str, dict[str, list[str]]]:
    reasons = reason_codes()
    return {
        "category": {c.name: [*c.codes, *c.labels] for c in categories().values()},
        "reason": {code: [code, *reasons.labels.get(code, ())] for code in sorted(reasons.all_codes())},
        "session": {"AM": ["AM", "A", "Morning", "M"], "PM": ["PM", "P", "Afternoon", "A/N"]},
        "status": {
            "active": ["Active", "Current", "Confirmed"],
            "withdrawn": ["Withdrawn", "Cancelled", "Rescinded"],
            "reinstated": ["Reinstated", "Overturned"],
        },
        "provision_type": {
            "school": ["School", "B", "School arranged", "School-arranged"],
            "dual": ["Dual", "D", "Dual registration", "Dual registered"],
            "la": ["LA", "K", "LA arranged", "LA-arranged", "Local authority"],
        },
    }


BUILT_IN_TABLES = frozenset(_built_in_tables())


def compile_tables(spec: MappingFile, source: str) -> dict[str, dict[str, str]]:
    """Merge the mapping's [tables] into the built-in tables, keyed by normalised source value.

    Keys are compared after trimming, case folding, removing invisible characters and treating
    punctuation as spaces, so "Fixed-term", "FIXED TERM " and "fixed term" are one key.
    """
    merged: dict[str, dict[str, list[str]]] = {k: {c: list(v) for c, v in t.items()} for k, t in _built_in_tables().items()}
    for table, entries in spec.tables.items():
        target = merged.setdefault(table, {})
        for canonical, values in entries.items():
            if table in BUILT_IN_TABLES and canonical not in target:
                # The canonical values of a built-in table are the model's; a mapping only adds source values.
                raise MappingError(
                    f"{source}: tables.{table}.{canonical}: {canonical!r} is not a value of the built-in table "
                    f"{table!r}; use one of {', '.join(sorted(target))}"
                )
            target.setdefault(canonical, [canonical]).extend(values)
    lookups: dict[str, dict[str, str]] = {}
    for table, entries in merged.items():
        lookup: dict[str, str] = {}
        for canonical, values in entries.items():
            for value in values:
                key = normalise_label(value)
                if key in lookup and lookup[key] != canonical:
                    raise MappingError(
                        f"{source}: tables.{table}: {value!r} maps to both {lookup[key]!r} and {canonical!r}; keep one"
                    )
                lookup[key] = canonical
        lookups[table] = lookup
    return lookups


def built_in_names() -> list[str]:
    folder = resources.files("sync_agent.mappings")
    return sorted(item.name.removesuffix(".toml") for item in folder.iterdir() if item.name.endswith(".toml"))


def load_mapping(name_or_path: str, base_dir: Path | None = None) -> Mapping:
    """Load a built-in mapping by name, or a mapping file by path (relative to ``base_dir``)."""
    looks_like_path = name_or_path.endswith(".toml") or "/" in name_or_path or "\\" in name_or_path
    if not looks_like_path:
        if name_or_path not in built_in_names():
            raise ConfigError(
                f"mapping {name_or_path!r} is not a built-in mapping ({', '.join(built_in_names())}) "
                "and not a path to a .toml file"
            )
        return _load_built_in(name_or_path)
    path = Path(name_or_path)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_file():
        raise ConfigError(f"mapping file {path} was not found")
    return _load_file(path.resolve())


@cache
def _load_built_in(name: str) -> Mapping:
    resource = resources.files("sync_agent.mappings").joinpath(f"{name}.toml")
    data = resource.read_bytes()
    return _build(f"built-in mapping {name}", None, data)


def _load_file(path: Path) -> Mapping:
    read_toml(path)  # translates syntax errors with the file name
    return _build(str(path), path, path.read_bytes())


def _build(source: str, path: Path | None, data: bytes) -> Mapping:
    import tomllib

    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MappingError(f"{source}: invalid TOML: {exc}") from exc
    try:
        spec = MappingFile.model_validate(raw)
    except ValidationError as exc:
        raise MappingError(format_validation_error(source, exc)) from exc
    lookups = compile_tables(spec, source)
    digest = hashlib.sha256(data).hexdigest()
    return Mapping(spec.mapping.name, source, path, spec, lookups, digest)
