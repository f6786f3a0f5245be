"""Stage 2: applications and dwellings as columns (``Batch``): reading, validating, writing, generating."""
