"""Physics: sintering geometry (geometry), laws and kinetics (sintering), knock-on damage (beam_damage), clusters."""

from .geometry import (
    ModelCHalves,
    model_c_com_distance,
    model_c_distance,
    model_c_distance_unequal,
    model_c_halves,
    two_sphere_halves,
    model_c_neck_radius,
    neck_distance_curve,
    truncated_sphere,
)

__all__ = ["model_c_distance", "model_c_neck_radius", "model_c_distance_unequal", "model_c_com_distance",
           "ModelCHalves", "model_c_halves", "two_sphere_halves", "truncated_sphere", "neck_distance_curve"]
