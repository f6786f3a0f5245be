"""Stage 6 (explain): Explanations: traces, the applicant's and the committee's views, the grid authors' report."""
