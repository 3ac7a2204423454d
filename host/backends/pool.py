"""Several boards behind one device backend: inputs shared out, outputs as one board's.

``BoardPoolBackend`` is ``device-<precision>`` to every caller, like ``DeviceBackend``, but runs
each batch on several boards at once (a thread per board: the work is the boards'). A batch is
cut into contiguous shares that the boards take in turn, so a faster board takes more; the
outputs come back in input order, byte for byte what one board answers. A board that stops
answering is dropped with one warning, and its share goes to the others. The members are
``host.board.pool.PoolMember`` or anything with the same methods (a Ray actor's handle).
"""

from __future__ import annotations

import math
import queue
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import serial

from host.backends.device import BoardBackend
from host.board import firmware
from host.board.pool import BoardSpec, PoolMember
from host.board.protocol import Hello
from host.errors import LinkError, TinyRobustWarning, UserError

SHARES_PER_BOARD = 2  # shares of a batch per board: a faster board can take more
MIN_SHARE = 8  # inputs per share at least, while every board gets one (a board's max batch)
DEAD = (LinkError, OSError, serial.SerialException)  # what a board that stopped answering raises


class Member(Protocol):
    """One board of a pool (``host.board.pool.PoolMember``, or a proxy of one)."""

    url: str

    def hello(self) -> Hello: ...

    def invoke(self, q: np.ndarray) -> tuple[np.ndarray, list[int]]: ...

    def close(self) -> None: ...


class BoardPoolBackend(BoardBackend):
    """``device-<precision>`` on several boards running the same firmware and model file."""

    def __init__(
        self, members: Sequence[Member], path: Path, precision: str, input_range: float = 1.0
    ) -> None:
        """``members``: open boards, all running the firmware of the model file ``path`` (a
        UserError naming the odd one otherwise); they are closed by ``close()``."""
        if not members:
            raise UserError("a board pool needs at least one board")
        self.members = list(members)
        self.dead: dict[int, str] = {}  # index in members -> why it was dropped
        hellos = [member.hello() for member in self.members]
        for member, info in zip(self.members, hellos, strict=True):
            self.describe(info, member.url, path, precision, input_range)
        first, url = hellos[0], self.members[0].url
        for member, info in zip(self.members[1:], hellos[1:], strict=True):
            differs = [
                f"{name} {getattr(info, name)!r} (not {getattr(first, name)!r} as at {url})"
                for name in ("board", "engine", "model_sha256")
                if getattr(info, name) != getattr(first, name)
            ]
            if differs:
                raise UserError(f"the board at {member.url} runs another build: {differs[0]}")
        self.info = first
        self.url = ",".join(member.url for member in self.members)
        self._threads: ThreadPoolExecutor | None = None

    @property
    def device(self) -> BoardPoolBackend:
        """Itself: run folders and resume keys read the HELLO of ``backend.device.info``, which
        all the boards share."""
        return self

    @property
    def live(self) -> list[int]:
        """The boards still answering, by their place in ``members``."""
        return [i for i in range(len(self.members)) if i not in self.dead]

    def invoke(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=self.input_dtype)
        cuts = _shares(len(q), max(1, len(self.live)))
        shares: queue.SimpleQueue[slice] = queue.SimpleQueue()
        for share in cuts:
            shares.put(share)
        outputs: dict[int, tuple[np.ndarray, list[int]]] = {}
        while len(outputs) < len(cuts):
            self._run(q, shares, outputs)
        if not cuts:
            self.last_counts = []
            return np.zeros((0, *self.info.output.shape[1:]), self.info.output.dtype)
        self.last_counts = [count for share in cuts for count in outputs[share.start][1]]
        return np.concatenate([outputs[share.start][0] for share in cuts])

    def _run(
        self,
        q: np.ndarray,
        shares: queue.SimpleQueue[slice],
        outputs: dict[int, tuple[np.ndarray, list[int]]],
    ) -> None:
        """Every live board takes shares of ``q`` until none is left; a board that stopped
        answering is dropped, its share back in ``shares``."""
        boards = self.live
        if not boards:
            raise LinkError(f"every board of the pool stopped answering: {self._dead_text()}")
        runs = [
            self._pool().submit(_take_shares, self.members[i], q, shares, outputs) for i in boards
        ]
        failures = [run.result() for run in runs]  # every board done before one is dropped
        for i, failure in zip(boards, failures, strict=True):
            if isinstance(failure, DEAD):
                self._drop(i, failure)
            elif failure is not None:
                raise failure

    def _drop(self, index: int, error: BaseException) -> None:
        """Take board ``index`` out of the pool, with one warning saying so."""
        why = " ".join(str(error).split()) or type(error).__name__
        self.dead[index] = why
        left = len(self.live)
        if left:
            warnings.warn(
                TinyRobustWarning(
                    f"board {self.members[index].url} stopped answering ({why}); its inputs go "
                    f"to the other {left} board(s)"
                ),
                stacklevel=4,
            )

    def _dead_text(self) -> str:
        return "; ".join(f"{self.members[i].url} ({why})" for i, why in self.dead.items())

    def _pool(self) -> ThreadPoolExecutor:
        if self._threads is None:
            self._threads = ThreadPoolExecutor(len(self.members), thread_name_prefix="board")
        return self._threads

    def close(self) -> None:
        """Close every member (those that died too: an emulated one is stopped)."""
        if self._threads is not None:
            self._threads.shutdown()
            self._threads = None
        failures = []
        for i, member in enumerate(self.members):
            try:
                member.close()
            except DEAD as error:
                if i not in self.dead:
                    failures.append(error)
        if failures:
            raise failures[0]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_threads": None}  # threads are made again where unpickled


def _shares(count: int, boards: int) -> list[slice]:
    """Contiguous shares of ``count`` inputs for ``boards`` boards: SHARES_PER_BOARD each when
    they hold MIN_SHARE inputs, else one each (every board works at once)."""
    if count == 0:
        return []
    size = math.ceil(count / (boards * SHARES_PER_BOARD))
    if size < MIN_SHARE:
        size = math.ceil(count / boards)
    return [slice(start, min(count, start + size)) for start in range(0, count, size)]


def _take_shares(
    member: Member,
    q: np.ndarray,
    shares: queue.SimpleQueue[slice],
    outputs: dict[int, tuple[np.ndarray, list[int]]],
) -> BaseException | None:
    """Run shares on ``member`` until none is left; the error that stopped it (its share put
    back), or None."""
    while True:
        try:
            share = shares.get_nowait()
        except queue.Empty:
            return None
        try:
            outputs[share.start] = member.invoke(q[share])
        except BaseException as error:  # the caller decides: a dead board or a real error
            shares.put(share)
            return error


def open_pool(
    specs: Sequence[BoardSpec],
    model: str,
    precision: str,
    path: Path,
    input_range: float = 1.0,
    defense: firmware.Defense | None = None,
    member: Callable[..., Member] = PoolMember,
) -> BoardPoolBackend:
    """The boards ``specs`` opened for ``model`` (``member(spec, model, precision, defense)``
    each, one after the other: an emulated board's QEMU ends with the thread that started it)
    behind one backend; those opened are closed again when one fails."""
    members: list[Member] = []
    try:
        for spec in specs:
            members.append(member(spec, model, precision, defense))
        return BoardPoolBackend(members, path, precision, input_range)
    except BaseException:
        for opened in members:
            try:
                opened.close()
            except DEAD:
                pass  # already gone; the first error is the one to tell
        raise
