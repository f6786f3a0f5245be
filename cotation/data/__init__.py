"""Stage 2 (data): Applications and dwellings as columns (``Batch``): reading, validating, writing, generating."""
