"""Stage 4 (scoring): Scores of a batch (reference evaluator and compiled engine), their orders and positions."""
