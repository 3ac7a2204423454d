"""``python -m host.compiler MODEL.tflite --out DIR``: the ahead-of-time compiler's command.

Writes ``DIR/model.cc`` (weights as const data, the op sequence with precomputed multipliers,
shifts and activation ranges, a static memory plan) and prints a summary. An op, type or option
the engine does not support stops it with one line naming the op, its index and the reason.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from host.cli import writable_folder
from host.compiler.source import generate
from host.compiler.toolchain import ARM_CPUS, arm_size
from host.errors import CommandParser, cli_main


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(prog="python -m host.compiler", description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a .tflite file")
    parser.add_argument("--out", required=True, help="directory for model.cc")
    parser.add_argument("--size", action="store_true", help="also report Cortex-M4/M7 sizes")
    args = parser.parse_args(argv)
    writable_folder(args.out)
    compiled = generate(args.model, args.out)
    print(
        f"{compiled.name}: {len(compiled.ops)} ops ({', '.join(sorted(set(compiled.ops)))}), "
        f"arena {compiled.arena_bytes} bytes, weights {compiled.weight_bytes} bytes -> "
        f"{Path(args.out) / 'model.cc'}"
    )
    if args.size:
        with tempfile.TemporaryDirectory() as tmp:
            for cpu in ARM_CPUS:
                size = arm_size(args.model, cpu, tmp)
                print(f"{cpu}: flash {size['flash']} bytes, ram {size['ram']} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
