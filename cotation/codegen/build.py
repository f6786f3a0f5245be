"""Stage 3 (codegen): build generated source: a content-addressed module in the cache directory, executed in
its own namespace, whose ``@numba.njit(cache=True)`` functions Numba compiles on first call.

The source is written once to ``cotation_grid_<key>.py`` in the cache directory, where ``key`` hashes
the source, the cotation and numba versions, the CPU name and the jitted helpers
(:mod:`cotation.codegen.helpers`). Numba keeps the machine code next to it (``.nbi`` and ``.nbc``
files in ``__pycache__``) and a new process loads it instead of compiling again; the module's own
bytecode is kept next to it too (``<name>.<python>.code``, see :func:`_code`). Files are written
atomically (temporary file + ``os.replace``); a module file whose content does not hash to its
name, or that fails to execute, is rewritten.

The cache directory is the ``cache_dir`` argument, else ``$COTATION_CACHE_DIR``, else
``~/.cache/cotation``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import marshal
import sys
import types
from pathlib import Path

import llvmlite.binding
import numba

from ..cachedir import write_atomically
from ..version import __version__

MODULE_PREFIX = "cotation_grid_"
_LOADED: dict[Path, types.ModuleType] = {}

#: LLVM gives up vectorising a loop that needs more than 8 runtime checks that its arrays do not
#: overlap (a store against each load); a row loop reads dozens of columns, so allow many. This is
#: a process-wide LLVM option: it only lets other Numba code vectorise more loops too.
LLVM_OPTIONS = ("-runtime-memory-check-threshold=4096", "-vectorize-memory-check-threshold=4096")
for _option in LLVM_OPTIONS:
    llvmlite.binding.set_option("", _option)


@functools.cache
def _helpers_hash() -> str:
    """The generated modules call cotation.codegen.helpers: a change there must not reuse old machine code."""
    return hashlib.sha256((Path(__file__).parent / "helpers.py").read_bytes()).hexdigest()


def module_key(text: str) -> str:
    """The name-giving hash of a generated module: its text, the versions and the CPU it targets."""
    cpu = getattr(numba.config, "CPU_NAME", None) or llvmlite.binding.get_host_cpu_name()
    salt = "\0".join([text, __version__, numba.__version__, cpu, _helpers_hash()])
    return hashlib.sha256(salt.encode("utf-8")).hexdigest()[:24]


def load_module(text: str, directory: Path) -> types.ModuleType:
    """The module of ``text`` from ``directory``, written there first if absent or damaged."""
    name = MODULE_PREFIX + module_key(text)
    path = (directory / f"{name}.py").resolve()
    if path in _LOADED:
        return _LOADED[path]
    directory.mkdir(parents=True, exist_ok=True)
    if not _intact(path, name):
        write_atomically(path, text)
    try:
        module = _execute(name, path)
    except Exception:  # a damaged file that still hashes right cannot happen; be safe anyway
        write_atomically(path, text)
        module = _execute(name, path)
    _LOADED[path] = module
    return module


def _intact(path: Path, name: str) -> bool:
    try:
        content = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return MODULE_PREFIX + module_key(content) == name


def _execute(name: str, path: Path) -> types.ModuleType:
    """Execute the module file in an explicit namespace; its functions keep ``path`` as their file."""
    text = path.read_text(encoding="utf-8")
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    try:
        exec(_code(text, path), module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _code(text: str, path: Path) -> types.CodeType:
    """The code object of the module file: from its marshalled copy ``<name>.<python>.code`` when
    that was made by this Python from this very text (a header holds the bytecode magic and the
    text's hash: a truncated, stale or foreign copy is compiled again and replaced), else compiled
    (~12 ms for the example grid's 90 kB, a tenth of a warm start) and saved."""
    copy = path.with_name(f"{path.stem}.{sys.implementation.cache_tag}.code")
    header = importlib.util.MAGIC_NUMBER + hashlib.sha256(text.encode("utf-8")).digest()
    try:
        data = copy.read_bytes()
        if data.startswith(header):
            code = marshal.loads(data[len(header) :])
            if isinstance(code, types.CodeType) and code.co_filename == str(path):
                return code
    except (OSError, EOFError, ValueError, TypeError):
        pass
    code = compile(text, str(path), "exec")
    with contextlib.suppress(OSError):  # a read-only cache still scores
        write_atomically(copy, header + marshal.dumps(code))
    return code
