"""Boards are declared once, in firmware/boards/<family>/<name>.toml; platformio.ini must agree."""

from __future__ import annotations

import configparser
import re

import pytest

from host.board import firmware
from host.errors import UserError
from host.paths import FIRMWARE, REPO_ROOT


def _platformio() -> configparser.ConfigParser:
    config = configparser.ConfigParser(interpolation=None)
    config.read(REPO_ROOT / "platformio.ini")
    return config


def _option(config: configparser.ConfigParser, section: str, key: str) -> str:
    """An option of a platformio.ini section as PlatformIO reads it: ``extends``, the common
    ``[env]`` section and ``${section.key}`` references resolved."""
    if config.has_option(section, key):
        raw = config.get(section, key)
    elif config.has_option(section, "extends"):
        return _option(config, config.get(section, "extends"), key)
    elif section != "env":
        return _option(config, "env", key)
    else:
        return ""
    return re.sub(r"\$\{(\w+)\.([\w.]+)\}", lambda m: _option(config, m[1], m[2]), raw)


def _pio_envs() -> dict[str, str]:
    config = _platformio()
    return {s.removeprefix("env:"): s for s in config.sections() if s.startswith("env:")}


def test_every_platformio_env_is_a_board():
    declared = {b.pio_env for b in firmware.BOARDS.values() if b.pio_env}
    assert set(_pio_envs()) == declared


@pytest.mark.parametrize("board", [b for b in firmware.BOARDS.values() if b.pio_env])
def test_platformio_env_builds_what_the_board_toml_declares(board):
    config = _platformio()
    section = _pio_envs()[board.pio_env]
    family = f"firmware/boards/{board.family}"
    assert _option(config, section, "board_build.ldscript") == f"{family}/{board.linker_script}"
    assert f"+<{family}/*.c>" in _option(config, section, "build_src_filter").split()
    flags = _option(config, section, "build_flags").split()
    defines = [flag[2:].replace('\\"', '"') for flag in flags if flag.startswith("-D")]
    assert sorted(defines) == sorted(board.defines)


def test_boards_and_aliases():
    assert list(firmware.BOARDS)[:2] == ["qemu-an386", "qemu-stm32f405"]  # emulated first
    assert firmware.board("netduinoplus2") is firmware.BOARDS["qemu-stm32f405"]
    assert firmware.board("mps2-an386").family == "mps2-an386"
    for board in firmware.BOARDS.values():
        assert (FIRMWARE / "boards" / board.family / "board.c").is_file(), board.name
        assert (board.qemu_machine is None) == (not board.name.startswith("qemu-")), board.name


GOOD = "linker_script = 'board.ld'\nram_bytes = 1024\nflash_bytes = 4096\nframe_budget = 256\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ram_bytes = \n", "not valid TOML"),
        (GOOD.replace("ram_bytes = 1024\n", ""), "missing field 'ram_bytes'"),
        (GOOD.replace("1024", "'1 KiB'"), "field 'ram_bytes' must be an integer"),
        (GOOD + "defines = 'A=1'\n", "field 'defines' must be an array"),
        (GOOD + "defines = ['A=1', 2]\n", r"field 'defines\[1\]' must be a string"),
        (GOOD + "family = 'other'\n", "unknown field 'family'"),
        (GOOD.replace("board.ld", "missing.ld"), "field 'linker_script' names a missing file"),
        (GOOD + "aliases = ['my-board']\n", "board name 'my-board' is taken by board my-board"),
    ],
)
def test_a_wrong_board_toml_is_a_one_line_error_naming_file_and_field(tmp_path, text, message):
    family = tmp_path / "my-family"
    family.mkdir()
    (family / "board.ld").write_text("")
    path = family / "my-board.toml"
    path.write_text(text)
    with pytest.raises(UserError, match=message) as error:
        firmware.load_boards(tmp_path)
    assert str(error.value).startswith(f"{path}: ") and "\n" not in str(error.value)


def test_a_board_toml_is_named_after_its_file_and_folder(tmp_path):
    (tmp_path / "my-family").mkdir()
    (tmp_path / "my-family" / "board.ld").write_text("")
    (tmp_path / "my-family" / "my-board.toml").write_text(GOOD + "defines = ['A=1']\n")
    board = firmware.load_boards(tmp_path)["my-board"]
    assert (board.name, board.family, board.defines, board.qemu_machine) == (
        "my-board",
        "my-family",
        ("A=1",),
        None,
    )
