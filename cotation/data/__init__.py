"""Stage 2 (data): applications and dwellings as columns (``Batch``): read, validated, written,
generated."""
