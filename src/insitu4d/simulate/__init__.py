"""Digital twin: phantoms of sintering particles, HAADF projection at a given dose, drift and misalignment."""

from .haadf import haadf_tilt_series, incident_electrons_per_pixel, mean_free_path_nm
from .phantom import SinteringPair, Sphere, Spheroid, voxelise
from .twin import (TRUTH_COLUMNS, PairSpec, TwinSpec, neck_radius_nm, simulate_scene, simulate_time_point,
                   write_twin)

__all__ = ["Sphere", "Spheroid", "SinteringPair", "voxelise", "haadf_tilt_series", "incident_electrons_per_pixel",
           "mean_free_path_nm", "PairSpec", "TwinSpec", "neck_radius_nm", "simulate_scene", "simulate_time_point",
           "write_twin", "TRUTH_COLUMNS"]
