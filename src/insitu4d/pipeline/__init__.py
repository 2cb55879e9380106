"""Pipelines: stages wired together (no algorithms here)."""

from .experiment import Experiment, TimePoint, read_experiment
from .four_d import run_experiment, run_experiment_file
from .run import RunParameters, run_tilt_series
from .jobs import (align_file, denoise_file, measure_file, movie_drift_file, reconstruct_file, segment_file,
                   simulate_file)

__all__ = ["RunParameters", "run_tilt_series", "Experiment", "TimePoint", "read_experiment", "run_experiment",
           "run_experiment_file", "reconstruct_file", "align_file", "movie_drift_file", "denoise_file",
           "segment_file", "measure_file", "simulate_file"]
