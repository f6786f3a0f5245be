"""cotation: score and rank social-housing applications from a declarative YAML grid.

The public API (everything else is private and may change)::

    grid = cotation.load_grid("grids/exemple-metropole.yaml")      # GridError on any problem
    batch = cotation.read_applications("demandes.csv", grid.catalogue, date_calcul=day)
    scores = cotation.score(grid, batch, date_calcul=day)         # Scores
    print(cotation.explain_text(grid, scores, batch, "031202200000000"))
    logements = cotation.read_dwellings("logements.csv")
    ranking = cotation.rank(grid, batch, logements, 3, date_calcul=day)  # Ranking: top 3 per dwelling
"""

import typing as _typing

from .version import __version__

# Each public name and its module, imported when first used (PEP 562): ``import cotation`` stays
# cheap (a warm start scores in a new process, and most scripts use a few names).
_EXPORTS = {
    "load_grid": "api",
    "parse_grid": "api",
    "rank": "api",
    "score": "api",
    "compare": "api",
    "simulate": "api",
    "bilan": "api",
    "Catalogue": "grid.catalogue",
    "Field": "grid.catalogue",
    "Kind": "grid.catalogue",
    "default_catalogue": "grid.catalogue",
    "dwelling_catalogue": "grid.catalogue",
    "Grid": "grid.ir",
    "grid_json_schema": "grid.model",
    "Batch": "data.batch",
    "read_applications": "data.batch",
    "read_dwellings": "data.batch",
    "write_applications": "data.batch",
    "generate_applications": "data.generate",
    "generate_dwellings": "data.generate",
    "CotationError": "errors",
    "DataError": "errors",
    "DataProblem": "errors",
    "Diagnostic": "errors",
    "GridError": "errors",
    "TestCaseError": "errors",
    "Scores": "scoring.scores",
    "Pool": "match.pool",
    "Ranking": "match.ranking",
    "prepare_pool": "match.pool",
    "explain_text": "explain.trace",
    "trace": "explain.trace",
    # issue 16: French exports, rejects, mapping, stamped outputs, committee sheets
    "Mapping": "data.mapping",
    "load_mapping": "data.mapping",
    "Rejects": "data.rejects",
    "read_with_rejects": "data.rejects",
    "Stamp": "data.outputs",
    "write_output": "data.outputs",
    "committee_view": "explain.views",
    "committee_html": "explain.views",
}

if _typing.TYPE_CHECKING:
    from .api import bilan, compare, load_grid, parse_grid, rank, score, simulate
    from .data.batch import Batch, read_applications, read_dwellings, write_applications
    from .data.generate import generate_applications, generate_dwellings
    from .data.mapping import Mapping, load_mapping
    from .data.outputs import Stamp, write_output
    from .data.rejects import Rejects, read_with_rejects
    from .errors import CotationError, DataError, DataProblem, Diagnostic, GridError, TestCaseError
    from .explain.trace import explain_text, trace
    from .explain.views import committee_html, committee_view
    from .grid.catalogue import Catalogue, Field, Kind, default_catalogue, dwelling_catalogue
    from .grid.ir import Grid
    from .grid.model import grid_json_schema
    from .match.pool import Pool, prepare_pool
    from .match.ranking import Ranking
    from .scoring.scores import Scores


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cotation' has no attribute '{name}'")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "Batch",
    "Catalogue",
    "CotationError",
    "DataError",
    "DataProblem",
    "Diagnostic",
    "Field",
    "Grid",
    "GridError",
    "Kind",
    "Mapping",
    "Pool",
    "Ranking",
    "Rejects",
    "Scores",
    "Stamp",
    "TestCaseError",
    "__version__",
    "bilan",
    "committee_html",
    "committee_view",
    "compare",
    "default_catalogue",
    "dwelling_catalogue",
    "explain_text",
    "generate_applications",
    "generate_dwellings",
    "grid_json_schema",
    "load_grid",
    "load_mapping",
    "parse_grid",
    "prepare_pool",
    "rank",
    "read_applications",
    "read_dwellings",
    "read_with_rejects",
    "score",
    "simulate",
    "trace",
    "write_applications",
    "write_output",
]
