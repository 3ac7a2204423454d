"""``make bench``: every speed figure of the project, measured side by side in one run.

Each section is a module with ``NAME``, ``add_options(parser)`` and ``measure(args) -> Section``;
``python -m host.bench`` runs the sections asked for (all by default), prints their tables and
writes every result, with the package versions, to ``<out>/<UTC time>-bench/bench.json``.
"""

from host.bench.command import main

__all__ = ["main"]
