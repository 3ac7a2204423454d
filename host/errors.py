"""User-facing errors: one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

EXIT_USAGE = 2

F = TypeVar("F", bound=Callable[..., int | None])


class UserError(Exception):
    """A problem the user can fix: bad option, missing file, unknown model."""


def cli_main(func: F) -> F:
    """Wrap a command's main(): a UserError becomes one line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            print("interrupted: everything recorded so far is kept", file=sys.stderr)
            return 130

    return wrapper  # type: ignore[return-value]
