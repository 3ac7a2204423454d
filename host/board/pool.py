"""Several boards for one run: which ones (``--boards``), and one open connection per board.

``parse_boards`` reads ``qemu-an386x2`` (two emulated mps2-an386 boards), a comma list of such
names and serial URLs (``qemu-an386,socket://127.0.0.1:4000,/dev/ttyACM0``) or a TOML file of
``[[board]]`` tables. A ``PoolMember`` opens one of them: it starts a private QEMU running the
model's firmware (never the background board of ``host.emulator``) or connects to a URL. Its
constructor takes plain values only, so that it can be built where the board is (a Ray actor).
``host.backends.pool`` puts the members behind one backend.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from host import datafile
from host.board import firmware, qemu
from host.board.client import SOCKET_URL, Device, open_port
from host.board.protocol import Hello
from host.errors import ArgumentError, UserError

MAX_EMULATED = 32  # emulated boards of one name at most (each is a QEMU process)
COUNTED = re.compile(r"(?P<name>.+)x(?P<count>\d+)$")  # qemu-an386x2
SERIAL_PORT = re.compile(r"(/|COM\d+$)")  # /dev/ttyACM0, COM3


@dataclass(frozen=True)
class BoardSpec:
    """One board of a pool: an emulated ``board`` to start, or a ``url`` to attach to.

    ``node``: the IP address of the machine the board hangs on (None: the driver's machine)."""

    board: str | None = None  # "qemu-an386"
    url: str | None = None  # "/dev/ttyACM0", "socket://127.0.0.1:4000"
    node: str | None = None

    def __post_init__(self) -> None:
        if (self.board is None) == (self.url is None):
            raise ArgumentError("a board spec takes exactly one of board and url", "boards")

    @property
    def label(self) -> str:
        """How messages name it: ``qemu-an386`` or the URL, with the node when one is given."""
        where = f" on {self.node}" if self.node else ""
        return f"{self.board or self.url}{where}"


@dataclass(frozen=True)
class _Entry:
    """A ``[[board]]`` table of a boards file."""

    board: str | None = None
    url: str | None = None
    count: int = 1
    node: str | None = None


@dataclass(frozen=True)
class _BoardsFile:
    board: tuple[_Entry, ...]


def parse_boards(text: str) -> tuple[BoardSpec, ...]:
    """The boards ``text`` names: ``<board>[x<N>]`` and URLs separated by commas, or the path of
    a TOML file of ``[[board]]`` tables (``board = "qemu-an386"`` with ``count = 2``, or ``url =
    "/dev/ttyACM0"``, each with an optional ``node = "10.0.0.7"``). An ArgumentError (parameter
    ``boards``) for anything else."""
    text = text.strip()
    if not text:
        raise ArgumentError("boards is empty: give e.g. qemu-an386x2 or a .toml file", "boards")
    if text.endswith(".toml") or Path(text).is_file():
        specs = _from_file(Path(text))
    else:
        specs = tuple(spec for item in text.split(",") for spec in _from_item(item.strip()))
    urls = [spec.url for spec in specs if spec.url is not None]
    for url in urls:
        if urls.count(url) > 1:
            raise ArgumentError(f"boards names {url} twice (a board serves one link)", "boards")
    return specs


def _from_item(item: str) -> tuple[BoardSpec, ...]:
    if not item:
        raise ArgumentError("boards has an empty item (two commas in a row?)", "boards")
    if "://" in item or SERIAL_PORT.match(item):
        return (BoardSpec(url=_checked_url(item, f"boards {item!r}")),)
    match = COUNTED.match(item)
    if match is None or _is_board(item):
        return _emulated(item, 1, None, f"boards {item!r}")
    return _emulated(match["name"], int(match["count"]), None, f"boards {item!r}")


def _checked_url(url: str, where: str) -> str:
    """``url``, a serial port or a ``socket://HOST:PORT`` (an ArgumentError naming ``where``)."""
    match = SOCKET_URL.match(url)
    if url.startswith("socket://") and (match is None or not 1 <= int(match["port"]) <= 65535):
        raise ArgumentError(f"{where}: a socket URL is socket://HOST:PORT, port 1-65535", "boards")
    return url


def _is_board(name: str) -> bool:
    try:
        firmware.board(name)
    except UserError:
        return False
    return True


def _emulated(name: str, count: int, node: str | None, where: str) -> tuple[BoardSpec, ...]:
    """``count`` specs of the emulated board ``name``; an ArgumentError naming ``where``."""
    try:
        entry = firmware.board(name)
    except UserError as error:
        raise ArgumentError(f"{where}: {error}", "boards") from None
    if entry.qemu_machine is None:
        raise ArgumentError(
            f"{where}: {entry.name} is a real board, which cannot be started: give its serial "
            "port instead (e.g. /dev/ttyACM0)",
            "boards",
        )
    if not 1 <= count <= MAX_EMULATED:
        raise ArgumentError(f"{where}: count must be 1 to {MAX_EMULATED}, got {count}", "boards")
    return tuple(BoardSpec(board=entry.name, node=node) for _ in range(count))


def _from_file(path: Path) -> tuple[BoardSpec, ...]:
    if not path.is_file():
        raise ArgumentError(f"boards file {path} does not exist", "boards")
    try:
        tables = datafile.load(_BoardsFile, path).board
    except UserError as error:
        raise ArgumentError(f"boards file {error}", "boards") from None
    if not tables:
        raise ArgumentError(f"boards file {path} has no [[board]] table", "boards")
    specs: list[BoardSpec] = []
    for number, table in enumerate(tables, 1):
        where = f"boards file {path}, board {number}"
        if (table.board is None) == (table.url is None):
            raise ArgumentError(f"{where}: give exactly one of board and url", "boards")
        if table.node is not None:
            try:
                ipaddress.ip_address(table.node)
            except ValueError:
                raise ArgumentError(
                    f"{where}: node must be an IP address, got {table.node!r}", "boards"
                ) from None
        if table.url is not None:
            if table.count != 1:
                raise ArgumentError(f"{where}: count is for emulated boards, not url", "boards")
            specs.append(BoardSpec(url=_checked_url(table.url, where), node=table.node))
        else:
            assert table.board is not None  # exactly one of the two, checked above
            specs.extend(_emulated(table.board, table.count, table.node, where))
    return tuple(specs)


class PoolMember:
    """One board of a pool, open from construction until ``close()``: an emulated board started
    for ``model`` (its firmware built, with ``defense`` built in) or the board at a URL."""

    def __init__(
        self,
        spec: BoardSpec,
        model: str,
        precision: str,
        defense: firmware.Defense | None = None,
    ) -> None:
        self.spec = spec
        self.emulator: qemu.Emulator | None = None
        if spec.url is not None:
            self.url = spec.url
        else:
            assert spec.board is not None  # a BoardSpec has one of the two
            self.emulator = _start(spec.board, model, precision, defense)
            self.url = self.emulator.url
        try:
            self.device = Device(self.url, transport=open_port(self.url))
        except BaseException:
            self._stop()
            raise

    def hello(self) -> Hello:
        """The board's HELLO, as read when it was opened."""
        return self.device.info

    def invoke(self, q: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """Raw integer inputs in; raw integer outputs and the counter of each input out. A
        LinkError when the board stops answering."""
        results = self.device.infer(np.asarray(q, dtype=self.device.info.input.dtype))
        bad = [i for i, r in enumerate(results) if r.status != 0]
        if bad:
            raise UserError(f"the device engine at {self.url} failed on inputs {bad[:5]}")
        return np.stack([r.output for r in results]), [r.count for r in results]

    def close(self) -> None:
        """Let go of the board (an emulated one is stopped)."""
        try:
            self.device.close()
        finally:
            self._stop()

    def _stop(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()

    def __repr__(self) -> str:
        return f"<PoolMember {self.spec.label} at {self.url}>"


def _start(
    name: str, model: str, precision: str, defense: firmware.Defense | None
) -> qemu.Emulator:
    """A private QEMU running ``model``'s firmware for board ``name``, answering HELLO.

    QEMU is told to stop when the thread that starts it ends (``qemu.Emulator``): start members
    from a thread that lives as long as they do."""
    if precision != "int8":
        raise UserError(
            f"emulated boards run the firmware of {model}'s int8 model; device-{precision} needs "
            "a board given by its URL"
        )
    entry = firmware.board(name)
    assert entry.qemu_machine is not None  # parse_boards takes emulated boards only
    image = firmware.build(model, entry.name, defense=defense)
    emulator = qemu.Emulator(entry.qemu_machine, image.elf, monitor=False).start()
    try:
        emulator.hello()
    except BaseException:
        emulator.stop()
        raise
    return emulator
