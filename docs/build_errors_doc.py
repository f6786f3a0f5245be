"""Generate docs/errors.md (run from /work/main with PYTHONPATH=.)."""

import os
from pathlib import Path

from cotation.api import load_grid
from cotation.errors import DATA_CODES, GRID_CODES, GridError

ROOT = Path.cwd()
FIX = Path("tests/fixtures/errors")

GRID = {
    "E101": (
        "The file is not valid YAML: an unclosed bracket or quote, a bad indentation, a tab used "
        "for indentation, a `:` inside an unquoted value. The position is where the YAML parser "
        "noticed the problem, which can be after the real mistake (here the flow mapping of line 5 "
        "is never closed, and the parser only notices on line 6).",
        "Close the bracket or quote. Quote any value that contains `: `, ` #`, `{`, `[` or a leading "
        "`*`/`&`/`!`. Indent with spaces only.",
    ),
    "E102": (
        "A key appears twice in the same mapping. Plain YAML loaders silently keep the last value; "
        "cotation refuses the file, at any depth, and says where the first occurrence is.",
        "Delete or rename one of the two keys.",
    ),
    "E103": (
        "Either the document expands, once its aliases (`*name`) are resolved, to more than 200 000 "
        'nodes (a "billion laughs" document), or a value carries a tag that is not plain data '
        "(`!!python/object...`, `!!binary`, `!custom`). Grids only hold strings, numbers, booleans, "
        "null, dates, lists and mappings; nothing in a grid is ever executed.",
        "Remove the tag. Write lists out instead of nesting aliases; anchors and aliases are allowed "
        "for small repetitions.",
    ),
    "E104": (
        "A file named in `include:` does not exist or cannot be read (permissions, not UTF-8). "
        "Include paths are relative to the file that includes them.",
        "Fix the path (relative to the including file), or create the pool file.",
    ),
    "E105": (
        "Files include each other in a loop (directly or through other files). The error points at "
        "the `include` entry that closes the loop; the message lists the whole chain. Files reached "
        "through an include are named by their absolute path (shortened below to the repository).",
        "Remove one of the includes: pools should form a tree. A file included twice by different "
        "files (a diamond) is fine and is read once.",
    ),
    "E111": (
        "A key the format requires is absent: `id` and `title` of a grid, `id` and `label` of a "
        "criterion, rubric or group, `id`, `label`, `legal_basis` and `when` of a priority, `type` "
        "and `label` of a local field, or `value` for a criterion with `per_unit` or `bands`. The "
        "error points at the mapping that lacks the key. A misspelt required key gives both E111 and "
        "E112.",
        "Add the key. Files meant only to be included declare `kind: pool` and need no id or title.",
    ),
    "E112": (
        "A key that the format does not know. The message suggests the closest known key.",
        "Fix the spelling (the suggestion is usually right) or remove the key. The JSON Schema "
        "of the format (`cotation schema`, or docs/grid.schema.json) gives editors autocompletion of every key.",
    ),
    "E113": (
        "A value has the wrong type or is out of range: text where a number is expected, a `tier` "
        "outside 1..100, `months: 0` in `valid_for`, a `unit` that is not positive, an `id` with "
        "upper-case letters, a file that is a list rather than a mapping, or a pool loaded as a "
        "grid. Beware of YAML 1.1: an unquoted `yes`, `no`, `on` or `off` is a boolean, so "
        "`label: NO` is refused.",
        "Give a value of the type stated in the message; see the grid format reference for ranges.",
    ),
    "E201": (
        "An expression (in `when`, `points`, `value`, `valid_for.since`, a variable or a priority) "
        "is not well formed: a stray character, an unclosed parenthesis or string, a missing operand. "
        "The caret points at the offending character inside the YAML line; the common slips `=`, "
        "`&`, `|` and `!` come with a suggestion (`==`, `and`, `or`, `not`).",
        "Fix the expression; see the grammar in docs/expressions.md. In YAML flow mappings "
        "(`{...}`), quote any expression that contains a comma.",
    ),
    "E202": (
        "A name in an expression is neither a catalogue field, a local field, a variable of the grid "
        "nor `date_calcul`; or it is the identifier `numero_unique`, which cannot be computed with; "
        "or it is a dotted name (`logement.surface`) that is not available in this context.",
        "Fix the spelling (a close field name is suggested), declare the field under `fields:`, or "
        "define the variable under `variables:`. docs/catalogue.md lists the fields.",
    ),
    "E203": (
        "A text literal compared with a category or set field (`==`, `!=`, `in`) is not one of the "
        "field's values; or a text compared with a commune is not an INSEE code.",
        "Use one of the values listed in the message (exact spelling, see docs/catalogue.md).",
    ),
    "E204": (
        "An operator is applied to operands of the wrong types: arithmetic on booleans, `and`/`or`/"
        "`not` on numbers, comparing a date with a number, ordering categories, a text literal "
        "outside a comparison, a literal set outside `in`, the two branches of `A if C else B` with "
        "different types, a non-numeric `value`, a `valid_for.since` that is not a date.",
        "Change the expression so that the types fit; the message names the operator and the types.",
    ),
    "E205": (
        "A call to a function that does not exist. The message suggests the closest known function. "
        "Here the error is reported on the variable; today the criterion that uses the variable is "
        "also reported, as an unknown name (a known cascade, to be removed).",
        "Fix the name; the functions are listed in docs/expressions.md.",
    ),
    "E206": (
        "A function receives too few or too many arguments, or arguments of the wrong types "
        '(`months_between` takes two dates, `date()` a text constant `"YYYY-MM-DD"`, `coalesce` two '
        "values of the same type).",
        "Call the function as documented in docs/expressions.md.",
    ),
    "E207": (
        "A condition (`when` of a criterion or priority, the condition of `A if C else B`) is not "
        "boolean, for instance a bare number.",
        "Write a comparison: `nb_enfants > 0` rather than `nb_enfants`.",
    ),
    "E208": (
        "The `points` of a criterion are not an integer: a decimal constant, or an expression whose "
        "type is a number (`/` always gives a number, as do money fields).",
        "Round explicitly with `round(...)`, `floor(...)` or `ceil(...)`; scores are whole points.",
    ),
    "E209": (
        "A variable depends on itself, directly or through other variables. The message shows the "
        "cycle. Today the variables of the cycle, and the criteria that use them, are also reported "
        "as unknown names (E202): a known cascade, to be removed.",
        "Break the cycle: one of the variables must be computed from fields only.",
    ),
    "E301": (
        "Two definitions share an id. Criteria, priorities, rubrics and groups share one namespace "
        "(their ids become columns of the breakdown), which also holds the `plafond_<group>` columns; "
        "a variable may not take the name of a field.",
        "Rename one of them; ids are stable identifiers used in exports, keep them meaningful.",
    ),
    "E302": (
        "A criterion names a `rubric` or `group` that is not declared under `rubrics:` or `groups:`.",
        "Declare the rubric or group, or fix the spelling (a close id is suggested).",
    ),
    "E303": (
        "A rubric or group is declared but no criterion names it in its `rubric` or `group` key "
        "(not reported when a misspelt reference, E302, probably meant it).",
        "Set `rubric: <id>` (or `group: <id>`) on the criteria meant to belong to it, or delete the "
        "declaration.",
    ),
    "E304": (
        "The bands of a criterion are not in increasing order, overlap, have `to <= from`, or the "
        "list is empty. Bands read `from <= value < to`; only the last band may omit `to`, only the "
        "first may omit `from`.",
        "Sort the bands and make each `from` at least the previous `to`.",
    ),
    "E305": (
        "A criterion must declare exactly one way of computing its points: `points` (a constant or "
        "an integer expression), `per_unit` (with `value`) or `bands` (with `value`). This one "
        "declares none or several; or it declares `value` next to `points`, where it is not used.",
        "Keep one of `points`, `per_unit`, `bands`; split the criterion in two if both are meant.",
    ),
    "E306": (
        "An entry of `tie_break` does not read `FIELD asc` or `FIELD desc`, names an unknown field, or "
        "a field that cannot be ordered (booleans, categories, sets). `numero_unique asc` is always "
        "appended so that the ranking is a total order.",
        "Use a date or numeric field, e.g. `[date_depot asc, numero_unique asc]`.",
    ),
    "E307": (
        "A local field under `fields:` redefines a catalogue field (or one from another file), or a "
        "local `category`/`set` field has no `values`.",
        "Pick another name, or give the allowed `values` (a list, or a mapping value: label).",
    ),
    "E308": (
        "A lower bound is greater than its upper bound: `min > max` on a criterion or a group, or "
        "`effective_until` before `effective_from`.",
        "Swap or fix the bounds.",
    ),
    "E309": (
        "The checker bounds every point column with interval arithmetic over the catalogue's "
        "`min`/`max` of each field (cotation/grid/bounds.py) to choose the integer width of the outputs. "
        "This criterion's points (or the grid's total) cannot be proven to stay within 64-bit "
        "integers: a product of amounts without a cap, a rounded ratio of unbounded floats.",
        "Give the criterion a `min:` and a `max:` (both engines clamp to them), or cap the value.",
    ),
    "E310": (
        "The grid declares more than 64 priorities; each raises one bit of a 64-bit flag word.",
        "Merge priorities that share a legal basis, or move some into criteria.",
    ),
}

DATA = {
    "D101": (
        "A column the catalogue marks as required (`numero_unique`, `date_depot`, `nb_personnes`, "
        "`nb_adultes`, `date_naissance_demandeur`, `ressources_mensuelles`, `situation_logement`) is "
        "absent from the file.",
        "Add the column; docs/catalogue.md lists the required fields.",
    ),
    "D102": (
        "A cell cannot be read as its field's type: a number with a decimal comma, a date not in "
        "`YYYY-MM-DD`, an impossible date, a boolean outside `true/false/1/0/oui/non/vrai/faux`, an "
        "integer with decimals, or a typed column (Parquet, DataFrame) of another type.",
        "Export numbers with `.` as decimal separator and dates in ISO form.",
    ),
    "D103": (
        "A category or set cell holds a value that is not in the field's `values`. The message lists "
        "the allowed values and suggests the closest one.",
        "Map the source system's codes to the catalogue's values before scoring.",
    ),
    "D104": (
        "A number is below the field's minimum: a negative amount, a household of 0 persons.",
        "Fix the source data; a value cannot be clamped silently.",
    ),
    "D105": (
        "A date is after the computation date (`date_calcul`): a demand filed in the future, a "
        "birth date after the computation.",
        "Check the computation date, or the data.",
    ),
    "D106": (
        "The same `numero_unique` appears on several rows.",
        "Deduplicate the extract: one row per demand.",
    ),
    "D107": ("A required column has an empty cell.", "Fill the value; required fields have no default."),
    "D108": (
        "The file cannot be read: not found, an unsupported suffix (only `.csv` and `.parquet`), an "
        "empty or corrupt file, or the same column twice.",
        "Export to CSV (UTF-8, `,` or `;` separated) or Parquet.",
    ),
    "D109": (
        "A column is not a catalogue field but looks like a misspelling of one that is absent. Other "
        "unknown columns are ignored (and listed on the batch as `ignored_columns`).",
        "Rename the column to the suggested field.",
    ),
    "D110": (
        "A multi-valued cell holds more values than the field allows (more communes than the "
        "`width` of a `communes` field, 8 by default).",
        "Keep the first choices only, or widen the field in a local declaration.",
    ),
    "D111": (
        "A number is above the field's maximum (docs/catalogue.md): an implausible amount, household "
        "size or duration. The maxima bound every point column, which lets the checker prove that "
        "points cannot overflow (E309).",
        "Fix the source data; a value cannot be clamped silently.",
    ),
}

DATA_EX = {
    "D101": "numero_unique,date_depot,nb_personnes,nb_adultes,date_naissance_demandeur,situation_logement\n069122500001,2024-03-01,3,2,1985-06-12,locataire_prive\n",
}

import textwrap


def wrap(text):
    return textwrap.fill(text, width=100, break_long_words=False, break_on_hyphens=False)


def rendered(code):
    try:
        load_grid(FIX / f"{code}.yaml")
    except GridError as e:
        return e.render().replace(str(ROOT) + "/", "")
    raise AssertionError(code)


def data_examples():
    import datetime
    import tempfile

    from cotation.data.batch import read_applications
    from cotation.errors import DataError

    H = "numero_unique,date_depot,nb_personnes,nb_adultes,date_naissance_demandeur,ressources_mensuelles,situation_logement"
    OK = "069122500001,2024-03-01,3,2,1985-06-12,1850,locataire_prive"
    cases = {
        "D101": DATA_EX["D101"],
        "D102": H + ",loyer_actuel\n" + OK + ',"650,50"\n',
        "D103": H + "\n069122500001,2024-03-01,3,2,1985-06-12,1850,heberge_chez_tiers\n",
        "D104": H + "\n069122500001,2024-03-01,0,2,1985-06-12,1850,locataire_prive\n",
        "D105": H + "\n069122500001,2027-03-01,3,2,1985-06-12,1850,locataire_prive\n",
        "D106": H + "\n" + OK + "\n" + OK + "\n",
        "D107": H + "\n069122500001,,3,2,1985-06-12,1850,locataire_prive\n",
        "D108": None,
        "D109": H + ",nb_enfant\n" + OK + ",2\n",
        "D110": H
        + ",communes_souhaitees\n"
        + OK
        + ",31555;31069;31149;31557;31506;31113;31157;31044;31186\n",
        "D111": H + "\n069122500001,2024-03-01,3,2,1985-06-12,185000000,locataire_prive\n",
    }
    out = {}
    d = Path(tempfile.mkdtemp())
    cwd = os.getcwd()
    os.chdir(d)
    try:
        for code, text in cases.items():
            path = "demandes.csv" if text is not None else "demandes.xlsx"
            if text is not None:
                Path(path).write_text(text)
            try:
                read_applications(path, date_calcul=datetime.date(2026, 1, 1))
                raise AssertionError(code)
            except DataError as e:
                out[code] = (text, e.render())
    finally:
        os.chdir(cwd)
    return out


parts = [
    """# Error codes

Every problem cotation finds in a grid or in application data has a stable code. Grid codes
(`E1xx` YAML and shape, `E2xx` expressions and types, `E3xx` structure) come in one `GridError`;
data codes (`D1xx`) in one `DataError`. Both collect **every** problem of their input before
raising, render them as a capped list, and export them as JSON (`to_json()`).

A grid diagnostic reads

```text
FILE:LINE:COL: error[CODE] criterion 'ID': message (did you mean 'x'?)
    the source line
    ^^^^ under the culprit
```

Lines and columns are 1-based and point into the YAML file, inside expressions too. Problems are
sorted by file, line and column. Shape errors (`E1xx`) stop the check before expressions are
read: fix them first, then the `E2xx`/`E3xx` errors appear together.

A data problem reads

```text
SOURCE: error[CODE] column 'NAME': message (did you mean 'x'?)
    rows: NUMERO_UNIQUE='value', ... and N more
```

Each grid example below is the fixture `tests/fixtures/errors/CODE.yaml` (checked by
`tests/test_errors.py`; its first line states what loading it must report) and the message that
loading it gives. Data examples are CSV files read
with `date_calcul = 2026-01-01`.

## Exit codes of the command line

| code | meaning |
|---|---|
| `0` | success |
| `1` | invalid grid or data (a `GridError` or `DataError`, rendered on stderr as below), unknown application, unreadable file, or failing grid test cases |
| `2` | usage error: unknown command, bad option or argument |
| `3` | unexpected internal error: a bug in cotation, please report it (`COTATION_DEBUG=1` shows the traceback) |

`cotation check GRID` prints every diagnostic of a grid and exits with 1 when there is one;
`cotation check GRID --json` prints them as JSON (`GridError.to_json()`).

# Grid errors
"""
]
for code, meaning in GRID_CODES.items():
    trig, fix = GRID[code]
    fixture = (FIX / f"{code}.yaml").read_text().splitlines()
    extra = ""
    if code == "E105":
        inc = sorted((FIX / "includes").glob("cycle_*.yaml"))
        extra = "".join(f"\n`{p}`:\n\n```yaml\n{p.read_text()}```\n" for p in inc)
    parts.append(f"""
## {code} — {meaning}

{wrap(trig)}

`tests/fixtures/errors/{code}.yaml`:

```yaml
{chr(10).join(fixture)}
```
{extra}
```text
{rendered(code)}
```

{wrap("**Fix:** " + fix)}
""")
parts.append("\n# Data errors\n")
ex = data_examples()
for code, meaning in DATA_CODES.items():
    trig, fix = DATA[code]
    text, msg = ex[code]
    sample = f"```csv\n{text}```\n\n" if text else "Reading `demandes.xlsx`:\n\n"
    parts.append(f"""
## {code} — {meaning}

{wrap(trig)}

{sample}```text
{msg}
```

{wrap("**Fix:** " + fix)}
""")
Path("docs/errors.md").write_text("".join(parts))
