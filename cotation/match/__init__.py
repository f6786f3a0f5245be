"""Stage 5: the grid's ``match`` part: candidates per dwelling, batch assignment (``Ranking``)."""
