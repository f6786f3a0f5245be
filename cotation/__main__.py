"""``python -m cotation``: the command line (see :mod:`cotation.cli`)."""

from .cli import command

raise SystemExit(command())
