"""The ``cotation`` command line: check, score, explain, generate, test, schema, demo.

Usage (``cotation --help`` and ``cotation COMMAND --help`` say more)::

    cotation check GRID [--json]
    cotation score GRID DATA [--date YYYY-MM-DD] [-o OUT.csv|OUT.parquet] [--engine compiled|reference|auto]
    cotation explain GRID DATA --id NUMERO [--date D] [--format text|json]
    cotation generate [-n 10000] [--seed 0] [--date D] -o OUT.csv|OUT.parquet
    cotation test FILE...
    cotation schema [-o FILE]
    cotation demo [--n 5000] [--seed 0] [--out DIR] [--grid GRID] [--date D]

Exit codes:

    0  success
    1  invalid grid, invalid data, unknown application, unreadable file, failing test cases
    2  usage error (unknown command, bad option or argument)
    3  unexpected internal error: a bug, please report it (COTATION_DEBUG=1 shows the traceback)

Grid, data and test-case errors are printed as located messages on stderr, never as tracebacks.
A status line with timings goes to stderr while reading, scoring or generating, when stderr is a
terminal.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from . import api, inout
from .errors import DataError, GridError, TestCaseError, did_you_mean
from .grid.ir import Grid
from .scoring import ENGINES
from .scoring.scores import Scores
from .version import __version__

__all__ = ["EXIT_INTERNAL", "EXIT_INVALID", "EXIT_OK", "EXIT_USAGE", "main"]

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
TOP_ROWS = 20
SUGGEST_MAX_IDS = 100_000
# Shipped in the package (links to the repository's grids/ in a clone, copied into the wheel).
EXAMPLE_GRID = Path(__file__).resolve().parent / "resources" / "grids" / "exemple-metropole.yaml"
DEMO_DATE = datetime.date(2026, 1, 1)

EPILOG = """\
exit codes:
  0  success
  1  invalid grid, invalid data, unknown application, unreadable file, failing test cases
  2  usage error (unknown command, bad option or argument)
  3  unexpected internal error: a bug, please report it (COTATION_DEBUG=1 shows the traceback)
"""


class Failure(Exception):
    """A user-facing failure that is not a grid, data or test-case error (exit code 1)."""


# -- entry point --------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    return _run(args)


def command() -> int:
    """The ``cotation`` program (and ``python -m cotation``): :func:`main`, then a quick exit.

    When a process ends, CPython's last garbage collections walk every object it holds, Numba's
    type system and compiled functions included: about 0.25 s after one score on the reference
    machine, longer than scoring a thousand applications (benchmarks/README.md, "Exit"). By then
    the command's files are written and closed and its outputs flushed here, so its objects are
    frozen out of those collections (``gc.freeze``), and the process ends in about 0.035 s.
    Not done by :func:`main`, which a calling program (or a test) goes on living after."""
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # output piped into `head`
        _silence_stdout()
    sys.stderr.flush()
    gc.disable()
    gc.freeze()
    return code


def _run(args: argparse.Namespace) -> int:
    _one_line_warnings()
    try:
        return int(args.handler(args))
    except (GridError, DataError) as exc:
        print(exc.render(), file=sys.stderr)
    except (TestCaseError, Failure) as exc:
        print(f"error: {exc}", file=sys.stderr)
    except BrokenPipeError:  # output piped into `head`: stop quietly
        _silence_stdout()
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        return _internal_error(exc)
    return EXIT_INVALID


def _one_line_warnings() -> None:
    """Print cotation's warnings (cache and compile notes, W450-W469) as one line on stderr."""
    import warnings

    from .errors import CotationWarning

    shown = warnings.showwarning
    if getattr(shown, "cotation", False):
        return

    def show(message: Warning | str, category: type[Warning], *rest: Any, **kw: Any) -> None:
        if isinstance(message, CotationWarning):
            print(f"cotation: {message}", file=sys.stderr)
        else:
            shown(message, category, *rest, **kw)

    show.cotation = True  # type: ignore[attr-defined]
    warnings.showwarning = show


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail again."""
    with suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _internal_error(exc: Exception) -> int:
    if os.environ.get("COTATION_DEBUG") == "1":
        traceback.print_exc()
    print(
        f"internal error: {type(exc).__name__}: {exc}\n"
        "This is a bug in cotation: please report it with the command you ran "
        "(run it again with COTATION_DEBUG=1 to see the traceback).",
        file=sys.stderr,
    )
    return EXIT_INTERNAL


# -- arguments ------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cotation",
        description="Score and rank social-housing applications from a declarative YAML grid.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cotation {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (configure, handler, help_text) in COMMANDS.items():
        sub = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        configure(sub)
        if any(action.dest in ("grid", "grid_a") for action in sub._actions):
            _add_include_dir(sub)
        sub.set_defaults(handler=handler)
    return parser


def _add_include_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--include-dir",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="a folder the grid's includes may also come from (repeatable; by default only the "
        "grid's own folder and below)",
    )


def _date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid date {text!r} (expected YYYY-MM-DD)") from None


def _table_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise argparse.ArgumentTypeError(f"{text!r}: the output must end in .csv or .parquet")
    return path


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def _add_date(p: argparse.ArgumentParser, default: datetime.date | None = None) -> None:
    when = default.isoformat() if default else "today"
    p.add_argument(
        "--date", type=_date, default=default, help=f"computation date YYYY-MM-DD (default: {when})"
    )


def _configure_check(p: argparse.ArgumentParser) -> None:
    p.add_argument("grid", type=Path, help="grid file (YAML)")
    p.add_argument("--json", action="store_true", help="print the result (or the errors) as JSON")
    p.add_argument(
        "--strict",
        action="store_true",
        help="treat the static analysis's warnings (W4xx: conditions never met, rubric members that "
        "never count, situations counted twice, gaps between bands) as errors",
    )


def _add_force_version(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--force-version",
        action="store_true",
        help="use the grid even when date_calcul is outside its effective_from..effective_until "
        "(outputs are stamped out_of_force); GRID may also be a folder of dated versions",
    )


def _configure_score(p: argparse.ArgumentParser) -> None:
    p.add_argument("grid", type=Path, help="grid file (YAML), or a folder of dated versions")
    _add_force_version(p)
    p.add_argument("data", type=Path, help="applications (.csv, .parquet or .xlsx; - for stdin)")
    _add_date(p)
    p.add_argument(
        "-o",
        "--output",
        type=inout.output_path,
        help="write every row, best first, to .csv, .parquet, .xlsx, .json (JSON Lines) or - (stdout)",
    )
    inout.add_input_options(p, rejects=True)
    inout.add_output_options(p)
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="scoring engine: auto (default: compiled when the kernel is already cached or the batch "
        "is large, else the reference: no compile wait for small work), compiled (Numba, cached on "
        "disk) or reference (NumPy)",
    )


def _configure_explain(p: argparse.ArgumentParser) -> None:
    p.add_argument("grid", type=Path, help="grid file (YAML), or a folder of dated versions")
    _add_force_version(p)
    p.add_argument("data", type=Path, help="applications (.csv or .parquet)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", dest="numero", metavar="NUMERO", help="numero_unique of the application")
    which.add_argument(
        "--logement",
        metavar="ID",
        help="committee view: the candidates of this dwelling side by side (needs --logements)",
    )
    _add_date(p)
    p.add_argument(
        "--format",
        choices=("text", "json", "html"),
        default="text",
        help="output format (default: text); html is a standalone page",
    )
    p.add_argument(
        "--applicant",
        action="store_true",
        help="the applicant's view (plain French, for a letter or a portal) instead of the full trace",
    )
    p.add_argument(
        "--history",
        type=Path,
        help="past allocations (date_depot, date_attribution, similar keys): "
        "adds the mean waiting time of similar demands to the applicant's view",
    )
    p.add_argument("--logements", type=Path, help="dwellings (.csv or .parquet), for --logement")
    p.add_argument(
        "-k", type=_count, default=3, help="candidates in the committee view, as for rank (default: 3)"
    )
    p.add_argument(
        "--assignment",
        choices=("given", "best"),
        help="the committee view of a batch assignment, as rank --assignment gives it: the same "
        "candidates as rank with the same -k and --assignment (default: each dwelling independently)",
    )
    p.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    inout.add_input_options(p)


def _configure_rank(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "grid", type=Path, help="grid file (YAML) with a match part, or a folder of dated versions"
    )
    _add_force_version(p)
    p.add_argument("data", type=Path, help="applications (.csv or .parquet)")
    p.add_argument("dwellings", type=Path, help="dwellings (.csv or .parquet)")
    p.add_argument("-k", type=_count, default=3, help="candidates per dwelling (default: 3)")
    _add_date(p)
    p.add_argument(
        "--assignment",
        choices=("given", "best"),
        help="propose each application for at most one dwelling: dwellings choose in the given "
        "order, or the one with the best candidate first (default: each dwelling independently)",
    )
    p.add_argument(
        "-o",
        "--output",
        type=inout.output_path,
        help="write one row per (dwelling, candidate) to .csv, .parquet, .xlsx, .json or - (stdout)",
    )
    inout.add_input_options(p)
    inout.add_output_options(p)
    p.add_argument(
        "--engine",
        choices=("auto", "compiled", "reference"),
        default="auto",
        help="ranking engine: auto (default: compiled when the kernels are already cached or the work "
        "is large, else the reference), compiled (Numba) or reference (NumPy)",
    )
    _add_orient(p)


def _add_orient(p: argparse.ArgumentParser) -> None:
    """--orienter (issue 15): dwellings without a holder go to the holder furthest behind its flow share."""
    p.add_argument(
        "--orienter",
        action="store_true",
        help="orient each dwelling without a holder to the holder furthest behind its flow share "
        "(the grid's reservataires; see docs/gestion-en-flux.md)",
    )


def _configure_position(p: argparse.ArgumentParser) -> None:
    p.add_argument("grid", type=Path, help="grid file (YAML)")
    p.add_argument("data", type=Path, help="applications (.csv or .parquet)")
    _add_date(p)
    p.add_argument(
        "-o",
        "--output",
        type=inout.output_path,
        help="write every application's position to .csv, .parquet, .xlsx, .json or - (stdout)",
    )
    inout.add_input_options(p)
    inout.add_output_options(p)


def _configure_generate(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", type=_count, default=10_000, help="number of rows (default: 10000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0; the API's seeds)")
    _add_date(p)
    p.add_argument(
        "--logements",
        action="store_true",
        help="generate vacant dwellings (the file `rank` reads) instead of applications",
    )
    p.add_argument(
        "--grid", type=Path, help="also generate the local fields this grid declares (applications only)"
    )
    p.add_argument(
        "--dialect", choices=("plain", "fr"), help="CSV as French software writes it (';', decimal commas)"
    )
    p.add_argument(
        "-o", "--output", type=_generated_path, required=True, help="output file (.csv, .parquet or .xlsx)"
    )


def _generated_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in (".csv", ".parquet", ".xlsx"):
        raise argparse.ArgumentTypeError(f"{text!r}: the output must end in .csv, .parquet or .xlsx")
    return path


def _configure_test(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", type=Path, nargs="+", metavar="FILE", help="grid test-case files (YAML)")
    p.add_argument("-k", dest="select", metavar="NAME", help="run only the cases whose name contains NAME")
    p.add_argument("--junit", type=Path, metavar="FILE", help="also write the results as JUnit XML (for CI)")


def _configure_schema(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", type=Path, help="write the schema to this file instead of stdout")


def _configure_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=_count, default=5000, help="number of applications (default: 5000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--out", type=Path, help="folder for the generated files (default: a new temporary folder)"
    )
    p.add_argument("--grid", type=Path, default=EXAMPLE_GRID, help="grid (default: the shipped example grid)")
    _add_date(p, DEMO_DATE)


# -- progress -------------------------------------------------------------------------------------
class Steps:
    """Timings of named steps; a status line on ``stream`` when it is a terminal."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty()
        self.timings: list[tuple[str, float]] = []

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        self._say(f"\r{label}…")
        start = time.perf_counter()
        yield
        seconds = time.perf_counter() - start
        self.timings.append((label, seconds))
        self._say(f"\r{label}… {seconds:.2f} s\n")

    def _say(self, text: str) -> None:
        if self.live:
            self.stream.write(text)
            self.stream.flush()

    def report(self) -> str:
        width = max((len(label) for label, _ in self.timings), default=0)
        return "\n".join(f"  {label:<{width}}  {seconds:8.3f} s" for label, seconds in self.timings)


# -- commands -------------------------------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> int:
    try:
        grid = api.load_grid(args.grid, include_dirs=args.include_dir)
    except GridError as exc:
        if not args.json:
            raise
        print(exc.to_json())
        return EXIT_INVALID
    warnings = _lint(grid)
    if args.strict and warnings:
        strict = GridError([w.as_error() for w in warnings])
        if not args.json:
            raise strict
        print(strict.to_json())
        return EXIT_INVALID
    if args.json:
        summary = _grid_summary(grid)
        summary["warnings"] = [w.to_dict() for w in warnings]
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        for w in warnings:
            print(w.render(), file=sys.stderr)
        print(_check_line(args.grid, grid) + (f"; {len(warnings)} warning(s)" if warnings else ""))
    return EXIT_OK


def _lint(grid: Grid) -> tuple[Any, ...]:
    from .grid.lint import lint

    return lint(grid)


def _grid_summary(grid: Grid) -> dict[str, Any]:
    return {
        "ok": True,
        "file": grid.meta.file,
        "id": grid.meta.id,
        "title": grid.meta.title,
        "version": grid.meta.version,
        "criteria": len(grid.criteria),
        "priorities": len(grid.priorities),
        "variables": len(grid.variables),
        "rubrics": len(grid.rubrics),
        "groups": len(grid.groups),
        "content_hash": grid.content_hash,
    }


def _check_line(path: Path, grid: Grid) -> str:
    version = f" version {grid.meta.version}" if grid.meta.version else ""
    return (
        f"{path}: ok, grid '{grid.meta.id}'{version}: {len(grid.criteria)} criteria, "
        f"{len(grid.priorities)} priorities, {len(grid.variables)} variables; "
        f"hash {grid.content_hash[:12]}"
    )


def cmd_score(args: argparse.Namespace) -> int:
    steps = Steps()
    day = args.date or datetime.date.today()
    _, _, scores = _load_and_score(
        args.grid,
        args.data,
        day,
        steps,
        engine=args.engine,
        force=args.force_version,
        include_dirs=args.include_dir,
        args=args,
    )
    stamp = inout.stamp_of(scores, args.input_info)
    if args.output:
        with steps.step(f"writing {args.output}"):
            write_scores(scores, args.output, stamp, args.dialect)
        if str(args.output) != "-":
            print(f"wrote {len(scores)} rows to {args.output}")
    elif args.format == "json":
        inout.print_json_lines(_ordered_scores(scores), stamp)
    else:
        print(scores_text(scores, TOP_ROWS))
        print(summary_text(scores))
    return EXIT_OK


def _load_and_score(
    grid_path: Path,
    data: Path,
    day: datetime.date,
    steps: Steps,
    engine: str = "auto",
    force: bool = False,
    include_dirs: Sequence[Path] = (),
    args: argparse.Namespace | None = None,
    breakdown: bool = False,
) -> tuple[Grid, Any, Scores]:
    with steps.step("loading the grid"):
        grid = _grid_in_force(grid_path, day, force, include_dirs)
    with steps.step(f"reading {data}"):
        batch, info = inout.read_input(data, grid.catalogue, day, args)
    if args is not None:
        args.input_info = info
    with steps.step(f"scoring {len(batch)} applications"):
        scores = api.score(grid, batch, day, engine=engine, absent=info.absent_fields, breakdown=breakdown)
    return grid, batch, scores


def _grid_in_force(path: Path, day: datetime.date, force: bool, include_dirs: Sequence[Path] = ()) -> Grid:
    """The grid of ``path`` (a file or a folder of dated versions) in force on ``day`` (D113/D114);
    with ``force``, used anyway and stamped out of force (a warning on stderr)."""
    import functools

    from .grid.versions import grid_in_force, period_text

    load = functools.partial(api.load_grid, include_dirs=include_dirs)
    grid = grid_in_force(path, day, load, force=force)
    if grid.meta.out_of_force:
        print(
            f"warning: grid {period_text(grid)} is not in force on {day.isoformat()}: used because of "
            "--force-version (outputs are stamped out_of_force)",
            file=sys.stderr,
        )
    return grid


def cmd_explain(args: argparse.Namespace) -> int:
    day = args.date or datetime.date.today()
    grid, batch, scores = _load_and_score(
        args.grid,
        args.data,
        day,
        Steps(),
        force=args.force_version,
        include_dirs=args.include_dir,
        args=args,
        breakdown=True,  # engine auto: the compiled engine only when its breakdown kernel is cached too
    )
    text = _committee(args, grid, batch, scores) if args.logement else _explanation(args, grid, batch, scores)
    if args.format == "html":
        text = inout.stamp_html(text, inout.stamp_of(scores, getattr(args, "input_info", None)))
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        print(text, end="" if text.endswith("\n") else "\n")
    return EXIT_OK


def _explanation(args: argparse.Namespace, grid: Grid, batch: Any, scores: Scores) -> str:
    from .explain import views
    from .explain.render import render_text, to_json
    from .explain.trace import trace

    _require_id(scores, args.numero, args.data)
    if args.applicant or args.format == "html":
        history = views.read_history(args.history, grid) if args.history else None
        view = views.applicant_view(grid, scores, batch, args.numero, history)
        if args.format == "json":
            return json.dumps(views.applicant_json(view), ensure_ascii=False, indent=2)
        return views.applicant_html(view) if args.format == "html" else views.applicant_text(view)
    tr = trace(grid, scores, batch, args.numero)
    if args.format == "json":
        stamp = inout.stamp_of(scores, getattr(args, "input_info", None))
        return json.dumps({**to_json(tr), "stamp": stamp.as_dict()}, ensure_ascii=False, indent=2)
    return render_text(tr)


def _committee(args: argparse.Namespace, grid: Grid, batch: Any, scores: Scores) -> str:
    from .data.batch import read_dwellings
    from .explain import views

    if grid.match is None:
        raise Failure(f"{args.grid}: the grid has no match part: no committee view")
    if args.logements is None:
        raise Failure("--logement needs the dwellings file: --logements FILE")
    dwellings = read_dwellings(args.logements, grid.match.catalogue)
    if not np.any(dwellings.ids == args.logement):
        raise Failure(f"no dwelling '{args.logement}' in {args.logements} ({len(dwellings)} dwellings)")
    ranking = api.rank(
        grid,
        batch,
        dwellings,
        args.k,
        date_calcul=scores.date_calcul,
        assignment=args.assignment,
        engine="auto",
    )
    view = views.committee_view(grid, ranking, scores, batch, dwellings, args.logement)
    if args.format == "json":
        return json.dumps(
            {
                "logement": view.dwelling_id,
                "k": args.k,
                "assignment": args.assignment,
                "candidats": list(view.candidates),
                **view.table(),
                "departages": [{"rang": r + 1, "raison": why} for r, why in view.tie_breaks],
            },
            ensure_ascii=False,
            indent=2,
        )
    if args.format == "html":
        return views.committee_html(view)
    how = f"attribution groupée ({args.assignment})" if args.assignment else "logement seul"
    return views.committee_text(view) + f"\n{args.k} candidats au plus, {how}"


def _configure_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("grid", type=Path, help="grid file (YAML)")
    p.add_argument("data", type=Path, help="applications (.csv or .parquet)")
    _add_date(p)
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="report file: .html (page with table and chart), .svg, .csv or .json",
    )
    inout.add_input_options(p)


def cmd_report(args: argparse.Namespace) -> int:
    from .explain.report import grid_report

    steps = Steps()
    day = args.date or datetime.date.today()
    grid, batch, scores = _load_and_score(
        args.grid, args.data, day, steps, include_dirs=args.include_dir, args=args
    )
    with steps.step("measuring each criterion's effect on the ranking"):
        report = grid_report(grid, scores, batch)
    report.write(args.output)
    print(
        f"wrote the grid report ({len(report.criteria)} criteria, {report.n} applications) to {args.output}"
    )
    return EXIT_OK


def _require_id(scores: Scores, numero: str, data: Path) -> None:
    if np.any(scores.ids == numero):
        return
    hint = did_you_mean(numero, scores.ids.tolist()) if len(scores) <= SUGGEST_MAX_IDS else None
    raise Failure(
        f"no application with numero_unique '{numero}' in {data} ({len(scores)} applications)"
        + (f" (did you mean '{hint}'?)" if hint else "")
    )


def cmd_rank(args: argparse.Namespace) -> int:
    from .data.batch import read_dwellings

    steps = Steps()
    day = args.date or datetime.date.today()
    with steps.step("loading the grid"):
        grid = _grid_in_force(args.grid, day, args.force_version, args.include_dir)
    if grid.match is None:
        raise Failure(f"{args.grid}: the grid has no match part (filters and criteria for a dwelling)")
    with steps.step(f"reading {args.data}"):
        batch, info = inout.read_input(args.data, grid.catalogue, day, args)
    with steps.step(f"reading {args.dwellings}"):
        dwellings = read_dwellings(args.dwellings, grid.match.catalogue, encoding=args.encoding)
    if args.orienter:
        from .experiment.flux import orient

        dwellings = orient(grid, dwellings)
    with steps.step(f"ranking {len(batch)} applications for {len(dwellings)} dwellings"):
        ranking = api.rank(
            grid,
            batch,
            dwellings,
            args.k,
            date_calcul=day,
            engine=args.engine,
            assignment=args.assignment,
            absent=info.absent_fields,
        )
    stamp = inout.stamp_of(ranking, info)
    if args.output:
        with steps.step(f"writing {args.output}"):
            inout.write_result(ranking.to_arrow(), args.output, stamp, args)
        if str(args.output) != "-":
            print(
                f"wrote {int((ranking.rows >= 0).sum())} candidates of {len(ranking)} dwellings to "
                f"{args.output}"
            )
    elif args.format == "json":
        inout.print_json_lines(ranking.to_arrow(), stamp)
    else:
        print(ranking_text(ranking, TOP_ROWS))
    return EXIT_OK


def cmd_position(args: argparse.Namespace) -> int:
    from .explain.render import position_text

    steps = Steps()
    day = args.date or datetime.date.today()
    _, _, scores = _load_and_score(args.grid, args.data, day, steps, include_dirs=args.include_dir, args=args)
    with steps.step("positioning among similar demands"):
        position, count = scores.position, scores.position_count
    if args.output or args.format == "json":
        from .data.buffers import table as arrow_table

        table = arrow_table(
            {
                "numero_unique": scores.ids,
                "total": scores.total,
                "rang": scores.rank,
                "position": position,
                "demandes_similaires": count,
            }
        )
        stamp = inout.stamp_of(scores, args.input_info)
        if not args.output:
            inout.print_json_lines(table, stamp)
            return EXIT_OK
        inout.write_result(table, args.output, stamp, args)
        if str(args.output) != "-":
            print(f"wrote {len(scores)} positions to {args.output}")
        return EXIT_OK
    similar = ", ".join(f"même {s}" for s in scores.similar) or "toutes les demandes"
    print(f"position among similar demands ({similar}):")
    rows = [
        [str(scores.ids[i]), str(scores.total[i]), position_text(int(position[i]), int(count[i]))]
        for i in scores.order()[:TOP_ROWS]
    ]
    print(_aligned(["numero_unique", "total", "position"], rows, text_columns={0, 2}))
    return EXIT_OK


def cmd_generate(args: argparse.Namespace) -> int:
    from .data.batch import write_applications
    from .data.generate import generate_applications

    steps = Steps()
    what = "dwellings" if args.logements else "applications"
    with steps.step(f"generating {args.n} {what}"):
        if args.logements:
            from .data.generate import generate_dwellings

            batch = generate_dwellings(args.n, seed=args.seed)
        else:
            day = args.date or datetime.date.today()
            catalogue = api.load_grid(args.grid).catalogue if args.grid else None
            batch = generate_applications(args.n, seed=args.seed, date_calcul=day, catalogue=catalogue)
    with steps.step(f"writing {args.output}"):
        write_applications(batch, args.output, dialect=args.dialect)
    print(f"wrote {len(batch)} {what} to {args.output}")
    return EXIT_OK


def cmd_test(args: argparse.Namespace) -> int:
    from .testcases import format_report, junit_xml, run_cases

    failed = passed = broken = 0
    reports: list[Any] = []
    for path in args.files:
        try:
            report = run_cases(path, args.select)
        except (GridError, DataError) as exc:
            print(f"{path}: cannot run the test cases\n{exc.render()}", file=sys.stderr)
            broken += 1
            reports.append((path, exc.render()))
            continue
        except TestCaseError as exc:
            print(f"error: {exc}", file=sys.stderr)
            broken += 1
            reports.append((path, str(exc)))
            continue
        reports.append(report)
        print(format_report(report))
        passed, failed = passed + report.n_passed, failed + report.n_failed
    if args.junit:
        args.junit.write_text(junit_xml(reports), encoding="utf-8")
        print(f"wrote {args.junit}")
    if len(args.files) > 1:
        broken_text = f", {broken} files with errors" if broken else ""
        print(f"total: {passed} passed, {failed} failed{broken_text}")
    return EXIT_INVALID if failed or broken else EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from .grid.model import grid_json_schema

    text = json.dumps(grid_json_schema(), ensure_ascii=False, indent=2) + "\n"
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote the grid JSON Schema to {args.output}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from .data.batch import read_applications, write_applications
    from .data.generate import generate_applications
    from .explain.render import render_text
    from .explain.trace import trace

    if not args.grid.is_file():
        raise Failure(f"grid not found: {args.grid} (give one with --grid)")
    out = args.out or Path(tempfile.mkdtemp(prefix="cotation-demo-"))
    out.mkdir(parents=True, exist_ok=True)
    steps, data = Steps(), out / "demandes.parquet"
    with steps.step("check the grid"):
        grid = api.load_grid(args.grid, include_dirs=args.include_dir)
    print(_check_line(args.grid, grid))
    with steps.step(f"generate {args.n} applications"):
        generated = generate_applications(
            args.n, seed=args.seed, date_calcul=args.date, catalogue=grid.catalogue
        )
    with steps.step("write them (Parquet)"):
        write_applications(generated, data)
    with steps.step("read and validate them"):
        batch = read_applications(data, grid.catalogue, date_calcul=args.date)
    # with the breakdown (what the scores file and the explanations show): one kernel to compile
    with steps.step("score with the breakdown, compiled engine (first call: compiles or loads the cache)"):
        scores = api.score(grid, batch, args.date, engine="compiled", breakdown=True)
    with steps.step("score again, compiled engine"):
        scores = api.score(grid, batch, args.date, engine="compiled", breakdown=True)
    with steps.step("score, reference engine (NumPy oracle)"):
        oracle = api.score(grid, batch, args.date, engine="reference", breakdown=True)
    with steps.step("compare the engines: every score, breakdown and rank"):
        same = np.array_equal(scores.breakdown, oracle.breakdown) and np.array_equal(scores.rank, oracle.rank)
    if not same:
        raise Failure("the compiled kernel and the reference evaluator disagree: please report this")
    print("compiled kernel and reference evaluator agree on every score, breakdown and rank")
    with steps.step("write the scores (CSV)"):
        write_scores(scores, out / "scores.csv")
    print(f"\napplications: {data}\nscores:       {out / 'scores.csv'}\n")
    print(scores_text(scores, 10))
    print(summary_text(scores))
    with steps.step("explain the top 3"):
        texts = [render_text(trace(grid, scores, batch, str(scores.ids[i]))) for i in scores.order()[:3]]
    print("\n" + "\n\n".join(texts))
    if grid.match is not None:
        _demo_rank(grid, batch, scores, args, out, steps)
        _demo_simulate(grid, batch, args, steps)
    print("\ntimings:\n" + steps.report())
    return EXIT_OK


DEMO_DWELLINGS = 5


def _demo_rank(
    grid: Grid, batch: Any, scores: Scores, args: argparse.Namespace, out: Path, steps: Steps
) -> None:
    """Rank a few generated dwellings (compiled and reference engines) and show their candidates."""
    from .data.batch import read_dwellings, write_applications
    from .data.generate import generate_dwellings

    path = out / "logements.csv"
    with steps.step(f"generate {DEMO_DWELLINGS} vacant dwellings"):
        write_applications(generate_dwellings(DEMO_DWELLINGS, seed=args.seed, date_calcul=args.date), path)
    dwellings = read_dwellings(path, grid.match.catalogue)  # type: ignore[union-attr]
    with steps.step("rank 3 candidates per dwelling, auto engine (the pair kernel if cached, else NumPy)"):
        ranking = api.rank(
            grid, batch, dwellings, 3, date_calcul=args.date, assignment="given", engine="auto"
        )
    with steps.step("rank again, reference engine"):
        oracle = api.rank(
            grid, batch, dwellings, 3, date_calcul=args.date, assignment="given", engine="reference"
        )
    if not (np.array_equal(ranking.rows, oracle.rows) and np.array_equal(ranking.total, oracle.total)):
        raise Failure("the compiled pair kernel and the reference evaluator disagree: please report this")
    print(
        f"\ndwellings: {path}\ncandidates (3 per dwelling, each application proposed once; the auto and "
        "reference engines agree):\n"
    )
    print(ranking_text(ranking, DEMO_DWELLINGS))
    from .explain import views

    order = ranking.dwelling_order
    first = str(ranking.dwelling_ids[int(order[0])]) if order is not None and len(ranking) else None
    if first is not None and ranking.rows[ranking.index_of(first), 0] >= 0:
        with steps.step("committee view of the first dwelling"):
            view = views.committee_view(grid, ranking, scores, batch, dwellings, first)
        print("\n" + views.committee_text(view))
        best = str(ranking.application_ids[ranking.index_of(first), 0])
        with steps.step("applicant's view of its first candidate"):
            letter = views.applicant_text(views.applicant_view(grid, scores, batch, best))
        print("\n" + letter)


DEMO_VACANCIES = 60


def _demo_simulate(grid: Grid, batch: Any, args: argparse.Namespace, steps: Steps) -> None:
    """A simulated year of allocations against the legal objectives, on one screen."""
    from .data.generate import generate_dwellings
    from .experiment.pages import simulation_text

    dwellings = generate_dwellings(DEMO_VACANCIES, seed=args.seed, vacancies_from=args.date)
    with steps.step(f"simulate a year: {DEMO_VACANCIES} vacancies, auto engine"):
        sim = api.simulate(
            grid,
            batch,
            dwellings,
            date_debut=args.date,
            months=12,
            refusal=0.2,
            seed=args.seed,
            engine="auto",
        )
    print("\n" + simulation_text(sim))


# -- experimentation: compare, simulate (issue 14) ---------------------------------------------------
def _page_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in (".html", ".json"):
        raise argparse.ArgumentTypeError(f"{text!r}: the output must end in .html or .json")
    return path


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1), got {text}")
    return value


def _configure_compare(p: argparse.ArgumentParser) -> None:
    p.add_argument("grid_a", type=Path, help="grid A (YAML)")
    p.add_argument("grid_b", type=Path, help="grid B (YAML)")
    p.add_argument("data", type=Path, help="applications (.csv or .parquet)")
    _add_date(p)
    p.add_argument("--top", type=_count, default=100, help="size of the top compared (default: 100)")
    p.add_argument(
        "--objectifs", type=Path, help="objectives file (YAML): where the first-quartile threshold comes from"
    )
    p.add_argument(
        "-o",
        "--output",
        type=_page_path,
        required=True,
        help="the comparison page (.html) or its figures (.json)",
    )
    p.add_argument("--engine", choices=("compiled", "reference"), default="compiled", help="scoring engine")


def _user_error(call: Any) -> Any:
    """``call()``, a ValueError (a grid without a match part, a bad option) as a user error."""
    try:
        return call()
    except ValueError as exc:
        raise Failure(str(exc)) from None


def _grid_with_includes(path: Path, args: argparse.Namespace) -> Grid:
    """The grid at ``path``, its includes allowed in the folders of ``--include-dir``."""
    return api.load_grid(path, include_dirs=args.include_dir)


def cmd_compare(args: argparse.Namespace) -> int:
    from .experiment.pages import write_result

    day = args.date or datetime.date.today()
    result = _user_error(
        lambda: api.compare(
            _grid_with_includes(args.grid_a, args),
            _grid_with_includes(args.grid_b, args),
            args.data,
            date_calcul=day,
            top=max(args.top, 1),
            engine=args.engine,
            objectives=args.objectifs,
        )
    )
    write_result(result, args.output)
    print(
        f"Spearman {result.spearman:.3f}, Kendall {result.kendall:.3f}, "
        f"top {result.top} churn {100 * result.top_churn:.1f} %: wrote {args.output}"
    )
    return EXIT_OK


def _configure_simulate(p: argparse.ArgumentParser) -> None:
    p.add_argument("grid", type=Path, help="grid file (YAML) with a match part")
    p.add_argument("data", type=Path, help="applications (.csv or .parquet)")
    p.add_argument(
        "dwellings", type=Path, help="dwellings (.csv or .parquet); date_liberation places them in a month"
    )
    _add_date(p)
    p.add_argument("--months", type=_count, default=12, help="months simulated (default: 12)")
    p.add_argument(
        "--objectifs", type=Path, help="the territory's objectives (YAML; default: the legal ones)"
    )
    p.add_argument("--compare", type=Path, metavar="GRID_B", help="simulate a second grid side by side")
    p.add_argument(
        "--refus",
        type=_share,
        default=0.0,
        help="probability that a proposal is refused (default: 0, the first candidate accepts)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the refusals (default: 0)")
    p.add_argument("-k", type=_count, default=3, help="candidates examined per dwelling (default: 3)")
    p.add_argument(
        "--history",
        type=Path,
        metavar="ATTRIBUTIONS.csv",
        help="back-test the grid on these real allocations",
    )
    p.add_argument(
        "-o",
        "--output",
        type=_page_path,
        required=True,
        help="the report page (.html) or its figures (.json)",
    )
    p.add_argument(
        "--attributions",
        type=Path,
        metavar="OUT.csv",
        help="write the simulated allocations (allocation history format)",
    )
    p.add_argument("--engine", choices=("compiled", "reference"), default="compiled", help="ranking engine")
    _add_orient(p)


def cmd_simulate(args: argparse.Namespace) -> int:
    from .experiment.history import write_history
    from .experiment.pages import simulation_text, write_result

    day = args.date or datetime.date.today()
    sim = _user_error(
        lambda: api.simulate(
            _grid_with_includes(args.grid, args),
            args.data,
            args.dwellings,
            date_debut=day,
            months=max(args.months, 1),
            objectives=args.objectifs,
            refusal=args.refus,
            seed=args.seed,
            k=max(args.k, 1),
            compare=None if args.compare is None else _grid_with_includes(args.compare, args),
            history=args.history,
            engine=args.engine,
            orient=args.orienter,
        )
    )
    write_result(sim, args.output)
    if args.attributions:
        write_history(sim.history(), args.attributions)
    print(
        simulation_text(sim)
        + f"\nwrote {args.output}"
        + (f" and {args.attributions}" if args.attributions else "")
    )
    return EXIT_OK


# -- gestion en flux and the annual review (issue 15) ------------------------------------------------
def _bilan_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in (".html", ".json", ".csv"):
        raise argparse.ArgumentTypeError(f"{text!r}: the output must end in .html, .json or .csv")
    return path


def _configure_bilan(p: argparse.ArgumentParser) -> None:
    p.add_argument("grid", type=Path, help="grid file (YAML): catalogue, reservation holders")
    p.add_argument("data", type=Path, help="applications (.csv or .parquet): the demand")
    p.add_argument("attributions", type=Path, help="allocation history (.csv or .parquet)")
    p.add_argument("--annee", type=int, help="year reviewed (default: the latest of the history)")
    p.add_argument(
        "--objectifs", type=Path, help="the territory's objectives (YAML; default: the legal ones)"
    )
    p.add_argument(
        "--secret",
        type=_count,
        default=5,
        help="counts from 1 to SECRET-1 are hidden (statistical secrecy; default: 5; 1: nothing hidden)",
    )
    p.add_argument(
        "-o", "--output", type=_bilan_path, required=True, help="the review: page (.html), .json or .csv"
    )


def cmd_bilan(args: argparse.Namespace) -> int:
    review = _user_error(
        lambda: api.bilan(
            _grid_with_includes(args.grid, args),
            args.data,
            args.attributions,
            annee=args.annee,
            objectives=args.objectifs,
            secret=args.secret,
        )
    )
    suffix = args.output.suffix.lower()
    text = {".json": review.to_json, ".csv": review.to_csv}.get(suffix, review.to_html)()
    args.output.write_text(text, encoding="utf-8")
    years = ", ".join(str(y.year) for y in review.years)
    print(f"bilan {years}: {review.years[-1].allocations} allocations; wrote {args.output}")
    return EXIT_OK


# -- serve (issue 16 point 5) ----------------------------------------------------------------------
def _configure_serve(p: argparse.ArgumentParser) -> None:
    p.add_argument("grid", type=Path, help="grid file (YAML), loaded and compiled once at start-up")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    p.add_argument("--engine", choices=ENGINES, default="compiled", help="scoring engine (default: compiled)")


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import run

    run(args.grid, args.host, args.port, tuple(args.include_dir), args.engine)
    return EXIT_OK


COMMANDS = {
    "check": (_configure_check, cmd_check, "check a grid and print a summary (or every error)"),
    "score": (_configure_score, cmd_score, "score and rank applications"),
    "explain": (
        _configure_explain,
        cmd_explain,
        "explain one application's score (trace or applicant's view; text, JSON or HTML), or compare "
        "a dwelling's candidates (--logement)",
    ),
    "report": (
        _configure_report,
        cmd_report,
        "grid authors' report: what each criterion does to the ranking",
    ),
    "rank": (_configure_rank, cmd_rank, "rank the eligible applications of each dwelling (top k)"),
    "position": (_configure_position, cmd_position, "each application's position among similar demands"),
    "generate": (_configure_generate, cmd_generate, "generate synthetic applications"),
    "test": (_configure_test, cmd_test, "run grid test-case files"),
    "schema": (_configure_schema, cmd_schema, "print the JSON Schema of grid files"),
    "demo": (_configure_demo, cmd_demo, "end-to-end demo: generate, check, score, rank, explain"),
    "compare": (_configure_compare, cmd_compare, "compare two grids on the same applications (page or JSON)"),
    "simulate": (
        _configure_simulate,
        cmd_simulate,
        "replay months of allocations against the objectives; back-test",
    ),
    "bilan": (
        _configure_bilan,
        cmd_bilan,
        "annual allocation review (bilan annuel des attributions) for the CIL: page, JSON or CSV",
    ),
    "serve": (
        _configure_serve,
        cmd_serve,
        "serve the grid over HTTP: check, score, explain, position, rank (needs the extra 'serve')",
    ),
}


# -- output ---------------------------------------------------------------------------------------
def write_scores(scores: Scores, path: Path, stamp: Any = None, dialect: str | None = None) -> None:
    """Every application, best first, to .csv, .parquet, .xlsx, .json or - (stdout), with ``stamp``.

    Columns: numero_unique, total, tier, rank, flags (``;``-joined), one per breakdown column
    (``--dialect fr``: palier, rang, priorites).
    """
    from .data.outputs import write_output

    write_output(_ordered_scores(scores), path, stamp or inout.stamp_of(scores, None), dialect=dialect)


def _ordered_scores(scores: Scores) -> Any:
    from .data.buffers import from_numpy

    return scores.to_arrow().take(from_numpy(scores.order()))


def write_table(table: Any, path: Path) -> None:
    """An Arrow table to .csv or .parquet (by suffix)."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    elif path.suffix.lower() == ".csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, path)
    else:
        raise Failure(f"{path}: the output must end in .csv or .parquet")


def scores_text(scores: Scores, limit: int) -> str:
    """The ``limit`` best applications as an aligned table (breakdown columns non-zero in them only)."""
    top = scores.order()[:limit]
    shown = [j for j in range(len(scores.columns)) if scores.breakdown[top, j].any()]
    headers = ["rank", "numero_unique", "total", "tier", "flags", *(scores.columns[j].id for j in shown)]
    rows = [
        [
            str(scores.rank[i]),
            str(scores.ids[i]),
            str(scores.total[i]),
            str(scores.tier[i]),
            ";".join(f for k, f in enumerate(scores.flag_ids) if scores.flags[i, k]),
            *(str(scores.breakdown[i, j]) for j in shown),
        ]
        for i in top
    ]
    return _aligned(headers, rows, text_columns={1, 4})


def _aligned(headers: list[str], rows: list[list[str]], text_columns: set[int]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=False)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if k in text_columns else c.rjust(w)
            for k, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def ranking_text(ranking: Any, limit: int) -> str:
    """The candidates of the first ``limit`` dwellings, and each dwelling's filter counts."""
    headers = ["logement", "rang", "numero_unique", "tier", "total", "demande", "logement+", "eligibles"]
    rows = []
    for m in range(min(limit, len(ranking))):
        for r in range(ranking.k):
            if ranking.rows[m, r] < 0:
                break
            rows.append(
                [
                    str(ranking.dwelling_ids[m]) if r == 0 else "",
                    str(r + 1),
                    str(ranking.application_ids[m, r]),
                    str(ranking.tier[m, r]),
                    str(ranking.total[m, r]),
                    str(ranking.application_total[m, r]),
                    str(ranking.total[m, r] - ranking.application_total[m, r]),
                    str(ranking.eligible[m]) if r == 0 else "",
                ]
            )
        if ranking.k == 0 or ranking.rows[m, 0] < 0:
            rows.append(
                [
                    str(ranking.dwelling_ids[m]),
                    "-",
                    "(aucun candidat)",
                    "",
                    "",
                    "",
                    "",
                    str(ranking.eligible[m]),
                ]
            )
    text = _aligned(headers, rows, text_columns={0, 2})
    excluded = ranking.excluded.sum(axis=0)
    counts = ", ".join(f"{fid} {int(x)}" for fid, x in zip(ranking.filter_ids, excluded, strict=True))
    more = len(ranking) - min(limit, len(ranking))
    tail = f"\n... {more} more dwellings" if more > 0 else ""
    return (
        f"{text}{tail}\n{len(ranking)} dwellings; applications excluded by each filter, summed over the "
        f"dwellings: {counts or 'no filter'}"
    )


def summary_text(scores: Scores) -> str:
    """N, mean / median / max total, and the share of applications with a priority flag."""
    n = len(scores)
    if n == 0:
        return "0 applications"
    flagged = float(scores.flags.any(axis=1).mean()) if scores.flags.size else 0.0
    return (
        f"{n} applications (grid {scores.grid_id}, date_calcul {scores.date_calcul.isoformat()}): "
        f"total mean {scores.total.mean():.1f}, median {np.median(scores.total):g}, "
        f"max {scores.total.max()}; "
        f"{100 * flagged:.1f} % with a priority flag"
        + ("; grid OUT OF FORCE on this date (--force-version)" if scores.out_of_force else "")
    )
