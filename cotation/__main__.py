"""``python -m cotation``: the command line (see :mod:`cotation.cli`)."""

from .cli import main

raise SystemExit(main())
