"""Stage 6 (explain): traces, the applicant's and the committee's views, the grid authors' report."""
