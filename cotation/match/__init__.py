"""Stage 5 (match): The grid's ``match`` part: candidates per dwelling, batch assignment (``Ranking``)."""
