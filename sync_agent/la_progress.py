"""Progress of a bulk import phase: a bar on a terminal, plain periodic log lines otherwise.

On a terminal, tqdm draws a bar per phase with the items done, the records read, the time elapsed
and its estimate of the time left. When stderr is not a terminal (a scheduled task, a log file),
one INFO line is logged at most every ``interval`` seconds, and one when the phase ends.
"""

from __future__ import annotations

import logging
import sys
import time

logger = logging.getLogger(__name__)

LOG_INTERVAL_SECONDS = 10.0


class PhaseProgress:
    """Progress of one phase of ``total`` items; use as a context manager."""

    def __init__(self, phase: str, total: int, *, unit: str = "schools", interval: float = LOG_INTERVAL_SECONDS,
                 terminal: bool | None = None) -> None:
        self.phase, self.total, self.unit, self.interval = phase, total, unit, interval
        self.done = 0
        self.records = 0
        self._started = self._logged = time.monotonic()
        self._bar = None
        if terminal if terminal is not None else sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=phase, unit=unit.rstrip("s") or unit, file=sys.stderr,
                             dynamic_ncols=True)

    def __enter__(self) -> PhaseProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.close()
        self._log(final=True)

    def advance(self, records: int = 0) -> None:
        """Count one more item done, which read ``records`` records."""
        self.done += 1
        self.records += records
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(records=self.records, refresh=False)
        elif time.monotonic() - self._logged >= self.interval:
            self._log(final=False)

    def _log(self, *, final: bool) -> None:
        self._logged = time.monotonic()
        elapsed = self._logged - self._started
        if final:
            logger.info("%s: finished %d of %d %s, %d records, in %.1f s", self.phase, self.done, self.total,
                        self.unit, self.records, elapsed)
            return
        left = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        logger.info("%s: %d of %d %s done, %d records, %.0f s elapsed, about %.0f s left", self.phase, self.done,
                    self.total, self.unit, self.records, elapsed, left)
