"""Declarations kept as data: one TOML file read into one frozen dataclass.

The dataclass is the schema: its field names are the file's keys, its type hints the allowed
values (str, int, float, bool, ``X | None``, ``tuple[str, ...]``, ``dict[str, X]`` and nested
dataclasses as TOML tables). A wrong file gives a one-line UserError naming the file and field.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from host.errors import UserError

T = TypeVar("T")

_TOML_TYPE = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def read_toml(path: Path) -> dict[str, Any]:
    """The top-level table of a TOML file; a one-line UserError when it is not valid TOML."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{path}: not valid TOML: {error}") from None
    except OSError as error:
        raise UserError(f"{path}: cannot be read: {error.strerror}") from None


def load(cls: type[T], path: Path, **given: Any) -> T:
    """An instance of dataclass ``cls`` from the TOML file at ``path``.

    ``given`` holds the fields that the file's place decides (its name, its folder); the file
    may not set them."""
    return _build(cls, read_toml(path), str(path), "", given)


def _build(cls: type[T], table: Any, where: str, prefix: str, given: dict[str, Any]) -> T:
    if not isinstance(table, dict):
        raise UserError(f"{where}: field {prefix.rstrip('.')!r} must be a table")
    fields = [f for f in dataclasses.fields(cls) if f.name not in given]  # type: ignore[arg-type]
    names = [f.name for f in fields]
    for key in table:
        if key not in names:
            known = ", ".join(names)
            raise UserError(f"{where}: unknown field {prefix + key!r}; known: {known}")
    hints = typing.get_type_hints(cls)
    values = dict(given)
    for f in fields:
        if f.name in table:
            values[f.name] = _convert(table[f.name], hints[f.name], where, prefix + f.name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise UserError(f"{where}: missing field {prefix + f.name!r}")
    return cls(**values)


def _convert(value: Any, hint: Any, where: str, name: str) -> Any:
    """``value`` checked against type ``hint`` (tuples and dataclasses built from TOML arrays
    and tables)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):  # X | None: a missing key means None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(value, inner, where, name)
    if origin is tuple:
        if not isinstance(value, list):
            raise UserError(f"{where}: field {name!r} must be an array")
        return tuple(_convert(v, args[0], where, f"{name}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise UserError(f"{where}: field {name!r} must be a table")
        return {k: _convert(v, args[1], where, f"{name}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where, name + ".", {})  # type: ignore[arg-type]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not hint:
        raise UserError(f"{where}: field {name!r} must be {_TOML_TYPE.get(hint, hint)}")
    return value
