"""Pipelines: stages wired together (no algorithms here)."""

from .run import RunParameters, run_tilt_series

__all__ = ["RunParameters", "run_tilt_series"]
