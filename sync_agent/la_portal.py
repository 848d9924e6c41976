"""The LA-wide portal export: read and validated once, then handed to each school as its own slice.

Each school gets a ``LoadedInput`` holding only the records of its LAESTAB. The export's rejected
rows belong to the LA's file, not to any school, so they are counted in the LA overview and no
school's report lists them. A refused export is handed to every school as refused, so no school
compares against it.
"""

from __future__ import annotations

import logging
import hashlib
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
        summary.records = len(own)
        validated = ValidatedRecords(file=self.summary.path, records=own, rejects=empty_rejects(), read=len(own))
        return LoadedInput(summary, validated)

    def digest_for(self, laestab: str) -> str:
        """Return a SHA-256 over the school's status and records in the export, for its checkpoint key."""
        digest = hashlib.sha256(f"{self.summary.status}|".encode("utf-8"))
        if self.records is not None:
            digest.update("|".join(map(str, self.records.columns)).encode("utf-8"))
            digest.update(self._row_hashes[self._own_rows(laestab)].tobytes())
        return digest.hexdigest()

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
    return LaPortal(loaded.summary, loaded.validated.records, loaded.validated.rejects)
