"""``python -m host.bench``: run the benchmark sections, print their tables, write bench.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType

from host.bench import board, cluster, crafting, oracle
from host.bench.section import Section
from host.cli import writable_folder
from host.errors import CommandParser, cli_main
from host.run.folder import new_folder
from host.versions import package_versions

SECTIONS: dict[str, ModuleType] = {
    board.NAME: board,
    oracle.NAME: oracle,
    crafting.NAME: crafting,
    cluster.NAME: cluster,
}


def write_json(sections: list[Section], out: str | Path, options: dict) -> Path:
    """``<out>/<UTC time>-bench/bench.json``: every section's results, the options, the versions."""
    path = new_folder(out, "bench") / "bench.json"
    content = {
        "options": options,
        **{section.name: section.results for section in sections},
        "versions": package_versions(),
    }
    path.write_text(json.dumps(content, indent=1) + "\n")
    return path


def section_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SECTIONS]
    if not names or unknown:
        raise ValueError(text)
    return names


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(
        prog="python -m host.bench", description="Every speed figure, measured side by side."
    )
    parser.add_argument(
        "--only",
        type=section_list,
        default=list(SECTIONS),
        metavar="SECTIONS",
        help=f"comma-separated sections to run (default: all of {','.join(SECTIONS)})",
    )
    parser.add_argument(
        "--models", nargs="+", default=None, help="zoo models or model folders (default: zoo)"
    )
    parser.add_argument("--data-dir", default=None, help="offline data directory")
    parser.add_argument("--out", default="runs", help="folder for run folders (default: runs)")
    for module in SECTIONS.values():
        module.add_options(parser)
    args = parser.parse_args(argv)
    chosen = [SECTIONS[name] for name in args.only]
    for module in chosen:
        module.check(args)
    writable_folder(args.out)
    sections = []
    for module in chosen:
        section = module.measure(args)
        print(f"\n== {section.name} ==", *section.lines, sep="\n")
        sections.append(section)
    options = {k: v for k, v in vars(args).items() if k not in ("out", "data_dir")}
    print(f"\nresults written to {write_json(sections, args.out, options)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
