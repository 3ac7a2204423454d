"""Reports built from records only: summary statistics and tables (later: HTML and plots)."""

from host.report.summary import summarise, summarise_run
from host.report.tables import campaign_table, evaluation_text, summary_markdown

__all__ = ["campaign_table", "evaluation_text", "summarise", "summarise_run", "summary_markdown"]
