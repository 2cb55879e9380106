"""Measurements of particles and necks, in nm."""

from .necks import interface_vectors, measure, measure_pairs
from .particles import measure_particles

__all__ = ["measure", "measure_particles", "measure_pairs", "interface_vectors"]
