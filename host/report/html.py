"""The HTML report of a run folder: one self-contained ``report.html`` (figures inline).

    from host.report.html import write_report
    write_report(Path("runs/20250101-120000-cifar10-resnet8"))  # -> .../report.html

It reads only the run folder (``run.json``, ``evaluation.json``, ``records.jsonl``; any may be
absent) and the seed paper's numbers (``paper.toml`` beside this module). A section without
data says so in one line.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from host.report import defenses, plots, sections
from host.report.audit import audit_run
from host.report.edge import edge_summary
from host.report.run_folder import load_run
from host.report.summary import summarise
from host.report.tables import campaign_table

REPORT = "report.html"
TEMPLATES = Path(__file__).with_name("templates")


def write_report(run_dir: Path) -> Path:
    """Write ``<run_dir>/report.html`` from the run folder's files; return its path."""
    run = load_run(run_dir)
    paper = sections.paper_points()
    stairs = sections.staircases(run)
    matrices = sections.transfer_matrices(run)
    found = sections.distortions(run)
    backends = sections.header(run).backends
    page = (
        _environment()
        .get_template("report.html.j2")
        .render(
            run=run,
            header=sections.header(run),
            paper_source=sections.paper_source(),
            paper_models=sorted({m for entry, _ in paper for m in entry["models"]}),
            staircases=[(s, plots.staircase(s)) for s in stairs],
            defenses=defenses.defense_tables(run),
            defense_costs=defenses.defense_costs(run),
            transfers=[(m, plots.transfer(m)) for m in matrices],
            distortions=[
                (
                    d,
                    plots.distortion_float(d) if d.float_l2 else None,
                    plots.distortion_steps(d) if d.steps_linf else None,
                )
                for d in found
            ],
            audit=audit_run(run),
            edge=edge_summary(run.records),
            agreements=sections.agreements(run),
            evaluations=run.evaluations,
            summary=_table(campaign_table(summarise(run.records, backends), backends)),
            costs=sections.board_costs(run),
            manifest=sections.manifest_rows(run),
        )
    )
    path = Path(run_dir) / REPORT
    path.write_text(page)
    return path


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _table(markdown: str) -> list[list[str]]:
    """A markdown table's cells, row by row (the separator line dropped)."""
    lines = [line.strip().strip("|") for line in markdown.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.split("|")] for line in lines if "---" not in line]
