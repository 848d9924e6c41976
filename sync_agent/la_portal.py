"""The LA-wide portal export: read and validated once, then handed to each school as its own slice.

Each school gets a ``LoadedInput`` holding only the records of its LAESTAB, and the rejected rows
that carry its LAESTAB, so the school's report lists them and its MIS records that such a row may
be are not reported missing (and never pushed a second time). Every rejected row is also listed in
the LA overview, since a row whose LAESTAB is unreadable belongs to no school. A refused export is
handed to every school as refused, so no school compares against it.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sync_agent.codelists import reason_codes
from sync_agent.errors import ConfigError
from sync_agent.la_config import LaConfig
from sync_agent.mapping import load_mapping
from sync_agent.pipeline import LoadedInput, load_input
from sync_agent.rejects import empty_rejects
from sync_agent.result import InputSummary
from sync_agent.validate import ValidatedRecords

logger = logging.getLogger(__name__)


@dataclass
class LaPortal:
    """The LA portal export: its summary, accepted records (None when refused) and rejects."""

    summary: InputSummary
    records: pd.DataFrame | None
    rejects: pd.DataFrame
    # What could be read of each rejected row (``ValidatedRecords.rejected_keys``).
    rejected_keys: pd.DataFrame | None = None
    # Row positions per LAESTAB and one hash per row, worked out once for the whole export: a
    # few hundred schools each filtering and hashing the export would cost seconds.
    _rows: dict[str, np.ndarray] = field(init=False, repr=False, default_factory=dict)
    _row_hashes: np.ndarray | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        if self.records is None:
            return
        self.records = self.records.reset_index(drop=True)
        self._rows = {str(key): rows for key, rows in self.records.groupby("laestab", sort=False).indices.items()}
        text = self.records.astype(str) if len(self.records) else self.records
        self._row_hashes = pd.util.hash_pandas_object(text, index=False).to_numpy()

    def slice_for(self, laestab: str) -> LoadedInput:
        """Return the school's share of the export as the pipeline's portal input."""
        summary = self.summary.model_copy(update={"rejects": 0, "skipped_rows": {}})
        if self.records is None:
            return LoadedInput(summary)
        own = self.records.take(self._own_rows(laestab)).reset_index(drop=True)
        own_keys, own_rejects = self._own_rejects(laestab)
        if len(self.records) and own.empty and (own_keys is None or own_keys.empty):
            # As for a school's own portal export: read as "nothing logged", an LA export that
            # leaves this school out (one area's schools only, say) would have push send every
            # record again.
            summary.status = "refused"
            summary.reason = (f"holds {len(self.records)} records but none for LAESTAB {laestab}; check that "
                              "the LA portal export covers every school of the import")
            logger.error("portal export %s refused for school %s: %s", self.summary.path, laestab, summary.reason)
            return LoadedInput(summary)
        summary.records = len(own)
        summary.rejects = int(own_rejects["line"].nunique())
        validated = ValidatedRecords(file=self.summary.path, records=own, rejects=own_rejects,
                                     read=len(own) + summary.rejects, rejected_keys=own_keys)
        return LoadedInput(summary, validated)

    def digest_for(self, laestab: str) -> str:
        """Return a SHA-256 over the school's status and records in the export, for its checkpoint key."""
        digest = hashlib.sha256(f"{self.summary.status}|".encode("utf-8"))
        if self.records is not None:
            digest.update("|".join(map(str, self.records.columns)).encode("utf-8"))
            digest.update(self._row_hashes[self._own_rows(laestab)].tobytes())
            _, own_rejects = self._own_rejects(laestab)
            digest.update(own_rejects.to_csv(index=False).encode("utf-8"))
        return digest.hexdigest()

    def _own_rejects(self, laestab: str) -> tuple[pd.DataFrame | None, pd.DataFrame]:
        """Return the rejected rows' keys and reject lines of the rows carrying ``laestab``."""
        if self.rejected_keys is None or self.rejected_keys.empty:
            return None, empty_rejects()
        keys = self.rejected_keys[self.rejected_keys["laestab"].astype(str) == laestab].reset_index(drop=True)
        lines = set(keys["source_line"])
        return keys, self.rejects[self.rejects["line"].isin(lines)].reset_index(drop=True)

    def _own_rows(self, laestab: str) -> np.ndarray:
        return self._rows.get(laestab, np.empty(0, dtype=np.intp))


def read_la_portal(la: LaConfig) -> LaPortal | None:
    """Read the ``[portal]`` export of ``la.toml`` once; None when the LA configures no portal."""
    if la.portal is None:
        return None
    if la.portal.mode != "export":
        # NOTE: the portal REST profile is per school, so a bulk import would need one client per
        # worker and the token in every worker's environment; not supported yet.
        raise ConfigError(
            f"{la.config_path}: [portal] mode = \"http\" is not supported by bulk-import; "
            "download the LA-wide portal export and set mode = \"export\" with path"
        )
    mapping = load_mapping(la.portal.mapping, la.base_dir)
    if mapping.kind != "portal":
        raise ConfigError(f"{la.config_path}: [portal] mapping {mapping.name} reads {mapping.kind!r} exports, "
                          "not portal exports; choose a portal mapping such as portal-csv")
    path = la.resolve(la.portal.path)
    loaded = load_input(path, "portal", mapping, laestab="", settle_seconds=0,
                        reasons=reason_codes(la.codes.newer_cbds_from))
    if loaded.validated is None:
        return LaPortal(loaded.summary, None, empty_rejects())
    return LaPortal(loaded.summary, loaded.validated.records, loaded.validated.rejects, loaded.validated.rejected_keys)
