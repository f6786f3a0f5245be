"""Stage 4: scores of a batch (reference evaluator and compiled engine), their orders and positions."""
