"""Stage 7 (experiment): a grid tried on a territory: two grids compared, a period of
allocations simulated against the objectives, past allocations back-tested."""
