"""Measurements of particles and necks, in nm."""

from .necks import Measurements, Pair, interface_vectors, measure, measure_pairs
from .particles import Particle, measure_particles
from .protocol import measure_pair_protocol_2d

__all__ = ["measure", "measure_particles", "measure_pairs", "interface_vectors", "measure_pair_protocol_2d",
           "Measurements", "Particle", "Pair"]
