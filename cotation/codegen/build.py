"""Stage 3 (codegen): build generated source: a content-addressed module in the cache directory, executed in
its own namespace, whose ``@numba.njit(cache=True)`` functions Numba compiles on first call.

The source is written once to ``cotation_grid_<key>.py`` in the cache directory, where ``key`` hashes
the source, the cotation and numba versions, the CPU name and the jitted helpers
(:mod:`cotation.codegen.helpers`). Numba keeps the machine code next to it (``.nbi`` and ``.nbc``
files in ``__pycache__``) and a new process loads it instead of compiling again; the module's own
bytecode is kept next to it too (``<name>.<python>.code``, see :func:`_code`). Files are written
atomically (temporary file + ``os.replace``); a module file whose content does not hash to its
name, or that fails to execute, is rewritten.

Every file is checked before use, by a digest over its whole content kept apart from it, and
rebuilt when damaged, truncated or foreign, with a one-line note naming the cache folder (W450):
the module file by its name (the hash of its text); its bytecode by ``<file>.sha256``
(:func:`cotation.cachedir.read_entry`); Numba's index and machine-code files (which Numba
unpickles, so a damaged one would stop every later run) by a manifest ``<module>.sha256`` beside
them in ``__pycache__``, written after each call that compiled something (:func:`record_machine_code`)
and checked when the module is loaded (:func:`check_machine_code`): a file it does not list with
the same digest is deleted before Numba can read it, and Numba compiles again. Should Numba still
fail, :func:`call_kernel` deletes the module's machine code and compiles once more before it gives
up (:class:`KernelFailure`: the engines then score with the reference evaluator, W452). A cache
folder that is not private to the user (:func:`cotation.cachedir.private`) is not used: the
modules go to a temporary folder of this process, removed at exit.

The cache directory is the ``cache_dir`` argument, else ``$COTATION_CACHE_DIR``, else
``~/.cache/cotation``.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import importlib.util
import json
import marshal
import os
import shutil
import sys
import tempfile
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import llvmlite.binding
import numba

from ..cachedir import digest, private, read_entry, read_own, unsafe, write_atomically, write_entry
from ..errors import note
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


def load_module(text: str, directory: Path, *, check: bool = True) -> types.ModuleType:
    """The module of ``text`` from ``directory`` (or, when that folder is not private to the user,
    from a temporary folder of this process), written there first if absent or damaged; Numba's
    files of a damaged or unverified module are deleted first (``check``; a compile worker does not
    check: the process that started it did, and the files its other processes write while it
    starts are not listed yet)."""
    if not (private(directory) and private(directory / "__pycache__")):
        directory = _process_directory()
    name = MODULE_PREFIX + module_key(text)
    path = (directory / f"{name}.py").resolve()
    if path in _LOADED:
        return _LOADED[path]
    if not _intact(path, name):
        write_atomically(path, text)
    try:
        module = _execute(name, path)
    except Exception:  # a damaged file that still hashes right cannot happen; be safe anyway
        write_atomically(path, text)
        module = _execute(name, path)
    if check:
        check_machine_code(module)
    _LOADED[path] = module
    return module


def cached_functions(module: types.ModuleType, names: tuple[str, ...]) -> bool:
    """Whether Numba's disk cache of the generated ``module`` holds machine code for each of the
    jitted functions ``names`` (what engine="auto" asks before choosing to compile). The folder is
    the one Numba itself uses: ``__pycache__`` beside the module, or under ``$NUMBA_CACHE_DIR``."""
    where = _machine_code(module)
    if where is None:
        return False
    folder, prefix = where
    return all(any(folder.glob(f"{prefix}{n}-*.nbi")) for n in names)


@functools.cache
def _process_directory() -> Path:
    """A private folder for this process's modules when the cache folder may not be used."""
    folder = Path(tempfile.mkdtemp(prefix="cotation-kernels-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def _intact(path: Path, name: str) -> bool:
    """Whether the module file exists, is the user's and hashes to its name (notes a bad one)."""
    try:
        data, st = read_own(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        return _bad(path, f"unreadable ({exc.strerror or exc})")
    problem = unsafe(st)
    if problem is not None:
        return _bad(path, problem)
    try:
        if MODULE_PREFIX + module_key(data.decode("utf-8")) == name:
            return True
    except UnicodeDecodeError:
        pass
    return _bad(path, "its content does not hash to its name")


def _bad(path: Path, why: str) -> bool:
    note("W450", f"generated module {path.name} in the cache folder {path.parent}: {why}; rewritten")
    return False


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
    data = read_entry(copy, "bytecode")  # None when absent, or damaged (then deleted, with a note)
    try:
        if data is not None and data.startswith(header):
            code = marshal.loads(data[len(header) :])
            if isinstance(code, types.CodeType) and code.co_filename == str(path):
                return code
    except (EOFError, ValueError, TypeError):
        pass
    code = compile(text, str(path), "exec")
    with contextlib.suppress(OSError):  # a read-only cache still scores
        write_entry(copy, header + marshal.dumps(code))
    return code


# -- Numba's own files, under our digests ----------------------------------------------------------
class KernelFailure(Exception):
    """A generated kernel could not be compiled or run even after its machine code was rebuilt: a
    bug to report; the engines catch it and score with the reference evaluator (W452)."""


def _machine_code(module: types.ModuleType) -> tuple[Path, str] | None:
    """The folder where Numba keeps the module's machine code, and the prefix of its files (None
    when nothing is cached: NUMBA_DISABLE_JIT=1)."""
    for value in _jitted(module):
        cache = getattr(getattr(value, "_cache", None), "cache_path", None)
        if cache:
            return Path(cache), Path(str(module.__file__)).stem + "."
    return None


def _numba_files(folder: Path, prefix: str) -> list[Path]:
    return sorted(p for p in folder.glob(f"{prefix}*") if p.suffix in (".nbi", ".nbc"))


def _manifest(folder: Path, prefix: str) -> Path:
    return folder / f"{prefix}sha256"


def check_machine_code(module: types.ModuleType) -> None:
    """Delete every Numba file of ``module`` that its manifest does not list with the same digest
    (or that is not the user's), with one note (W450): Numba then compiles those kernels again."""
    where = _machine_code(module)
    if where is None:
        return
    folder, prefix = where
    files = _numba_files(folder, prefix)
    if not files:
        return
    try:
        listed = json.loads(_manifest(folder, prefix).read_text(encoding="utf-8"))
        listed = listed if isinstance(listed, dict) else {}
    except (OSError, ValueError):
        listed = {}
    bad = []
    for path in files:
        try:
            data, st = read_own(path)
        except OSError:
            data, st = None, None
        if data is None or st is None or unsafe(st) is not None or listed.get(path.name) != digest(data):
            bad.append(path)
    if bad:
        for path in bad:
            path.unlink(missing_ok=True)
        note(
            "W450",
            f"{len(bad)} of Numba's files of {prefix.rstrip('.')} in the cache folder {folder} "
            "damaged, truncated or not verified; discarded, the kernels are compiled again",
        )


def record_machine_code(module: types.ModuleType) -> None:
    """Write the manifest of the module's Numba files (after a call that compiled something)."""
    where = _machine_code(module)
    if where is None:
        return
    folder, prefix = where
    digests = {}
    for path in _numba_files(folder, prefix):
        with contextlib.suppress(OSError):
            os.chmod(path, 0o600)  # Numba writes them with the umask's mode
            digests[path.name] = digest(path.read_bytes())
    with contextlib.suppress(OSError):
        write_atomically(_manifest(folder, prefix), json.dumps(digests, indent=0, sort_keys=True))


def purge_machine_code(module: types.ModuleType) -> None:
    """Delete all of Numba's files of ``module`` and its manifest."""
    where = _machine_code(module)
    if where is not None:
        for path in [*_numba_files(*where), _manifest(*where)]:
            path.unlink(missing_ok=True)


def call_kernel(module: types.ModuleType, function: Any, run: Callable[[], object]) -> None:
    """``run()``, which calls ``function`` of ``module`` (compiling it, or loading it from Numba's
    cache, on first use), then record the machine code if it compiled. Should that fail, delete
    the module's machine code and try once more; then raise :class:`KernelFailure`."""
    before = _compiled(module)
    try:
        run()
    except Exception as first:  # a Numba error, an unpickling error of a cache file, ...
        purge_machine_code(module)
        try:
            run()
        except Exception as exc:
            raise KernelFailure(f"{type(exc).__name__}: {exc}") from first
    if _compiled(module) != before:
        record_machine_code(module)


def _compiled(module: types.ModuleType) -> int:
    """How many signatures the module's jitted functions have (compiled or loaded) in this process."""
    return sum(len(d.overloads) for d in _jitted(module))


def _jitted(module: types.ModuleType) -> list[Any]:
    """The module's own jitted functions (listed once per module: its functions do not change)."""
    found = module.__dict__.get(_JITTED)
    if found is None:
        found = [
            value
            for value in vars(module).values()
            if getattr(getattr(value, "py_func", None), "__module__", None) == module.__name__
        ]
        setattr(module, _JITTED, found)
    return found


_JITTED = "__cotation_jitted__"


# -- compiling the pieces of a large grid in several processes ----------------------------------------
#: Seconds a compile process takes to start (Python, NumPy, Numba and this package imported, the
#: module loaded) before it compiles anything: the head start of the calling process's own share.
WORKER_START_S = 1.2
#: Seconds of compilation per unit of :attr:`cotation.codegen.score_source.PieceEntry.cost`, and
#: per piece, measured on the 2-core reference machine: used only to balance the shares.
COST_S, PIECE_S = 0.008, 0.6


def compile_workers() -> int:
    """How many processes compile the pieces of a grid (the caller included): ``$COTATION_COMPILE_WORKERS``,
    else the CPUs this process may use; 1 compiles everything in this process."""
    value = os.environ.get("COTATION_COMPILE_WORKERS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def shares(costs: list[int], processes: int) -> list[list[int]]:
    """Indices of ``costs`` in ``processes`` shares of about equal time, share 0 this process's (the
    others start WORKER_START_S later): the longest job first, each to the share that ends first. A
    share of another process that would end after this one's is not worth a process: its jobs go to
    this one."""
    ends = [0.0] + [WORKER_START_S] * (processes - 1)
    out: list[list[int]] = [[] for _ in range(processes)]
    for k in sorted(range(len(costs)), key=lambda k: -costs[k]):
        best = min(range(processes), key=lambda s: ends[s])
        out[best].append(k)
        ends[best] += PIECE_S + COST_S * costs[k]
    return out


def precompile(module: types.ModuleType, jobs: list[tuple[str, tuple[Any, ...], int]]) -> None:
    """Compile the jitted functions ``jobs`` (name, signature as Numba types, cost) of ``module``,
    sharing them between this process and up to :func:`compile_workers` - 1 new ones, which write
    the machine code to Numba's disk cache beside the module: this process then loads it on the
    first call. Only an optimisation: a job that a worker could not do (no process could start, an
    error) is compiled by the first call as usual, under :func:`call_kernel`."""
    if not jobs:
        return
    parts = shares([cost for _, _, cost in jobs], min(compile_workers(), len(jobs)))
    started = [_start_worker(module, [jobs[k][:2] for k in part]) for part in parts[1:] if part]
    try:
        for k in parts[0]:
            name, signature, _ = jobs[k]
            with contextlib.suppress(Exception):  # the call compiles it again, and reports
                getattr(module, name).compile(signature)
    finally:
        for proc, request in (s for s in started if s is not None):
            with contextlib.suppress(Exception):
                proc.wait(timeout=600)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            request.unlink(missing_ok=True)


_WORKER = "from cotation.codegen.build import compile_worker; compile_worker()"


def _start_worker(
    module: types.ModuleType, jobs: list[tuple[str, tuple[Any, ...]]]
) -> tuple[Any, Path] | None:
    """A new process compiling ``jobs`` of ``module`` (its file and the jobs in a request file beside
    it, which only this process wrote), or None if none could start."""
    import pickle
    import subprocess

    path = Path(str(module.__file__))
    request = path.with_name(f"{path.stem}.{os.getpid()}.{id(jobs)}.jobs")
    root = str(Path(__file__).resolve().parent.parent.parent)  # the folder holding the package
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    try:
        write_atomically(request, pickle.dumps({"path": str(path), "jobs": jobs}))
        proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(request)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    except Exception:  # no process here (a sandbox, a daemon): this process compiles them on call
        request.unlink(missing_ok=True)
        return None
    return proc, request


def compile_worker() -> None:
    """The body of a compile process (:func:`precompile`): load the module named by the request file
    (``sys.argv[1]``) and compile each job into Numba's disk cache; a failure is left to the caller."""
    import pickle

    request = pickle.loads(Path(sys.argv[1]).read_bytes())
    path = Path(request["path"])
    module = load_module(path.read_text(encoding="utf-8"), path.parent, check=False)
    for name, signature in request["jobs"]:
        with contextlib.suppress(Exception):
            getattr(module, name).compile(signature)
