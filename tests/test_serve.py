"""``cotation serve``: the real server (uvicorn, in a subprocess, on a free localhost port).

Every endpoint is called over HTTP with urllib; its JSON equals what the library gives in-process
for the same applications (read another way: the generated batch itself), and bad requests get
the command line's errors as JSON with their codes and HTTP statuses.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

import cotation
from cotation.data.outputs import json_lines
from cotation.explain.render import to_json
from cotation.explain.trace import traces
from cotation.serve import MAX_APPLICATIONS, MAX_BODY_BYTES

ROOT = Path(__file__).resolve().parent.parent
GRID = ROOT / "grids" / "exemple-metropole.yaml"
DAY = datetime.date(2026, 1, 1)
QUERY = f"?date={DAY.isoformat()}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cotation", "serve", str(GRID), "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(url + "/health", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the server did not start: {log.read_text()}")
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def call(url: str, data: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def grid() -> cotation.Grid:
    return cotation.load_grid(GRID)


@pytest.fixture(scope="module")
def batch(grid: cotation.Grid) -> cotation.Batch:
    return cotation.generate_applications(40, seed=3, date_calcul=DAY, catalogue=grid.catalogue)


def records(batch: cotation.Batch) -> list[dict[str, Any]]:
    """The applications as an IT system sends them: JSON records (ids as strings)."""
    rows: list[dict[str, Any]] = json.loads(json.dumps(batch.to_arrow().to_pylist(), default=str))
    return rows


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


def rows_of(table: Any) -> list[Any]:
    return [json.loads(line) for line in json_lines(table).splitlines()]


# -- health and check -----------------------------------------------------------------------------
def test_health_gives_the_version_and_the_grids_stamp(server: str, grid: cotation.Grid) -> None:
    for path in ("/health", "/version"):
        status, out = call(server + path)
        assert status == 200
        assert out["package_version"] == cotation.__version__
        assert out["grid"] == {
            "id": grid.meta.id,
            "title": grid.meta.title,
            "version": grid.meta.version,
            "hash": grid.content_hash,
        }


def test_check_a_valid_grid(server: str) -> None:
    other = ROOT / "grids" / "toulouse-like.yaml"  # no include: /check allows none
    grid = cotation.load_grid(other)
    status, out = call(server + "/check", other.read_bytes())
    assert status == 200
    assert out["ok"] is True and out["id"] == grid.meta.id
    assert out["content_hash"] == grid.content_hash
    assert out["criteria"] == len(grid.criteria)


def test_check_reports_grid_errors_as_the_cli_does(server: str) -> None:
    text = "id: essai\ntitle: Essai\ncriteria:\n  - {id: a, label: A, when: revenu_fical > 0, points: 5}\n"
    status, out = call(server + "/check", text.encode())
    assert status == 422
    with pytest.raises(cotation.GridError) as err:
        cotation.parse_grid(text, "<request>", cotation.default_catalogue())
    assert out["error"]["code"] == err.value.diagnostics[0].code == "E202"
    assert out["error"]["message"] == err.value.render()
    assert out["error"]["problems"] == [d.to_dict() for d in err.value.diagnostics]


@pytest.mark.parametrize("target", ["/etc/passwd", "../../../../etc/passwd", "publics-prioritaires.yaml"])
def test_check_refuses_every_include(server: str, target: str) -> None:
    text = f"id: essai\ntitle: Essai\ninclude: [{target}]\ncriteria: []\n"
    status, out = call(server + "/check", text.encode())
    assert status == 422
    assert out["error"]["code"] in ("E104", "E108")
    assert "root:" not in json.dumps(out)  # nothing of the file is read back


def announce(url: str, path: str, length: int) -> tuple[int, Any]:
    """Send only the headers of a body of ``length`` bytes: the server answers before reading it."""
    import http.client
    import urllib.parse

    where = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=30)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Length", str(length))
        conn.endheaders()
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_bodies_over_the_limits_are_refused_unread(server: str) -> None:
    from cotation.grid.limits import MAX_GRID_BYTES

    status, out = announce(server, "/check", MAX_GRID_BYTES + 1)
    assert status == 413 and out["error"]["code"] == "D151"
    status, out = announce(server, "/score" + QUERY, MAX_BODY_BYTES + 1)
    assert status == 413 and out["error"]["code"] == "D151"


# -- score, explain, position, rank ------------------------------------------------------------------
def test_score_a_batch_equals_the_library(server: str, grid: cotation.Grid, batch: cotation.Batch) -> None:
    status, out = call(server + "/score" + QUERY, body(records(batch)))
    assert status == 200
    scores = cotation.score(grid, batch, DAY, engine="reference")
    want = rows_of(scores.to_arrow().take(scores.order()))
    assert out["rows"] == want
    assert all(isinstance(r["numero_unique"], str) for r in out["rows"])
    stamp = out["stamp"]
    assert (stamp["grid_id"], stamp["grid_hash"], stamp["date_calcul"]) == (
        grid.meta.id,
        grid.content_hash,
        DAY.isoformat(),
    )
    assert stamp["input_sha256"].startswith("sha256:")


def test_score_one_application_keeps_its_leading_zeros(server: str, batch: cotation.Batch) -> None:
    one = records(batch)[0]
    one["numero_unique"] = "000123"
    status, out = call(server + "/score" + QUERY, body(one))
    assert status == 200
    assert [r["numero_unique"] for r in out["rows"]] == ["000123"]


def test_explain_equals_the_library(server: str, grid: cotation.Grid, batch: cotation.Batch) -> None:
    some = batch.take(np.arange(5))
    status, out = call(server + "/explain" + QUERY, body(records(some)))
    assert status == 200
    scores = cotation.score(grid, some, DAY, engine="reference")
    assert out["traces"] == json.loads(
        json.dumps([to_json(t) for t in traces(grid, scores, some, list(scores.ids))])
    )


def test_position_equals_the_library(server: str, grid: cotation.Grid, batch: cotation.Batch) -> None:
    status, out = call(server + "/position" + QUERY, body(records(batch)))
    assert status == 200
    scores = cotation.score(grid, batch, DAY, engine="reference")
    got = {
        r["numero_unique"]: (r["total"], r["rang"], r["position"], r["demandes_similaires"])
        for r in out["rows"]
    }
    want = {
        str(i): (int(t), int(k), int(p), int(c))
        for i, t, k, p, c in zip(
            scores.ids, scores.total, scores.rank, scores.position, scores.position_count, strict=True
        )
    }
    assert got == want


def test_rank_equals_the_library(server: str, grid: cotation.Grid, batch: cotation.Batch) -> None:
    homes = cotation.generate_dwellings(3, seed=1)
    sent = {"applications": records(batch), "dwellings": records(homes), "k": 2, "assignment": "given"}
    status, out = call(server + "/rank" + QUERY, body(sent))
    assert status == 200
    ranking = cotation.rank(grid, batch, homes, 2, date_calcul=DAY, assignment="given", engine="reference")
    assert out["rows"] == rows_of(ranking.to_arrow())
    one = {**sent, "dwellings": records(homes)[0], "assignment": None}
    status, out = call(server + "/rank" + QUERY, body(one))
    assert status == 200
    first = homes.take(np.arange(1))
    alone = cotation.rank(grid, batch, first, 2, date_calcul=DAY, engine="reference")
    assert out["rows"] == rows_of(alone.to_arrow()) and out["rows"]


# -- bad requests ---------------------------------------------------------------------------------
def test_bad_data_gets_the_data_error_of_the_cli(
    server: str, grid: cotation.Grid, batch: cotation.Batch
) -> None:
    rows = records(batch)[:3]
    rows[1]["nb_personnes"] = "beaucoup"
    status, out = call(server + "/score" + QUERY, body(rows))
    assert status == 422
    with pytest.raises(cotation.DataError) as err:
        cotation.Batch.from_rows(rows, grid.catalogue, date_calcul=DAY, source="<request>")
    assert out["error"]["code"] == err.value.problems[0].code == "D102"
    assert out["error"]["message"] == err.value.render()
    assert out["error"]["problems"][0]["column"] == "nb_personnes"


@pytest.mark.parametrize(
    ("path", "data", "status", "code"),
    [
        ("/score", b"{not json", 400, "D150"),
        ("/score", b"[1, 2]", 400, "D150"),
        ("/score?date=01/01/2026", b"{}", 400, "D150"),
        ("/rank", b'{"applications": []}', 400, "D150"),
        ("/score", b"[" + b"{}," * MAX_APPLICATIONS + b"{}]", 413, "D151"),
    ],
    ids=["malformed", "not-objects", "bad-date", "rank-shape", "too-many"],
)
def test_bad_requests_get_a_code_and_a_status(
    server: str, path: str, data: bytes, status: int, code: str
) -> None:
    got, out = call(server + path, data)
    assert (got, out["error"]["code"]) == (status, code)
    assert out["error"]["message"] and out["error"]["problems"][0]["code"] == code


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import builtins

    real = builtins.__import__

    def no_uvicorn(name: str, *args: Any, **kw: Any) -> Any:
        if name == "uvicorn":
            raise ImportError("No module named 'uvicorn'")
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_uvicorn)
    from cotation.cli import main

    assert main(["serve", str(GRID)]) == 1
    err = capsys.readouterr().err
    assert "error[D125]" in err and "pip install 'cotation[serve]'" in err


def test_requests_never_compile_again_after_the_warm_up(batch: cotation.Batch) -> None:
    """Whatever fields a request leaves missing, its kernels' signature is the warm-up's: small batches
    pass every validity mask as an array, so no request waits for Numba (once seconds per pattern)."""
    import numba

    from cotation import serve
    from cotation.scoring.compiled import compile_grid

    if numba.config.DISABLE_JIT:
        pytest.skip("nothing is compiled with NUMBA_DISABLE_JIT=1")
    service = serve.Service.start(GRID)
    compiled = compile_grid(service.grid)
    src = compiled.kernel_source
    names = (*(src.jitted or (src.kernel,)), *(src.breakdown_jitted or (src.breakdown_kernel,)))

    def signatures() -> dict[str, int]:
        return {n: len(getattr(compiled.module, n).signatures) for n in names}

    warm = signatures()
    assert all(v == 1 for v in warm.values()), warm
    full = records(batch)
    sparse = [{k: v for k, v in r.items() if v is not None} for r in full]
    assert sum(map(len, sparse)) < sum(map(len, full))  # some fields are missing somewhere
    for sent in (full, full[:1], sparse, sparse[1:2]):
        got = serve.score(service, body(sent), DAY)
        serve.explain(service, body(sent[:1]), DAY)
        assert signatures() == warm
    expected = cotation.score(service.grid, batch, DAY, engine="reference")
    assert [r["total"] for r in got["rows"]] == [int(expected.total[1])]
