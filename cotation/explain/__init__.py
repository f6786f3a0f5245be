"""Stage 6: explanations: traces, the applicant's and the committee's views, the grid authors' report."""
