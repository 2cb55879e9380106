"""Plots and reports (no algorithms)."""
