"""What a command shows on the terminal: its own output, not its libraries' log lines.

TensorFlow writes log lines (oneDNN, CUDA, CPU features, absl) straight to the process's stderr
while it loads, ART warns that PyTorch is missing, Keras and TensorFlow log through Python's
``logging``. Every command calls ``configure()`` (in ``cli_main``) before any of them loads:
those lines are hidden unless ``--verbose`` or ``TINYROBUST_VERBOSE=1`` asks for them.
tinyrobust's own warnings (``host.errors.TinyRobustWarning``) are one line, ``note: ...``.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from types import ModuleType

VERBOSE_ENV = "TINYROBUST_VERBOSE"
TF_LOG_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
TF_QUIET_LEVEL = "3"  # C++ errors too: TensorFlow raises the ones that matter as exceptions
NATIVE_NOISE = ("tensorflow",)  # packages whose shared libraries log to stderr as they load
LIBRARY_FILES = re.compile(r"[\\/](art|keras|tensorflow|tf_keras|absl|google[\\/]protobuf)[\\/]")
LOGGERS = ("tensorflow", "keras", "h5py")

_python_show_warning = warnings.showwarning
_quiet: dict | None = None  # what configure() changed, to undo it; None while verbose


def configure(verbose: bool | None = None) -> None:
    """Hide the libraries' log lines (or show them again with verbose=True).

    ``verbose=None`` reads ``$TINYROBUST_VERBOSE``. Idempotent; notes are one line either way.
    """
    warnings.showwarning = _show_warning
    if verbose is None:
        verbose = os.environ.get(VERBOSE_ENV, "") not in ("", "0")
    if verbose:
        _show_everything()
    else:
        _hide_library_logs()


def _hide_library_logs() -> None:
    global _quiet
    if _quiet is not None:
        return
    hook = _SilentImport(NATIVE_NOISE)
    sys.meta_path.insert(0, hook)
    _quiet = {
        "env": os.environ.get(TF_LOG_LEVEL_ENV),
        "levels": {name: logging.getLogger(name).level for name in LOGGERS},
        "hook": hook,
    }
    os.environ.setdefault(TF_LOG_LEVEL_ENV, TF_QUIET_LEVEL)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def _show_everything() -> None:
    global _quiet
    if _quiet is None:
        return
    if _quiet["env"] is None:
        os.environ.pop(TF_LOG_LEVEL_ENV, None)
    for name, level in _quiet["levels"].items():
        logging.getLogger(name).setLevel(level)
    if _quiet["hook"] in sys.meta_path:
        sys.meta_path.remove(_quiet["hook"])
    _quiet = None


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Python's warnings, as a command shows them: tinyrobust's own as one line ``note: ...``,
    the libraries' ones (PyTorch not found, deprecations) only when verbose."""
    if category.__module__.startswith("host."):
        print(f"note: {message}", file=file or sys.stderr)
    elif _quiet is None or not LIBRARY_FILES.search(filename):
        _python_show_warning(message, category, filename, lineno, file, line)


def library_noise_hidden() -> contextlib.AbstractContextManager[None]:
    """Hide native log lines (e.g. LiteRT's "Created TensorFlow Lite XNNPACK delegate") while
    commands are quiet; show them when verbose or outside a command."""
    return native_stderr_hidden() if _quiet is not None else contextlib.nullcontext()


@contextlib.contextmanager
def native_stderr_hidden() -> Iterator[None]:
    """Send what native code writes to file descriptor 2 nowhere (replayed if this fails)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            os.write(2, sink.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _SilentImport(importlib.abc.MetaPathFinder):
    """Finds the given top-level packages as usual, and loads them with stderr hidden."""

    def __init__(self, packages: Sequence[str]) -> None:
        self.packages = set(packages)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.packages:
            return None
        self.packages.discard(fullname)  # once: the real finders answer from here on
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _SilentLoader(spec.loader)
        return spec


class _SilentLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self.loader  # the package sees its real loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        with native_stderr_hidden():
            self.loader.exec_module(module)
