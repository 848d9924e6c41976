"""Record and field paths for the XML reader, parsed once and walked for every record.

Paths compare local names, so the same path reads a document with a default namespace, with
prefixes or with none. A field path is relative to the record element:

- ``StartDate``: the first ``StartDate`` child; ``Reasons/Reason[2]``: the second ``Reason`` child
  of the first ``Reasons`` child (positions count from 1 among same-named siblings);
- ``@id`` or ``Child/@id``: an attribute, matched by local name;
- ``../../UPN``: leading ``..`` steps climb to an ancestor first (here the grandparent).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lxml import etree

from sync_agent.connectors.rawtable import LINE_COLUMN
from sync_agent.errors import MappingError

_NAME_STEP = re.compile(r"^([^\s/\[\]@:]+)(?:\[(\d+)\])?$")
_ATTRIBUTE_STEP = re.compile(r"^@([^\s/\[\]@:]+)$")
_PATH_HELP = (
    "write child element names separated by '/', each with an optional [n] position counted "
    "from 1, after any leading '..' steps, and optionally ending in '@attribute'"
)


class LocalNames(dict):
    """Cache of element tag to local name; entity nodes and other non-element tags map to ""."""

    def __missing__(self, tag: object) -> str:
        name = tag.rpartition("}")[2] if isinstance(tag, str) else ""
        self[tag] = name
        return name


@dataclass(frozen=True)
class _Step:
    name: str
    position: int  # 0-based among same-named siblings


@dataclass(frozen=True)
class FieldPath:
    """One alternative path of an output column, relative to the record element."""

    levels_up: int
    steps: tuple[_Step, ...]
    attribute: str | None


def parse_field_path(column: str, path: str) -> FieldPath:
    """Parse ``../../UPN``, ``Reasons/Reason[2]`` or ``Child/@id``; raise MappingError if invalid."""
    tokens = path.strip().split("/")
    if "" in tokens:
        raise MappingError(f"XML field {column!r}: path {path!r} is not valid; {_PATH_HELP}")

    levels_up = 0
    while levels_up < len(tokens) and tokens[levels_up] == "..":
        levels_up += 1
    rest = tokens[levels_up:]
    attribute = None
    if rest and (attribute_match := _ATTRIBUTE_STEP.match(rest[-1])):
        attribute = attribute_match.group(1)
        rest = rest[:-1]

    steps = []
    for token in rest:
        match = _NAME_STEP.match(token)
        if match is None or token in (".", "..") or (match.group(2) is not None and int(match.group(2)) < 1):
            raise MappingError(
                f"XML field {column!r}: step {token!r} of path {path!r} is not valid; {_PATH_HELP}"
            )
        position = int(match.group(2)) - 1 if match.group(2) else 0
        steps.append(_Step(match.group(1), position))
    return FieldPath(levels_up, tuple(steps), attribute)


def parse_record_path(record_path: str) -> tuple[tuple[str, ...], bool]:
    """Return the local names of ``record_path`` and whether a leading "/" anchors it at the root."""
    anchored = record_path.startswith("/")
    names = tuple(record_path.strip().strip("/").split("/"))
    if any(_NAME_STEP.match(name) is None or "[" in name for name in names):
        raise MappingError(
            f"XML record path {record_path!r} is not valid; write element names separated by "
            f"'/', such as 'Pupil/Exclusions/Exclusion' (a leading '/' anchors it at the root)"
        )
    return names, anchored


@dataclass(frozen=True)
class ReadPlan:
    """The parsed record path and fields of one ``read_xml`` call."""

    record: tuple[str, ...]
    anchored: bool
    columns: tuple[str, ...]
    alternatives: tuple[tuple[FieldPath, ...], ...]  # one tuple per column, in column order
    # Local names of every element a field path steps through. The reader keeps such elements
    # until their parent is cleared, because a record read later may still need them.
    referenced_names: frozenset[str]

    @classmethod
    def build(cls, record_path: str, fields: Mapping[str, Sequence[str]]) -> ReadPlan:
        """Parse the paths; raise MappingError naming the field whose path is invalid."""
        record, anchored = parse_record_path(record_path)
        columns = tuple(fields)
        alternatives = []
        for column in columns:
            if column == LINE_COLUMN:
                raise MappingError(f"XML field name {column!r} is reserved for line numbers")
            paths = fields[column]
            if isinstance(paths, str) or not paths:
                raise MappingError(
                    f"XML field {column!r}: give a list of one or more paths, not {paths!r}"
                )
            alternatives.append(tuple(parse_field_path(column, path) for path in paths))
        referenced = {step.name for paths in alternatives for path in paths for step in path.steps}
        return cls(record, anchored, columns, tuple(alternatives), frozenset(referenced))

    def matches(self, element: etree._Element, names: LocalNames) -> bool:
        """Return whether the ancestry of an element named like the record ends with the path."""
        node = element
        for name in reversed(self.record[:-1]):
            node = node.getparent()
            if node is None or names[node.tag] != name:
                return False
        return not self.anchored or node.getparent() is None


class RecordExtractor:
    """Reads a plan's columns from finished record elements.

    Values of ancestor paths (those starting with ``..``) are read once per parent element and
    reused for its later records, so every record inside one parent gets the same ancestor
    values: those present when its first record ended.
    """

    def __init__(self, plan: ReadPlan, names: LocalNames) -> None:
        self._names = names
        self._ancestor_paths = sorted(
            {path for paths in plan.alternatives for path in paths if path.levels_up},
            key=repr,
        )
        slots = {path: slot for slot, path in enumerate(self._ancestor_paths)}
        # Per column, its alternatives as (ancestor slot or None, path, child step or None), so
        # the per-record loop never hashes a FieldPath and reads a child's text without a call.
        self._columns = tuple(
            tuple((slots.get(path), path, _child_text_step(path)) for path in paths)
            for paths in plan.alternatives
        )
        # Per column, the slots of its ancestor paths in the column's order of preference.
        self._ancestor_slots = tuple(
            tuple(slots[path] for path in paths if path.levels_up) for paths in plan.alternatives
        )
        self._cached_parent: etree._Element | None = None
        self._cached_values: list[str | None] = []

    def extract(self, record: etree._Element) -> list[str]:
        """Return one stripped text per column: "" where no alternative path is present."""
        names = self._names
        children: dict[str, list] = {}
        for child in record:
            children.setdefault(names[child.tag], []).append(child)
        indexes = {record: children}
        ancestor_values = self._ancestor_values(record) if self._ancestor_paths else []

        row = []
        for alternatives in self._columns:
            value = None
            for slot, path, step in alternatives:
                if step is not None:
                    found = children.get(step.name)
                    if found is not None and step.position < len(found):
                        value = found[step.position].text or ""
                elif slot is None:
                    value = _select(record, path, names, indexes)
                else:
                    value = ancestor_values[slot]
                if value is not None:
                    break
            row.append(value.strip() if value else "")
        return row

    def _ancestor_values(self, record: etree._Element) -> list[str | None]:
        parent = record.getparent()
        if parent is None or parent is not self._cached_parent:
            self._cached_parent = parent
            self._cached_values = self._read_ancestor_values(record)
        return self._cached_values

    def _read_ancestor_values(self, record: etree._Element) -> list[str | None]:
        """Read each column's ancestor paths in order, up to the first that selects something.

        Later alternatives of a column are left as None without being read: the column never
        consults them, because an earlier alternative selects a value for every record.
        """
        values: list[str | None] = [None] * len(self._ancestor_paths)
        indexes: dict[etree._Element, dict[str, list]] = {}
        for slots in self._ancestor_slots:
            for slot in slots:
                value = values[slot]
                if value is None:
                    path = self._ancestor_paths[slot]
                    value = values[slot] = _select(record, path, self._names, indexes)
                if value is not None:
                    break
        return values


def _child_text_step(path: FieldPath) -> _Step | None:
    """Return the step of a path that is just a child's text, the most common kind."""
    if path.levels_up == 0 and len(path.steps) == 1 and path.attribute is None:
        return path.steps[0]
    return None


def _select(
    record: etree._Element,
    path: FieldPath,
    names: LocalNames,
    indexes: dict[etree._Element, dict[str, list]],
) -> str | None:
    """Return the text or attribute value a path selects, or None when it selects nothing.

    ``indexes`` caches each visited element's children by local name, so paths that share a
    prefix (``Reasons/Reason[1]``, ``Reasons/Reason[2]``) walk the children once.
    """
    node = record
    for _ in range(path.levels_up):
        node = node.getparent()
        if node is None:
            return None
    for step in path.steps:
        index = indexes.get(node)
        if index is None:
            index = indexes[node] = {}
            for child in node:
                index.setdefault(names[child.tag], []).append(child)
        found = index.get(step.name)
        if found is None or step.position >= len(found):
            return None
        node = found[step.position]

    if path.attribute is None:
        return node.text or ""
    value = node.get(path.attribute)
    if value is None:
        for key, candidate in node.attrib.items():
            if key.rpartition("}")[2] == path.attribute:
                return candidate
    return value
