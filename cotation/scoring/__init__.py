"""Stage 4 (scoring): scores of a batch (reference evaluator, compiled engine), orders, positions."""
