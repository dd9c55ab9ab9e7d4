"""Synthetic cohort generator: tabular data, plaque images and PET."""
