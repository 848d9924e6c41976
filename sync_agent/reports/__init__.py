"""Report writers: render one run's result model as JSON, CSV, HTML and XLSX files."""

from sync_agent.reports.run_folder import write_report_set, write_reports

__all__ = ["write_report_set", "write_reports"]
