"""The fidelity suite: what each destination would show for the same realistic records, and on what evidence."""
