"""Stage 4 (scoring): scores of a batch (reference evaluator, compiled engine), orders, positions.

``ENGINES`` is here, not in :mod:`cotation.scoring.engine`, so that the command line can offer the
choices without importing the checker and the evaluators (0.3 s).
"""

ENGINES = ("compiled", "reference", "auto")
