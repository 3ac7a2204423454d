"""``python -m host.report [RUN_DIR]``: write a run folder's HTML report and print its path.

Without RUN_DIR, the newest run folder under ``runs/`` (``make report``; ``make report RUN=DIR``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from host.errors import CommandParser, cli_main
from host.report.html import write_report
from host.report.run_folder import latest_run

RUNS = Path("runs")


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(prog="python -m host.report", description=__doc__.split("\n")[0])
    parser.add_argument(
        "run_dir", nargs="?", help=f"a run folder (default: the newest under {RUNS}/)"
    )
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir) if args.run_dir else latest_run(RUNS)
    print(write_report(run_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
