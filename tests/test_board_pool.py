"""A pool of boards (``--boards``): parsed in one line or refused, answering as one board does,
and surviving one board's death with nothing lost.

The boards are real: QEMU running the cifar10-resnet8 firmware. The campaign tests compare the
records (timing fields left out) of a campaign on one emulated board with those of
``python -m host.evaluate --attacks ... --boards qemu-an386x2`` in a subprocess whose one QEMU
is SIGKILLed once the first records are written: it must finish with one note saying so and
the same records (the slow version also runs two boards that both live).
"""

from __future__ import annotations

import pickle
import shutil
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from board_runs import run_killing_a_board

from host import api, data, zoo
from host.backends.pool import BoardPoolBackend, open_pool
from host.board import firmware
from host.board.pool import BoardSpec, PoolMember, parse_boards
from host.defenses import get_backend
from host.errors import ArgumentError, TinyRobustWarning, UserError
from host.evaluate import main as evaluate_main
from host.records import RecordFile, without_timing
from host.run.boards import board_backend, board_defense
from host.run.campaign import RECORDS

MODEL = "cifar10-resnet8"
EMULATED = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and arm-none-eabi-gcc (make apt)",
)
QEMU = BoardSpec(board="qemu-an386")


# ---------------------------------------------------------------- parsing --boards


def test_board_names_counts_and_urls() -> None:
    assert parse_boards("qemu-an386x2") == (QEMU, QEMU)
    assert parse_boards("mps2-an386") == (QEMU,)  # an alias: the board's own name
    assert parse_boards(" qemu-an386x1 ,socket://127.0.0.1:4000,/dev/ttyACM0") == (
        QEMU,
        BoardSpec(url="socket://127.0.0.1:4000"),
        BoardSpec(url="/dev/ttyACM0"),
    )
    assert parse_boards("qemu-netduinoplus2x3") == (BoardSpec(board="qemu-stm32f405"),) * 3
    assert BoardSpec(url="/dev/ttyACM0", node="10.0.0.7").label == "/dev/ttyACM0 on 10.0.0.7"


def test_a_boards_file(tmp_path: Path) -> None:
    path = tmp_path / "boards.toml"
    path.write_text(
        '[[board]]\nboard = "qemu-an386"\ncount = 2\nnode = "127.0.0.1"\n\n'
        '[[board]]\nurl = "/dev/ttyACM0"\n'
    )
    spec = BoardSpec(board="qemu-an386", node="127.0.0.1")
    assert parse_boards(str(path)) == (spec, spec, BoardSpec(url="/dev/ttyACM0"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("qemu-an386x0", "count must be 1 to 32, got 0"),
        ("qemu-an386x99", "count must be 1 to 32, got 99"),
        ("pdp11x2", "unknown board 'pdp11'; known: qemu-an386"),
        ("nucleo-f446re", "nucleo-f446re is a real board, which cannot be started"),
        ("qemu-an386,,/dev/ttyACM0", "empty item"),
        ("/dev/ttyACM0,/dev/ttyACM0", "names /dev/ttyACM0 twice"),
        ("socket://127.0.0.1:0", "socket://HOST:PORT, port 1-65535"),
        ("", "boards is empty"),
        ("nowhere.toml", "boards file nowhere.toml does not exist"),
    ],
)
def test_bad_boards_are_refused_in_one_line(text: str, message: str) -> None:
    with pytest.raises(ArgumentError) as caught:
        parse_boards(text)
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('board = "qemu-an386"\ncolour = "red"', "unknown field 'board[0].colour'"),
        ('board = "qemu-an386"\nurl = "/dev/ttyACM0"', "board 1: give exactly one of board"),
        ('url = "/dev/ttyACM0"\ncount = 2', "board 1: count is for emulated boards"),
        ('board = "qemu-an386"\nnode = "the big one"', "node must be an IP address"),
        ('board = "disco-f407vg"', "disco-f407vg is a real board"),
        ('board = "qemu-an386"\ncount = "two"', "must be an integer"),
    ],
)
def test_bad_boards_files_are_refused(tmp_path: Path, table: str, message: str) -> None:
    path = tmp_path / "boards.toml"
    path.write_text(f"[[board]]\n{table}\n")
    with pytest.raises(ArgumentError) as caught:
        parse_boards(str(path))
    assert message in str(caught.value) and str(path) in str(caught.value)


@pytest.mark.parametrize(
    "argv",
    [
        ["--attacks", "fgsm", "--eps", "0.01", "--boards", "qemu-an386x0"],
        ["--campaign", "campaigns/quick.toml", "--boards", "pdp11"],
        ["--clean", "--boards", "qemu-an386x2"],
    ],
)
def test_the_command_refuses_bad_boards_before_any_work(argv, tmp_path, capsys) -> None:
    assert evaluate_main([*argv, "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --boards") and "\n" not in err, err
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------- a pool of real boards


@pytest.fixture(scope="module")
def cifar(data_dir: Path) -> np.ndarray:
    entry = zoo.spec(MODEL)
    x = data.load(entry.dataset, entry.eval_split, data_dir).x[:32]
    return x.astype(np.float32) / np.float32(255.0)


def _pool(count: int) -> BoardPoolBackend:
    path = zoo.model_file(MODEL, "int8")
    specs = parse_boards(f"qemu-an386x{count}")
    return open_pool(specs, MODEL, "int8", path, zoo.spec(MODEL).input_range)


@EMULATED
def test_two_boards_answer_as_one(cifar: np.ndarray) -> None:
    one = _pool(1)
    try:
        alone = one.run(cifar)
    finally:
        one.close()
    pool = _pool(2)
    try:
        assert pool.name == one.name == "device-int8" and pool.kernels == one.kernels
        assert len(pool.url.split(",")) == 2 and pool.device.info == pool.info
        shared = pool.run(cifar)
        assert shared.tobytes() == alone.tobytes() and shared.dtype == alone.dtype
        assert len(pool.last_counts) == len(cifar) and min(pool.last_counts) > 0
        assert pool.run(cifar[:1]).tobytes() == alone[:1].tobytes()  # one input: one board
        # What goes to a Ray worker: no threads (the members there are actor handles; open
        # PoolMembers, holding sockets, stay where they are).
        state = pool.__getstate__()
        assert pool._threads is not None and state["_threads"] is None
        del state["members"]
        assert pickle.loads(pickle.dumps(state))["info"] == pool.info
        # A board killed while it computes: its share goes to the other, one note says so.
        victim = pool.members[1].emulator.process
        threading.Timer(0.3, victim.kill).start()
        with pytest.warns(TinyRobustWarning, match=r"stopped answering .*other 1 board\(s\)$"):
            assert pool.run(cifar).tobytes() == alone.tobytes()
        assert victim.poll() is not None and list(pool.dead) == [1]
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the board left, without a second note
            assert pool.run(cifar[:4]).tobytes() == alone[:4].tobytes()
    finally:
        pool.close()
    for member in pool.members:  # every private QEMU stopped
        assert member.emulator.process.poll() is not None


@EMULATED
def test_boards_running_other_firmware_are_refused(data_dir: Path) -> None:
    path = zoo.model_file(MODEL, "int8")
    plain = PoolMember(QEMU, MODEL, "int8")
    squeezing = PoolMember(QEMU, MODEL, "int8", board_defense(MODEL, "bits5"))
    other = PoolMember(QEMU, firmware.TEST_MODEL, "int8")
    try:
        with pytest.raises(UserError) as caught:
            BoardPoolBackend([plain, squeezing], path, "int8")
        assert str(caught.value).startswith(f"the board at {squeezing.url} runs another build")
        assert "engine 'tinyrobust-aot+bits5' (not 'tinyrobust-aot'" in str(caught.value)
        with pytest.raises(UserError) as caught:
            BoardPoolBackend([plain, other], path, "int8")
        assert str(caught.value).startswith(f"the board at {other.url} runs model 'test")
    finally:
        for member in (plain, squeezing, other):
            member.close()


@EMULATED
def test_a_pool_runs_the_squeezers_the_name_asks_for(cifar: np.ndarray) -> None:
    backend = board_backend(MODEL, "device-int8+bits5", parse_boards("qemu-an386x2"))
    try:
        assert backend.name == "device-int8+bits5" and backend.firmware_defenses == ("bits5",)
        host = get_backend(MODEL, "engine-int8+bits5")
        assert backend.run(cifar[:8]).tobytes() == host.run(cifar[:8]).tobytes()
    finally:
        backend.close()


# ---------------------------------------------------------------- campaigns on a pool

PGD_STEPS = "3"  # PGD's iterations: the attack is not what is tested here


def _command(out: Path, boards: str, n: int, attacks: str) -> list[str]:
    return [
        *(sys.executable, "-m", "host.evaluate", "--model", MODEL, "--attacks", attacks),
        *("--eps", "0.01,0.03", "--param", f"pgd.max_iter={PGD_STEPS}"),
        *("--backends", "tflm-int8,device-int8", "--n", str(n), "--boards", boards),
        *("--out", str(out)),
    ]


def _in_process(out: Path, boards: str, n: int, attacks: str) -> list:
    """The records of the campaign of ``_command``, run by host.api in this process."""
    api.run_campaign(
        MODEL,
        attacks.split(","),
        [0.01, 0.03],
        backends=["tflm-int8", "device-int8"],
        n=n,
        params={"pgd": {"max_iter": int(PGD_STEPS)}},
        out=out,
        boards=parse_boards(boards),
    )
    return _records(out / RECORDS)


def _records(path: Path) -> list:
    return [without_timing(record.to_dict()) for record in RecordFile(path).read()]


def _run(command: list[str], kill_one: bool = False) -> tuple[str, list]:
    """Run ``command``; with ``kill_one``, SIGKILL one of its QEMUs as soon as its first
    records are written. What it printed on stderr, and its records."""
    out = Path(command[command.index("--out") + 1])
    done = run_killing_a_board(command, out, "records.jsonl" if kill_one else None)
    (path,) = out.glob("*/records.jsonl")
    return done.stderr, _records(path)


def _survives_a_dead_board(alone: list, tmp_path: Path, n: int, attacks: str) -> None:
    """The campaign on two boards, one of them killed, gives the records ``alone``."""
    stderr, survived = _run(_command(tmp_path / "killed", "qemu-an386x2", n, attacks), True)
    notes = [line for line in stderr.splitlines() if "stopped answering" in line]
    assert len(notes) == 1, stderr[-3000:]
    assert "note: board socket://127.0.0.1:" in notes[0]
    assert notes[0].endswith("; its inputs go to the other 1 board(s)")
    assert survived == alone  # nothing lost, nothing twice
    keys = {(record["attack"], record["eps"], record["index"]) for record in alone}
    assert len(keys) == len(alone)  # one record per attack, eps and example
    cells = {(attack, index) for attack in attacks.split(",") for index in range(n)}
    assert {(record["attack"], record["index"]) for record in alone} == cells


@EMULATED
@pytest.mark.slow  # by default, tests/test_cluster.py kills one of two boards on Ray workers
def test_a_campaign_on_two_boards_survives_one_dying(data_dir: Path, tmp_path: Path) -> None:
    n, attacks = 8, "fgsm,pgd"
    alone = _in_process(tmp_path / "one", "qemu-an386", n, attacks)
    # On two boards, one killed after the first records: the records of one board. (Two
    # boards that both live: test_two_boards_answer_as_one, and the slow version below.)
    _survives_a_dead_board(alone, tmp_path, n, attacks)


@EMULATED
@pytest.mark.slow
def test_a_bigger_campaign_on_two_boards_survives_one_dying(data_dir, tmp_path) -> None:
    n, attacks = 64, "fgsm,pgd,deepfool"
    _, alone = _run(_command(tmp_path / "one", "qemu-an386", n, attacks))
    _, shared = _run(_command(tmp_path / "two", "qemu-an386x2", n, attacks))
    assert shared == alone
    _survives_a_dead_board(alone, tmp_path, n, attacks)
