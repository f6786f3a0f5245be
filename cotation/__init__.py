"""cotation: score and rank social-housing applications from a declarative YAML grid.

The public API (everything else is private and may change)::

    grid = cotation.load_grid("grids/exemple-metropole.yaml")      # GridError on any problem
    batch = cotation.read_applications("demandes.csv", grid.catalogue, date_calcul=day)
    scores = cotation.score(grid, batch, date_calcul=day)         # Scores
    print(cotation.explain_text(grid, scores, batch, "031202200000000"))
"""


from .api import load_grid, parse_grid, score
from .catalogue import Catalogue, Field, Kind, default_catalogue
from .data import Batch, read_applications, write_applications
from .errors import CotationError, DataError, DataProblem, Diagnostic, GridError, TestCaseError
from .explain import explain_text, trace
from .generate import generate_applications
from .ir import Grid
from .model import grid_json_schema
from .scores import Scores

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
    "Scores",
    "TestCaseError",
    "__version__",
    "default_catalogue",
    "explain_text",
    "generate_applications",
    "grid_json_schema",
    "load_grid",
    "parse_grid",
    "read_applications",
    "score",
    "trace",
    "write_applications",
]
