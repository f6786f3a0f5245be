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

# Each public name and its module, imported when first used (PEP 562): ``import cotation`` stays
# cheap (a warm start scores in a new process, and most scripts use a few names).
_EXPORTS = {
    "load_grid": "api", "parse_grid": "api", "rank": "api", "score": "api",
    "Catalogue": "catalogue", "Field": "catalogue", "Kind": "catalogue",
    "default_catalogue": "catalogue", "dwelling_catalogue": "catalogue",
    "Batch": "data", "read_applications": "data", "read_dwellings": "data", "write_applications": "data",
    "CotationError": "errors", "DataError": "errors", "DataProblem": "errors", "Diagnostic": "errors",
    "GridError": "errors", "TestCaseError": "errors",
    "explain_text": "explain", "trace": "explain",
    "generate_applications": "generate", "generate_dwellings": "generate",
    "Grid": "ir",
    "grid_json_schema": "model",
    "Pool": "ranking", "Ranking": "ranking", "prepare_pool": "ranking",
    "Scores": "scores",
}

if _typing.TYPE_CHECKING:
    from .api import load_grid, parse_grid, rank, score
    from .catalogue import Catalogue, Field, Kind, default_catalogue, dwelling_catalogue
    from .data import Batch, read_applications, read_dwellings, write_applications
    from .errors import CotationError, DataError, DataProblem, Diagnostic, GridError, TestCaseError
    from .explain import explain_text, trace
    from .generate import generate_applications, generate_dwellings
    from .ir import Grid
    from .model import grid_json_schema
    from .ranking import Pool, Ranking, prepare_pool
    from .scores import Scores


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


__version__ = "0.1.0"

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
    "Pool",
    "Ranking",
    "Scores",
    "TestCaseError",
    "__version__",
    "default_catalogue",
    "dwelling_catalogue",
    "explain_text",
    "generate_applications",
    "generate_dwellings",
    "grid_json_schema",
    "load_grid",
    "parse_grid",
    "prepare_pool",
    "rank",
    "read_applications",
    "read_dwellings",
    "score",
    "trace",
    "write_applications",
]
