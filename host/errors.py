"""Errors: what the library raises, and how a command turns them into one line and exit code 2.

``TinyRobustError`` is the base of everything the project raises on purpose. ``UserError`` is a
problem the user can fix (a bad option, a missing file, an unknown model); ``ArgumentError`` is
a bad argument to a library function, worded with its Python parameter names, which a command
rewords with its own option names (``epsilons`` -> ``--eps``).
"""

from __future__ import annotations

import argparse
import functools
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NoReturn, TypeVar

from host import quiet

EXIT_USAGE = 2

F = TypeVar("F", bound=Callable[..., int | None])


class TinyRobustError(Exception):
    """Base of the errors tinyrobust raises on purpose."""


class UserError(TinyRobustError):
    """A problem the user can fix: bad option, missing file, unknown model."""


class LinkError(TinyRobustError):
    """The link to a board failed after HELLO (no answer, a broken frame, the port closed);
    its message names the board and the cause. A command prints it as one line, exit 2."""

    folder: Path | None = None  # the run folder whose records so far are kept (host.api)


class TinyRobustWarning(UserWarning):
    """Something the user should know that is not an error (e.g. a bundled sample stands in
    for a data set); a command prints it as one line, ``note: ...``."""


class ArgumentError(UserError, ValueError):
    """A bad argument to a library function; ``parameters`` are the names its message uses."""

    def __init__(self, message: str, *parameters: str) -> None:
        super().__init__(message)
        self.parameters = parameters

    def reworded(self, names: Mapping[str, str]) -> str:
        """The message with each parameter name replaced by ``names[parameter]``."""
        text = str(self)
        for parameter in self.parameters:
            pattern = rf"(?<![\w-]){re.escape(parameter)}(?![\w-])"
            text = re.sub(pattern, names.get(parameter, parameter), text)
        return text


class CommandParser(argparse.ArgumentParser):
    """A command's option parser: a bad option raises a UserError (one line on stderr and exit
    code 2 through ``cli_main``) instead of printing the usage and exiting."""

    def error(self, message: str) -> NoReturn:
        message = re.sub(r"^argument ([^:]+): must ", r"\1 must ", message)  # --n must be...
        raise UserError(f"{message} (see {self.prog} --help)")


def cli_main(func: F) -> F:
    """Wrap a command's main(): the libraries' log lines hidden (``host.quiet``), and a
    UserError becomes one line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        quiet.configure()
        try:
            return func(*args, **kwargs)
        except (UserError, LinkError) as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            print("interrupted: everything recorded so far is kept", file=sys.stderr)
            return 130

    return wrapper  # type: ignore[return-value]
