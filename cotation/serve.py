"""``cotation serve``: a small HTTP service (ASGI, Starlette run by uvicorn) over one grid.

Needs the optional extra ``serve`` (``pip install 'cotation[serve]'``). The grid is loaded, checked
and its kernels compiled once, at start-up; requests only read it (a :class:`Grid` is immutable,
each request scores its own batch), so they share no mutable state. Endpoints (``docs/serve.md``)::

    GET  /health, /version     the package version and the grid's stamp (id, version, hash)
    POST /check                a grid (YAML body): its summary, or its errors; includes are refused
    POST /score                one application (JSON object) or a batch (a list): JSON out
    POST /explain              the trace of each application posted
    POST /position             each application's position among similar demands
    POST /rank                 {"applications": [...], "dwellings": {...} or [...], "k": 3}

``?date=YYYY-MM-DD`` sets the computation date (default: today). Ids stay strings. A bad request
gets the command line's error as JSON, ``{"error": {"code", "message", "problems"}}``: 422 for a
grid or data error, 400 for a body that is not JSON of the expected shape (D150), 413 for a body, a
batch or a grid over the limits below (D151); 422 with D152 for a rank on a grid with no match part.
"""

from __future__ import annotations

import datetime
import json
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import api
from .data.batch import Batch, read_dwellings
from .data.outputs import Stamp, digest, json_lines
from .errors import DataError, DataProblem, GridError
from .grid.catalogue import default_catalogue
from .grid.ir import Grid
from .grid.limits import MAX_GRID_BYTES
from .version import __version__

__all__ = [
    "MAX_APPLICATIONS",
    "MAX_BODY_BYTES",
    "MAX_DWELLINGS",
    "MAX_EXPLAIN",
    "Service",
    "create_app",
    "run",
]

MAX_BODY_BYTES = 8 * 1024 * 1024  # a request body (a grid sent to /check: MAX_GRID_BYTES)
MAX_APPLICATIONS = 20_000  # applications in one request
MAX_EXPLAIN = 200  # applications in one /explain request (a trace each)
MAX_DWELLINGS = 1_000  # dwellings in one /rank request
EXTRA_MESSAGE = (
    "cotation serve needs the optional extra 'serve' (starlette, uvicorn): pip install 'cotation[serve]'"
)


class RequestError(Exception):
    """A request the service refuses: an HTTP status and a data problem (D150-D152)."""

    def __init__(self, status: int, code: str, message: str, column: str = "<request>"):
        super().__init__(message)
        self.status = status
        self.problem = DataProblem(code, column, message, source="<request>")


@dataclass(frozen=True)
class Service:
    """What every request reads: the grid (loaded and compiled once) and an empty include root."""

    grid: Grid
    engine: str
    no_includes: Path

    @classmethod
    def start(
        cls, grid_path: str | Path, include_dirs: tuple[Path, ...] = (), engine: str = "compiled"
    ) -> Service:
        grid = api.load_grid(grid_path, include_dirs=include_dirs)
        service = cls(grid, engine, Path(tempfile.mkdtemp(prefix="cotation-serve-noinclude-")))
        service.warm_up()
        return service

    def warm_up(self) -> None:
        """Compile the kernels now (scoring, trace and, with a match part, pair: cached on disk),
        not on the first request."""
        from .data.generate import generate_applications, generate_dwellings
        from .explain.trace import traces

        day = datetime.date.today()
        batch = generate_applications(2, seed=0, date_calcul=day, catalogue=self.grid.catalogue)
        scores = api.score(self.grid, batch, day, engine=self.engine)
        traces(self.grid, scores, batch, [str(i) for i in scores.ids])
        if self.grid.match is not None:
            api.rank(self.grid, batch, generate_dwellings(1, seed=0), 1, date_calcul=day, engine=self.engine)

    def stamp(self, scores: Any, body: bytes) -> Stamp:
        return Stamp(
            grid_id=scores.grid_id,
            grid_version=scores.grid_version or "",
            grid_hash=scores.grid_hash,
            date_calcul=scores.date_calcul.isoformat(),
            engine=getattr(scores, "engine", ""),
            input="<request>",
            input_sha256=digest(body),
        )


# -- request bodies -------------------------------------------------------------------------------
def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(400, "D150", f"the request body is not valid JSON: {exc}") from None


def records_of(value: Any, limit: int, what: str = "applications") -> list[dict[str, Any]]:
    """One JSON object or a list of them, at most ``limit``."""
    records = [value] if isinstance(value, dict) else value
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise RequestError(400, "D150", f"expected {what} as one JSON object or a list of objects")
    if len(records) > limit:
        raise RequestError(413, "D151", f"{len(records)} {what} in one request, beyond the limit of {limit}")
    return records


def applications_of(service: Service, records: list[dict[str, Any]], day: datetime.date) -> Batch:
    """The batch of JSON records: the rows reader (ids as strings), as any input, validated."""
    for r in records:
        if "numero_unique" in r and r["numero_unique"] is not None:
            r["numero_unique"] = str(r["numero_unique"])
    return Batch.from_rows(records, service.grid.catalogue, date_calcul=day, source="<request>")


def day_of(query: Any) -> datetime.date:
    text = query.get("date")
    if not text:
        return datetime.date.today()
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise RequestError(400, "D150", f"invalid date {text!r} (expected YYYY-MM-DD)", "date") from None


def rows_of(table: Any) -> list[Any]:
    """The rows of an Arrow table as JSON objects (the writer of ``--format json``)."""
    return [json.loads(line) for line in json_lines(table).splitlines()]


# -- endpoints (plain functions: body and query in, JSON-ready data out) ------------------------------
def health(service: Service) -> dict[str, Any]:
    g = service.grid
    return {
        "status": "ok",
        "package_version": __version__,
        "engine": service.engine,
        "grid": {"id": g.meta.id, "title": g.meta.title, "version": g.meta.version, "hash": g.content_hash},
    }


def check(service: Service, body: bytes) -> dict[str, Any]:
    if len(body) > MAX_GRID_BYTES:
        raise RequestError(413, "D151", f"a grid of {len(body)} bytes, beyond the limit of {MAX_GRID_BYTES}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(400, "D150", f"the grid is not UTF-8 text: {exc}") from None
    # an explicit catalogue: the grid of a stranger is never written to the grid cache
    grid = api.parse_grid(text, "<request>", default_catalogue(), include_root=service.no_includes)
    from .grid.lint import lint

    return {
        "ok": True,
        "id": grid.meta.id,
        "title": grid.meta.title,
        "version": grid.meta.version,
        "criteria": len(grid.criteria),
        "priorities": len(grid.priorities),
        "content_hash": grid.content_hash,
        "warnings": [w.to_dict() for w in lint(grid)],
    }


def score(service: Service, body: bytes, day: datetime.date) -> dict[str, Any]:
    from .data.buffers import from_numpy

    batch = applications_of(service, records_of(parse_json(body), MAX_APPLICATIONS), day)
    scores = api.score(service.grid, batch, day, engine=service.engine)
    best_first = scores.to_arrow().take(from_numpy(scores.order()))
    return {"stamp": service.stamp(scores, body).as_dict(), "rows": rows_of(best_first)}


def explain(service: Service, body: bytes, day: datetime.date) -> dict[str, Any]:
    from .explain.render import to_json
    from .explain.trace import traces

    batch = applications_of(service, records_of(parse_json(body), MAX_EXPLAIN), day)
    scores = api.score(service.grid, batch, day, engine=service.engine)
    found = traces(service.grid, scores, batch, [str(i) for i in scores.ids])
    return {"stamp": service.stamp(scores, body).as_dict(), "traces": [to_json(t) for t in found]}


def position(service: Service, body: bytes, day: datetime.date) -> dict[str, Any]:
    from .data.buffers import table

    batch = applications_of(service, records_of(parse_json(body), MAX_APPLICATIONS), day)
    scores = api.score(service.grid, batch, day, engine=service.engine)
    columns = {
        "numero_unique": scores.ids,
        "total": scores.total,
        "rang": scores.rank,
        "position": scores.position,
        "demandes_similaires": scores.position_count,
    }
    return {"stamp": service.stamp(scores, body).as_dict(), "rows": rows_of(table(columns))}


def rank(service: Service, body: bytes, day: datetime.date) -> dict[str, Any]:
    import pyarrow as pa

    grid = service.grid
    if grid.match is None:
        raise RequestError(
            422, "D152", f"the grid '{grid.meta.id}' has no match part: it cannot rank dwellings"
        )
    request = parse_json(body)
    if not isinstance(request, dict) or "applications" not in request or "dwellings" not in request:
        raise RequestError(400, "D150", 'expected {"applications": [...], "dwellings": [...], "k": 3}')
    k, assignment = request.get("k", 3), request.get("assignment")
    if (
        not isinstance(k, int)
        or isinstance(k, bool)
        or not 0 <= k <= 100
        or assignment not in (None, "given", "best")
    ):
        raise RequestError(400, "D150", "k must be an integer 0..100 and assignment null, 'given' or 'best'")
    batch = applications_of(service, records_of(request["applications"], MAX_APPLICATIONS), day)
    homes = records_of(request["dwellings"], MAX_DWELLINGS, "dwellings")
    dwellings = read_dwellings(pa.Table.from_pylist(homes), grid.match.catalogue)
    ranking = api.rank(
        grid, batch, dwellings, k, date_calcul=day, engine=service.engine, assignment=assignment
    )
    return {"stamp": service.stamp(ranking, body).as_dict(), "rows": rows_of(ranking.to_arrow())}


# -- the ASGI app ---------------------------------------------------------------------------------
def error_body(exc: Exception) -> tuple[int, dict[str, Any]]:
    """The status and JSON of a refused request (the command line's messages, as data)."""
    if isinstance(exc, RequestError):
        status, problems, message = exc.status, [exc.problem.to_dict()], exc.problem.render()
    elif isinstance(exc, GridError):
        status, problems, message = 422, [d.to_dict() for d in exc.diagnostics], exc.render()
    else:
        assert isinstance(exc, DataError)
        status, problems, message = 422, [p.to_dict() for p in exc.problems], exc.render()
    return status, {"error": {"code": problems[0]["code"], "message": message, "problems": problems}}


async def read_body(request: Any, limit: int) -> bytes:
    """The body, refused (413) as soon as it is over ``limit`` bytes: never read whole beyond it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, "D151", f"a request body of {declared} bytes, beyond the limit of {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, "D151", f"a request body over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(service: Service) -> Any:
    """The Starlette app serving ``service`` (ImportError naming the extra when it is missing)."""
    try:
        from starlette.applications import Starlette
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import JSONResponse
        from starlette.routing import Route
    except ImportError as exc:
        raise ImportError(EXTRA_MESSAGE) from exc

    def endpoint(work: Callable[..., dict[str, Any]], dated: bool) -> Callable[[Any], Awaitable[Any]]:
        async def handle(request: Any) -> Any:
            try:
                limit = MAX_GRID_BYTES if work is check else MAX_BODY_BYTES
                body = await read_body(request, limit)
                args = (service, body, day_of(request.query_params)) if dated else (service, body)
                return JSONResponse(await run_in_threadpool(work, *args))
            except (RequestError, GridError, DataError) as exc:
                status, content = error_body(exc)
                return JSONResponse(content, status_code=status)

        return handle

    async def get_health(request: Any) -> Any:
        return JSONResponse(health(service))

    routes = [
        Route("/health", get_health, methods=["GET"]),
        Route("/version", get_health, methods=["GET"]),
        Route("/check", endpoint(check, dated=False), methods=["POST"]),
        *(
            Route(f"/{f.__name__}", endpoint(f, dated=True), methods=["POST"])
            for f in (score, explain, position, rank)
        ),
    ]
    return Starlette(routes=routes)


def run(
    grid_path: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    include_dirs: tuple[Path, ...] = (),
    engine: str = "compiled",
) -> None:
    """Load the grid, compile it, and serve it with uvicorn until interrupted."""
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError:
        raise DataError([DataProblem("D125", "<serve>", EXTRA_MESSAGE)]) from None
    service = Service.start(grid_path, include_dirs, engine)
    print(f"cotation serve: grid '{service.grid.meta.id}' on http://{host}:{port}", flush=True)
    uvicorn.run(create_app(service), host=host, port=port, log_level="warning")
