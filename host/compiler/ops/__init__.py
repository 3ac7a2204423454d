"""One prepare module per engine kernel file, mirroring ``firmware/engine/<op>.cc``.

Each module's ``prepare`` checks one op as TFLite Micro's Prepare would and fills its kernel's
parameter struct (``firmware/engine/kernels.h``); its ``BUILTINS`` names the builtin ops it
prepares, with the inputs and options each must have. Every module of this package is found
here, so adding an op is adding its module: ``PREPARE`` maps a builtin name to its prepare
function and ``OPERANDS`` to its (minimum input count, options type). Modules without
``BUILTINS`` (``common``, ``data_movement``) hold what several ops share.
"""

import importlib
import pkgutil

from host.compiler.ops.common import Builtins, Op, OpError, Prepare

PREPARE: dict[str, Prepare] = {}
OPERANDS: Builtins = {}
for _module in pkgutil.iter_modules(__path__):
    _ops = importlib.import_module(f"{__name__}.{_module.name}")
    for _name, _operands in getattr(_ops, "BUILTINS", {}).items():
        if _name in PREPARE:
            raise ImportError(f"{_name} is prepared by two modules of {__name__}")
        PREPARE[_name] = _ops.prepare
        OPERANDS[_name] = _operands

__all__ = ["OPERANDS", "PREPARE", "Op", "OpError", "Prepare"]
