"""Imaging: quantitative plaque metrics and radiomics (pyradiomics) with a fast batch engine."""
