"""The boards of a run (``--boards``): a model's device backends on a pool of boards.

Each model gets its own pool: emulated boards are started with the model's firmware, built with
the squeezers that the backend name asks the board to run (``device-int8+bits5``), and stopped
when the model is done (``close()``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from host import zoo
from host.backends import Backend
from host.backends.device import device_url
from host.backends.pool import Member, open_pool
from host.board import firmware
from host.board.pool import BoardSpec, PoolMember
from host.defenses import (
    defended,
    parse_defense,
    parse_defenses,
    parse_name,
    split_backend_name,
)
from host.defenses.base import input_lattice
from host.defenses.squeeze import BitDepth, Median
from host.errors import UserError
from host.run.cluster import Cluster


def board_backend(
    model: str,
    name: str,
    boards: Sequence[BoardSpec],
    member: Callable[..., Member] = PoolMember,
) -> Backend:
    """Backend ``name`` (``device-int8``, ``device-int8+bits5+squeeze``) of ``model`` on the
    boards ``boards``, opened with ``member(spec, model, precision, defense)`` each: emulated
    boards run the model's firmware with the defenses a board runs (bits, median) built in."""
    _, precision = parse_name(name)
    _, names = split_backend_name(name)
    # what the board runs (a purifier, built below, never is: not parsed twice)
    on_board = [n for n in names if not n.startswith("purify") and parse_defense(n).on_lattice]
    defense = board_defense(model, "+".join(on_board)) if on_board else None
    path = zoo.model_file(model, precision)
    pool = open_pool(boards, model, precision, path, zoo.spec(model).input_range, defense, member)
    return defended(pool, names, model, path)


@contextlib.contextmanager
def opened_boards(
    model: str,
    names: Sequence[str],
    boards: Sequence[BoardSpec],
    member: Callable[..., Member] = PoolMember,
) -> Iterator[dict[str, Backend]]:
    """The device backends among ``names`` on ``boards`` (none without ``boards``: the caller
    opens the board it finds), closed again on leaving: emulated boards are stopped."""
    loaded: dict[str, Backend] = {}
    try:
        for name in dict.fromkeys(names):
            if boards and parse_name(name)[0] == "device":
                loaded[name] = board_backend(model, name, boards, member)
        yield loaded
    finally:
        for backend in loaded.values():
            getattr(backend, "close", lambda: None)()  # a defense in front forwards it


def board_defense(model: str, names: str) -> firmware.Defense:
    """The firmware defense ``names`` (``bits5+median2``, left to right) for ``model``: the
    squeezers checked as host.defenses parses them, on the lattice of the model's int8 or int16
    input (pixels 0 and 1 quantized as every integer backend quantizes them)."""
    path = firmware.model_path(model)
    if path is None:
        raise UserError("the test model takes no defense")
    steps: list[tuple[str, int]] = []
    for defense in parse_defenses(tuple(names.split("+")), zoo.spec(model).dataset):
        if isinstance(defense, BitDepth):
            steps.append(("bits", defense.bits))
        elif isinstance(defense, Median):
            steps.append(("median", defense.size))
        else:
            raise UserError(
                f"{defense.name} runs on the host only; the firmware runs bits<b> and median<k>"
            )
    tensor = firmware.io_tensors(path)[0]  # its type is checked by firmware.build
    lattice = input_lattice(
        zoo.spec(model).input_range, tensor.scale, tensor.zero_point, np.dtype(tensor.dtype)
    )
    return firmware.Defense(tuple(steps), lattice.lo, lattice.hi)


def board_access(
    cluster: Cluster | None,
    boards: Sequence[BoardSpec],
    names: Sequence[str],
    inform: Callable[[str], None] | None = None,
) -> tuple[tuple[BoardSpec, ...], Callable[..., Member]]:
    """The boards of a run and how each is opened: in this process, or as an actor of the Ray
    cluster (then, without ``boards``, the board the run finds, from ``make flash`` or
    ``$TINYROBUST_DEVICE``, becomes a pool of one, which the workers share; none found: the
    device backends are skipped, saying why, as without Ray). ``inform`` is told when
    ``boards`` has nothing to run."""
    on_a_board = any(parse_name(name)[0] == "device" for name in names)
    if boards and inform and not on_a_board:
        inform("note: boards were given, but no backend runs on a board (device-int8...)")
    if cluster is None:
        return tuple(boards), PoolMember
    if boards or not on_a_board:
        return tuple(boards), cluster.member
    try:
        return (BoardSpec(url=device_url()),), cluster.member
    except UserError:
        return (), cluster.member
