"""sync-agent: reconcile a school's exclusion records across the MIS, the register and the LA portal."""

__version__ = "0.1.0"
