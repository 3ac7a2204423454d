"""Reports built from records only: summary statistics and tables (later: HTML and plots)."""

from host.report.summary import summarise
from host.report.tables import campaign_table, evaluation_text

__all__ = ["campaign_table", "evaluation_text", "summarise"]
