"""Stage 1 (grid): the grid file format, as pydantic models: what a YAML grid may contain, key by key.

These models validate the *shape* of a grid (keys, value types, ranges). Expressions are kept as
source text here; :mod:`cotation.grid.check` parses and type-checks them. ``grid_json_schema()`` exports
the format as a JSON Schema for editors.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)

ExprText = Annotated[str | int | float | bool, Field(description="An expression (see docs/expressions.md).")]
Ident = Annotated[
    str, Field(pattern=r"^[a-z][a-z0-9_]*$", description="A lower-case identifier: a-z, 0-9, _.")
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class LocalField(_Strict):
    """A field that this grid adds to the catalogue."""

    type: Literal["bool", "int", "float", "money", "date", "category", "set", "commune", "communes"]
    label: str
    description: str = ""
    unit: str | None = None
    values: dict[str, str] | list[str] | None = Field(
        default=None, description="Allowed values of a category or set (value: label, or a list)."
    )
    required: bool = False
    min: float | None = None
    max: float | None = None
    width: int = Field(default=8, ge=1, le=64, description="Maximum number of communes (communes type).")


class Variable(_Strict):
    """A derived variable: a named expression that criteria can use."""

    expr: ExprText
    label: str | None = None
    description: str = ""
    internal: bool = Field(
        default=False,
        description="A helper of the grid's authors: never shown to the applicant (its value is "
        "left out of traces and letters; the fields it reads are shown instead).",
    )

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """``internal: false`` is left out of the dump, so that the content hash of a grid that
        does not use it stays what it was before the key existed."""
        out: dict[str, Any] = handler(self)
        if not self.internal:
            out.pop("internal", None)
        return out


class Band(_Strict):
    """One band: ``points`` when ``from <= value < to`` (either bound may be omitted)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    from_: float | None = Field(default=None, alias="from")
    to: float | None = None
    points: int


class Validity(_Strict):
    """Points that apply only for a while after a date (e.g. a refusal counts for 12 months)."""

    since: ExprText = Field(description="A date expression: the start of the period.")
    months: int = Field(gt=0, description="Length of the period in months.")


class Criterion(_Strict):
    """A criterion: a condition and a way to compute points (exactly one of points, per_unit, bands)."""

    id: Ident
    label: str
    description: str = ""
    when: ExprText | None = Field(default=None, description="Condition; the criterion is met when true.")
    points: ExprText | None = Field(default=None, description="Fixed points, or an integer expression.")
    value: ExprText | None = Field(default=None, description="Numeric quantity used by per_unit and bands.")
    per_unit: int | None = Field(default=None, description="Points per unit of value (may be negative).")
    unit: float = Field(default=1, gt=0, description="Size of one unit of value (default 1).")
    bands: list[Band] | None = None
    min: int | None = Field(default=None, description="Lower bound of the criterion's points.")
    max: int | None = Field(default=None, description="Upper bound of the criterion's points.")
    rubric: Ident | None = Field(default=None, description="Rubric in which only the best criterion counts.")
    group: Ident | None = Field(default=None, description="Group whose total is capped.")
    valid_for: Validity | None = None
    justificatif: str | None = Field(default=None, description="Supporting document the criterion requires.")


class Rubric(_Strict):
    """A rubric: among its met criteria, only the one with the most points counts."""

    id: Ident
    label: str
    description: str = ""


class Group(_Strict):
    """A group of criteria whose summed points are bounded."""

    id: Ident
    label: str
    description: str = ""
    max: int | None = None
    min: int | None = None


class Priority(_Strict):
    """A priority flag (statutory public, DALO, local label) with its legal basis."""

    id: Ident
    label: str
    legal_basis: str = Field(description="Legal basis, e.g. 'L441-1 a) CCH'.")
    letter: str | None = Field(default=None, description="The legal letter, kept as metadata.")
    description: str = ""
    when: ExprText
    points: int | None = Field(default=None, description="Points added when the flag is raised.")
    tier: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="Priority tier: a higher tier ranks before any number of points.",
    )


class Filter(_Strict):
    """A hard filter of the match part: applications for which ``when`` is not true are excluded."""

    id: Ident
    label: str
    description: str = ""
    when: ExprText = Field(description="Condition an application must meet to be eligible for the dwelling.")


class Reservataire(_Strict):
    """A reservation holder of the gestion en flux: which applications it may propose, and its
    share of the yearly flow of vacancies (from its convention)."""

    id: Ident = Field(description="A value of logement.reservataire (prefet, action_logement, commune...).")
    label: str
    legal_basis: str = Field(description="Legal or contractual basis, e.g. 'R441-5 CCH; convention 2023'.")
    description: str = ""
    when: ExprText | None = Field(
        default=None,
        description="Applications the holder may propose: may read application fields, variables, "
        "priority flags (by their id) and 'tier'. Absent: every application.",
    )
    flow_share: float | None = Field(
        default=None, ge=0, le=1, description="Share of the yearly flow of vacancies (0.30 for 30 %)."
    )


class Match(_Strict):
    """The dwelling-dependent part: filters and pair criteria that may read ``logement.<field>``."""

    filters: list[Filter] = Field(default_factory=list, description="Hard filters, applied in this order.")
    criteria: list[Criterion] = Field(
        default_factory=list, description="Pair criteria: their points add to the application's total."
    )
    typology: dict[str, list[int]] | None = Field(
        default=None,
        description="Rooms suited to a household: persons -> [min rooms, max rooms] "
        "(used by adequation_typologie(); the largest household size given applies above it).",
    )


class GridFile(_Strict):
    """A grid file, or a pool of shared definitions pulled in with ``include``."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")] | None = None
    title: str | None = None
    territory: str | None = None
    version: str | None = None
    effective_from: datetime.date | None = None
    effective_until: datetime.date | None = None
    legal_reference: str | None = None
    description: str | None = None
    kind: Literal["grid", "pool"] = Field(
        default="grid", description="'pool' for files meant to be included."
    )
    include: list[str] = Field(default_factory=list, description="Files to include, relative to this one.")
    fields: dict[Ident, LocalField] = Field(default_factory=dict)
    variables: dict[Ident, Variable | ExprText] = Field(default_factory=dict)
    criteria: list[Criterion] = Field(default_factory=list)
    rubrics: list[Rubric] = Field(default_factory=list)
    groups: list[Group] = Field(default_factory=list)
    priorities: list[Priority] = Field(default_factory=list)
    match: Match | None = Field(
        default=None, description="Dwelling-dependent filters and criteria (ranking)."
    )
    reservataires: list[Reservataire] = Field(
        default_factory=list, description="Reservation holders of the gestion en flux (needs a match part)."
    )
    similar: list[ExprText] | None = Field(
        default=None,
        description="What makes demands similar, for positioning: expressions whose values "
        "must be equal (default: typologie_souhaitee and first(communes_souhaitees)).",
    )
    tie_break: list[str] | None = Field(
        default=None,
        description="Ordering after tier and total, e.g. ['date_depot asc', 'numero_unique asc'].",
    )

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value


def grid_json_schema() -> dict[str, Any]:
    """The JSON Schema of a grid file (for editors' autocompletion)."""
    schema = GridFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cotation grid"
    return schema
