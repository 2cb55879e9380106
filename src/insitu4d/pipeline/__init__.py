"""Pipelines: stages wired together (no algorithms here)."""

from .experiment import Experiment, TimePoint, read_experiment
from .four_d import run_experiment
from .run import RunParameters, run_tilt_series

__all__ = ["RunParameters", "run_tilt_series", "Experiment", "TimePoint", "read_experiment", "run_experiment"]
