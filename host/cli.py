"""Options shared by the commands (``python -m host.evaluate``, ``python -m host.campaign``).

Parsing only: option text becomes the arguments of ``host.api``'s functions, and their errors,
worded with Python parameter names, are reworded with the options' names.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import json
import math
import os
import shlex
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from host import quiet
from host.attacks import ATTACKS
from host.board.pool import BoardSpec, parse_boards
from host.defenses import parse_name
from host.errors import ArgumentError, LinkError, UserError, cli_main
from host.run.campaign import MODES

OPTIONS = {"epsilons": "--eps", "params": "--param"}  # parameters whose option is not --<name>
EVALUATION_BACKENDS = (
    "comma-separated backends (default: float and every host integer backend whose model "
    "file exists, plus a running board); '+defense' puts pre-processing defenses in front, "
    "e.g. engine-int8+bits5, float+median2, engine-int8+squeeze (host.defenses)"
)
CAMPAIGN_BACKENDS = (
    "comma-separated backends (default: float and tflm-<precision> that exist); '+defense' "
    "puts pre-processing defenses in front, e.g. engine-int8+median2, engine-int8+squeeze"
)
BOARDS_HELP = (
    "run the device backends on several boards, their inputs shared out: qemu-an386x2 (two "
    "emulated boards started for the model), a comma list of boards and serial URLs "
    "(qemu-an386,socket://127.0.0.1:4000,/dev/ttyACM0), or a TOML file of [[board]] tables "
    "(docs/distributed.md)"
)
N_HELP = (
    "number of examples, >= 1 (default: the whole split; more than the split has: the whole "
    "split, with a note saying so)"
)


def option(parameter: str) -> str:
    """The command-line option of a Python parameter: ``eps_steps`` -> ``--eps-steps``."""
    return OPTIONS.get(parameter, "--" + parameter.replace("_", "-"))


def command(main: Callable[..., int]) -> Callable[..., int]:
    """A command's main(): library errors reworded with option names, then ``cli_main``'s
    one line on stderr and exit code 2."""

    @functools.wraps(main)
    def reworded(*args: Any, **kwargs: Any) -> int:
        try:
            return main(*args, **kwargs)
        except ArgumentError as error:
            names = {parameter: option(parameter) for parameter in error.parameters}
            raise UserError(error.reworded(names)) from error

    return cli_main(reworded)


def board_specs(text: str | None) -> tuple[BoardSpec, ...]:
    """The boards ``--boards`` names (none when it is not given), checked before any work."""
    return parse_boards(text) if text is not None else ()


def integer(low: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low``."""

    wanted = "positive" if low == 1 else f">= {low}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {value}")
        return value

    return parse


def positive_number(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def writable_folder(path: str | Path, option: str = "--out") -> Path:
    """``path``, checked to be a folder this process can write into or create (its nearest
    existing parent writable), before any work, so that results are never lost at the end;
    nothing is created."""
    folder = Path(path)
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    try:
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise UserError(f"{option} {path}: cannot write there ({error.strerror})") from None
    return folder


@contextlib.contextmanager
def resumable(command: list[str], option: str, folder: Path | None = None) -> Iterator[None]:
    """A board link that breaks inside the block becomes one LinkError that also says where the
    records so far are kept (``folder``, else the run folder host.api names) and the command
    that continues the run: ``command`` (``sys.executable -m ...``) with ``option`` FOLDER."""
    try:
        yield
    except LinkError as error:
        where = folder or error.folder
        if where is None:
            raise
        again = command if option in command else [*command, option, str(where)]
        shown = shlex.join(["python", *again[1:]])
        kept = f"the records so far are kept in {where}; continue with: {shown}"
        raise LinkError(f"{error}; {kept}") from error


def add_run_arguments(
    parser: argparse.ArgumentParser,
    out_help: str,
    out_default: str | None = None,
    backends_help: str = EVALUATION_BACKENDS,
) -> None:
    """--backends, --boards, --n, --seed, --data-dir, --out, --verbose."""
    parser.add_argument("--backends", help=backends_help)
    parser.add_argument("--boards", metavar="SPEC", help=BOARDS_HELP)
    parser.add_argument("--n", type=integer(1), help=N_HELP)
    parser.add_argument(
        "--seed", type=integer(0), default=0, help="seed of everything, >= 0 (default: 0)"
    )
    parser.add_argument("--data-dir", help="offline data directory (default: $TINYROBUST_DATA_DIR)")
    parser.add_argument("--out", default=out_default, help=out_help)
    parser.add_argument(
        "--verbose",
        action=ShowLibraryLogs,
        nargs=0,
        help="show the log lines of TensorFlow, absl and ART (hidden by default)",
    )


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """--workers, --ray-address: a campaign's cells on Ray (docs/distributed.md)."""
    parser.add_argument(
        "--workers",
        type=integer(1),
        help="run the attack cells on N local Ray workers (a Ray started for this command); "
        "records are the same as in one process",
    )
    parser.add_argument(
        "--ray-address",
        metavar="HOST:PORT",
        help="run the attack cells on the Ray cluster at this address (`ray start --head`)",
    )


class ShowLibraryLogs(argparse.Action):
    """--verbose: the libraries' log lines are shown (host.quiet) from the moment it is parsed,
    before any of them loads."""

    def __call__(self, parser, namespace, values, option_string=None):
        quiet.configure(verbose=True)
        setattr(namespace, self.dest, True)


def add_attack_arguments(parser: argparse.ArgumentParser) -> None:
    """The attack options: --attacks, --eps, --eps-steps, --norm, --param, --mode, --oracle,
    --queries."""
    group = parser.add_argument_group("attacks")
    group.add_argument("--attacks", help=f"comma-separated attacks: {', '.join(ATTACKS)}")
    group.add_argument(
        "--eps",
        help="comma-separated eps in [0,1] units, e.g. 0.002,0.004 (linf: at most 1; "
        "l2, l1, l0: any finite eps >= 0)",
    )
    group.add_argument(
        "--eps-steps", help="comma-separated eps in input quantization steps (finite, >= 0)"
    )
    group.add_argument("--norm", help="norm for attacks that support several (linf, l2, l1, l0)")
    group.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="ATTACK.KEY=VALUE",
        help="override an attack parameter, e.g. pgd.max_iter=40 (repeatable)",
    )
    group.add_argument("--mode", choices=MODES, default="transfer", help="(default: transfer)")
    group.add_argument(
        "--oracle",
        help="backend the attack queries (transfer: float, or float+DEFENSE to attack through "
        "the defense adaptively (BPDA); direct: an integer backend, default the last integer "
        "one in --backends)",
    )
    group.add_argument(
        "--queries", type=integer(1), help="query budget per example, >= 1 (query attacks)"
    )


def names(text: str | None) -> list[str]:
    """A comma-separated list, without blanks and repeats."""
    return list(dict.fromkeys(part.strip() for part in (text or "").split(",") if part.strip()))


def backend_names(text: str | None) -> list[str] | None:
    """The backends of --backends, checked (None when not given: the default rule applies)."""
    if text is None:
        return None
    backends = names(text)
    if not backends:
        raise UserError("--backends is empty")
    for name in backends:
        parse_name(name)
    return backends


def numbers(text: str | None, option_name: str) -> list[float]:
    """A comma-separated list of numbers."""
    if not text:
        return []
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise UserError(f"{option_name} takes comma-separated numbers, got {text!r}") from error


def attack_options(args: argparse.Namespace) -> dict[str, Any]:
    """The attack options as keyword arguments of ``host.api.run_campaign`` (checked there:
    ``host.api.check_campaign``)."""
    attacks = names(args.attacks)
    if not attacks:
        raise UserError(f"--attacks is empty; known: {', '.join(ATTACKS)}")
    params: dict[str, dict[str, Any]] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        attack, dot, param = key.partition(".")
        if not sep or not dot:
            raise UserError(f"--param takes ATTACK.KEY=VALUE, got {item!r}")
        if attack not in attacks:
            raise UserError(f"--param {item!r}: attack {attack!r} is not in --attacks")
        params.setdefault(attack, {})[param] = _value(value)
    return {
        "attacks": attacks,
        "epsilons": numbers(args.eps, "--eps"),
        "eps_steps": numbers(args.eps_steps, "--eps-steps"),
        "norm": args.norm,
        "params": params,
        "mode": args.mode,
        "oracle": args.oracle,
        "queries": args.queries,
        "seed": args.seed,
    }


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
