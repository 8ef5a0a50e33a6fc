"""`vigie bench …`: measurements side by side with a baseline, in one run."""
