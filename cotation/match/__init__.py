"""Stage 5 (match): the grid's ``match`` part: candidates per dwelling, batch assignment (``Ranking``)."""
